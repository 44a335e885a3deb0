"""SevenNet (sevenn) as the fine-tuning backend: a foundation model whose weights ship inside the sevenn wheel
(SevenNet-0, trained on MPtrj; MIT licence) continued on the defect's own frames.

sevenn needs e3nn >= 0.5, so it lives in the NequIP/SevenNet environment (``equivariant_environment``).
``sevennet_fine_tuning.py prepare`` resolves the foundation model there and writes SevenNet's input (the
checkpoint's own architecture, its weights with the energy zero aligned, a fresh optimiser); ``sevenn train`` runs
it; the best checkpoint (lowest validation loss), without its optimiser state, is the model.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator

from defectscreen.defaults import (
    DEFAULT_FINE_TUNING_BATCH_SIZE,
    DEFAULT_FINE_TUNING_HUBER_DELTA_EV,
    DEFAULT_FINE_TUNING_LEARNING_RATE,
    DEFAULT_FINE_TUNING_STEPS,
)
from defectscreen.mlip.dataset import ENERGY_KEY, FORCES_KEY
from defectscreen.mlip.equivariant_environment import equivariant_python, run_in_environment
from defectscreen.mlip.training import TrainingFailedError, TrainingSettings, record_foundation_file, run_trainer

STEPS_SCRIPT = Path(__file__).with_name("sevennet_fine_tuning.py")
#: Foundation models whose weights ship inside the sevenn wheel (single-fidelity ones: no modal to choose).
SHIPPED_FOUNDATION_MODELS = ("7net-0", "7net-l3i5")
#: The functional of the shipped models' training data (MPtrj: PBE, PBE+U for some oxides and fluorides): labels of
#: this functional are where fine-tuning saves labels (docs/per-defect-potentials.md, the GPAW PBE label curve).
FOUNDATION_FUNCTIONAL = "PBE"


class SevennetSettings(TrainingSettings):
    """Fine-tuning a SevenNet foundation model: every weight trained on the defect's frames with a Huber loss
    (SevenNet's own fine-tuning recipe: Adam, lr 0.004 decaying by 0.99 per epoch, δ = 0.01 eV, forces weighted
    like per-atom energies), one frame per step: on the N-ZnO frames (17 of 96 atoms) batch 1 reached in 10 epochs
    the held-out error batch 4 reached in 19 at the same cost per epoch (docs/per-defect-potentials.md). The cutoff
    is the foundation model's (5 Å for SevenNet-0)."""

    backend: Literal["sevennet"] = "sevennet"
    foundation_model: str = Field("7net-0", description="7net-0 or 7net-l3i5 (shipped in the sevenn wheel), or a "
                                  "SevenNet checkpoint file")
    max_epochs: int | None = Field(None, ge=1, description=f"None: the epochs that make {DEFAULT_FINE_TUNING_STEPS} "
                                   "optimiser steps over the training frames")
    batch_size: int = Field(DEFAULT_FINE_TUNING_BATCH_SIZE, ge=1)
    learning_rate: float = Field(DEFAULT_FINE_TUNING_LEARNING_RATE, gt=0)
    learning_rate_decay: float = Field(0.99, gt=0, le=1)
    forces_weight: float = Field(1.0, gt=0)
    huber_delta_eV: float = Field(DEFAULT_FINE_TUNING_HUBER_DELTA_EV, gt=0,
                                  description="δ of the Huber loss (eV; eV/Å for forces): errors above it count "
                                  "linearly; 1.0 makes the loss squared, which brought the NV⁻ S within 5 % on its HSE "
                                  "frames (docs/per-defect-potentials.md)")

    @field_validator("cutoff_angstrom")
    @classmethod
    def _foundation_cutoff(cls, value: float) -> float:
        if value != 5.0:
            raise ValueError("cutoff_angstrom: a fine-tuned SevenNet model keeps its foundation model's cutoff "
                             "(5 Å); leave it out")
        return value

    @field_validator("foundation_model")
    @classmethod
    def _shipped_or_checkpoint(cls, value: str) -> str:
        if value not in SHIPPED_FOUNDATION_MODELS and not value.endswith(".pth"):
            raise ValueError(f"foundation_model '{value}': name one shipped in the sevenn wheel "
                             f"({', '.join(SHIPPED_FOUNDATION_MODELS)}) or a SevenNet checkpoint file (.pth)")
        return value

    def for_training_frames(self, n_frames: int) -> SevennetSettings:
        """max_epochs, when not given: ⌈DEFAULT_FINE_TUNING_STEPS × batch_size / n_frames⌉ — SevenNet takes one step
        per batch, so a fixed number of epochs under-trains a small label set (10 epochs from 10 labels: 39.0 meV/Å
        held out on the N_C-diamond curve; 40 epochs = 400 steps: 17.7)."""
        if self.max_epochs is not None:
            return self
        return self.model_copy(update={"max_epochs": math.ceil(DEFAULT_FINE_TUNING_STEPS * self.batch_size / n_frames)})


def train_sevennet(train_file: Path, valid_file: Path, settings: SevennetSettings, workdir: Path) -> Path:
    """Fine-tune with ``sevenn train``; returns the model file (the best checkpoint without optimiser state)."""
    python = equivariant_python()
    workdir.mkdir(parents=True, exist_ok=True)
    if settings.foundation_model not in SHIPPED_FOUNDATION_MODELS:
        record_foundation_file(settings.foundation_model, workdir, "SevenNet")
    step_input = {**settings.model_dump(mode="json"), "energy_key": ENERGY_KEY, "force_key": FORCES_KEY}
    (workdir / "settings.json").write_text(json.dumps(step_input))
    run_in_environment(STEPS_SCRIPT, ["prepare", str(workdir / "settings.json"), str(train_file), str(valid_file),
                                      str(workdir)], TrainingFailedError, "SevenNet could not set up the fine-tuning",
                       workdir)
    best = run_trainer([str(python.parent / "sevenn"), "train", "input.yaml"], workdir,
                       workdir / "checkpoint_best.pth", settings, "SevenNet")
    run_in_environment(STEPS_SCRIPT, ["keep", str(best), str(workdir / "potential.pth")], TrainingFailedError,
                       "SevenNet could not store the fine-tuned model", workdir)
    return workdir / "potential.pth"

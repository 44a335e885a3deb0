"""MACE (mace-torch) as the default training backend: train in a subprocess, predict in float64."""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path
from typing import Literal

from pydantic import Field

from defectscreen.mlip.dataset import ENERGY_KEY, FORCES_KEY
from defectscreen.mlip.training import TrainingSettings, run_trainer


class MaceSettings(TrainingSettings):
    """MACE architecture and optimiser for a per-defect potential.

    Defaults are the CPU settings measured in DESIGN.md: one interaction layer with 32x0e+32x1o
    hidden features and spherical harmonics up to l = 2, trained in float32 (~3 CPU-s per epoch
    for 34 frames of 72 atoms), evaluated in float64 for finite-difference phonons.
    Fine-tuning from ``foundation_model`` is naive (all weights trained on the defect's frames).
    """

    backend: Literal["mace"] = "mace"
    num_interactions: int = Field(1, ge=1)
    hidden_irreps: str = "32x0e+32x1o"
    max_ell: int = Field(2, ge=1)
    correlation: int = Field(3, ge=1)

    def command(self, train_file: Path, valid_file: Path, workdir: Path) -> list[str]:
        """The mace_run_train command line for these settings."""
        args = [
            sys.executable, "-m", "mace.cli.run_train", "--name", "potential",
            "--train_file", str(train_file), "--valid_file", str(valid_file),
            "--energy_key", ENERGY_KEY, "--forces_key", FORCES_KEY, "--E0s", "average",
            "--model", "MACE", "--r_max", str(self.cutoff_angstrom), "--num_interactions", str(self.num_interactions),
            "--hidden_irreps", self.hidden_irreps, "--max_ell", str(self.max_ell), "--correlation", str(self.correlation),
            "--max_num_epochs", str(self.max_epochs), "--batch_size", str(self.batch_size),
            "--valid_batch_size", str(self.batch_size), "--lr", str(self.learning_rate),
            "--energy_weight", str(self.energy_weight), "--forces_weight", str(self.forces_weight),
            "--seed", str(self.seed), "--default_dtype", "float32", "--device", "cpu", "--save_cpu",
            "--eval_interval", "10", "--error_table", "PerAtomRMSE",
        ]
        for name in ("model", "log", "checkpoints", "results"):
            args += [f"--{name}_dir", str(workdir / name)]
        if self.foundation_model is not None:
            args += ["--foundation_model", str(Path(self.foundation_model).resolve()), "--multiheads_finetuning", "False"]
        return args


def train_mace(train_file: Path, valid_file: Path, settings: MaceSettings, workdir: Path) -> Path:
    """Train on the extended-XYZ frames; returns the model file (a pickled torch module)."""
    return run_trainer(settings.command(train_file, valid_file, workdir), workdir,
                       workdir / "model" / "potential.model", settings, "MACE")


def mace_calculator(model_file: Path):
    """ASE calculator of a trained MACE model, evaluated in float64 on the CPU. mace prints notices on stdout
    while loading; they go to stderr so that stdout stays machine-readable (``--json``)."""
    with contextlib.redirect_stdout(sys.stderr):
        from mace.calculators import MACECalculator

        return MACECalculator(model_paths=str(model_file), device="cpu", default_dtype="float64")

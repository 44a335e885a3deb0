"""What every training backend shares: the optimiser settings and running its trainer as a logged subprocess."""

from __future__ import annotations

import hashlib
import json
import subprocess
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from defectscreen.defaults import DEFAULT_BATCH_SIZE, DEFAULT_LEARNING_RATE, DEFAULT_MAX_EPOCHS


class TrainingFailedError(RuntimeError):
    """The training backend exited with an error; the message carries the end of its log."""


def batch_size_error(n_train: int, batch_size: int) -> str | None:
    """Why ``n_train`` training structures cannot be trained in batches of ``batch_size`` (MACE drops an incomplete
    last batch, so fewer structures than one batch leave it nothing to train on), or None."""
    if n_train >= batch_size:
        return None
    return (f"{n_train} training structures are fewer than one batch (training.batch_size {batch_size}): "
            f"raise the number of structures or lower training.batch_size to {n_train} or less")


#: Written into the training folder before training: the foundation model it starts from.
FOUNDATION_RECORD = "foundation.json"


class TrainingSettings(BaseModel):
    """Settings every backend has. ``foundation_model``: a model file of the backend to fine-tune from
    (nothing is downloaded), or the name of one shipped with the backend's package; None trains from scratch."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    cutoff_angstrom: float = Field(5.0, gt=0)
    max_epochs: int = Field(DEFAULT_MAX_EPOCHS, ge=1)
    batch_size: int = Field(DEFAULT_BATCH_SIZE, ge=1)
    learning_rate: float = Field(DEFAULT_LEARNING_RATE, gt=0)
    energy_weight: float = Field(1.0, ge=0)
    forces_weight: float = Field(100.0, gt=0)
    seed: int = 1
    foundation_model: str | None = None

    def for_training_frames(self, n_frames: int) -> TrainingSettings:
        """The settings a training on ``n_frames`` frames runs with (what the potential document records)."""
        return self


def run_trainer(command: list[str], workdir: Path, model: Path, settings: TrainingSettings, trainer: str) -> Path:
    """Run ``command`` in ``workdir`` with its output in training.log; the model file it must leave, or
    TrainingFailedError with the end of the log. A foundation model file is recorded first (a shipped one is
    recorded by the backend that resolves its name)."""
    workdir.mkdir(parents=True, exist_ok=True)
    if settings.foundation_model is not None and not (workdir / FOUNDATION_RECORD).is_file():
        record_foundation_file(settings.foundation_model, workdir, trainer)
    log = workdir / "training.log"
    with log.open("w") as stream:
        finished = subprocess.run(command, stdout=stream, stderr=subprocess.STDOUT, check=False, cwd=workdir)
    if finished.returncode != 0 or not model.is_file():
        tail = "\n".join(log.read_text().splitlines()[-15:])
        raise TrainingFailedError(f"{trainer} training exited with code {finished.returncode}; end of {log}:\n{tail}")
    return model


def record_foundation_file(foundation_model: str, workdir: Path, trainer: str) -> None:
    """Record a foundation model file given by path (name, resolved path, SHA-256) in ``workdir``."""
    checkpoint = Path(foundation_model)
    if not checkpoint.is_file():
        raise FileNotFoundError(
            f"training.foundation_model: '{foundation_model}' does not exist; give the path of a {trainer} "
            "model file on this machine, or leave it out to train from scratch"
        )
    record = {"name": foundation_model, "checkpoint": str(checkpoint.resolve()),
              "sha256": hashlib.sha256(checkpoint.read_bytes()).hexdigest(), "source": "file"}
    (workdir / FOUNDATION_RECORD).write_text(json.dumps(record))


def recorded_foundation(workdir: Path) -> dict | None:
    """The foundation model the training in ``workdir`` started from (name, checkpoint, sha256, source);
    None for a model trained from scratch."""
    record = workdir / FOUNDATION_RECORD
    return json.loads(record.read_text()) if record.is_file() else None

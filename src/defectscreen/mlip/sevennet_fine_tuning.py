"""Run inside the SevenNet environment: the steps of fine-tuning around ``sevenn train``.

    python sevennet_fine_tuning.py prepare SETTINGS.json TRAIN.extxyz VALID.extxyz WORKDIR
    python sevennet_fine_tuning.py keep CHECKPOINT.pth MODEL.pth

``prepare``: SETTINGS.json holds the SevennetSettings and the frames' label keys (energy_key, force_key).

Writes WORKDIR/aligned.pth: the foundation checkpoint with its per-element energy shifts moved by the least-squares
offsets that bring its energies of the training frames onto the reference's (an engine's total energies differ
from the foundation's by eV per atom; left in, that offset dominates the first epochs and spoils the forces);
WORKDIR/input.yaml: SevenNet's training input continuing from aligned.pth with a fresh optimiser;
WORKDIR/offsets.json: the offsets (eV per atom, by element); and, for a model shipped in the wheel,
WORKDIR/foundation.json (name, checkpoint path, SHA-256, sevenn version) — a file given by path is recorded by the
caller.
``keep``: the trained checkpoint without its optimiser and scheduler state (a third of the size), the model stored.
"""

import hashlib
import json
import sys
from importlib.metadata import version
from pathlib import Path

import numpy as np
import torch
import yaml
from ase.io import read
from sevenn.calculator import SevenNetCalculator
from sevenn.checkpoint import SevenNetCheckpoint
from sevenn.util import pretrained_name_to_path


def energy_offsets(checkpoint: Path, frames_file: str, energy_key: str) -> dict[int, float]:
    """Per-element offsets δ_Z (eV/atom) minimising Σ_frames (E_ref − E_foundation − Σ_Z n_Z δ_Z)², minimum norm
    (one composition fixes only Σ_Z n_Z δ_Z)."""
    frames = read(frames_file, index=":", format="extxyz")
    calculator = SevenNetCalculator(str(checkpoint), device="cuda" if torch.cuda.is_available() else "cpu")
    elements = sorted({int(z) for frame in frames for z in frame.numbers})
    counts = np.array([[np.count_nonzero(frame.numbers == z) for z in elements] for frame in frames], dtype=float)
    residuals = []
    for frame in frames:
        reference = frame.info[energy_key]
        frame.calc = calculator
        residuals.append(reference - frame.get_potential_energy())
    offsets = np.linalg.lstsq(counts, np.array(residuals), rcond=None)[0]
    return dict(zip(elements, offsets.tolist()))


def aligned_checkpoint(checkpoint: Path, offsets: dict[int, float], out: Path) -> Path:
    """The checkpoint with each element's energy shift moved by its offset."""
    content = torch.load(checkpoint, map_location="cpu", weights_only=False)
    type_map = content["config"]["_type_map"]
    shift = content["model_state_dict"]["rescale_atomic_energy.shift"]
    for z, offset in offsets.items():
        shift[type_map[z]] += offset
    torch.save(content, out)
    return out


def prepare(settings_file: str, train_file: str, valid_file: str, workdir: str) -> None:
    settings = json.loads(Path(settings_file).read_text())
    foundation = settings["foundation_model"]
    shipped = not foundation.endswith(".pth")
    checkpoint = Path(pretrained_name_to_path(foundation) if shipped else foundation).resolve()
    offsets = energy_offsets(checkpoint, train_file, settings["energy_key"])
    Path(workdir, "offsets.json").write_text(json.dumps({str(z): value for z, value in offsets.items()}))
    aligned = aligned_checkpoint(checkpoint, offsets, Path(workdir, "aligned.pth"))
    config = SevenNetCheckpoint(str(aligned)).yaml_dict("continue")
    config["data"] = {"batch_size": settings["batch_size"], "dtype": "single", "data_format": "ase",
                      "data_format_args": {"index": ":", "energy_key": settings["energy_key"], "force_key": settings["force_key"]}, "preprocess_num_cores": 1,
                      "load_trainset_path": [train_file], "load_validset_path": [valid_file]}
    config["train"] = {
        "random_seed": settings["seed"], "epoch": settings["max_epochs"], "is_train_stress": False,
        "loss": "huber", "loss_param": {"delta": settings["huber_delta_eV"]},
        "optimizer": "adam", "optim_param": {"lr": settings["learning_rate"]},
        "scheduler": "exponentiallr", "scheduler_param": {"gamma": settings["learning_rate_decay"]},
        "force_loss_weight": settings["forces_weight"] / settings["energy_weight"], "per_epoch": settings["max_epochs"],
        "best_metric": "TotalLoss", "error_record": [["Energy", "RMSE"], ["Force", "RMSE"], ["TotalLoss", "None"]],
        "continue": {"checkpoint": str(aligned), "reset_optimizer": True, "reset_scheduler": True,
                     "reset_epoch": True},
    }
    Path(workdir, "input.yaml").write_text(yaml.safe_dump(config))
    if shipped:
        record = {"name": foundation, "checkpoint": str(checkpoint),
                  "sha256": hashlib.sha256(checkpoint.read_bytes()).hexdigest(), "source": f"sevenn {version('sevenn')} wheel"}
        Path(workdir, "foundation.json").write_text(json.dumps(record))


def keep(checkpoint: str, model: str) -> None:
    content = torch.load(checkpoint, map_location="cpu", weights_only=False)
    torch.save({key: value for key, value in content.items()
                if key not in ("optimizer_state_dict", "scheduler_state_dict")}, model)


if __name__ == "__main__":
    {"prepare": prepare, "keep": keep}[sys.argv[1]](*sys.argv[2:])

"""The structure-search surrogate (seed 002 §IV): a universal potential that ships its weights, fine-tuned on the
campaign's own reference relaxation frames, then used to relax every candidate. Two starting points: CHGNet 0.3.0
(in its wheel; trained here, in this environment) and SevenNet-0 / SevenNet-l3i5 (in the sevenn wheel; trained
and run in the NequIP/SevenNet environment, ``mlip.sevennet_surrogate``). A backend is one class with the methods
of :class:`ChgnetSurrogate` and one branch of :func:`surrogate_backend`.

Training data (seed 002): evenly spaced frames of each relaxation, frames more than ``max_energy_above_lowest_eV``
above the lowest frame of the same cell removed, bulk frames of the host added. The engine's absolute energies
(xTB: ~ −60 eV/atom) are far from the pretrained model's, and one host's cells cannot separate per-element
references, so each cell's energies are learned relative to its last frame, placed where the starting model puts
it: E'_frame = E_frame − E_last + E_model(last). A search compares minima of one composition and charge, for which
these relative energies and the forces are all that matter (seed 002 reports the same relative-energy error).
"""

from __future__ import annotations

import base64
import hashlib
import io
import time
import warnings
from contextlib import redirect_stdout
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path
from typing import Any

import numpy as np
import torch
from ase.optimize import FIRE
from pydantic import BaseModel, ConfigDict, Field
from pymatgen.core import Structure

from defectscreen.mlip.dataset import evenly_spaced

SHIPPED_MODEL = "chgnet-0.3.0"
#: starting models whose weights ship in the sevenn wheel (single-fidelity ones)
SHIPPED_SEVENNET_MODELS = ("7net-0", "7net-l3i5")


class SurrogateSettings(BaseModel):
    """How the structure-search surrogate is trained and how it relaxes candidates."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    starting_model: str = Field(SHIPPED_MODEL, description="'chgnet-0.3.0' (weights in the chgnet wheel), '7net-0' or "
                                "'7net-l3i5' (in the sevenn wheel, run in the NequIP/SevenNet environment), or the "
                                "path of a CHGNet model file (CHGNet.from_file) or a SevenNet checkpoint (.pth)")
    epochs: int = Field(20, ge=0, description="fine-tuning epochs (0: use the starting model as is)")
    learning_rate: float = Field(5e-4, gt=0, description="Adam, cosine schedule (seed 002: 5e-4)")
    batch_size: int = Field(4, ge=1)
    frames_per_relaxation: int = Field(10, ge=1, description="evenly spaced frames of each defect relaxation")
    bulk_frames: int = Field(5, ge=1, description="evenly spaced frames of the host's bulk relaxation")
    max_energy_above_lowest_eV: float = Field(15.0, gt=0, description="drop frames this far above the lowest "
                                              "frame of the same cell (seed 002)")
    validation_fraction: float = Field(0.1, ge=0, lt=1, description="evenly spaced frames held out")
    fmax_eV_per_angstrom: float = Field(0.05, gt=0, description="candidate relaxations (FIRE) stop below this")
    max_steps: int = Field(500, ge=1)
    seed: int = 0


@dataclass(frozen=True)
class Frame:
    """One labelled structure: energy (eV), forces (eV/Å), and the cell it came from."""

    structure: Structure
    energy_eV: float
    forces_eV_per_angstrom: np.ndarray
    source: str


def load_chgnet(starting_model: str, setting: str = "search.surrogate.starting_model"):
    """The CHGNet model ``starting_model`` names: the shipped weights or a model file (``setting`` names the
    campaign field in the error for a file that does not exist)."""
    from chgnet.model import CHGNet

    with redirect_stdout(io.StringIO()):
        if starting_model == SHIPPED_MODEL:
            return CHGNet.load(model_name="0.3.0", use_device="cpu", verbose=False)
        if not Path(starting_model).is_file():
            raise FileNotFoundError(f"{setting}: '{starting_model}' does not exist; give a CHGNet model file on this "
                                    f"machine or '{SHIPPED_MODEL}'")
        return CHGNet.from_file(starting_model)


def file_record(path: str | Path) -> dict[str, str]:
    """Name, SHA-256 and source of a model file given by path."""
    return {"name": str(path), "sha256": hashlib.sha256(Path(path).read_bytes()).hexdigest(), "source": "file"}


def starting_model_file(starting_model: str) -> dict[str, str]:
    """The record of a starting model given as a file; FileNotFoundError naming the setting and the models that ship
    where there is no such file."""
    if not Path(starting_model).is_file():
        raise FileNotFoundError(
            f"search.surrogate.starting_model: '{starting_model}' is no model file on this machine and ships in no "
            f"wheel here; give a CHGNet model file, a SevenNet checkpoint (.pth) or one of {SHIPPED_MODEL}, "
            f"{', '.join(SHIPPED_SEVENNET_MODELS)}")
    return file_record(starting_model)


@dataclass
class ChgnetSurrogate:
    """CHGNet as the surrogate, trained and run in this process."""

    model: Any
    starting_model: dict[str, str]

    @classmethod
    def starting(cls, starting_model: str) -> ChgnetSurrogate:
        if starting_model == SHIPPED_MODEL:
            return cls(load_chgnet(starting_model), {"name": starting_model,
                                                     "source": f"chgnet {version('chgnet')} wheel"})
        record = starting_model_file(starting_model)
        return cls(load_chgnet(starting_model), record)

    @classmethod
    def from_base64(cls, text: str, workdir: Path) -> ChgnetSurrogate:
        from chgnet.model import CHGNet

        state = torch.load(io.BytesIO(base64.b64decode(text)), map_location="cpu", weights_only=False)
        return cls(CHGNet.from_dict(state), {})

    def to_base64(self) -> str:
        buffer = io.BytesIO()
        torch.save(self.model.as_dict(), buffer)
        return base64.b64encode(buffer.getvalue()).decode()

    def code_versions(self) -> dict[str, str]:
        return {"chgnet": version("chgnet"), "torch": version("torch")}

    def predict(self, structures: list[Structure]) -> tuple[np.ndarray, list[np.ndarray]]:
        """Total energies (eV) and forces (eV/Å)."""
        with redirect_stdout(io.StringIO()):
            predictions = self.model.predict_structure(structures, task="ef", batch_size=8)
        if isinstance(predictions, dict):
            predictions = [predictions]
        return (np.array([p["e"] * len(s) for p, s in zip(predictions, structures)]),
                [np.asarray(p["f"]) for p in predictions])

    def fine_tuned(self, frames: list[Frame], energies_eV: list[float], train: list[int], validation: list[int],
                   settings: SurrogateSettings, workdir: Path) -> ChgnetSurrogate:
        """Every weight trained on ``frames`` (``energies_eV``: their aligned energies), MSE on energies and
        forces, Adam with a cosine schedule; the model of the lowest validation loss."""
        from chgnet.data.dataset import StructureData, collate_graphs
        from chgnet.trainer import Trainer
        from torch.utils.data import DataLoader, Subset

        with warnings.catch_warnings(), redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            data = StructureData([f.structure for f in frames],
                                 [e / len(f.structure) for e, f in zip(energies_eV, frames)],
                                 [f.forces_eV_per_angstrom for f in frames], shuffle=False)
            loader = {split: DataLoader(Subset(data, idx), batch_size=settings.batch_size, shuffle=split == "train",
                                        collate_fn=collate_graphs)
                      for split, idx in (("train", train), ("validation", validation))}
            trainer = Trainer(model=self.model, targets="ef", optimizer="Adam", scheduler="CosLR", criterion="MSE",
                              epochs=settings.epochs, learning_rate=settings.learning_rate, use_device="cpu",
                              torch_seed=settings.seed, data_seed=settings.seed, print_freq=10**6)
            trainer.train(loader["train"], loader["validation"], save_dir=str(workdir / "chgnet"))
            model = trainer.get_best_model() if trainer.best_model is not None else trainer.model
        model.eval()
        return ChgnetSurrogate(model, self.starting_model)

    def relax(self, structures: dict[str, Structure], fmax_eV_per_angstrom: float,
              max_steps: int) -> dict[str, tuple[Structure, float, int, bool]]:
        """FIRE relaxations at fixed cell: name -> (final structure, model energy in eV, steps, converged)."""
        from chgnet.model.dynamics import CHGNetCalculator

        relaxed = {}
        for name, structure in structures.items():
            atoms = structure.to_ase_atoms()
            atoms.calc = CHGNetCalculator(model=self.model, use_device="cpu")
            with redirect_stdout(io.StringIO()):
                optimizer = FIRE(atoms, logfile=None)
                converged = bool(optimizer.run(fmax=fmax_eV_per_angstrom, steps=max_steps))
            relaxed[name] = (Structure(structure.lattice, structure.species, atoms.positions,
                                       coords_are_cartesian=True),
                             float(atoms.get_potential_energy()), int(optimizer.nsteps), converged)
        return relaxed


def surrogate_backend(starting_model: str) -> type:
    """The class that trains and runs surrogates fine-tuned from ``starting_model``: SevenNet's for a shipped SevenNet
    name or a .pth checkpoint, CHGNet's for anything else."""
    if starting_model in SHIPPED_SEVENNET_MODELS or starting_model.endswith(".pth"):
        from defectscreen.mlip.sevennet_surrogate import SevennetSurrogate

        return SevennetSurrogate
    return ChgnetSurrogate


def stored_surrogate(model_base64: str, starting_model: str, workdir: Path):
    """A fine-tuned surrogate as stored in its document (``starting_model``: the setting it was trained from)."""
    return surrogate_backend(starting_model).from_base64(model_base64, workdir)


def select_frames(frames: list[Frame], n_kept: int, max_energy_above_lowest_eV: float) -> list[Frame]:
    """Frames of one relaxation within the energy window of its lowest frame, then ``n_kept`` evenly spaced."""
    lowest = min(f.energy_eV for f in frames)
    kept = [f for f in frames if f.energy_eV - lowest <= max_energy_above_lowest_eV]
    return [kept[i] for i in evenly_spaced(len(kept), n_kept)]


def cell_offsets(model, frames: list[Frame]) -> dict[str, float]:
    """source cell -> E_engine − E_model (eV) at its last frame (the frame list keeps each relaxation in order)."""
    last = {f.source: f for f in frames}
    model_energies, _ = model.predict([f.structure for f in last.values()])
    return {source: f.energy_eV - e for (source, f), e in zip(last.items(), model_energies)}


def aligned_energy(frame: Frame, offsets: dict[str, float]) -> float:
    """E' = E − (E_engine − E_model)(last frame of the same cell), in eV."""
    return frame.energy_eV - offsets[frame.source]


def errors(model, frames: list[Frame], offsets: dict[str, float]) -> dict[str, float]:
    """Relative-energy MAE (meV/atom) and force MAE (meV/Å) of ``model`` on ``frames``."""
    energies, forces = model.predict([f.structure for f in frames])
    energy = np.mean([abs(e - aligned_energy(f, offsets)) / len(f.structure) for e, f in zip(energies, frames)])
    force = np.mean(np.concatenate([np.abs(p - f.forces_eV_per_angstrom).ravel() for p, f in zip(forces, frames)]))
    return {"energy_mae_meV_per_atom": 1000 * float(energy), "force_mae_meV_per_angstrom": 1000 * float(force)}


def fine_tune(frames: list[Frame], bulk_frames: list[Frame], settings: SurrogateSettings, workdir: Path) -> dict:
    """Fine-tune the starting model on ``frames`` + ``bulk_frames``; the model (base64), the starting model it came
    from, the per-cell energy offsets, the split, and the errors of the starting and of the fine-tuned model on the
    held-out frames."""
    start = time.perf_counter()
    torch.manual_seed(settings.seed)
    model = surrogate_backend(settings.starting_model).starting(settings.starting_model)
    everything = frames + bulk_frames
    offsets = cell_offsets(model, everything)
    n_validation = int(round(settings.validation_fraction * len(everything)))
    validation = [i + 1 for i in evenly_spaced(len(everything) - 2, n_validation)] \
        if n_validation and len(everything) > 2 else []
    train = [i for i in range(len(everything)) if i not in validation]
    held_out = [everything[i] for i in validation] or everything
    before = errors(model, held_out, offsets)
    if settings.epochs > 0:
        model = model.fine_tuned(everything, [aligned_energy(f, offsets) for f in everything], train,
                                 validation or train, settings, workdir)
    after = errors(model, held_out, offsets)
    return {"model_base64": model.to_base64(), "starting_model": model.starting_model, "cell_offsets_eV": offsets,
            "n_training_frames": len(train), "n_validation_frames": len(validation),
            "validation_errors_starting_model": before, "validation_errors": after,
            "code_versions": model.code_versions(), "wall_time_s": time.perf_counter() - start}

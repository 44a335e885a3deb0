"""SevenNet as the structure-search surrogate (seed 002; issue 28's lever of a stronger starting point): SevenNet-0
or SevenNet-l3i5, whose weights ship in the sevenn wheel, fine-tuned and run in the NequIP/SevenNet environment
(``equivariant_environment``: sevenn needs e3nn >= 0.5). Fine-tuning is ``sevennet_backend.train_sevennet`` on the
surrogate's aligned frames, with the surrogate's epochs, learning rate, batch size and seed; the predictions of one
call and all candidate relaxations of one search run in one subprocess each. On one CPU core a SevenNet-0 energy
and forces of a 64-atom cell take 0.22 s (SevenNet-l3i5 0.62 s, CHGNet 0.07 s)."""

from __future__ import annotations

import base64
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from pymatgen.core import Structure

from defectscreen.mlip.dataset import labelled_frame, write_frames
from defectscreen.mlip.equivariant_environment import (
    equivariant_python,
    package_versions,
    predict_in_environment,
    relax_in_environment,
)
from defectscreen.mlip.sevennet_backend import SevennetSettings, train_sevennet
from defectscreen.mlip.surrogate import (
    SHIPPED_SEVENNET_MODELS,
    Frame,
    SurrogateSettings,
    file_record,
    starting_model_file,
)

#: the fine-tuned checkpoint, written from its document where a search reads it
SURROGATE_FILE = "surrogate.pth"


def shipped_checkpoint(name: str) -> Path:
    """The checkpoint file of a model shipped in the sevenn wheel."""
    query = f"from sevenn.util import pretrained_name_to_path as p; print(p({name!r}))"
    found = subprocess.run([str(equivariant_python()), "-c", query], capture_output=True, text=True, check=True)
    return Path(found.stdout.strip())


@dataclass
class SevennetSurrogate:
    """A SevenNet checkpoint as the surrogate."""

    checkpoint: Path
    starting_model: dict[str, str]

    @classmethod
    def starting(cls, starting_model: str) -> SevennetSurrogate:
        if starting_model in SHIPPED_SEVENNET_MODELS:
            checkpoint = shipped_checkpoint(starting_model)
            return cls(checkpoint, file_record(checkpoint) | {"name": starting_model,
                                                              "source": f"sevenn {_sevenn()} wheel"})
        return cls(Path(starting_model), starting_model_file(starting_model))

    @classmethod
    def from_base64(cls, text: str, workdir: Path) -> SevennetSurrogate:
        """The stored checkpoint, written to ``workdir``."""
        workdir.mkdir(parents=True, exist_ok=True)
        (workdir / SURROGATE_FILE).write_bytes(base64.b64decode(text))
        return cls(workdir / SURROGATE_FILE, {})

    def to_base64(self) -> str:
        return base64.b64encode(self.checkpoint.read_bytes()).decode()

    def code_versions(self) -> dict[str, str]:
        return package_versions(("sevenn", "torch", "e3nn"))

    def predict(self, structures: list[Structure]) -> tuple[np.ndarray, list[np.ndarray]]:
        """Total energies (eV) and forces (eV/Å)."""
        return predict_in_environment("sevennet", self.checkpoint, [s.to_ase_atoms() for s in structures])

    def fine_tuned(self, frames: list[Frame], energies_eV: list[float], train: list[int], validation: list[int],
                   settings: SurrogateSettings, workdir: Path) -> SevennetSurrogate:
        """Every weight trained on ``frames`` (``energies_eV``: their aligned energies) with SevenNet's Huber loss;
        the checkpoint of the lowest validation loss."""
        folder = workdir / "sevennet"
        folder.mkdir(parents=True, exist_ok=True)
        labelled = [labelled_frame(f.structure, e, f.forces_eV_per_angstrom) for f, e in zip(frames, energies_eV)]
        write_frames(folder / "train.extxyz", [labelled[i] for i in train])
        write_frames(folder / "valid.extxyz", [labelled[i] for i in validation])
        trainer = SevennetSettings(foundation_model=str(self.checkpoint), max_epochs=settings.epochs,
                                   batch_size=settings.batch_size, learning_rate=settings.learning_rate,
                                   seed=settings.seed)
        model = train_sevennet(folder / "train.extxyz", folder / "valid.extxyz", trainer, folder)
        return SevennetSurrogate(model, self.starting_model)

    def relax(self, structures: dict[str, Structure], fmax_eV_per_angstrom: float,
              max_steps: int) -> dict[str, tuple[Structure, float, int, bool]]:
        """FIRE relaxations at fixed cell: name -> (final structure, model energy in eV, steps, converged)."""
        relaxed = relax_in_environment("sevennet", self.checkpoint, [s.to_ase_atoms() for s in structures.values()],
                                       fmax_eV_per_angstrom, max_steps)
        return {name: (Structure(s.lattice, s.species, atoms.positions, coords_are_cartesian=True),
                       float(atoms.info["energy_eV"]), int(atoms.info["steps"]), bool(atoms.info["converged"]))
                for (name, s), atoms in zip(structures.items(), relaxed)}


def _sevenn() -> str:
    return package_versions(("sevenn",))["sevenn"]

"""One defect, one potential (seed 000 §II): the recipe, training through the chosen backend, the
trained model as an ASE calculator, and its errors measured by this code on held-out frames."""

from __future__ import annotations

import base64
import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path
from typing import Annotated, Union

import numpy as np
from ase import Atoms
from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, model_validator

import defectscreen
from defectscreen.defaults import (
    DEFAULT_FINE_TUNING_N_STRUCTURES,
    DEFAULT_MAX_VALIDATION_FORCE_RMSE_MEV_PER_ANGSTROM,
    DEFAULT_N_STRUCTURES,
)
from defectscreen.mlip.dataset import train_validation_split, write_frames
from defectscreen.mlip.equivariant_environment import package_versions, predict_in_environment
from defectscreen.mlip.mace import MaceSettings, mace_calculator, train_mace
from defectscreen.mlip.nequip_backend import NequipSettings, train_nequip
from defectscreen.mlip.sevennet_backend import FOUNDATION_FUNCTIONAL, SevennetSettings, train_sevennet
from defectscreen.mlip.training import FOUNDATION_RECORD, batch_size_error, recorded_foundation


def _backend(settings) -> str:
    """The backend a training section names; MACE where it names none."""
    return settings.get("backend", "mace") if isinstance(settings, dict) else settings.backend


BackendSettings = Annotated[
    Union[Annotated[MaceSettings, Tag("mace")], Annotated[NequipSettings, Tag("nequip")],
          Annotated[SevennetSettings, Tag("sevennet")]],
    Discriminator(_backend),
]
BACKENDS = ("mace", "nequip", "sevennet")
#: packages whose versions every potential document records, per backend.
BACKEND_PACKAGES = {"mace": ("mace-torch", "torch", "e3nn"), "nequip": ("nequip", "nequip-allegro", "torch", "e3nn"),
                    "sevennet": ("sevenn", "torch", "e3nn")}
#: energies (n,) in eV and forces [(N_i, 3)] in eV/Å of a list of frames.
Predictor = Callable[[list[Atoms]], tuple[np.ndarray, list[np.ndarray]]]


class PotentialRecipe(BaseModel):
    """How every per-defect potential of a campaign is made and when it is trusted.

    n_structures perturbed copies of the relaxed supercell (every atom displaced inside a sphere of
    radius r_max_angstrom), labelled by the campaign's engine and split train/validation; a model whose
    validation force RMSE exceeds max_validation_force_rmse_meV_per_angstrom — or, where it is set,
    max_validation_relative_force_rmse times the RMS reference force of the validation frames (for stiff hosts,
    whose forces at the same displacements are larger) — is stored but flagged and not used for phonons.

    n_structures 24 (20 training + 4 validation) is the smallest label count whose model met the default threshold
    on the learning curve of ``benchmarks/label_count_phonons.py`` (N_C in 54-atom diamond, GFN1-xTB: MACE from 20
    labels 24.3 meV/Å held out, Γ frequencies 0.59 / 2.4 meV mean / max, S −3.0 % against the engine's phonons; 10
    labels 44.6 meV/Å, S −22 %); a defect that needs more is flagged by the gate, and more are one setting away.
    A campaign whose engine labels with the foundation model's functional fine-tunes instead, on fewer labels
    (:func:`route_for_labels`).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    n_structures: int = Field(DEFAULT_N_STRUCTURES, ge=2)
    r_max_angstrom: float = Field(0.04, gt=0, le=0.5)
    validation_fraction: float = Field(0.15, gt=0, lt=1)
    seed: int = 0
    max_validation_force_rmse_meV_per_angstrom: float = Field(DEFAULT_MAX_VALIDATION_FORCE_RMSE_MEV_PER_ANGSTROM, gt=0)
    max_validation_relative_force_rmse: float | None = Field(None, gt=0)
    training: BackendSettings = Field(default_factory=MaceSettings)  # type: ignore[valid-type]

    @model_validator(mode="after")
    def _one_batch_at_least(self) -> PotentialRecipe:
        train, _ = train_validation_split(self.n_structures, self.validation_fraction, self.seed)
        reason = batch_size_error(len(train), self.training.batch_size)
        if reason is not None:
            raise ValueError(f"n_structures {self.n_structures} with validation_fraction "
                             f"{self.validation_fraction}: {reason}")
        return self

    def settings_hash(self) -> str:
        canonical = json.dumps(self.model_dump(mode="json"), sort_keys=True)
        return hashlib.sha256(canonical.encode()).hexdigest()


def route_for_labels(functional: str | None) -> dict:
    """The potential settings a campaign gets where it names no ``training``, by the functional of its labels (and
    the route of ``defectscreen potential train --functional`` with no ``--backend``).

    Labels of the foundation model's own functional (PBE: GPAW's default): SevenNet-0 fine-tuned on
    DEFAULT_FINE_TUNING_N_STRUCTURES (12) cells — on the N_C-diamond GPAW PBE label curve, fine-tuned from 10 labels it
    matches MACE from scratch on 40 (held-out forces, Γ frequencies, S within 2 %), where MACE from 10 is 48 meV/Å
    held out. Any other labels (xTB, hybrid functionals; ``functional`` None for xTB): MACE from scratch on
    DEFAULT_N_STRUCTURES (24) — on the xTB curve fine-tuning put S 9–12 % low, and on the HSE frames of C_N-GaN and
    NV⁻ it was not better than MACE (docs/per-defect-potentials.md). Returns the fields that differ from
    :class:`PotentialRecipe`'s defaults."""
    if functional == FOUNDATION_FUNCTIONAL:
        return {"training": {"backend": "sevennet"}, "n_structures": DEFAULT_FINE_TUNING_N_STRUCTURES}
    return {}


def train_potential(train: list[Atoms], validation: list[Atoms], settings: MaceSettings | NequipSettings | SevennetSettings,
                    workdir: Path) -> Path:
    """Write the frames and train with the settings' backend (run inside ``workdir``); returns the model file.
    The foundation model it starts from, if any, is recorded in the folder (``recorded_foundation``)."""
    reason = batch_size_error(len(train), settings.batch_size)
    if reason is not None:
        raise ValueError(reason)
    settings = settings.for_training_frames(len(train))
    workdir = workdir.resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / FOUNDATION_RECORD).unlink(missing_ok=True)
    train_file, valid_file = workdir / "train.extxyz", workdir / "validation.extxyz"
    write_frames(train_file, train)
    write_frames(valid_file, validation)
    if isinstance(settings, NequipSettings):
        species = sorted({symbol for frame in train + validation for symbol in frame.get_chemical_symbols()})
        return train_nequip(train_file, valid_file, settings, workdir, species)
    if isinstance(settings, SevennetSettings):
        return train_sevennet(train_file, valid_file, settings, workdir)
    return train_mace(train_file, valid_file, settings, workdir)


def potential_predictor(model_file: Path, backend: str) -> Predictor:
    """Energies and forces of frames from a trained model on the CPU (MACE and NequIP in float64, SevenNet in its
    float32)."""
    if backend not in BACKENDS:
        raise ValueError(f"unknown potential backend '{backend}'; known: {', '.join(BACKENDS)}")
    if backend in ("nequip", "sevennet"):
        return lambda frames: predict_in_environment(backend, model_file, frames)
    calculator = mace_calculator(model_file)

    def predict(frames: list[Atoms]) -> tuple[np.ndarray, list[np.ndarray]]:
        energies, forces = [], []
        for frame in frames:
            atoms = Atoms(frame.numbers, positions=frame.positions, cell=frame.cell, pbc=frame.pbc)
            atoms.calc = calculator
            energies.append(atoms.get_potential_energy())
            forces.append(atoms.get_forces())
        return np.array(energies), forces

    return predict


def backend_versions(backend: str) -> dict[str, str]:
    """Versions of the packages that trained and evaluate the model."""
    if backend == "mace":
        return {package: version(package) for package in BACKEND_PACKAGES[backend]}
    return package_versions(BACKEND_PACKAGES[backend])


@dataclass(frozen=True)
class PredictionErrors:
    """Errors of a potential on labelled frames.

    force_rmse_meV_per_angstrom: sqrt(mean over atoms and components of (F_pred - F_ref)²).
    energy_mae_meV_per_atom: mean over frames of |E_pred - E_ref| / N_atoms.
    """

    force_rmse_meV_per_angstrom: float
    max_force_error_meV_per_angstrom: float
    energy_mae_meV_per_atom: float
    n_frames: int


def prediction_errors(predict: Predictor, frames: list[Atoms]) -> PredictionErrors:
    """Predict every frame and compare with the frame's reference labels."""
    energies, forces = predict(frames)
    force_errors = np.concatenate([f - frame.get_forces() for f, frame in zip(forces, frames)])
    energy_errors = [abs(e - frame.get_potential_energy()) / len(frame) for e, frame in zip(energies, frames)]
    return PredictionErrors(
        force_rmse_meV_per_angstrom=1e3 * float(np.sqrt(np.mean(force_errors**2))),
        max_force_error_meV_per_angstrom=1e3 * float(np.abs(force_errors).max()),
        energy_mae_meV_per_atom=1e3 * float(np.mean(energy_errors)),
        n_frames=len(frames),
    )


def reference_force_rms(frames: list[Atoms]) -> float:
    """sqrt(mean over atoms and components of F_ref²) of labelled frames, meV/Å."""
    return 1e3 * float(np.sqrt(np.mean(np.concatenate([frame.get_forces() for frame in frames]) ** 2)))


def rejection_reason(validation_rmse_meV_per_angstrom: float, reference_rms_meV_per_angstrom: float,
                     recipe: PotentialRecipe) -> str | None:
    """Why a potential with this validation force RMSE is not to be used (the recipe's absolute threshold, then its
    relative one), or None."""
    threshold = recipe.max_validation_force_rmse_meV_per_angstrom
    if validation_rmse_meV_per_angstrom > threshold:
        return (f"validation force RMSE {validation_rmse_meV_per_angstrom:.1f} meV/Å exceeds the threshold "
                f"{threshold} meV/Å: raise potential.n_structures or potential.training.max_epochs, or the threshold")
    relative = recipe.max_validation_relative_force_rmse
    if relative is not None and validation_rmse_meV_per_angstrom > relative * reference_rms_meV_per_angstrom:
        return (f"validation force RMSE {validation_rmse_meV_per_angstrom:.1f} meV/Å exceeds "
                f"{relative:g} × the RMS reference force {reference_rms_meV_per_angstrom:.1f} meV/Å: raise "
                "potential.n_structures or potential.training.max_epochs, or max_validation_relative_force_rmse")
    return None


def fit_potential(train: list, validation: list, recipe: PotentialRecipe, workdir: Path) -> dict:
    """Train, measure errors on both sets, flag against the recipe's threshold: the PotentialDocument fields
    that do not depend on where the frames came from."""
    start = time.perf_counter()
    training = recipe.training.for_training_frames(len(train))
    model_file = train_potential(train, validation, training, workdir)
    training_wall_time = time.perf_counter() - start
    predict = potential_predictor(model_file, recipe.training.backend)
    on_train, on_validation = prediction_errors(predict, train), prediction_errors(predict, validation)
    reference_rms = reference_force_rms(validation)
    reason = rejection_reason(on_validation.force_rmse_meV_per_angstrom, reference_rms, recipe)
    model_bytes = model_file.read_bytes()
    return {
        "backend": recipe.training.backend, "training_settings": training.model_dump(mode="json"),
        "foundation_model": recorded_foundation(workdir.resolve()),
        "recipe": recipe.model_dump(mode="json"), "recipe_sha256": recipe.settings_hash(),
        "model_file_name": model_file.name, "model_sha256": hashlib.sha256(model_bytes).hexdigest(),
        "model_size_bytes": len(model_bytes), "model_base64": base64.b64encode(model_bytes).decode(),
        "n_train": len(train), "n_validation": len(validation),
        "train_force_rmse_meV_per_angstrom": on_train.force_rmse_meV_per_angstrom,
        "validation_force_rmse_meV_per_angstrom": on_validation.force_rmse_meV_per_angstrom,
        "validation_max_force_error_meV_per_angstrom": on_validation.max_force_error_meV_per_angstrom,
        "train_energy_mae_meV_per_atom": on_train.energy_mae_meV_per_atom,
        "validation_energy_mae_meV_per_atom": on_validation.energy_mae_meV_per_atom,
        "validation_reference_force_rms_meV_per_angstrom": reference_rms,
        "max_validation_force_rmse_meV_per_angstrom": recipe.max_validation_force_rmse_meV_per_angstrom,
        "max_validation_relative_force_rmse": recipe.max_validation_relative_force_rmse,
        "usable": reason is None, "flag_reason": reason,
        "code_versions": backend_versions(recipe.training.backend), "training_wall_time_s": training_wall_time,
        "wall_time_s": time.perf_counter() - start, "defectscreen_version": defectscreen.__version__,
    }

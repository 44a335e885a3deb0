"""Per-defect potentials outside a campaign: train on a user's DFT frames, and Γ phonons of a matching
structure from a trained model file."""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path
from typing import NamedTuple

import numpy as np
from pymatgen.core import Structure

from defectscreen.mlip.dataset import read_frames, train_validation_split
from defectscreen.mlip.potential import PotentialRecipe, fit_potential, potential_predictor
from defectscreen.physics.dispersion import IMAGINARY_TOLERANCE_MEV
from defectscreen.physics.finite_displacement import (
    force_constants_by_displacement,
    largest_residual_force_meV_per_angstrom,
)
from defectscreen.physics.huang_rhys import StructureMismatchError, displacement_between
from defectscreen.physics.mode_curvature import (
    MeasuredCurvature,
    cartesian_mode_direction,
    curvature_from_displaced_cells,
    curvature_of_force_constants,
)
from defectscreen.physics.normal_modes import NormalModes, optical_mode_indices, structure_normal_modes
from defectscreen.readers import InputFileError
from defectscreen.readers.structures import read_structure
from defectscreen.schemas.phonons import FrameSource, ModeCurvatureRecord, PotentialDocument

#: A model's curvature along a mode is contradicted by the reference cells when it lies further from the reference's
#: fitted curvature than this many of the fit's standard errors ...
CURVATURE_AGREEMENT_SIGMAS = 3.0
#: ... and than this fraction of it (ħω off by more than ~12 %) ...
CURVATURE_RELATIVE_TOLERANCE = 0.25
#: ... and than this, eV/Å² (a floor near zero curvature: ħω = 64.654 √(0.05 / m) meV, 1.7 meV for a Ga-mass mode).
CURVATURE_TOLERANCE_EV_PER_ANGSTROM2 = 0.05


def model_file_from(potential: PotentialDocument, folder: Path) -> Path:
    """Write the stored model into ``folder`` after checking its SHA-256."""
    model_bytes = base64.b64decode(potential.model_base64)
    if hashlib.sha256(model_bytes).hexdigest() != potential.model_sha256:
        raise ValueError(f"{potential.calculation_id}: stored model does not match its SHA-256; retrain the potential")
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / potential.model_file_name
    path.write_bytes(model_bytes)
    return path


def train_on_frames_file(frames_path: Path, recipe: PotentialRecipe, workdir: Path, name: str) -> PotentialDocument:
    """Train a potential on every frame of an extended XYZ file, holding out ``recipe.validation_fraction``."""
    frames = read_frames(frames_path)
    train, validation = train_validation_split(len(frames), recipe.validation_fraction, recipe.seed)
    fields = fit_potential([frames[i] for i in train], [frames[i] for i in validation], recipe, workdir)
    return PotentialDocument(
        calculation_id=name, frames=FrameSource(path=str(Path(frames_path).resolve()),
                                                sha256=hashlib.sha256(Path(frames_path).read_bytes()).hexdigest()),
        **fields,
    )


def model_forces(model_file: Path, backend: str):
    """forces_of(structures) -> (n, N, 3) eV/Å with a trained model, all cells in one prediction."""
    predict = potential_predictor(Path(model_file), backend)

    def forces_of(structures: list[Structure]) -> np.ndarray:
        return np.array(predict([structure.to_ase_atoms() for structure in structures])[1])

    return forces_of


class ModelPhonons(NamedTuple):
    """Γ phonons of one structure from a model file."""

    structure: Structure
    force_constants: np.ndarray  #: raw (N, N, 3, 3) eV/Å²
    modes: NormalModes
    n_force_evaluations: int
    largest_residual_force_meV_per_angstrom: float  #: the model's max_j |F_j − ⟨F⟩| there


def phonons_from_model(model_file: Path, backend: str, structure_path: Path,
                       displacement_angstrom: float) -> ModelPhonons:
    """Finite-displacement Γ phonons of the structure file with the model's forces."""
    if not Path(model_file).is_file():
        raise InputFileError(f"{model_file}: no such model file; train one with `defectscreen potential train`")
    structure = read_structure(structure_path)
    forces_of = model_forces(model_file, backend)
    force_constants, n_evaluations = force_constants_by_displacement(structure, forces_of, displacement_angstrom)
    return ModelPhonons(structure, force_constants, structure_normal_modes(structure, force_constants), n_evaluations,
                        largest_residual_force_meV_per_angstrom(forces_of([structure])[0]))


class ModeCurvatureCheck(NamedTuple):
    """One mode of a model's phonons against the curvature labelled cells near the structure give along it."""

    index: int
    frequency_meV: float
    model_curvature_eV_per_angstrom2: float  #: ê·Φ·ê of the model's force constants
    reference: MeasuredCurvature

    @property
    def is_imaginary(self) -> bool:
        return self.frequency_meV < -IMAGINARY_TOLERANCE_MEV

    @property
    def model_is_wrong(self) -> bool:
        """The reference contradicts the model's curvature: they differ by more than CURVATURE_AGREEMENT_SIGMAS
        standard errors of the fit, CURVATURE_RELATIVE_TOLERANCE of the reference and
        CURVATURE_TOLERANCE_EV_PER_ANGSTROM2."""
        margin = max(CURVATURE_AGREEMENT_SIGMAS * self.reference.standard_error_eV_per_angstrom2,
                     CURVATURE_RELATIVE_TOLERANCE * abs(self.reference.curvature_eV_per_angstrom2),
                     CURVATURE_TOLERANCE_EV_PER_ANGSTROM2)
        return abs(self.model_curvature_eV_per_angstrom2 - self.reference.curvature_eV_per_angstrom2) > margin

    @property
    def verdict(self) -> str:
        """What a flagged check says (imaginary modes are always flagged)."""
        if not self.is_imaginary:
            too = "soft" if self.model_curvature_eV_per_angstrom2 < self.reference.curvature_eV_per_angstrom2 else "stiff"
            return f"the model's mode is too {too}"
        if self.reference.curvature_eV_per_angstrom2 <= 0:
            return "the reference curves down there too, so the structure is not a minimum of the reference either"
        return "the model's curvature is wrong there"

    def record(self) -> ModeCurvatureRecord:
        return ModeCurvatureRecord(
            index=self.index, frequency_meV=self.frequency_meV,
            model_curvature_eV_per_angstrom2=self.model_curvature_eV_per_angstrom2,
            reference_curvature_eV_per_angstrom2=self.reference.curvature_eV_per_angstrom2,
            reference_standard_error_eV_per_angstrom2=self.reference.standard_error_eV_per_angstrom2,
            reference_line_residual_meV_per_angstrom=1000 * self.reference.line_residual_eV_per_angstrom,
            n_reference_cells=self.reference.n_cells, model_is_wrong=self.model_is_wrong)


def cells_near(structure: Structure, frames_path: Path, within_angstrom: float) -> tuple[np.ndarray, np.ndarray]:
    """Displacements from ``structure`` (n, N, 3) Å and reference forces (n, N, 3) eV/Å of the labelled frames whose
    atoms all lie within ``within_angstrom`` of it (same atoms in the same order, same lattice)."""
    displacements, forces = [], []
    for frame in read_frames(frames_path):
        try:
            displacement = displacement_between(structure, Structure.from_ase_atoms(frame))
        except StructureMismatchError:
            continue
        if np.linalg.norm(displacement, axis=1).max() <= within_angstrom:
            displacements.append(displacement)
            forces.append(frame.get_forces())
    if len(displacements) < 2:
        raise InputFileError(
            f"{frames_path}: {len(displacements)} frame(s) with the structure's atoms, order and lattice lie within "
            f"{within_angstrom} Å of it (every atom); the check needs at least 2 cells labelled around this "
            "structure (e.g. displaced by ≤ 0.05 Å), or a larger --reference-within")
    return np.array(displacements), np.array(forces)


def soft_mode_checks(modes: NormalModes, force_constants: np.ndarray, displacements_angstrom: np.ndarray,
                     forces_eV_per_angstrom: np.ndarray) -> list[ModeCurvatureCheck]:
    """For each imaginary optical mode and the softest real one, the curvature in the force constants (N, N, 3, 3)
    eV/Å² and in labelled cells displaced by u_k (n, N, 3) Å with forces F_k (n, N, 3) eV/Å
    (``curvature_from_displaced_cells``): an imaginary mode with a positive reference curvature, or a real one whose
    curvature the reference contradicts, is the model's error."""
    frequencies = modes.frequencies_meV
    optical = optical_mode_indices(frequencies)
    imaginary = optical[frequencies[optical] < -IMAGINARY_TOLERANCE_MEV]
    softest_real = optical[frequencies[optical] >= -IMAGINARY_TOLERANCE_MEV][:1]
    checks = []
    for index in [*imaginary, *softest_real]:
        direction = cartesian_mode_direction(modes, index)
        checks.append(ModeCurvatureCheck(
            int(index), float(frequencies[index]), curvature_of_force_constants(direction, force_constants),
            curvature_from_displaced_cells(direction, displacements_angstrom, forces_eV_per_angstrom)))
    return checks


def check_soft_modes(phonons: ModelPhonons, frames_path: Path, within_angstrom: float) -> list[ModeCurvatureCheck]:
    """``soft_mode_checks`` of a model's phonons against the labelled frames near its structure (``cells_near``)."""
    return soft_mode_checks(phonons.modes, phonons.force_constants,
                            *cells_near(phonons.structure, frames_path, within_angstrom))


def phonon_flags(frequencies_meV: np.ndarray, largest_residual_force_meV_per_angstrom: float,
                 checks: list[ModeCurvatureCheck], cells: str, force_source: str = "model") -> list[str]:
    """What of Γ phonons is not physics: their imaginary modes (the structure is not a minimum of the force source,
    or its curvature is wrong there), and each checked mode the reference cells (``cells``, e.g. 'within 0.06 Å')
    contradict or find imaginary."""
    imaginary = [float(f) for f in frequencies_meV if f < -IMAGINARY_TOLERANCE_MEV]
    flags = [f"{len(imaginary)} imaginary mode(s) ({', '.join(f'{f:.2f}' for f in imaginary)} meV): the structure "
             f"is not a minimum of the {force_source} (its largest force there is "
             f"{largest_residual_force_meV_per_angstrom:.1f} meV/Å), or the {force_source}'s curvature is wrong there; "
             "these phonons (and an S from them) are not physics"] if imaginary else []
    return flags + [
        f"the {check.frequency_meV:.2f} meV mode: the reference frames give a curvature of "
        f"{check.reference.curvature_eV_per_angstrom2:+.2f} ± {check.reference.standard_error_eV_per_angstrom2:.2f} "
        f"eV/Å² along it (the model {check.model_curvature_eV_per_angstrom2:+.2f}; {check.reference.n_cells} cells "
        f"{cells}): {check.verdict}"
        for check in checks if check.is_imaginary or check.model_is_wrong]

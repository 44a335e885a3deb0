"""Huang–Rhys factors and the optical lineshape of a defect, as a LineshapeDocument."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Literal

import numpy as np
from pymatgen.core import Structure

from defectscreen import __version__
from defectscreen.defaults import DEFAULT_GAMMA_MEV, DEFAULT_MIN_PHONON_ENERGY_MEV, DEFAULT_SIGMA_MEV
from defectscreen.physics.huang_rhys import (
    HuangRhys,
    StructureMismatchError,
    displacement_between,
    huang_rhys_from_displacement,
    huang_rhys_from_forces,
    spectral_density,
)
from defectscreen.physics.lineshape import Lineshape, optical_lineshape
from defectscreen.physics.normal_modes import (
    NormalModes,
    atomic_masses,
    enforce_acoustic_sum_rule,
    gamma_normal_modes,
    inverse_participation_ratio,
)
from defectscreen.readers import InputFileError
from defectscreen.readers.phonopy_files import read_force_constants
from defectscreen.readers.structures import read_structure
from defectscreen.readers.vasp import read_vasprun
from defectscreen.schemas.optics import InputRecord, LineshapeDocument, LineshapeNumerics

#: Bin width of stored spectra; bin averages keep the area, the ZPL weight is the Debye–Waller field.
OUTPUT_STEP_MEV = 0.25


def file_record(role: str, path: str | Path) -> InputRecord:
    """InputRecord of a user file: absolute path and SHA-256 of its bytes."""
    path = Path(path).resolve()
    return InputRecord(role=role, path=str(path), sha256=hashlib.sha256(path.read_bytes()).hexdigest())


def _bin_average(x: np.ndarray, y: np.ndarray, step: float) -> tuple[np.ndarray, np.ndarray]:
    per_bin = max(int(round(step / (x[1] - x[0]))), 1)
    n_bins = x.size // per_bin
    return (x[: n_bins * per_bin].reshape(n_bins, per_bin).mean(axis=1),
            y[: n_bins * per_bin].reshape(n_bins, per_bin).mean(axis=1))


def _trim(x: np.ndarray, y: np.ndarray, relative: float = 1e-5) -> slice:
    significant = np.nonzero(np.abs(y) > relative * np.max(np.abs(y)))[0]
    return slice(max(significant[0] - 1, 0), significant[-1] + 2)


def binned_emission(band: Lineshape) -> tuple[list[float] | None, list[float] | None]:
    """Photon energies (eV) and I(ħω) (1/eV) bin-averaged on OUTPUT_STEP_MEV and trimmed; None without a ZPL."""
    if band.photon_energy_eV is None:
        return None, None
    photon_meV, intensity = _bin_average(1e3 * band.photon_energy_eV, band.intensity_per_eV, OUTPUT_STEP_MEV)
    window = _trim(photon_meV, intensity)
    return (1e-3 * photon_meV[window]).tolist(), intensity[window].tolist()


def lineshape_document(
    modes: NormalModes, coupling: HuangRhys, band: Lineshape, inputs: list[InputRecord],
    acoustic_sum_rule_enforced: bool, coupling_source: Literal["displacement", "forces"] = "displacement",
) -> LineshapeDocument:
    """Assemble the stored document; spectra are trimmed to where they matter and bin-averaged."""
    energy_grid = np.arange(0.0, max(np.max(modes.frequencies_meV), 1.0) + 5 * band.sigma_meV, OUTPUT_STEP_MEV)
    density = spectral_density(modes.frequencies_meV, coupling.partial_huang_rhys, energy_grid, band.sigma_meV)
    eps, spectral = _bin_average(band.phonon_energy_meV, band.spectral_function_per_meV, OUTPUT_STEP_MEV)
    keep = _trim(eps, spectral)
    photon, intensity = binned_emission(band)
    return LineshapeDocument(
        kind=band.kind, coupling_source=coupling_source, temperature_K=band.temperature_K,
        zpl_energy_eV=band.zpl_energy_eV, sigma_meV=band.sigma_meV, gamma_meV=band.gamma_meV,
        huang_rhys_total=band.huang_rhys_total, huang_rhys_thermal=band.huang_rhys_thermal,
        debye_waller=band.debye_waller,
        delta_Q_amu_half_angstrom=coupling.delta_Q_amu_half_angstrom,
        delta_R_angstrom=None if np.isnan(coupling.delta_R_angstrom) else coupling.delta_R_angstrom,
        n_atoms=len(modes.masses_amu), n_modes_excluded=coupling.n_excluded_modes,
        min_phonon_energy_meV=coupling.min_phonon_energy_meV,
        acoustic_sum_rule_enforced=acoustic_sum_rule_enforced,
        frequencies_meV=modes.frequencies_meV.tolist(), partial_huang_rhys=coupling.partial_huang_rhys.tolist(),
        inverse_participation_ratio=inverse_participation_ratio(modes.eigenvectors).tolist(),
        spectral_density_energy_meV=energy_grid.tolist(), spectral_density_per_meV=density.tolist(),
        phonon_energy_meV=eps[keep].tolist(), spectral_function_per_meV=spectral[keep].tolist(),
        photon_energy_eV=photon, intensity_per_eV=intensity,
        numerics=LineshapeNumerics(
            time_window_hbar_per_meV=band.time_window_hbar_per_meV, energy_step_meV=band.energy_step_meV,
            convergence_change=band.convergence_change, converged=band.converged, output_step_meV=OUTPUT_STEP_MEV,
        ),
        inputs=inputs, defectscreen_version=__version__,
    )


def check_same_cell(reference: Structure, other: Structure, name: str, path: Path) -> None:
    """InputFileError naming ``path`` unless ``other`` is ``reference``'s cell with the same atoms in the same order
    (no atom moved more than 1 Å)."""
    try:
        displacement = displacement_between(reference, other)
    except StructureMismatchError as error:
        raise InputFileError(f"{path} ({name}) does not match the force-constant cell: {error}") from None
    if np.max(np.abs(displacement)) > 1.0:
        raise InputFileError(
            f"{path} ({name}): an atom moved {np.max(np.abs(displacement)):.2f} Å from the force-constant cell; "
            "the atoms must be listed in the same order in every file"
        )


def analyze_lineshape_files(
    force_constants_path: str | Path, cell_path: str | Path, ground_path: str | Path,
    excited_path: str | Path | None = None, excited_forces_path: str | Path | None = None,
    zpl_energy_eV: float | None = None, sigma_meV: float = DEFAULT_SIGMA_MEV, gamma_meV: float = DEFAULT_GAMMA_MEV,
    temperature_K: float = 0.0, kind: Literal["emission", "absorption"] = "emission",
    min_phonon_energy_meV: float = DEFAULT_MIN_PHONON_ENERGY_MEV,
) -> LineshapeDocument:
    """Phonons from phonopy FORCE_CONSTANTS of `cell_path`; S_k from ΔR = excited − ground (displacement mode)
    or from the forces of the excited state at the relaxed ground geometry, a vasprun.xml (force mode);
    lineshape by Eqs. 6–10."""
    if (excited_path is None) == (excited_forces_path is None):
        raise InputFileError("give exactly one of the excited-state structure (displacement mode) or the excited-state "
                             "forces at the ground geometry (force mode)")
    cell = read_structure(cell_path)
    ground = read_structure(ground_path)
    check_same_cell(cell, ground, "ground state", Path(ground_path))
    force_constants = enforce_acoustic_sum_rule(read_force_constants(force_constants_path, len(cell)))
    modes = gamma_normal_modes(force_constants, atomic_masses(cell))
    inputs = [file_record("force_constants", force_constants_path), file_record("force_constant_cell", cell_path),
              file_record("ground_structure", ground_path)]
    if excited_path is not None:
        excited = read_structure(excited_path)
        check_same_cell(cell, excited, "excited state", Path(excited_path))
        coupling = huang_rhys_from_displacement(modes, displacement_between(ground, excited), min_phonon_energy_meV)
        inputs.append(file_record("excited_structure", excited_path))
        source = "displacement"
    else:
        calculation = read_vasprun(excited_forces_path)
        check_same_cell(cell, calculation.structure, "excited-state forces", Path(excited_forces_path))
        if np.max(np.abs(displacement_between(ground, calculation.structure))) > 1e-3:
            raise InputFileError(f"{excited_forces_path}: its geometry is not the ground-state geometry (> 1e-3 Å): "
                                 "force mode needs the excited state's forces at the relaxed ground structure")
        coupling = huang_rhys_from_forces(modes, calculation.forces_eV_per_angstrom, min_phonon_energy_meV)
        inputs.append(file_record("excited_forces", excited_forces_path))
        source = "forces"
    if coupling.n_excluded_modes == len(modes.frequencies_meV):
        raise InputFileError(f"{force_constants_path}: every mode is below {min_phonon_energy_meV:g} meV, so no mode "
                             "carries a Huang–Rhys factor; force constants that are all (nearly) zero come from a "
                             "displacement of 0 or a wrong file")
    band = optical_lineshape(modes.frequencies_meV, coupling.partial_huang_rhys, zpl_energy_eV=zpl_energy_eV,
                             sigma_meV=sigma_meV, gamma_meV=gamma_meV, temperature_K=temperature_K, kind=kind)
    return lineshape_document(modes, coupling, band, inputs, acoustic_sum_rule_enforced=True, coupling_source=source)

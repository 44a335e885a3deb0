"""How far a learned Hamiltonian is from the self-consistent one of the same cell: matrix elements, occupied bands,
gap, and the total energy and forces of its density (seeds 001/004's measures)."""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from defectscreen.engines.lcao_hamiltonian import LcaoCell
from defectscreen.mlip.hamiltonian_model import HamiltonianModel


@dataclass(frozen=True)
class HamiltonianComparison:
    """Model against SCF on one geometry. Energies in eV; errors model − SCF; ``hamiltonian_mae_meV`` over the
    non-zero SCF elements after the best constant times S (H and H + cS give the same density);
    ``occupied_band_mae_meV`` after aligning the occupied bands' means (bands and gap of the model's H); energy and
    forces after the mixing steps, ``energy_before_mixing_eV`` of the model H's density alone; ``model_wall_time_s``:
    predicting H, one diagonalisation, density and functional once per step (the cell's LCAO set-up included)."""

    energy_eV: float
    energy_error_eV: float
    energy_before_mixing_eV: float
    energy_error_before_mixing_eV: float
    force_mae_eV_per_angstrom: float
    hamiltonian_mae_meV: float
    occupied_band_mae_meV: float
    gap_error_meV: float
    model_wall_time_s: float


def compare_with_scf(model: HamiltonianModel, cell: LcaoCell, scf_hamiltonian_eV: np.ndarray, scf_energy_eV: float,
                     scf_forces_eV_per_angstrom: np.ndarray, overlap_floor: float,
                     mixing: tuple[float, ...] = ()) -> HamiltonianComparison:
    """The model's H of ``cell`` and the energy and forces of its density (after the ``mixing`` steps of
    :meth:`LcaoCell.energy_of`) against the SCF's."""
    start = time.perf_counter()
    predicted = model.hamiltonian_of(cell)
    result = cell.energy_of(predicted, overlap_floor, mixing)
    wall_time_s = time.perf_counter() - start + cell.setup_s
    overlap = cell.overlap
    shift = np.sum((scf_hamiltonian_eV - predicted) * overlap) / np.sum(overlap**2)
    nonzero = scf_hamiltonian_eV != 0
    element_error = np.abs(scf_hamiltonian_eV - predicted - shift * overlap)[nonzero]
    occupied = cell.occupied_orbitals
    scf_bands, _ = cell.eigenpairs(scf_hamiltonian_eV, overlap_floor)
    model_bands = result.band_energies_eV
    band_error = model_bands[:occupied] - scf_bands[:occupied]
    gap_error = (model_bands[occupied] - model_bands[occupied - 1]) - (scf_bands[occupied] - scf_bands[occupied - 1])
    return HamiltonianComparison(
        energy_eV=result.energy_eV, energy_error_eV=result.energy_eV - scf_energy_eV,
        energy_before_mixing_eV=result.energies_eV[0], energy_error_before_mixing_eV=result.energies_eV[0] - scf_energy_eV,
        force_mae_eV_per_angstrom=float(np.abs(result.forces_eV_per_angstrom - scf_forces_eV_per_angstrom).mean()),
        hamiltonian_mae_meV=1000 * float(element_error.mean()),
        occupied_band_mae_meV=1000 * float(np.abs(band_error - band_error.mean()).mean()),
        gap_error_meV=1000 * float(gap_error), model_wall_time_s=wall_time_s)

"""Configuration-coordinate displacements and Huang–Rhys factors (seed 000 Eqs. 3–5, 10).

Displacement mode:  ΔQ_k = Σ_jα sqrt(m_j) ΔR_jα e_k,jα                       (Eq. 4)
Force mode:         ΔQ_k = Σ_jα ΔF_jα e_k,jα / (sqrt(m_j) ω_k²)
                    (ΔF: forces of the final state at the initial geometry)
Both:               S_k = ω_k ΔQ_k² / (2ħ),   S = Σ_k S_k                      (Eq. 5)
Spectral density:   S(ħω) = Σ_k S_k g_σ(ħω − ħω_k), g_σ a unit Gaussian       (Eq. 10)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from pymatgen.core import Structure

from defectscreen.defaults import DEFAULT_MIN_PHONON_ENERGY_MEV
from defectscreen.physics.normal_modes import NormalModes
from defectscreen.physics.units import HBAR2_PER_AMU_ANGSTROM2_MEV, MEV_PER_SQRT_EIGENVALUE

#: Modes below this ħω (acoustic translations, numerical noise) carry no Huang–Rhys weight.


class StructureMismatchError(ValueError):
    """Two structures that should be the same cell in two states are not."""


@dataclass(frozen=True)
class HuangRhys:
    """Mode-resolved coupling between two states.

    frequencies_meV, partial_huang_rhys, delta_Q_k_amu_half_angstrom: per mode (3N,), S_k = 0 for
    excluded modes (|ħω_k| below the threshold or imaginary). delta_Q / delta_R: totals of ΔR.
    """

    frequencies_meV: np.ndarray
    partial_huang_rhys: np.ndarray
    delta_Q_k_amu_half_angstrom: np.ndarray
    delta_Q_amu_half_angstrom: float
    delta_R_angstrom: float
    min_phonon_energy_meV: float
    n_excluded_modes: int

    @property
    def total(self) -> float:
        """S = Σ_k S_k."""
        return float(np.sum(self.partial_huang_rhys))


def displacement_between(initial: Structure, final: Structure) -> np.ndarray:
    """ΔR_j = R_j^final − R_j^initial (N, 3) in Å by the minimum-image convention.

    Raises StructureMismatchError naming the first difference (atom count, species order, lattice).
    """
    if len(initial) != len(final):
        raise StructureMismatchError(
            f"the structures have {len(initial)} and {len(final)} atoms: give two states of the same supercell"
        )
    for index, (site_i, site_f) in enumerate(zip(initial, final)):
        if site_i.species != site_f.species:
            raise StructureMismatchError(
                f"atom {index} is {site_i.species_string} in one structure and {site_f.species_string} in the "
                "other: both files must list the atoms in the same order"
            )
    if not np.allclose(initial.lattice.matrix, final.lattice.matrix, atol=1e-3):
        raise StructureMismatchError(
            "the two structures have different lattice vectors (> 1e-3 Å): use the same supercell for both states"
        )
    fractional = final.frac_coords - initial.frac_coords
    fractional -= np.round(fractional)
    return fractional @ initial.lattice.matrix


def delta_Q_total(displacement_angstrom: np.ndarray, masses_amu: np.ndarray) -> float:
    """ΔQ = sqrt(Σ_j m_j |ΔR_j|²) in amu^1/2 Å (seed 000 Eq. 3)."""
    return float(np.sqrt(np.sum(np.asarray(masses_amu)[:, None] * np.asarray(displacement_angstrom) ** 2)))


def _result(modes: NormalModes, delta_Q_k: np.ndarray, displacement: np.ndarray | None,
            min_phonon_energy_meV: float) -> HuangRhys:
    frequencies = modes.frequencies_meV
    included = frequencies >= min_phonon_energy_meV
    partial = np.where(included, frequencies * delta_Q_k**2 / (2.0 * HBAR2_PER_AMU_ANGSTROM2_MEV), 0.0)
    delta_Q = delta_Q_total(displacement, modes.masses_amu) if displacement is not None else float(
        np.sqrt(np.sum(delta_Q_k[included] ** 2))
    )
    delta_R = float(np.sqrt(np.sum(displacement**2))) if displacement is not None else float("nan")
    return HuangRhys(
        frequencies_meV=frequencies,
        partial_huang_rhys=partial,
        delta_Q_k_amu_half_angstrom=np.where(included, delta_Q_k, 0.0),
        delta_Q_amu_half_angstrom=delta_Q,
        delta_R_angstrom=delta_R,
        min_phonon_energy_meV=min_phonon_energy_meV,
        n_excluded_modes=int(np.count_nonzero(~included)),
    )


def huang_rhys_from_displacement(
    modes: NormalModes, displacement_angstrom: np.ndarray,
    min_phonon_energy_meV: float = DEFAULT_MIN_PHONON_ENERGY_MEV,
) -> HuangRhys:
    """S_k from the relaxation ΔR (N, 3) in Å between the two states (seed 000 Eqs. 4–5)."""
    displacement = np.asarray(displacement_angstrom, dtype=float)
    weighted = np.sqrt(modes.masses_amu)[:, None] * displacement
    delta_Q_k = np.einsum("kja,ja->k", modes.eigenvectors, weighted)
    return _result(modes, delta_Q_k, displacement, min_phonon_energy_meV)


def huang_rhys_from_forces(
    modes: NormalModes, force_difference_eV_per_angstrom: np.ndarray,
    min_phonon_energy_meV: float = DEFAULT_MIN_PHONON_ENERGY_MEV,
) -> HuangRhys:
    """S_k from ΔF (N, 3) in eV/Å: forces of the final state at the initial state's geometry minus the
    (ideally zero) forces of the initial state there. ΔQ_k = ΔF_k / ω_k² in the harmonic approximation."""
    forces = np.asarray(force_difference_eV_per_angstrom, dtype=float)
    projected = np.einsum("kja,ja->k", modes.eigenvectors, forces / np.sqrt(modes.masses_amu)[:, None])
    eigenvalue = (np.abs(modes.frequencies_meV) / MEV_PER_SQRT_EIGENVALUE) ** 2
    safe = np.where(modes.frequencies_meV >= min_phonon_energy_meV, eigenvalue, 1.0)
    return _result(modes, projected / safe, None, min_phonon_energy_meV)


def spectral_density(
    phonon_energies_meV: np.ndarray, partial_huang_rhys: np.ndarray, energy_grid_meV: np.ndarray,
    sigma_meV: float,
) -> np.ndarray:
    """S(ħω) in 1/meV on energy_grid_meV: Σ_k S_k exp(−(ħω−ħω_k)²/2σ²)/(σ sqrt(2π)) (seed 000 Eq. 10)."""
    if sigma_meV <= 0:
        raise ValueError(f"sigma_meV = {sigma_meV}: the Gaussian width must be positive (default 2 meV)")
    grid = np.asarray(energy_grid_meV, dtype=float)[:, None]
    gauss = np.exp(-0.5 * ((grid - np.asarray(phonon_energies_meV)[None, :]) / sigma_meV) ** 2)
    return gauss @ np.asarray(partial_huang_rhys) / (sigma_meV * np.sqrt(2.0 * np.pi))

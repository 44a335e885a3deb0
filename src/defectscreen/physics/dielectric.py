"""Static dielectric tensor of an insulator: the clamped-ion (electronic) part ε∞ plus the ionic part from Born
effective charges and the Γ phonons (Gonze & Lee, Phys. Rev. B 55, 10355 (1997), Eq. 55):

    ε⁰_αβ = ε∞_αβ + (4π e² / (4πε₀ Ω)) Σ_m p_mα p_mβ / ω_m²,   p_mα = Σ_κβ Z*_κ,αβ e_m,κβ / √M_κ

over the optical modes m of the Γ dynamical matrix (analytic part: transverse modes, no LO–TO term). The sum
equals (4π e²/(4πε₀ Ω)) Z* Φ⁺ Z*ᵀ: masses cancel, as a static response must.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from phonopy import Phonopy
from phonopy.structure.symmetry import symmetrize_borns_and_epsilon
from pymatgen.core import Structure
from scipy import constants

from defectscreen.physics.finite_displacement import phonopy_cell
from defectscreen.physics.normal_modes import enforce_acoustic_sum_rule, gamma_normal_modes
from defectscreen.physics.units import MEV_PER_SQRT_EIGENVALUE

#: e²/(4πε₀) in eV·Å.
COULOMB_EV_ANGSTROM = constants.e / (4 * np.pi * constants.epsilon_0 * constants.angstrom)
#: symmetry tolerance (Å) of the primitive cell after its relaxation (BFGS keeps the symmetry to ~1e-4 Å).
SYMPREC = 1e-3
#: |p|²/ω² of a mode below this fraction of the largest is not infrared active (symmetry zeros, numerical noise).
INFRARED_ACTIVE_FRACTION = 1e-6


@dataclass(frozen=True)
class IonicDielectricResponse:
    """The ionic part of the static dielectric tensor and the Γ modes that carry it.

    epsilon_ionic: (3, 3). frequencies_meV: (3N − 3,) ħω of the optical modes, ascending. mode_epsilon: (3N − 3,
    3, 3) each mode's contribution (sum = epsilon_ionic). acoustic_frequencies_meV: (3,) the three translations
    removed (zero when the acoustic sum rule holds).
    """

    epsilon_ionic: np.ndarray
    frequencies_meV: np.ndarray
    mode_epsilon: np.ndarray
    acoustic_frequencies_meV: np.ndarray


def force_constants_from_cartesian_displacements(structure: Structure, forces_eV_per_angstrom: np.ndarray,
                                                 displacement_angstrom: float) -> np.ndarray:
    """Φ (N, N, 3, 3) in eV/Å² of ``structure`` at Γ by central differences,
    Φ_κα,κ'β = −(F_κ'β(+u_κα) − F_κ'β(−u_κα)) / 2u.

    forces_eV_per_angstrom: (N, 3, 2, N, 3): atom κ displaced along Cartesian α by −u (index 0) and +u (index 1),
    forces on every atom κ'. Φ is then averaged over the space group and translational invariance and index
    symmetry are restored (phonopy), removing the noise that splits degenerate modes.
    """
    forces = np.asarray(forces_eV_per_angstrom, dtype=float)
    n_atoms = len(structure)
    if forces.shape != (n_atoms, 3, 2, n_atoms, 3):
        raise ValueError(f"forces have shape {forces.shape}, expected ({n_atoms}, 3, 2, {n_atoms}, 3) for ± "
                         "displacements of each atom along x, y and z")
    phonon = Phonopy(phonopy_cell(structure), supercell_matrix=np.eye(3, dtype=int), symprec=SYMPREC, log_level=0)
    phonon.force_constants = -(forces[:, :, 1] - forces[:, :, 0]).transpose(0, 2, 1, 3) / (2 * displacement_angstrom)
    phonon.symmetrize_force_constants_by_space_group(show_drift=False)
    return enforce_acoustic_sum_rule(phonon.force_constants)


def ionic_dielectric_tensor(born_charges_e: np.ndarray, force_constants_eV_per_angstrom2: np.ndarray,
                            masses_amu: np.ndarray, volume_angstrom3: float) -> IonicDielectricResponse:
    """ε^ion (Gonze & Lee Eq. 55, module docstring) from Z* (N, 3, 3) in units of e, indexed [κ, α (field or
    polarization), β (displacement)], Φ (N, N, 3, 3) in eV/Å², masses (N,) in amu and the cell volume Ω in Å³.

    The three modes most like a uniform translation are removed. Raises ValueError naming the mode when an
    optical mode is unstable (ω² ≤ 0): the static response of such a lattice diverges, so its geometry is not a
    minimum of the engine's energy.
    """
    born = np.asarray(born_charges_e, dtype=float)
    masses = np.asarray(masses_amu, dtype=float)
    modes = gamma_normal_modes(force_constants_eV_per_angstrom2, masses)
    translations = np.sqrt(masses)[None, :, None] * np.eye(3)[:, None, :] / np.sqrt(masses.sum())  # (3, N, 3)
    weight_in_translations = (np.einsum("tka,mka->mt", translations, modes.eigenvectors) ** 2).sum(axis=1)
    acoustic = np.sort(np.argsort(weight_in_translations)[-3:])
    optical = np.setdiff1d(np.arange(len(modes.frequencies_meV)), acoustic)
    frequencies = modes.frequencies_meV[optical]
    if frequencies.min() <= 0:
        raise ValueError(f"an optical Γ mode has ħω = {frequencies.min():.2f} meV (unstable): the static dielectric "
                         "constant diverges; relax the structure with the engine")
    polarity = np.einsum("kab,mkb->ma", born, modes.eigenvectors[optical] / np.sqrt(masses)[None, :, None])
    eigenvalue = (frequencies / MEV_PER_SQRT_EIGENVALUE) ** 2  # ω² in eV/(Å² amu)
    mode_epsilon = (4 * np.pi * COULOMB_EV_ANGSTROM / volume_angstrom3
                    * np.einsum("ma,mb->mab", polarity, polarity) / eigenvalue[:, None, None])
    return IonicDielectricResponse(epsilon_ionic=mode_epsilon.sum(axis=0), frequencies_meV=frequencies,
                                   mode_epsilon=mode_epsilon,
                                   acoustic_frequencies_meV=modes.frequencies_meV[acoustic])


def infrared_active(response: IonicDielectricResponse) -> np.ndarray:
    """Boolean mask of the optical modes whose contribution to ε^ion is not a symmetry zero."""
    weight = np.trace(response.mode_epsilon, axis1=1, axis2=2)
    return weight > INFRARED_ACTIVE_FRACTION * max(weight.max(), 0.0)


def symmetrized_born_charges_and_epsilon(structure: Structure, born_charges_e: np.ndarray,
                                         epsilon: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Z* (N, 3, 3) and a 3×3 ε averaged over the crystal's point group (phonopy), the sum rule Σ_κ Z*_κ = 0
    imposed; removes the noise of finite differences and k sampling that breaks the symmetry."""
    born, tensor = symmetrize_borns_and_epsilon(np.asarray(born_charges_e, dtype=float),
                                                np.asarray(epsilon, dtype=float), phonopy_cell(structure),
                                                symprec=SYMPREC)
    return born - born.mean(axis=0), tensor

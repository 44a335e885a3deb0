"""Γ-point normal modes of a supercell from its real-space force constants (seed 000 Eqs. 1–2)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from phonopy.harmonic.force_constants import symmetrize_force_constants
from pymatgen.core import Structure

from defectscreen.physics.units import MEV_PER_SQRT_EIGENVALUE


@dataclass(frozen=True)
class NormalModes:
    """Γ modes of one supercell.

    frequencies_meV: (3N,) ħω_k ascending; imaginary modes are returned as negative numbers.
    eigenvectors: (3N, N, 3) orthonormal eigenvectors e_k,jα of the mass-weighted dynamical matrix.
    masses_amu: (N,) atomic masses used.
    """

    frequencies_meV: np.ndarray
    eigenvectors: np.ndarray
    masses_amu: np.ndarray


def atomic_masses(structure: Structure) -> np.ndarray:
    """(N,) atomic masses in amu of the sites of ``structure``."""
    return np.array([site.specie.atomic_mass for site in structure], dtype=float)


def enforce_acoustic_sum_rule(force_constants: np.ndarray) -> np.ndarray:
    """Copy of Φ (N, N, 3, 3) in eV/Å² with translational invariance and index permutation symmetry
    restored by phonopy's iterative symmetrization."""
    restored = np.array(force_constants, dtype="double", order="C", copy=True)
    symmetrize_force_constants(restored)
    return restored


def mass_weighted_dynamical_matrix(force_constants: np.ndarray, masses_amu: np.ndarray) -> np.ndarray:
    """Dense (3N, 3N) D_jα,j'β = Φ_jα,j'β / sqrt(m_j m_j') in eV/(Å² amu) from Φ (N, N, 3, 3) in eV/Å²."""
    force_constants = np.asarray(force_constants, dtype=float)
    masses = np.asarray(masses_amu, dtype=float)
    n_atoms = len(masses)
    if force_constants.shape != (n_atoms, n_atoms, 3, 3):
        raise ValueError(
            f"force constants have shape {force_constants.shape}, expected ({n_atoms}, {n_atoms}, 3, 3) "
            f"for {n_atoms} atoms: the force constants and the structure must describe the same supercell"
        )
    inverse_sqrt_mass = np.repeat(masses**-0.5, 3)
    matrix = force_constants.transpose(0, 2, 1, 3).reshape(3 * n_atoms, 3 * n_atoms)
    return matrix * np.outer(inverse_sqrt_mass, inverse_sqrt_mass)


def gamma_normal_modes(force_constants: np.ndarray, masses_amu: np.ndarray) -> NormalModes:
    """Diagonalize D_jα,j'β = Φ_jα,j'β / sqrt(m_j m_j') (seed 000 Eq. 2 at q = 0).

    force_constants: (N, N, 3, 3) in eV/Å²; masses_amu: (N,).
    ħω_k = ħ sqrt(λ_k) with λ_k in eV/(Å² amu); negative λ_k give negative (imaginary) ħω_k.
    Dense: O(N³) time, O(N²) memory — the reference for the sparse solvers.
    """
    masses = np.asarray(masses_amu, dtype=float)
    n_atoms = len(masses)
    dynamical = mass_weighted_dynamical_matrix(force_constants, masses)
    eigenvalues, vectors = np.linalg.eigh(0.5 * (dynamical + dynamical.T))
    frequencies = np.sign(eigenvalues) * np.sqrt(np.abs(eigenvalues)) * MEV_PER_SQRT_EIGENVALUE
    return NormalModes(
        frequencies_meV=frequencies,
        eigenvectors=vectors.T.reshape(3 * n_atoms, n_atoms, 3),
        masses_amu=masses,
    )


def structure_normal_modes(structure: Structure, force_constants: np.ndarray) -> NormalModes:
    """Γ modes of ``structure`` (its atomic masses) from raw force constants, acoustic sum rule enforced."""
    return gamma_normal_modes(enforce_acoustic_sum_rule(force_constants), atomic_masses(structure))


def inverse_participation_ratio(eigenvectors: np.ndarray) -> np.ndarray:
    """IPR_k = Σ_j p_kj² with p_kj = Σ_α |e_k,jα|²: 1/N for a bulk-like mode, 1 for one atom."""
    weights = np.sum(np.abs(eigenvectors) ** 2, axis=2)
    return np.sum(weights**2, axis=1)


def optical_mode_indices(frequencies_meV: np.ndarray) -> np.ndarray:
    """Indices of all Γ modes but the three of smallest |ħω| (the translations), in ascending ħω: an imaginary mode,
    listed as a negative frequency, comes first instead of being taken for an acoustic one."""
    acoustic = np.argsort(np.abs(frequencies_meV))[:3]
    ascending = np.argsort(frequencies_meV)
    return ascending[~np.isin(ascending, acoustic)]

"""Curvature of the energy surface along one normal mode: from force constants, and from labelled cells displaced
around the structure (the check of whether an imaginary mode of a model is physics or the model's error)."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from defectscreen.physics.normal_modes import NormalModes


class MeasuredCurvature(NamedTuple):
    """λ of the least-squares line f_k = f_0 − λ d_k through displaced cells (see ``curvature_from_displaced_cells``)."""

    curvature_eV_per_angstrom2: float  #: λ
    force_at_structure_eV_per_angstrom: float  #: f_0, the force along the direction at d = 0
    line_residual_eV_per_angstrom: float  #: RMS of f_k − (f_0 − λ d_k)
    n_cells: int
    standard_error_eV_per_angstrom2: float  #: of λ (least squares; infinite with two cells)


def cartesian_mode_direction(modes: NormalModes, index: int) -> np.ndarray:
    """Unit Cartesian direction ê (N, 3) of mode ``index``: the mass-weighted eigenvector e_k,j / √m_j, normalised."""
    direction = modes.eigenvectors[index] / np.sqrt(modes.masses_amu)[:, None]
    return direction / np.linalg.norm(direction)


def curvature_of_force_constants(direction: np.ndarray, force_constants: np.ndarray) -> float:
    """ê·Φ·ê in eV/Å² for a unit direction (N, 3) and force constants Φ (N, N, 3, 3) in eV/Å²."""
    return float(np.einsum("ia,ijab,jb->", direction, force_constants, direction))


def curvature_from_displaced_cells(direction: np.ndarray, displacements_angstrom: np.ndarray,
                                   forces_eV_per_angstrom: np.ndarray) -> MeasuredCurvature:
    """Curvature along a unit direction ê (N, 3) from cells displaced by u_k (n, N, 3) Å with forces F_k (n, N, 3) eV/Å.

    With d_k = u_k·ê and f_k = F_k·ê, fits f_k = f_0 − λ d_k by least squares. In the harmonic limit
    F_k = F_0 − Φ u_k, so λ = ê·Φ·ê exactly when ê is an eigenvector of Φ; otherwise the other directions' share
    of each u_k enters the residual, and the standard error of λ, √(Σ r_k² / (n − 2)) / √(Σ (d_k − d̄)²), says how
    well the cells fix it. Raises ValueError with fewer than two cells or no spread of d_k.
    """
    d = np.einsum("kia,ia->k", displacements_angstrom, direction)
    f = np.einsum("kia,ia->k", forces_eV_per_angstrom, direction)
    if len(d) < 2 or np.ptp(d) < 1e-6:
        spread = float(np.ptp(d)) if len(d) else 0.0
        raise ValueError(f"{len(d)} displaced cell(s) spanning {spread:.1e} Å along the mode: a curvature needs at "
                         "least two cells displaced differently along it")
    design = np.column_stack([np.ones_like(d), -d])
    (offset, curvature), *_ = np.linalg.lstsq(design, f, rcond=None)
    residual = f - (offset - curvature * d)
    standard_error = (np.sqrt(np.sum(residual**2) / (len(d) - 2) / np.sum((d - d.mean()) ** 2)) if len(d) > 2
                      else np.inf)
    return MeasuredCurvature(float(curvature), float(offset), float(np.sqrt(np.mean(residual**2))), len(d),
                             float(standard_error))

"""One-dimensional configuration-coordinate (CCD) model (Alkauskas, Yan & Van de Walle 2014, Sec. II).

The path runs from the final state's relaxed structure (Q = 0) to the initial state's (Q = ΔQ):
R(Q) = R_f + (Q/ΔQ)(R_i − R_f), Q in amu^1/2 Å, energies in eV, ħω in meV.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from pymatgen.core import Structure
from scipy.interpolate import CubicSpline
from scipy.optimize import brentq

from defectscreen.physics.huang_rhys import delta_Q_total, displacement_between
from defectscreen.physics.normal_modes import atomic_masses
from defectscreen.physics.units import MEV_PER_SQRT_EIGENVALUE


def interpolate_structures(final: Structure, initial: Structure, fractions: np.ndarray) -> list[Structure]:
    """Structures at Q = fraction·ΔQ along the straight path (fractions outside [0, 1] extrapolate)."""
    displacement = displacement_between(final, initial)
    return [
        Structure(final.lattice, final.species, final.cart_coords + fraction * displacement,
                  coords_are_cartesian=True, charge=final.charge)
        for fraction in np.asarray(fractions, dtype=float)
    ]


def configuration_coordinate(structure: Structure, final: Structure, initial: Structure) -> float:
    """Signed Q of `structure` on the path: its mass-weighted displacement from `final` projected on ΔR."""
    masses = atomic_masses(final)
    path = displacement_between(final, initial)
    step = displacement_between(final, structure)
    delta_Q = delta_Q_total(path, masses)
    return float(np.sum(masses[:, None] * step * path) / delta_Q)


@dataclass(frozen=True)
class HarmonicFit:
    """E(Q) = E0 + ½ ω² (Q − Q0)² fitted with Q0 and E0 fixed; residual_meV is the RMS misfit."""

    hbar_omega_meV: float
    curvature_eV_per_amu_angstrom2: float
    residual_meV: float
    n_points: int


def fit_harmonic(q: np.ndarray, energy_eV: np.ndarray, q0: float, e0_eV: float) -> HarmonicFit:
    """Least-squares ω² = 2 Σ x² y / Σ x⁴ with x = Q − Q0, y = E − E0 (points at Q0 carry no weight)."""
    x = np.asarray(q, dtype=float) - q0
    y = np.asarray(energy_eV, dtype=float) - e0_eV
    informative = np.abs(x) > 1e-8
    if np.count_nonzero(informative) == 0:
        raise ValueError("a harmonic fit needs at least one energy away from the minimum (Q != Q0)")
    curvature = 2.0 * np.sum(x**2 * y) / np.sum(x**4)
    if curvature <= 0:
        raise ValueError(
            f"the energies fall away from Q0 = {q0:.3f} amu^1/2 Å (curvature {curvature:.3g} eV/(amu Å²)): "
            "the minimum is not at Q0 — check the structures and which state each calculation belongs to"
        )
    residual = 1e3 * float(np.sqrt(np.mean((0.5 * curvature * x**2 - y) ** 2)))
    return HarmonicFit(
        hbar_omega_meV=float(MEV_PER_SQRT_EIGENVALUE * np.sqrt(curvature)),
        curvature_eV_per_amu_angstrom2=float(curvature),
        residual_meV=residual,
        n_points=int(x.size),
    )


def spline_surface(q: np.ndarray, energy_eV: np.ndarray) -> CubicSpline:
    """Anharmonic potential-energy surface E(Q) through the computed points (cubic spline, ≥ 4 points)."""
    order = np.argsort(q)
    q_sorted = np.asarray(q, dtype=float)[order]
    if q_sorted.size < 4 or np.any(np.diff(q_sorted) <= 0):
        raise ValueError("a spline surface needs at least 4 distinct Q values")
    return CubicSpline(q_sorted, np.asarray(energy_eV, dtype=float)[order])


def harmonic_crossing_barrier(delta_Q: float, delta_E_eV: float, hbar_omega_i_meV: float,
                              hbar_omega_f_meV: float) -> float | None:
    """Classical barrier (eV, from the initial minimum) where the harmonic surfaces
    E_f(Q) = ½ω_f²Q² and E_i(Q) = ΔE + ½ω_i²(Q − ΔQ)² cross; None if they never do."""
    wi2 = (hbar_omega_i_meV / MEV_PER_SQRT_EIGENVALUE) ** 2
    wf2 = (hbar_omega_f_meV / MEV_PER_SQRT_EIGENVALUE) ** 2
    a = 0.5 * (wi2 - wf2)
    b = -wi2 * delta_Q
    c = delta_E_eV + 0.5 * wi2 * delta_Q**2
    if abs(a) < 1e-14:
        roots = np.array([-c / b])
    else:
        discriminant = b * b - 4 * a * c
        if discriminant < 0:
            return None
        roots = (-b + np.array([-1.0, 1.0]) * np.sqrt(discriminant)) / (2 * a)
    barrier = 0.5 * wf2 * roots**2 - delta_E_eV
    return float(np.min(barrier))


def spline_crossing_barrier(initial_surface: CubicSpline, final_surface: CubicSpline, q_min: float,
                            q_max: float, initial_minimum_eV: float) -> float | None:
    """Lowest crossing of two spline surfaces inside [q_min, q_max], in eV above the initial minimum."""
    grid = np.linspace(q_min, q_max, 2001)
    difference = initial_surface(grid) - final_surface(grid)
    crossings = np.nonzero(np.sign(difference[:-1]) * np.sign(difference[1:]) < 0)[0]
    if crossings.size == 0:
        return None
    energies = []
    for index in crossings:
        q = brentq(lambda x: float(initial_surface(x) - final_surface(x)), grid[index], grid[index + 1])
        energies.append(float(initial_surface(q)) - initial_minimum_eV)
    return min(energies)

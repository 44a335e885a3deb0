"""Charged-supercell scaling s of a capture coefficient (Alkauskas, Yan & Van de Walle, PRB 90, 075202 (2014)).

In a supercell holding a charged defect the band-edge state that plays the free carrier already feels the
defect's Coulomb field: attracted, it piles up around the defect; repelled, it avoids it. W_if computed from
that state therefore already contains part of the Sommerfeld enhancement f(T), which the supercell
exaggerates (the carrier cannot escape the small cell). The capture coefficient is C = f(T) C̃ / s, with

    s = ρ̄(|r − r_d| < R) / ρ̄(cell)                     (density near the defect over its cell average)

taken where s(R) stops changing with R (a plateau beyond the defect's own bonds). Here
s(R) = [∫_{|r−r_d|<R} |ψ|² / ∫_cell |ψ|²] / [N(R) / N], with N(R) the grid points inside the sphere, so that a
uniform density gives s = 1 at every radius exactly, on any grid and any cell shape.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import product

import numpy as np

#: Radii below this (Å) see the defect's own bonds, not the envelope: the plateau is searched beyond it.
DEFAULT_MINIMUM_RADIUS_ANGSTROM = 1.0
#: A plateau is a window of this width (Å) over which |ds/dR| stays below the slope tolerance.
DEFAULT_PLATEAU_WIDTH_ANGSTROM = 0.5
#: Largest |ds/dR| (1/Å) inside a plateau.
DEFAULT_SLOPE_TOLERANCE_PER_ANGSTROM = 0.05
RADIUS_STEP_ANGSTROM = 0.05


@dataclass(frozen=True)
class ChargedSupercellScaling:
    """s(R) around the defect and the plateau value s (dimensionless)."""

    radii_angstrom: np.ndarray
    density_ratio: np.ndarray  # s(R)
    enclosed_fraction: np.ndarray  # ∫_{|r−r_d|<R} |ψ|² / ∫_cell |ψ|²
    scaling: float
    plateau_radii_angstrom: tuple[float, float]
    plateau_found: bool  # False: no window met the tolerance; s is the flattest window's mean


def inscribed_radius_angstrom(lattice_matrix: np.ndarray) -> float:
    """Half the smallest distance between opposite faces of the cell (rows of ``lattice_matrix``, Å): the
    largest sphere that does not meet its own periodic image."""
    lattice = np.asarray(lattice_matrix, dtype=float)
    volume = abs(np.linalg.det(lattice))
    return 0.5 * min(volume / np.linalg.norm(np.cross(lattice[(i + 1) % 3], lattice[(i + 2) % 3])) for i in range(3))


def distances_from(centre_frac: np.ndarray, grid_shape: tuple[int, int, int], lattice_matrix: np.ndarray) -> np.ndarray:
    """Minimum-image distance (Å) of every point of a periodic grid (point (i, j, k) at fractional coordinates
    (i/n1, j/n2, k/n3)) from ``centre_frac``, checked over the 27 neighbouring images (correct for skewed cells)."""
    lattice = np.asarray(lattice_matrix, dtype=float)
    axes = [np.arange(n) / n for n in grid_shape]
    offsets = [np.asarray(a) - c for a, c in zip(axes, np.asarray(centre_frac, dtype=float) % 1.0)]
    offsets = [o - np.round(o) for o in offsets]
    shortest = np.full(grid_shape, np.inf)
    for image in product((-1, 0, 1), repeat=3):
        shifted = [o + s for o, s in zip(offsets, image)]
        cartesian = (shifted[0][:, None, None, None] * lattice[0] + shifted[1][None, :, None, None] * lattice[1]
                     + shifted[2][None, None, :, None] * lattice[2])
        np.minimum(shortest, np.sqrt(np.sum(cartesian**2, axis=-1)), out=shortest)
    return shortest


@dataclass(frozen=True)
class SpheresAroundDefect:
    """Spheres of growing radius around the defect on one cell's periodic grid (computed once, used for every
    orbital of the cell)."""

    order: np.ndarray  # flat grid indices by distance from the defect
    radii_angstrom: np.ndarray  # RADIUS_STEP_ANGSTROM up to the inscribed radius, spheres with ≥ 1 grid point
    points_inside: np.ndarray  # grid points within each radius

    @classmethod
    def on_grid(cls, centre_frac: np.ndarray, grid_shape: tuple[int, int, int],
                lattice_matrix: np.ndarray) -> SpheresAroundDefect:
        distance = distances_from(centre_frac, grid_shape, lattice_matrix).ravel()
        order = np.argsort(distance)
        radii = np.arange(RADIUS_STEP_ANGSTROM, inscribed_radius_angstrom(lattice_matrix) + 1e-9, RADIUS_STEP_ANGSTROM)
        inside = np.searchsorted(distance[order], radii, side="right")
        return cls(order=order, radii_angstrom=radii[inside > 0], points_inside=inside[inside > 0])

    def density_ratio(self, density: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(s(R), enclosed fraction ∫_{|r−r_d|<R} ρ / ∫_cell ρ) at ``radii_angstrom`` for ρ on the cell's grid."""
        density = np.asarray(density, dtype=float)
        if density.size != self.order.size or np.any(density < 0) or not np.any(density > 0):
            raise ValueError("density must be a non-negative grid of the spheres' cell with some weight (|ψ|²)")
        cumulative = np.concatenate([[0.0], np.cumsum(density.ravel()[self.order])])
        enclosed = cumulative[self.points_inside] / cumulative[-1]
        return enclosed / (self.points_inside / self.order.size), enclosed

    def density_ratio_at(self, density: np.ndarray, radius_angstrom: float) -> float:
        """s(R) at the sampled radius nearest ``radius_angstrom``: ≫ 1 for a state localized at the defect."""
        return float(self.density_ratio(density)[0][np.argmin(np.abs(self.radii_angstrom - radius_angstrom))])


def charged_supercell_scaling(
    density: np.ndarray, spheres: SpheresAroundDefect,
    minimum_radius_angstrom: float = DEFAULT_MINIMUM_RADIUS_ANGSTROM,
    plateau_width_angstrom: float = DEFAULT_PLATEAU_WIDTH_ANGSTROM,
    slope_tolerance_per_angstrom: float = DEFAULT_SLOPE_TOLERANCE_PER_ANGSTROM,
) -> ChargedSupercellScaling:
    """s of a band-edge density |ψ|² (any normalization) on the cell's grid, around the defect the ``spheres``
    are centred on: the mean of s(R) over the first window of ``plateau_width_angstrom`` beyond
    ``minimum_radius_angstrom`` where |ds/dR| < ``slope_tolerance_per_angstrom``, with R up to the inscribed
    radius. Give the sum of |ψ|² over a degenerate band edge (invariant under rotations inside it)."""
    radii = spheres.radii_angstrom
    if radii[-1] < minimum_radius_angstrom + plateau_width_angstrom:
        raise ValueError(f"the cell's inscribed sphere ({radii[-1]:.2f} Å) is too small for a plateau beyond "
                         f"{minimum_radius_angstrom} Å: use a larger supercell")
    ratio, enclosed = spheres.density_ratio(density)
    slope = np.abs(np.gradient(ratio, radii))
    window = int(round(plateau_width_angstrom / RADIUS_STEP_ANGSTROM))
    starts = np.flatnonzero(radii >= minimum_radius_angstrom - 1e-9)
    starts = starts[starts + window < radii.size]
    steepest = np.array([slope[i:i + window + 1].max() for i in starts])
    flat = np.flatnonzero(steepest < slope_tolerance_per_angstrom)
    first = starts[flat[0]] if flat.size else starts[int(np.argmin(steepest))]
    return ChargedSupercellScaling(
        radii_angstrom=radii, density_ratio=ratio, enclosed_fraction=enclosed,
        scaling=float(np.mean(ratio[first:first + window + 1])),
        plateau_radii_angstrom=(float(radii[first]), float(radii[first + window])), plateau_found=bool(flat.size))

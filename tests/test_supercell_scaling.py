"""Charged-supercell scaling s: exact limits on model densities, minimum images against pymatgen, and the
all-electron GPAW orbital of a hydrogen atom against the analytic 1s radial distribution."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from pymatgen.core import Lattice

from defectscreen.physics.supercell_scaling import (
    SpheresAroundDefect,
    charged_supercell_scaling,
    distances_from,
    inscribed_radius_angstrom,
)

HEXAGONAL = Lattice.hexagonal(8.0, 9.0).matrix
GRID = (40, 40, 45)


def _spheres(centre: np.ndarray) -> SpheresAroundDefect:
    return SpheresAroundDefect.on_grid(centre, GRID, HEXAGONAL)


def test_uniform_density_gives_one_at_every_radius() -> None:
    result = charged_supercell_scaling(np.full(GRID, 3.7), _spheres(np.array([0.3, 0.6, 0.2])))
    np.testing.assert_allclose(result.density_ratio, 1.0, rtol=1e-9)
    assert result.scaling == pytest.approx(1.0, rel=1e-9)
    assert result.plateau_found
    assert result.radii_angstrom[-1] == pytest.approx(inscribed_radius_angstrom(HEXAGONAL), abs=0.05)
    assert inscribed_radius_angstrom(HEXAGONAL) == pytest.approx(0.5 * 8.0 * np.sqrt(3) / 2)


def test_enhancement_inside_a_sphere_gives_the_exact_plateau_and_survives_wrapping_across_the_cell() -> None:
    centre = np.array([0.95, 0.02, 0.5])  # the sphere wraps over two faces
    distance = distances_from(centre, GRID, HEXAGONAL)
    inside = distance < 2.5
    enhancement = 4.0
    density = 1.0 + enhancement * inside
    result = charged_supercell_scaling(density, _spheres(centre))
    exact = (1 + enhancement) / (1 + enhancement * inside.mean())
    assert result.plateau_found
    assert result.plateau_radii_angstrom[1] < 2.5
    assert result.scaling == pytest.approx(exact, rel=1e-9)
    assert result.enclosed_fraction[-1] > 0.99 * (1 + enhancement) * inside.sum() / density.sum()
    shift = (7, -3, 11)  # the same density moved by whole grid steps, the centre with it
    moved = charged_supercell_scaling(np.roll(density, shift, axis=(0, 1, 2)),
                                      _spheres(centre + np.array(shift) / np.array(GRID)))
    np.testing.assert_allclose(moved.density_ratio, result.density_ratio, rtol=1e-9)


def test_minimum_image_distances_equal_pymatgen_in_a_skewed_cell() -> None:
    lattice = Lattice.from_parameters(5.0, 6.0, 7.0, 62.0, 75.0, 58.0)
    shape = (6, 7, 8)
    centre = np.array([0.91, 0.13, 0.47])
    points = np.stack(np.meshgrid(*[np.arange(n) / n for n in shape], indexing="ij"), axis=-1).reshape(-1, 3)
    expected = lattice.get_all_distances(centre[None, :], points)[0]
    np.testing.assert_allclose(distances_from(centre, shape, lattice.matrix).ravel(), expected, atol=1e-10)


def test_density_that_grows_away_from_the_defect_has_no_plateau_and_too_small_cells_are_refused() -> None:
    centre = np.array([0.5, 0.5, 0.5])
    spheres = _spheres(centre)
    result = charged_supercell_scaling(distances_from(centre, GRID, HEXAGONAL), spheres)
    assert not result.plateau_found
    assert result.scaling < 1.0  # the defect's surroundings are depleted
    with pytest.raises(ValueError, match="larger supercell"):
        charged_supercell_scaling(np.ones((10, 10, 10)), SpheresAroundDefect.on_grid(centre, (10, 10, 10),
                                                                                      Lattice.cubic(2.5).matrix))
    with pytest.raises(ValueError, match="non-negative"):
        charged_supercell_scaling(-np.ones(GRID), spheres)
    with pytest.raises(ValueError, match="grid of the spheres' cell"):
        charged_supercell_scaling(np.ones((10, 10, 10)), spheres)


@pytest.mark.dft
def test_gpaw_hydrogen_orbital_encloses_the_analytic_1s_fraction(tmp_path: Path) -> None:
    """A hydrogen atom off-centre in an orthorhombic box: the enclosed fraction of its all-electron orbital
    around the nucleus is 1 − e^{−2x}(1 + 2x + 2x²), x = R/a0 (spin-polarized PBE: within 0.02, a little more
    diffuse by self-interaction; the spin-unpolarized atom is off by 0.05), which checks the grid's origin and
    axis order."""
    from ase import Atoms

    from defectscreen.engines import GpawSettings, make_calculator
    from defectscreen.engines.gpaw import kohn_sham_orbitals

    cell = np.diag([7.0, 7.6, 8.2])
    atoms = Atoms("H", scaled_positions=[[0.31, 0.62, 0.17]], cell=cell, pbc=True, magmoms=[1.0])
    orbitals = kohn_sham_orbitals(make_calculator(GpawSettings(), 0, 2, tmp_path), atoms, spin=0,
                                  bands=[0], grid_spacing=0.1)
    density = np.abs(orbitals.orbitals[0]) ** 2
    spheres = SpheresAroundDefect.on_grid(atoms.get_scaled_positions()[0], density.shape, cell)
    result = charged_supercell_scaling(density, spheres)
    x = result.radii_angstrom / 0.529177
    analytic = 1 - np.exp(-2 * x) * (1 + 2 * x + 2 * x * x)
    near = (result.radii_angstrom >= 0.3) & (result.radii_angstrom <= 2.5)
    np.testing.assert_allclose(result.enclosed_fraction[near], analytic[near], atol=0.03)
    assert spheres.density_ratio_at(density, 0.5) > 20  # centred on the nucleus

"""Charged-supercell scaling s: exact limits on model densities, minimum images against pymatgen, the
all-electron GPAW orbital of a hydrogen atom against the analytic 1s radial distribution, and s from a WAVECAR
through `defectscreen analyze capture` on the public C_N GaN data."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from conftest import GAN_CN
from pymatgen.core import Lattice
from pymatgen.io.vasp.outputs import Wavecar

from defectscreen.cli.main import cli
from defectscreen.physics.supercell_scaling import (
    SpheresAroundDefect,
    charged_supercell_scaling,
    distances_from,
    inscribed_radius_angstrom,
)
from defectscreen.readers.structures import read_structure
from defectscreen.readers.vasp import read_wavecar_density

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


def _write_wavecar(path: Path, lattice: np.ndarray, encut_eV: float, bands: list[dict[tuple[int, int, int], complex]]
                   ) -> np.ndarray:
    """A one-k-point (Γ), one-spin standard WAVECAR in VASP's record layout (single precision) whose band b has
    plane-wave coefficients ``bands[b]``; returns the G vectors in file order."""
    layout = Wavecar.__new__(Wavecar)  # pymatgen's own G-sphere generation, so the file is what VASP would write
    layout.a, layout.encut, layout._C = lattice, encut_eV, 0.262465831
    layout.b = 2 * np.pi * np.linalg.inv(lattice).T
    layout._generate_nbmax()
    g_vectors = np.array(layout._generate_G_points(np.zeros(3), gamma=False)[0])
    n_bands = len(bands)
    record = max(len(g_vectors), 4 + 3 * n_bands, 13)  # in 8-byte words
    header = np.zeros(record)
    header[:3] = [8 * record, 1, 45200]
    cell = np.zeros(record)
    cell[:13] = [1, n_bands, encut_eV, *lattice.ravel(), 0.0]
    kpoint = np.zeros(record)
    kpoint[0] = len(g_vectors)
    kpoint[4:4 + 3 * n_bands] = np.ravel([[0.1 * b, 0.0, 1.0] for b in range(n_bands)])
    with open(path, "wb") as file:
        for words in (header, cell, kpoint):
            words.astype(np.float64).tofile(file)
        index = {tuple(g): i for i, g in enumerate(g_vectors.astype(int))}
        for coefficients in bands:
            data = np.zeros(record, dtype=np.complex64)
            for g, value in coefficients.items():
                data[index[g]] = value
            data.tofile(file)
    return g_vectors


def test_wavecar_density_and_capture_cli_scaling_on_the_gan_cn_cell(tmp_path: Path) -> None:
    """A WAVECAR on the 96-atom C_N⁻ cell: the density read through pymatgen equals Σ|Σ_G c_G e^{iG·r}|² summed
    directly on the same grid (axis order and origin), s from `analyze capture --scaling-wavecar` is the s of that
    density around the C site, and C = f C̃ / s against the run with s = 1."""
    initial = read_structure(GAN_CN / "nonrad_POSCAR.C-.gz")
    lattice = initial.lattice.matrix
    bands = [{(0, 0, 0): 1.0, (1, 0, 0): 0.5, (0, -2, 1): 0.3j}, {(0, 0, 0): 1.0, (0, 0, 3): -0.4, (2, 1, 0): 0.2}]
    wavecar = tmp_path / "WAVECAR"
    _write_wavecar(wavecar, lattice, 40.0, bands)
    density, cell = read_wavecar_density(wavecar, [1, 2], 1, 1)
    np.testing.assert_allclose(cell, lattice, atol=1e-12)
    points = np.stack(np.meshgrid(*[np.arange(n) / n for n in density.shape], indexing="ij"), axis=-1)
    direct = sum(np.abs(sum(c * np.exp(2j * np.pi * points @ np.array(g)) for g, c in band.items())) ** 2
                 for band in bands)
    np.testing.assert_allclose(density / density.sum(), direct / direct.sum(), rtol=1e-5, atol=1e-12)
    carbon = initial[95].frac_coords
    spheres = SpheresAroundDefect.on_grid(carbon, density.shape, lattice)
    expected = charged_supercell_scaling(direct, spheres).scaling
    shifted = charged_supercell_scaling(np.roll(direct, 3, axis=1), spheres).scaling
    assert abs(shifted - expected) > 1e-3  # a grid read three points off would fail this test

    arguments = ["analyze", "capture", "--initial", str(GAN_CN / "nonrad_POSCAR.C-.gz"), "--final",
                 str(GAN_CN / "nonrad_POSCAR.C0.gz"), "--ccd-final", str(GAN_CN / "nonrad_vasprun.xml.0.gz"),
                 "--ccd-final", str(GAN_CN / "nonrad_lower_10/vasprun.xml.gz"), "--w-if", "0.094", "--bulk-band", "1",
                 "--bulk-band", "2", "--delta-e", "1.13", "-g", "4", "--Z", "-1", "--effective-mass", "0.18",
                 "--dielectric", "8.9", "--temperatures", "300", "--json"]
    runner = CliRunner()
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(tmp_path)
        plain = runner.invoke(cli, arguments)
        scaled = runner.invoke(cli, [*arguments, "--scaling-wavecar", str(wavecar), "--defect-site",
                                     ",".join(str(x) for x in carbon)])
        missing = runner.invoke(cli, [*arguments, "--scaling-wavecar", str(wavecar)])
        both = runner.invoke(cli, [*arguments, "--scaling-wavecar", str(wavecar), "--defect-site", "0.5,0.5,0.5",
                                   "--scaling", "2"])
        wrong_kind = runner.invoke(cli, [*arguments, "--scaling-wavecar", str(GAN_CN / "nonrad_POSCAR.C0.gz"),
                                         "--defect-site", "0.5,0.5,0.5"])
    assert plain.exit_code == 0 and scaled.exit_code == 0, scaled.output
    plain_summary, scaled_summary = (json.loads(r.output.strip().splitlines()[-1]) for r in (plain, scaled))
    assert scaled_summary["charged_supercell_scaling"] == pytest.approx(expected, rel=1e-5)
    assert scaled_summary["capture_coefficient_cm3_s"][0] == pytest.approx(
        plain_summary["capture_coefficient_cm3_s"][0] / expected, rel=1e-5)
    assert missing.exit_code != 0 and "--defect-site" in missing.output
    assert both.exit_code != 0 and "not both" in both.output
    assert wrong_kind.exit_code != 0 and "not a readable VASP WAVECAR" in wrong_kind.output

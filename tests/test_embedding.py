"""Force-constant embedding and the large-cell spectral methods against exact references.

A central-spring crystal with a short-ranged defect is embedded exactly by the seed's rules, so the
embedded dynamical matrix must equal the one built directly for the large cell (vacancy, substitution,
interstitial). Lanczos, Chebyshev and SLEPc are checked against dense diagonalization; the NV⁻ centre's
real force constants (../shared/reference-data/nv-diamond) go through host recovery and the CLI.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner
from conftest import NV_DIAMOND
from pymatgen.core import Lattice, Structure

from defectscreen.analysis.embedding import source_from_files
from defectscreen.cli.main import cli
from defectscreen.engines.slepc import window_modes
from defectscreen.physics.embedding import (
    EmbeddingError,
    EmbeddingRadii,
    default_radii,
    embed_force_constants,
    host_force_constants_from_far_field,
)
from defectscreen.physics.host_lattice import host_cell
from defectscreen.physics.normal_modes import atomic_masses, mass_weighted_dynamical_matrix
from defectscreen.physics.spectral_function import (
    chebyshev_spectral_function,
    dense_spectral_function,
    huang_rhys_weights,
    lanczos_spectral_function,
)

A_FCC = 3.6
SPRING_CUTOFF = 2.7


def _spring_constant(species_i: str, species_j: str) -> float:
    """eV/Å²: Cu–Cu 1.5, anything with Ag 0.8 (substitution), with Ni 2.5 (interstitial)."""
    pair = {species_i, species_j}
    return 2.5 if "Ni" in pair else 0.8 if "Ag" in pair else 1.5


def spring_force_constants(structure: Structure) -> np.ndarray:
    """Φ (N, N, 3, 3) of central springs between atoms closer than SPRING_CUTOFF (minimum image)."""
    frac = structure.frac_coords
    delta = frac[None, :, :] - frac[:, None, :]
    delta -= np.round(delta)
    vectors = delta @ structure.lattice.matrix
    distance = np.linalg.norm(vectors, axis=-1)
    fc = np.zeros((len(structure), len(structure), 3, 3))
    for i, j in zip(*np.nonzero((distance < SPRING_CUTOFF) & (distance > 0))):
        unit = vectors[i, j] / distance[i, j]
        block = -_spring_constant(structure[i].specie.symbol, structure[j].specie.symbol) * np.outer(unit, unit)
        fc[i, j] += block
        fc[i, i] -= block
    return fc


def fcc_host(repeat: int) -> Structure:
    return Structure.from_spacegroup("Fm-3m", Lattice.cubic(A_FCC), ["Cu"], [[0, 0, 0]]).make_supercell(repeat)


def make_defect(host: Structure, kind: str, site_frac: np.ndarray) -> Structure:
    """Vacancy or substitution (Ag) at the host site nearest site_frac, a Ni interstitial at site_frac, or the
    complex of both (Ag next to the Ni)."""
    defect = host.copy()
    frac = np.array(site_frac)
    site = int(np.argmin(np.linalg.norm((host.frac_coords - frac) - np.round(host.frac_coords - frac), axis=1)))
    if kind == "vacancy":
        defect.remove_sites([site])
    elif kind == "substitution":
        defect.replace(site, "Ag")
    elif kind == "interstitial":
        defect.append("Ni", frac)
    else:
        defect.replace(site, "Ag")
        defect.append("Ni", frac)
    return defect


def relaxation(structure: Structure, center_cart: np.ndarray) -> np.ndarray:
    """A radial ΔR (Å) of the atoms within 3 Å of the defect, the same rule in any cell."""
    vectors = structure.lattice.get_cartesian_coords(
        structure.frac_coords - structure.lattice.get_fractional_coords(center_cart))
    frac = structure.lattice.get_fractional_coords(vectors)
    vectors = structure.lattice.get_cartesian_coords(frac - np.round(frac))
    distance = np.linalg.norm(vectors, axis=1)
    near = (distance < 3.0) & (distance > 1e-6)
    displacement = np.zeros_like(vectors)
    displacement[near] = 0.04 * vectors[near] / distance[near, None] ** 2
    return displacement


@pytest.mark.parametrize(("kind", "defect_radius"), [("vacancy", 3.0), ("substitution", 3.0), ("interstitial", 3.0),
                                                     ("complex", 3.55)])
def test_embedding_reproduces_the_large_defect_cell_exactly(kind, defect_radius):
    """Springs are short ranged, so embedding (r_d covers the changed springs) is exact: the embedded
    dynamical matrix has the eigenvalues of the directly built 864-atom defect cell, and the same S. The Ag–Ni
    complex needs r_d = 3.55 Å to hold the Ag's changed springs (2.55 Å from an Ag 0.9 Å off the centre)."""
    cell_host = fcc_host(2)
    defect_site = np.array([0.25, 0.25, 0.25])
    defect = make_defect(cell_host, kind, defect_site)
    cell = host_cell(defect, cell_host)
    center = defect.lattice.get_cartesian_coords(cell.defect_center_frac)
    embedded = embed_force_constants(
        cell, defect, spring_force_constants(defect), spring_force_constants(cell_host),
        relaxation(defect, center), (3, 3, 3), EmbeddingRadii(defect_radius, 3.6))
    large_host = fcc_host(6)
    large = make_defect(large_host, kind, defect_site / 3)
    large_fc = spring_force_constants(large)
    masses = atomic_masses(large)
    matrix = mass_weighted_dynamical_matrix(large_fc, masses)
    assert embedded.n_atoms == len(large)
    assert embedded.acoustic_sum_rule_residual < 1e-12
    dense = embedded.dynamical_matrix.toarray()
    np.testing.assert_allclose(dense, dense.T, atol=1e-13)
    np.testing.assert_allclose(np.linalg.eigvalsh(dense), np.linalg.eigvalsh(matrix), atol=1e-9)
    large_center = large.lattice.get_cartesian_coords(host_cell(large, large_host).defect_center_frac)
    direct_vector = (np.sqrt(masses)[:, None] * relaxation(large, large_center)).ravel()
    grid = np.linspace(0, 60, 241)
    direct = dense_spectral_function(matrix, direct_vector, grid, 1.0)
    embedded_result = dense_spectral_function(embedded.dynamical_matrix, embedded.mass_weighted_displacement, grid, 1.0)
    assert direct.huang_rhys_total > 0.01
    assert embedded_result.huang_rhys_total == pytest.approx(direct.huang_rhys_total, rel=1e-9)


def test_far_field_host_force_constants_are_the_host_springs():
    """The rows of the defect cell far from a vacancy are the host's: the recovered host FC is exact."""
    cell_host = fcc_host(3)
    defect = make_defect(cell_host, "vacancy", np.array([0.5, 0.5, 0.5]))
    cell = host_cell(defect)
    assert len(cell.host) == len(cell_host) and len(cell.translations_frac) == len(cell_host)
    recovered = host_force_constants_from_far_field(cell, defect, spring_force_constants(defect))
    np.testing.assert_allclose(recovered, spring_force_constants(cell.host), atol=1e-12)


def test_nv_host_recovery_finds_the_vacancy_and_the_nitrogen():
    defect = Structure.from_file(NV_DIAMOND / "gs_CONTCAR.gz")
    cell = host_cell(defect)
    assert cell.host.composition.reduced_formula == "C" and len(cell.host) == 216
    assert len(cell.translations_frac) == 108 and len(set(cell.sublattice)) == 2
    nitrogen = [i for i, site in enumerate(defect) if site.specie.symbol == "N"][0]
    assert 0.6 < cell.distances_from_defect(defect.frac_coords[nitrogen]) < 1.0  # half the N–vacancy distance


def test_radii_beyond_half_the_cell_are_refused():
    cell_host = fcc_host(2)
    defect = make_defect(cell_host, "vacancy", np.array([0.25, 0.25, 0.25]))
    cell = host_cell(defect, cell_host)
    fc = spring_force_constants(defect)
    with pytest.raises(EmbeddingError, match="boundary_radius_angstrom"):
        embed_force_constants(cell, defect, fc, spring_force_constants(cell_host), np.zeros((len(defect), 3)),
                              (2, 2, 2), EmbeddingRadii(2.0, 5.0))


@pytest.fixture(scope="module")
def nv_embedded():
    files = [NV_DIAMOND / name for name in ("dfpt_FORCE_CONSTANTS.gz", "dfpt_POSCAR.gz", "gs_CONTCAR.gz",
                                            "zpl_CONTCAR.gz")]
    source = source_from_files(*files, "NV")
    return embed_force_constants(source.host, source.defect, source.defect_force_constants,
                                 source.host_force_constants, source.displacement_angstrom, (2, 2, 2),
                                 default_radii(source.defect.lattice))


@pytest.mark.slow(seconds=50)
def test_lanczos_and_chebyshev_match_dense_on_1727_atoms(nv_embedded):
    matrix, vector = nv_embedded.dynamical_matrix, nv_embedded.mass_weighted_displacement
    grid = np.arange(0.0, 200.0, 0.25)
    dense = dense_spectral_function(matrix, vector, grid, 2.0)
    lanczos = lanczos_spectral_function(matrix, vector, grid, 2.0, tolerance=1e-6)
    chebyshev = chebyshev_spectral_function(matrix, vector, grid, 2.0, tolerance=1e-4)
    peak = dense.spectral_function_per_meV.max()
    assert lanczos.converged and chebyshev.converged
    assert lanczos.huang_rhys_total == pytest.approx(dense.huang_rhys_total, rel=1e-9)
    assert np.max(np.abs(lanczos.spectral_function_per_meV - dense.spectral_function_per_meV)) < 1e-6 * peak
    assert chebyshev.huang_rhys_total == pytest.approx(dense.huang_rhys_total, rel=1e-3)
    assert np.max(np.abs(chebyshev.spectral_function_per_meV - dense.spectral_function_per_meV)) < 1e-3 * peak
    assert lanczos.matrix_vector_products < 600  # ≪ 3N = 5181


@pytest.mark.slow(seconds=56)
def test_slepc_window_equals_the_dense_modes(nv_embedded):
    matrix, vector = nv_embedded.dynamical_matrix, nv_embedded.mass_weighted_displacement
    eigenvalues, vectors = np.linalg.eigh(matrix.toarray())
    energies, factors = huang_rhys_weights(eigenvalues, (vectors.T @ vector) ** 2)
    window = (100.0, 104.0)
    found = window_modes(matrix, vector, window)
    inside = (energies > window[0]) & (energies < window[1])
    assert len(found.eigenvalues) == np.count_nonzero(inside) > 10
    np.testing.assert_allclose(found.eigenvalues, eigenvalues[inside], rtol=1e-10)
    _, slepc_factors = huang_rhys_weights(found.eigenvalues, found.projections**2)
    assert slepc_factors.sum() == pytest.approx(factors[inside].sum(), rel=1e-8)
    assert found.relative_residuals.max() < 1e-8


def test_embed_cli_on_nv(tmp_path):
    result = CliRunner().invoke(cli, [
        "analyze", "embed", "--fc", str(NV_DIAMOND / "dfpt_FORCE_CONSTANTS.gz"),
        "--cell", str(NV_DIAMOND / "dfpt_POSCAR.gz"), "--ground", str(NV_DIAMOND / "gs_CONTCAR.gz"),
        "--excited", str(NV_DIAMOND / "zpl_CONTCAR.gz"), "--zpl", "1.945",
        "--atoms", "1700", "--output", str(tmp_path / "nv"), "--plot", str(tmp_path / "nv.png"), "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    cell, embedded = summary["points"]
    assert cell["n_atoms"] == 215 and cell["huang_rhys_total"] == pytest.approx(2.9271, abs=1e-4)  # analyze lineshape
    assert cell["debye_waller"] == pytest.approx(np.exp(-cell["huang_rhys_total"]), rel=1e-6)
    assert embedded["n_atoms"] == 1727 and embedded["converged"]
    assert embedded["r_b_angstrom"] == pytest.approx(10.6822 / 2, abs=1e-3)
    assert cell["huang_rhys_total"] < embedded["huang_rhys_total"] < 3.67  # published converged HSE value
    assert (tmp_path / "nv.png").stat().st_size > 10_000

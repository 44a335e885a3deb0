"""Training sets of perturbed supercells, frame files, finite-displacement force constants, mode comparison."""

from __future__ import annotations

import gzip

import numpy as np
import pytest
from ase.build import bulk
from conftest import GAN_CN
from pymatgen.core import Lattice, Structure

from defectscreen.mlip.dataset import (
    labelled_frame,
    perturbed_structures,
    random_displacements,
    read_frames,
    train_validation_split,
    write_frames,
)
from defectscreen.physics.finite_displacement import force_constants_by_displacement
from defectscreen.physics.mode_comparison import compare_normal_modes
from defectscreen.physics.normal_modes import NormalModes, gamma_normal_modes
from defectscreen.readers import InputFileError


def test_displacements_have_uniform_radius_and_direction() -> None:
    r_max = 0.04
    shifts = random_displacements(400, 50, r_max, seed=3)
    radius = np.linalg.norm(shifts, axis=2)
    assert radius.max() <= r_max
    # Uniform radius (seed 000): mean r_max/2 and half the atoms within r_max/2 (uniform in the ball: 3/4, 1/8).
    assert radius.mean() == pytest.approx(r_max / 2, rel=0.01)
    assert np.mean(radius < r_max / 2) == pytest.approx(0.5, abs=0.01)
    unit = shifts / radius[..., None]
    assert np.linalg.norm(unit.reshape(-1, 3).mean(axis=0)) < 0.01
    assert np.mean(unit.reshape(-1, 3) ** 2, axis=0) == pytest.approx([1 / 3] * 3, abs=0.01)
    assert np.array_equal(shifts, random_displacements(400, 50, r_max, seed=3))
    assert not np.array_equal(shifts, random_displacements(400, 50, r_max, seed=4))


def test_perturbed_structures_keep_the_cell_and_species() -> None:
    structure = Structure(Lattice.cubic(4.0), ["Ga", "N"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    copies = perturbed_structures(structure, 5, 0.04, seed=0)
    for copy in copies:
        assert copy.species == structure.species and np.allclose(copy.lattice.matrix, structure.lattice.matrix)
        assert 0 < np.linalg.norm(copy.cart_coords - structure.cart_coords, axis=1).max() <= 0.04


def test_split_is_disjoint_and_85_15() -> None:
    train, validation = train_validation_split(40, 0.15, seed=0)
    assert (len(train), len(validation)) == (34, 6)
    assert sorted(train + validation) == list(range(40))
    with pytest.raises(ValueError, match="validation_fraction"):
        train_validation_split(40, 1.0, seed=0)


def test_frames_round_trip_and_real_dft_file(tmp_path) -> None:
    atoms = bulk("Cu", "fcc", a=3.6, cubic=True)
    forces = np.arange(12.0).reshape(4, 3) / 10
    write_frames(tmp_path / "f.extxyz", [labelled_frame(atoms, -1.5, forces), labelled_frame(atoms, -1.25, -forces)])
    frames = read_frames(tmp_path / "f.extxyz")
    assert [f.get_potential_energy() for f in frames] == [-1.5, -1.25]
    assert np.allclose(frames[1].get_forces(), -forces)
    gnd = read_frames(GAN_CN / "C_N-GaN.gnd.extxyz.gz")
    assert len(gnd) == 48 and {len(f) for f in gnd} == {96}
    assert gnd[0].get_potential_energy() == pytest.approx(-811.7249754)


def test_frames_without_forces_are_refused(tmp_path) -> None:
    path = tmp_path / "no_forces.extxyz"
    path.write_text('2\nLattice="4 0 0 0 4 0 0 0 4" Properties=species:S:1:pos:R:3 energy=-3.0 pbc="T T T"\n'
                    "Cu 0 0 0\nCu 2 2 2\n" * 2)
    with pytest.raises(InputFileError, match="frame 0 has no forces"):
        read_frames(path)
    with gzip.open(tmp_path / "bad.extxyz.gz", "wt") as handle:
        handle.write("not a frame\n")
    with pytest.raises(InputFileError, match="bad.extxyz.gz"):
        read_frames(tmp_path / "bad.extxyz.gz")


def _harmonic_crystal(n_atoms: int, seed: int) -> tuple[Structure, np.ndarray]:
    """A P1 cell and force constants of random pair springs: Φ_ij = −K_ij, Φ_ii = Σ_j K_ij with K_ij symmetric
    3×3 tensors, so Φ is symmetric and obeys the acoustic sum rule (eV/Å²)."""
    rng = np.random.default_rng(seed)
    structure = Structure(Lattice.orthorhombic(5.0, 5.5, 6.0), ["C"] * n_atoms, rng.uniform(size=(n_atoms, 3)))
    phi = np.zeros((n_atoms, n_atoms, 3, 3))
    for i in range(n_atoms):
        for j in range(i + 1, n_atoms):
            a = rng.normal(size=(3, 3))
            spring = a @ a.T + np.eye(3)
            phi[i, j] = phi[j, i] = -spring
            phi[i, i] += spring
            phi[j, j] += spring
    return structure, phi


def test_finite_displacements_recover_harmonic_force_constants() -> None:
    structure, phi = _harmonic_crystal(6, seed=1)
    reference = structure.cart_coords

    def harmonic_forces(cells: list[Structure]) -> np.ndarray:
        return np.array([-np.einsum("ijab,jb->ia", phi, cell.cart_coords - reference) for cell in cells])

    recovered, n_evaluations = force_constants_by_displacement(structure, harmonic_forces, 0.01)
    assert n_evaluations == 6 * len(structure)
    assert np.allclose(recovered, phi, atol=1e-9)


def test_mode_comparison_limits() -> None:
    structure, phi = _harmonic_crystal(16, seed=2)
    masses = np.array([site.specie.atomic_mass for site in structure])
    phi_local = phi * 0.2
    for j in range(1, 16):  # stiff springs on atom 0: three localized modes
        phi_local[0, j] -= 10 * np.eye(3)
        phi_local[j, 0] -= 10 * np.eye(3)
        phi_local[j, j] += 10 * np.eye(3)
        phi_local[0, 0] += 10 * np.eye(3)
    reference = gamma_normal_modes(phi_local, masses)
    same = compare_normal_modes(reference, reference)
    assert same.frequency_max_abs_error_meV == 0.0 and same.localized_mode_indices
    assert np.allclose(same.localized_overlaps, 1.0)
    shifted = NormalModes(reference.frequencies_meV + 0.5, reference.eigenvectors, masses)
    comparison = compare_normal_modes(reference, shifted)
    assert comparison.frequency_mean_abs_error_meV == pytest.approx(0.5)
    assert np.allclose(comparison.localized_frequency_errors_meV, 0.5)
    scrambled = NormalModes(reference.frequencies_meV, reference.eigenvectors[::-1], masses)
    assert max(compare_normal_modes(reference, scrambled).localized_overlaps) < 0.9

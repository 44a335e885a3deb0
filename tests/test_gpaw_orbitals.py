"""All-electron GPAW orbitals for W_if: orthonormal at one geometry, overlaps linear in a small displacement."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from ase.build import bulk

from defectscreen.engines import GpawSettings, make_calculator
from defectscreen.engines.gpaw import kohn_sham_orbitals
from defectscreen.physics.capture import orbital_overlap


@pytest.mark.dft
def test_orbital_overlaps_are_orthonormal_and_linear_in_q(tmp_path: Path) -> None:
    crystal = bulk("Si", "diamond", 5.43, cubic=True)
    crystal[0].symbol = "C"
    direction = np.random.default_rng(0).normal(size=(8, 3))
    direction /= np.linalg.norm(direction)

    def orbitals(step: float, bands=None):
        atoms = crystal.copy()
        atoms.positions += step * direction
        return kohn_sham_orbitals(make_calculator(GpawSettings(), 0, 1, tmp_path), atoms, spin=0, bands=bands, edge_bands=3)

    reference = orbitals(0.0)
    bands = sorted(reference.orbitals)
    gram = np.array([[orbital_overlap(reference.orbitals[i], reference.orbitals[j]) for j in bands] for i in bands])
    np.testing.assert_allclose(gram, np.eye(len(bands)), atol=2e-4)  # PAW reconstruction on a 0.05 Å grid: ~7e-5
    small, large = orbitals(0.01, bands), orbitals(0.02, bands)
    empty_band = int(np.argmax(reference.occupations < 0.5))
    manifold = [b for b in bands if abs(reference.eigenvalues_eV[b] - reference.eigenvalues_eV[empty_band]) < 0.01]
    occupied = empty_band - 1

    def coupling(moved) -> float:  # invariant under rotations inside the degenerate empty manifold
        return float(np.sqrt(sum(orbital_overlap(reference.orbitals[occupied], moved.orbitals[b]) ** 2 for b in manifold)))

    first, second = coupling(small), coupling(large)
    assert 1e-4 < first < 0.05
    assert second == pytest.approx(2 * first, rel=0.1)  # ⟨ψ_i(0)|ψ_j(Q)⟩ ∝ Q for i ≠ j
    kept = sum(orbital_overlap(reference.orbitals[empty_band], small.orbitals[b]) ** 2 for b in manifold)
    assert kept > 0.99  # the empty state stays inside its (degenerate) manifold


@pytest.mark.slow(seconds=60)
@pytest.mark.dft
def test_atomic_orbitals_couple_the_band_edges_as_plane_waves_do(tmp_path: Path) -> None:
    """C_Si in 8-atom Si at Γ: the coupling of the threefold valence edge to the twofold empty level over a
    0.02 Å displacement, (Σ_vd |⟨ψ_v(0)|ψ_d(Q)⟩|²)^½ (invariant under rotations inside both manifolds), is the
    same in GPAW's LCAO dzp basis as in plane waves — measured 0.00998 and 0.01041 — so capture from an
    ``mode: lcao`` campaign (an amorphous host at seed 004's scale) carries plane-wave W_if."""
    crystal = bulk("Si", "diamond", 5.43, cubic=True)
    crystal[0].symbol = "C"
    direction = np.random.default_rng(0).normal(size=(8, 3))
    direction /= np.linalg.norm(direction)

    def coupling(settings: GpawSettings) -> float:
        def orbitals(step: float, bands=None):
            atoms = crystal.copy()
            atoms.positions += step * direction
            return kohn_sham_orbitals(make_calculator(settings, 0, 1, tmp_path), atoms, spin=0, bands=bands,
                                      edge_bands=3)

        reference = orbitals(0.0)
        bands = sorted(reference.orbitals)
        moved = orbitals(0.02, bands)
        empty_band = int(np.argmax(reference.occupations < 0.5))

        def manifold(band: int) -> list[int]:
            return [b for b in bands if abs(reference.eigenvalues_eV[b] - reference.eigenvalues_eV[band]) < 0.01]

        valence, level = manifold(empty_band - 1), manifold(empty_band)
        assert (len(valence), len(level)) == (3, 2)
        return float(np.sqrt(sum(orbital_overlap(reference.orbitals[v], moved.orbitals[d]) ** 2
                                 for v in valence for d in level)))

    plane_waves, atomic_orbitals = coupling(GpawSettings()), coupling(GpawSettings(mode="lcao"))
    assert plane_waves > 1e-3
    assert atomic_orbitals == pytest.approx(plane_waves, rel=0.1)


@pytest.mark.slow(seconds=55)
@pytest.mark.dft
def test_coupling_job_gives_the_charged_supercell_scaling_of_the_capturing_charge(tmp_path: Path, monkeypatch) -> None:
    """C_Si 0/−1 in 8-atom Si (Γ): a hole is captured by the charged lower state, so its s comes from one more
    SCF of that state's valence edge; the electron is captured by the neutral higher state (s = 1, no profile)."""
    from types import SimpleNamespace

    from pymatgen.io.ase import AseAtomsAdaptor

    from defectscreen.jobs.coupling import gpaw_couplings

    monkeypatch.chdir(tmp_path)
    crystal = bulk("Si", "diamond", 5.43, cubic=True)
    crystal[0].symbol = "C"
    symmetric = AseAtomsAdaptor.get_structure(crystal)
    moved = crystal.copy()
    moved.positions += 0.03 * np.random.default_rng(7).normal(size=(8, 3))
    distorted = AseAtomsAdaptor.get_structure(moved)

    def task(charge: int, multiplicity: int, structure):
        labels = SimpleNamespace(charge=charge, spin_multiplicity=multiplicity, defect_site_frac_coords=[0.0, 0.0, 0.0])
        return SimpleNamespace(labels=labels, structure=structure)

    result = gpaw_couplings(task(0, 1, symmetric), task(-1, 2, distorted), GpawSettings(), 0.2)
    assert result.n_scf == 4 and set(result.scaling) == {"hole"}
    hole = result.scaling["hole"]
    assert hole.captured_by_charge == -1 and hole.bands
    radii, ratio = np.array(hole.radii_angstrom), np.array(hole.density_ratio)
    assert radii[-1] <= 5.43 / 2 + 1e-9  # inside the inscribed sphere
    window = (radii >= hole.plateau_radii_angstrom[0] - 1e-9) & (radii <= hole.plateau_radii_angstrom[1] + 1e-9)
    assert hole.scaling == pytest.approx(ratio[window].mean(), rel=1e-12) and hole.scaling > 0
    assert set(result.W_if) == {"hole", "electron"} and all(np.isfinite(list(result.W_if.values())))
    assert all(e.density_ratio_near_defect > 0 for e in result.elements) and result.defect_orbital_density_ratio > 0


def test_a_degenerate_defect_level_couples_alike_in_any_basis_of_it() -> None:
    """A threefold defect level d mixed linearly with band-edge states b along Q: ψ_d(Q) = ψ_d + Q Σ_b c_bd ψ_b
    (orthonormalised). Whatever orthonormal basis of the level the reference and the displaced SCF return, the
    followed manifold spans the same subspace and the overlap with it is (Σ_d c_bd² / 3)^½ Q to first order."""
    from defectscreen.engines.gpaw import KohnShamOrbitals
    from defectscreen.jobs.coupling import followed_manifold, manifold_overlap

    rng = np.random.default_rng(3)
    states = np.linalg.qr(rng.normal(size=(4000, 7)))[0].T  # orthonormal "orbitals" on a 4000-point grid
    level, edge = states[:3], states[3:]
    mixing = rng.normal(size=(4, 3))  # c_bd
    q = 1e-3

    def displaced(rotation: np.ndarray) -> KohnShamOrbitals:
        moved = np.linalg.qr((level + q * mixing.T @ edge).T)[0].T
        bands = np.vstack([rotation @ moved, edge])  # the SCF's arbitrary basis of the level
        return KohnShamOrbitals(spin=0, eigenvalues_eV=np.zeros(7), occupations=np.zeros(7),
                                orbitals=dict(enumerate(bands[rng.permutation(7)])))

    def random_rotation() -> np.ndarray:
        return np.linalg.qr(rng.normal(size=(3, 3)))[0]

    overlaps = []
    for _ in range(3):
        reference = list(random_rotation() @ level)
        followed = followed_manifold(reference, displaced(random_rotation()))
        projector = sum(np.outer(m, m) for m in followed)
        np.testing.assert_allclose(projector @ level.T, level.T, atol=5 * q)  # the same subspace
        overlaps.append([manifold_overlap(band, followed) for band in edge])
    np.testing.assert_allclose(overlaps, [overlaps[0]] * 3, rtol=1e-9)
    np.testing.assert_allclose(overlaps[0], q * np.sqrt(np.sum(mixing**2, axis=1) / 3), rtol=1e-3)

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

"""Kohn–Sham (or tight-binding) one-electron levels and the electrostatic potential after an SCF.

Band edges of the bulk cell place the Fermi level in formation-energy diagrams; the bulk levels give the
density of states for the charge-neutral Fermi level; GPAW's planar-averaged electrostatic potential
gives Freysoldt's potential alignment, its atomic-site potentials Kumagai–Oba's. Levels are at the engine's
k-points (Γ of the supercell for xTB).
"""

from __future__ import annotations

import numpy as np
from ase import Atoms
from ase.units import Hartree

from defectscreen.engines.guard import ScfGuard


class NoValenceElectronsError(ValueError):
    """A cell whose charge removed every valence electron: it has no occupied level (and no defect physics)."""


def one_electron_levels(atoms: Atoms) -> dict:
    """Eigenvalues (eV) and occupations (0..1 per state) of the last SCF of ``atoms.calc`` (an ScfGuard).

    Returns ``eigenvalues_eV`` and ``occupations`` as [spin][k][band], ``k_weights`` (sum 1),
    ``spin_degeneracy`` (2 for a spin-restricted calculation, 1 per channel when spin-polarized) and
    ``highest_occupied_eV`` / ``lowest_unoccupied_eV`` over all spins and k (occupation above / below 1/2):
    the VBM and CBM of a bulk cell.
    """
    return with_band_edges(_levels(atoms.calc))


def with_band_edges(levels: dict) -> dict:
    """``levels`` (``eigenvalues_eV``, ``occupations`` as [spin][k][band], ...) with ``highest_occupied_eV`` and
    ``lowest_unoccupied_eV`` over all spins and k (occupation above / below 1/2) added."""
    eigenvalues = np.concatenate([np.ravel(channel) for channel in levels["eigenvalues_eV"]])
    occupied = np.concatenate([np.ravel(channel) for channel in levels["occupations"]]) > 0.5
    if not occupied.any():
        raise NoValenceElectronsError("no occupied one-electron level: the charge removed every valence electron")
    return {**levels, "highest_occupied_eV": float(eigenvalues[occupied].max()),
            "lowest_unoccupied_eV": float(eigenvalues[~occupied].min()) if (~occupied).any() else None}


def _levels(guard: ScfGuard) -> dict:
    inner = guard.inner
    if guard.engine == "xTB":
        result = inner._res  # tblite's ASE calculator keeps its last Result here; no public accessor exists
        eigenvalues = np.asarray(result["orbital-energies"]) * Hartree
        occupations = np.asarray(result["orbital-occupations"])
        if eigenvalues.ndim == 1:
            return {"eigenvalues_eV": [[eigenvalues.tolist()]], "occupations": [[(occupations / 2.0).tolist()]],
                    "k_weights": [1.0], "spin_degeneracy": 2}
        return {"eigenvalues_eV": [[row.tolist()] for row in eigenvalues],
                "occupations": [[row.tolist()] for row in occupations], "k_weights": [1.0], "spin_degeneracy": 1}
    n_spins, weights = inner.get_number_of_spins(), np.asarray(inner.get_k_point_weights())
    scale = 1.0 if n_spins == 2 else 0.5
    eigenvalues = [[inner.get_eigenvalues(kpt=k, spin=s).tolist() for k in range(len(weights))] for s in range(n_spins)]
    occupations = [[(inner.get_occupation_numbers(kpt=k, spin=s) * scale / weights[k]).tolist()
                    for k in range(len(weights))] for s in range(n_spins)]
    return {"eigenvalues_eV": eigenvalues, "occupations": occupations, "k_weights": (weights / weights.sum()).tolist(),
            "spin_degeneracy": 1 if n_spins == 2 else 2}


def planar_average_potential(atoms: Atoms) -> list[list[float]] | None:
    """Electrostatic potential energy of an electron (eV), averaged over the planes normal to each lattice
    vector (three profiles), as Freysoldt's alignment needs; None for engines without a real-space potential."""
    guard: ScfGuard = atoms.calc
    if guard.engine != "GPAW":
        return None
    potential = guard.inner.get_electrostatic_potential()
    return [potential.mean(axis=tuple(i for i in range(3) if i != axis)).tolist() for axis in range(3)]


def atomic_site_potential(atoms: Atoms) -> list[float] | None:
    """Electrostatic potential energy of an electron at each atomic site (eV; GPAW's pseudo Hartree potential
    averaged over each atom's compensation-charge shape, the analogue of VASP's core-averaged potentials), as the
    Kumagai–Oba alignment needs; None for engines without one."""
    guard: ScfGuard = atoms.calc
    if guard.engine != "GPAW":
        return None
    return [float(v) for v in guard.inner.get_atomic_electrostatic_potentials()]

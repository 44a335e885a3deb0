"""Unique minima by the SOAP fingerprint of the defect site (seed 002 §IV, "Model application").

Two relaxed structures are the same minimum when the cosine distance between the SOAP vectors centred on the defect
site is below a threshold; energy alone misses minima of similar energy and whole-cell RMSD is swayed by distant
atoms (seed 002, footnote f).
"""

from __future__ import annotations

import numpy as np
from dscribe.descriptors import SOAP
from pymatgen.core import Structure

#: seed 002: r = 5 Å, n_max = 10, l_max = 10, σ = 1.0 Å.
SOAP_PARAMETERS = {"r_cut": 5.0, "n_max": 10, "l_max": 10, "sigma": 1.0}


def defect_site_fingerprints(structures: list[Structure], centres_angstrom: list[np.ndarray],
                             r_cut: float = 5.0, n_max: int = 10, l_max: int = 10,
                             sigma: float = 1.0) -> np.ndarray:
    """SOAP power spectrum (periodic) of each structure at its defect-site centre (Cartesian, Å): (n, features)."""
    species = sorted({el.symbol for s in structures for el in s.composition})
    soap = SOAP(species=species, periodic=True, r_cut=r_cut, n_max=n_max, l_max=l_max, sigma=sigma)
    return np.array([soap.create(s.to_ase_atoms(), centers=[centre])[0]
                     for s, centre in zip(structures, centres_angstrom)])


def cosine_distances(fingerprints: np.ndarray) -> np.ndarray:
    """1 − a·b / (|a||b|) between every pair of rows: 0 for the same environment, up to 1."""
    unit = fingerprints / np.linalg.norm(fingerprints, axis=1, keepdims=True)
    return np.clip(1.0 - unit @ unit.T, 0.0, 1.0)


def unique_minima(energies_eV: list[float], distances: np.ndarray, threshold: float) -> list[int]:
    """Cluster label of each structure: the index of the lowest-energy structure within ``threshold`` (cosine
    distance) of it, visiting structures from the lowest energy up; a structure is a unique minimum when it is
    its own label."""
    labels = [-1] * len(energies_eV)
    representatives: list[int] = []
    for index in np.argsort(energies_eV, kind="stable"):
        match = next((r for r in representatives if distances[index, r] < threshold), None)
        if match is None:
            representatives.append(int(index))
            match = int(index)
        labels[index] = match
    return labels

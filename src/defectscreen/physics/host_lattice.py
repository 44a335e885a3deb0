"""The ideal host supercell behind a defect supercell, and where the defect sits in it.

Used by force-constant embedding (seed 000 §IV.A) when a user brings only the defect cell: the host
lattice is recovered from the defect cell itself as the group of translations that carry (almost)
every atom onto an atom of the same species. Atoms displaced by the relaxation by less than the
tolerance still match; the defect's own sites (vacancies, substitutions, interstitials) do not.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from pymatgen.core import Lattice, Structure
from scipy.spatial import cKDTree

#: Atoms within this distance (Å) of a host site are that site (relaxation displacements are smaller).
DEFAULT_MATCH_TOLERANCE_ANGSTROM = 0.35

#: A translation is a host-lattice vector if it carries at least this fraction of atoms onto atoms.
_MIN_MATCHED_FRACTION = 0.85


class HostLatticeError(ValueError):
    """The defect cell does not reveal an unambiguous host crystal."""


@dataclass(frozen=True)
class HostCell:
    """A defect supercell laid over the ideal host supercell with the same lattice.

    host: the ideal host supercell (same lattice as the defect cell).
    host_site_of_atom: (N_defect,) index of each defect-cell atom's host site, −1 for interstitials.
    defect_center_frac: fractional coordinates of the defect (mean of its vacancies, substitutions and
        interstitials, taken by the minimum image around the first).
    translations_frac: (n_T, 3) host-lattice translations inside the supercell, the zero vector first.
    sublattice: (N_host,) index of each host site's sublattice (orbit under the translations).
    """

    host: Structure
    host_site_of_atom: np.ndarray
    defect_center_frac: np.ndarray
    translations_frac: np.ndarray
    sublattice: np.ndarray

    def distances_from_defect(self, frac_coords: np.ndarray) -> np.ndarray:
        """Minimum-image distance (Å) of fractional positions from the defect centre."""
        delta = np.asarray(frac_coords) - self.defect_center_frac
        delta -= np.round(delta)
        return np.linalg.norm(delta @ self.host.lattice.matrix, axis=-1)

    @property
    def atom_of_site(self) -> np.ndarray:
        """(N_host,) index of the defect-cell atom on each host site, −1 for vacancies."""
        atoms = np.full(len(self.host), -1)
        matched = self.host_site_of_atom >= 0
        atoms[self.host_site_of_atom[matched]] = np.flatnonzero(matched)
        return atoms

    def host_sites_at(self, frac_coords: np.ndarray) -> np.ndarray:
        """Index of the host site nearest to each fractional position (periodic)."""
        host_frac = self.host.frac_coords
        index, _ = _nearest(self.host.lattice, _periodic_tree(host_frac), host_frac, np.asarray(frac_coords))
        return index


def _wrapped(frac_coords: np.ndarray) -> np.ndarray:
    """Fractional coordinates in [0, 1) (np.mod returns 1.0 for −1e-17)."""
    wrapped = np.mod(frac_coords, 1.0)
    return np.where(wrapped >= 1.0, 0.0, wrapped)


def _periodic_tree(frac_coords: np.ndarray) -> cKDTree:
    return cKDTree(_wrapped(frac_coords), boxsize=1.0)


def _nearest(lattice: Lattice, tree: cKDTree, reference_frac: np.ndarray, frac_coords: np.ndarray):
    """Index of the nearest reference site of each position and its Cartesian minimum-image distance."""
    _, index = tree.query(_wrapped(frac_coords))
    delta = frac_coords - reference_frac[index]
    delta -= np.round(delta)
    return index, np.linalg.norm(delta @ lattice.matrix, axis=-1)


def _host_translations(defect: Structure, tolerance: float) -> np.ndarray:
    frac = defect.frac_coords
    species = np.array([site.specie.symbol for site in defect])
    tree = _periodic_tree(frac)
    majority = max(set(species), key=lambda symbol: np.count_nonzero(species == symbol))
    candidates = np.flatnonzero(species == majority)
    rng = np.random.default_rng(0)
    accepted = [np.zeros(3)]
    for anchor in rng.choice(candidates, size=min(4, len(candidates)), replace=False):
        for other in candidates:
            translation = frac[other] - frac[anchor]
            index, distance = _nearest(defect.lattice, tree, frac, frac + translation)
            matched = (distance < tolerance) & (species[index] == species)
            if matched.mean() < _MIN_MATCHED_FRACTION:
                continue
            shift = frac[index[matched]] - frac[matched]
            shift -= np.round(shift - translation)
            refined = shift.mean(axis=0)
            refined -= np.round(refined)
            known = np.array(accepted) - refined
            known -= np.round(known)
            if np.min(np.linalg.norm(known @ defect.lattice.matrix, axis=1)) > tolerance:
                accepted.append(refined)
    translations = np.array(accepted)
    return translations[np.argsort(np.linalg.norm(translations @ defect.lattice.matrix, axis=1))]


def _host_sites(defect: Structure, translations: np.ndarray, tolerance: float):
    """Sublattice representatives (clean atoms whose whole orbit is occupied) and the host sites they span."""
    frac = defect.frac_coords
    species = np.array([site.specie.symbol for site in defect])
    tree = _periodic_tree(frac)
    images = frac[:, None, :] + translations[None, :, :]
    index, distance = _nearest(defect.lattice, tree, frac, images.reshape(-1, 3))
    index = index.reshape(len(defect), len(translations))
    matched = (distance.reshape(len(defect), len(translations)) < tolerance) & (species[index] == species[:, None])
    score = matched.mean(axis=1)
    sites_frac, sites_species, sublattice = [], [], []
    covered = np.zeros(len(defect), dtype=bool)
    for atom in np.argsort(-score, kind="stable"):
        if covered[atom] or score[atom] < 0.5:
            continue
        orbit_members = index[atom][matched[atom]]
        covered[orbit_members] = True
        representative = frac[atom]
        sites_frac.append(np.mod(representative + translations, 1.0))
        sites_species += [species[atom]] * len(translations)
        sublattice += [len(sites_frac) - 1] * len(translations)
    return np.concatenate(sites_frac), sites_species, np.array(sublattice)


def host_cell(defect: Structure, host: Structure | None = None,
              tolerance_angstrom: float = DEFAULT_MATCH_TOLERANCE_ANGSTROM) -> HostCell:
    """Lay ``defect`` over its ideal host supercell (given as ``host``, or recovered from the defect cell).

    Raises HostLatticeError when the host lattice cannot be recovered or the two cells do not match.
    """
    if host is None:
        translations = _host_translations(defect, tolerance_angstrom)
        if len(translations) < 2:
            raise HostLatticeError(
                "the defect cell shows no host-lattice translation (is it a supercell of a crystal?): "
                "give the ideal host supercell (--bulk-cell)")
        frac, species, sublattice = _host_sites(defect, translations, tolerance_angstrom)
        host = Structure(defect.lattice, species, frac)
    else:
        if not np.allclose(host.lattice.matrix, defect.lattice.matrix, atol=1e-3):
            raise HostLatticeError("the host cell and the defect cell have different lattices: give the ideal host "
                                   "supercell with the defect cell's lattice vectors")
        translations, sublattice = _translations_of(host, tolerance_angstrom)
    host_frac = host.frac_coords
    index, distance = _nearest(defect.lattice, _periodic_tree(host_frac), host_frac, defect.frac_coords)
    site_of_atom = np.where(distance < tolerance_angstrom, index, -1)
    taken = site_of_atom[site_of_atom >= 0]
    if len(np.unique(taken)) != len(taken):
        raise HostLatticeError("two defect-cell atoms sit on one host site: the tolerance is too large for this cell")
    vacancies = np.setdiff1d(np.arange(len(host)), taken)
    swapped = [atom for atom, site in enumerate(site_of_atom)
               if site >= 0 and defect[atom].specie.symbol != host[site].specie.symbol]
    defect_frac = [host_frac[site] for site in vacancies] + [defect.frac_coords[atom] for atom in swapped]
    defect_frac += [defect.frac_coords[atom] for atom in np.flatnonzero(site_of_atom < 0)]
    if not defect_frac:
        raise HostLatticeError("the defect cell equals its host cell: there is no defect to embed")
    first = np.array(defect_frac[0])
    unwrapped = [first + (f - first) - np.round(f - first) for f in defect_frac]
    return HostCell(
        host=host, host_site_of_atom=site_of_atom, defect_center_frac=np.mod(np.mean(unwrapped, axis=0), 1.0),
        translations_frac=translations, sublattice=sublattice,
    )


def _translations_of(host: Structure, tolerance: float):
    translations = _host_translations(host, tolerance)
    frac, _, sublattice = _host_sites(host, translations, tolerance)
    index, _ = _nearest(host.lattice, _periodic_tree(host.frac_coords), host.frac_coords, frac)
    ordered = np.empty(len(host), dtype=int)
    ordered[index] = sublattice
    return translations, ordered

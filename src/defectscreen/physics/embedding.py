"""Force-constant embedding of a defect supercell into a large host supercell (seed 000 §IV.A, Fig. 3a).

The large cell is the defect cell's lattice repeated n1 × n2 × n3 times; one tile holds the defect
cell's atoms (centred on the defect), every other tile the ideal host. For atoms i, j at minimum-image
distance d_ij in the large cell:

    Φ_ij = Φ_defect(i, j)   if both atoms lie within r_d of the defect centre (and are a pair inside the
                            defect cell, not through its periodic image)
    Φ_ij = Φ_host(i, j)     otherwise, if d_ij < r_b  (atoms without a host site, interstitials: 0)
    Φ_ij = 0                if d_ij ≥ r_b

then the acoustic sum rule is restored by the self terms, Φ_ii = −Σ_{j≠i} Φ_ij (symmetric part).
Defaults: r_d = w/4 (the seed's "less than one quarter of the defect supercell"), r_b = w/2, with w
the smallest distance between opposite faces of the defect cell — the largest radius at which a pair
of the periodic defect cell is still one pair. The relaxation ΔR of the defect cell is carried into
its tile; host tiles do not move.

Φ is stored as a block-sparse (BSR, 3 × 3 blocks) matrix: memory and every matrix–vector product
grow as N × (neighbours within r_b).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from pymatgen.core import Lattice, Structure

from defectscreen.physics.host_lattice import HostCell
from defectscreen.physics.normal_modes import atomic_masses


class EmbeddingError(ValueError):
    """Embedding inputs that cannot describe one defect in one host."""


@dataclass(frozen=True)
class EmbeddingRadii:
    """r_d (defect force constants kept) and r_b (all force constants cut) in Å."""

    defect_radius_angstrom: float
    boundary_radius_angstrom: float


@dataclass(frozen=True)
class EmbeddedCell:
    """The large supercell: mass-weighted dynamical matrix and the defect's relaxation in it.

    dynamical_matrix: (3N, 3N) BSR, D = M^-1/2 Φ M^-1/2 in eV/(Å² amu).
    mass_weighted_displacement: (3N,) v = M^1/2 ΔR in amu^1/2 Å (zero outside the defect tile).
    repetitions: (n1, n2, n3) of the defect cell.
    acoustic_sum_rule_residual: max |Σ_j Φ_ij| in eV/Å² left by symmetrizing the self terms.
    """

    dynamical_matrix: sp.bsr_matrix
    mass_weighted_displacement: np.ndarray
    masses_amu: np.ndarray
    repetitions: tuple[int, int, int]
    radii: EmbeddingRadii
    n_defect_pairs: int
    acoustic_sum_rule_residual: float

    @property
    def n_atoms(self) -> int:
        return len(self.masses_amu)


def _face_distances(lattice: Lattice) -> np.ndarray:
    """Distances (Å) between opposite faces of the cell, across each lattice vector."""
    areas = np.linalg.norm(np.cross(np.roll(lattice.matrix, -1, 0), np.roll(lattice.matrix, -2, 0)), axis=1)
    return lattice.volume / areas


def cell_width_angstrom(lattice: Lattice) -> float:
    """Smallest distance (Å) between opposite faces of the cell."""
    return float(np.min(_face_distances(lattice)))


def default_radii(lattice: Lattice) -> EmbeddingRadii:
    """r_d = w/4, r_b = w/2 of the defect cell (module docstring)."""
    width = cell_width_angstrom(lattice)
    return EmbeddingRadii(defect_radius_angstrom=width / 4, boundary_radius_angstrom=width / 2)


def repetitions_for(lattice: Lattice, n_atoms_cell: int, target_atoms: int) -> tuple[int, int, int]:
    """The most nearly isotropic n1 × n2 × n3 repetition of ``lattice`` whose atom count is closest to target."""
    widths = _face_distances(lattice)
    best = (1, 1, 1)
    for scale in np.linspace(0.5, 200.0, 4000):
        reps = tuple(int(max(1, round(scale / w))) for w in widths)
        if abs(np.prod(reps) * n_atoms_cell - target_atoms) < abs(np.prod(best) * n_atoms_cell - target_atoms):
            best = reps
    return best


def repetitions_series(lattice: Lattice, n_atoms_cell: int, target_atoms: list[int]) -> list[tuple[int, int, int]]:
    """(1, 1, 1), then the repetition nearest to each target atom count (repetitions_for), duplicates removed."""
    found = [(1, 1, 1)]
    for target in target_atoms:
        reps = repetitions_for(lattice, n_atoms_cell, target)
        if reps not in found:
            found.append(reps)
    return found


def _pair_table(structure: Structure, cutoff: float):
    """All pairs (i, j, image) with minimum-image distance < cutoff: image is the integer lattice shift of j."""
    frac = structure.frac_coords
    delta = frac[None, :, :] - frac[:, None, :]
    image = -np.round(delta)
    distance = np.linalg.norm((delta + image) @ structure.lattice.matrix, axis=-1)
    first, second = np.nonzero(distance < cutoff)
    return first, second, image[first, second].astype(int), distance


def host_force_constants_from_far_field(cell: HostCell, defect: Structure, defect_fc: np.ndarray) -> np.ndarray:
    """Φ_host (N_host, N_host, 3, 3) in eV/Å² read from the defect cell's force constants far from the defect.

    For each sublattice the atom farthest from the defect is the anchor; the row of every host site is the
    anchor's row carried over by the host translation between them, then Φ_host is made pair-symmetric.
    For users who bring one defect force-constant file and no host calculation.
    """
    host = cell.host
    n_host = len(host)
    atom_of_site = cell.atom_of_site
    distance = cell.distances_from_defect(host.frac_coords)
    same_species = np.array([atom >= 0 and defect[atom].specie == host[site].specie
                             for site, atom in enumerate(atom_of_site)])
    frac = host.frac_coords
    host_fc = np.zeros((n_host, n_host, 3, 3))
    for sublattice in np.unique(cell.sublattice):
        members = np.flatnonzero((cell.sublattice == sublattice) & same_species)
        anchor = members[np.argmax(distance[members])]
        for site in np.flatnonzero(cell.sublattice == sublattice):
            partner = cell.host_sites_at(frac + (frac[anchor] - frac[site]))
            atoms = atom_of_site[partner]
            present = atoms >= 0
            host_fc[site, present] = defect_fc[atom_of_site[anchor], atoms[present]]
    return 0.5 * (host_fc + host_fc.transpose(1, 0, 3, 2))


def embed_force_constants(
    cell: HostCell, defect: Structure, defect_fc: np.ndarray, host_fc: np.ndarray,
    displacement_angstrom: np.ndarray, repetitions: tuple[int, int, int], radii: EmbeddingRadii,
) -> EmbeddedCell:
    """Build the large cell's dynamical matrix by the embedding rules of the module docstring.

    defect_fc: (N_d, N_d, 3, 3) and host_fc: (N_h, N_h, 3, 3) in eV/Å², both pair-symmetric with the
    acoustic sum rule (normal_modes.enforce_acoustic_sum_rule); displacement_angstrom: (N_d, 3) ΔR of
    the defect cell.
    """
    width = cell_width_angstrom(defect.lattice)
    r_d, r_b = radii.defect_radius_angstrom, radii.boundary_radius_angstrom
    if not 0 < r_b <= width / 2 + 1e-9:
        raise EmbeddingError(f"boundary_radius_angstrom = {r_b:.3f}: it must be positive and at most half the "
                             f"defect cell's width ({width / 2:.3f} Å), where pairs of the periodic cell stay unique")
    if not 0 < r_d <= width / 2 + 1e-9:
        raise EmbeddingError(f"defect_radius_angstrom = {r_d:.3f}: it must be positive and at most half the "
                             f"defect cell's width ({width / 2:.3f} Å); the seed advises ≤ {width / 4:.3f} Å")
    if any(int(n) < 1 for n in repetitions):
        raise EmbeddingError(f"repetitions = {repetitions}: give three positive integers")
    center = cell.defect_center_frac
    host = Structure(cell.host.lattice, cell.host.species, np.mod(cell.host.frac_coords - center + 0.5, 1.0))
    centred_defect = Structure(defect.lattice, defect.species, np.mod(defect.frac_coords - center + 0.5, 1.0))
    n_host, n_defect = len(host), len(defect)
    reps = np.array(repetitions, dtype=int)
    n_tiles = int(np.prod(reps))

    # Pairs of the host cell within r_b: every tile's rows are these, shifted.
    first, second, image, _ = _pair_table(host, r_b)
    host_blocks = host_fc[first, second]
    row_start = np.searchsorted(first, np.arange(n_host + 1))

    # Pairs inside r_d of the defect cell.
    inside = cell.distances_from_defect(defect.frac_coords) < r_d
    d_first, d_second, d_image, _ = _pair_table(centred_defect, r_b)
    keep = inside[d_first] & inside[d_second] & np.all(d_image == 0, axis=1)  # not a pair through a periodic image
    d_first, d_second = d_first[keep], d_second[keep]

    atom_of_site = cell.atom_of_site
    matched = cell.host_site_of_atom >= 0
    site_inside = np.zeros(n_host, dtype=bool)
    site_inside[cell.host_site_of_atom[matched & inside]] = True

    def tile_index(shift, tiles=np.zeros(1, dtype=np.int64)):
        """Index of the tile at ``shift`` (…, 3) from each of ``tiles`` (flat indices, broadcast on a new axis)."""
        coords = np.unravel_index(tiles, tuple(reps))
        index = np.zeros(np.broadcast_shapes(tiles[:, None].shape, shift.shape[:-1]), dtype=np.int64)
        for axis in range(3):
            index = index * reps[axis] + np.mod(coords[axis][:, None] + shift[..., axis], reps[axis])
        return index

    def large_index(tile, site):
        """Index in the large cell: the defect tile's atoms first (defect-cell order), then host tiles."""
        return np.where(tile == 0, atom_of_site[site], n_defect + (tile - 1) * n_host + site)

    # Rows of the defect tile (tile 0).
    defect_rows, defect_cols, defect_data = [], [], []
    for atom in range(n_defect):
        cols, blocks = [], []
        partners = d_second[d_first == atom]
        cols += list(partners)
        blocks += list(defect_fc[atom, partners])
        site = cell.host_site_of_atom[atom]
        if site >= 0:
            pair = slice(row_start[site], row_start[site + 1])
            neighbour_tile = tile_index(image[pair])[0]
            neighbours = large_index(neighbour_tile, second[pair])
            bulk = (neighbours >= 0) & ~(inside[atom] & (neighbour_tile == 0) & site_inside[second[pair]])
            cols += list(neighbours[bulk])
            blocks += list(host_blocks[pair][bulk])
        if atom not in cols:
            cols.append(atom)
            blocks.append(np.zeros((3, 3)))
        defect_rows.append(len(cols))
        defect_cols += cols
        defect_data += blocks

    # Rows of the host tiles 1 … n_tiles − 1: the host pair table shifted to each tile.
    tiles = np.arange(1, n_tiles)
    cols = large_index(tile_index(image, tiles), second[None, :])
    present = cols >= 0
    counts = np.add.reduceat(present, row_start[:-1], axis=1) if len(tiles) else np.zeros((0, n_host), dtype=int)
    host_slot = np.broadcast_to(np.arange(len(first)), cols.shape)[present]

    n_atoms = n_defect + (n_tiles - 1) * n_host
    indptr = np.concatenate([[0], np.cumsum(np.concatenate([defect_rows, counts.ravel()]))]).astype(np.int64)
    indices = np.concatenate([np.array(defect_cols, dtype=np.int64), cols[present]]).astype(np.int32)
    data = np.empty((len(indices), 3, 3))
    data[: len(defect_data)] = np.array(defect_data).reshape(-1, 3, 3)
    data[len(defect_data):] = host_blocks[host_slot]

    row_of_block = np.repeat(np.arange(n_atoms), np.diff(indptr))
    diagonal = np.flatnonzero(indices == row_of_block)
    data[diagonal] = 0.0
    off_diagonal_sum = np.add.reduceat(data, indptr[:-1], axis=0)
    self_term = -0.5 * (off_diagonal_sum + off_diagonal_sum.transpose(0, 2, 1))
    data[diagonal] = self_term
    residual = float(np.max(np.abs(off_diagonal_sum + self_term)))

    masses = np.concatenate([atomic_masses(defect), np.tile(atomic_masses(host), n_tiles - 1)])
    inverse_sqrt_mass = masses**-0.5
    chunk = 1 << 22
    for start in range(0, len(indices), chunk):
        stop = start + chunk
        data[start:stop] *= (inverse_sqrt_mass[row_of_block[start:stop]]
                             * inverse_sqrt_mass[indices[start:stop]])[:, None, None]
    dynamical = sp.bsr_matrix((data, indices, indptr), shape=(3 * n_atoms, 3 * n_atoms))

    displacement = np.zeros((n_atoms, 3))
    displacement[:n_defect] = displacement_angstrom
    return EmbeddedCell(
        dynamical_matrix=dynamical,
        mass_weighted_displacement=(np.sqrt(masses)[:, None] * displacement).ravel(),
        masses_amu=masses, repetitions=tuple(int(n) for n in reps), radii=radii,
        n_defect_pairs=len(d_first), acoustic_sum_rule_residual=residual,
    )

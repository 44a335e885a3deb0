"""Phonon dispersion and density of states of a crystal from supercell force constants, with the dipole–dipole
(LO–TO) term of polar crystals (seed 003's property, without its double counting).

Force constants computed in a supercell — by an engine or by a potential fine-tuned on supercell data — contain
the long-range dipole–dipole interaction of the Born charges only as it acts within that periodic supercell.
Adding the full Ewald dipole sum on top of them counts it twice; keeping only its reciprocal part (seed 003's
workaround) needs a calibrated Ewald parameter Λ and bends the acoustic branches. Gonze & Lee's route (X. Gonze and
C. Lee, Phys. Rev. B 55, 10355 (1997), Sec. V; phonopy's default non-analytic correction) removes the double
counting exactly:

    Φ_short(κ0, κ'L) = Φ_supercell(κ0, κ'L) − Φ_dd(κ0, κ'L)                     (real space, in the supercell)
    D(q) = D_short(q) + D_dd(q)                                                (every q, Ewald sum, q → 0 limit)

with Φ_dd / D_dd the dipole–dipole force constants of point dipoles Z*_κ screened by ε∞. Φ_short decays fast,
so its Fourier interpolation between the supercell's q-points is accurate; D_dd carries the non-analytic term
(4π e²/Ω) (q·Z*_κ)(q·Z*_κ') / (q·ε∞·q) that splits LO from TO at Γ. Λ only splits the Ewald sum between real and
reciprocal space: with both parts converged the frequencies do not depend on it (tested), so there is nothing to
calibrate, and acoustic frequencies still vanish at Γ (Σ_κ Z*_κ = 0).

At Γ, the generalized Lyddane–Sachs–Teller relation (Cochran & Cowley, J. Phys. Chem. Solids 23, 447 (1962))
links the two limits to the dielectric constants of the same Z* and ε∞ along the direction q̂ of approach:

    Π_m ω²_LO,m(q̂) / ω²_TO,m = (q̂·ε⁰·q̂) / (q̂·ε∞·q̂)

Frequencies are ħω in meV (phonopy's THz × h); distances along the path in 1/Å without the 2π
(the crystallographer's reciprocal lattice, as phonopy).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from phonopy import Phonopy
from phonopy.phonon.band_structure import get_band_qpoints_by_seekpath
from pymatgen.core import Structure
from scipy import constants

from defectscreen.physics.dielectric import COULOMB_EV_ANGSTROM, SYMPREC
from defectscreen.physics.finite_displacement import displaced_force_constants, phonopy_cell, structure_of

#: ħω in meV of a frequency of 1 THz.
MEV_PER_THZ = 1e3 * constants.h * 1e12 / constants.e
#: modes below −this (meV) are imaginary, not numerical noise of the acoustic branches at Γ.
IMAGINARY_TOLERANCE_MEV = 0.5


@dataclass(frozen=True)
class BandSegment:
    """One straight piece of the path: from the point ``start`` to ``end`` (labels such as 'Γ', 'X', 'K').

    q_points: (n, 3) reduced coordinates of the primitive cell's reciprocal lattice; distance_inv_angstrom: (n,)
    cumulative path length in 1/Å (no 2π); frequencies_meV: (n, 3N) ħω ascending per q (imaginary as negative)."""

    start: str
    end: str
    q_points: np.ndarray
    distance_inv_angstrom: np.ndarray
    frequencies_meV: np.ndarray


def cell_widths(lattice_matrix: np.ndarray) -> list[float]:
    """The three widths (Å) of a cell (rows: lattice vectors in Å): distances between opposite faces, Ω/|a_j × a_k|."""
    lattice = np.asarray(lattice_matrix, dtype=float)
    volume = abs(np.linalg.det(lattice))
    return [float(volume / np.linalg.norm(np.cross(lattice[(i + 1) % 3], lattice[(i + 2) % 3]))) for i in range(3)]


def supercell_for_width(lattice_matrix: np.ndarray, min_width_angstrom: float) -> np.ndarray:
    """The smallest diagonal supercell matrix of a cell (rows: lattice vectors in Å) whose three widths all reach
    ``min_width_angstrom``."""
    return np.diag([int(np.ceil(min_width_angstrom / width - 1e-9)) for width in cell_widths(lattice_matrix)])


def _phonopy(primitive: Structure, supercell_matrix: np.ndarray) -> Phonopy:
    """phonopy's object of the primitive cell ``primitive`` (taken as it is) and the supercell ``supercell_matrix``."""
    return Phonopy(phonopy_cell(primitive), supercell_matrix=supercell_matrix, primitive_matrix="P", symprec=SYMPREC,
                   log_level=0)


def supercell_force_constants(primitive: Structure, supercell_matrix: np.ndarray,
                              forces_of: Callable[[list[Structure]], np.ndarray],
                              displacement_angstrom: float) -> tuple[Phonopy, int]:
    """(phonopy object of the primitive cell with the supercell's force constants, number of force evaluations):
    ± displacements of the symmetry-distinct atoms of the supercell ``supercell_matrix`` × ``primitive``,
    ``forces_of`` giving the (n, N, 3) forces in eV/Å on the displaced supercells (drift removed); the force
    constants are symmetrized by the space group."""
    phonon = _phonopy(primitive, supercell_matrix)
    evaluations = displaced_force_constants(phonon, forces_of, displacement_angstrom)
    phonon.symmetrize_force_constants()
    return phonon, evaluations


def set_dipole_correction(phonon: Phonopy, born_charges_e: np.ndarray, epsilon_inf: np.ndarray) -> None:
    """Switch on the Gonze–Lee dipole–dipole term with Z* (primitive atoms, 3, 3) in e and ε∞ (3, 3)."""
    phonon.nac_params = {"born": np.asarray(born_charges_e, dtype=float),
                         "dielectric": np.asarray(epsilon_inf, dtype=float), "factor": COULOMB_EV_ANGSTROM}


def dipole_dipole_force_constants(primitive: Structure, supercell_matrix: np.ndarray, born_charges_e: np.ndarray,
                                  epsilon_inf: np.ndarray) -> tuple[Structure, np.ndarray]:
    """(the supercell ``supercell_matrix`` × ``primitive`` in phonopy's atom order, its dipole–dipole force
    constants Φ_dd (N, N, 3, 3) in eV/Å²): the force constants of point dipoles Z* screened by ε∞ in that periodic
    supercell (Ewald sum, acoustic sum rule included) — exactly what the Gonze–Lee route subtracts from a supercell's
    force constants (phonopy's short-range force constants of zero force constants, negated)."""
    phonon = _phonopy(primitive, supercell_matrix)
    n_atoms = len(phonon.supercell)
    phonon.force_constants = np.zeros((n_atoms, n_atoms, 3, 3))
    set_dipole_correction(phonon, born_charges_e, epsilon_inf)
    phonon.dynamical_matrix.make_Gonze_nac_dataset()
    return structure_of(phonon.supercell), -np.array(phonon.dynamical_matrix.short_range_force_constants)


def supercell_matrix_of(supercell: Structure, primitive: Structure) -> np.ndarray:
    """The integer matrix M with supercell lattice = M × primitive lattice (rows are lattice vectors)."""
    matrix = supercell.lattice.matrix @ np.linalg.inv(primitive.lattice.matrix)
    rounded = np.rint(matrix)
    if np.abs(matrix - rounded).max() > 1e-3:
        raise ValueError("the cell is not a supercell of the primitive cell")
    return rounded.astype(int)


def harmonic_energy_and_forces(force_constants: np.ndarray, displacements_angstrom: np.ndarray) -> tuple[float, np.ndarray]:
    """(E = ½ uᵀΦu in eV, F = −Φu (N, 3) in eV/Å) of displacements u (N, 3) in Å for force constants Φ (N, N, 3, 3)
    in eV/Å²."""
    forces = -np.einsum("ijab,jb->ia", force_constants, displacements_angstrom)
    return float(-0.5 * np.sum(forces * displacements_angstrom)), forces


def matching_sites(structure: Structure, reference: Structure, tolerance_angstrom: float = 0.1) -> np.ndarray:
    """index[i]: the site of ``structure`` at the position of ``reference``'s site i (same lattice, periodic
    images, same species); ValueError if a site has no partner."""
    difference = reference.frac_coords[:, None, :] - structure.frac_coords[None, :, :]
    difference -= np.rint(difference)
    distances = np.linalg.norm(difference @ reference.lattice.matrix, axis=2)
    index = distances.argmin(axis=1)
    species = [site.specie for site in structure]
    if (distances[np.arange(len(reference)), index].max() > tolerance_angstrom
            or len(set(index)) != len(reference) or any(species[j] != site.specie for j, site in zip(index, reference))):
        raise ValueError("the two cells do not hold the same sites")
    return index


def path_frequency_errors(segments: list[BandSegment], reference: list[BandSegment]) -> tuple[float, float]:
    """(mean, max) |Δħω| in meV between two dispersions on the same path, band by band (both ascending)."""
    difference = np.abs(np.concatenate([a.frequencies_meV - b.frequencies_meV for a, b in zip(segments, reference)]))
    return float(difference.mean()), float(difference.max())


def _plain_label(label: str) -> str:
    """'$\\mathrm{X}_1$' -> 'X_1', '$\\Gamma$' -> 'Γ'."""
    label = label.replace("\\Gamma", "Γ").replace("$", "")
    return re.sub(r"\\mathrm\{([^}]*)\}", r"\1", label)


def band_structure(phonon: Phonopy, points_per_segment: int = 51) -> list[BandSegment]:
    """ħω along seekpath's standard path of the crystal (Hinuma et al., Comput. Mater. Sci. 128, 140 (2017)):
    ``points_per_segment`` q-points on each straight piece, ends included (as phonopy's ``--band auto``). With the dipole–dipole term set on ``phonon``, Γ at a
    segment's end is approached along that segment, so LO and TO appear as they do in a measured dispersion."""
    paths, labels, connections = get_band_qpoints_by_seekpath(phonon.primitive, points_per_segment,
                                                              is_const_interval=False)
    phonon.run_band_structure(paths, path_connections=connections, labels=labels, is_legacy_plot=False)
    bands = phonon.band_structure
    labels = [_plain_label(label) for label in labels]
    segments, point = [], 0
    for q_points, distances, frequencies, connected in zip(bands.qpoints, bands.distances, bands.frequencies,
                                                           connections):
        segments.append(BandSegment(start=labels[point], end=labels[point + 1], q_points=np.asarray(q_points),
                                    distance_inv_angstrom=np.asarray(distances),
                                    frequencies_meV=np.asarray(frequencies) * MEV_PER_THZ))
        point += 1 if connected else 2
    return segments


def density_of_states(phonon: Phonopy, mesh_length_angstrom: float = 40.0) -> tuple[np.ndarray, np.ndarray]:
    """(ħω in meV, states per meV per primitive cell) on a Γ-centred mesh with about ``mesh_length_angstrom`` / a
    points along each reciprocal axis (phonopy's length convention), tetrahedron method; integrates to 3N."""
    phonon.run_mesh(mesh_length_angstrom, with_eigenvectors=False)
    phonon.run_total_dos(use_tetrahedron_method=True)
    dos = phonon.total_dos
    return dos.frequency_points * MEV_PER_THZ, dos.dos / MEV_PER_THZ


def gamma_frequencies(phonon: Phonopy, direction_cartesian: np.ndarray | None = None) -> np.ndarray:
    """ħω (3N,) in meV at Γ: transverse (analytic part only) when ``direction_cartesian`` is None, else the limit
    q → 0 along that Cartesian direction, which includes the longitudinal (non-analytic) term."""
    direction = None
    if direction_cartesian is not None:
        direction = np.asarray(direction_cartesian, dtype=float) @ phonon.primitive.cell.T  # reduced coordinates
    phonon.run_qpoints([[0.0, 0.0, 0.0]], nac_q_direction=direction)
    return phonon.qpoints.frequencies[0] * MEV_PER_THZ


def gamma_force_constants(phonon: Phonopy) -> np.ndarray:
    """Φ_Γ (N, N, 3, 3) in eV/Å² of the primitive cell, Σ_L Φ(κ0, κ'L): the analytic Γ dynamical matrix (without
    the non-analytic term) times √(M_κ M_κ')."""
    phonon.dynamical_matrix.run([0.0, 0.0, 0.0])
    matrix = phonon.dynamical_matrix.dynamical_matrix.real
    n_atoms = len(phonon.primitive)
    masses = np.repeat(phonon.primitive.masses, 3)
    force_constants = matrix * np.sqrt(np.outer(masses, masses))
    return force_constants.reshape(n_atoms, 3, n_atoms, 3).transpose(0, 2, 1, 3)


def lyddane_sachs_teller_ratio(transverse_meV: np.ndarray, longitudinal_meV: np.ndarray) -> float:
    """Π_m ω²_LO,m / ω²_TO,m over the optical modes (the three lowest of each set are the acoustic ones), to compare
    with q̂·ε⁰·q̂ / q̂·ε∞·q̂ (module docstring)."""
    transverse, longitudinal = np.sort(transverse_meV)[3:], np.sort(longitudinal_meV)[3:]
    return float(np.prod((longitudinal / transverse) ** 2))


def imaginary_modes(segments: list[BandSegment]) -> tuple[float, np.ndarray | None]:
    """(lowest ħω in meV on the path, the q-point where it is); the q-point is None when no mode is below
    −IMAGINARY_TOLERANCE_MEV."""
    segment = min(segments, key=lambda piece: piece.frequencies_meV.min())
    frequency = segment.frequencies_meV.min()
    if frequency >= -IMAGINARY_TOLERANCE_MEV:
        return float(frequency), None
    row = int(np.argmin(segment.frequencies_meV.min(axis=1)))
    return float(frequency), segment.q_points[row]

"""Real-space force constants of a supercell by finite displacements (phonopy), for Γ phonons."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from phonopy import Phonopy
from phonopy.structure.atoms import PhonopyAtoms
from pymatgen.core import Lattice, Structure

from defectscreen.defaults import DEFAULT_DISPLACEMENT_ANGSTROM

#: Tolerance (Å) for the site symmetry that lets phonopy skip equivalent displacements.
SYMMETRY_TOLERANCE_ANGSTROM = 1e-4


def phonopy_cell(structure: Structure) -> PhonopyAtoms:
    """The structure as phonopy's cell (symbols, lattice, fractional positions)."""
    return PhonopyAtoms(symbols=[site.specie.symbol for site in structure], cell=structure.lattice.matrix,
                        scaled_positions=structure.frac_coords)


def structure_of(cell: PhonopyAtoms) -> Structure:
    """A phonopy cell as a pymatgen Structure (symbols, lattice, fractional positions)."""
    return Structure(Lattice(cell.cell), cell.symbols, cell.scaled_positions)


def displaced_force_constants(phonon: Phonopy, forces_of: Callable[[list[Structure]], np.ndarray],
                              displacement_angstrom: float) -> int:
    """Set ``phonon``'s force constants from ± displacements of the symmetry-distinct atoms of its supercell,
    ``forces_of`` giving the (n_displaced, N, 3) forces in eV/Å on the displaced supercells (the drift, the mean
    force of each set, removed); returns the number of force evaluations."""
    phonon.generate_displacements(distance=displacement_angstrom, is_plusminus=True)
    displaced = [structure_of(cell) for cell in phonon.supercells_with_displacements]
    forces = np.asarray(forces_of(displaced), dtype=float)
    phonon.forces = forces - forces.mean(axis=1, keepdims=True)
    phonon.produce_force_constants()
    return len(displaced)


def force_constants_by_displacement(
    structure: Structure,
    forces_of: Callable[[list[Structure]], np.ndarray],
    displacement_angstrom: float = DEFAULT_DISPLACEMENT_ANGSTROM,
) -> tuple[np.ndarray, int]:
    """Φ (N, N, 3, 3) in eV/Å² of the supercell itself (Γ only: no further supercell is built).

    Every symmetry-distinct atom is displaced by ± displacement_angstrom along phonopy's directions;
    ``forces_of`` returns the (n_displaced, N, 3) forces in eV/Å on the displaced cells. The drift
    (mean force) of each set is removed and phonopy symmetrizes Φ by the site symmetry; the acoustic sum
    rule is enforced later, where the modes are taken. Returns Φ and the number of force evaluations —
    up to 6N for a structure without symmetry, the cost that grows as N × (cost of one evaluation).
    """
    phonon = Phonopy(phonopy_cell(structure), supercell_matrix=np.eye(3, dtype=int), primitive_matrix="P",
                     symprec=SYMMETRY_TOLERANCE_ANGSTROM)
    evaluations = displaced_force_constants(phonon, forces_of, displacement_angstrom)
    return np.array(phonon.force_constants), evaluations


def largest_residual_force_meV_per_angstrom(forces_eV_per_angstrom: np.ndarray) -> float:
    """max_j |F_j − ⟨F⟩| (meV/Å) of the (N, 3) forces on an undisplaced structure: near 0 where the structure is a
    minimum of the force source. Finite-displacement force constants are the curvature at the structure, so where
    it is not a minimum (an engine's relaxation elsewhere, a model whose minimum moved) they can show imaginary modes
    that a minimum would not."""
    forces = np.asarray(forces_eV_per_angstrom, dtype=float)
    return float(np.linalg.norm(forces - forces.mean(axis=0), axis=1).max() * 1000.0)

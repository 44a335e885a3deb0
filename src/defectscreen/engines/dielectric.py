"""GPAW's linear response of a bulk insulator: the clamped-ion dielectric tensor ε∞ (RPA with local fields) and
Born effective charges by finite differences of the Berry-phase polarization, with the forces of the same
displaced cells for the Γ force constants."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from ase import Atoms
from ase.optimize import BFGS
from gpaw.berryphase import ZeroBandgap, polarization_phase
from gpaw.borncharges import born_charges, displace_atom, get_cartesian_displacements
from gpaw.mpi import world
from gpaw.response.df import DielectricFunction
from pymatgen.core import Structure
from pymatgen.io.ase import AseAtomsAdaptor

from defectscreen.engines.base import GpawSettings
from defectscreen.engines.gpaw import gpaw_calculator

#: ε∞ is q̂ᵀ ε q̂ along these six directions: the diagonal, then the xy, xz, yz pairs.
_DIRECTIONS = np.array([[1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 1, 0], [1, 0, 1], [0, 1, 1]], dtype=float)
#: empty bands per occupied band in the response sum (MgO: 3.034 with 10, 3.040 with 20).
BANDS_PER_OCCUPIED = 10


class NoBandGapError(ValueError):
    """The engine finds a metal, whose Born charges and static dielectric constant are not defined."""


@dataclass(frozen=True)
class DielectricResponse:
    """What GPAW computes of a primitive cell's linear response (arrays in the units of the functions below); the
    relaxed structure without its calculator, so that it crosses from the MPI ranks to the worker."""

    relaxed: Structure
    epsilon_electronic: np.ndarray
    born_charges_e: np.ndarray
    displaced_forces_eV_per_angstrom: np.ndarray
    n_relaxation_steps: int
    max_force_eV_per_angstrom: float


def dielectric_response(primitive: Structure, settings: GpawSettings, workdir: Path, fmax_eV_per_angstrom: float,
                        response_ecut_eV: float, displacement_angstrom: float) -> DielectricResponse:
    """The atoms of ``primitive`` relaxed at its lattice (BFGS to ``fmax``), then ε∞
    (:func:`electronic_dielectric_tensor`) and the Born charges with the forces of the displaced cells
    (:func:`born_charges_and_forces`): every GPAW calculation of a dielectric job, in one call that runs on the
    worker's MPI ranks."""
    atoms = ground_state(AseAtomsAdaptor.get_atoms(primitive), settings, workdir)
    optimizer = BFGS(atoms, logfile=str(workdir / "relax.log"))
    optimizer.run(fmax=fmax_eV_per_angstrom, steps=100)
    max_force = float(np.linalg.norm(atoms.get_forces(), axis=1).max())
    epsilon_electronic = electronic_dielectric_tensor(atoms, workdir, response_ecut_eV)
    born, forces = born_charges_and_forces(ground_state(atoms, settings, workdir, symmetry_off=True), workdir,
                                           displacement_angstrom)
    return DielectricResponse(AseAtomsAdaptor.get_structure(atoms.copy()), epsilon_electronic, born, forces,
                              optimizer.nsteps, max_force)


def ground_state(atoms: Atoms, settings: GpawSettings, workdir: Path, symmetry_off: bool = False) -> Atoms:
    """``atoms`` (neutral, spin-restricted) with the GPAW calculator attached."""
    atoms = atoms.copy()
    atoms.calc = gpaw_calculator(settings, 0, 1, workdir, symmetry_off=symmetry_off)
    return atoms


def electronic_dielectric_tensor(atoms: Atoms, workdir: Path, response_ecut_eV: float) -> np.ndarray:
    """ε∞ (3, 3) of ``atoms`` after its SCF with a symmetry-using GPAW calculator: RPA with local-field effects
    (plane waves up to ``response_ecut_eV`` in the response), ω = 0, from the longitudinal ε(q̂) = q̂ᵀ ε q̂ along
    six directions."""
    calculator = atoms.calc.inner
    atoms.get_potential_energy()
    occupied = int(round(calculator.get_number_of_electrons())) // 2
    calculator.diagonalize_full_hamiltonian(nbands=BANDS_PER_OCCUPIED * occupied)
    path = workdir / "ground_state_all_bands.gpw"
    calculator.write(path, mode="all")
    response = DielectricFunction(str(path), ecut=response_ecut_eV, frequencies=[0.0], eta=1e-4, hilbert=False,
                                  txt=str(workdir / "response.txt"))
    longitudinal = [response.get_macroscopic_dielectric_constant(direction=d / np.linalg.norm(d))[1]
                    for d in _DIRECTIONS]
    _remove_after_every_rank_read(path)
    diagonal = np.diag(longitudinal[:3])
    tensor = diagonal.copy()
    for value, (i, j) in zip(longitudinal[3:], [(0, 1), (0, 2), (1, 2)]):
        tensor[i, j] = tensor[j, i] = value - 0.5 * (diagonal[i, i] + diagonal[j, j])
    return tensor


def born_charges_and_forces(atoms: Atoms, workdir: Path, displacement_angstrom: float
                            ) -> tuple[np.ndarray, np.ndarray]:
    """Born effective charges Z* (N, 3, 3) in e, [κ, polarization α, displacement β], and the forces (N, 3, 2, N, 3)
    in eV/Å of every atom displaced by ∓u along x, y, z (index 0: −u, 1: +u), from 6N SCFs of ``atoms``' calculator
    (a GPAW calculator without symmetry) and GPAW's Berry-phase polarization of each (gpaw.borncharges). Raises
    NoBandGapError for a metal."""
    calculator = atoms.calc
    n_atoms = len(atoms)
    forces = np.zeros((n_atoms, 3, 2, n_atoms, 3))
    displacements = get_cartesian_displacements(atoms, displacement_angstrom)
    phases = {}
    for label, (atom, axis, sign, delta) in displacements.items():
        displaced = displace_atom(atoms, atom, axis, sign, delta)
        displaced.calc = calculator
        forces[atom, axis, (sign + 1) // 2] = displaced.get_forces()
        path = workdir / f"{label}.gpw"
        calculator.inner.write(path, mode="all")
        try:
            phases[label] = polarization_phase(gpw_wfs=path)["phase_c"]
        except ZeroBandgap as error:
            raise NoBandGapError(f"{atoms.get_chemical_formula()}: GPAW finds no band gap, so the Berry-phase "
                                 "polarization, the Born charges and the static dielectric constant are undefined; "
                                 "give the host's dielectric_constant in the campaign instead of 'computed'") from error
        finally:
            _remove_after_every_rank_read(path)
    return born_charges(atoms, displacements, phases)["Z_avv"], forces


def _remove_after_every_rank_read(path: Path) -> None:
    """Delete a file the calculator wrote and every MPI rank read, once all have read it (rank 0 deletes)."""
    world.barrier()
    if world.rank == 0:
        path.unlink()

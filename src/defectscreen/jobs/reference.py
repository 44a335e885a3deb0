"""Reference calculations with the campaign's engine: fixed-cell relaxation and single point (BFGS on the ASE
calculator of xTB or GPAW; VASP's own relaxation through atomate2)."""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import chdir, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from ase import Atoms
from ase.optimize import BFGS
from ase.parallel import world
from jobflow import Maker, job
from pymatgen.core import Structure
from pymatgen.io.ase import AseAtomsAdaptor

import defectscreen
from defectscreen.engines import (
    GpawSettings,
    ScfNotConvergedError,
    VaspSettings,
    XtbSettings,
    engine_record,
    make_calculator,
    parse_engine_settings,
)
from defectscreen.engines.electronic import (
    NoValenceElectronsError,
    atomic_site_potential,
    one_electron_levels,
    planar_average_potential,
    with_band_edges,
)
from defectscreen.engines.ranks import on_ranks
from defectscreen.engines.vasp import run_vasp_maker, vasp_maker
from defectscreen.jobs.provenance import parent_uuids
from defectscreen.mlip.dataset import evenly_spaced
from defectscreen.readers.vasp import read_vasp_directory
from defectscreen.schemas import CalculationLabels, EngineRecord, TaskDocument
from defectscreen.schemas.tasks import GeometryRelaxation, RelaxationFrame

#: ionic steps kept per relaxation (evenly spaced, first and last included): training frames of seed 002.
KEPT_FRAMES = 10


class RelaxationNotConvergedError(RuntimeError):
    """A relaxation used all its ionic steps without reaching the force criterion."""


def reference_atoms(structure: Structure, labels: CalculationLabels, engine: XtbSettings | GpawSettings) -> Atoms:
    """ASE atoms of ``structure`` with the engine's calculator for this charge and spin attached, and the
    unpaired moment spread evenly over the atoms as the starting magnetization."""
    atoms = AseAtomsAdaptor.get_atoms(structure)
    unpaired = labels.spin_multiplicity - 1
    atoms.set_initial_magnetic_moments(np.full(len(atoms), unpaired / len(atoms)))
    atoms.calc = make_calculator(engine, labels.charge, labels.spin_multiplicity, Path.cwd())
    return atoms


def path_energies(structures: list[Structure], labels: CalculationLabels,
                  engine: XtbSettings | GpawSettings) -> list[float]:
    """Total energies (eV) of ``structures`` (one cell, atoms moved along a path) in order, with one calculator:
    each SCF starts from the previous point's converged state instead of from scratch, and a point whose restarted
    SCF does not converge is computed from scratch. GPAW keeps the symmetry of the first structure, so it must have
    no more than the others (on a straight path: start off its end points)."""
    atoms = reference_atoms(structures[0], labels, engine)
    energies = []
    for structure in structures:
        atoms.positions = structure.cart_coords
        try:
            energies.append(float(atoms.get_potential_energy()))
        except ScfNotConvergedError:
            atoms = reference_atoms(structure, labels, engine)
            energies.append(float(atoms.get_potential_energy()))
    return energies


def engine_forces(structures: list[Structure], labels: CalculationLabels,
                  engine: XtbSettings | GpawSettings) -> np.ndarray:
    """Forces (n, N, 3) eV/Å of the engine on each structure (charge and spin of ``labels``)."""
    return np.array([reference_atoms(structure, labels, engine).get_forces() for structure in structures])


def engine_forces_function(labels: CalculationLabels,
                           engine: XtbSettings | GpawSettings) -> Callable[[list[Structure]], np.ndarray]:
    """forces_of(structures) -> (n, N, 3) eV/Å with the engine, on the worker's MPI ranks for GPAW: the form
    finite-displacement phonons ask for."""
    return lambda structures: on_ranks(engine, engine_forces, structures, labels, engine)


def run_reference(
    structure: Structure,
    labels: CalculationLabels,
    engine: XtbSettings | GpawSettings,
    fmax_eV_per_angstrom: float | None,
    max_steps: int,
    allow_unconverged: bool = False,
) -> dict:
    """Relax (``fmax`` given) or evaluate (``fmax`` None) one cell at fixed lattice with BFGS.

    Returns the fields of a :class:`TaskDocument` that depend on the calculation; raises
    ScfNotConvergedError, or RelaxationNotConvergedError unless ``allow_unconverged`` (then the
    document says converged = False), with the reason when it fails. A GPAW engine with ``relax_xc`` relaxes with
    that functional and ends with one single point with ``xc`` (:func:`_energy_at_relaxed_geometry`).
    """
    if fmax_eV_per_angstrom is not None and isinstance(engine, GpawSettings) and engine.relax_xc is not None:
        return _energy_at_relaxed_geometry(structure, labels, engine, fmax_eV_per_angstrom, max_steps,
                                           allow_unconverged)
    start = time.perf_counter()
    atoms = reference_atoms(structure, labels, engine)
    steps: list[tuple[np.ndarray, float, np.ndarray]] = []
    n_steps, converged = 0, True
    if fmax_eV_per_angstrom is not None:
        optimizer = BFGS(atoms, logfile="relax.log")
        optimizer.attach(lambda: steps.append((atoms.positions.copy(), float(atoms.get_potential_energy()),
                                               atoms.get_forces().copy())))
        converged = optimizer.run(fmax=fmax_eV_per_angstrom, steps=max_steps)
        n_steps = optimizer.nsteps
        if not converged and not allow_unconverged:
            max_force = float(np.linalg.norm(atoms.get_forces(), axis=1).max())
            raise RelaxationNotConvergedError(
                f"{labels.calculation_id}: relaxation used all {max_steps} ionic steps; "
                f"largest force {max_force:.3f} eV/Å > fmax {fmax_eV_per_angstrom} eV/Å. "
                "Raise relax.max_steps in the campaign or start from a better structure."
            )
    final = AseAtomsAdaptor.get_structure(atoms.copy())  # without the calculator (and its open log file)
    energy_eV = float(atoms.get_potential_energy())
    with valence_electrons_required(labels, len(structure)):
        levels = one_electron_levels(atoms)
    return _task_fields(structure, final, energy_eV, atoms.get_forces(), converged, fmax_eV_per_angstrom, n_steps,
                        steps, levels, planar_average_potential(atoms), atomic_site_potential(atoms),
                        engine_record(engine), time.perf_counter() - start, world.size)


@contextmanager
def valence_electrons_required(labels: CalculationLabels, n_atoms: int):
    """Re-raise a :class:`NoValenceElectronsError` from the levels of this cell with its calculation id, charge,
    size and the campaign fields that fix it."""
    try:
        yield
    except NoValenceElectronsError:
        raise NoValenceElectronsError(
            f"{labels.calculation_id}: charge {labels.charge:+d} leaves this {n_atoms}-atom cell no valence "
            "electron: give a larger supercell (supercell.min_length_angstrom or supercell.matrix) or leave this "
            "charge out of charges") from None


def _energy_at_relaxed_geometry(structure: Structure, labels: CalculationLabels, engine: GpawSettings,
                                fmax_eV_per_angstrom: float, max_steps: int, allow_unconverged: bool) -> dict:
    """Relax with ``engine.relax_xc``, then one single point with ``engine.xc`` at the relaxed geometry: its energy,
    forces, levels and potentials are the document's; the relaxation's ionic steps, final energy and functional are
    kept beside them (``geometry``); no relaxation frames (they are of the other functional)."""
    Path("geometry").mkdir(exist_ok=True)
    with chdir("geometry"):  # its own GPAW and BFGS logs
        geometry = run_reference(structure, labels, engine.model_copy(update={"xc": engine.relax_xc, "relax_xc": None}),
                                 fmax_eV_per_angstrom, max_steps, allow_unconverged)
    fields = run_reference(geometry["structure"], labels, engine, None, 0)
    return {**fields, "input_structure": structure, "converged": geometry["converged"] and fields["converged"],
            "fmax_target_eV_per_angstrom": fmax_eV_per_angstrom, "n_ionic_steps": geometry["n_ionic_steps"],
            "geometry": GeometryRelaxation(xc=engine.relax_xc, energy_eV=geometry["energy_eV"],
                                           relaxation_energies_eV=geometry["relaxation_energies_eV"],
                                           wall_time_s=geometry["wall_time_s"]),
            "wall_time_s": geometry["wall_time_s"] + fields["wall_time_s"]}


def _task_fields(input_structure: Structure, structure: Structure, energy_eV: float, forces: np.ndarray,
                 converged: bool, fmax_eV_per_angstrom: float | None, n_ionic_steps: int,
                 steps: list[tuple[np.ndarray, float, np.ndarray]], levels: dict, planar: list | None,
                 sites: list[float] | None, record: dict, wall_time_s: float, mpi_ranks: int) -> dict:
    """The calculation-dependent fields of a :class:`TaskDocument`, whichever engine ran it; ``steps`` are the
    relaxation's (positions Å, energy eV, forces eV/Å), of which :data:`KEPT_FRAMES` are kept."""
    return {
        "input_structure": input_structure,
        "structure": structure,
        "n_atoms": len(structure),
        "formula": structure.composition.formula,
        "energy_eV": energy_eV,
        "forces_eV_per_angstrom": forces.tolist(),
        "max_force_eV_per_angstrom": float(np.linalg.norm(forces, axis=1).max()),
        "converged": bool(converged),
        "fmax_target_eV_per_angstrom": fmax_eV_per_angstrom,
        "n_ionic_steps": n_ionic_steps,
        "relaxation_energies_eV": [e for _, e, _ in steps] or [energy_eV],
        "relaxation_frames": [RelaxationFrame(step=i, positions_angstrom=steps[i][0].tolist(), energy_eV=steps[i][1],
                                              forces_eV_per_angstrom=steps[i][2].tolist())
                              for i in evenly_spaced(len(steps), KEPT_FRAMES)],
        "levels": levels,
        "planar_average_potential_eV": planar,
        "site_potential_eV": sites,
        "engine": EngineRecord(**record),
        "wall_time_s": wall_time_s,
        "mpi_ranks": mpi_ranks,
        "defectscreen_version": defectscreen.__version__,
    }


def run_vasp_reference(
    structure: Structure,
    labels: CalculationLabels,
    engine: VaspSettings,
    fmax_eV_per_angstrom: float | None,
    max_steps: int,
    allow_unconverged: bool = False,
) -> dict:
    """:func:`run_reference` with VASP: atomate2's Maker runs in this folder (inputs, custodian, its task
    document), then the folder is read into the same fields, the VASP version added to the engine's record."""
    start = time.perf_counter()
    run_vasp_maker(vasp_maker(engine, fmax_eV_per_angstrom, max_steps, labels.spin_multiplicity), structure,
                   labels.charge)
    run = read_vasp_directory(Path.cwd())
    if not run.converged_electronic:
        raise ScfNotConvergedError(f"{labels.calculation_id}: VASP's last electronic loop did not converge (vasprun.xml)")
    converged = run.converged_ionic if fmax_eV_per_angstrom is not None else True
    forces = run.ionic_steps[-1][2]
    if not converged and not allow_unconverged:
        raise RelaxationNotConvergedError(
            f"{labels.calculation_id}: VASP used all {max_steps} ionic steps (NSW); largest force "
            f"{np.linalg.norm(forces, axis=1).max():.3f} eV/Å > fmax {fmax_eV_per_angstrom} eV/Å. Raise "
            "relax.max_steps in the campaign or start from a better structure.")
    steps = run.ionic_steps if fmax_eV_per_angstrom is not None else []
    record = engine_record(engine)
    record["code_versions"]["vasp"] = run.vasp_version
    with valence_electrons_required(labels, len(run.structure)):
        levels = with_band_edges({"eigenvalues_eV": run.eigenvalues_eV, "occupations": run.occupations,
                                  "k_weights": run.k_weights, "spin_degeneracy": 1 if len(run.occupations) == 2 else 2})
    # input structure as VASP started it: pymatgen's input sets sort the sites, and the ionic steps follow that order
    return _task_fields(run.input_structure, run.structure, run.energy_eV, forces, converged, fmax_eV_per_angstrom,
                        len(steps), steps, levels, run.planar_average_potential_eV, run.site_potential_eV, record,
                        time.perf_counter() - start, run.mpi_ranks)


def reference_fields(structure: Structure, labels: CalculationLabels, engine: XtbSettings | GpawSettings | VaspSettings,
                     fmax_eV_per_angstrom: float | None, max_steps: int, allow_unconverged: bool = False) -> dict:
    """The calculation-dependent fields of a task document with the campaign's engine: VASP through atomate2 in
    this folder, xTB and GPAW in this process or on the worker's MPI ranks."""
    if isinstance(engine, VaspSettings):
        return run_vasp_reference(structure, labels, engine, fmax_eV_per_angstrom, max_steps, allow_unconverged)
    return on_ranks(engine, run_reference, structure, labels, engine, fmax_eV_per_angstrom, max_steps,
                    allow_unconverged=allow_unconverged)


@dataclass
class RelaxMaker(Maker):
    """Fixed-cell relaxation of a (defect or bulk) supercell with the campaign's engine.

    ``task_label`` 'relax_candidate' relaxes a structure-search candidate: running out of ionic steps then
    gives a document with converged = False instead of a failed job (the search compares converged ones).
    """

    name: str = "relax"
    engine_settings: dict = field(default_factory=lambda: XtbSettings().model_dump(mode="json"))
    fmax_eV_per_angstrom: float = 0.05
    max_steps: int = 200
    task_label: str = "relax"

    @job(output_schema=TaskDocument)
    def make(
        self,
        structure: Structure,
        labels: CalculationLabels,
        campaign_sha256: str,
        search_candidate: str | None = None,
    ) -> TaskDocument:
        engine = parse_engine_settings(self.engine_settings)
        fields = reference_fields(structure, labels, engine, self.fmax_eV_per_angstrom, self.max_steps,
                                  allow_unconverged=self.task_label == "relax_candidate")
        return TaskDocument(
            task_label=self.task_label, labels=labels, campaign_sha256=campaign_sha256,
            search_candidate=search_candidate, parent_uuids=parent_uuids(), **fields
        )


@dataclass
class StaticMaker(Maker):
    """Single point (energy and forces) of a cell with the campaign's engine."""

    name: str = "static"
    engine_settings: dict = field(default_factory=lambda: XtbSettings().model_dump(mode="json"))

    @job(output_schema=TaskDocument)
    def make(
        self,
        structure: Structure,
        labels: CalculationLabels,
        campaign_sha256: str,
    ) -> TaskDocument:
        engine = parse_engine_settings(self.engine_settings)
        fields = reference_fields(structure, labels, engine, None, 0)
        return TaskDocument(
            task_label="static",
            labels=labels,
            campaign_sha256=campaign_sha256,
            parent_uuids=parent_uuids(),
            **fields,
        )

"""Cost of a host's phonon dispersion as its force-constant supercell grows: direct finite displacements with the
engine in each supercell against the host_dispersion route (one training set in the relaxation cell, one potential,
then finite displacements with the potential in each supercell), side by side, with the potential's error against
the engine on the same path and supercell, and each engine dispersion against the potential's in the largest one.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/dispersion_routes.py                 # diamond, GFN1-xTB
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/dispersion_routes.py --repeats 2 3 4 5 --epochs 150
    DEFECTSCREEN_DATA_DIR=DIR .venv/bin/python benchmarks/dispersion_routes.py --host MgO --repeats 3 4

With ``--host`` the potential, engine, relaxed cell and Born charges are those of the host's newest stored
host_dispersion (a campaign run in DEFECTSCREEN_DATA_DIR, e.g. flows/gpaw_dispersion_54.yaml), and the largest
supercell is the one its potential dispersion used: the engine's own dispersion in supercells larger than the
campaign's relaxation cell, the converged reference a campaign cannot afford. ``--engine-forces DIR`` keeps the
engine's forces of every displaced supercell there and reads them back on a later run (another potential, the same
engine and cells), so only the potential's side is recomputed.

Growth with the supercell's atoms N: direct = (symmetry-distinct displacements) × t_SCF(N); the potential route pays
the training set and the training once, then the same displacements × t_model(N) per supercell (t_model ∝ N). The
script prints both per supercell, the ratio, and the exponents of t_SCF and t_model between the smallest and largest.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from pymatgen.core import Structure

from defectscreen.analysis.dispersion import supercell_phonons
from defectscreen.analysis.potential import model_file_from, model_forces
from defectscreen.engines import XtbSettings, parse_engine_settings, spin_multiplicity
from defectscreen.flows.hosts import prototype_structure
from defectscreen.jobs.potential import engine_frames
from defectscreen.jobs.reference import engine_forces_function
from defectscreen.mlip.dataset import perturbed_structures, train_validation_split
from defectscreen.mlip.mace import MaceSettings
from defectscreen.mlip.potential import PotentialRecipe, fit_potential
from defectscreen.physics.dispersion import band_structure, path_frequency_errors
from defectscreen.schemas import CalculationLabels, TaskDocument
from defectscreen.schemas.dielectric import DielectricDocument
from defectscreen.schemas.phonons import PhononDispersionDocument, PotentialDocument
from defectscreen.storage import StorageSettings
from defectscreen.storage.query import dispersion_rows

POINTS_PER_SEGMENT = 21


@dataclass
class KeptForces:
    """``forces_of`` whose (n, N, 3) result for a list of structures is kept in ``folder`` under the SHA-256 of
    the engine's settings and the structures, and read back instead of recomputed (``read_back`` counts those)."""

    forces_of: Callable
    folder: Path
    engine_key: str
    read_back: int = 0

    def __call__(self, structures: list[Structure]) -> np.ndarray:
        digest = hashlib.sha256(self.engine_key.encode())
        for structure in structures:
            digest.update(np.round(structure.lattice.matrix, 6).tobytes())
            digest.update(np.round(structure.cart_coords, 6).tobytes())
            digest.update(" ".join(map(str, structure.atomic_numbers)).encode())
        path = self.folder / f"{digest.hexdigest()}.npy"
        if path.exists():
            self.read_back += 1
            return np.load(path)
        result = np.asarray(self.forces_of(structures))
        self.folder.mkdir(parents=True, exist_ok=True)
        np.save(path, result)
        return result


@dataclass
class Routes:
    """What both routes need: the primitive cell, the engine's and the potential's forces, the Born charges."""

    description: str
    engine_key: str
    primitive: Structure
    engine_forces: Callable
    model: Callable
    dielectric: DielectricDocument | None
    short_range: bool
    largest: np.ndarray | None


def trained_on_diamond(training_repeat: int, structures: int, epochs: int, folder: Path) -> Routes:
    """Diamond with GFN1-xTB; a MACE potential trained here on perturbed copies of the training_repeat³ cell."""
    engine = XtbSettings()
    primitive = prototype_structure("diamond-C")
    cell = primitive.copy()
    cell.make_supercell([training_repeat] * 3)
    labels = CalculationLabels(calculation_id="C:bulk", campaign="benchmark", host="C", defect_name="bulk",
                               defect_type="bulk", defect_elements=[], element_changes={}, charge=0,
                               spin_multiplicity=spin_multiplicity(cell.atomic_numbers, 0))
    recipe = PotentialRecipe(n_structures=structures, training=MaceSettings(max_epochs=epochs))
    start = time.perf_counter()
    frames = engine_frames(perturbed_structures(cell, recipe.n_structures, recipe.r_max_angstrom, recipe.seed),
                           labels, engine)
    labelling_s = time.perf_counter() - start
    train, validation = train_validation_split(len(frames), recipe.validation_fraction, recipe.seed)
    fields = fit_potential([frames[i] for i in train], [frames[i] for i in validation], recipe, folder)
    description = (f"diamond, GFN1-xTB, one thread; potential: {recipe.n_structures} frames of {len(cell)} atoms "
                   f"labelled in {labelling_s:.1f} s, trained in {fields['training_wall_time_s']:.1f} s ({epochs} "
                   f"epochs), validation force RMSE {fields['validation_force_rmse_meV_per_angstrom']:.1f} meV/Å")
    return Routes(description, engine.settings_hash(), primitive, engine_forces_function(labels, engine),
                  model_forces(folder / "model" / fields["model_file_name"], "mace"), None, False, None)


def stored_host(host: str, folder: Path) -> Routes:
    """The routes of the host's newest stored potential dispersion (its potential, relaxation, engine, Z*)."""
    store = StorageSettings.from_environment().job_store()
    store.connect()
    rows = [row for row in dispersion_rows(store, host) if row["force_source"] == "potential"]
    if not rows:
        raise SystemExit(f"no potential dispersion of {host} stored in this data directory: run a campaign with "
                         "host_dispersion first (flows/gpaw_dispersion_54.yaml)")

    def output(uuid: str) -> dict:
        return store.query_one({"uuid": uuid}, properties=["output"], load=True)["output"]

    stored = PhononDispersionDocument.model_validate(output(rows[-1]["uuid"]))
    relaxed = TaskDocument.model_validate(output(stored.parent_uuids[0]))
    potential = PotentialDocument.model_validate(output(stored.potential_uuid))
    dielectric = (None if stored.dielectric_uuid is None
                  else DielectricDocument.model_validate(output(stored.dielectric_uuid)))
    engine = parse_engine_settings(relaxed.engine.settings)
    description = (f"{host}, {engine.name} {relaxed.engine.settings}; stored potential {stored.potential_uuid} "
                   f"({potential.backend}, trained on {len(relaxed.structure)}-atom cells, validation force RMSE "
                   f"{potential.validation_force_rmse_meV_per_angstrom:.1f} meV/Å)")
    return Routes(description, engine.settings_hash(), stored.primitive_structure,
                  engine_forces_function(relaxed.labels, engine),
                  model_forces(model_file_from(potential, folder), potential.backend), dielectric,
                  potential.dipole_dipole_subtracted is not None, np.array(stored.supercell_matrix))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, nargs="+", default=[2, 3, 4],
                        help="diagonal supercells n×n×n of the primitive cell")
    parser.add_argument("--host", help="a host of a stored host_dispersion (DEFECTSCREEN_DATA_DIR) instead of diamond")
    parser.add_argument("--training-repeat", type=int, default=2, help="diamond: the cell the potential learns")
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument("--structures", type=int, default=20)
    parser.add_argument("--engine-forces", type=Path, help="a folder that keeps the engine's forces between runs")
    args = parser.parse_args()
    kept_folder = None if args.engine_forces is None else args.engine_forces.resolve()
    with tempfile.TemporaryDirectory() as folder, contextlib.chdir(folder):  # the engine's files stay in it
        routes = (stored_host(args.host, Path(folder)) if args.host else
                  trained_on_diamond(args.training_repeat, args.structures, args.epochs, Path(folder)))
        print(routes.description)
        engine_forces = KeptForces(routes.engine_forces, kept_folder or Path(folder) / "engine_forces",
                                   routes.engine_key)  # without --engine-forces kept for this run only
        largest = routes.largest if routes.largest is not None else np.diag([max(args.repeats)] * 3)
        converged, _ = supercell_phonons(routes.primitive, largest, routes.model, 0.01, routes.dielectric,
                                         routes.short_range)
        reference = band_structure(converged, POINTS_PER_SEGMENT)
        print(f"largest supercell (the potential's, the reference of the last column): {len(converged.supercell)} "
              f"atoms")
        print(f"{'atoms':>6s} {'engine s':>9s} {'potential s':>12s} {'engine/pot':>11s} "
              f"{'same cell mean/max |Δħω| meV':>29s} {'engine vs largest mean/max meV':>31s}")
        rows = []
        for repeat in args.repeats:
            matrix = np.diag([repeat] * 3)
            kept_before = engine_forces.read_back
            start = time.perf_counter()
            direct, _ = supercell_phonons(routes.primitive, matrix, engine_forces, 0.01, routes.dielectric)
            engine_s = time.perf_counter() - start
            start = time.perf_counter()
            learned, _ = supercell_phonons(routes.primitive, matrix, routes.model, 0.01, routes.dielectric,
                                           routes.short_range)
            potential_s = time.perf_counter() - start
            engine_path = band_structure(direct, POINTS_PER_SEGMENT)
            same = path_frequency_errors(band_structure(learned, POINTS_PER_SEGMENT), engine_path)
            against_largest = path_frequency_errors(engine_path, reference)
            n_atoms = len(direct.supercell)
            if engine_forces.read_back > kept_before:
                engine_text, ratio_text = "kept", "–"
            else:
                rows.append((n_atoms, engine_s, potential_s))
                engine_text, ratio_text = f"{engine_s:.2f}", f"{engine_s / potential_s:.1f}"
            print(f"{n_atoms:6d} {engine_text:>9s} {potential_s:12.2f} {ratio_text:>11s} "
                  f"{same[0]:14.2f} / {same[1]:<12.2f} {against_largest[0]:15.2f} / {against_largest[1]:<12.2f}",
                  flush=True)
    if len(rows) > 1:
        (small_n, small_engine, small_potential), (large_n, large_engine, large_potential) = rows[0], rows[-1]
        growth = np.log(large_n / small_n)
        print(f"engine finite displacements grow as N^{np.log(large_engine / small_engine) / growth:.2f}, the "
              f"potential's as N^{np.log(large_potential / small_potential) / growth:.2f}")


if __name__ == "__main__":
    main()

"""Cost of a host's phonon dispersion as its force-constant supercell grows: direct finite displacements with the
engine in each supercell against the host_dispersion route (one training set in the small relaxation cell, one
potential, then finite displacements with the potential in each supercell), side by side, with the potential's error
against the engine on the same path and supercell.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/dispersion_routes.py                 # diamond, GFN1-xTB
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/dispersion_routes.py --repeats 2 3 4 5 --epochs 150

Growth with the supercell's atoms N: direct = (symmetry-distinct displacements, here 2) × t_SCF(N); the potential
route pays the training set and the training once, then 2 × t_model(N) per supercell (t_model ∝ N). The script
prints both per supercell, the ratio, and the exponents of t_SCF and t_model between the smallest and largest.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from defectscreen.analysis.potential import model_forces
from defectscreen.engines import XtbSettings, spin_multiplicity
from defectscreen.flows.hosts import prototype_structure
from defectscreen.jobs.potential import engine_frames
from defectscreen.jobs.reference import engine_forces_function
from defectscreen.mlip.dataset import perturbed_structures, train_validation_split
from defectscreen.mlip.mace import MaceSettings
from defectscreen.mlip.potential import PotentialRecipe, fit_potential
from defectscreen.physics.dispersion import band_structure, path_frequency_errors, supercell_force_constants
from defectscreen.schemas import CalculationLabels


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, nargs="+", default=[2, 3, 4],
                        help="diagonal supercells n×n×n of diamond's primitive cell (2n³ atoms)")
    parser.add_argument("--training-repeat", type=int, default=2, help="the relaxation cell the potential learns")
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument("--structures", type=int, default=20)
    args = parser.parse_args()
    engine = XtbSettings()
    primitive = prototype_structure("diamond-C")
    cell = primitive.copy()
    cell.make_supercell([args.training_repeat] * 3)
    labels = CalculationLabels(calculation_id="C:bulk", campaign="benchmark", host="C", defect_name="bulk",
                               defect_type="bulk", defect_elements=[], element_changes={}, charge=0,
                               spin_multiplicity=spin_multiplicity(cell.atomic_numbers, 0))
    engine_forces = engine_forces_function(labels, engine)
    recipe = PotentialRecipe(n_structures=args.structures, training=MaceSettings(max_epochs=args.epochs))

    start = time.perf_counter()
    frames = engine_frames(perturbed_structures(cell, recipe.n_structures, recipe.r_max_angstrom, recipe.seed),
                           labels, engine)
    labelling_s = time.perf_counter() - start
    train, validation = train_validation_split(len(frames), recipe.validation_fraction, recipe.seed)
    with tempfile.TemporaryDirectory() as folder:
        fields = fit_potential([frames[i] for i in train], [frames[i] for i in validation], recipe, Path(folder))
        model = model_forces(Path(folder) / "model" / fields["model_file_name"], "mace")
        print(f"diamond, GFN1-xTB, one thread; potential: {recipe.n_structures} frames of {len(cell)} atoms labelled "
              f"in {labelling_s:.1f} s, trained in {fields['training_wall_time_s']:.1f} s ({args.epochs} epochs), "
              f"validation force RMSE {fields['validation_force_rmse_meV_per_angstrom']:.1f} meV/Å")
        print(f"{'atoms':>6s} {'engine s':>9s} {'potential s':>12s} {'engine/pot':>11s} {'route total s':>14s} "
              f"{'mean |Δħω| meV':>15s} {'max |Δħω| meV':>14s}")
        rows = []
        for repeat in args.repeats:
            matrix = np.diag([repeat] * 3)
            start = time.perf_counter()
            direct, _ = supercell_force_constants(primitive, matrix, engine_forces, 0.01)
            engine_s = time.perf_counter() - start
            start = time.perf_counter()
            learned, _ = supercell_force_constants(primitive, matrix, model, 0.01)
            potential_s = time.perf_counter() - start
            mean, worst = path_frequency_errors(band_structure(learned, 21), band_structure(direct, 21))
            n_atoms = len(direct.supercell)
            route = labelling_s + fields["training_wall_time_s"] + potential_s
            rows.append((n_atoms, engine_s, potential_s))
            print(f"{n_atoms:6d} {engine_s:9.2f} {potential_s:12.2f} {engine_s / potential_s:11.1f} {route:14.1f} "
                  f"{mean:15.2f} {worst:14.2f}")
    (small_n, small_engine, small_potential), (large_n, large_engine, large_potential) = rows[0], rows[-1]
    growth = np.log(large_n / small_n)
    print(f"engine finite displacements grow as N^{np.log(large_engine / small_engine) / growth:.2f}, the "
          f"potential's as N^{np.log(large_potential / small_potential) / growth:.2f}")


if __name__ == "__main__":
    main()

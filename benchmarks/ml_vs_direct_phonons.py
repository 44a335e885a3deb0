"""Cost of Γ phonons of a defect supercell: the per-defect-potential route (N reference single points +
training + phonons with the potential) against direct finite displacements with the same engine, for two
supercell sizes, side by side in one run, with the accuracy of the potential's phonons.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/ml_vs_direct_phonons.py            # N_C in diamond, GFN1-xTB
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/ml_vs_direct_phonons.py --sizes 2 3 --epochs 150
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/ml_vs_direct_phonons.py --sizes 2 --backend sevennet  # fine-tuned

Growth with the number of atoms N: direct = (number of displacements, up to 6N) × t_SCF(N); the potential route
= n_structures × t_SCF(N) + epochs × (cost per epoch ∝ n_structures × N) + phonons with the potential (∝ N²,
negligible). The script prints the measured exponents between two sizes. ``--backend sevennet`` fine-tunes the
shipped SevenNet-0 instead of training MACE from scratch (its defaults unless ``--epochs`` is given).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from defectscreen.analysis.potential import model_forces
from defectscreen.defaults import DEFAULT_FINE_TUNING_STEPS
from defectscreen.engines import XtbSettings, spin_multiplicity
from defectscreen.flows.hosts import prototype_structure
from defectscreen.jobs.potential import engine_frames
from defectscreen.jobs.reference import engine_forces_function, run_reference
from defectscreen.mlip.dataset import perturbed_structures, train_validation_split
from defectscreen.mlip.mace import MaceSettings
from defectscreen.mlip.potential import PotentialRecipe, fit_potential
from defectscreen.mlip.sevennet_backend import SevennetSettings
from defectscreen.physics.finite_displacement import force_constants_by_displacement
from defectscreen.physics.mode_comparison import compare_normal_modes
from defectscreen.physics.normal_modes import structure_normal_modes
from defectscreen.schemas import CalculationLabels


def defect_cell(repeat: int):
    structure = prototype_structure("diamond-C")
    structure.make_supercell([repeat] * 3)
    structure.replace(0, "N")
    labels = CalculationLabels(
        calculation_id=f"C:N_C:0:{len(structure)}", campaign="benchmark", host="C", defect_name="N_C",
        defect_type="substitution", defect_elements=["N"], element_changes={"N": 1, "C": -1}, charge=0,
        spin_multiplicity=spin_multiplicity(structure.atomic_numbers, 0),
    )
    return structure, labels


def measure(repeat: int, recipe: PotentialRecipe, engine: XtbSettings) -> dict:
    structure, labels = defect_cell(repeat)
    relaxed = run_reference(structure, labels, engine, 0.005, 300)["structure"]
    row = {"n_atoms": len(relaxed)}

    start = time.perf_counter()
    direct_fc, row["direct_evaluations"] = force_constants_by_displacement(
        relaxed, engine_forces_function(labels, engine))
    row["direct_s"] = time.perf_counter() - start

    start = time.perf_counter()
    frames = engine_frames(perturbed_structures(relaxed, recipe.n_structures, recipe.r_max_angstrom, recipe.seed),
                           labels, engine)
    row["labelling_s"] = time.perf_counter() - start
    train, validation = train_validation_split(len(frames), recipe.validation_fraction, recipe.seed)
    with tempfile.TemporaryDirectory() as folder:
        fields = fit_potential([frames[i] for i in train], [frames[i] for i in validation], recipe, Path(folder))
        row["training_s"] = fields["training_wall_time_s"]
        row["validation_force_rmse_meV_per_angstrom"] = fields["validation_force_rmse_meV_per_angstrom"]
        start = time.perf_counter()
        learned_fc, _ = force_constants_by_displacement(
            relaxed, model_forces(next(Path(folder).rglob(fields["model_file_name"])), recipe.training.backend))
        row["ml_phonons_s"] = time.perf_counter() - start
    row["ml_route_s"] = row["labelling_s"] + row["training_s"] + row["ml_phonons_s"]
    row["scf_s"] = row["labelling_s"] / recipe.n_structures
    comparison = compare_normal_modes(structure_normal_modes(relaxed, direct_fc), structure_normal_modes(relaxed, learned_fc))
    row["freq_mean_err_meV"] = comparison.frequency_mean_abs_error_meV
    row["freq_max_err_meV"] = comparison.frequency_max_abs_error_meV
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[2, 3], help="diamond primitive-cell repeats")
    parser.add_argument("--backend", choices=["mace", "sevennet"], default="mace")
    parser.add_argument("--epochs", type=int, help="training epochs (default: the backend's)")
    parser.add_argument("--structures", type=int, default=PotentialRecipe().n_structures)
    args = parser.parse_args()
    settings = MaceSettings if args.backend == "mace" else SevennetSettings
    training = settings() if args.epochs is None else settings(max_epochs=args.epochs)
    recipe = PotentialRecipe(n_structures=args.structures, training=training)
    engine = XtbSettings()
    rows = [measure(repeat, recipe, engine) for repeat in args.sizes]
    columns = ["n_atoms", "scf_s", "direct_evaluations", "direct_s", "labelling_s", "training_s", "ml_phonons_s",
               "ml_route_s", "validation_force_rmse_meV_per_angstrom", "freq_mean_err_meV", "freq_max_err_meV"]
    length = f"{training.max_epochs} epochs" if training.max_epochs else f"{DEFAULT_FINE_TUNING_STEPS} steps"
    print(f"N_C in diamond, GFN1-xTB, {recipe.n_structures} structures, {args.backend} {length}, "
          "one thread")
    print(" ".join(f"{c:>12.12s}" for c in columns) + "  direct/ML")
    for row in rows:
        print(" ".join(f"{row[c]:12.4g}" for c in columns) + f"  {row['direct_s'] / row['ml_route_s']:9.3f}")
    for small, large in zip(rows, rows[1:]):
        growth = np.log(large["n_atoms"] / small["n_atoms"])
        for name in ("scf_s", "direct_s", "labelling_s", "training_s", "ml_route_s"):
            print(f"{name:>12s} grows as N^{np.log(large[name] / small[name]) / growth:.2f}")


if __name__ == "__main__":
    main()

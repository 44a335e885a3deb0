"""How many labelled structures a per-defect potential needs: held-out force RMSE, Γ-frequency and Huang–Rhys errors
against the engine's own phonons, for SevenNet-0 fine-tuned and MACE trained from scratch, against the number of
labels, side by side in one run.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/label_count_phonons.py                 # N_C in 54-atom diamond
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/label_count_phonons.py --labels 20 10 5 --repeat 2
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/label_count_phonons.py --labels 10 5 --pool 40 \
        --fine-tuning-steps 400 --routes fine-tuned     # as many optimiser steps (one frame each) at every n
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/label_count_phonons.py --routes fine-tuned --huber-delta-eV 1
                                                        # fine-tuning on a squared loss (SevenNet's recipe: δ 0.01)
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/label_count_phonons.py --engine gpaw --repeat 2 --kpts 2 \
        --labels 20 10 --pool 40                        # GPAW PBE labels: the foundation model's own functional

The defect (N_C; GFN1-xTB, or GPAW PBE with --engine gpaw; the platform's relaxation) is relaxed in charge states 0
and +1; the direct Γ phonons of N_C^0 are finite displacements with the engine. max(labels) + --held-out perturbed
cells of N_C^0 (the platform's recipe: every atom displaced inside r_max) are labelled once; the held-out cells are
the same for every row and n labels are the first n of the rest. Each model's phonons are the same finite
displacements with the model; S is of the 0 → +1 relaxation ΔR projected on each set of modes (seed 000 Eqs. 4–5).
"""

from __future__ import annotations

import argparse
import math
import tempfile
import time
from pathlib import Path

from defectscreen.analysis.potential import model_forces
from defectscreen.engines import GpawSettings, XtbSettings, spin_multiplicity
from defectscreen.flows.hosts import prototype_structure
from defectscreen.jobs.potential import engine_frames
from defectscreen.jobs.reference import engine_forces_function, run_reference
from defectscreen.mlip.dataset import perturbed_structures
from defectscreen.mlip.mace import MaceSettings
from defectscreen.mlip.potential import PotentialRecipe, fit_potential, reference_force_rms
from defectscreen.mlip.sevennet_backend import SevennetSettings
from defectscreen.physics.finite_displacement import force_constants_by_displacement
from defectscreen.physics.huang_rhys import displacement_between, huang_rhys_from_displacement
from defectscreen.physics.mode_comparison import compare_normal_modes
from defectscreen.physics.normal_modes import structure_normal_modes
from defectscreen.schemas import CalculationLabels

ROUTES = {"fine-tuned": "fine-tuned SevenNet-0", "scratch": "MACE from scratch"}
ROW = "{:<22} {:>6} {:>6} {:>12} {:>12} {:>12} {:>12} {:>8} {:>8} {:>10}"


def relaxed_defect(repeat: int, charge: int, engine: XtbSettings | GpawSettings):
    structure = prototype_structure("diamond-C")
    structure.make_supercell([repeat] * 3)
    structure.replace(0, "N")
    labels = CalculationLabels(
        calculation_id=f"C:N_C:{charge}:{len(structure)}", campaign="benchmark", host="C", defect_name="N_C",
        defect_type="substitution", defect_elements=["N"], element_changes={"N": 1, "C": -1}, charge=charge,
        spin_multiplicity=spin_multiplicity(structure.atomic_numbers, charge),
    )
    return run_reference(structure, labels, engine, 0.005, 300)["structure"], labels


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--labels", type=int, nargs="+", default=[40, 20, 10, 5])
    parser.add_argument("--held-out", type=int, default=8)
    parser.add_argument("--repeat", type=int, default=3, help="diamond primitive-cell repeats (3: 54 atoms)")
    parser.add_argument("--fine-tuning-steps", type=int, help="fine-tune for ceil(steps / labels) epochs (default: "
                        "the recipe's DEFAULT_FINE_TUNING_STEPS; SevenNet takes one frame per step)")
    parser.add_argument("--huber-delta-eV", type=float, help="fine-tuning: δ of the Huber loss (default: "
                        "SevennetSettings'; 1 makes it squared)")
    parser.add_argument("--routes", nargs="+", choices=list(ROUTES), default=list(ROUTES))
    parser.add_argument("--pool", type=int, help="labelled cells n is drawn from (default: the largest n); the "
                        "held-out cells follow them, so runs with the same pool share their labels")
    parser.add_argument("--engine", choices=["xtb", "gpaw"], default="xtb", help="labels and direct phonons: "
                        "GFN1-xTB, or GPAW PBE plane waves (500 eV)")
    parser.add_argument("--kpts", type=int, default=1, help="GPAW: a Γ-centred k×k×k grid")
    args = parser.parse_args()
    engine = XtbSettings() if args.engine == "xtb" else GpawSettings(kpts=(args.kpts,) * 3)
    engine_name = "GFN1-xTB" if args.engine == "xtb" else f"GPAW PBE {engine.ecut_eV:.0f} eV, {args.kpts}³ k-points"
    recipe = PotentialRecipe()
    neutral, labels = relaxed_defect(args.repeat, 0, engine)
    charged, _ = relaxed_defect(args.repeat, 1, engine)
    relaxation = displacement_between(neutral, charged)

    start = time.perf_counter()
    direct_modes = structure_normal_modes(neutral, force_constants_by_displacement(
        neutral, engine_forces_function(labels, engine))[0])
    direct_s = time.perf_counter() - start
    direct_S = huang_rhys_from_displacement(direct_modes, relaxation).total
    start = time.perf_counter()
    pool_size = args.pool or max(args.labels)
    frames = engine_frames(perturbed_structures(neutral, pool_size + args.held_out, recipe.r_max_angstrom,
                                                recipe.seed), labels, engine)
    labelling_s = (time.perf_counter() - start) / len(frames)
    pool, held_out = frames[:pool_size], frames[pool_size:]
    print(f"N_C in {len(neutral)}-atom diamond, {engine_name}: direct Γ phonons {direct_s:.0f} s, one label "
          f"{labelling_s:.2f} s, {len(held_out)} held-out cells (RMS force "
          f"{reference_force_rms(held_out):.0f} meV/Å); S(0→+1) from the engine's phonons {direct_S:.3f}; "
          "one thread")
    print(ROW.format("route", "labels", "epochs", "train F", "held-out F", "mean |Δħω|", "max |Δħω|", "S", "ΔS %",
                     "train s"))
    print(ROW.format("", "", "", "meV/Å", "meV/Å", "meV", "meV", "", "", ""))
    with tempfile.TemporaryDirectory() as scratch:
        for n in sorted(args.labels, reverse=True):
            fine_tuning = {} if args.fine_tuning_steps is None else {"max_epochs": math.ceil(args.fine_tuning_steps / n)}
            if args.huber_delta_eV is not None:
                fine_tuning["huber_delta_eV"] = args.huber_delta_eV
            settings = {"fine-tuned": SevennetSettings(**fine_tuning), "scratch": MaceSettings()}
            for route, training in ((ROUTES[r], settings[r]) for r in args.routes):
                folder = Path(scratch) / f"{training.backend}-{n}"
                fields = fit_potential(pool[:n], held_out, PotentialRecipe(training=training), folder)
                model = next(folder.rglob(fields["model_file_name"]))
                modes = structure_normal_modes(neutral, force_constants_by_displacement(
                    neutral, model_forces(model, training.backend))[0])
                comparison = compare_normal_modes(direct_modes, modes)
                S = huang_rhys_from_displacement(modes, relaxation).total
                print(ROW.format(route, n, fields["training_settings"]["max_epochs"],
                                 f"{fields['train_force_rmse_meV_per_angstrom']:.1f}",
                                 f"{fields['validation_force_rmse_meV_per_angstrom']:.1f}",
                                 f"{comparison.frequency_mean_abs_error_meV:.2f}",
                                 f"{comparison.frequency_max_abs_error_meV:.2f}", f"{S:.3f}",
                                 f"{100 * (S / direct_S - 1):+.1f}", f"{fields['training_wall_time_s']:.0f}"),
                      flush=True)


if __name__ == "__main__":
    main()

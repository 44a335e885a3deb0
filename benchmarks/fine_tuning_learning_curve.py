"""Learning curve of a per-defect potential on real DFT frames: held-out force RMSE against the number of
labelled structures, fine-tuned from the SevenNet-0 foundation model (weights from the sevenn wheel) and trained
from scratch (MACE, the platform's CPU default), side by side in one run.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/fine_tuning_learning_curve.py \
        ../shared/reference-data/mlip-datasets/N-ZnO.extxyz --labels 17 10 5

The held-out frames are those `defectscreen potential train` holds out (validation fraction 0.15, seed 0), the same
for every row; n labels are the first n of a seeded permutation of the rest. Rows are printed as they finish,
largest n first; with --shipped-checkpoint the foundation model as shipped (no labels) is the first row.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from defectscreen.defaults import DEFAULT_MAX_EPOCHS
from defectscreen.mlip.dataset import read_frames, train_validation_split
from defectscreen.mlip.mace import MaceSettings
from defectscreen.mlip.potential import PotentialRecipe, fit_potential, potential_predictor, prediction_errors
from defectscreen.mlip.sevennet_backend import SevennetSettings

ROW = "{:<22} {:>6} {:>8} {:>14} {:>14} {:>14} {:>10} {:>10}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("frames", type=Path)
    parser.add_argument("--labels", type=int, nargs="+", default=[17, 10, 5])
    parser.add_argument("--fine-tuning-epochs", type=int, help="default: the epochs that make the recipe's steps")
    parser.add_argument("--scratch-epochs", type=int, default=DEFAULT_MAX_EPOCHS)
    parser.add_argument("--shipped-checkpoint", type=Path, help="SevenNet-0 checkpoint file, for the first row")
    args = parser.parse_args()
    frames = read_frames(args.frames)
    pool, held_out = train_validation_split(len(frames), 0.15, 0)
    pool = list(np.random.default_rng(1).permutation(pool))
    held_out = [frames[i] for i in held_out]
    print(f"{args.frames.name}: {len(frames)} frames of {len(frames[0])} atoms, {len(held_out)} held out")
    print(ROW.format("route", "labels", "epochs", "train F meV/Å", "held-out F", "held-out E/at", "train s", "s/epoch"))
    if args.shipped_checkpoint is not None:
        shipped = prediction_errors(potential_predictor(args.shipped_checkpoint, "sevennet"), held_out)
        print(ROW.format("SevenNet-0 as shipped", 0, 0, "-", f"{shipped.force_rmse_meV_per_angstrom:.1f}",
                         f"{shipped.energy_mae_meV_per_atom:.1f}", "-", "-"), flush=True)
    routes = {"fine-tuned SevenNet-0": SevennetSettings(max_epochs=args.fine_tuning_epochs),
              "MACE from scratch": MaceSettings(max_epochs=args.scratch_epochs)}
    with tempfile.TemporaryDirectory() as scratch:
        for n in sorted(args.labels, reverse=True):
            train = [frames[i] for i in pool[:n]]
            for route, training in routes.items():
                start = time.perf_counter()
                fields = fit_potential(train, held_out, PotentialRecipe(training=training),
                                       Path(scratch) / f"{training.backend}-{n}")
                seconds = time.perf_counter() - start
                epochs = fields["training_settings"]["max_epochs"]
                print(ROW.format(route, n, epochs, f"{fields['train_force_rmse_meV_per_angstrom']:.1f}",
                                 f"{fields['validation_force_rmse_meV_per_angstrom']:.1f}",
                                 f"{fields['validation_energy_mae_meV_per_atom']:.2f}", f"{seconds:.0f}",
                                 f"{fields['training_wall_time_s'] / epochs:.1f}"), flush=True)


if __name__ == "__main__":
    main()

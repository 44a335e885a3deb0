"""How well a structure-search surrogate's starting point sees the reference's reconstructions, before any
fine-tuning: each starting model ranks the reference-relaxed minima of every finished full search.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/surrogate_starting_models.py --data-dir DIR \
        [--models chgnet-0.3.0 7net-0 7net-l3i5]

DIR is a ``benchmarks/structure_search.py`` run (finished or not: every full search stored so far is read). For each
(defect, charge), the final structures of the unperturbed reference relaxation and of every candidate's reference
relaxation are evaluated with each starting model as shipped, and their energies relative to the unperturbed cell
compared with the reference's (the same per-cell zero as the surrogate's training): E_rec is the lowest, ρ the rank
correlation, GS↓ whether the model's lowest is the reference ground state. Per model and over all
searches: the mean absolute error of those relative energies (eV), the rank correlation (Spearman) with the
reference, how often the model puts the reference ground state (or a minimum within 0.01 eV of it) lowest, and how
often it puts a reconstruction deeper than 0.1 eV below the unperturbed cell at all. A surrogate relaxes candidates
on its own landscape; a starting model that cannot order the reference's own minima has to learn that from the
training hosts. No reference calculation is run and nothing is stored.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from scipy.stats import spearmanr

from defectscreen.jobs.search import UNPERTURBED
from defectscreen.mlip.surrogate import surrogate_backend
from defectscreen.storage import StorageSettings
from defectscreen.storage.query import full_search_minima

TOLERANCE_EV = 0.01
RECONSTRUCTION_EV = 0.1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--models", nargs="+", default=["chgnet-0.3.0", "7net-0", "7net-l3i5"])
    args = parser.parse_args()
    store = StorageSettings(data_dir=args.data_dir.resolve()).job_store()
    store.connect()
    minima = full_search_minima(store)
    if not minima:
        raise SystemExit(f"--data-dir: no finished full search in {args.data_dir}; run benchmarks/structure_search.py")
    names = {cid: list(tasks) for cid, tasks in minima.items()}
    structures = [tasks[name].structure for cid, tasks in minima.items() for name in names[cid]]
    reference = {cid: np.array([tasks[n].energy_eV - tasks[UNPERTURBED].energy_eV for n in names[cid]])
                 for cid, tasks in minima.items()}
    print(f"{len(minima)} full searches, {len(structures)} reference minima; energies relative to the unperturbed "
          "relaxation (eV)")
    header = f"{'defect':16s} {'E_rec ref':>9s}" + "".join(f" | {m + ' E_rec':>18s} {'ρ':>5s} {'GS↓':>6s}"
                                                       for m in args.models)
    rows = {cid: f"{cid:16s} {reference[cid].min():9.3f}" for cid in minima}
    totals = {}
    for name in args.models:
        start = time.perf_counter()
        energies, _ = surrogate_backend(name).starting(name).predict(structures)
        seconds = time.perf_counter() - start
        at = 0
        errors, correlations, lowest_right, deep_seen = [], [], 0, 0
        for cid in minima:
            n = len(names[cid])
            predicted = energies[at:at + n] - energies[at]
            at += n
            truth = reference[cid]
            errors.extend(np.abs(predicted - truth)[1:])
            rho = spearmanr(predicted, truth).statistic if n > 2 else float("nan")
            correlations.append(rho)
            right = truth[int(np.argmin(predicted))] - truth.min() <= TOLERANCE_EV
            lowest_right += right
            deep_seen += truth.min() < -RECONSTRUCTION_EV and predicted.min() < -RECONSTRUCTION_EV
            rows[cid] += f" | {predicted.min():18.3f} {rho:5.2f} {'yes' if right else 'no':>6s}"
        totals[name] = (np.mean(errors), np.nanmean(correlations), lowest_right, deep_seen, seconds)
    print(header)
    for row in rows.values():
        print(row)
    deep = sum(r.min() < -RECONSTRUCTION_EV for r in reference.values())
    print(f"\n{'starting model':16s} {'MAE (eV)':>9s} {'mean ρ':>7s} {'GS lowest':>10s} {'deep seen':>10s} "
          f"{'time (s)':>9s}")
    for name, (mae, rho, right, seen, seconds) in totals.items():
        print(f"{name:16s} {mae:9.3f} {rho:7.2f} {right:>4d}/{len(minima):<5d} {seen:>4d}/{deep:<5d} {seconds:9.0f}")


if __name__ == "__main__":
    main()

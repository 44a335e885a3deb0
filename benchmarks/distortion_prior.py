"""The family prior (search.prior_candidates) on stored full searches, without a surrogate.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/distortion_prior.py --data-dir DIR [--family-data-dir DIR2] \
        [--candidates 1 2] [--distortion-increment 0.2]

For every (defect, charge) whose full search (every ShakeNBreak candidate relaxed with the engine, from a
``search.benchmark`` or training-host campaign) and unperturbed relaxation are stored in --data-dir, the distortions
are ranked by the mean fraction of the reconstruction they recovered in the *other* hosts' full searches of
--data-dir (leave one host out), or in every full search of --family-data-dir (a family of another chemistry), every
charge state (`analysis.distortion_prior`, what `search.prior_candidates` does). The prior's first k candidates
relaxed from their distorted structures are exactly the full search's relaxations of them, so each route is read
back without a new relaxation. Prints per defect: the candidates sent, found or not, ΔE to the full search's ground
state, and per k the totals — reference relaxations saved, ground states found (against as many candidates drawn at
random), wall time against the full search — next to seed 002's 73 % / 88 % / 13x.
"""

from __future__ import annotations

import argparse
from math import comb
from pathlib import Path

from defectscreen.analysis.distortion_prior import SearchedDefect, distortion_prior, prior_candidates
from defectscreen.jobs.search import UNPERTURBED
from defectscreen.storage import StorageSettings
from defectscreen.storage.query import full_search_minima

TOLERANCE_EV = 0.01


def stored_full_searches(data_dir: Path, distortion_increment: float | None = None) -> dict[str, dict]:
    """calculation id -> its host, candidate names, every relaxation's energy (eV; None: not converged) and wall time
    (s), the unperturbed relaxation's included; of a cell searched on several grids, the finest (or
    ``distortion_increment``)."""
    store = StorageSettings(data_dir=data_dir.resolve()).job_store()
    store.connect()
    criteria = {"output.@class": "FullSearchDocument"} | (
        {"output.distortion_increment": distortion_increment} if distortion_increment is not None else {})
    candidates = {d["output"]["calculation_id"]: d["output"]["candidates"] for d in store.query(
        criteria, properties=["output.calculation_id", "output.candidates"], sort={"output.distortion_increment": -1})}
    searches = {}
    for cid, relaxed in full_search_minima(store, distortion_increment=distortion_increment).items():
        names = candidates[cid]
        searches[cid] = {"host": cid.split(":")[0], "candidates": names,
                         "energies_eV": {name: relaxed[name].energy_eV if name in relaxed else None
                                         for name in [UNPERTURBED, *names]},
                         "wall_time_s": {name: t.wall_time_s for name, t in relaxed.items()}}
    return searches


def searched_defect(search: dict) -> SearchedDefect:
    energies = search["energies_eV"]
    return SearchedDefect({name: energies[name] for name in search["candidates"]}, energies[UNPERTURBED])


def found_by_chance(search: dict, k: int) -> float:
    """Probability that k candidates drawn at random include one within the tolerance of the ground state (1 when
    that is the unperturbed relaxation, which every route has)."""
    energies = {name: e for name, e in search["energies_eV"].items() if e is not None}
    lowest = min(energies.values())
    if energies[UNPERTURBED] - lowest <= TOLERANCE_EV:
        return 1.0
    n, hits = len(search["candidates"]), sum(energies.get(name, float("inf")) - lowest <= TOLERANCE_EV
                                              for name in search["candidates"])
    return 1.0 - comb(n - hits, min(k, n)) / comb(n, min(k, n))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, required=True, help="the benchmark run whose defects are searched")
    parser.add_argument("--family-data-dir", type=Path,
                        help="learn the prior from every full search stored here (default: the other hosts of "
                             "--data-dir)")
    parser.add_argument("--candidates", type=int, nargs="+", default=[1, 2], help="k: search.prior_candidates")
    parser.add_argument("--distortion-increment", type=float,
                        help="the grid of --data-dir's full searches to read (default: each cell's finest)")
    args = parser.parse_args()
    for option, folder in (("--data-dir", args.data_dir), ("--family-data-dir", args.family_data_dir)):
        if folder is not None and not (folder / "jobstore.sqlite").is_file():
            raise SystemExit(f"{option} {folder}: no benchmark store there (jobstore.sqlite); give the --data-dir of a "
                             "benchmarks/structure_search.py run")
    searches = stored_full_searches(args.data_dir, args.distortion_increment)
    family = stored_full_searches(args.family_data_dir) if args.family_data_dir else searches
    if not searches:
        raise SystemExit(f"no full search with its unperturbed relaxation is stored in {args.data_dir}")
    learned_from = (f"every full search of {args.family_data_dir} ({', '.join(sorted({s['host'] for s in family.values()}))})"
                    if args.family_data_dir else "the other hosts' full searches (leave one host out)")
    print(f"{len(searches)} defects in {len({s['host'] for s in searches.values()})} hosts; the prior learned from "
          f"{learned_from}, every charge state\n")
    print(f"{'defect':16s} {'E_rec(eV)':>9s} {'full GS':>24s} | " + " | ".join(
        f"{f'k={k}: sent':>40s} {'ΔE(eV)':>7s} found" for k in args.candidates))
    totals = {k: {"sent": 0, "found": 0, "chance": 0.0, "wall": 0.0} for k in args.candidates}
    n_full = t_full = 0.0
    for cid, search in sorted(searches.items()):
        prior = [name for name, _ in distortion_prior(
            [searched_defect(s) for s in family.values() if s["host"] != search["host"]], TOLERANCE_EV)]
        energies, times = search["energies_eV"], search["wall_time_s"]
        reached = {name: e for name, e in energies.items() if e is not None}
        ground = min(reached, key=reached.get)
        n_full += 1 + len(search["candidates"])
        t_full += sum(times.values())
        cells = []
        for k in args.candidates:
            sent = prior_candidates(prior, search["candidates"], k)
            best = min(reached.get(name, float("inf")) for name in [UNPERTURBED, *sent])
            found = best - reached[ground] <= TOLERANCE_EV
            totals[k]["sent"] += 1 + len(sent)
            totals[k]["found"] += found
            totals[k]["chance"] += found_by_chance(search, len(sent))
            totals[k]["wall"] += times.get(UNPERTURBED, 0.0) + sum(times.get(name, 0.0) for name in sent)
            cells.append(f"{', '.join(sent):>40s} {best - reached[ground]:7.3f} {'yes' if found else 'no':>5s}")
        print(f"{cid:16s} {reached[ground] - reached[UNPERTURBED]:9.3f} {ground:>24s} | " + " | ".join(cells))
    print()
    for k, total in totals.items():
        print(f"k = {k}: reference relaxations {total['sent']} instead of {n_full:.0f} "
              f"({100 * (n_full - total['sent']) / n_full:.0f} % saved; seed 002: 73 %), ground state found "
              f"{total['found']}/{len(searches)} ({100 * total['found'] / len(searches):.0f} %; seed: 88 %; as many "
              f"candidates at random: {total['chance']:.1f}), wall time {total['wall']:.0f} s instead of {t_full:.0f} s "
              f"({t_full / total['wall']:.1f}x; seed: 13x)")


if __name__ == "__main__":
    main()

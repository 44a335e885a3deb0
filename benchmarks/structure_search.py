"""Structure search (seed 002): surrogate route against the full reference search, per defect.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/structure_search.py [--workers 2] [--data-dir DIR]
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/structure_search.py --hosts CdTe ZnSe ZnS GaN ZnO MgO \
        --distortion-increment 0.2 --plan-only

Runs a campaign with ``search.benchmark: true`` (every ShakeNBreak candidate is also relaxed with the reference
engine, GFN1-xTB here) on cation and anion vacancies of three zincblende chalcogenides (CdTe, ZnSe, ZnS;
64-site cells: GFN1-xTB is Γ-only, and in 16-site cells even the rattled *bulk* relaxes 11-12 eV below the ideal
crystal, while the 64-site CdTe bulk returns to it; bond distortions −60/0/+60 % and the dimer, a coarser grid than
the campaign default of 10 % steps so that the full searches fit in about an hour on 2 cores), through the
embedded LaunchPad with ``--workers`` FireWorks workers. ``training_hosts: all_others`` is the seed's test on unseen
compositions: each host's surrogate of a charge state learns from the full searches of the other hosts in that
charge state (and their bulk frames) besides its own unperturbed relaxations, never from its own full search. Prints one row per
(defect, charge) from the stored SearchBenchmarkDocuments and the totals next to the seed's figures (73 % of
reference relaxations saved, 88 % of ground states found, 13x faster), and for the same minima relaxed from their
ShakeNBreak structures instead of their surrogate geometries (read from the full search, which relaxed exactly those
structures: what the surrogate geometry itself is worth). Rerunning with the same --data-dir resumes; rerun with
other surrogate settings (--frames-per-relaxation, --epochs, --starting-model), it reuses the full searches (their task keys exclude the
surrogate), pauses the queued jobs of the earlier settings and prints the newest benchmark document of each defect.
It ends with the selection levers (send at most k minima, or those within a window of the surrogate's lowest) read
back from the same documents.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

import yaml
from pymatgen.core import Composition, Element

from defectscreen.analysis.distortion_prior import SearchedDefect, distortion_prior, prior_candidates
from defectscreen.flows.campaign import load_campaign
from defectscreen.flows.defect_set import build_defect_set
from defectscreen.jobs.search import minima_to_send
from defectscreen.storage import StorageSettings
from defectscreen.storage.submission import submit_campaign

CAMPAIGN = {
    "name": "search-benchmark",
    "hosts": [{"name": "CdTe", "prototype": "zincblende-CdTe"}, {"name": "ZnSe", "prototype": "zincblende-ZnSe"},
              {"name": "ZnS", "prototype": "zincblende-ZnS"}],
    "defects": {"vacancies": True},
    "charges": {"v_Cd": [0, -1], "v_Zn": [0, -1], "v_Te": [0, 1], "v_Se": [0, 1], "v_S": [0]},
    "supercell": {"matrix": [[-2, 2, 2], [2, -2, 2], [2, 2, -2]]},
    "engine": {"name": "xtb", "method": "GFN1-xTB"},
    "relax": {"fmax_eV_per_angstrom": 0.1, "max_steps": 300},
    "properties": ["relaxation", "structure_search"],
    "search": {"benchmark": True, "distortion_increment": 0.6, "training_hosts": "all_others"},
}


#: hosts beyond the three chalcogenides (--hosts): a III-V nitride and two oxides, vacancies in two charge states each
MORE_HOSTS = {"GaN": "wurtzite-GaN", "ZnO": "wurtzite-ZnO", "MgO": "rocksalt-MgO"}
MORE_CHARGES = {"v_Ga": [0, -1], "v_N": [0, 1], "v_O": [0, 1], "v_Mg": [0, -1], "v_S": [0, 1]}


def campaign_of(args: argparse.Namespace) -> dict:
    """The benchmark campaign: the three chalcogenides in 64-site cells, or with --hosts any of them and of
    MORE_HOSTS in the most cubic cells of 64–128 atoms with images ≥ 8 Å apart."""
    surrogate = {"epochs": args.epochs, "frames_per_relaxation": args.frames_per_relaxation,
                 "starting_model": args.starting_model}
    campaign = {**CAMPAIGN, "search": {**CAMPAIGN["search"], "distortion_increment": args.distortion_increment,
                                       "max_sent": args.max_sent, "send_within_eV": args.send_within_eV,
                                       "prior_candidates": args.prior_candidates, "surrogate": surrogate}}
    if args.hosts:
        known = {h["name"]: h["prototype"] for h in CAMPAIGN["hosts"]} | MORE_HOSTS
        campaign |= {"hosts": [{"name": name, "prototype": known[name]} for name in args.hosts],
                     "charges": {defect: charges for defect, charges in (CAMPAIGN["charges"] | MORE_CHARGES).items()
                                 if any(Element(defect.removeprefix("v_")) in Composition(name) for name in args.hosts)},
                     "supercell": {"min_atoms": 64, "max_atoms": 128, "min_length_angstrom": 8.0}}
    return campaign


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--data-dir", type=Path, default=Path("search-benchmark-data"))
    parser.add_argument("--hosts", nargs="+", choices=["CdTe", "ZnSe", "ZnS", *MORE_HOSTS],
                        help="hosts to search (default: CdTe ZnSe ZnS in 64-site cells)")
    parser.add_argument("--distortion-increment", type=float, default=0.6,
                        help="0.6: −60/0/+60 %% and the dimer; the campaign default 0.1 gives 13 distortions")
    parser.add_argument("--frames-per-relaxation", type=int, default=4, help="search.surrogate.frames_per_relaxation")
    parser.add_argument("--epochs", type=int, default=10, help="search.surrogate.epochs")
    parser.add_argument("--starting-model", default="chgnet-0.3.0",
                        help="search.surrogate.starting_model: chgnet-0.3.0, 7net-0, 7net-l3i5 or a model file")
    parser.add_argument("--max-sent", type=int, default=None, help="search.max_sent")
    parser.add_argument("--send-within-eV", type=float, default=None, help="search.send_within_eV")
    parser.add_argument("--prior-candidates", type=int, default=0, help="search.prior_candidates")
    parser.add_argument("--plan-only", action="store_true", help="print the cells and the job count, run nothing")
    parser.add_argument("--table-only", action="store_true",
                        help="print the tables of the defects --data-dir has finished, run nothing")
    args = parser.parse_args()
    args.data_dir.mkdir(parents=True, exist_ok=True)
    settings = StorageSettings(data_dir=args.data_dir.resolve())
    if args.table_only:
        print_table(settings)
        return
    path = args.data_dir / "campaign.yaml"
    path.write_text(yaml.safe_dump(campaign_of(args)))
    if args.plan_only:
        campaign, base_dir = load_campaign(path)
        cells = build_defect_set(campaign, base_dir)
        for cell in cells:
            print(f"{cell.labels.calculation_id:18s} {len(cell.structure):4d} atoms")
        print(f"{sum(c.labels.defect_type != 'bulk' for c in cells)} defect cells in {len(campaign.hosts)} hosts")
        return
    campaign, base_dir = load_campaign(path)
    start = time.perf_counter()
    report = submit_campaign(campaign, base_dir, settings.launchpad(), settings.collection("campaigns", "name"),
                             drop_superseded=True)
    print(f"submitted {report.new_jobs} jobs ({report.already_submitted} already there; paused {len(report.dropped)} "
          f"of an earlier run's settings)", flush=True)
    run_workers(settings, args.workers)
    print(f"campaign wall time {time.perf_counter() - start:.0f} s with {args.workers} workers")
    print_table(settings)


def run_workers(settings: StorageSettings, n_workers: int) -> None:
    """Keep up to ``n_workers`` FireWorks workers busy until no job is READY or RUNNING (a worker stops when it finds
    nothing READY, so new ones are started as the searches add their reference relaxations)."""
    environment = {**os.environ, "DEFECTSCREEN_DATA_DIR": str(settings.data_dir), "OMP_NUM_THREADS": "1"}
    command = [str(Path(sys.executable).parent / "defectscreen"), "worker"]
    launchpad = settings.launchpad()
    workers: list[subprocess.Popen] = []
    while True:
        workers = [w for w in workers if w.poll() is None]
        ready = launchpad.fireworks.count_documents({"state": "READY"})
        running = launchpad.fireworks.count_documents({"state": {"$in": ["RUNNING", "RESERVED"]}})
        if not ready and not running and not workers:
            return
        for _ in range(min(ready, n_workers - len(workers))):
            workers.append(subprocess.Popen(command, env=environment, stdout=subprocess.DEVNULL,
                                            stderr=subprocess.DEVNULL))
        time.sleep(5)


def print_table(settings: StorageSettings) -> None:
    """The newest benchmark document of each defect (a rerun with other search settings adds a new set)."""
    store = settings.job_store()
    store.connect()
    documents = store.query({"output.@class": "SearchBenchmarkDocument"}, properties=["output", "completed_at"],
                            sort={"completed_at": 1})
    newest = {d["output"]["calculation_id"]: d["output"] for d in documents}
    rows = [newest[cid] for cid in sorted(newest)]
    header = (f"{'defect':16s} {'full':>4s} {'surr':>4s} {'saved%':>6s} {'full GS':>24s} {'surrogate GS':>24s} "
              f"{'ΔE(eV)':>7s} {'E_rec(eV)':>9s} {'E_surr-E_unp':>12s} {'found':>5s} {'t_full(s)':>9s} {'t_surr(s)':>9s} {'speedup':>7s}"
              f" | {'cand. start GS':>24s} {'ΔE(eV)':>7s} {'found':>5s} {'t(s)':>6s} {'speedup':>7s}")
    print(header)
    for o in rows:
        c = o["candidate_start"]
        print(f"{o['calculation_id']:16s} {o['n_reference_relaxations_full']:4d} "
              f"{o['n_reference_relaxations_surrogate']:4d} {o['reference_relaxations_saved_percent']:6.1f} "
              f"{o['full_ground_state']:>24s} {o['surrogate_ground_state']:>24s} {o['energy_difference_eV']:7.3f} "
              f"{o['reconstruction_energy_eV']:9.3f} {_surrogate_lowering(o):12.3f} {str(o['ground_state_found']):>5s} {o['wall_time_full_s']:9.0f} "
              f"{o['wall_time_surrogate_s']:9.0f} {o['speedup']:7.1f} | {c['ground_state']:>24s} "
              f"{c['energy_difference_eV']:7.3f} {str(c['ground_state_found']):>5s} {c['wall_time_s']:6.0f} {c['speedup']:7.1f}")
    if not rows:
        print("no benchmark documents yet (jobs failed or still waiting: run `defectscreen status`)")
        return
    full = sum(o["n_reference_relaxations_full"] for o in rows)
    surrogate = sum(o["n_reference_relaxations_surrogate"] for o in rows)
    found = sum(o["ground_state_found"] for o in rows)
    t_full = sum(o["wall_time_full_s"] for o in rows)
    t_surrogate = sum(o["wall_time_surrogate_s"] for o in rows)
    hosts = len({o["labels"]["host"] for o in rows})
    lowered = sum(_surrogate_lowering(o) < -o["ground_state_tolerance_eV"] for o in rows)
    by_chance = sum(_found_by_chance(o) for o in rows)
    print(f"\n{len(rows)} defects in {hosts} hosts: reference relaxations {surrogate} instead of {full} "
          f"({100 * (full - surrogate) / full:.0f} % saved; seed 002: 73 %), ground state found {found}/{len(rows)} "
          f"({100 * found / len(rows):.0f} %; seed: 88 %), wall time {t_surrogate:.0f} s instead of {t_full:.0f} s "
          f"({t_full / t_surrogate:.1f}x; seed: 13x); the surrogate route found a structure below the unperturbed "
          f"relaxation for {lowered}/{len(rows)}; as many candidates drawn at random would find the ground state for "
          f"{by_chance:.1f}/{len(rows)} on average")
    found_c = sum(o["candidate_start"]["ground_state_found"] for o in rows)
    t_c = sum(o["candidate_start"]["wall_time_s"] for o in rows)
    print(f"the same minima relaxed from their ShakeNBreak structures instead (read from the full search): ground "
          f"state found {found_c}/{len(rows)} ({100 * found_c / len(rows):.0f} %), wall time {t_c:.0f} s "
          f"({t_full / t_c:.1f}x)")
    print_selection_levers(store, rows)


#: selection levers read back from one run (label, max_sent, send_within_eV, prior_candidates); max_sent 0: the
#: family prior alone, no surrogate trained or run (its wall time leaves out their share)
POLICIES = (("every minimum", None, None, 0), ("lowest 1", 1, None, 0), ("lowest 2", 2, None, 0),
            ("within 0.1 eV", None, 0.1, 0), ("within 0.3 eV", None, 0.3, 0), ("within 1 eV", None, 1.0, 0),
            ("lowest 2 within 0.3 eV", 2, 0.3, 0), ("family prior 1 (no surrogate)", 0, None, 1),
            ("family prior 2 (no surrogate)", 0, None, 2), ("lowest 1 + family prior 1", 1, None, 1),
            ("every minimum + family prior 1", None, None, 1))


def leave_one_host_out_priors(rows: list[dict]) -> dict[str, list[str]]:
    """Each defect's family prior (search.prior_candidates) from the full searches of the run's other hosts, every
    charge state: calculation id -> candidates, best first."""
    defects = {row["calculation_id"]: SearchedDefect(
        {name: e for name, e in row["full_reference_energies_eV"].items() if name != "Unperturbed"},
        row["full_reference_energies_eV"]["Unperturbed"]) for row in rows}
    return {row["calculation_id"]: [name for name, _ in distortion_prior(
        [defects[o["calculation_id"]] for o in rows if o["labels"]["host"] != row["labels"]["host"]],
        row["ground_state_tolerance_eV"])] for row in rows}


def print_selection_levers(store, rows: list[dict]) -> None:
    """What sending fewer unique minima would save and find (search.max_sent, search.send_within_eV), and what the
    family prior adds (search.prior_candidates, leave one host out), read from the stored documents without a new
    reference relaxation: the surrogate energies of the minima are in the search document, and a candidate's
    reference result is taken from the full search's relaxation of the same candidate (the candidate-start route of
    the table above, which found as many ground states as the surrogate start; a prior candidate is relaxed from
    exactly that structure)."""
    searches = {d["output"]["calculation_id"]: d["output"] for d in store.query(
        {"output.@class": "StructureSearchDocument"}, properties=["output"], sort={"completed_at": 1})}
    candidate_times = {d["output"]["calculation_id"]: {t["search_candidate"]: t["wall_time_s"]
                                                       for t in d["output"]["relaxations"]}
                       for d in store.query({"output.@class": "FullSearchDocument"},
                                            properties=["output.calculation_id", "output.relaxations"])}
    priors = leave_one_host_out_priors(rows)
    print("\nselection lever (candidate-start proxy) | reference relaxations | saved % | ground states found | "
          "wall time (s) | speed-up")
    for label, max_sent, within, k in POLICIES:
        sent_total = full_total = found = 0
        wall = 0.0
        for row in rows:
            cid = row["calculation_id"]
            search, times = searches[cid], candidate_times[cid]
            energies = {c["name"]: c["surrogate_energy_eV"] for c in search["candidates"]}
            sent = {*minima_to_send(search["unique_minima"], energies, max_sent, within),
                    *prior_candidates(priors[cid], row["full_reference_energies_eV"], k)}
            reference = row["full_reference_energies_eV"]
            reached = [reference[name] for name in ["Unperturbed", *sent] if reference.get(name) is not None]
            found += min(reached) - row["full_ground_state_energy_eV"] <= row["ground_state_tolerance_eV"]
            sent_total += 1 + len(sent)
            full_total += row["n_reference_relaxations_full"]
            unperturbed_s = row["wall_time_full_s"] - sum(times.values())
            surrogate_s = row["candidate_start"]["wall_time_s"] - unperturbed_s - sum(
                times.get(name, 0.0) for name in {*search["sent_to_reference"], *search.get("sent_from_prior", [])})
            wall += unperturbed_s + sum(times.get(name, 0.0) for name in sent) + (surrogate_s if max_sent != 0 else 0)
        t_full = sum(row["wall_time_full_s"] for row in rows)
        print(f"{label:38s} | {sent_total:4d} of {full_total:4d} | {100 * (full_total - sent_total) / full_total:5.0f} | "
              f"{found}/{len(rows)} | {wall:6.0f} | {t_full / wall:4.1f}x")


def _surrogate_lowering(row: dict) -> float:
    """E(surrogate route's ground state) − E(unperturbed relaxation), eV."""
    return row["reconstruction_energy_eV"] + row["energy_difference_eV"]


def _found_by_chance(row: dict) -> float:
    """Probability that as many candidates as the surrogate sent, drawn uniformly from all candidates, include the
    full search's ground state (1 when that is the unperturbed relaxation, which both routes have)."""
    if row["full_ground_state"] == "Unperturbed":
        return 1.0
    return (row["n_reference_relaxations_surrogate"] - 1) / (row["n_reference_relaxations_full"] - 1)


if __name__ == "__main__":
    main()

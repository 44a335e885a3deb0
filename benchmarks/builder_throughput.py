"""Builder throughput and query latency on the embedded store with >= 10^4 defect summaries.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/builder_throughput.py [--hosts 100] [--defects 100]

Fills a fresh embedded store with task documents generated from a physical model, not copies: each host is a
rocksalt AB crystal with its own lattice constant, gap, VBM, elemental reference energies and formation enthalpy;
each defect (vacancies of A or B on distinct sites) has its own neutral formation energy and transition levels,
and its supercell energies E(q) are constructed from them, including the real Freysoldt lattice energy of the host
cell (so the builders must recover the levels). Then it times the builders (full build, an incremental build
after 1 % of the defect relaxations are recomputed, a no-op build), each build in a new process as
`defectscreen build` runs, and the summary queries, and checks that the
built transition levels equal the generated ones.
"""

from __future__ import annotations

import argparse
import gc
import multiprocessing
import resource
import statistics
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from pymatgen.core import Lattice, Structure

from defectscreen.analysis.formation import finite_size_correction, freysoldt_lattice_energy_eV
from defectscreen.builders import builder_chain
from defectscreen.builders.chain import COLLECTIONS
from defectscreen.storage import StorageSettings
from defectscreen.storage.query import query_summaries, summary_criteria, with_ensemble_members

CATIONS = ["Mg", "Ca", "Sr", "Ba", "Zn", "Cd", "Ni", "Co", "Mn", "Fe"]
ANIONS = ["O", "S", "Se", "Te"]
DIELECTRIC, WIDTH_BOHR = 10.0, 1.0
#: points per axis of the planar-averaged potentials (--planar-potentials)
PLANAR_POINTS = 48


def _now() -> str:
    return datetime.now(UTC).isoformat()


def _task(labels: dict, structure: Structure, energy: float, settings_hash: str, levels: dict | None = None,
          planar: list[list[float]] | None = None) -> dict:
    return {"uuid": str(uuid.uuid4()), "index": 1, "completed_at": _now(), "output": {
        "task_label": "relax", "converged": True, "labels": labels, "structure": structure.as_dict(),
        "formula": structure.composition.formula, "energy_eV": energy, "n_atoms": len(structure),
        "levels": levels, "planar_average_potential_eV": planar, "campaign_sha256": "benchmark",
        "engine": {"name": "model", "settings": {}, "settings_hash": settings_hash, "is_dft": False,
                   "code_versions": {}}}}


def _labels(host: str, name: str, kind: str, charge: int, changes: dict[str, int], sites: int | None) -> dict:
    calculation_id = f"{host}:{name}:{charge:+d}" if charge else f"{host}:{name}:0"
    if kind == "bulk":
        calculation_id = f"{host}:bulk"
    if kind == "competing_phase":
        calculation_id = f"phase:{name}:{host}"
    return {"calculation_id": calculation_id, "campaign": "benchmark", "host": host if kind != "competing_phase"
            else "phases", "defect_name": name, "defect_type": kind, "defect_elements": sorted(changes),
            "element_changes": changes, "charge": charge, "spin_multiplicity": 1,
            "defect_site_frac_coords": [0.0, 0.0, 0.0], "equivalent_sites": sites}


def generate(n_hosts: int, n_defects: int, rng: np.random.Generator, planar_potentials: bool = False
             ) -> tuple[list[dict], dict, dict]:
    """Task documents, the campaign document, and the generated transition levels per summary id. With
    ``planar_potentials`` the bulk and defect cells carry planar-averaged potentials (the same in both, so the
    alignment is the model charge's own, q² times that of q = 1) and the builders take the full Freysoldt route."""
    tasks, truth, hosts = [], {}, []
    for h in range(n_hosts):
        host, (a_el, b_el) = f"H{h:03d}", (CATIONS[h % len(CATIONS)], ANIONS[(h // len(CATIONS)) % len(ANIONS)])
        settings_hash = f"{h:016d}" + "0" * 48
        a = rng.uniform(4.0, 5.6)
        cell = Structure.from_spacegroup("Fm-3m", Lattice.cubic(a), [a_el, b_el], [[0, 0, 0], [0.5, 0.5, 0.5]])
        planar = None
        lattice_energy = freysoldt_lattice_energy_eV(cell.lattice, 1, DIELECTRIC, WIDTH_BOHR)
        if planar_potentials:
            planar = [list(0.5 * np.cos(4 * np.pi * np.linspace(0, 1, PLANAR_POINTS, endpoint=False)))] * 3
            lattice_energy = finite_size_correction(1, cell.lattice, [0.0, 0.0, 0.0], DIELECTRIC, WIDTH_BOHR, planar,
                                                    planar).correction_eV
        gap, vbm = rng.uniform(1.0, 6.0), rng.uniform(-6.0, -3.0)
        references = {a_el: rng.uniform(-5.0, -1.0), b_el: rng.uniform(-8.0, -2.0)}
        enthalpy = rng.uniform(-3.0, -0.5)
        bulk_energy = 4 * (references[a_el] + references[b_el]) + 8 * enthalpy
        valence = vbm - np.linspace(0.0, 3.0, 16)
        levels = {"eigenvalues_eV": [[sorted([*valence, *(vbm + gap + np.linspace(0.0, 3.0, 16))])]],
                  "occupations": [[[1.0] * 16 + [0.0] * 16]], "k_weights": [1.0], "spin_degeneracy": 2,
                  "highest_occupied_eV": vbm, "lowest_unoccupied_eV": vbm + gap}
        tasks.append(_task(_labels(host, "bulk", "bulk", 0, {}, None), cell, bulk_energy, settings_hash, levels,
                           planar))
        for element, atoms in ((a_el, 1), (b_el, 2)):
            phase = Structure(Lattice.cubic(8.0), [element] * atoms, [[0, 0, 0], [0, 0, 0.15]][:atoms])
            tasks.append(_task(_labels(host, element, "competing_phase", 0, {}, None), phase,
                               atoms * references[element], settings_hash))
        for d in range(n_defects):
            removed, site = (a_el, 0) if d % 2 == 0 else (b_el, 4)
            name = f"v_{removed}_{d // 2 + 1}"
            low, high = sorted(rng.uniform(-0.3, gap + 0.3, 2))
            neutral = rng.uniform(0.5, 4.0)
            if removed == a_el:  # acceptor: ε(0/−1) = low, ε(−1/−2) = high
                at_vbm = {0: neutral, -1: neutral + low, -2: neutral + low + high}
            else:  # donor: ε(+1/0) = high, ε(+2/+1) = low
                at_vbm = {0: neutral, 1: neutral - high, 2: neutral - high - low}
            cell_defect = cell.copy()
            cell_defect.remove_sites([site])
            for charge, formation in at_vbm.items():
                energy = formation + bulk_energy - references[removed] - charge * vbm - charge**2 * lattice_energy
                tasks.append(_task(_labels(host, name, "vacancy", charge, {removed: -1}, 4), cell_defect, energy,
                                   settings_hash, planar=planar))
            truth[(host, name)] = at_vbm
        hosts.append({"name": host, "dielectric_constant": DIELECTRIC})
    campaign = {"name": "benchmark", "sha256": "benchmark", "submitted_at": _now(), "campaign": {
        "hosts": hosts, "formation": {"gaussian_width_bohr": WIDTH_BOHR, "chemical_potentials": {},
                                      "temperature_K": 300.0}}}
    return tasks, campaign, truth


def recompute(store, documents: list[dict]) -> None:
    """Store the documents again with a new completion time, as a rerun job would (same uuid and index)."""
    store.update([{**doc, "completed_at": _now()} for doc in documents], key=["uuid", "index"])


def build(settings: StorageSettings) -> tuple[list[tuple[str, int, float]], float]:
    """((builder, items, seconds) of one pass of the chain, peak resident memory of the build in MB), in a new
    process as each `defectscreen build` runs: no cache of an earlier build (or of the generation) helps it."""
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        return pool.apply(_build, (settings,))


def _build(settings: StorageSettings) -> tuple[list[tuple[str, int, float]], float]:
    rows = []
    for builder in builder_chain(settings):
        start = time.perf_counter()
        builder.connect()
        items = 0
        batch = []
        for item in builder.get_items():
            items += 1
            batch.append(builder.process_item(item))
            if len(batch) == builder.chunk_size:
                builder.update_targets([doc for doc in batch if doc is not None])
                batch = []
        builder.update_targets([doc for doc in batch if doc is not None])
        builder.finalize()
        rows.append((type(builder).__name__, items, time.perf_counter() - start))
    return rows, _peak_resident_MB()


def _peak_resident_MB() -> float:
    """This process's peak resident memory since it started (VmHWM; getrusage counts the parent's from before the
    process was spawned)."""
    status = Path("/proc/self/status").read_text()
    return int(next(line for line in status.splitlines() if line.startswith("VmHWM")).split()[1]) / 1024


def report(title: str, build_result: tuple[list[tuple[str, int, float]], float]) -> None:
    rows, peak_MB = build_result
    print(f"\n{title} (peak memory {peak_MB:.0f} MB)")
    for name, items, seconds in rows:
        rate = f"{items / seconds:8.1f} documents/s" if items else "      (nothing to build)"
        print(f"  {name:24s} {items:7d} items {seconds:8.2f} s {rate}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", type=int, default=100)
    parser.add_argument("--defects", type=int, default=100, help="defects per host (3 charge states each)")
    parser.add_argument("--queries", type=int, default=30, help="repetitions per query")
    parser.add_argument("--planar-potentials", action="store_true",
                        help="cells with planar-averaged potentials: the Freysoldt correction with its alignment")
    parser.add_argument("--mongo-uri", help="a MongoDB server (empty database) instead of the embedded store")
    args = parser.parse_args()
    rng = np.random.default_rng(7)
    with tempfile.TemporaryDirectory() as folder:
        settings = StorageSettings(data_dir=Path(folder), mongo_uri=args.mongo_uri,
                                   mongo_database=f"builder_throughput_{uuid.uuid4().hex[:8]}")
        print(f"store: {settings.mode}")
        start = time.perf_counter()
        tasks, campaign, truth = generate(args.hosts, args.defects, rng, args.planar_potentials)
        store = settings.job_store().docs_store
        store.connect()
        store.update(tasks, key=["uuid", "index"])
        campaigns = settings.collection("campaigns", COLLECTIONS["campaigns"])
        campaigns.connect()
        campaigns.update([campaign], key="name")
        print(f"generated and stored {len(tasks)} task documents ({args.hosts} hosts x {args.defects} defects x 3 "
              f"charges) in {time.perf_counter() - start:.1f} s")
        touched = rng.choice(len(tasks), size=len(tasks) // 100, replace=False)
        spread = [tasks[i] for i in touched if tasks[i]["output"]["labels"]["defect_type"] == "vacancy"]
        one_host = [doc for doc in tasks if doc["output"]["labels"]["host"] == "H000"
                    and doc["output"]["labels"]["defect_type"] == "vacancy"]
        del tasks  # the builders run as in `defectscreen build`, without the generated documents in memory
        gc.collect()

        report("full build", build(settings))
        summaries = settings.collection("summaries", COLLECTIONS["summaries"])
        summaries.connect()
        built = {(doc["host"], doc["defect_name"]): doc
                 for doc in summaries.query(properties=["host", "defect_name", "charge_states"])}
        errors = []
        for defect, at_vbm in truth.items():
            states = {s["charge"]: s["formation_energy_at_vbm_eV"] for s in built[defect]["charge_states"]}
            limit = next(iter(states[0]))
            shift = states[0][limit] - at_vbm[0]
            errors += [abs(states[q][limit] - shift - at_vbm[q]) for q in at_vbm]
        print(f"  {len(built)} summaries; built vs generated formation energies (common μ shift removed): "
              f"max |difference| {max(errors):.2e} eV")

        recompute(store, spread)
        report("incremental build: 1 % of the defect relaxations recomputed, spread over the hosts", build(settings))
        recompute(store, one_host)
        report("incremental build: every defect relaxation of one host recomputed", build(settings))
        report("no-op build", build(settings))

        queries = {  # name -> the criteria, made inside the timing (`query --host` expands the name first)
            "host": lambda: summary_criteria(host="H042"),
            "host, as `query` names": lambda: summary_criteria(host=with_ensemble_members(summaries, "host", "H042")),
            "deep level >= 1 eV": lambda: summary_criteria(deep_level_eV=1.0),
            "level in 0.5-1.5 eV": lambda: summary_criteria(level_window_eV=(0.5, 1.5)),
            "type + host": lambda: summary_criteria(host="H007", defect_type="vacancy"),
        }
        print(f"\nquery latency, {args.queries} repetitions ({settings.mode} store, {len(built)} summaries)")
        for name, criteria in queries.items():
            times = []
            for _ in range(args.queries):
                start = time.perf_counter()
                rows = query_summaries(summaries, criteria())
                times.append(time.perf_counter() - start)
            times.sort()
            print(f"  {name:24s} {len(rows):6d} rows  median {statistics.median(times) * 1e3:8.1f} ms  "
                  f"p95 {times[int(0.95 * (len(times) - 1))] * 1e3:8.1f} ms")
        start = time.perf_counter()
        rows = query_summaries(summaries, summary_criteria(), formation_below_eV=1.0, fermi_level_eV=0.5)
        print(f"  {'E_f(0.5 eV) < 1 eV':24s} {len(rows):6d} rows  once {(time.perf_counter() - start) * 1e3:8.1f} ms")
        print(f"\npeak resident memory of this process (generation, queries): "
              f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")


if __name__ == "__main__":
    main()

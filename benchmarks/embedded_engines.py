"""Embedded document databases side by side on the JobStore's workload: the indexed SQLite store that holds the
task documents (``storage.document_store``), the LaunchPad's engine (``storage.embedded_mongo``: mongomock in
memory, SQLite file, one lock per operation) and, where montydb is installed (``pip install montydb``), maggma's
MontyStore on SQLite, which held them before.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/embedded_engines.py [--hosts 100] [--defects 100]

Same generated task documents as benchmarks/builder_throughput.py. Per engine: bulk insert, opening the
database in a fresh process (what every worker and CLI command pays), the builders' header scan (relaxed defect
tasks, a few fields), one uuid lookup, and the fresh process's peak memory.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from builder_throughput import generate  # the sibling benchmark script

PROBE = r"""
import json, resource, sys, time
start = time.perf_counter()
engine, path, uuid = sys.argv[1:4]
if engine == "document_store":
    from defectscreen.storage.document_store import SQLiteDocumentStore
    collection = SQLiteDocumentStore("outputs", path, key="uuid")
    collection.connect()
    collection.find = lambda criteria, properties: collection.query(criteria, properties)
    collection.find_one = collection.query_one
elif engine == "montydb":
    from maggma.stores import MontyStore
    store = MontyStore("outputs", database_path=path, storage="sqlite")
    store.connect()
    collection = store._collection
else:
    from defectscreen.storage.embedded_mongo import EmbeddedMongoClient
    collection = EmbeddedMongoClient(path)["jobstore"]["outputs"]
collection.find_one({"uuid": "none"})
opened = time.perf_counter() - start
start = time.perf_counter()
rows = list(collection.find({"output.task_label": "relax", "output.converged": True,
                              "output.labels.defect_type": {"$nin": ["bulk", "competing_phase"]}},
                             {"uuid": 1, "completed_at": 1, "output.labels": 1, "output.energy_eV": 1}))
scan = time.perf_counter() - start
start = time.perf_counter()
found = collection.find_one({"uuid": uuid})
lookup = time.perf_counter() - start
print(json.dumps({"open_s": opened, "scan_s": scan, "rows": len(rows), "lookup_s": lookup, "found": found is not None,
                  "peak_rss_MB": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def fill(engine: str, path: Path, tasks: list[dict]) -> float:
    """Seconds to insert every task document in one bulk insert."""
    start = time.perf_counter()
    if engine == "document_store":
        from defectscreen.storage.document_store import SQLiteDocumentStore
        from defectscreen.storage.settings import TASK_INDEXES

        store = SQLiteDocumentStore("outputs", str(path), key="uuid")
        store.connect()
        for field in TASK_INDEXES:
            store.ensure_index(field)
        store.update([dict(t) for t in tasks], key=["uuid", "index"])
    elif engine == "montydb":
        from maggma.stores import MontyStore

        store = MontyStore("outputs", database_path=str(path), storage="sqlite")
        store.connect()
        store._collection.insert_many([dict(t) for t in tasks])
    else:
        from defectscreen.storage.embedded_mongo import EmbeddedMongoClient

        EmbeddedMongoClient(str(path))["jobstore"]["outputs"].insert_many([dict(t) for t in tasks])
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", type=int, default=100)
    parser.add_argument("--defects", type=int, default=100, help="defects per host (3 charge states each)")
    args = parser.parse_args()
    tasks, _, _ = generate(args.hosts, args.defects, np.random.default_rng(7))
    print(f"{len(tasks)} task documents ({args.hosts} hosts x {args.defects} defects x 3 charges)")
    print(f"{'engine':16s} {'insert s':>9s} {'open s':>8s} {'scan s':>8s} {'rows':>6s} {'lookup ms':>10s} "
          f"{'peak MB':>8s}")
    with tempfile.TemporaryDirectory() as folder:
        engines = [("document_store", Path(folder) / "jobstore.sqlite"), ("embedded_mongo", Path(folder) / "lp.sqlite")]
        if importlib.util.find_spec("montydb") is not None:
            engines.append(("montydb", Path(folder) / "monty"))
        for engine, path in engines:
            inserted = fill(engine, path, tasks)
            probe = subprocess.run([sys.executable, "-c", PROBE, engine, str(path), tasks[-1]["uuid"]],
                                   capture_output=True, text=True, check=True)
            result = json.loads(probe.stdout.strip().splitlines()[-1])
            print(f"{engine:16s} {inserted:9.1f} {result['open_s']:8.2f} {result['scan_s']:8.2f} {result['rows']:6d} "
                  f"{1e3 * result['lookup_s']:10.1f} {result['peak_rss_MB']:8.0f}")


if __name__ == "__main__":
    main()

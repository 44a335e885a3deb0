"""The LaunchPad at scale: 10^4 queued jobs, their submission, `status`, and what FireWorks costs per job.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/launchpad_overhead.py [--jobs 10000] [--run 200]
        [--mongo-uri mongodb://127.0.0.1:27017]

Queues ``--jobs`` no-op jobflow jobs as 100-job workflows (a campaign makes one workflow per host), times the
submission and the `status` summary over the full queue, then runs ``--run``/2 and ``--run`` of them with one worker
process (the slope between the two is the cost per job, the rest the worker's start-up) and ``--run`` more with two
workers side by side, all from the full queue. Each job does nothing, so what is measured is the LaunchPad's
overhead per job (checkout, launch bookkeeping, JobStore write, workflow refresh). Runs on a fresh embedded store,
or on an empty database of the MongoDB server ``--mongo-uri``.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from jobflow import Flow, job
from jobflow.managers.fireworks import flow_to_workflow

from defectscreen.storage import StorageSettings
from defectscreen.storage.progress import host_progress

WORKFLOW_SIZE = 100


@job
def noop(index: int) -> int:
    """A job that does nothing: what it costs is FireWorks' and the JobStore's overhead."""
    return index


def submit(settings: StorageSettings, n_jobs: int) -> float:
    """Seconds to add ``n_jobs`` no-op jobs as workflows of WORKFLOW_SIZE, each named like a host's."""
    from launchpad_overhead import noop as importable  # workers import the job from this module, not __main__

    launchpad = settings.launchpad()
    start = time.perf_counter()
    for first in range(0, n_jobs, WORKFLOW_SIZE):
        host = f"H{first // WORKFLOW_SIZE:03d}"
        workflow = flow_to_workflow(Flow([importable(i) for i in range(first, min(first + WORKFLOW_SIZE, n_jobs))],
                                         name=host))
        for firework in workflow.fws:
            firework.spec["defectscreen"] = {"host": host}
        launchpad.add_wf(workflow)
    return time.perf_counter() - start


def run_workers(environment: dict, n_workers: int, jobs_each: int) -> float:
    """Seconds for ``n_workers`` worker processes started together to run ``jobs_each`` jobs each."""
    command = [sys.executable, "-m", "defectscreen.cli", "worker", "--max-jobs", str(jobs_each)]
    start = time.perf_counter()
    workers = [subprocess.Popen(command, env=environment, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
               for _ in range(n_workers)]
    if any(worker.wait() for worker in workers):
        raise RuntimeError("a worker failed; see <data dir>/logs")
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=10_000)
    parser.add_argument("--run", type=int, default=200, help="jobs run by one worker, then by two")
    parser.add_argument("--mongo-uri", help="an empty MongoDB server instead of the embedded store")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        database = f"launchpad_overhead_{uuid.uuid4().hex[:8]}"
        settings = StorageSettings(data_dir=Path(folder), mongo_uri=args.mongo_uri, mongo_database=database)
        environment = {**os.environ, "DEFECTSCREEN_DATA_DIR": folder, "DEFECTSCREEN_MONGO_DB": database,
                       "PYTHONPATH": os.pathsep.join([str(Path(__file__).parent), os.environ.get("PYTHONPATH", "")])}
        if args.mongo_uri:
            environment["DEFECTSCREEN_MONGO_URI"] = args.mongo_uri
        else:
            environment.pop("DEFECTSCREEN_MONGO_URI", None)
        print(f"store: {settings.mode}; {args.jobs} no-op jobs in workflows of {WORKFLOW_SIZE}")
        seconds = submit(settings, args.jobs)
        print(f"  submission                 {seconds:8.1f} s   {seconds / args.jobs * 1e3:7.2f} ms/job")
        start = time.perf_counter()
        progress = host_progress(settings.launchpad())
        print(f"  status over the queue      {time.perf_counter() - start:8.2f} s   ({len(progress)} hosts)")
        half = run_workers(environment, 1, args.run // 2)
        one = run_workers(environment, 1, args.run)
        per_job = (one - half) / (args.run - args.run // 2)
        print(f"  1 worker:  {args.run // 2:5d} jobs {half:6.1f} s, {args.run:5d} jobs {one:6.1f} s  ->  "
              f"{per_job * 1e3:6.1f} ms per job, {one - args.run * per_job:5.1f} s worker start-up")
        two = run_workers(environment, 2, args.run // 2)
        startup = one - args.run * per_job
        print(f"  2 workers: {args.run:5d} jobs {two:6.1f} s  ->  {(two - startup) / args.run * 1e3:6.1f} ms per job "
              f"after start-up (x{one / two:.2f} the rate of one worker)")


if __name__ == "__main__":
    main()

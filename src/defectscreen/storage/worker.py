"""A worker: rerun lost jobs, then run READY jobs with FireWorks' rapidfire until none is left."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from pathlib import Path

import jobflow
from fireworks import FWorker, LaunchPad
from fireworks.core.rocket_launcher import rapidfire
from jobflow import JobStore

from defectscreen.defaults import DEFAULT_LOST_AFTER_S
from defectscreen.storage.launchpad import JOB_UUID
from defectscreen.storage.settings import StorageSettings


def recover_lost_runs(launchpad: LaunchPad, lost_after_s: float, job_store: JobStore | None = None) -> list[int]:
    """Mark jobs whose worker stopped pinging ``lost_after_s`` ago as lost and make them READY.

    A running job pings every 60 s (FW_config.yaml), so a live job is never taken for lost
    when ``lost_after_s`` is well above that. A job whose worker died between storing its finished run and updating
    the job itself (a link cut or a kill in that instant) is finished from its run's state (FireWorks' refresh), so
    the jobs waiting on it are released instead of waiting for ever; a job claimed but never started (the worker died
    in between) goes back in the queue too; and a job whose worker died while FireWorks added the jobs it made (a
    search's relaxations) runs again (:func:`_rerun_unrecorded_additions`, with ``job_store``).
    """
    _, lost_fw_ids, _ = launchpad.detect_lostruns(expiration_secs=lost_after_s, rerun=True, refresh=True)
    unrecorded = _rerun_unrecorded_additions(launchpad, job_store, lost_after_s) if job_store is not None else []
    return lost_fw_ids + _release_stale_claims(launchpad, lost_after_s) + unrecorded


def _rerun_unrecorded_additions(launchpad: LaunchPad, job_store: JobStore, older_than_s: float) -> list[int]:
    """Run again each finished job whose worker died while FireWorks added the jobs it made: FireWorks inserts them,
    then records them in the workflow, so a kill in between leaves jobs no workflow holds — never released, and
    fatal to the worker that claims one. Those jobs (added ``older_than_s`` ago or earlier; each names the job that
    made it in ``made_by``, or is jobflow's ``store_inputs`` under that job's own uuid) are deleted with their runs and
    any output they stored, and the job that made them is rerun, which makes them again. Returns the rerun jobs'
    ids."""
    recorded = {fw_id for workflow in launchpad.workflows.find({}, {"nodes": 1}) for fw_id in workflow["nodes"]}
    outside = sorted({fw["fw_id"] for fw in launchpad.fireworks.find({}, {"fw_id": 1})} - recorded)
    if not outside:
        return []
    cutoff = datetime.now(timezone.utc) - timedelta(seconds=older_than_s)
    unrecorded = [fw for fw in launchpad.fireworks.find(
        {"fw_id": {"$in": outside}}, {"fw_id": 1, "created_on": 1, "launches": 1, "spec.made_by": 1,
                                      "spec._tasks.job.uuid": 1, "spec._tasks.job.index": 1})
        if _as_utc(fw["created_on"]) <= cutoff]
    jobs = [fw["spec"]["_tasks"][0]["job"] for fw in unrecorded]
    makers = {uuid for fw, job in zip(unrecorded, jobs) for uuid in [*fw["spec"].get("made_by", []), job["uuid"]]}
    rerun = sorted(fw["fw_id"] for fw in launchpad.fireworks.find(
        {JOB_UUID: {"$in": sorted(makers)}, "state": "COMPLETED"}, {"fw_id": 1}) if fw["fw_id"] in recorded)
    if not rerun:
        return []
    job_store.connect()
    for job in jobs:
        job_store.remove_docs({"uuid": job["uuid"], "index": job["index"]})
    launchpad.launches.delete_many({"launch_id": {"$in": [i for fw in unrecorded for i in fw["launches"]]}})
    launchpad.fireworks.delete_many({"fw_id": {"$in": [fw["fw_id"] for fw in unrecorded]}})
    for fw_id in rerun:
        launchpad.rerun_fw(fw_id)
    return rerun


def _as_utc(moment: datetime | str) -> datetime:
    """A FireWorks timestamp (a datetime, or its text in the embedded store) as an aware UTC datetime."""
    moment = datetime.fromisoformat(moment) if isinstance(moment, str) else moment
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=timezone.utc)


def _release_stale_claims(launchpad: LaunchPad, claimed_before_s: float) -> list[int]:
    """Put back in the queue the jobs a worker claimed (RESERVED) ``claimed_before_s`` ago without starting them: it
    died between claiming a job and recording its run, which leaves no running run for FireWorks' lost-run check. A
    queue reservation (a RESERVED run, FireWorks' ``detect_unreserved``) is left alone."""
    cutoff = datetime.now(timezone.utc) - timedelta(seconds=claimed_before_s)
    claimed = launchpad.fireworks.find({"state": "RESERVED", "updated_on": {"$lte": cutoff}}, {"fw_id": 1, "launches": 1})
    stale = [fw["fw_id"] for fw in claimed
             if not launchpad.launches.count_documents({"launch_id": {"$in": fw["launches"]}, "state": "RESERVED"})]
    for fw_id in stale:
        launchpad.rerun_fw(fw_id)
    return stale


def rerun_failed_jobs(launchpad: LaunchPad, host: str | None = None) -> list[int]:
    """Put the failed jobs (of ``host``, as ``defectscreen status`` names hosts) back in the queue: each runs again
    from its stored inputs, after what made it fail was fixed (a node that died, a walltime, memory); the failed
    attempt stays on record in its launch. Jobs that depend on it wait for it as before."""
    failed = [fw["fw_id"] for fw in launchpad.fireworks.find({"state": "FIZZLED"}, {"fw_id": 1,
                                                                                    "spec.defectscreen.host": 1})
              if host is None or fw.get("spec", {}).get("defectscreen", {}).get("host") == host]
    for fw_id in failed:
        launchpad.rerun_fw(fw_id)
    return failed


def worker_log(settings: StorageSettings) -> Path:
    """Where this worker process writes what its jobs print: FireWorks' and jobflow's logs, engines' output and the
    traceback of every failed job."""
    return settings.data_dir / "logs" / f"worker-{socket.gethostname()}-{os.getpid()}.log"


@contextmanager
def output_to(path: Path) -> Iterator[Path]:
    """Point file descriptors 1 and 2 (Python's and compiled engines' output alike) at ``path`` while jobs run;
    the console keeps only what the command itself prints before and after."""
    path.parent.mkdir(parents=True, exist_ok=True)
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    with open(path, "a") as log:
        os.dup2(log.fileno(), 1)
        os.dup2(log.fileno(), 2)
        try:
            yield path
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            for fd, original in zip((1, 2), saved):
                os.dup2(original, fd)
                os.close(original)


def run_worker(
    settings: StorageSettings,
    max_jobs: int = 0,
    lost_after_s: float = DEFAULT_LOST_AFTER_S,
    wait_for_jobs_s: float | None = None,
) -> list[int]:
    """Run jobs in this process; returns the ids of lost jobs put back in the queue first.

    ``max_jobs`` 0 runs until no job is READY or will become so; N stops after N jobs or as soon as none is READY
    (one pass of FireWorks' rapidfire: asked for N launches alone, it sleeps until the N-th comes).
    ``wait_for_jobs_s`` keeps polling for new jobs (for long-lived workers); None stops as soon as the queue is
    empty. What the jobs print goes to :func:`worker_log`, not the console.
    """
    launchpad = settings.launchpad()
    jobflow.SETTINGS.JOB_STORE = settings.job_store()
    recovered = recover_lost_runs(launchpad, lost_after_s, jobflow.SETTINGS.JOB_STORE)
    with output_to(worker_log(settings)):
        rapidfire(
            launchpad,
            FWorker(name=socket.gethostname()),
            m_dir=str(settings.launch_dir),
            nlaunches=max_jobs if wait_for_jobs_s is None else (max_jobs or "infinite"),
            max_loops=1 if max_jobs and wait_for_jobs_s is None else -1,
            sleep_time=wait_for_jobs_s or 1,
            strm_lvl="WARNING",
        )
    return recovered


def start_workers(count: int) -> list[subprocess.Popen]:
    """``count`` more ``defectscreen worker`` processes on this machine, each its own FireWorks worker claiming jobs
    from the same LaunchPad (the store settings travel in the environment and the working folder). Their consoles
    are discarded: each writes what its jobs print to its own :func:`worker_log`."""
    return [subprocess.Popen([sys.executable, "-m", "defectscreen.cli", "worker"], stdin=subprocess.DEVNULL,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for _ in range(count)]

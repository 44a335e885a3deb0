"""A worker: rerun lost jobs, then run READY jobs with FireWorks' rapidfire until none is left."""

from __future__ import annotations

import socket

import jobflow
from fireworks import FWorker, LaunchPad
from fireworks.core.rocket_launcher import rapidfire

from defectscreen.storage.settings import StorageSettings

DEFAULT_LOST_AFTER_S = 600


def recover_lost_runs(launchpad: LaunchPad, lost_after_s: float) -> list[int]:
    """Mark jobs whose worker stopped pinging ``lost_after_s`` ago as lost and make them READY.

    A running job pings every 60 s (FW_config.yaml), so a live job is never taken for lost
    when ``lost_after_s`` is well above that.
    """
    _, lost_fw_ids, _ = launchpad.detect_lostruns(expiration_secs=lost_after_s, rerun=True)
    return lost_fw_ids


def run_worker(
    settings: StorageSettings,
    max_jobs: int = 0,
    lost_after_s: float = DEFAULT_LOST_AFTER_S,
    wait_for_jobs_s: float | None = None,
) -> list[int]:
    """Run jobs in this process; returns the ids of lost jobs put back in the queue first.

    ``max_jobs`` 0 runs until no job is READY. ``wait_for_jobs_s`` keeps polling for new jobs
    (for long-lived workers); None stops as soon as the queue is empty.
    """
    launchpad = settings.launchpad()
    recovered = recover_lost_runs(launchpad, lost_after_s)
    jobflow.SETTINGS.JOB_STORE = settings.job_store()
    rapidfire(
        launchpad,
        FWorker(name=socket.gethostname()),
        m_dir=str(settings.launch_dir),
        nlaunches=max_jobs if wait_for_jobs_s is None else (max_jobs or "infinite"),
        sleep_time=wait_for_jobs_s or 1,
        strm_lvl="WARNING",
    )
    return recovered

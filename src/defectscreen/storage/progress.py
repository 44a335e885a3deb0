"""What the LaunchPad holds: job counts per host and state, and why failed jobs failed."""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from dataclasses import dataclass

from fireworks import LaunchPad

from defectscreen.storage.launchpad import DROPPED


@dataclass(frozen=True)
class Failure:
    calculation_id: str
    job_name: str
    reason: str
    job_dir: str | None = None


def host_progress(launchpad: LaunchPad) -> dict[str, Counter]:
    """host -> Counter of states: waiting, running, done, failed, dropped (paused by a submission as superseded)."""
    progress: dict[str, Counter] = defaultdict(Counter)
    tags_read = {"state": 1, "spec.defectscreen.host": 1, f"spec.defectscreen.{DROPPED}": 1}
    for fw in launchpad.fireworks.find({}, tags_read):
        tags = fw.get("spec", {}).get("defectscreen", {})
        state = fw["state"]
        progress[tags.get("host", "(other)")][
            "done" if state == "COMPLETED"
            else "failed" if state == "FIZZLED"
            else "running" if state == "RUNNING"
            else "dropped" if state == "PAUSED" and tags.get(DROPPED)
            else "waiting"
        ] += 1
    return dict(sorted(progress.items()))


def completed_jobs_by_kind(launchpad: LaunchPad) -> Counter:
    """Finished jobs per kind, the first word of the job's name (relax, ccd, phonons, ...)."""
    return Counter(fw["name"].split()[0] for fw in launchpad.fireworks.find({"state": "COMPLETED"}, {"name": 1}))


#: the longest failure reason printed; the whole trace stays in the job's log and the LaunchPad.
MAX_REASON_CHARACTERS = 300
_EXCEPTION_LINE = re.compile(r"^[A-Za-z_][\w.]*(Error|Exception|Exit|Interrupt)\b")


def failure_reason(trace: str) -> str:
    """The line of a Python trace that names the exception (its message may span many lines: the last such
    line), cut to MAX_REASON_CHARACTERS."""
    lines = trace.strip().splitlines() or ["no error recorded"]
    reason = next((line for line in reversed(lines) if _EXCEPTION_LINE.match(line)), lines[-1])
    return reason if len(reason) <= MAX_REASON_CHARACTERS else reason[:MAX_REASON_CHARACTERS] + " …"


@dataclass(frozen=True)
class FinishedJob:
    launch_id: int
    job_name: str
    failed: bool
    runtime_s: float | None
    reason: str | None  # why it failed


def launch_failure_reason(launch: dict | None) -> str:
    """The exception line of a failed launch document (FireWorks keeps the trace in its stored data)."""
    stored = ((launch or {}).get("action") or {}).get("stored_data", {})
    return failure_reason(stored.get("_exception", {}).get("_stacktrace", "no error recorded"))


ENDED = {"state": {"$in": ["COMPLETED", "FIZZLED"]}}


def finished_jobs(launchpad: LaunchPad, known: set[int]) -> list[FinishedJob]:
    """Runs that ended (done or failed) whose launch id is not in ``known``, in the order they were started. Only
    the ids of all ended runs are read; the new ones' documents after that."""
    new = sorted(launch["launch_id"] for launch in launchpad.launches.find(ENDED, {"launch_id": 1})
                 if launch["launch_id"] not in known)
    if not new:
        return []
    launches = list(launchpad.launches.find(
        {"launch_id": {"$in": new}}, {"launch_id": 1, "fw_id": 1, "state": 1, "runtime_secs": 1,
                                      "action.stored_data._exception._stacktrace": 1}, sort=[("launch_id", 1)]))
    names = {fw["fw_id"]: fw["name"] for fw in launchpad.fireworks.find(
        {"fw_id": {"$in": [launch["fw_id"] for launch in launches]}}, {"fw_id": 1, "name": 1})}
    return [FinishedJob(launch["launch_id"], names.get(launch["fw_id"], "?"), launch["state"] == "FIZZLED",
                        launch.get("runtime_secs"),
                        launch_failure_reason(launch) if launch["state"] == "FIZZLED" else None)
            for launch in launches]


def failures(launchpad: LaunchPad) -> list[Failure]:
    """Failed jobs with the last line of their error (e.g. an unconverged SCF)."""
    result = []
    for fw in launchpad.fireworks.find({"state": "FIZZLED"}, {"fw_id": 1, "name": 1, "spec.defectscreen": 1}):
        launch = launchpad.launches.find_one(
            {"fw_id": fw["fw_id"], "state": "FIZZLED"}, sort=[("launch_id", -1)]
        )
        reason = launch_failure_reason(launch)
        calculation_id = fw.get("spec", {}).get("defectscreen", {}).get("calculation_id", "?")
        result.append(Failure(calculation_id, fw["name"], reason, (launch or {}).get("launch_dir")))
    return result

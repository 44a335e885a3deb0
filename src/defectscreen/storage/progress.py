"""What the LaunchPad holds: job counts per host and state, and why failed jobs failed."""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from dataclasses import dataclass

from fireworks import LaunchPad

WAITING_STATES = ("WAITING", "READY", "RESERVED", "PAUSED", "DEFUSED")


@dataclass(frozen=True)
class Failure:
    calculation_id: str
    job_name: str
    reason: str
    job_dir: str | None = None


def host_progress(launchpad: LaunchPad) -> dict[str, Counter]:
    """host -> Counter of states: waiting, running, done, failed."""
    progress: dict[str, Counter] = defaultdict(Counter)
    for fw in launchpad.fireworks.find({}, {"state": 1, "spec.defectscreen.host": 1}):
        host = fw.get("spec", {}).get("defectscreen", {}).get("host", "(other)")
        state = fw["state"]
        progress[host][
            "done" if state == "COMPLETED"
            else "failed" if state == "FIZZLED"
            else "running" if state == "RUNNING"
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


def failures(launchpad: LaunchPad) -> list[Failure]:
    """Failed jobs with the last line of their error (e.g. an unconverged SCF)."""
    result = []
    for fw in launchpad.fireworks.find({"state": "FIZZLED"}, {"fw_id": 1, "name": 1, "spec.defectscreen": 1}):
        launch = launchpad.launches.find_one(
            {"fw_id": fw["fw_id"], "state": "FIZZLED"}, sort=[("launch_id", -1)]
        )
        stored = (launch or {}).get("action", {}).get("stored_data", {})
        reason = failure_reason(stored.get("_exception", {}).get("_stacktrace", "no error recorded"))
        calculation_id = fw.get("spec", {}).get("defectscreen", {}).get("calculation_id", "?")
        result.append(Failure(calculation_id, fw["name"], reason, (launch or {}).get("launch_dir")))
    return result

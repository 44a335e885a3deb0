"""What the LaunchPad knows of a job: its task key (resubmission adds only missing keys) and the host, cell and
campaign it belongs to (``defectscreen status`` counts by host), kept in the FireWorks spec under 'defectscreen'."""

from __future__ import annotations

from jobflow import Job


def task_key(calculation_id: str, task_label: str, settings_hash: str) -> str:
    """Identity of one calculation: same cell, same task, same settings."""
    return f"{calculation_id}|{task_label}|{settings_hash[:16]}"


def split_task_key(key: str) -> tuple[str, str, str]:
    """(calculation id, task label, settings hash prefix) of a task key."""
    calculation_id, task_label, settings_hash = key.split("|")
    return calculation_id, task_label, settings_hash


def job_name(key: str) -> str:
    """The name of a task key's job: 'relax Si:v_Si:0' (task label, calculation id)."""
    calculation_id, task_label, _ = split_task_key(key)
    return f"{task_label} {calculation_id}"


def tag_job(job: Job, key: str, host: str, calculation_id: str, campaign: str, cell_sha256: str | None = None) -> Job:
    """Put the task key and its host, cell and campaign into the job's FireWorks spec, and the SHA-256 of the cell
    the id stands for when the job is made at submission (a task key holds the id, not the structure)."""
    tags = {"key": key, "host": host, "calculation_id": calculation_id, "campaign": campaign}
    if cell_sha256 is not None:
        tags["cell_sha256"] = cell_sha256
    job.update_config({"manager_config": {"defectscreen": tags}})
    return job

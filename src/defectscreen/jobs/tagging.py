"""What the LaunchPad knows of a job: its task key (resubmission adds only missing keys) and the host, cell and
campaign it belongs to (``defectscreen status`` counts by host), kept in the FireWorks spec under 'defectscreen'."""

from __future__ import annotations

from jobflow import Job


def task_key(calculation_id: str, task_label: str, settings_hash: str) -> str:
    """Identity of one calculation: same cell, same task, same settings."""
    return f"{calculation_id}|{task_label}|{settings_hash[:16]}"


def tag_job(job: Job, key: str, host: str, calculation_id: str, campaign: str) -> Job:
    """Put the task key and its host, cell and campaign into the job's FireWorks spec."""
    job.update_config({"manager_config": {"defectscreen": {
        "key": key, "host": host, "calculation_id": calculation_id, "campaign": campaign}}})
    return job

"""Task key -> the output of that task: a job already on the LaunchPad (read by its uuid), one made earlier in this
submission, or a new job (made once). Every job of a campaign is made through one registry, so the keys a
submission adds and those it finds already submitted both come from the steps' own calls."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from jobflow import Job, OutputReference

from defectscreen.jobs.tagging import tag_job, task_key


@dataclass
class TaskRegistry:
    """``submitted``: task key -> jobflow uuid of every job already on the LaunchPad."""

    campaign: str
    submitted: dict[str, str] = field(default_factory=dict)
    made: dict[str, Job] = field(default_factory=dict)
    reused: set[str] = field(default_factory=set)
    new_jobs: list[Job] = field(default_factory=list)

    def output(self, host: str, cell_id: str, task_label: str, settings_hash: str,
               make: Callable[[], Job]) -> OutputReference:
        """The output of task ``task_label`` of cell (or pair) ``cell_id`` under these settings: ``make()`` is
        called only when no job has that key yet."""
        key = task_key(cell_id, task_label, settings_hash)
        if key in self.submitted:
            self.reused.add(key)
            return OutputReference(self.submitted[key])
        if key not in self.made:
            job = make()
            job.name = f"{task_label} {cell_id}"
            self.made[key] = tag_job(job, key, host, cell_id, self.campaign)
            self.new_jobs.append(job)
        return self.made[key].output

    def take_new_jobs(self) -> list[Job]:
        """The jobs made since the last call (one host's flow)."""
        new, self.new_jobs = self.new_jobs, []
        return new

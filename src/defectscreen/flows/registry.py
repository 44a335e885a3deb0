"""Task key -> the output of that task: a job already on the LaunchPad (read by its uuid), one made earlier in this
submission, or a new job (made once). Every job of a campaign is made through one registry, so the keys a
submission adds and those it finds already submitted both come from the steps' own calls."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from jobflow import Job, OutputReference

from defectscreen.jobs.tagging import job_name, tag_job, task_key


class CellConflictError(ValueError):
    """A task key on the LaunchPad was made for another structure under the same cell id."""


@dataclass(frozen=True)
class SubmittedTask:
    """A job already on the LaunchPad: its jobflow uuid, the campaign that added it, the SHA-256 of its cell (None
    where it was added without one), its Firework, the Fireworks under its key that have not started (itself, or the
    jobs it added when it ran: a search's relaxations), and whether a submission dropped any of them (paused them as
    superseded)."""

    uuid: str
    campaign: str
    cell_sha256: str | None = None
    fw_id: int | None = None
    queued: tuple[int, ...] = ()
    dropped: bool = False


@dataclass
class TaskRegistry:
    """``submitted``: task key -> every job already on the LaunchPad; ``cells``: cell id -> SHA-256 of the cell
    this submission means by it (a task key on the LaunchPad for another structure is refused, not reused);
    ``full_search_candidates``: (cell id, settings hash prefix) -> candidate name -> uuid of each completed
    reference relaxation a full search made."""

    campaign: str
    submitted: dict[str, SubmittedTask] = field(default_factory=dict)
    cells: dict[str, str] = field(default_factory=dict)
    made: dict[str, Job] = field(default_factory=dict)
    reused: set[str] = field(default_factory=set)
    new_jobs: list[Job] = field(default_factory=list)
    full_search_candidates: dict[tuple[str, str], dict[str, str]] = field(default_factory=dict)

    def output(self, host: str, cell_id: str, task_label: str, settings_hash: str,
               make: Callable[[], Job]) -> OutputReference:
        """The output of task ``task_label`` of cell (or pair) ``cell_id`` under these settings: ``make()`` is
        called only when no job has that key yet."""
        key = task_key(cell_id, task_label, settings_hash)
        if key in self.submitted:
            self._same_cell(cell_id, task_label, self.submitted[key])
            self.reused.add(key)
            return OutputReference(self.submitted[key].uuid)
        if key not in self.made:
            job = make()
            job.name = job_name(key)
            self.made[key] = tag_job(job, key, host, cell_id, self.campaign, self.cells.get(cell_id))
            self.new_jobs.append(job)
        return self.made[key].output

    def relaxed_full_search_candidates(self, cell_id: str, settings_hash: str) -> dict[str, OutputReference]:
        """Candidate name -> the output of the completed reference relaxation of that candidate of cell ``cell_id``
        that a full search (of any grid) made under these engine and relaxation settings."""
        return {name: OutputReference(uuid)
                for name, uuid in sorted(self.full_search_candidates.get((cell_id, settings_hash[:16]), {}).items())}

    def _same_cell(self, cell_id: str, task_label: str, submitted: SubmittedTask) -> None:
        mine = self.cells.get(cell_id)
        if mine is None or submitted.cell_sha256 is None or mine == submitted.cell_sha256:
            return
        host = cell_id.split(":")[0]
        raise CellConflictError(
            f"{cell_id}: the LaunchPad holds its {task_label} from campaign '{submitted.campaign}' for another cell "
            f"(supercell, lattice or defect site differ), and a cell id names one structure in a store: give the host "
            f"another name in hosts (e.g. {host}-large), or submit to another data directory or database")

    def take_new_jobs(self) -> list[Job]:
        """The jobs made since the last call (one host's flow)."""
        new, self.new_jobs = self.new_jobs, []
        return new

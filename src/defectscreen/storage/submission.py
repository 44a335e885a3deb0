"""Submit a campaign to the LaunchPad: only the calculations not already there."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import networkx as nx
from fireworks import LaunchPad, Workflow
from jobflow import Flow
from jobflow.managers.fireworks import flow_to_workflow
from maggma.core import Store

from defectscreen.flows.campaign import Campaign, CampaignError
from defectscreen.flows.defect_set import build_defect_set
from defectscreen.flows.phases import competing_phase_calculations
from defectscreen.flows.registry import SubmittedTask, TaskRegistry
from defectscreen.flows.screening import HostScreeningMaker
from defectscreen.flows.steps import HostCells
from defectscreen.jobs.search import SEARCH_CANDIDATE
from defectscreen.jobs.tagging import job_name
from defectscreen.schemas.formation import FormationInputs, settings_key
from defectscreen.storage.glasses import glass_structures
from defectscreen.storage.launchpad import DROPPED, JOB_UUID
from defectscreen.storage.training_family import stored_training_family

#: states of a job that has not started
QUEUED_STATES = ("WAITING", "READY", "RESERVED")

#: FireWorks priority of the competing phases: small cells that every formation energy needs, run before the defect
#: cells (FireWorks runs READY jobs by priority, then in the order they were added), so formation energies can be built
#: as the defects finish
PHASE_PRIORITY = 10


@dataclass(frozen=True)
class SubmissionReport:
    new_jobs: int
    already_submitted: int
    jobs_per_host: dict[str, int]
    settings_changes: list[str] = field(default_factory=list)
    #: queued jobs that earlier versions of the campaign added and this one does not use (job names)
    superseded: list[str] = field(default_factory=list)
    #: of those, the ones paused now (``drop_superseded``), and the ones kept: a job of another campaign waits on them
    dropped: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)
    #: jobs an earlier submission dropped that this version uses again, resumed
    resumed: list[str] = field(default_factory=list)


def submitted_keys(launchpad: LaunchPad) -> dict[str, SubmittedTask]:
    """Task key -> the job submitted under it (any state). Jobs a running job adds (a search's relaxations) carry
    its key too (jobflow passes its configuration on); the job itself is the one the registry named '<task> <cell>'."""
    named, queued, dropped = {}, defaultdict(list), set()
    for doc in launchpad.fireworks.find({"spec.defectscreen.key": {"$exists": True}},
                                        {"name": 1, "fw_id": 1, "state": 1, "spec.defectscreen": 1, JOB_UUID: 1}):
        tags = doc["spec"]["defectscreen"]
        key = tags["key"]
        if key not in named or doc["name"] == job_name(key):
            named[key] = (doc, tags)
        if doc["state"] in QUEUED_STATES:
            queued[key].append(doc["fw_id"])
        if DROPPED in tags:
            dropped.add(key)
    return {key: SubmittedTask(doc["spec"]["_tasks"][0]["job"]["uuid"], tags["campaign"], tags.get("cell_sha256"),
                               doc["fw_id"], tuple(sorted(queued[key])), key in dropped)
            for key, (doc, tags) in named.items()}


def full_search_candidates(launchpad: LaunchPad) -> dict[tuple[str, str], dict[str, str]]:
    """(cell id, settings hash prefix) -> candidate name -> uuid of each completed reference relaxation a full search
    made (its spec names it: ``jobs.search.SEARCH_CANDIDATE``)."""
    found: dict[tuple[str, str], dict[str, str]] = defaultdict(dict)
    for doc in launchpad.fireworks.find({f"spec.{SEARCH_CANDIDATE}.route": "full", "state": "COMPLETED"},
                                        {f"spec.{SEARCH_CANDIDATE}": 1, "spec.defectscreen.calculation_id": 1,
                                         JOB_UUID: 1}):
        spec = doc["spec"]
        candidate = spec[SEARCH_CANDIDATE]
        found[(spec["defectscreen"]["calculation_id"], candidate["settings_hash"])][candidate["name"]] = (
            spec["_tasks"][0]["job"]["uuid"])
    return dict(found)


def superseded_jobs(submitted: dict[str, SubmittedTask], campaign: str, used: set[str]) -> dict[str, SubmittedTask]:
    """Task key -> the job that a version of ``campaign`` added and this version does not use (``used``: the keys
    its flows asked for), where it or a job it added has not started."""
    return {key: task for key, task in submitted.items()
            if task.campaign == campaign and key not in used and task.queued}


def drop_jobs(launchpad: LaunchPad, superseded: dict[str, SubmittedTask],
              submitted: dict[str, SubmittedTask]) -> tuple[list[str], list[str]]:
    """Pause the queued jobs of each superseded task (the job itself, or the jobs it added and that have not run: a
    finished search's relaxations) with the queued jobs below them, and mark them dropped (a later submission that
    uses the task again resumes them), unless a job below is one another campaign or version uses (it waits on it:
    kept), or they all started meanwhile (kept). A superseded job below another is paused once. Returns (dropped,
    kept) job names."""
    own_jobs = {fw_id for task in superseded.values() for fw_id in task.queued}
    graph = _workflow_links(launchpad, sorted(own_jobs))
    used_elsewhere = {task.fw_id for key, task in submitted.items() if key not in superseded}
    below = {key: set().union(*(_below(graph, fw_id) for fw_id in task.queued)) for key, task in superseded.items()}
    queued = {doc["fw_id"] for doc in launchpad.fireworks.find(
        {"fw_id": {"$in": sorted(own_jobs.union(*below.values()))}, "state": {"$in": list(QUEUED_STATES)}},
        {"fw_id": 1})}
    paused: set[int] = set()
    dropped, kept = [], []
    for key, task in sorted(superseded.items(), key=lambda item: item[1].queued):
        own = set(task.queued) - paused
        if own and (below[key] & used_elsewhere or not _pause(launchpad, sorted(own & queued), paused)):
            kept.append(job_name(key))
            continue
        _pause(launchpad, sorted((below[key] & queued) - paused), paused)
        dropped.append(job_name(key))
    return sorted(dropped), sorted(kept)


def _pause(launchpad: LaunchPad, fw_ids: list[int], paused: set[int]) -> list[int]:
    """Pause these queued jobs and mark them dropped; returns (and adds to ``paused``) those paused, not the ones that
    started meanwhile."""
    done = [fw_id for fw_id in fw_ids if launchpad.pause_fw(fw_id)]
    for fw_id in done:
        launchpad.fireworks.update_one({"fw_id": fw_id}, {"$set": {f"spec.defectscreen.{DROPPED}": True}})
    paused.update(done)
    return done


def resume_jobs(launchpad: LaunchPad, tasks: list[SubmittedTask]) -> None:
    """Resume dropped jobs (and the dropped jobs paused below them) that a submission uses again."""
    graph = _workflow_links(launchpad, [task.fw_id for task in tasks])
    below = set().union(*(_below(graph, task.fw_id) for task in tasks))
    dropped_below = {doc["fw_id"] for doc in launchpad.fireworks.find(
        {"fw_id": {"$in": sorted(below)}, f"spec.defectscreen.{DROPPED}": True}, {"fw_id": 1})}
    for fw_id in sorted({task.fw_id for task in tasks} | dropped_below):
        launchpad.fireworks.update_one({"fw_id": fw_id}, {"$unset": {f"spec.defectscreen.{DROPPED}": ""}})
        launchpad.resume_fw(fw_id)


def _below(graph: nx.DiGraph, fw_id: int) -> set[int]:
    """The jobs that wait, directly or not, on ``fw_id``."""
    return nx.descendants(graph, fw_id) if fw_id in graph else set()


def _workflow_links(launchpad: LaunchPad, fw_ids: list[int]) -> nx.DiGraph:
    """Parent -> child links of the workflows holding ``fw_ids``."""
    graph = nx.DiGraph()
    for workflow in launchpad.workflows.find({"nodes": {"$in": sorted(fw_ids)}}, {"links": 1}):
        graph.add_edges_from((int(parent), child) for parent, children in workflow["links"].items()
                             for child in children)
    return graph


def _by_setting(inputs: FormationInputs) -> dict:
    """Setting name ('temperature_K', 'correction.dielectric_constant', ...) -> value."""
    values = inputs.model_dump()
    return values | {f"correction.{name}": value for name, value in values.pop("correction").items()}


def record_campaign(campaigns: Store, campaign: Campaign) -> list[str]:
    """Keep the newest submitted version of the campaign (builders build under its formation settings), keyed by
    name. Returns, per host whose formation settings differ from the version submitted before, what changed: its
    documents are built anew beside those of the earlier settings, which stay as they were."""
    campaigns.connect()
    previous = campaigns.query_one({"name": campaign.name})
    document = {"name": campaign.name, "sha256": campaign.sha256(), "campaign": campaign.model_dump(mode="json"),
                "submitted_at": datetime.now(UTC).isoformat()}
    campaigns.update([document], key="name")
    if previous is None or "formation_energy" not in campaign.properties:
        return []
    changes = []
    for host in campaign.hosts:
        inputs = [FormationInputs.from_campaign(doc, host.name) for doc in (previous, document)]
        before, after = (_by_setting(i) for i in inputs)
        changed = [f"{name} {before[name]} -> {after[name]}" for name in after if before[name] != after[name]]
        if changed:
            changes.append(f"{host.name}: {'; '.join(changed)}: formation energies and summaries are built as new "
                           f"documents (settings {settings_key(inputs[1])}); those built under the "
                           "earlier settings stay stored")
    return changes


def flows_read_each_other(flows: list[Flow]) -> bool:
    """Whether a job of one host's flow reads the output of a job new in another's (a surrogate learning from
    another host's full searches, a Hamiltonian fitted on other hosts' cells): FireWorks orders jobs only within
    one workflow, so such flows are submitted as one."""
    owner = {job.uuid: index for index, flow in enumerate(flows) for job in flow.jobs}
    return any(owner.get(reference.uuid, index) != index
               for index, flow in enumerate(flows) for job in flow.jobs for reference in job.input_references)


def earlier_jobs_read(flow: Flow) -> dict[str, set[str]]:
    """Job uuid -> the uuids of the jobs it reads that are not in ``flow`` (jobs of earlier submissions)."""
    jobs = [job for job, _ in flow.iterflow()]
    new = {job.uuid for job in jobs}
    return {job.uuid: {reference.uuid for reference in job.input_references} - new for job in jobs}


def unfinished_jobs(launchpad: LaunchPad, uuids: set[str]) -> dict[str, int]:
    """uuid -> fw_id of the job on the LaunchPad whose output a reference to that uuid reads (its latest index: a
    job a running job replaced gives its replacement's output), for those that have not completed."""
    if not uuids:
        return {}
    latest: dict[str, dict] = {}
    for doc in launchpad.fireworks.find({JOB_UUID: {"$in": sorted(uuids)}},
                                        {"fw_id": 1, "state": 1, JOB_UUID: 1, "spec._tasks.job.index": 1}):
        job = doc["spec"]["_tasks"][0]["job"]
        if job["uuid"] not in latest or job["index"] > latest[job["uuid"]]["index"]:
            latest[job["uuid"]] = {"index": job["index"], "fw_id": doc["fw_id"], "state": doc["state"]}
    return {uuid: job["fw_id"] for uuid, job in latest.items() if job["state"] != "COMPLETED"}


def connected_parts(workflow: Workflow) -> list[Workflow]:
    """The workflow's Fireworks split into the groups its links join (each group keeps its own links)."""
    graph = nx.Graph()
    graph.add_nodes_from(fw.fw_id for fw in workflow.fws)
    graph.add_edges_from((parent, child) for parent, children in workflow.links.items() for child in children)
    return [Workflow([fw for fw in workflow.fws if fw.fw_id in part],
                     {parent: children for parent, children in workflow.links.items() if parent in part},
                     name=workflow.name, metadata=workflow.metadata)
            for part in nx.connected_components(graph)]


def waiting_on_earlier_jobs(launchpad: LaunchPad, workflow: Workflow, read: dict[str, set[str]],
                            unfinished: dict[str, int]) -> list[tuple[Workflow, set[int]]]:
    """How to add ``workflow`` so that no job starts before a job of an earlier submission it reads has finished
    (``read``: its jobs' :func:`earlier_jobs_read`; ``unfinished``: :func:`unfinished_jobs` of those): (workflow,
    fw_ids of the unfinished jobs its first jobs wait on) — the whole workflow with no parents when it reads no
    unfinished job, else each linked part of it, appended to the earlier workflow that holds the unfinished jobs
    that part reads (FireWorks links jobs within one workflow only)."""
    if not any(uuid in unfinished for uuids in read.values() for uuid in uuids):
        return [(workflow, set())]
    placements = []
    for part in connected_parts(workflow):
        parents = {unfinished[uuid] for fw in part.fws for uuid in read[fw.tasks[0]["job"].uuid] if uuid in unfinished}
        holders = [doc["name"] for doc in launchpad.workflows.find({"nodes": {"$in": sorted(parents)}}, {"name": 1})]
        if len(holders) > 1:
            names = ", ".join(fw.name for fw in part.fws)
            raise CampaignError(
                f"{names} read unfinished jobs of {len(holders)} earlier workflows ({', '.join(holders)}), and "
                "FireWorks makes a job wait only on jobs of its own workflow: submit this campaign again once they "
                "have finished (defectscreen status)")
        placements.append((part, parents))
    return placements


def submit_campaign(campaign: Campaign, base_dir: Path, launchpad: LaunchPad, campaigns: Store | None = None,
                    amorphous_hosts: Store | None = None,
                    announce: Callable[[str], None] = lambda line: None,
                    drop_superseded: bool = False) -> SubmissionReport:
    """Generate the defect set, build one Flow per host (and one for the competing phases) of the missing jobs,
    add them (as one workflow when surrogates learn from other hosts' full searches).

    The whole defect set is generated (and so validated) before anything is added; the campaign itself is
    recorded in ``campaigns`` when given. Glasses of amorphous hosts are read from (or generated into)
    ``amorphous_hosts``, which such a campaign needs. Queued jobs that earlier versions of the campaign added and
    this one does not use are reported, and with ``drop_superseded`` paused (:func:`drop_jobs`); dropped jobs this
    version uses again are resumed.
    """
    glasses = {}
    if any(host.amorphous for host in campaign.hosts):
        if amorphous_hosts is None:
            raise ValueError("a campaign with amorphous hosts is submitted with the amorphous_hosts store")
        glasses = glass_structures(campaign, base_dir, amorphous_hosts, announce)
    calculations = build_defect_set(campaign, base_dir, glasses)
    groups = {host: [c for c in calculations if c.labels.host == host] for host in campaign.cell_hosts}
    if "formation_energy" in campaign.properties:
        groups["phases"] = competing_phase_calculations(campaign, base_dir)
    family = stored_training_family(campaign, launchpad, campaigns)
    if family is not None:
        announce(f"search.training_campaign {family.campaign}: {len(family.full_searches)} stored full searches of "
                 f"{', '.join(family.bulk_relaxations)} train the surrogates (nothing of them recomputed)")
    cells = {c.labels.calculation_id: c.cell_sha256() for group in groups.values() for c in group}
    maker = HostScreeningMaker(registry=TaskRegistry(campaign.name, submitted_keys(launchpad), cells,
                                                     full_search_candidates=full_search_candidates(launchpad)))
    jobs_per_host: dict[str, int] = {}
    flows = []
    for group, group_calculations in groups.items():
        flow = maker.make(HostCells(campaign, group, group_calculations,
                                    {other: cells for other, cells in groups.items() if other != group}, family))
        jobs_per_host[group] = len(flow.jobs)
        if flow.jobs:
            flows.append(flow)
    if flows_read_each_other(flows):
        flows = [Flow(flows, name=campaign.name)]  # a job that reads another host's new job waits on it
    reads = [earlier_jobs_read(flow) for flow in flows]
    unfinished = unfinished_jobs(launchpad, {uuid for read in reads for uuids in read.values() for uuid in uuids})
    placements = []
    for flow, read in zip(flows, reads, strict=True):
        workflow = flow_to_workflow(flow, allow_external_references=True)
        for firework in workflow.fws:
            if firework.spec.get("defectscreen", {}).get("host") == "phases":
                firework.spec["_priority"] = PHASE_PRIORITY
        placements += waiting_on_earlier_jobs(launchpad, workflow, read, unfinished)
    changes = record_campaign(campaigns, campaign) if campaigns is not None else []
    submitted, used = maker.registry.submitted, maker.registry.reused
    resumed = {key: task for key, task in submitted.items() if key in used and task.dropped}
    resume_jobs(launchpad, list(resumed.values()))
    for workflow, parents in placements:
        if parents:
            launchpad.append_wf(workflow, sorted(parents), detour=False, pull_spec_mods=False)
        else:
            launchpad.add_wf(workflow)
    superseded = superseded_jobs(submitted, campaign.name, used)
    dropped, kept = drop_jobs(launchpad, superseded, submitted) if drop_superseded and superseded else ([], [])
    return SubmissionReport(sum(jobs_per_host.values()), len(used), jobs_per_host, changes,
                            sorted(map(job_name, superseded)), dropped, kept, sorted(map(job_name, resumed)))

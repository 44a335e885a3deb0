"""Submit a campaign to the LaunchPad: only the calculations not already there."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from fireworks import LaunchPad
from jobflow.managers.fireworks import flow_to_workflow

from defectscreen.flows.campaign import Campaign
from defectscreen.flows.defect_set import build_defect_set
from defectscreen.flows.screening import HostScreeningMaker, planned_keys


@dataclass(frozen=True)
class SubmissionReport:
    new_jobs: int
    already_submitted: int
    jobs_per_host: dict[str, int]


def submitted_keys(launchpad: LaunchPad) -> dict[str, str]:
    """Task key -> jobflow uuid of every job on the LaunchPad (any state)."""
    return {
        doc["spec"]["defectscreen"]["key"]: doc["spec"]["_tasks"][0]["job"]["uuid"]
        for doc in launchpad.fireworks.find(
            {"spec.defectscreen.key": {"$exists": True}}, {"spec.defectscreen.key": 1, "spec._tasks.job.uuid": 1}
        )
    }


def submit_campaign(campaign: Campaign, base_dir: Path, launchpad: LaunchPad) -> SubmissionReport:
    """Generate the defect set, build one Flow per host of the missing jobs, add them.

    The whole defect set is generated (and so validated) before anything is added.
    """
    calculations = build_defect_set(campaign, base_dir)
    existing = submitted_keys(launchpad)
    maker = HostScreeningMaker(submitted=existing)
    jobs_per_host: dict[str, int] = {}
    skipped = 0
    flows = []
    for host in campaign.hosts:
        host_calculations = [c for c in calculations if c.labels.host == host.name]
        flow = maker.make(campaign, host.name, host_calculations)
        skipped += sum(key in existing for key in planned_keys(campaign, host_calculations))
        jobs_per_host[host.name] = len(flow.jobs)
        if flow.jobs:
            flows.append(flow)
    for flow in flows:
        launchpad.add_wf(flow_to_workflow(flow, allow_external_references=True))
    return SubmissionReport(sum(jobs_per_host.values()), skipped, jobs_per_host)

"""Submit a campaign to the LaunchPad: only the calculations not already there."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from fireworks import LaunchPad
from jobflow.managers.fireworks import flow_to_workflow

from defectscreen.flows.campaign import Campaign
from defectscreen.flows.defect_set import build_defect_set
from defectscreen.flows.screening import HostScreeningMaker


@dataclass(frozen=True)
class SubmissionReport:
    new_jobs: int
    already_submitted: int
    jobs_per_host: dict[str, int]


def submitted_keys(launchpad: LaunchPad) -> set[str]:
    """Task keys of every job on the LaunchPad (any state)."""
    return set(launchpad.fireworks.distinct("spec.defectscreen.key"))


def submit_campaign(campaign: Campaign, base_dir: Path, launchpad: LaunchPad) -> SubmissionReport:
    """Generate the defect set, build one Flow per host of the missing jobs, add them.

    The whole defect set is generated (and so validated) before anything is added.
    """
    calculations = build_defect_set(campaign, base_dir)
    existing = submitted_keys(launchpad)
    maker = HostScreeningMaker(skip_keys=frozenset(existing))
    jobs_per_host: dict[str, int] = {}
    skipped = 0
    flows = []
    for host in campaign.hosts:
        host_calculations = [c for c in calculations if c.labels.host == host.name]
        flow = maker.make(campaign, host.name, host_calculations)
        skipped += len(host_calculations) * len(campaign.properties) - len(flow.jobs)
        jobs_per_host[host.name] = len(flow.jobs)
        if flow.jobs:
            flows.append(flow)
    for flow in flows:
        launchpad.add_wf(flow_to_workflow(flow))
    return SubmissionReport(sum(jobs_per_host.values()), skipped, jobs_per_host)

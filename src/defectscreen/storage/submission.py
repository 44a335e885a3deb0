"""Submit a campaign to the LaunchPad: only the calculations not already there."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from fireworks import LaunchPad
from jobflow import Flow
from jobflow.managers.fireworks import flow_to_workflow
from maggma.core import Store

from defectscreen.flows.campaign import Campaign
from defectscreen.flows.defect_set import build_defect_set
from defectscreen.flows.phases import competing_phase_calculations
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


def record_campaign(campaigns: Store, campaign: Campaign) -> None:
    """Keep the newest submitted version of the campaign (builders read its dielectric constants and formation
    settings from here), keyed by name."""
    campaigns.connect()
    campaigns.update([{"name": campaign.name, "sha256": campaign.sha256(), "campaign": campaign.model_dump(mode="json"),
                       "submitted_at": datetime.now(UTC).isoformat()}], key="name")


def submit_campaign(campaign: Campaign, base_dir: Path, launchpad: LaunchPad,
                    campaigns: Store | None = None) -> SubmissionReport:
    """Generate the defect set, build one Flow per host (and one for the competing phases) of the missing jobs,
    add them (as one workflow when surrogates learn from other hosts' full searches).

    The whole defect set is generated (and so validated) before anything is added; the campaign itself is
    recorded in ``campaigns`` when given.
    """
    calculations = build_defect_set(campaign, base_dir)
    groups = {host.name: [c for c in calculations if c.labels.host == host.name] for host in campaign.hosts}
    if "formation_energy" in campaign.properties:
        groups["phases"] = competing_phase_calculations(campaign, base_dir)
    existing = submitted_keys(launchpad)
    maker = HostScreeningMaker(submitted=existing)
    jobs_per_host: dict[str, int] = {}
    skipped = 0
    flows = []
    for group, group_calculations in groups.items():
        flow = maker.make(campaign, group, group_calculations,
                          {other: cells for other, cells in groups.items() if other != group})
        skipped += sum(key in existing for key in planned_keys(campaign, group_calculations))
        jobs_per_host[group] = len(flow.jobs)
        if flow.jobs:
            flows.append(flow)
    if campaigns is not None:
        record_campaign(campaigns, campaign)
    if campaign.search.training_hosts and "structure_search" in campaign.properties and flows:
        flows = [Flow(flows, name=campaign.name)]  # surrogates that learn from other hosts wait on their searches
    for flow in flows:
        launchpad.add_wf(flow_to_workflow(flow, allow_external_references=True))
    return SubmissionReport(sum(jobs_per_host.values()), skipped, jobs_per_host)

"""One jobflow Flow per host: the reference calculations a campaign asks for."""

from __future__ import annotations

from dataclasses import dataclass, field

from jobflow import Flow, Job, Maker

from defectscreen.flows.campaign import Campaign
from defectscreen.flows.defect_set import Calculation
from defectscreen.jobs import RelaxMaker, StaticMaker

PROPERTY_TASKS = {"relaxation": "relax", "unrelaxed_energy": "static"}


def task_key(calculation_id: str, task_label: str, settings_hash: str) -> str:
    """Identity of one calculation: same cell, same task, same engine settings."""
    return f"{calculation_id}|{task_label}|{settings_hash[:16]}"


@dataclass
class HostScreeningMaker(Maker):
    """Reference relaxations and/or single points of a host's bulk and defect supercells.

    ``skip_keys`` holds the task keys already submitted; their jobs are left out, so a
    resubmitted campaign adds only what is new.
    """

    name: str = "host screening"
    skip_keys: frozenset[str] = field(default_factory=frozenset)

    def make(self, campaign: Campaign, host: str, calculations: list[Calculation]) -> Flow:
        engine_settings = campaign.engine.model_dump(mode="json")
        relax = RelaxMaker(
            engine_settings=engine_settings,
            fmax_eV_per_angstrom=campaign.relax.fmax_eV_per_angstrom,
            max_steps=campaign.relax.max_steps,
        )
        static = StaticMaker(engine_settings=engine_settings)
        makers = {"relax": relax, "static": static}
        settings_hash = campaign.engine.settings_hash()
        campaign_sha256 = campaign.sha256()
        jobs: list[Job] = []
        for calculation in calculations:
            labels = calculation.labels
            for prop in campaign.properties:
                task_label = PROPERTY_TASKS[prop]
                key = task_key(labels.calculation_id, task_label, settings_hash)
                if key in self.skip_keys:
                    continue
                job = makers[task_label].make(calculation.structure, labels, campaign_sha256)
                job.name = f"{task_label} {labels.calculation_id}"
                job.update_config({"manager_config": {"defectscreen": {
                    "key": key,
                    "host": host,
                    "calculation_id": labels.calculation_id,
                    "campaign": campaign.name,
                }}})
                jobs.append(job)
        return Flow(jobs, name=f"{campaign.name}:{host}")

"""One jobflow Flow per host: the reference calculations a campaign asks for, and what is built on them."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from jobflow import Flow, Job, Maker, OutputReference

from defectscreen.flows.campaign import Campaign
from defectscreen.flows.defect_set import Calculation
from defectscreen.jobs import ConfigurationCoordinateMaker, RelaxMaker, StaticMaker

PROPERTY_TASKS = {"relaxation": "relax", "unrelaxed_energy": "static"}
CCD_TASK = "ccd"


def task_key(calculation_id: str, task_label: str, settings_hash: str) -> str:
    """Identity of one calculation: same cell, same task, same engine settings."""
    return f"{calculation_id}|{task_label}|{settings_hash[:16]}"


def adjacent_charge_pairs(calculations: list[Calculation]) -> list[tuple[Calculation, Calculation]]:
    """(higher, lower) charge states of the same defect that differ by one electron."""
    by_defect: dict[str, list[Calculation]] = defaultdict(list)
    for calculation in calculations:
        if calculation.labels.defect_type != "bulk":
            by_defect[calculation.labels.defect_name].append(calculation)
    pairs = []
    for states in by_defect.values():
        states.sort(key=lambda c: c.labels.charge, reverse=True)
        pairs += [(a, b) for a, b in zip(states, states[1:]) if a.labels.charge - b.labels.charge == 1]
    return pairs


def pair_id(higher: Calculation, lower: Calculation) -> str:
    """'GaN:C_N:0/-1'."""
    labels = higher.labels
    return f"{labels.host}:{labels.defect_name}:{labels.charge}/{lower.labels.charge}"


def planned_keys(campaign: Campaign, calculations: list[Calculation]) -> list[str]:
    """Every task key the campaign asks for on these calculations."""
    settings_hash = campaign.engine.settings_hash()
    keys = [task_key(c.labels.calculation_id, PROPERTY_TASKS[p], settings_hash)
            for c in calculations for p in campaign.properties if p in PROPERTY_TASKS]
    if "configuration_coordinate" in campaign.properties:
        keys += [task_key(pair_id(a, b), CCD_TASK, settings_hash) for a, b in adjacent_charge_pairs(calculations)]
    return keys


@dataclass
class HostScreeningMaker(Maker):
    """Reference relaxations and/or single points of a host's bulk and defect supercells, and the
    configuration-coordinate diagrams between adjacent charge states.

    ``submitted`` maps the task keys already on the LaunchPad to their jobflow uuids: those jobs are
    left out (a resubmitted campaign adds only what is new) and later jobs read their outputs by uuid.
    """

    name: str = "host screening"
    submitted: dict[str, str] = field(default_factory=dict)

    def make(self, campaign: Campaign, host: str, calculations: list[Calculation]) -> Flow:
        engine_settings = campaign.engine.model_dump(mode="json")
        makers = {
            "relax": RelaxMaker(engine_settings=engine_settings, fmax_eV_per_angstrom=campaign.relax.fmax_eV_per_angstrom,
                                max_steps=campaign.relax.max_steps),
            "static": StaticMaker(engine_settings=engine_settings),
        }
        settings_hash = campaign.engine.settings_hash()
        campaign_sha256 = campaign.sha256()
        jobs: list[Job] = []
        relaxed: dict[str, tuple[OutputReference, str]] = {}

        def add(job: Job, key: str, calculation_id: str) -> None:
            job.update_config({"manager_config": {"defectscreen": {
                "key": key, "host": host, "calculation_id": calculation_id, "campaign": campaign.name,
            }}})
            jobs.append(job)

        for calculation in calculations:
            labels = calculation.labels
            for prop in campaign.properties:
                if prop not in PROPERTY_TASKS:
                    continue
                task_label = PROPERTY_TASKS[prop]
                key = task_key(labels.calculation_id, task_label, settings_hash)
                if key in self.submitted:
                    if task_label == "relax":
                        relaxed[labels.calculation_id] = (OutputReference(self.submitted[key]), self.submitted[key])
                    continue
                job = makers[task_label].make(calculation.structure, labels, campaign_sha256)
                job.name = f"{task_label} {labels.calculation_id}"
                add(job, key, labels.calculation_id)
                if task_label == "relax":
                    relaxed[labels.calculation_id] = (job.output, job.uuid)

        if "configuration_coordinate" in campaign.properties:
            ccd = ConfigurationCoordinateMaker(engine_settings=engine_settings)
            for higher, lower in adjacent_charge_pairs(calculations):
                key = task_key(pair_id(higher, lower), CCD_TASK, settings_hash)
                if key in self.submitted:
                    continue
                (higher_output, higher_uuid) = relaxed[higher.labels.calculation_id]
                (lower_output, lower_uuid) = relaxed[lower.labels.calculation_id]
                job = ccd.make(higher_output, lower_output, campaign_sha256, [higher_uuid, lower_uuid])
                job.name = f"{CCD_TASK} {pair_id(higher, lower)}"
                add(job, key, pair_id(higher, lower))
        return Flow(jobs, name=f"{campaign.name}:{host}")

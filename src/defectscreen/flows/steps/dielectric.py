"""The host's dielectric tensor (ε∞, Born charges, ε⁰) where formation energies use hosts[].dielectric_constant:
computed."""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

from defectscreen.flows.registry import TaskRegistry
from defectscreen.flows.steps.base import HostCells, Step, StepOutputs
from defectscreen.jobs.dielectric import DielectricMaker

if TYPE_CHECKING:
    from defectscreen.flows.campaign import Campaign

TASK = "dielectric"


def computes_dielectric(campaign: Campaign, host: str) -> bool:
    """Whether the campaign computes this host's dielectric constant."""
    return any(spec.name == host and spec.dielectric_constant == "computed" for spec in campaign.hosts)


def dielectric_settings_hash(campaign: Campaign) -> str:
    """Engine settings and formation.dielectric."""
    settings = f"{campaign.engine.settings_hash()}|{campaign.formation.dielectric.model_dump_json()}"
    return hashlib.sha256(settings.encode()).hexdigest()


def dielectric_id(host: str) -> str:
    return f"{host}:dielectric"


class Dielectric(Step):
    """The step of the formation_energy property: formation energies themselves are built from the relaxations by
    the builders; what they need from a job of their own is a computed dielectric constant."""

    property = "formation_energy"
    needs = ("relaxation",)

    def add(self, cells: HostCells, registry: TaskRegistry, outputs: StepOutputs) -> None:
        campaign = cells.campaign
        if not computes_dielectric(campaign, cells.host):
            return
        maker = DielectricMaker(engine_settings=cells.engine_settings, **campaign.formation.dielectric.model_dump())
        registry.output(cells.host, dielectric_id(cells.host), TASK, dielectric_settings_hash(campaign),
                        lambda: maker.make(cells.bulk.structure, cells.host, campaign.name, cells.campaign_sha256))

"""The host_dispersion property: a potential fine-tuned on the host's own perturbed supercells, the host's phonon
dispersion from it with the LO–TO term of its computed Born charges and ε∞ (engine gpaw, compounds), and if asked the
engine's own dispersion compared with it."""

from __future__ import annotations

import hashlib

from jobflow import OutputReference

from defectscreen.flows.registry import TaskRegistry
from defectscreen.flows.steps.base import HostCells, Step, StepOutputs
from defectscreen.flows.steps.dielectric import TASK as DIELECTRIC_TASK
from defectscreen.flows.steps.dielectric import dielectric_id, dielectric_settings_hash
from defectscreen.flows.steps.phonons import POTENTIAL_TASK, TRAINING_TASK, phonon_task_hashes
from defectscreen.jobs import PotentialMaker, TrainingSetMaker
from defectscreen.jobs.dielectric import DielectricMaker
from defectscreen.jobs.dispersion import HostDispersionMaker

POTENTIAL_DISPERSION_TASK, ENGINE_DISPERSION_TASK = "dispersion_potential", "dispersion_engine"


def dispersion_id(host: str) -> str:
    return f"{host}:dispersion"


def host_potential(cells: HostCells, registry: TaskRegistry, outputs: StepOutputs) -> OutputReference:
    """The host's own potential: trained (``potential`` settings) on perturbed copies of its relaxed bulk cell."""
    campaign, sha, hashes = cells.campaign, cells.campaign_sha256, phonon_task_hashes(cells.campaign)
    cid = cells.bulk.labels.calculation_id
    relaxed, recipe = outputs.relaxed[cid], campaign.potential.model_dump(mode="json")
    training = TrainingSetMaker(engine_settings=cells.engine_settings, recipe=recipe)
    data = registry.output(cells.host, cid, TRAINING_TASK, hashes[TRAINING_TASK], lambda: training.make(relaxed, sha))
    return registry.output(cells.host, cid, POTENTIAL_TASK, hashes[POTENTIAL_TASK],
                           lambda: PotentialMaker(recipe=recipe).make(data, sha))


class HostDispersion(Step):
    property = "host_dispersion"
    needs = ("relaxation",)

    def add(self, cells: HostCells, registry: TaskRegistry, outputs: StepOutputs) -> None:
        campaign, sha, host = cells.campaign, cells.campaign_sha256, cells.host
        hashes = phonon_task_hashes(campaign)
        settings = campaign.dispersion
        task_hash = hashlib.sha256(f"{hashes[POTENTIAL_TASK]}|{settings.model_dump_json()}".encode()).hexdigest()
        bulk = cells.bulk
        relaxed, potential = outputs.relaxed[bulk.labels.calculation_id], host_potential(cells, registry, outputs)
        dielectric = None
        if campaign.engine.name == "gpaw" and len(bulk.structure.composition.elements) > 1:
            maker = DielectricMaker(engine_settings=cells.engine_settings, **campaign.formation.dielectric.model_dump())
            dielectric = registry.output(host, dielectric_id(host), DIELECTRIC_TASK, dielectric_settings_hash(campaign),
                                         lambda: maker.make(bulk.structure, host, campaign.name, sha))
        common = {"engine_settings": cells.engine_settings, "displacement_angstrom": settings.displacement_angstrom,
                  "min_supercell_width_angstrom": settings.min_supercell_width_angstrom,
                  "points_per_segment": settings.points_per_segment}
        from_potential = registry.output(
            host, dispersion_id(host), POTENTIAL_DISPERSION_TASK, task_hash,
            lambda: HostDispersionMaker(force_source="potential", **common).make(relaxed, sha, potential, dielectric))
        if settings.validate_with_engine:
            registry.output(host, dispersion_id(host), ENGINE_DISPERSION_TASK, task_hash,
                            lambda: HostDispersionMaker(force_source="engine", **common).make(
                                relaxed, sha, potential, dielectric, compare_with=from_potential))

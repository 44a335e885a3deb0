"""The host_dispersion property: a potential fine-tuned on the host's own perturbed supercells, the host's phonon
dispersion from it with the LO–TO term of its computed Born charges and ε∞ (engine gpaw, compounds), and if asked the
engine's own dispersion compared with it. With Born charges the potential learns the labels less their dipole–dipole
part, which the dispersion adds back analytically in any supercell."""

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
SHORT_RANGE_POTENTIAL_TASK = "potential_short_range"


def dispersion_id(host: str) -> str:
    return f"{host}:dispersion"


def host_potential(cells: HostCells, registry: TaskRegistry, outputs: StepOutputs,
                   dielectric: OutputReference | None = None) -> OutputReference:
    """The host's own potential: trained (``potential`` settings) on perturbed copies of its relaxed bulk cell;
    with a ``dielectric`` document, on those labels less their dipole–dipole part (a short-ranged model)."""
    campaign, sha, hashes = cells.campaign, cells.campaign_sha256, phonon_task_hashes(cells.campaign)
    cid = cells.bulk.labels.calculation_id
    relaxed, recipe = outputs.relaxed[cid], campaign.potential.model_dump(mode="json")
    training = TrainingSetMaker(engine_settings=cells.engine_settings, recipe=recipe)
    data = registry.output(cells.host, cid, TRAINING_TASK, hashes[TRAINING_TASK], lambda: training.make(relaxed, sha))
    if dielectric is None:
        return registry.output(cells.host, cid, POTENTIAL_TASK, hashes[POTENTIAL_TASK],
                               lambda: PotentialMaker(recipe=recipe).make(data, sha))
    task_hash = hashlib.sha256(f"{hashes[POTENTIAL_TASK]}|{dielectric_settings_hash(campaign)}".encode()).hexdigest()
    return registry.output(cells.host, cid, SHORT_RANGE_POTENTIAL_TASK, task_hash,
                           lambda: PotentialMaker(recipe=recipe).make(data, sha, dielectric=dielectric))


class HostDispersion(Step):
    property = "host_dispersion"
    needs = ("relaxation",)

    def add(self, cells: HostCells, registry: TaskRegistry, outputs: StepOutputs) -> None:
        campaign, sha, host = cells.campaign, cells.campaign_sha256, cells.host
        hashes = phonon_task_hashes(campaign)
        settings = campaign.dispersion
        bulk = cells.bulk
        dielectric = None
        if campaign.engine.name == "gpaw" and len(bulk.structure.composition.elements) > 1:
            maker = DielectricMaker(engine_settings=cells.engine_settings, **campaign.formation.dielectric.model_dump())
            dielectric = registry.output(host, dielectric_id(host), DIELECTRIC_TASK, dielectric_settings_hash(campaign),
                                         lambda: maker.make(bulk.structure, host, campaign.name, sha))
        relaxed = outputs.relaxed[bulk.labels.calculation_id]
        potential = host_potential(cells, registry, outputs, dielectric)
        depends_on = [hashes[POTENTIAL_TASK], settings.model_dump_json(),
                      dielectric_settings_hash(campaign) if dielectric is not None else ""]
        task_hash = hashlib.sha256("|".join(depends_on).encode()).hexdigest()
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

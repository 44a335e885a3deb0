"""One defect, one potential: a training set of perturbed cells labelled by the engine, a potential trained on it,
Γ phonons from the potential, and for the cells the campaign validates, Γ phonons from the engine compared with
them."""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

from defectscreen.flows.registry import TaskRegistry
from defectscreen.flows.steps.base import HostCells, Step, StepOutputs
from defectscreen.jobs import GammaPhononMaker, PotentialMaker, TrainingSetMaker

if TYPE_CHECKING:
    from defectscreen.flows.campaign import Campaign

TRAINING_TASK, POTENTIAL_TASK, PHONON_TASK = "training_set", "potential", "phonons_potential"
VALIDATION_TASK = "phonons_engine"
HUANG_RHYS_TASK = "huang_rhys"
EMBEDDING_TASK = "embedded_phonons"
CONVERGENCE_TASK = "embedding_convergence"


def phonon_task_hashes(campaign: Campaign) -> dict[str, str]:
    """Settings hash of each task of the phonon chain (and of what is built on it) over exactly the settings its
    result depends on, each chained to the previous one: changing the training epochs retrains without relabelling
    the training set."""
    recipe, phonons = campaign.potential, campaign.phonons
    parts = {
        TRAINING_TASK: recipe.model_dump_json(include={"n_structures", "r_max_angstrom", "seed",
                                                       "validation_fraction"}),
        POTENTIAL_TASK: recipe.model_dump_json(include={"training", "max_validation_force_rmse_meV_per_angstrom"}) + (
            "" if recipe.max_validation_relative_force_rmse is None
            else f"|relative={recipe.max_validation_relative_force_rmse}"),
        PHONON_TASK: phonons.model_dump_json(include={"displacement_angstrom"}),
        VALIDATION_TASK: "",
        HUANG_RHYS_TASK: phonons.model_dump_json(include={"sigma_meV"}),
        EMBEDDING_TASK: phonons.model_dump_json(include={"sigma_meV", "embedding_method", "embedding_basis"}) + (
            "|host_potential" if phonons.embedding_host_force_constants == "host_potential" else ""),
        CONVERGENCE_TASK: phonons.model_dump_json(include={"embedding_atoms"}),
    }
    chain, hashes = campaign.engine.settings_hash(), {}
    for task, settings in parts.items():
        chain = hashlib.sha256(f"{chain}|{settings}".encode()).hexdigest()
        hashes[task] = chain
    return hashes


class Phonons(Step):
    property = "phonons"
    needs = ("relaxation",)
    after = ("structure_search",)

    def add(self, cells: HostCells, registry: TaskRegistry, outputs: StepOutputs) -> None:
        campaign, hashes = cells.campaign, phonon_task_hashes(cells.campaign)
        recipe = campaign.potential.model_dump(mode="json")
        training = TrainingSetMaker(engine_settings=cells.engine_settings, recipe=recipe)
        fitting = PotentialMaker(recipe=recipe)
        gamma = GammaPhononMaker(engine_settings=cells.engine_settings,
                                 displacement_angstrom=campaign.phonons.displacement_angstrom)
        sha = cells.campaign_sha256
        for cell in cells.defects:
            cid, relaxed = cell.labels.calculation_id, outputs.ground_state(cell.labels.calculation_id)
            data = registry.output(cells.host, cid, TRAINING_TASK, hashes[TRAINING_TASK],
                                   lambda: training.make(relaxed, sha))
            potential = registry.output(cells.host, cid, POTENTIAL_TASK, hashes[POTENTIAL_TASK],
                                        lambda: fitting.make(data, sha))
            from_potential = registry.output(cells.host, cid, PHONON_TASK, hashes[PHONON_TASK],
                                             lambda: gamma.make(relaxed, sha, potential=potential,
                                                                training_set=data))
            outputs.potentials[cid], outputs.phonons[cid] = potential, [from_potential]
            if campaign.phonons.validated(cid, cell.labels.defect_name):
                outputs.phonons[cid].append(registry.output(
                    cells.host, cid, VALIDATION_TASK, hashes[VALIDATION_TASK],
                    lambda: gamma.make(relaxed, sha, compare_with=from_potential)))

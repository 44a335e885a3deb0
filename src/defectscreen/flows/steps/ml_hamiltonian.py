"""The ml_hamiltonian property (seeds 001/004): GPAW LCAO Hamiltonians of the relaxed closed-shell cells (and of
rattled copies of the training cells); a Hamiltonian model fitted on the training frames of the training hosts (each
host its own by default; ``ml_hamiltonian.training_hosts``: one model for every host, e.g. fitted on two glasses and
judged on a third and on a larger one, as the seeds do); and each host's relaxed cells judged with it."""

from __future__ import annotations

import hashlib
from collections.abc import Callable

from jobflow import OutputReference

from defectscreen.flows.registry import TaskRegistry
from defectscreen.flows.steps.base import HostCells, Step, StepOutputs
from defectscreen.flows.steps.relaxation import relaxation
from defectscreen.jobs.hamiltonian import HamiltonianFitMaker, HamiltonianLabelsMaker, MlHamiltonianMaker

LABELS_TASK, MODEL_TASK, JUDGED_TASK = "hamiltonian_labels", "hamiltonian_model", "ml_hamiltonian"


def _hash(*parts: str) -> str:
    return hashlib.sha256("|".join(parts).encode()).hexdigest()


def hamiltonian_labels(cells: HostCells, registry: TaskRegistry,
                       relaxed: Callable[[str], OutputReference]) -> dict[str, OutputReference]:
    """Settings hash -> labels of every closed-shell bulk and defect cell of ``cells``' host; ``relaxed``: the
    relaxed structure of a calculation id. A cell gets training frames when its host is a training host and it is a
    defect not held out (or the bulk with ``train_on_host``)."""
    campaign = cells.campaign
    settings = campaign.ml_hamiltonian
    training_host = cells.host in (settings.training_hosts or [cells.host])
    maker = HamiltonianLabelsMaker(lcao_settings=settings.lcao.model_dump(mode="json"),
                                   rattled_copies=settings.rattled_copies, rattle_angstrom=settings.rattle_angstrom)
    labels = {}
    for calculation in cells.calculations:
        cell = calculation.labels
        if cell.defect_type == "competing_phase" or cell.spin_multiplicity != 1:  # LCAO route: closed shells
            continue
        cid = cell.calculation_id
        trained = training_host and (settings.train_on_host if cell.defect_type == "bulk"
                                     else not settings.held_out(cid, cell.defect_name))
        task_hash = _hash(cells.engine_hash, campaign.relax.model_dump_json(), settings.lcao.settings_hash(),
                          str(trained), settings.model_dump_json(include={"rattled_copies", "rattle_angstrom"}))
        structure = relaxed(cid)
        labels[f"{cid}={task_hash}"] = registry.output(
            cells.host, cid, LABELS_TASK, task_hash,
            lambda: maker.make(structure, trained, cells.campaign_sha256))
    return labels


def model_id(training_hosts: list[str]) -> str:
    """'MgO:hamiltonian_model', or 'a-SiO2#1+a-SiO2#2:hamiltonian_model' for a model shared by other hosts."""
    return f"{'+'.join(training_hosts)}:{MODEL_TASK}"


class MlHamiltonian(Step):
    property = "ml_hamiltonian"
    needs = ("relaxation",)

    def add(self, cells: HostCells, registry: TaskRegistry, outputs: StepOutputs) -> None:
        campaign, host = cells.campaign, cells.host
        settings = campaign.ml_hamiltonian
        judged = hamiltonian_labels(cells, registry, outputs.ground_state)
        if not judged:
            return
        training_hosts = settings.training_hosts or [host]
        training = {}
        for other in training_hosts:
            if other == host:
                training |= judged
                continue
            other_cells = HostCells(campaign, other, cells.other_hosts[other])
            by_id = {c.labels.calculation_id: c for c in other_cells.calculations}
            training |= hamiltonian_labels(other_cells, registry,
                                           lambda cid: relaxation(other_cells, by_id[cid], registry))
        fit_hash = _hash(*sorted(training), settings.model_dump_json(
            include={"radial_count", "charge_radial_count", "loss", "element_weight_per_eV", "band_weight_per_eV"}))
        fit = HamiltonianFitMaker(lcao_settings=settings.lcao.model_dump(mode="json"),
                                  model_settings=settings.model_settings())
        model = registry.output(training_hosts[0], model_id(training_hosts), MODEL_TASK, fit_hash,
                                lambda: fit.make(list(training.values()), training_hosts, cells.campaign_sha256))
        judge_hash = _hash(fit_hash, *sorted(judged), settings.model_dump_json(
            include={"overlap_floor", "mixing_steps", "mixing_fraction", "max_defect_energy_mae_eV"}))
        judge = MlHamiltonianMaker(overlap_floor=settings.overlap_floor, mixing_steps=settings.mixing_steps,
                                   mixing_fraction=settings.mixing_fraction,
                                   max_defect_energy_mae_eV=settings.max_defect_energy_mae_eV)
        registry.output(host, f"{host}:{JUDGED_TASK}", JUDGED_TASK, judge_hash,
                        lambda: judge.make(model, list(judged.values()), host, campaign.name, cells.campaign_sha256))

"""Each charge pair's defect force constants embedded into host cells of growing size, and the convergence study
over those sizes (seed 000's large-cell route)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from defectscreen.flows.registry import TaskRegistry
from defectscreen.flows.steps.base import HostCells, Step, StepOutputs, pair_id
from defectscreen.flows.steps.host_dispersion import host_potential
from defectscreen.flows.steps.phonons import CONVERGENCE_TASK, EMBEDDING_TASK, phonon_task_hashes
from defectscreen.jobs import EmbeddedSpectrumMaker, EmbeddingConvergenceMaker
from defectscreen.physics.embedding import repetitions_series

if TYPE_CHECKING:
    from defectscreen.flows.campaign import Campaign
    from defectscreen.flows.defect_set import Calculation


def embedding_repetitions(campaign: Campaign, calculation: Calculation) -> list[tuple[int, int, int]]:
    """(1, 1, 1) and the repetitions of the defect cell nearest to each of the campaign's embedding sizes."""
    return repetitions_series(calculation.structure.lattice, len(calculation.structure),
                              campaign.phonons.embedding_atoms)


def embedding_label(repetitions: tuple[int, int, int]) -> str:
    return f"{EMBEDDING_TASK}_{'x'.join(map(str, repetitions))}"


class EmbeddedPhonons(Step):
    property = "embedded_phonons"
    needs = ("phonons",)

    def add(self, cells: HostCells, registry: TaskRegistry, outputs: StepOutputs) -> None:
        if not cells.pairs:
            return
        settings, hashes = cells.campaign.phonons, phonon_task_hashes(cells.campaign)
        host = outputs.relaxed[cells.bulk.labels.calculation_id]
        host_model = (host_potential(cells, registry, outputs)
                      if settings.embedding_host_force_constants == "host_potential" else None)
        for higher, lower in cells.pairs:
            basis, other = (higher, lower) if settings.embedding_basis == "higher_charge" else (lower, higher)
            bid, oid, pair = basis.labels.calculation_id, other.labels.calculation_id, pair_id(higher, lower)
            points = []
            for repetitions in embedding_repetitions(cells.campaign, basis):
                maker = EmbeddedSpectrumMaker(repetitions=repetitions, method=settings.embedding_method,
                                              sigma_meV=settings.sigma_meV)
                points.append(registry.output(
                    cells.host, pair, embedding_label(repetitions), hashes[EMBEDDING_TASK],
                    lambda: maker.make(outputs.ground_state(bid), outputs.ground_state(oid), host,
                                       outputs.phonons[bid][0], outputs.potentials[bid], pair, host_model)))
            registry.output(cells.host, pair, CONVERGENCE_TASK, hashes[CONVERGENCE_TASK],
                            lambda: EmbeddingConvergenceMaker().make(points))

"""ΔQ, ΔR and the Huang–Rhys factors of every adjacent charge pair in each state's phonons."""

from __future__ import annotations

from defectscreen.flows.registry import TaskRegistry
from defectscreen.flows.steps.base import HostCells, Step, StepOutputs, pair_id
from defectscreen.flows.steps.phonons import HUANG_RHYS_TASK, phonon_task_hashes
from defectscreen.jobs import HuangRhysMaker


class HuangRhys(Step):
    property = "huang_rhys"
    needs = ("phonons",)

    def add(self, cells: HostCells, registry: TaskRegistry, outputs: StepOutputs) -> None:
        maker = HuangRhysMaker(sigma_meV=cells.campaign.phonons.sigma_meV)
        settings_hash = phonon_task_hashes(cells.campaign)[HUANG_RHYS_TASK]
        for higher, lower in cells.pairs:
            states = [higher.labels.calculation_id, lower.labels.calculation_id]
            registry.output(cells.host, pair_id(higher, lower), HUANG_RHYS_TASK, settings_hash,
                            lambda: maker.make(outputs.ground_state(states[0]), outputs.ground_state(states[1]),
                                               outputs.phonons[states[0]] + outputs.phonons[states[1]],
                                               cells.campaign_sha256))

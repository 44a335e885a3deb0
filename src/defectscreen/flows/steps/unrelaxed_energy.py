"""Single point of every bulk and defect cell as generated (a glass's defect cells: cut from the relaxed glass;
competing phases are only relaxed)."""

from __future__ import annotations

from defectscreen.flows.registry import TaskRegistry
from defectscreen.flows.steps.base import HostCells, Step, StepOutputs
from defectscreen.flows.steps.relaxation import starting_structure
from defectscreen.jobs import StaticMaker

TASK = "static"


class UnrelaxedEnergy(Step):
    property = "unrelaxed_energy"

    def add(self, cells: HostCells, registry: TaskRegistry, outputs: StepOutputs) -> None:
        maker = StaticMaker(engine_settings=cells.engine_settings)
        for cell in cells.calculations:
            if cell.labels.defect_type != "competing_phase":
                registry.output(cells.host, cell.labels.calculation_id, TASK, cells.engine_hash,
                                lambda: maker.make(starting_structure(cells, cell, registry), cell.labels,
                                                   cells.campaign_sha256))

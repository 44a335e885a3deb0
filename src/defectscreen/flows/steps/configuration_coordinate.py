"""The configuration-coordinate diagram and capture phonon factors of every adjacent charge pair."""

from __future__ import annotations

from defectscreen.flows.registry import TaskRegistry
from defectscreen.flows.steps.base import HostCells, Step, StepOutputs, pair_id
from defectscreen.jobs import ConfigurationCoordinateMaker

TASK = "ccd"


class ConfigurationCoordinate(Step):
    property = "configuration_coordinate"
    needs = ("relaxation",)
    after = ("structure_search",)

    def add(self, cells: HostCells, registry: TaskRegistry, outputs: StepOutputs) -> None:
        maker = ConfigurationCoordinateMaker(engine_settings=cells.engine_settings)
        for higher, lower in cells.pairs:
            registry.output(cells.host, pair_id(higher, lower), TASK, cells.engine_hash,
                            lambda: maker.make(outputs.ground_state(higher.labels.calculation_id),
                                               outputs.ground_state(lower.labels.calculation_id),
                                               cells.campaign_sha256))

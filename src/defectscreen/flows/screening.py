"""One jobflow Flow per host: the steps of the campaign's properties, in dependency order."""

from __future__ import annotations

from dataclasses import dataclass, field

from jobflow import Flow, Maker

from defectscreen.flows.registry import TaskRegistry
from defectscreen.flows.steps import HostCells, StepOutputs, campaign_steps


@dataclass
class HostScreeningMaker(Maker):
    """The jobs a campaign asks for on one host's cells (or on its competing phases, the pseudo-host 'phases').

    Every job goes through ``registry``: a task already on the LaunchPad is read by uuid and not added again, a
    task another host's step made in this submission (a related host's full search) is made once.
    """

    name: str = "host screening"
    registry: TaskRegistry = field(kw_only=True)

    def make(self, cells: HostCells) -> Flow:
        outputs = StepOutputs()
        for step in campaign_steps(cells.campaign.properties):
            step.add(cells, self.registry, outputs)
        return Flow(self.registry.take_new_jobs(), name=f"{cells.campaign.name}:{cells.host}")

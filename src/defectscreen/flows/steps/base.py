"""What every step shares: the cells of one host, the outputs steps hand to later steps, the Step interface."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, ClassVar

from jobflow import OutputReference

from defectscreen.flows.registry import TaskRegistry

if TYPE_CHECKING:
    from defectscreen.flows.campaign import Campaign
    from defectscreen.flows.defect_set import Calculation
    from defectscreen.flows.steps.structure_search import TrainingFamily


@dataclass
class HostCells:
    """One host's cells (bulk and defects; or the campaign's competing phases as the pseudo-host 'phases') and the
    campaign that asks for them. ``other_hosts``: the cells of the campaign's other hosts; ``training_family``: the
    stored full searches of search.training_campaign."""

    campaign: Campaign
    host: str
    calculations: list[Calculation]
    other_hosts: dict[str, list[Calculation]] = field(default_factory=dict)
    training_family: TrainingFamily | None = None

    @cached_property
    def campaign_sha256(self) -> str:
        return self.campaign.sha256()

    @cached_property
    def engine_settings(self) -> dict:
        return self.campaign.engine.model_dump(mode="json")

    @cached_property
    def engine_hash(self) -> str:
        return self.campaign.engine.settings_hash()

    @property
    def defects(self) -> list[Calculation]:
        return defect_cells(self.calculations)

    @property
    def bulk(self) -> Calculation:
        return bulk_cell(self.calculations)

    @cached_property
    def pairs(self) -> list[tuple[Calculation, Calculation]]:
        """(higher, lower) charge states of the same defect that differ by one electron."""
        by_defect: dict[str, list[Calculation]] = defaultdict(list)
        for calculation in self.defects:
            by_defect[calculation.labels.defect_name].append(calculation)
        pairs = []
        for states in by_defect.values():
            states.sort(key=lambda c: c.labels.charge, reverse=True)
            pairs += [(a, b) for a, b in zip(states, states[1:]) if a.labels.charge - b.labels.charge == 1]
        return pairs


def defect_cells(calculations: list[Calculation]) -> list[Calculation]:
    return [c for c in calculations if c.labels.defect_type not in ("bulk", "competing_phase")]


def bulk_cell(calculations: list[Calculation]) -> Calculation:
    return next(c for c in calculations if c.labels.defect_type == "bulk")


def pair_id(higher: Calculation, lower: Calculation) -> str:
    """'GaN:C_N:0/-1'."""
    labels = higher.labels
    return f"{labels.host}:{labels.defect_name}:{labels.charge}/{lower.labels.charge}"


@dataclass
class StepOutputs:
    """What steps hand on within one host: each cell's relaxation, its ground state (the structure search's where
    one ran), and the phonons and potential of each defect cell."""

    relaxed: dict[str, OutputReference] = field(default_factory=dict)
    searched: dict[str, OutputReference] = field(default_factory=dict)
    phonons: dict[str, list[OutputReference]] = field(default_factory=dict)
    potentials: dict[str, OutputReference] = field(default_factory=dict)

    def ground_state(self, calculation_id: str) -> OutputReference:
        """The cell's lowest-energy relaxed structure: from its structure search, else its relaxation."""
        return self.searched.get(calculation_id) or self.relaxed[calculation_id]


class Step:
    """The jobs of one campaign property on one host. ``needs``: properties whose outputs it reads (the campaign
    must ask for them too); ``after``: properties whose outputs it reads when the campaign asks for them."""

    property: ClassVar[str]
    needs: ClassVar[tuple[str, ...]] = ()
    after: ClassVar[tuple[str, ...]] = ()

    def add(self, cells: HostCells, registry: TaskRegistry, outputs: StepOutputs) -> None:
        """Make (through ``registry``) the jobs of this property for ``cells``, reading and extending ``outputs``."""
        raise NotImplementedError

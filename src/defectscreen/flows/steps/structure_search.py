"""Seed 002's structure search: each defect cell's ground state from distorted candidates relaxed with a surrogate
fine-tuned per host and charge, only the unique minima relaxed with the engine. A training host (search.training_hosts)
is searched fully with the engine instead; in benchmark mode every host is, to compare."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING

from jobflow import OutputReference

from defectscreen.flows.registry import TaskRegistry
from defectscreen.flows.steps.base import HostCells, Step, StepOutputs, bulk_cell, defect_cells
from defectscreen.flows.steps.relaxation import relaxation
from defectscreen.jobs.search import FullSearchMaker, GroundStateMaker, StructureSearchMaker, SurrogateMaker

if TYPE_CHECKING:
    from defectscreen.flows.campaign import Campaign
    from defectscreen.flows.defect_set import Calculation

FULL_SEARCH_TASK = "full_search"
GROUND_STATE_TASK = "ground_state"
SURROGATE_TASK = "surrogate"
SEARCH_TASK = "structure_search"


@dataclass(frozen=True)
class StoredSearch:
    """A finished full search on the LaunchPad: its host, charge, the uuid of the job whose output it is and that
    of its cell's unperturbed relaxation."""

    host: str
    charge: int
    uuid: str
    unperturbed: str


@dataclass(frozen=True)
class TrainingFamily:
    """The training hosts of an earlier campaign (search.training_campaign), searched fully with the engine and
    stored: their bulk relaxations (host -> uuid) and full searches also train this campaign's surrogates."""

    campaign: str
    bulk_relaxations: dict[str, str]
    full_searches: tuple[StoredSearch, ...]

    def version(self) -> str:
        """SHA-256 of the stored jobs it names: a family searched further makes new surrogates."""
        names = sorted([*self.bulk_relaxations.values(), *(s.uuid for s in self.full_searches)])
        return hashlib.sha256("|".join([self.campaign, *names]).encode()).hexdigest()

    def training_data(self, host: str, charge: int) -> tuple[list[OutputReference], list[OutputReference]]:
        """Bulk relaxations and full searches of charge ``charge`` that train ``host``'s surrogate (never its own)."""
        searches = [s for s in self.full_searches if s.charge == charge and s.host != host]
        hosts = sorted({s.host for s in searches})
        return ([OutputReference(self.bulk_relaxations[h]) for h in hosts],
                [OutputReference(s.uuid) for s in searches])

    def prior_data(self, host: str) -> tuple[list[OutputReference], list[OutputReference]]:
        """Full searches of every charge state that make ``host``'s family prior (never its own), and their cells'
        unperturbed relaxations."""
        searches = [s for s in self.full_searches if s.host != host]
        return [OutputReference(s.uuid) for s in searches], [OutputReference(s.unperturbed) for s in searches]


def full_search_hash(campaign: Campaign) -> str:
    """Settings hash of the full reference search: engine, relaxation, candidates."""
    search = campaign.search
    return hashlib.sha256("|".join([
        campaign.engine.settings_hash(), campaign.relax.model_dump_json(),
        search.model_dump_json(include={"distortion_increment", "neighbour_pairs"})]).encode()).hexdigest()


def candidate_relaxation_hash(campaign: Campaign) -> str:
    """Settings hash of a full search's candidate relaxations: engine and relaxation alone (a candidate's start is
    fixed by its cell and name, whatever the grid that holds it)."""
    return hashlib.sha256("|".join([campaign.engine.settings_hash(), campaign.relax.model_dump_json()]).encode()
                          ).hexdigest()


def surrogate_search_hashes(campaign: Campaign, host: str, family: TrainingFamily | None = None) -> dict[str, str]:
    """Settings hashes of ``host``'s surrogates (the full search they learn from, their recipe, the hosts whose full
    searches they learn from and the stored family they reuse) and of the search that uses them. 'all_others' counts
    as the hosts it names, so a campaign with other hosts trains other surrogates."""
    search = campaign.search
    training = json.dumps({"training_hosts": related_hosts(campaign, host)}, separators=(",", ":"), ensure_ascii=False)
    parts = [full_search_hash(campaign), search.surrogate.model_dump_json(), training]
    surrogate = hashlib.sha256("|".join(parts + ([family.version()] if family is not None else [])).encode()
                               ).hexdigest()
    unset = {name for name, default in (("max_sent", None), ("send_within_eV", None), ("prior_candidates", 0))
             if getattr(search, name) == default}
    searched_with_surrogate = hashlib.sha256(
        f"{surrogate}|{search.model_dump_json(exclude={'surrogate', 'training_campaign', *unset})}".encode()
    ).hexdigest()
    return {SURROGATE_TASK: surrogate, SEARCH_TASK: searched_with_surrogate}


def surrogate_id(host: str, charge: int) -> str:
    """'CdTe:surrogate:-1': the surrogate serving one host's defects in one charge state."""
    return f"{host}:surrogate:{charge}"


def is_training_host(campaign: Campaign, host: str) -> bool:
    """A host named in search.training_hosts: fully searched with the engine, no surrogate of its own."""
    return isinstance(campaign.search.training_hosts, list) and host in campaign.search.training_hosts


def related_hosts(campaign: Campaign, host: str) -> list[str]:
    """Hosts whose full searches and bulk relaxations also train this host's surrogates."""
    training = campaign.search.training_hosts
    if training == "all_others":
        return [h.name for h in campaign.hosts if h.name != host]
    return [h for h in training if h != host]


def full_search(cells: HostCells, cell: Calculation, group: list[Calculation],
                registry: TaskRegistry) -> OutputReference:
    """Every candidate of ``cell`` (of this host or another; ``group``: its host's cells) relaxed with the engine;
    the candidates a full search of another grid relaxed already are read, not relaxed again."""
    campaign = cells.campaign
    maker = FullSearchMaker(engine_settings=cells.engine_settings,
                            fmax_eV_per_angstrom=campaign.relax.fmax_eV_per_angstrom,
                            max_steps=campaign.relax.max_steps, search=campaign.search.model_dump(mode="json"),
                            candidate_settings_hash=candidate_relaxation_hash(campaign))
    labels = cell.labels
    bulk = bulk_cell(group).structure
    return registry.output(
        labels.host, labels.calculation_id, FULL_SEARCH_TASK, full_search_hash(campaign),
        lambda: maker.make(cell.structure, bulk, labels, cells.campaign_sha256,
                           relaxed_earlier=registry.relaxed_full_search_candidates(labels.calculation_id,
                                                                                   maker.candidate_settings_hash)))


class StructureSearch(Step):
    property = "structure_search"
    needs = ("relaxation",)

    def add(self, cells: HostCells, registry: TaskRegistry, outputs: StepOutputs) -> None:
        campaign, searched = cells.campaign, cells.defects
        if not searched:
            return
        if is_training_host(campaign, cells.host):
            self._ground_states_from_full_searches(cells, registry, outputs)
            return
        family = cells.training_family
        hashes = surrogate_search_hashes(campaign, cells.host, family)
        training = SurrogateMaker(settings=campaign.search.surrogate.model_dump(mode="json"))
        bulk = outputs.relaxed[cells.bulk.labels.calculation_id]
        surrogates = {}
        trained = sorted({c.labels.charge for c in searched}) if campaign.search.max_sent != 0 else []  # 0: prior alone
        for charge in trained:
            own = [outputs.relaxed[c.labels.calculation_id] for c in searched if c.labels.charge == charge]
            related = {h: [c for c in defect_cells(cells.other_hosts[h]) if c.labels.charge == charge]
                       for h in related_hosts(campaign, cells.host)}
            bulks = [relaxation(cells, bulk_cell(cells.other_hosts[h]), registry)
                     for h, same_charge in related.items() if same_charge]
            searches = [full_search(cells, c, cells.other_hosts[h], registry)
                        for h, same_charge in related.items() for c in same_charge]
            if family is not None:
                stored_bulks, stored_searches = family.training_data(cells.host, charge)
                bulks, searches = [*bulks, *stored_bulks], [*searches, *stored_searches]
            sid = surrogate_id(cells.host, charge)
            surrogates[charge] = registry.output(
                cells.host, sid, SURROGATE_TASK, hashes[SURROGATE_TASK],
                lambda: training.make(bulk, own, sid, cells.campaign_sha256, related_bulks=bulks,
                                      related_searches=searches,
                                      training_campaign=family.campaign if family is not None else None))
        search = StructureSearchMaker(
            engine_settings=cells.engine_settings, fmax_eV_per_angstrom=campaign.relax.fmax_eV_per_angstrom,
            max_steps=campaign.relax.max_steps, search=campaign.search.model_dump(mode="json"),
            settings_hash=hashes[SEARCH_TASK])
        prior = self._family_prior_data(cells, registry) if campaign.search.prior_candidates else {}
        for cell in searched:
            cid = cell.labels.calculation_id
            compared = full_search(cells, cell, cells.calculations, registry) if campaign.search.benchmark else None
            outputs.searched[cid] = registry.output(
                cells.host, cid, SEARCH_TASK, hashes[SEARCH_TASK],
                lambda: search.make(cell.structure, cells.bulk.structure, cell.labels, outputs.relaxed[cid],
                                    surrogates.get(cell.labels.charge), cells.campaign_sha256, full_search=compared,
                                    **prior))

    @staticmethod
    def _family_prior_data(cells: HostCells, registry: TaskRegistry) -> dict[str, list[OutputReference]]:
        """The related hosts' full searches of every charge state and their cells' unperturbed relaxations (this
        campaign's and the stored family's): the inputs of the search's family prior."""
        related = [(c, cells.other_hosts[h]) for h in related_hosts(cells.campaign, cells.host)
                   for c in defect_cells(cells.other_hosts[h])]
        searches = [full_search(cells, c, group, registry) for c, group in related]
        unperturbed = [relaxation(cells, c, registry) for c, _ in related]
        if cells.training_family is not None:
            stored_searches, stored_unperturbed = cells.training_family.prior_data(cells.host)
            searches, unperturbed = [*searches, *stored_searches], [*unperturbed, *stored_unperturbed]
        return {"related_searches": searches, "related_unperturbed": unperturbed}

    @staticmethod
    def _ground_states_from_full_searches(cells: HostCells, registry: TaskRegistry, outputs: StepOutputs) -> None:
        """A training host: each cell's ground state is the lowest of its unperturbed and fully searched relaxations."""
        settings_hash = full_search_hash(cells.campaign)
        for cell in cells.defects:
            cid = cell.labels.calculation_id
            searched_all = full_search(cells, cell, cells.calculations, registry)
            outputs.searched[cid] = registry.output(
                cells.host, cid, GROUND_STATE_TASK, settings_hash,
                lambda: GroundStateMaker().make(outputs.relaxed[cid], searched_all.relaxations))

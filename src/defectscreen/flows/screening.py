"""One jobflow Flow per host: the reference calculations a campaign asks for, and what is built on them."""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field

from jobflow import Flow, Job, Maker, OutputReference

from defectscreen.flows.campaign import Campaign
from defectscreen.flows.defect_set import Calculation
from defectscreen.jobs import (
    ConfigurationCoordinateMaker,
    EmbeddedSpectrumMaker,
    EmbeddingConvergenceMaker,
    GammaPhononMaker,
    HuangRhysMaker,
    PotentialMaker,
    RelaxMaker,
    StaticMaker,
    TrainingSetMaker,
)
from defectscreen.jobs.dielectric import DielectricMaker
from defectscreen.jobs.search import FullSearchMaker, GroundStateMaker, StructureSearchMaker, SurrogateMaker
from defectscreen.jobs.tagging import tag_job, task_key
from defectscreen.physics.embedding import repetitions_series

PROPERTY_TASKS = {"relaxation": "relax", "unrelaxed_energy": "static"}
CCD_TASK = "ccd"
PHONON_TASKS = ("training_set", "potential", "phonons_potential")
VALIDATION_TASK = "phonons_engine"
EMBEDDING_TASK = "embedded_phonons"
CONVERGENCE_TASK = "embedding_convergence"
HUANG_RHYS_TASK = "huang_rhys"
FULL_SEARCH_TASK = "full_search"
GROUND_STATE_TASK = "ground_state"
SURROGATE_TASK = "surrogate"
SEARCH_TASK = "structure_search"
DIELECTRIC_TASK = "dielectric"


def phonon_task_hashes(campaign: Campaign) -> dict[str, str]:
    """Settings hash of each task of the phonon chain over exactly the settings its result depends on, so that
    changing e.g. the training epochs retrains without relabelling the training set."""
    recipe, phonons = campaign.potential, campaign.phonons
    parts = {
        "training_set": recipe.model_dump_json(include={"n_structures", "r_max_angstrom", "seed",
                                                        "validation_fraction"}),
        "potential": recipe.model_dump_json(include={"training", "max_validation_force_rmse_meV_per_angstrom"}),
        "phonons_potential": phonons.model_dump_json(include={"displacement_angstrom"}),
        VALIDATION_TASK: "",
        HUANG_RHYS_TASK: phonons.model_dump_json(include={"sigma_meV"}),
        EMBEDDING_TASK: phonons.model_dump_json(include={"sigma_meV", "embedding_method", "embedding_basis"}),
        CONVERGENCE_TASK: phonons.model_dump_json(include={"embedding_atoms"}),
    }
    chain, hashes = campaign.engine.settings_hash(), {}
    for task, settings in parts.items():
        chain = hashlib.sha256(f"{chain}|{settings}".encode()).hexdigest()
        hashes[task] = chain
    return hashes


def search_task_hashes(campaign: Campaign) -> dict[str, str]:
    """Settings hashes of the full reference search (engine, relaxation, candidates), of the surrogate built on it
    (its recipe and training hosts) and of the search that uses the surrogate."""
    search = campaign.search
    full = hashlib.sha256("|".join([
        campaign.engine.settings_hash(), campaign.relax.model_dump_json(),
        search.model_dump_json(include={"distortion_increment", "neighbour_pairs"})]).encode()).hexdigest()
    surrogate = hashlib.sha256(
        f"{full}|{search.surrogate.model_dump_json()}|{search.model_dump_json(include={'training_hosts'})}".encode()
    ).hexdigest()
    searched_with_surrogate = hashlib.sha256(
        f"{surrogate}|{search.model_dump_json(exclude={'surrogate'})}".encode()).hexdigest()
    return {FULL_SEARCH_TASK: full, SURROGATE_TASK: surrogate, SEARCH_TASK: searched_with_surrogate}


def computes_dielectric(campaign: Campaign, host: str) -> bool:
    """Whether the campaign computes this host's dielectric constant (formation energies, 'computed')."""
    return "formation_energy" in campaign.properties and any(
        spec.name == host and spec.dielectric_constant == "computed" for spec in campaign.hosts)


def dielectric_task_key(campaign: Campaign, host: str) -> str:
    """Task key of a host's dielectric job: engine settings and formation.dielectric."""
    settings = f"{campaign.engine.settings_hash()}|{campaign.formation.dielectric.model_dump_json()}"
    return task_key(f"{host}:dielectric", DIELECTRIC_TASK, hashlib.sha256(settings.encode()).hexdigest())


def surrogate_id(host: str, charge: int) -> str:
    """'CdTe:surrogate:-1': the surrogate serving one host's defects in one charge state."""
    return f"{host}:surrogate:{charge}"


def searched(campaign: Campaign, calculations: list[Calculation]) -> list[Calculation]:
    """Defect cells whose ground state comes from a structure search."""
    return _defects(calculations) if "structure_search" in campaign.properties else []


def is_training_host(campaign: Campaign, host: str) -> bool:
    """A host named in search.training_hosts: fully searched with the engine, no surrogate of its own."""
    return isinstance(campaign.search.training_hosts, list) and host in campaign.search.training_hosts


def has_full_search(campaign: Campaign, host: str) -> bool:
    """Every candidate of the host's defects is relaxed with the engine: a training host, or any host in benchmark
    mode."""
    return campaign.search.benchmark or is_training_host(campaign, host)


def related_hosts(campaign: Campaign, host: str) -> list[str]:
    """Hosts whose full searches and bulk relaxations also train this host's surrogates."""
    training = campaign.search.training_hosts
    if training == "all_others":
        return [h.name for h in campaign.hosts if h.name != host]
    return [h for h in training if h != host]


def _search_keys(campaign: Campaign, calculations: list[Calculation]) -> list[str]:
    cells = searched(campaign, calculations)
    if not cells:
        return []
    hashes, host = search_task_hashes(campaign), cells[0].labels.host
    keys = [task_key(c.labels.calculation_id, FULL_SEARCH_TASK, hashes[FULL_SEARCH_TASK])
            for c in cells if has_full_search(campaign, host)]
    if is_training_host(campaign, host):
        return keys + [task_key(c.labels.calculation_id, GROUND_STATE_TASK, hashes[FULL_SEARCH_TASK]) for c in cells]
    keys += [task_key(surrogate_id(host, q), SURROGATE_TASK, hashes[SURROGATE_TASK])
             for q in {c.labels.charge for c in cells}]
    return keys + [task_key(c.labels.calculation_id, SEARCH_TASK, hashes[SEARCH_TASK]) for c in cells]


def adjacent_charge_pairs(calculations: list[Calculation]) -> list[tuple[Calculation, Calculation]]:
    """(higher, lower) charge states of the same defect that differ by one electron."""
    by_defect: dict[str, list[Calculation]] = defaultdict(list)
    for calculation in _defects(calculations):
        by_defect[calculation.labels.defect_name].append(calculation)
    pairs = []
    for states in by_defect.values():
        states.sort(key=lambda c: c.labels.charge, reverse=True)
        pairs += [(a, b) for a, b in zip(states, states[1:]) if a.labels.charge - b.labels.charge == 1]
    return pairs


def pair_id(higher: Calculation, lower: Calculation) -> str:
    """'GaN:C_N:0/-1'."""
    labels = higher.labels
    return f"{labels.host}:{labels.defect_name}:{labels.charge}/{lower.labels.charge}"


def _defects(calculations: list[Calculation]) -> list[Calculation]:
    return [c for c in calculations if c.labels.defect_type not in ("bulk", "competing_phase")]


def _property_tasks(campaign: Campaign, calculation: Calculation) -> list[str]:
    """Reference tasks of one cell: those its properties ask for; a competing phase is only relaxed."""
    if calculation.labels.defect_type == "competing_phase":
        return ["relax"]
    return [PROPERTY_TASKS[p] for p in campaign.properties if p in PROPERTY_TASKS]


def planned_keys(campaign: Campaign, calculations: list[Calculation]) -> list[str]:
    """Every task key the campaign asks for on these calculations."""
    settings_hash = campaign.engine.settings_hash()
    keys = [task_key(c.labels.calculation_id, task, settings_hash)
            for c in calculations for task in _property_tasks(campaign, c)]
    keys += _search_keys(campaign, calculations)
    keys += [dielectric_task_key(campaign, c.labels.host) for c in calculations
             if c.labels.defect_type == "bulk" and computes_dielectric(campaign, c.labels.host)]
    pairs = adjacent_charge_pairs(calculations)
    if "configuration_coordinate" in campaign.properties:
        keys += [task_key(pair_id(a, b), CCD_TASK, settings_hash) for a, b in pairs]
    hashes = phonon_task_hashes(campaign)
    if "phonons" in campaign.properties:
        for c in _defects(calculations):
            labels = c.labels
            tasks = PHONON_TASKS + ((VALIDATION_TASK,) if campaign.phonons.validated(labels.calculation_id,
                                                                                     labels.defect_name) else ())
            keys += [task_key(labels.calculation_id, task, hashes[task]) for task in tasks]
    if "huang_rhys" in campaign.properties:
        keys += [task_key(pair_id(a, b), HUANG_RHYS_TASK, hashes[HUANG_RHYS_TASK]) for a, b in pairs]
    if "embedded_phonons" in campaign.properties:
        for a, b in pairs:
            keys += [task_key(pair_id(a, b), _embedding_label(reps), hashes[EMBEDDING_TASK])
                     for reps in embedding_repetitions(campaign, a)]
            keys.append(task_key(pair_id(a, b), CONVERGENCE_TASK, hashes[CONVERGENCE_TASK]))
    return keys


def embedding_repetitions(campaign: Campaign, calculation: Calculation) -> list[tuple[int, int, int]]:
    """(1, 1, 1) and the repetitions of the defect cell nearest to each of the campaign's embedding sizes."""
    return repetitions_series(calculation.structure.lattice, len(calculation.structure),
                              campaign.phonons.embedding_atoms)


def _embedding_label(repetitions: tuple[int, int, int]) -> str:
    return f"{EMBEDDING_TASK}_{'x'.join(map(str, repetitions))}"


@dataclass
class HostScreeningMaker(Maker):
    """Reference relaxations and/or single points of a host's bulk and defect supercells; configuration-coordinate
    diagrams, per-defect potentials, Γ phonons and Huang–Rhys factors built on them; the host's dielectric tensor
    where the campaign says 'computed'. The campaign's competing phases go through the same maker as the pseudo-host 'phases' (relaxations only).

    ``submitted`` maps the task keys already on the LaunchPad to their jobflow uuids: those jobs are
    left out (a resubmitted campaign adds only what is new) and later jobs read their outputs by uuid. ``built``
    collects the jobs this maker made, by task key: a surrogate that learns from another host's full searches
    (``search.training_hosts``) makes them, or reads them, from there, so each job is made once per submission.
    """

    name: str = "host screening"
    submitted: dict[str, str] = field(default_factory=dict)
    built: dict[str, tuple[OutputReference, str]] = field(default_factory=dict)

    def make(self, campaign: Campaign, host: str, calculations: list[Calculation],
             other_hosts: dict[str, list[Calculation]] | None = None) -> Flow:
        """``other_hosts``: the calculations of the campaign's other hosts (needed with search.training_hosts)."""
        engine_settings = campaign.engine.model_dump(mode="json")
        recipe = campaign.potential.model_dump(mode="json")
        settings_hash, hashes = campaign.engine.settings_hash(), phonon_task_hashes(campaign)
        campaign_sha256 = campaign.sha256()
        makers = {
            "relax": RelaxMaker(engine_settings=engine_settings, fmax_eV_per_angstrom=campaign.relax.fmax_eV_per_angstrom,
                                max_steps=campaign.relax.max_steps),
            "static": StaticMaker(engine_settings=engine_settings),
        }
        jobs: list[Job] = []

        def output(key: str, calculation_id: str, build: Callable[[], Job],
                   job_host: str = host) -> tuple[OutputReference, str]:
            """The output of the task with this key: submitted earlier (read by uuid), made already, or a new job."""
            if key in self.submitted:
                return OutputReference(self.submitted[key]), self.submitted[key]
            if key not in self.built:
                job = build()
                job.name = f"{key.split('|')[1]} {calculation_id}"
                jobs.append(tag_job(job, key, job_host, calculation_id, campaign.name))
                self.built[key] = (job.output, job.uuid)
            return self.built[key]

        def task(calculation: Calculation, task_label: str) -> tuple[OutputReference, str]:
            labels = calculation.labels
            return output(task_key(labels.calculation_id, task_label, settings_hash), labels.calculation_id,
                          lambda: makers[task_label].make(calculation.structure, labels, campaign_sha256), labels.host)

        relaxed: dict[str, tuple[OutputReference, str]] = {}
        for calculation in calculations:
            for task_label in _property_tasks(campaign, calculation):
                result = task(calculation, task_label)
                if task_label == "relax":
                    relaxed[calculation.labels.calculation_id] = result
        self._search(campaign, host, calculations, relaxed, output, lambda c: task(c, "relax"), other_hosts or {})
        if computes_dielectric(campaign, host):
            bulk_cell = next(c for c in calculations if c.labels.defect_type == "bulk")
            dielectric = DielectricMaker(engine_settings=engine_settings, **campaign.formation.dielectric.model_dump())
            output(dielectric_task_key(campaign, host), f"{host}:dielectric",
                   lambda: dielectric.make(bulk_cell.structure, host, campaign.name, campaign_sha256))

        pairs = adjacent_charge_pairs(calculations)
        if "configuration_coordinate" in campaign.properties:
            ccd = ConfigurationCoordinateMaker(engine_settings=engine_settings)
            for higher, lower in pairs:
                (higher_output, higher_uuid) = relaxed[higher.labels.calculation_id]
                (lower_output, lower_uuid) = relaxed[lower.labels.calculation_id]
                output(task_key(pair_id(higher, lower), CCD_TASK, settings_hash), pair_id(higher, lower),
                       lambda: ccd.make(higher_output, lower_output, campaign_sha256, [higher_uuid, lower_uuid]))

        phonons: dict[str, list[tuple[OutputReference, str]]] = {}
        potentials: dict[str, tuple[OutputReference, str]] = {}
        if "phonons" in campaign.properties:
            training = TrainingSetMaker(engine_settings=engine_settings, recipe=recipe)
            fitting = PotentialMaker(recipe=recipe)
            gamma = GammaPhononMaker(engine_settings=engine_settings,
                                     displacement_angstrom=campaign.phonons.displacement_angstrom)
            for calculation in _defects(calculations):
                cid, name = calculation.labels.calculation_id, calculation.labels.defect_name
                (relax_output, relax_uuid) = relaxed[cid]
                data = output(task_key(cid, "training_set", hashes["training_set"]), cid,
                              lambda: training.make(relax_output, campaign_sha256, [relax_uuid]))
                potential = output(task_key(cid, "potential", hashes["potential"]), cid,
                                   lambda: fitting.make(data[0], campaign_sha256, [data[1]]))
                from_potential = output(task_key(cid, "phonons_potential", hashes["phonons_potential"]), cid,
                                        lambda: gamma.make(relax_output, relax_uuid, campaign_sha256,
                                                           potential=potential[0], potential_uuid=potential[1]))
                phonons[cid] = [from_potential]
                potentials[cid] = potential
                if campaign.phonons.validated(cid, name):
                    phonons[cid].append(output(
                        task_key(cid, VALIDATION_TASK, hashes[VALIDATION_TASK]), cid,
                        lambda: gamma.make(relax_output, relax_uuid, campaign_sha256, compare_with=from_potential[0],
                                           compare_with_uuid=from_potential[1])))

        if "embedded_phonons" in campaign.properties:
            phonon_settings = campaign.phonons
            for higher, lower in pairs:
                bulk = next(c.labels.calculation_id for c in calculations if c.labels.defect_type == "bulk")
                basis, other = ((higher, lower) if phonon_settings.embedding_basis == "higher_charge"
                                else (lower, higher))
                bid, oid = basis.labels.calculation_id, other.labels.calculation_id
                (phonon_output, phonon_uuid), (potential_output, potential_uuid) = phonons[bid][0], potentials[bid]
                parents = [relaxed[bid][1], relaxed[oid][1], relaxed[bulk][1], phonon_uuid, potential_uuid]
                points = []
                for reps in embedding_repetitions(campaign, basis):
                    maker = EmbeddedSpectrumMaker(repetitions=reps, method=phonon_settings.embedding_method,
                                                  sigma_meV=phonon_settings.sigma_meV)
                    points.append(output(
                        task_key(pair_id(higher, lower), _embedding_label(reps), hashes[EMBEDDING_TASK]),
                        pair_id(higher, lower),
                        lambda: maker.make(relaxed[bid][0], relaxed[oid][0], relaxed[bulk][0], phonon_output,
                                           potential_output, parents, pair_id(higher, lower))))
                output(task_key(pair_id(higher, lower), CONVERGENCE_TASK, hashes[CONVERGENCE_TASK]),
                       pair_id(higher, lower),
                       lambda: EmbeddingConvergenceMaker().make([ref for ref, _ in points],
                                                                [uuid for _, uuid in points]))

        if "huang_rhys" in campaign.properties:
            huang_rhys = HuangRhysMaker(sigma_meV=campaign.phonons.sigma_meV)
            for higher, lower in pairs:
                states = [higher.labels.calculation_id, lower.labels.calculation_id]
                used = phonons[states[0]] + phonons[states[1]]
                output(task_key(pair_id(higher, lower), HUANG_RHYS_TASK, hashes[HUANG_RHYS_TASK]), pair_id(higher, lower),
                       lambda: huang_rhys.make(relaxed[states[0]][0], relaxed[states[1]][0],
                                               [relaxed[s][1] for s in states], [ref for ref, _ in used],
                                               [uuid for _, uuid in used], campaign_sha256))
        return Flow(jobs, name=f"{campaign.name}:{host}")

    @staticmethod
    def _search(campaign: Campaign, host: str, calculations: list[Calculation],
                relaxed: dict[str, tuple[OutputReference, str]], output: Callable,
                relax: Callable[[Calculation], tuple[OutputReference, str]],
                other_hosts: dict[str, list[Calculation]]) -> None:
        """Full searches where asked for; a training host's ground states from its full searches, every other host's
        from surrogates per charge state (learning also from the related hosts' full searches) and one search per
        defect cell. ``relaxed`` then points at the ground states."""
        cells = searched(campaign, calculations)
        if not cells:
            return
        hashes, campaign_sha256 = search_task_hashes(campaign), campaign.sha256()
        reference = {"engine_settings": campaign.engine.model_dump(mode="json"),
                     "fmax_eV_per_angstrom": campaign.relax.fmax_eV_per_angstrom,
                     "max_steps": campaign.relax.max_steps, "search": campaign.search.model_dump(mode="json")}
        full = FullSearchMaker(**reference, settings_hash=hashes[FULL_SEARCH_TASK])

        def bulk_of(group: list[Calculation]) -> Calculation:
            return next(c for c in group if c.labels.defect_type == "bulk")

        def full_search(cell: Calculation, group: list[Calculation]) -> tuple[OutputReference, str]:
            cid = cell.labels.calculation_id
            return output(task_key(cid, FULL_SEARCH_TASK, hashes[FULL_SEARCH_TASK]), cid,
                          lambda: full.make(cell.structure, bulk_of(group).structure, cell.labels, campaign_sha256),
                          cell.labels.host)

        if is_training_host(campaign, host):
            for cell in cells:
                cid = cell.labels.calculation_id
                (unperturbed, unperturbed_uuid), (searched_all, full_uuid) = (relaxed[cid],
                                                                               full_search(cell, calculations))
                relaxed[cid] = output(task_key(cid, GROUND_STATE_TASK, hashes[FULL_SEARCH_TASK]), cid,
                                      lambda: GroundStateMaker().make(unperturbed, searched_all.relaxations,
                                                                      [unperturbed_uuid, full_uuid]))
            return
        bulk_output, bulk_uuid = relaxed[bulk_of(calculations).labels.calculation_id]
        training = SurrogateMaker(settings=campaign.search.surrogate.model_dump(mode="json"))
        surrogates = {}
        for charge in sorted({c.labels.charge for c in cells}):
            own = [relaxed[c.labels.calculation_id] for c in cells if c.labels.charge == charge]
            related = {h: [c for c in searched(campaign, other_hosts[h]) if c.labels.charge == charge]
                       for h in related_hosts(campaign, host)}
            bulks = [relax(bulk_of(other_hosts[h])) for h, same_charge in related.items() if same_charge]
            searches = [full_search(c, other_hosts[h]) for h, same_charge in related.items() for c in same_charge]
            parents = [bulk_uuid, *[u for _, u in own + bulks + searches]]
            sid = surrogate_id(host, charge)
            surrogates[charge] = output(
                task_key(sid, SURROGATE_TASK, hashes[SURROGATE_TASK]), sid,
                lambda: training.make(bulk_output, [r for r, _ in own], parents, sid, campaign_sha256,
                                      related_bulks=[r for r, _ in bulks], related_searches=[r for r, _ in searches]))
        search = StructureSearchMaker(**reference, settings_hash=hashes[SEARCH_TASK])
        for cell in cells:
            cid = cell.labels.calculation_id
            (unperturbed, unperturbed_uuid), (surrogate, sur_uuid) = relaxed[cid], surrogates[cell.labels.charge]
            compared = full_search(cell, calculations) if campaign.search.benchmark else (None, None)
            relaxed[cid] = output(task_key(cid, SEARCH_TASK, hashes[SEARCH_TASK]), cid,
                                  lambda: search.make(cell.structure, bulk_of(calculations).structure, cell.labels,
                                                      unperturbed, unperturbed_uuid, surrogate, sur_uuid,
                                                      campaign_sha256, *compared))

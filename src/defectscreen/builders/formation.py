"""defects (+ bulk and competing-phase tasks) -> formation energies: one document per host, engine settings and
formation settings (limits, charge-neutral Fermi level), one per defect of it (formation energies, levels)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime

from maggma.core import Store
from monty.json import MontyDecoder
from pymatgen.core import Composition, Lattice

from defectscreen.analysis.formation import (
    chemical_potential_limits,
    defect_formation,
    fermi_levels,
    formation_flags,
    k_sampling_length,
    phase_entry,
)
from defectscreen.builders.common import IncrementalBuilder, engine_key, input_fingerprint
from defectscreen.builders.defects import (
    CHANGE_FIELDS,
    HEADER,
    RELAXED,
    dielectric_constant,
    newest_dielectrics,
    recomputed_hosts,
)
from defectscreen.schemas.formation import (
    ChemicalPotentialLimit,
    DefectFormation,
    DefectFormationDocument,
    FormationEnergyDocument,
    FormationInputs,
    FormationLines,
    settings_key,
)

#: what a rebuild of a host takes from its previous document when the host's own inputs are unchanged.
THERMO_FIELDS = {"elemental_reference_energies_eV_per_atom": "references", "competing_phases": "phase_enthalpies",
                 "host_formation_enthalpy_eV_per_atom": "host_enthalpy",
                 "host_energy_above_hull_eV_per_atom": "host_above_hull", "chemical_potential_limits": "limits"}
#: charge-state documents read per query while loading (a full build of 100 hosts x 100 defects reads 30,000)
LOAD_CHUNK = 1_000
#: what a rebuild reads of a host's previous document
PREVIOUS_FIELDS = ["host_id", "host_input_fingerprint", "defect_lines", "flags", *THERMO_FIELDS]


class FormationEnergyBuilder(IncrementalBuilder):
    """Every defect document of a host corrected under its campaign's current settings + its bulk relaxation + the
    competing phases computed with the same engine settings -> ``FormationEnergyDocument`` in
    ``formation_energies``, keyed by ``host_id`` (host, engine settings, formation settings): chemical-potential
    limits and the charge-neutral Fermi level at the campaign's ``formation.temperature_K``; and per defect a
    ``DefectFormationDocument`` in ``defect_formation_energies`` (formation energies at the VBM per limit,
    transition levels). A resubmission with other formation settings builds new documents and leaves the old ones
    as they were. Hosts without every elemental reference phase are skipped with a warning naming the missing
    elements.

    Each defect carries the fingerprint of what it is computed from: a rebuild recomputes and rewrites the defects
    whose charge-state documents changed, takes the others' formation-energy lines (and, while the host's own inputs
    are unchanged, the chemical-potential limits) from the previous host document, and solves the host's charge
    neutrality again over all of them."""

    key = "host_id"
    indexes = ("host", "campaign_sha256", "band_gap_eV")
    older_layout = {"defect_lines.defect_names": {"$exists": False}}
    #: indexed fields of the per-defect documents
    defect_indexes = ("host_id", "host", "defect_name")

    def __init__(self, tasks: Store, campaigns: Store, defects: Store, formation_energies: Store,
                 defect_formation_energies: Store, **kwargs) -> None:
        self.tasks, self.campaigns, self.defects = tasks, campaigns, defects
        self.formation_energies, self.defect_formation_energies = formation_energies, defect_formation_energies
        super().__init__([tasks, campaigns, defects], formation_energies, **kwargs)

    def connect(self) -> None:
        super().connect()
        self.defect_formation_energies.connect()
        for field in self.defect_indexes:
            self.defect_formation_energies.ensure_index(field)

    def scope(self) -> tuple[list[str], dict[str, list[str]]] | None:
        """(hosts whose every defect is planned, host -> names of the defects whose charge-state documents changed)
        after the changes since the last build: a recomputed bulk cell or dielectric constant affects its host, a
        rebuilt charge-state document its defect; None (plan everything) after a campaign was submitted again or a
        competing phase recomputed, or without change feeds."""
        campaigns = self.changed(self.campaigns, ["name"])
        tasks = self.changed(self.tasks, CHANGE_FIELDS)
        defects = self.changed(self.defects, ["labels.host", "labels.defect_name"])
        if campaigns is None or tasks is None or defects is None or campaigns or any(
                doc["output"].get("task_label") == "relax"
                and doc["output"]["labels"]["defect_type"] == "competing_phase" for doc in tasks):
            return None
        whole = recomputed_hosts(tasks)
        names: dict[str, set[str]] = defaultdict(set)
        for doc in defects:
            if doc["labels"]["host"] not in whole:
                names[doc["labels"]["host"]].add(doc["labels"]["defect_name"])
        return sorted(whole), {host: sorted(changed) for host, changed in sorted(names.items())}

    def _charge_states(self, criteria: dict) -> dict[tuple[str, str, str], list[dict]]:
        """(host, engine settings hash, correction settings key) -> headers of the charge-state documents."""
        groups: dict[tuple[str, str, str], list[dict]] = defaultdict(list)
        for doc in self.defects.query(criteria, properties=["defect_id", "input_fingerprint", "labels",
                                                            "engine.settings_hash", "settings_key"]):
            groups[(doc["labels"]["host"], doc["engine"]["settings_hash"], doc["settings_key"])].append(doc)
        return groups

    def plan(self) -> Iterable[dict]:
        """Per host: its inputs' fingerprint (bulk cell, competing phases of its chemical system, campaign) and each
        defect's (that and its charge-state documents). A host whose only changes are some defects' documents takes
        the other defects' fingerprints and the chemical system from its previous document, when the host's
        fingerprint is unchanged; else its defects are all read."""
        scope = self.scope()
        campaigns = {doc["name"]: doc for doc in self.campaigns.query()}
        groups: dict[tuple[str, str, str], list[dict]] = defaultdict(list)
        previous: dict[str, dict] = {}
        hosts, on_hosts = None, {}
        if scope is None:
            groups.update(self._charge_states({}))
        else:
            whole, changed = scope
            for criteria in [{"labels.host": {"$in": whole}}, *({"labels.host": host, "labels.defect_name": {
                    "$in": names}} for host, names in changed.items())]:
                for key, docs in self._charge_states(criteria).items():
                    groups[key].extend(docs)
            previous = {doc["host_id"]: doc for doc in self.formation_energies.query(
                {"host": {"$in": list(changed)}}, properties=PREVIOUS_FIELDS)}
            hosts = sorted({*whole, *changed})
            on_hosts = {"output.labels.host": {"$in": hosts}}
        bulks = {(doc["output"]["labels"]["host"], doc["output"]["engine"]["settings_hash"]): doc
                 for doc in self.tasks.query({**RELAXED, "output.labels.defect_type": "bulk", **on_hosts},
                                             properties=[*HEADER, "output.labels.defect_elements", "output.formula"])}
        dielectrics = newest_dielectrics(self.tasks, hosts)
        phases = list(self.tasks.query({**RELAXED, "output.labels.defect_type": "competing_phase"},
                                       properties=[*HEADER, "output.labels.defect_elements", "output.formula",
                                                   "output.energy_eV"]))
        for (host, settings_hash, correction_key), defects in sorted(groups.items()):
            campaign = campaigns.get(defects[0]["labels"]["campaign"])
            if campaign is None:
                continue
            inputs = FormationInputs.from_campaign(campaign, host)
            if settings_key(inputs.correction) != correction_key:
                continue  # defects corrected under an earlier version of the campaign: their documents stay as built
            bulk = bulks[(host, settings_hash)]
            host_id = f"{host}|{engine_key(settings_hash)}|{settings_key(inputs)}"
            epsilon, dielectric_uuid = dielectric_constant(inputs.correction,
                                                           dielectrics.get((host, settings_hash)))
            kept = previous.get(host_id)
            elements = set(kept["elemental_reference_energies_eV_per_atom"]) if kept else set()
            used, host_fingerprint = self._host_inputs(bulk, defects, phases, elements, campaign, inputs, epsilon)
            if scope is not None and host not in scope[0] and (kept is None or kept.get("host_input_fingerprint")
                                                               != host_fingerprint):
                defects = self._charge_states({"labels.host": host})[(host, settings_hash, correction_key)]
                kept = None
                used, host_fingerprint = self._host_inputs(bulk, defects, phases, set(), campaign, inputs, epsilon)
            states: dict[str, list[dict]] = defaultdict(list)
            for doc in sorted(defects, key=lambda doc: doc["defect_id"]):
                states[doc["labels"]["defect_name"]].append(doc)
            fingerprints = {name: input_fingerprint(host_fingerprint, [(d["defect_id"], d["input_fingerprint"])
                                                                       for d in docs])
                            for name, docs in states.items()}
            if kept is not None:
                fingerprints = {**dict(zip(kept["defect_lines"]["defect_names"],
                                           kept["defect_lines"]["input_fingerprints"])), **fingerprints}
            fingerprints = dict(sorted(fingerprints.items()))
            yield {"host_id": host_id, "host": host, "inputs": inputs,
                   "campaign": {"name": campaign["name"], "sha256": campaign["sha256"]},
                   "bulk_uuid": bulk["uuid"], "phases": [{"uuid": p["uuid"], **p["output"]} for p in used],
                   "defect_ids": {name: [d["defect_id"] for d in docs] for name, docs in states.items()},
                   "dielectric_constant": epsilon, "dielectric_task_uuid": dielectric_uuid,
                   "host_fingerprint": host_fingerprint, "defect_fingerprints": fingerprints,
                   "whole": kept is None, "previous": kept, "fingerprint": input_fingerprint(fingerprints)}

    @staticmethod
    def _host_inputs(bulk: dict, defects: list[dict], phases: list[dict], elements: set[str], campaign: dict,
                     inputs: FormationInputs, epsilon: float | list | None) -> tuple[list[dict], str]:
        """(competing phases of the host's chemical system — its elements, ``elements`` and its defects' — computed
        with the bulk cell's engine settings, the fingerprint of the host's inputs)."""
        settings_hash = bulk["output"]["engine"]["settings_hash"]
        if inputs.phase_entries:
            phases = []  # the campaign's own entries, part of ``inputs``
        system = elements | {el for d in defects for el in d["labels"]["defect_elements"]} | set(
            Composition(bulk["output"]["formula"]).chemical_system.split("-"))
        used = sorted((p for p in phases if p["output"]["engine"]["settings_hash"] == settings_hash
                       and set(p["output"]["labels"]["defect_elements"]) <= system),
                      key=lambda p: p["output"]["labels"]["calculation_id"])
        return used, input_fingerprint(bulk["uuid"], bulk["completed_at"], [(p["uuid"], p["completed_at"]) for p in used],
                                       campaign["sha256"], inputs.model_dump(), epsilon)

    def load(self, pending: list[dict]) -> Iterator[dict]:
        """The pending hosts' bulk cells and previous documents (read here where planning did not); of the defects,
        only those whose fingerprint changed are read: the others' lines are taken as built, and the previous
        chemical-potential limits while the host's own inputs are unchanged."""
        bulk_documents = {doc["uuid"]: doc for doc in self.tasks.query(
            {"uuid": {"$in": [item["bulk_uuid"] for item in pending]}},
            properties=["uuid", "output.formula", "output.energy_eV", "output.levels", "output.structure.lattice",
                        "output.labels.calculation_id", "output.engine"])}
        unread = [item["host_id"] for item in pending if item["previous"] is None]
        built = {doc["host_id"]: doc for doc in self.formation_energies.query(
            {"host_id": {"$in": unread}}, properties=PREVIOUS_FIELDS)} if unread else {}
        batch: list[tuple[dict, dict, FormationLines | None, list[str]]] = []
        reading = 0
        for item in pending:
            previous = item["previous"] or built.get(item["host_id"], {})
            kept = FormationLines(**previous["defect_lines"]) if previous.get("defect_lines") else None
            same = {name for name, fingerprint in (kept.fingerprints() if kept else {}).items()
                    if item["defect_fingerprints"].get(name) == fingerprint}
            changed = sorted(set(item["defect_fingerprints"]) - same)
            batch.append((item, previous, FormationLines.joined([kept], keep=same) if same else None, changed))
            reading += sum(len(item["defect_ids"][name]) for name in changed)
            if reading >= LOAD_CHUNK:
                yield from self._with_defects(batch, bulk_documents)
                batch, reading = [], 0
        yield from self._with_defects(batch, bulk_documents)

    def _with_defects(self, batch: list[tuple[dict, dict, FormationLines | None, list[str]]],
                      bulk_documents: dict[str, dict]) -> Iterator[dict]:
        """The items of ``batch`` (item, previous document, reused lines, changed defects) with their changed
        defects' charge-state documents, read in one query."""
        wanted = [i for item, *_, changed in batch for name in changed for i in item["defect_ids"][name]]
        documents = {doc["defect_id"]: doc for doc in self.defects.query({"defect_id": {"$in": wanted}})}
        for item, previous, reused, changed in batch:
            thermo = None
            if previous.get("host_input_fingerprint") == item["host_fingerprint"]:
                thermo = {name: previous[field] for field, name in THERMO_FIELDS.items()}
                thermo["limits"] = [ChemicalPotentialLimit(**limit) for limit in thermo["limits"]]
            yield {**item, "bulk": bulk_documents[item["bulk_uuid"]], "reused": reused,
                   "previous_flags": previous.get("flags"), "thermo": thermo,
                   "defects": {name: [documents[i] for i in item["defect_ids"][name]] for name in changed}}

    def process_item(self, item: dict) -> dict | None:
        """{"host": the FormationEnergyDocument, "defects": the DefectFormationDocuments of the recomputed defects,
        "flags_changed": whether the host's flags differ from its previous document's, "whole": every defect of the
        host is in the item}."""
        bulk, inputs = item["bulk"]["output"], item["inputs"]
        if bulk.get("levels") is None:
            self.logger.warning(f"{item['host_id']}: the bulk relaxation stored no one-electron levels (made by an "
                                "older version); delete it from the JobStore and resubmit to recompute it")
            return None
        thermo = item["thermo"]
        if thermo is None:
            try:
                phases = ([MontyDecoder().process_decoded(entry) for entry in inputs.phase_entries] if inputs.phase_entries
                          else [phase_entry(p) for p in item["phases"]])
                thermo = chemical_potential_limits(phase_entry(bulk), phases, inputs.chemical_potentials)
            except ValueError as error:
                fix = ("add an entry of that element to the formation.phase_entries file and resubmit"
                       if inputs.phase_entries else "Its relaxation is missing or failed (see `defectscreen status`); "
                       "give a structure of that element the engine can compute under formation.competing_phases and "
                       "resubmit")
                self.logger.warning(f"{item['host_id']}: {error}. {fix}")
                return None
        limits = thermo["limits"]
        levels = bulk["levels"]
        vbm, cbm = levels["highest_occupied_eV"], levels["lowest_unoccupied_eV"]
        computed = [defect_formation(name, states[0]["labels"]["defect_type"], states, limits, thermo["references"],
                                     vbm, cbm - vbm).model_copy(update={"input_fingerprint":
                                                                        item["defect_fingerprints"][name]})
                    for name, states in item["defects"].items()]
        lines = FormationLines.joined([*([item["reused"]] if item["reused"] else []),
                                       *(defect.lines() for defect in computed)])
        lattice = Lattice.from_dict(bulk["structure"]["lattice"])
        kpts = bulk["engine"]["settings"].get("kpts")
        k_length = None if kpts is None else k_sampling_length(lattice, kpts)
        solutions = fermi_levels(lines, limits, levels, lattice.volume, inputs.temperature_K)
        special = bulk["engine"]["name"] == "vasp" and bulk["engine"]["settings"].get("kpoints") is None
        flags = formation_flags(bulk["engine"]["name"], bulk["formula"], cbm - vbm, solutions, k_length, special)
        host = FormationEnergyDocument(
            host_id=item["host_id"], host=item["host"], campaign=item["campaign"]["name"], inputs=inputs,
            settings_key=settings_key(inputs), formula=bulk["formula"], vbm_eV=vbm, cbm_eV=cbm, band_gap_eV=cbm - vbm,
            host_formation_enthalpy_eV_per_atom=thermo["host_enthalpy"],
            host_energy_above_hull_eV_per_atom=thermo["host_above_hull"],
            elemental_reference_energies_eV_per_atom=thermo["references"],
            competing_phases=thermo["phase_enthalpies"], chemical_potential_limits=limits, defect_lines=lines,
            fermi_levels=solutions, flags=flags,
            dielectric_constant=item["dielectric_constant"], dielectric_task_uuid=item["dielectric_task_uuid"],
            effective_masses=inputs.effective_masses, engine=bulk["engine"], bulk_task_uuid=item["bulk"]["uuid"],
            source_uuids=[item["bulk"]["uuid"], *(p["uuid"] for p in item["phases"])],
            campaign_sha256=item["campaign"]["sha256"], host_input_fingerprint=item["host_fingerprint"],
            input_fingerprint=item["fingerprint"])
        return {"host": host.model_dump(mode="json"),
                "defects": [self._defect_document(host, defect).model_dump(mode="json") for defect in computed],
                "flags_changed": item["previous_flags"] is not None and item["previous_flags"] != flags,
                "whole": item["whole"]}

    @staticmethod
    def _defect_document(host: FormationEnergyDocument, defect: DefectFormation) -> DefectFormationDocument:
        return DefectFormationDocument(
            **dict(defect), defect_formation_id=defect_formation_id(host.host_id, defect.defect_name),
            host_id=host.host_id, host=host.host, campaign=host.campaign, campaign_sha256=host.campaign_sha256,
            engine_name=host.engine.name, band_gap_eV=host.band_gap_eV, effective_masses=host.effective_masses,
            dielectric_constant=host.dielectric_constant, flags=host.flags)

    def update_targets(self, items: list[dict | None]) -> None:
        """Store the host documents and their recomputed defects' documents; where a host's flags changed, its
        other defects' documents get the new flags; where a host was built whole, documents of defects it no longer
        has are removed."""
        items = [item for item in items if item is not None]
        stamp = {self.defect_formation_energies.last_updated_field: datetime.now(UTC).isoformat()}
        defects = [{**doc, **stamp} for item in items for doc in item["defects"]]
        for item in items:
            host, rewritten = item["host"], {doc["defect_name"] for doc in item["defects"]}
            kept = [name for name in host["defect_lines"]["defect_names"] if name not in rewritten]
            if item["flags_changed"] and kept:
                defects += [{**doc, "flags": host["flags"], **stamp}
                            for doc in self.defect_formation_energies.query(
                                {"host_id": host["host_id"], "defect_name": {"$in": kept}})]
        if defects:
            self.defect_formation_energies.update([{k: v for k, v in doc.items() if k != "_id"} for doc in defects],
                                                  key="defect_formation_id")
        for item in items:
            if item["whole"]:
                self.defect_formation_energies.remove_docs({"host_id": item["host"]["host_id"], "defect_name": {
                    "$nin": item["host"]["defect_lines"]["defect_names"]}})
        super().update_targets([item["host"] for item in items])


def defect_formation_id(host_id: str, defect_name: str) -> str:
    """'GaN:C_N|<engine>|<settings>' from the host's 'GaN|<engine>|<settings>'."""
    host, _, ids = host_id.partition("|")
    return f"{host}:{defect_name}|{ids}"

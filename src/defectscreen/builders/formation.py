"""defects (+ bulk and competing-phase tasks) -> formation energies: one document per host, engine settings and
formation settings."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator

from maggma.core import Store
from pymatgen.core import Composition, Lattice

from defectscreen.analysis.formation import (
    chemical_potential_limits,
    defect_formation,
    fermi_levels,
    formation_flags,
    phase_entry,
)
from defectscreen.builders.common import IncrementalBuilder, engine_key, input_fingerprint
from defectscreen.builders.defects import HEADER, RELAXED
from defectscreen.schemas.formation import DefectFormation, FormationEnergyDocument, FormationInputs, settings_key


class FormationEnergyBuilder(IncrementalBuilder):
    """Every defect document of a host corrected under its campaign's current settings + its bulk relaxation + the
    competing phases computed with the same engine settings -> ``FormationEnergyDocument`` in
    ``formation_energies``, keyed by ``host_id`` (host, engine settings, formation settings): chemical-potential
    limits, formation energies at the VBM per limit, transition levels and the charge-neutral Fermi level at the
    campaign's ``formation.temperature_K``. A resubmission with other formation settings builds a new document and
    leaves the old one as it was. Hosts without every elemental reference phase are skipped with a warning naming
    the missing elements.

    Each defect's entry carries the fingerprint of what it is computed from: a rebuild recomputes the entries of the
    defects whose charge-state documents changed and takes the others from the previous document, then solves the
    host's charge neutrality again over all of them."""

    key = "host_id"
    indexes = ("host", "campaign_sha256", "defects.defect_name", "defects.transition_levels.level_eV", "band_gap_eV")
    older_layout = {"settings_key": {"$exists": False}}

    def __init__(self, tasks: Store, campaigns: Store, defects: Store, formation_energies: Store, **kwargs) -> None:
        self.tasks, self.campaigns, self.defects = tasks, campaigns, defects
        self.formation_energies = formation_energies
        super().__init__([tasks, campaigns, defects], formation_energies, **kwargs)

    def plan(self) -> Iterable[dict]:
        campaigns = {doc["name"]: doc for doc in self.campaigns.query()}
        groups: dict[tuple[str, str, str], list[dict]] = defaultdict(list)
        for doc in self.defects.query(properties=["defect_id", "input_fingerprint", "labels", "engine.settings_hash",
                                                  "settings_key"]):
            groups[(doc["labels"]["host"], doc["engine"]["settings_hash"], doc["settings_key"])].append(doc)
        bulks = {(doc["output"]["labels"]["host"], doc["output"]["engine"]["settings_hash"]): doc
                 for doc in self.tasks.query({**RELAXED, "output.labels.defect_type": "bulk"},
                                             properties=[*HEADER, "output.labels.defect_elements", "output.formula"])}
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
            system = {el for d in defects for el in d["labels"]["defect_elements"]} | set(
                Composition(bulk["output"]["formula"]).chemical_system.split("-"))
            used = sorted((p for p in phases if p["output"]["engine"]["settings_hash"] == settings_hash
                           and set(p["output"]["labels"]["defect_elements"]) <= system),
                          key=lambda p: p["output"]["labels"]["calculation_id"])
            host_fingerprint = input_fingerprint(bulk["uuid"], bulk["completed_at"],
                                                 [(p["uuid"], p["completed_at"]) for p in used], campaign["sha256"],
                                                 inputs.model_dump())
            states: dict[str, list[dict]] = defaultdict(list)
            for doc in sorted(defects, key=lambda doc: doc["defect_id"]):
                states[doc["labels"]["defect_name"]].append(doc)
            fingerprints = {name: input_fingerprint(host_fingerprint, [(d["defect_id"], d["input_fingerprint"])
                                                                       for d in docs])
                            for name, docs in sorted(states.items())}
            charged = [d["defect_id"] for docs in states.values() for d in docs if d["labels"]["charge"] != 0]
            yield {"host_id": f"{host}|{engine_key(settings_hash)}|{settings_key(inputs)}", "host": host,
                   "inputs": inputs, "campaign": {"name": campaign["name"], "sha256": campaign["sha256"]},
                   "bulk_uuid": bulk["uuid"], "phases": [{"uuid": p["uuid"], **p["output"]} for p in used],
                   "defect_ids": {name: [d["defect_id"] for d in docs] for name, docs in states.items()},
                   "screening_defect_id": (charged or [defects[0]["defect_id"]])[0],
                   "defect_fingerprints": fingerprints, "fingerprint": input_fingerprint(fingerprints)}

    def load(self, pending: list[dict]) -> Iterator[dict]:
        """The pending hosts' bulk cells and previous documents; of the defects, only those whose fingerprint
        changed are read (and the one whose ε⁰ the host reports): the others' entries are taken as built."""
        bulk_documents = {doc["uuid"]: doc for doc in self.tasks.query(
            {"uuid": {"$in": [item["bulk_uuid"] for item in pending]}},
            properties=["uuid", "output.formula", "output.energy_eV", "output.levels", "output.structure.lattice",
                        "output.labels.calculation_id", "output.engine"])}
        built = {doc["host_id"]: doc["defects"] for doc in self.formation_energies.query(
            {"host_id": {"$in": [item["host_id"] for item in pending]}}, properties=["host_id", "defects"])}
        for item in pending:
            previous = {entry["defect_name"]: entry for entry in built.get(item["host_id"], [])}
            reused = [previous[name] for name, fingerprint in item["defect_fingerprints"].items()
                      if previous.get(name, {}).get("input_fingerprint") == fingerprint]
            changed = sorted(set(item["defect_fingerprints"]) - {entry["defect_name"] for entry in reused})
            wanted = [item["screening_defect_id"], *(i for name in changed for i in item["defect_ids"][name])]
            documents = {doc["defect_id"]: doc for doc in self.defects.query({"defect_id": {"$in": wanted}})}
            yield {**item, "bulk": bulk_documents[item["bulk_uuid"]], "reused": reused,
                   "screening": documents[item["screening_defect_id"]],
                   "defects": {name: [documents[i] for i in item["defect_ids"][name]] for name in changed}}

    def process_item(self, item: dict) -> dict | None:
        bulk, inputs = item["bulk"]["output"], item["inputs"]
        if bulk.get("levels") is None:
            self.logger.warning(f"{item['host_id']}: the bulk relaxation stored no one-electron levels (made by an "
                                "older version); delete it from the JobStore and resubmit to recompute it")
            return None
        try:
            thermo = chemical_potential_limits(phase_entry(bulk), [phase_entry(p) for p in item["phases"]],
                                               inputs.chemical_potentials)
        except ValueError as error:
            self.logger.warning(f"{item['host_id']}: {error}. Its relaxation is missing or failed (see `defectscreen "
                                "status`); give a structure of that element the engine can compute under "
                                "formation.competing_phases and resubmit")
            return None
        levels = bulk["levels"]
        vbm, cbm = levels["highest_occupied_eV"], levels["lowest_unoccupied_eV"]
        computed = [defect_formation(name, states[0]["labels"]["defect_type"], states, thermo["limits"],
                                     thermo["references"], vbm, cbm - vbm).model_copy(
                                         update={"input_fingerprint": item["defect_fingerprints"][name]})
                    for name, states in item["defects"].items()]
        defects = sorted([*computed, *(DefectFormation(**entry) for entry in item["reused"])],
                         key=lambda defect: defect.defect_name)
        volume = Lattice.from_dict(bulk["structure"]["lattice"]).volume
        screened = item["screening"] if item["screening"]["correction"]["dielectric_constant"] is not None else None
        solutions = fermi_levels(defects, thermo["limits"], levels, volume, inputs.temperature_K)
        return FormationEnergyDocument(
            host_id=item["host_id"], host=item["host"], campaign=item["campaign"]["name"], inputs=inputs,
            settings_key=settings_key(inputs), formula=bulk["formula"], vbm_eV=vbm, cbm_eV=cbm, band_gap_eV=cbm - vbm,
            host_formation_enthalpy_eV_per_atom=thermo["host_enthalpy"],
            host_energy_above_hull_eV_per_atom=thermo["host_above_hull"],
            elemental_reference_energies_eV_per_atom=thermo["references"], competing_phases=thermo["phase_enthalpies"],
            chemical_potential_limits=thermo["limits"], defects=defects,
            fermi_levels=solutions, flags=formation_flags(bulk["engine"]["name"], bulk["formula"], cbm - vbm, solutions),
            dielectric_constant=screened["correction"]["dielectric_constant"] if screened else None,
            dielectric_task_uuid=screened.get("dielectric_task_uuid") if screened else None,
            effective_masses=inputs.effective_masses, engine=bulk["engine"], bulk_task_uuid=item["bulk"]["uuid"],
            source_uuids=[item["bulk"]["uuid"], *(p["uuid"] for p in item["phases"]),
                          *(state.defect_uuid for defect in defects for state in defect.charge_states)],
            campaign_sha256=item["campaign"]["sha256"], input_fingerprint=item["fingerprint"]).model_dump(mode="json")

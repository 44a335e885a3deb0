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
from defectscreen.schemas.formation import FormationEnergyDocument, FormationInputs, settings_key


class FormationEnergyBuilder(IncrementalBuilder):
    """Every defect document of a host corrected under its campaign's current settings + its bulk relaxation + the
    competing phases computed with the same engine settings -> ``FormationEnergyDocument`` in
    ``formation_energies``, keyed by ``host_id`` (host, engine settings, formation settings): chemical-potential
    limits, formation energies at the VBM per limit, transition levels and the charge-neutral Fermi level at the
    campaign's ``formation.temperature_K``. A resubmission with other formation settings builds a new document and
    leaves the old one as it was. Hosts without every elemental reference phase are skipped with a warning naming
    the missing elements."""

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
            yield {"host_id": f"{host}|{engine_key(settings_hash)}|{settings_key(inputs)}", "host": host,
                   "inputs": inputs, "campaign": {"name": campaign["name"], "sha256": campaign["sha256"]},
                   "bulk_uuid": bulk["uuid"], "phases": [{"uuid": p["uuid"], **p["output"]} for p in used],
                   "defect_ids": sorted(d["defect_id"] for d in defects),
                   "fingerprint": input_fingerprint(sorted((d["defect_id"], d["input_fingerprint"]) for d in defects),
                                                    bulk["uuid"], bulk["completed_at"],
                                                    [(p["uuid"], p["completed_at"]) for p in used],
                                                    campaign["sha256"], inputs.model_dump())}

    def load(self, pending: list[dict]) -> Iterator[dict]:
        bulk_documents = {doc["uuid"]: doc for doc in self.tasks.query(
            {"uuid": {"$in": [item["bulk_uuid"] for item in pending]}},
            properties=["uuid", "output.formula", "output.energy_eV", "output.levels", "output.structure.lattice",
                        "output.labels.calculation_id", "output.engine"])}
        defect_documents = {doc["defect_id"]: doc for doc in self.defects.query(
            {"labels.host": {"$in": sorted({item["host"] for item in pending})}})}
        for item in pending:
            yield {**item, "bulk": bulk_documents[item["bulk_uuid"]],
                   "defects": [defect_documents[defect_id] for defect_id in item["defect_ids"]]}

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
        by_defect: dict[str, list[dict]] = defaultdict(list)
        for doc in item["defects"]:
            by_defect[doc["labels"]["defect_name"]].append(doc)
        defects = [defect_formation(name, states[0]["labels"]["defect_type"], states, thermo["limits"],
                                    thermo["references"], vbm, cbm - vbm) for name, states in sorted(by_defect.items())]
        volume = Lattice.from_dict(bulk["structure"]["lattice"]).volume
        screened = next((d for d in item["defects"] if d["correction"]["dielectric_constant"] is not None), None)
        solutions = fermi_levels(defects, thermo["limits"], levels, volume, inputs.temperature_K)
        return FormationEnergyDocument(
            host_id=item["host_id"], host=item["host"], campaign=item["campaign"]["name"], inputs=inputs,
            settings_key=settings_key(inputs), formula=bulk["formula"], vbm_eV=vbm, cbm_eV=cbm, band_gap_eV=cbm - vbm,
            host_formation_enthalpy_eV_per_atom=thermo["host_enthalpy"],
            host_energy_above_hull_eV_per_atom=thermo["host_above_hull"],
            elemental_reference_energies_eV_per_atom=thermo["references"], competing_phases=thermo["phase_enthalpies"],
            chemical_potential_limits=thermo["limits"], defects=defects,
            fermi_levels=solutions, flags=formation_flags(bulk["engine"]["name"], cbm - vbm, solutions),
            dielectric_constant=screened["correction"]["dielectric_constant"] if screened else None,
            dielectric_task_uuid=screened.get("dielectric_task_uuid") if screened else None,
            effective_masses=inputs.effective_masses, engine=bulk["engine"], bulk_task_uuid=item["bulk"]["uuid"],
            source_uuids=[item["bulk"]["uuid"], *(p["uuid"] for p in item["phases"]),
                          *(d["task_uuid"] for d in item["defects"])],
            campaign_sha256=item["campaign"]["sha256"], input_fingerprint=item["fingerprint"]).model_dump(mode="json")

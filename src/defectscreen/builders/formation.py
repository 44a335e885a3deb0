"""defects (+ bulk and competing-phase tasks) -> formation energies: one document per host and engine settings."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator

from maggma.core import Builder, Store
from pymatgen.core import Composition, Lattice

from defectscreen.analysis.formation import (
    chemical_potential_limits,
    defect_formation,
    fermi_levels,
    phase_entry,
)
from defectscreen.builders.common import (
    engine_key,
    ensure_indexes,
    input_fingerprint,
    replace_documents,
)
from defectscreen.builders.defects import HEADER, RELAXED
from defectscreen.schemas.formation import FormationEnergyDocument


class FormationEnergyBuilder(Builder):
    """Every defect document of a host + its bulk relaxation + the competing phases computed with the same engine
    settings -> ``FormationEnergyDocument`` in ``formation_energies``, keyed by ``host_id``: chemical-potential
    limits, formation energies at the VBM per limit, transition levels and the charge-neutral Fermi level at the
    campaign's ``formation.temperature_K``. Hosts without every elemental reference phase are skipped with a
    warning naming the missing elements."""

    def __init__(self, tasks: Store, campaigns: Store, defects: Store, formation_energies: Store, **kwargs) -> None:
        self.tasks, self.campaigns, self.defects, self.formation_energies = tasks, campaigns, defects, formation_energies
        self.stored_keys: set[str] = set()  # target keys when get_items last ran
        super().__init__(sources=[tasks, campaigns, defects], targets=[formation_energies], **kwargs)

    def get_items(self) -> Iterator[dict]:
        ensure_indexes(self.formation_energies, ("host_id", "host", "defects.defect_name",
                                                 "defects.transition_levels.level_eV", "band_gap_eV"))
        campaigns = {doc["name"]: doc for doc in self.campaigns.query()}
        groups: dict[tuple[str, str], list[dict]] = defaultdict(list)
        for doc in self.defects.query(properties=["defect_id", "input_fingerprint", "labels", "engine.settings_hash"]):
            groups[(doc["labels"]["host"], doc["engine"]["settings_hash"])].append(doc)
        bulks = {(doc["output"]["labels"]["host"], doc["output"]["engine"]["settings_hash"]): doc
                 for doc in self.tasks.query({**RELAXED, "output.labels.defect_type": "bulk"},
                                             properties=[*HEADER, "output.formula"])}
        phases = list(self.tasks.query({**RELAXED, "output.labels.defect_type": "competing_phase"},
                                       properties=[*HEADER, "output.formula", "output.energy_eV"]))
        built = {doc["host_id"]: doc["input_fingerprint"]
                 for doc in self.formation_energies.query(properties=["host_id", "input_fingerprint"])}
        self.stored_keys = set(built)
        pending = []
        for (host, settings_hash), defects in sorted(groups.items()):
            host_id = f"{host}|{engine_key(settings_hash)}"
            bulk = bulks[(host, settings_hash)]
            campaign = campaigns[defects[0]["labels"]["campaign"]]
            system = {el for d in defects for el in d["labels"]["defect_elements"]} | set(
                Composition(bulk["output"]["formula"]).chemical_system.split("-"))
            used = sorted((p for p in phases if p["output"]["engine"]["settings_hash"] == settings_hash
                           and set(p["output"]["labels"]["defect_elements"]) <= system),
                          key=lambda p: p["output"]["labels"]["calculation_id"])
            fingerprint = input_fingerprint(sorted((d["defect_id"], d["input_fingerprint"]) for d in defects),
                                            bulk["uuid"], bulk["completed_at"],
                                            [(p["uuid"], p["completed_at"]) for p in used], campaign["sha256"])
            if built.get(host_id) != fingerprint:
                pending.append({"host_id": host_id, "host": host, "fingerprint": fingerprint, "campaign": campaign,
                                "bulk_uuid": bulk["uuid"], "phases": [{"uuid": p["uuid"], **p["output"]} for p in used],
                                "defect_ids": {d["defect_id"] for d in defects}})
        self.total = len(pending)
        bulk_documents = {doc["uuid"]: doc for doc in self.tasks.query(
            {"uuid": {"$in": [item["bulk_uuid"] for item in pending]}},
            properties=["uuid", "output.formula", "output.energy_eV", "output.levels", "output.structure.lattice",
                        "output.labels.calculation_id",
                        "output.engine"])}
        defect_documents: dict[str, list[dict]] = defaultdict(list)
        for doc in self.defects.query({"labels.host": {"$in": sorted({item["host"] for item in pending})}}):
            defect_documents[doc["defect_id"]].append(doc)
        for item in pending:
            defect_ids = sorted(item.pop("defect_ids"))
            yield {**item, "bulk": bulk_documents[item["bulk_uuid"]],
                   "defects": [doc for defect_id in defect_ids for doc in defect_documents[defect_id]]}

    def process_item(self, item: dict) -> dict | None:
        bulk = item["bulk"]["output"]
        settings = item["campaign"]["campaign"]["formation"]
        if bulk.get("levels") is None:
            self.logger.warning(f"{item['host_id']}: the bulk relaxation stored no one-electron levels (made by an "
                                "older version); delete it from the JobStore and resubmit to recompute it")
            return None
        try:
            thermo = chemical_potential_limits(phase_entry(bulk), [phase_entry(p) for p in item["phases"]],
                                               settings["chemical_potentials"])
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
        host = next((h for h in item["campaign"]["campaign"]["hosts"] if h["name"] == item["host"]), {})
        masses = {carrier: host[f"effective_mass_{carrier}"] for carrier in ("electron", "hole")
                  if host.get(f"effective_mass_{carrier}") is not None}
        return FormationEnergyDocument(
            host_id=item["host_id"], host=item["host"], campaign=item["campaign"]["name"], formula=bulk["formula"],
            vbm_eV=vbm, cbm_eV=cbm, band_gap_eV=cbm - vbm,
            host_formation_enthalpy_eV_per_atom=thermo["host_enthalpy"],
            host_energy_above_hull_eV_per_atom=thermo["host_above_hull"],
            elemental_reference_energies_eV_per_atom=thermo["references"], competing_phases=thermo["phase_enthalpies"],
            chemical_potential_limits=thermo["limits"], defects=defects,
            fermi_levels=fermi_levels(defects, thermo["limits"], levels, volume, settings["temperature_K"]),
            dielectric_constant=screened["correction"]["dielectric_constant"] if screened else None,
            dielectric_task_uuid=screened.get("dielectric_task_uuid") if screened else None, effective_masses=masses,
            engine=bulk["engine"], bulk_task_uuid=item["bulk"]["uuid"],
            source_uuids=[item["bulk"]["uuid"], *(p["uuid"] for p in item["phases"]),
                          *(d["task_uuid"] for d in item["defects"])],
            campaign_sha256=item["campaign"]["sha256"], input_fingerprint=item["fingerprint"]).model_dump(mode="json")

    def update_targets(self, items: list[dict]) -> None:
        replace_documents(self.formation_energies, items, "host_id", self.stored_keys)

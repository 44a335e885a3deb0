"""tasks -> defects: one document per relaxed defect and charge state, with its finite-size correction."""

from __future__ import annotations

from collections.abc import Iterator

from maggma.core import Builder, Store
from pymatgen.core import Lattice, Structure

from defectscreen.analysis.formation import finite_size_correction, kumagai_oba_correction
from defectscreen.builders.common import (
    engine_key,
    ensure_indexes,
    input_fingerprint,
    replace_documents,
)
from defectscreen.schemas.formation import DefectChargeDocument

RELAXED = {"output.task_label": "relax", "output.converged": True}
#: what the correction needs of a defect task (read in the one scan of the task documents: no structure sites).
TASK_FIELDS = ["uuid", "output.labels", "output.energy_eV", "output.structure.lattice", "output.engine",
               "output.campaign_sha256", "output.planar_average_potential_eV"]
HEADER = ["uuid", "completed_at", "output.labels", "output.engine.settings_hash", "output.campaign_sha256"]


SITE_FIELDS = ["uuid", "output.structure", "output.site_potential_eV"]


DIELECTRIC_FIELDS = ["uuid", "completed_at", "output.host", "output.engine.settings_hash", "output.epsilon_static"]


def charge_model(campaign: dict | None, host: str, computed: dict | None
                 ) -> tuple[float | list | None, float, str, str | None]:
    """(dielectric constant of ``host``, Freysoldt Gaussian width, correction scheme, uuid of the dielectric
    document it came from) from a stored campaign document ('freysoldt' for campaigns stored before the scheme
    could be chosen). ``computed``: the host's newest dielectric document with the defect's engine settings, used
    where the campaign says 'computed' (None there: no constant yet)."""
    if campaign is None:
        return None, 1.0, "freysoldt", None
    spec = next((h for h in campaign["campaign"]["hosts"] if h["name"] == host), {})
    formation = campaign["campaign"]["formation"]
    dielectric, source = spec.get("dielectric_constant"), None
    if dielectric == "computed":
        dielectric, source = (computed["output"]["epsilon_static"], computed["uuid"]) if computed else (None, None)
    return dielectric, formation["gaussian_width_bohr"], formation.get("correction", "freysoldt"), source


class DefectBuilder(Builder):
    """Relaxed defect task documents (with their host's bulk relaxation of the same engine settings) ->
    ``DefectChargeDocument`` in ``defects``, keyed by ``defect_id``.

    The dielectric constant and correction scheme come from the newest submitted version of the campaign
    (``campaigns`` collection); a constant the campaign computes comes from the host's newest dielectric document
    (ε⁰ tensor) with the defect's engine settings. Charged defects of a host without a dielectric constant, and Kumagai–Oba
    corrections of cells without atomic-site potentials, are skipped with a warning naming the fix.
    """

    def __init__(self, tasks: Store, campaigns: Store, defects: Store, **kwargs) -> None:
        self.tasks, self.campaigns, self.defects = tasks, campaigns, defects
        self.stored_keys: set[str] = set()  # target keys when get_items last ran
        super().__init__(sources=[tasks, campaigns], targets=[defects], **kwargs)

    def get_items(self) -> Iterator[dict]:
        ensure_indexes(self.defects, ("defect_id", "labels.host", "labels.defect_name", "labels.charge", "task_uuid"))
        campaigns = {doc["name"]: doc for doc in self.campaigns.query()}
        bulks = {}
        for doc in self.tasks.query({**RELAXED, "output.labels.defect_type": "bulk"}, properties=HEADER):
            bulks[(doc["output"]["labels"]["host"], doc["output"]["engine"]["settings_hash"])] = doc
        dielectrics: dict[tuple[str, str], dict] = {}
        for doc in sorted(self.tasks.query({"output.task_label": "dielectric"}, properties=DIELECTRIC_FIELDS),
                          key=lambda doc: doc["completed_at"]):
            dielectrics[(doc["output"]["host"], doc["output"]["engine"]["settings_hash"])] = doc
        built = {doc["defect_id"]: doc["input_fingerprint"]
                 for doc in self.defects.query(properties=["defect_id", "input_fingerprint"])}
        self.stored_keys = set(built)
        latest: dict[str, dict] = {}
        criteria = {**RELAXED, "output.labels.defect_type": {"$nin": ["bulk", "competing_phase"]}}
        for doc in self.tasks.query(criteria, properties=["completed_at", *TASK_FIELDS]):
            output = doc["output"]
            defect_id = f"{output['labels']['calculation_id']}|{engine_key(output['engine']['settings_hash'])}"
            if defect_id not in latest or doc["completed_at"] > latest[defect_id]["completed_at"]:
                latest[defect_id] = doc
        pending = []
        for defect_id, doc in sorted(latest.items()):
            labels = doc["output"]["labels"]
            bulk = bulks.get((labels["host"], doc["output"]["engine"]["settings_hash"]))
            if bulk is None:
                self.logger.warning(f"{defect_id}: no relaxed bulk cell of {labels['host']} with the same engine "
                                    "settings yet; it is built once that relaxation is stored")
                continue
            campaign = campaigns.get(labels["campaign"])
            model = charge_model(campaign, labels["host"],
                                 dielectrics.get((labels["host"], doc["output"]["engine"]["settings_hash"])))
            if labels["charge"] != 0 and model[0] is None:
                self.logger.warning(f"{defect_id}: charged, but there is no dielectric constant of {labels['host']}: "
                                    f"campaign {labels['campaign']} gives no hosts[{labels['host']}].dielectric_constant "
                                    "(add it and resubmit), or says 'computed' and its dielectric job has not finished")
                continue
            fingerprint = input_fingerprint(doc["uuid"], doc["completed_at"], bulk["uuid"], bulk["completed_at"],
                                            model)
            if built.get(defect_id) != fingerprint:
                pending.append({"defect_id": defect_id, "fingerprint": fingerprint, "campaign": campaign,
                                "charge_model": model, "task_uuid": doc["uuid"], "bulk_uuid": bulk["uuid"]})
        self.total = len(pending)
        bulk_outputs = {doc["uuid"]: doc for doc in self.tasks.query(
            {**RELAXED, "output.labels.defect_type": "bulk"},
            properties=["uuid", "output.energy_eV", "output.planar_average_potential_eV", *SITE_FIELDS[1:]])}
        for item in pending:
            task, bulk = latest[item["defect_id"]], bulk_outputs[item["bulk_uuid"]]
            sites = None  # the defect cell's structure and site potentials, fetched only for Kumagai–Oba
            if task["output"]["labels"]["charge"] != 0 and item["charge_model"][2] == "kumagai":
                sites = self.tasks.query_one({"uuid": task["uuid"]}, properties=SITE_FIELDS)["output"]
                if None in (sites.get("site_potential_eV"), bulk["output"].get("site_potential_eV")):
                    self.logger.warning(f"{item['defect_id']}: formation.correction 'kumagai' needs atomic-site "
                                        "potentials of the defect and bulk cells, which these tasks lack (computed "
                                        "before defectscreen stored them): rerun them or use 'freysoldt'")
                    continue
            yield {**item, "task": task, "bulk": bulk, "sites": sites}

    def process_item(self, item: dict) -> dict:
        task, bulk = item["task"]["output"], item["bulk"]["output"]
        labels = task["labels"]
        dielectric, width, _, dielectric_uuid = item["charge_model"]
        sites = item["sites"]
        if sites is not None:
            correction = kumagai_oba_correction(
                labels["charge"], Structure.from_dict(sites["structure"]), sites["site_potential_eV"],
                Structure.from_dict(bulk["structure"]), bulk["site_potential_eV"], dielectric,
                labels.get("defect_site_frac_coords"))
        else:
            correction = finite_size_correction(
                labels["charge"], Lattice.from_dict(task["structure"]["lattice"]),
                labels.get("defect_site_frac_coords"), dielectric, width, task.get("planar_average_potential_eV"),
                bulk.get("planar_average_potential_eV"))
        return DefectChargeDocument(
            defect_id=item["defect_id"], labels=labels, energy_eV=task["energy_eV"],
            corrected_energy_eV=task["energy_eV"] + correction.correction_eV, correction=correction,
            bulk_energy_eV=bulk["energy_eV"], engine=task["engine"], task_uuid=item["task"]["uuid"],
            bulk_task_uuid=item["bulk"]["uuid"], dielectric_task_uuid=dielectric_uuid,
            campaign_sha256=item["campaign"]["sha256"] if item["campaign"] else task["campaign_sha256"],
            input_fingerprint=item["fingerprint"]).model_dump(mode="json")

    def update_targets(self, items: list[dict]) -> None:
        replace_documents(self.defects, items, "defect_id", self.stored_keys)

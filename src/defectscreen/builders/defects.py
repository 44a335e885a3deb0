"""tasks -> defects: one document per relaxed defect and charge state, with its finite-size correction."""

from __future__ import annotations

from collections.abc import Iterator

from maggma.core import Builder, Store
from pymatgen.core import Lattice

from defectscreen.analysis.formation import finite_size_correction
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


def host_dielectric(campaign: dict | None, host: str) -> tuple[float | list | None, float]:
    """(dielectric constant of ``host``, Freysoldt Gaussian width) from a stored campaign document."""
    if campaign is None:
        return None, 1.0
    spec = next((h for h in campaign["campaign"]["hosts"] if h["name"] == host), {})
    return spec.get("dielectric_constant"), campaign["campaign"]["formation"]["gaussian_width_bohr"]


class DefectBuilder(Builder):
    """Relaxed defect task documents (with their host's bulk relaxation of the same engine settings) ->
    ``DefectChargeDocument`` in ``defects``, keyed by ``defect_id``.

    The dielectric constant and charge model come from the newest submitted version of the campaign
    (``campaigns`` collection). Charged defects of a host without a dielectric constant are skipped with a
    warning naming the campaign field.
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
            charge_model = host_dielectric(campaign, labels["host"])
            if labels["charge"] != 0 and charge_model[0] is None:
                self.logger.warning(f"{defect_id}: charged, but campaign {labels['campaign']} gives no "
                                    f"hosts[{labels['host']}].dielectric_constant; add it and resubmit")
                continue
            fingerprint = input_fingerprint(doc["uuid"], doc["completed_at"], bulk["uuid"], bulk["completed_at"],
                                            charge_model)
            if built.get(defect_id) != fingerprint:
                pending.append({"defect_id": defect_id, "fingerprint": fingerprint, "campaign": campaign,
                                "task_uuid": doc["uuid"], "bulk_uuid": bulk["uuid"]})
        self.total = len(pending)
        bulk_outputs = {doc["uuid"]: doc for doc in self.tasks.query(
            {**RELAXED, "output.labels.defect_type": "bulk"},
            properties=["uuid", "output.energy_eV", "output.planar_average_potential_eV"])}
        for item in pending:
            yield {**item, "task": latest[item["defect_id"]], "bulk": bulk_outputs[item["bulk_uuid"]]}

    def process_item(self, item: dict) -> dict:
        task, bulk = item["task"]["output"], item["bulk"]["output"]
        labels = task["labels"]
        dielectric, width = host_dielectric(item["campaign"], labels["host"])
        correction = finite_size_correction(
            labels["charge"], Lattice.from_dict(task["structure"]["lattice"]), labels.get("defect_site_frac_coords"),
            dielectric, width, task.get("planar_average_potential_eV"),
            bulk.get("planar_average_potential_eV"))
        return DefectChargeDocument(
            defect_id=item["defect_id"], labels=labels, energy_eV=task["energy_eV"],
            corrected_energy_eV=task["energy_eV"] + correction.correction_eV, correction=correction,
            bulk_energy_eV=bulk["energy_eV"], engine=task["engine"], task_uuid=item["task"]["uuid"],
            bulk_task_uuid=item["bulk"]["uuid"],
            campaign_sha256=item["campaign"]["sha256"] if item["campaign"] else task["campaign_sha256"],
            input_fingerprint=item["fingerprint"]).model_dump(mode="json")

    def update_targets(self, items: list[dict]) -> None:
        replace_documents(self.defects, items, "defect_id", self.stored_keys)

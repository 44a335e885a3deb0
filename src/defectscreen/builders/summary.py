"""formation energies + vibronic task documents -> one summary per defect (collection ``summaries``)."""

from __future__ import annotations

from collections.abc import Iterator

from maggma.core import Builder, Store

from defectscreen.analysis.summary import summarize_defect
from defectscreen.builders.common import (
    ensure_indexes,
    input_fingerprint,
    replace_documents,
)
from defectscreen.schemas.formation import DefectFormation, FermiLevelSolution

#: document kind -> criteria on the JobStore that select it (each has output.calculation_id 'host:defect:q/q-1').
VIBRONIC = {
    "configuration_coordinate": {"output.phonon_factors": {"$exists": True}},
    "huang_rhys": {"output.records.huang_rhys_total": {"$exists": True}},
    "embedding_convergence": {"output.points": {"$exists": True}},
}
SUMMARY_INDEXES = ("summary_id", "host", "defect_name", "defect_type", "deepest_level_depth_eV",
                   "huang_rhys_total_max", "capture_coefficient_per_W_if2_max_cm3_s", "capture_coefficient_max_cm3_s",
                   "transition_levels.level_eV")


def item_documents(item: dict, vibronic: dict[str, dict]) -> list[dict]:
    """The vibronic documents one summary item links to."""
    return [vibronic[uuid] for pairs in item["related"].values() for uuid in pairs.values()]


def _pair_id(doc: dict) -> str:
    output = doc["output"]
    return output.get("calculation_id") or output["label"]


class DefectSummaryBuilder(Builder):
    """Each formation-energy document's defects, joined with the newest configuration-coordinate, Huang–Rhys and
    embedding-convergence documents of their charge pairs -> ``DefectSummaryDocument`` keyed by ``summary_id``."""

    def __init__(self, tasks: Store, formation_energies: Store, summaries: Store, **kwargs) -> None:
        self.tasks, self.formation_energies, self.summaries = tasks, formation_energies, summaries
        self.stored_keys: set[str] = set()  # target keys when get_items last ran
        super().__init__(sources=[tasks, formation_energies], targets=[summaries], **kwargs)

    def get_items(self) -> Iterator[dict]:
        ensure_indexes(self.summaries, SUMMARY_INDEXES)
        headers: dict[str, dict[str, dict]] = {kind: {} for kind in VIBRONIC}
        for kind, criteria in VIBRONIC.items():
            for doc in self.tasks.query(criteria, properties=["uuid", "completed_at", "output.calculation_id",
                                                              "output.label"]):
                pair = _pair_id(doc)
                if pair not in headers[kind] or doc["completed_at"] > headers[kind][pair]["completed_at"]:
                    headers[kind][pair] = doc
        built = {doc["summary_id"]: doc["input_fingerprint"]
                 for doc in self.summaries.query(properties=["summary_id", "input_fingerprint"])}
        self.stored_keys = set(built)
        pending = []
        for formation in self.formation_energies.query(properties=["host_id", "input_fingerprint", "host",
                                                                   "defects.defect_name"]):
            for defect in formation["defects"]:
                prefix = f"{formation['host']}:{defect['defect_name']}:"
                related = {kind: {pair.removeprefix(prefix): doc for pair, doc in docs.items() if pair.startswith(prefix)}
                           for kind, docs in headers.items()}
                summary_id = f"{formation['host']}:{defect['defect_name']}|{formation['host_id'].split('|')[1]}"
                fingerprint = input_fingerprint(formation["input_fingerprint"], {
                    kind: sorted((pair, doc["uuid"], doc["completed_at"]) for pair, doc in docs.items())
                    for kind, docs in related.items()})
                if built.get(summary_id) != fingerprint:
                    pending.append({"summary_id": summary_id, "fingerprint": fingerprint, "host_id": formation["host_id"],
                                    "defect_name": defect["defect_name"], "related": {
                                        kind: {pair: doc["uuid"] for pair, doc in docs.items()}
                                        for kind, docs in related.items()}})
        self.total = len(pending)
        hosts = sorted({item["host_id"] for item in pending})
        formations = {doc["host_id"]: doc for doc in self.formation_energies.query({"host_id": {"$in": hosts}})}
        linked = sorted({uuid for item in pending for pairs in item["related"].values() for uuid in pairs.values()})
        vibronic = {doc["uuid"]: {"uuid": doc["uuid"], **doc["output"]}
                    for doc in self.tasks.query({"uuid": {"$in": linked}})} if linked else {}
        phonons = sorted({record["phonons_uuid"] for doc in vibronic.values() for record in doc.get("records", [])})
        frequencies = {doc["uuid"]: doc["output"]["frequencies_meV"] for doc in self.tasks.query(
            {"uuid": {"$in": phonons}}, properties=["uuid", "output.frequencies_meV"])} if phonons else {}
        for item in pending:
            formation = formations[item["host_id"]]
            yield {**item, "formation": {key: formation.get(key) for key in (
                       "host_id", "host", "campaign", "engine", "band_gap_eV", "fermi_levels", "effective_masses",
                       "dielectric_constant")},
                   "defect": next(d for d in formation["defects"] if d["defect_name"] == item["defect_name"]),
                   "documents": {kind: {pair: vibronic[uuid] for pair, uuid in pairs.items()}
                                 for kind, pairs in item["related"].items()},
                   "frequencies_meV": {uuid: frequencies[uuid] for doc in item_documents(item, vibronic)
                                       for uuid in (r["phonons_uuid"] for r in doc.get("records", []))
                                       if uuid in frequencies}}

    def process_item(self, item: dict) -> dict:
        formation, documents = item["formation"], item["documents"]
        return summarize_defect(
            item["summary_id"], formation["host"], formation["campaign"], formation["engine"]["name"],
            formation["band_gap_eV"], formation["effective_masses"] or {}, formation["dielectric_constant"],
            DefectFormation(**item["defect"]),
            [FermiLevelSolution(**s) for s in formation["fermi_levels"]], documents["configuration_coordinate"],
            documents["huang_rhys"], documents["embedding_convergence"], item["frequencies_meV"], formation["host_id"],
            item["fingerprint"]).model_dump(mode="json")

    def update_targets(self, items: list[dict]) -> None:
        replace_documents(self.summaries, items, "summary_id", self.stored_keys)

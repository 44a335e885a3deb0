"""summaries + formation energies -> the HTML report, stored (collection ``reports``) and written by the CLI."""

from __future__ import annotations

from collections.abc import Iterator

from maggma.core import Builder, Store

from defectscreen.builders import builder_chain
from defectscreen.builders.common import input_fingerprint, replace_documents
from defectscreen.reports.html import render_report
from defectscreen.storage import StorageSettings
from defectscreen.storage.query import potential_rows

REPORT_ID = "screening"


class ReportBuilder(Builder):
    """Every formation-energy and summary document (and the potentials' accuracy rows, the site potentials of
    Kumagai–Oba-corrected defects and the dielectric constant that screened each host's charged defects) -> one report document ``{report_id, html, n_defects, n_hosts,
    input_fingerprint}``, rebuilt only when one of them changed (a formation-energy document's fingerprint covers
    its defect documents)."""

    def __init__(self, tasks: Store, defects: Store, formation_energies: Store, summaries: Store, reports: Store,
                 **kwargs) -> None:
        self.tasks, self.defects, self.reports = tasks, defects, reports
        self.formation_energies, self.summaries = formation_energies, summaries
        self.stored_keys: set[str] = set()  # target keys when get_items last ran
        super().__init__(sources=[tasks, defects, formation_energies, summaries], targets=[reports], **kwargs)

    def get_items(self) -> Iterator[dict]:
        formation = sorted(self.formation_energies.query(properties=["host_id", "input_fingerprint"]),
                           key=lambda d: d["host_id"])
        summaries = sorted(self.summaries.query(properties=["summary_id", "input_fingerprint"]),
                           key=lambda d: d["summary_id"])
        potentials = sorted(doc["uuid"] for doc in self.tasks.query({"output.model_sha256": {"$exists": True}},
                                                                    properties=["uuid"]))
        fingerprint = input_fingerprint([(d["host_id"], d["input_fingerprint"]) for d in formation],
                                        [(d["summary_id"], d["input_fingerprint"]) for d in summaries], potentials)
        built = self.reports.query_one({"report_id": REPORT_ID}, properties=["input_fingerprint"])
        self.stored_keys = set() if built is None else {REPORT_ID}
        self.total = 0
        if formation and (built is None or built["input_fingerprint"] != fingerprint):
            self.total = 1
            yield {"fingerprint": fingerprint}

    def process_item(self, item: dict) -> dict:
        formation = sorted(self.formation_energies.query(), key=lambda d: d["host_id"])
        summaries = list(self.summaries.query())
        linked = {uuid for s in summaries for pair in s["pairs"] for uuid in pair["source_uuids"].values()}
        vibronic = {doc["uuid"]: doc["output"] for doc in self.tasks.query({"uuid": {"$in": sorted(linked)}})}
        corrected = sorted({state["defect_uuid"] for doc in formation for defect in doc["defects"]
                            for state in defect["charge_states"]})
        kumagai = list(self.defects.query({"task_uuid": {"$in": corrected}, "correction.method": "kumagai"}))
        report = render_report("defectscreen screening report", formation, summaries, vibronic,
                               potential_rows(self.tasks), kumagai, self._screening(corrected))
        return {"report_id": REPORT_ID, "html": report, "n_hosts": len(formation), "n_defects": len(summaries),
                "input_fingerprint": item["fingerprint"]}

    def _screening(self, corrected: list[str]) -> dict[str, tuple[float | list, dict | None]]:
        """host -> (ε⁰ its charged defects were corrected with, the dielectric document it came from or None)."""
        charged = {doc["labels"]["host"]: doc for doc in self.defects.query(
            {"task_uuid": {"$in": corrected}, "labels.charge": {"$ne": 0}},
            properties=["labels.host", "correction.dielectric_constant", "dielectric_task_uuid"])}
        computed = {doc["uuid"]: doc["output"] for doc in self.tasks.query(
            {"uuid": {"$in": sorted({d.get("dielectric_task_uuid") for d in charged.values()} - {None})}})}
        return {host: (doc["correction"]["dielectric_constant"], computed.get(doc.get("dielectric_task_uuid")))
                for host, doc in charged.items()}

    def update_targets(self, items: list[dict]) -> None:
        replace_documents(self.reports, items, "report_id", self.stored_keys)


def report_pipeline(settings: StorageSettings) -> list[Builder]:
    """The builder chain followed by the report builder, on the stores ``settings`` names."""
    chain = builder_chain(settings)
    tasks = settings.job_store().docs_store
    defects, formation, summaries = chain[0].defects, chain[1].formation_energies, chain[2].summaries
    return [*chain, ReportBuilder(tasks, defects, formation, summaries, settings.collection("reports", "report_id"))]

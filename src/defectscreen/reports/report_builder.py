"""summaries + formation energies -> the HTML report, stored (collection ``reports``) and written by the CLI."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from maggma.core import Builder, Store

from defectscreen.builders import builder_chain
from defectscreen.builders.common import IncrementalBuilder, input_fingerprint
from defectscreen.reports.html import render_report
from defectscreen.schemas.formation import CorrectionSettings, settings_key
from defectscreen.storage import StorageSettings
from defectscreen.storage.query import current_site_ensembles, current_versions, defect_formations, potential_rows

REPORT_ID = "screening"


class ReportBuilder(IncrementalBuilder):
    """The formation-energy and summary documents of every campaign's current version (and the potentials'
    accuracy rows, the site potentials of Kumagai–Oba-corrected defects, the dielectric constant that screened
    each host's charged defects, the hosts' phonon dispersions and the stored site ensembles of amorphous hosts) -> one
    report document ``{report_id, html, n_defects, n_hosts,
    input_fingerprint}``, rebuilt only when one of them changed (a formation-energy document's fingerprint covers
    its defect documents)."""

    key = "report_id"

    def __init__(self, tasks: Store, campaigns: Store, defects: Store, formation_energies: Store,
                 defect_formation_energies: Store, summaries: Store, site_ensembles: Store, reports: Store,
                 **kwargs) -> None:
        self.tasks, self.campaigns, self.defects = tasks, campaigns, defects
        self.formation_energies, self.defect_formation_energies = formation_energies, defect_formation_energies
        self.summaries, self.site_ensembles, self.reports = summaries, site_ensembles, reports
        super().__init__([tasks, campaigns, defects, formation_energies, defect_formation_energies, summaries,
                          site_ensembles], reports, **kwargs)

    def plan(self) -> Iterable[dict]:
        versions = current_versions(self.campaigns)
        current = {"campaign_sha256": {"$in": versions}}
        formation = sorted(self.formation_energies.query(current, properties=["host_id", "input_fingerprint"]),
                           key=lambda d: d["host_id"])
        dispersions = sorted(doc["uuid"] for doc in self.tasks.query(
            {"output.task_label": "host_dispersion", "output.campaign_sha256": {"$in": versions}},
            properties=["uuid"]))
        if not formation and not dispersions:
            return
        summaries = sorted(self.summaries.query(current, properties=["summary_id", "input_fingerprint"]),
                           key=lambda d: d["summary_id"])
        potentials = sorted(doc["uuid"] for doc in self.tasks.query({"output.model_sha256": {"$exists": True}},
                                                                    properties=["uuid"]))
        ensembles = [(d["site_ensemble_id"], d["input_fingerprint"])
                     for d in current_site_ensembles(self.site_ensembles, versions)]
        yield {"report_id": REPORT_ID, "criteria": current, "dispersions": dispersions,
               "fingerprint": input_fingerprint([(d["host_id"], d["input_fingerprint"]) for d in formation],
                                                [(d["summary_id"], d["input_fingerprint"]) for d in summaries],
                                                potentials, dispersions, ensembles)}

    def load(self, pending: list[dict]) -> Iterator[dict]:
        for item in pending:
            formation = sorted(self.formation_energies.query(item["criteria"]), key=lambda d: d["host_id"])
            summaries = list(self.summaries.query(item["criteria"]))
            linked = {uuid for s in summaries for pair in s["pairs"] for uuid in pair["source_uuids"].values()}
            vibronic = {doc["uuid"]: doc["output"] for doc in self.tasks.query({"uuid": {"$in": sorted(linked)}})}
            defect_formation = defect_formations(self.defect_formation_energies, formation)
            corrected = sorted({state.defect_uuid for defects in defect_formation.values() for defect in defects
                                for state in defect.charge_states})
            corrections = sorted({settings_key(CorrectionSettings(**d["inputs"]["correction"])) for d in formation})
            used = {"task_uuid": {"$in": corrected}, "settings_key": {"$in": corrections}}
            yield {**item, "formation": formation, "defect_formation": defect_formation, "summaries": summaries,
                   "site_ensembles": current_site_ensembles(self.site_ensembles,
                                                            item["criteria"]["campaign_sha256"]["$in"]),
                   "vibronic": vibronic,
                   "potentials": potential_rows(self.tasks),
                   "kumagai": list(self.defects.query({**used, "correction.method": "kumagai"})),
                   "screening": self._screening(used),
                   "dispersions": [doc["output"] for doc in self.tasks.query({"uuid": {"$in": item["dispersions"]}},
                                                                             sort={"completed_at": 1})]}

    def _screening(self, used: dict) -> dict[str, tuple[float | list, dict | None]]:
        """host -> (ε⁰ its charged defects were corrected with, the dielectric document it came from or None)."""
        charged = {doc["labels"]["host"]: doc for doc in self.defects.query(
            {**used, "labels.charge": {"$ne": 0}},
            properties=["labels.host", "correction.dielectric_constant", "dielectric_task_uuid"])}
        computed = {doc["uuid"]: doc["output"] for doc in self.tasks.query(
            {"uuid": {"$in": sorted({d.get("dielectric_task_uuid") for d in charged.values()} - {None})}})}
        return {host: (doc["correction"]["dielectric_constant"], computed.get(doc.get("dielectric_task_uuid")))
                for host, doc in charged.items()}

    def process_item(self, item: dict) -> dict:
        report = render_report("defectscreen screening report", item["formation"], item["defect_formation"],
                               item["summaries"],
                               item["vibronic"], item["potentials"], item["kumagai"], item["screening"],
                               item["dispersions"], item["site_ensembles"])
        hosts = {doc["host"] for doc in item["formation"]} | {doc["host"] for doc in item["dispersions"]}
        return {"report_id": REPORT_ID, "html": report, "n_hosts": len(hosts),
                "n_defects": len(item["summaries"]), "input_fingerprint": item["fingerprint"]}


def report_pipeline(settings: StorageSettings) -> list[Builder]:
    """The builder chain followed by the report builder, on the stores ``settings`` names."""
    chain = builder_chain(settings)
    tasks = settings.job_store().docs_store
    campaigns, defects = chain[0].campaigns, chain[0].defects
    formation, defect_formation = chain[1].formation_energies, chain[1].defect_formation_energies
    return [*chain, ReportBuilder(tasks, campaigns, defects, formation, defect_formation, chain[2].summaries,
                                  chain[3].site_ensembles, settings.collection("reports", "report_id"))]

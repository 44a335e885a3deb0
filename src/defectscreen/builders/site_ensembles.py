"""Formation energies at glass sites -> one site-ensemble document per amorphous host, defect, charge state and
chemical-potential limit (collection ``site_ensembles``), over the sites of every campaign's current version."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator

from maggma.core import Store

import defectscreen
from defectscreen.analysis.site_ensembles import site_ensemble_of_states
from defectscreen.builders.common import IncrementalBuilder, input_fingerprint
from defectscreen.schemas.amorphous import SiteEnsembleDocument, ensemble_name
from defectscreen.storage.query import SITE_FIELDS, current_versions, site_states_of

#: what planning reads of a site's formation-energy document
SITE_HEADER = ["defect_formation_id", "host", "defect_name", "campaign_sha256", "input_fingerprint", "flags",
               "charge_states.charge", "charge_states.formation_energy_at_vbm_eV"]


def site_ensemble_id(host: str, defect: str, charge: int, limit: str) -> str:
    """'a-SiO2:v_O:0|O-rich'."""
    return f"{host}:{defect}:{charge}|{limit}"


class SiteEnsembleBuilder(IncrementalBuilder):
    """The DefectFormationDocuments of defects at the sites of the campaigns' glasses (``amorphous_hosts``), grouped
    by amorphous host and defect without its site over every campaign's current version, joined with the sites'
    relaxed cells -> ``SiteEnsembleDocument`` per charge state and chemical-potential limit
    (``analysis.site_ensembles.site_ensemble_of_states`` at the VBM), rebuilt when a site's formation-energy
    document or flags change or a site joins or leaves. Loading reads the planned sites by key, not by host name
    (which would scan every formation document for the glasses' names)."""

    key = "site_ensemble_id"
    indexes = ("host", "defect", "charge", "limit", "mean_eV", "standard_deviation_eV")
    older_layout = {"per_glass": {"$exists": False}}  # ensembles stored before they held their glasses' shares

    def __init__(self, tasks: Store, campaigns: Store, amorphous_hosts: Store, defect_formation_energies: Store,
                 site_ensembles: Store, **kwargs) -> None:
        self.tasks, self.campaigns, self.amorphous_hosts = tasks, campaigns, amorphous_hosts
        self.defect_formation_energies, self.site_ensembles = defect_formation_energies, site_ensembles
        super().__init__([tasks, campaigns, amorphous_hosts, defect_formation_energies], site_ensembles, **kwargs)

    def plan(self) -> Iterable[dict]:
        versions = current_versions(self.campaigns)
        glasses = sorted({doc["host"] for doc in self.amorphous_hosts.query({"host": {"$ne": None}},
                                                                             properties=["host"])})
        if not glasses:
            return
        sites: dict[tuple[str, str], list[dict]] = defaultdict(list)
        for doc in self.defect_formation_energies.query({"host": {"$in": glasses}, "campaign_sha256": {"$in": versions}},
                                                        properties=SITE_HEADER):
            sites[(ensemble_name(doc["host"]), ensemble_name(doc["defect_name"]))].append(doc)
        for (host, defect), docs in sorted(sites.items()):
            fingerprint = input_fingerprint(sorted((doc["defect_formation_id"], doc["input_fingerprint"],
                                                    doc.get("flags", [])) for doc in docs))
            states = [state for doc in docs for state in doc["charge_states"]]
            for charge in sorted({state["charge"] for state in states}):
                for limit in sorted({limit for state in states if state["charge"] == charge
                                     for limit in state["formation_energy_at_vbm_eV"]}):
                    yield {"site_ensemble_id": site_ensemble_id(host, defect, charge, limit), "host": host,
                           "defect": defect, "charge": charge, "limit": limit,
                           "campaign_sha256": sorted({doc["campaign_sha256"] for doc in docs}),
                           "defect_formation_ids": sorted(doc["defect_formation_id"] for doc in docs),
                           "fingerprint": fingerprint}

    def load(self, pending: list[dict]) -> Iterator[dict]:
        sites: dict[tuple[str, str], list[dict]] = {}
        states: dict[tuple[str, str, int], list[dict]] = {}
        for item in pending:
            defect, ensemble = (item["host"], item["defect"]), (item["host"], item["defect"], item["charge"])
            if defect not in sites:
                sites[defect] = list(self.defect_formation_energies.query(
                    {"defect_formation_id": {"$in": item["defect_formation_ids"]}}, properties=SITE_FIELDS))
            if ensemble not in states:
                states[ensemble] = site_states_of(sites[defect], self.tasks, item["charge"])
            yield {**item, "states": states[ensemble]}

    def process_item(self, item: dict) -> dict | None:
        if not item["states"]:  # no relaxed cell of this charge state at any site
            return None
        summary = site_ensemble_of_states(item["host"], item["defect"], item["charge"], item["limit"], item["states"])
        return SiteEnsembleDocument(
            **summary.model_dump(), site_ensemble_id=item["site_ensemble_id"],
            campaign_sha256=item["campaign_sha256"], defect_formation_ids=item["defect_formation_ids"],
            input_fingerprint=item["fingerprint"], defectscreen_version=defectscreen.__version__,
        ).model_dump(mode="json")

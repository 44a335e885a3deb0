"""defect formation energies + vibronic task documents -> one summary per defect (collection ``summaries``)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator

from maggma.core import Store
from pymatgen.core import Lattice

from defectscreen.analysis.summary import SummaryInputs, summarize_defect
from defectscreen.builders.common import IncrementalBuilder, input_fingerprint
from defectscreen.schemas.formation import DefectFormationDocument

#: document kind -> criteria on the JobStore that select it (each has output.calculation_id 'host:defect:q/q-1').
VIBRONIC = {
    "configuration_coordinate": {"output.phonon_factors": {"$exists": True}},
    "huang_rhys": {"output.records.huang_rhys_total": {"$exists": True}},
    "embedding_convergence": {"output.points": {"$exists": True}},
}
#: what planning reads of a defect's formation-energy document: its fingerprint covers everything of the host a
#: summary reads (bulk cell, campaign, ε⁰) except the host's flags, which its charge-neutral Fermi level can change.
FORMATION_HEADER = ["defect_formation_id", "host", "defect_name", "input_fingerprint", "flags"]


def _pair_id(doc: dict) -> str:
    output = doc["output"]
    return output.get("calculation_id") or output["label"]


class DefectSummaryBuilder(IncrementalBuilder):
    """Each DefectFormationDocument, joined with the newest configuration-coordinate, Huang–Rhys and
    embedding-convergence documents of its charge pairs -> ``DefectSummaryDocument`` keyed by ``summary_id`` (its
    ``defect_formation_id``: defect, engine settings, formation settings)."""

    key = "summary_id"
    indexes = ("host", "defect_name", "defect_type", "campaign_sha256", "deepest_level_depth_eV",
               "huang_rhys_total_max", "capture_coefficient_per_W_if2_max_cm3_s", "capture_coefficient_max_cm3_s",
               "transition_levels.level_eV")
    older_layout = {"campaign_sha256": {"$exists": False}}

    def __init__(self, tasks: Store, defect_formation_energies: Store, summaries: Store, **kwargs) -> None:
        self.tasks, self.defect_formation_energies, self.summaries = tasks, defect_formation_energies, summaries
        super().__init__([tasks, defect_formation_energies], summaries, **kwargs)

    def scope(self) -> list[dict]:
        """Criteria on ``defect_formation_energies`` selecting the defects the changes since the last build affect:
        rewritten formation documents, and the hosts of new configuration-coordinate, Huang–Rhys or embedding
        documents; every defect without change feeds."""
        formations = self.changed(self.defect_formation_energies, ["defect_formation_id"])
        if formations is None:
            return [{}]
        vibronic = self.changed(self.tasks, ["output.calculation_id", "output.label"],
                                {"$or": list(VIBRONIC.values())})
        return [{"defect_formation_id": {"$in": sorted({doc["defect_formation_id"] for doc in formations})}},
                {"host": {"$in": sorted({_pair_id(doc).split(":")[0] for doc in vibronic})}}]

    def plan(self) -> Iterable[dict]:
        selections = self.scope()
        #: 'host:defect' -> kind -> charge pair ('q/q-1') -> the newest document
        headers: dict[str, dict[str, dict[str, dict]]] = defaultdict(lambda: {kind: {} for kind in VIBRONIC})
        for kind, criteria in VIBRONIC.items():
            for doc in self.tasks.query(criteria, properties=["uuid", "completed_at", "output.calculation_id",
                                                              "output.label"]):
                defect, _, pair = _pair_id(doc).rpartition(":")
                newest = headers[defect][kind]
                if pair not in newest or doc["completed_at"] > newest[pair]["completed_at"]:
                    newest[pair] = doc
        formations = {doc["defect_formation_id"]: doc for criteria in selections
                      for doc in self.defect_formation_energies.query(criteria, properties=FORMATION_HEADER)}
        for formation in formations.values():
            related = headers[f"{formation['host']}:{formation['defect_name']}"]
            yield {"summary_id": formation["defect_formation_id"],
                   "related": {kind: {pair: doc["uuid"] for pair, doc in docs.items()}
                               for kind, docs in related.items()},
                   "fingerprint": input_fingerprint(formation["input_fingerprint"], formation.get("flags"), {
                       kind: sorted((pair, doc["uuid"], doc["completed_at"]) for pair, doc in docs.items())
                       for kind, docs in related.items()})}

    def load(self, pending: list[dict]) -> Iterator[SummaryInputs]:
        formations = {doc["defect_formation_id"]: DefectFormationDocument(**doc)
                      for doc in self.defect_formation_energies.query(
                          {"defect_formation_id": {"$in": [item["summary_id"] for item in pending]}})}
        linked = sorted({uuid for item in pending for pairs in item["related"].values() for uuid in pairs.values()})
        vibronic = {doc["uuid"]: {"uuid": doc["uuid"], **doc["output"]}
                    for doc in self.tasks.query({"uuid": {"$in": linked}})} if linked else {}
        self._add_cell_volumes(vibronic)
        phonons = sorted({record["phonons_uuid"] for doc in vibronic.values() for record in doc.get("records", [])})
        frequencies = {doc["uuid"]: doc["output"]["frequencies_meV"] for doc in self.tasks.query(
            {"uuid": {"$in": phonons}}, properties=["uuid", "output.frequencies_meV"])} if phonons else {}
        for item in pending:
            documents = {kind: {pair: vibronic[uuid] for pair, uuid in pairs.items()}
                         for kind, pairs in item["related"].items()}
            used = {record["phonons_uuid"] for docs in documents.values() for doc in docs.values()
                    for record in doc.get("records", [])}
            yield SummaryInputs(summary_id=item["summary_id"], fingerprint=item["fingerprint"],
                                formation=formations[item["summary_id"]],
                                frequencies_meV={uuid: frequencies[uuid] for uuid in used if uuid in frequencies},
                                **documents)

    def _add_cell_volumes(self, vibronic: dict[str, dict]) -> None:
        """Configuration-coordinate documents made before the cell volume was stored: read it from the lower
        charge's relaxation (their last parent), so that capture at the level is evaluated alike."""
        older = {uuid: doc["parent_uuids"][-1] for uuid, doc in vibronic.items()
                 if "phonon_factors" in doc and doc.get("supercell_volume_angstrom3") is None}
        if not older:
            return
        lattices = {doc["uuid"]: doc["output"]["structure"]["lattice"] for doc in self.tasks.query(
            {"uuid": {"$in": sorted(set(older.values()))}}, properties=["uuid", "output.structure.lattice"])}
        for uuid, lower in older.items():
            vibronic[uuid] |= {"supercell_volume_angstrom3": Lattice.from_dict(lattices[lower]).volume,
                               "final_state_degeneracy": vibronic[uuid].get("final_state_degeneracy", 1)}

    def process_item(self, item: SummaryInputs) -> dict:
        return summarize_defect(item).model_dump(mode="json")

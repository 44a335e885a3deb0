"""tasks -> defects: one document per relaxed defect and charge state, with its finite-size correction."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from importlib.metadata import version

from maggma.core import Store
from pymatgen.core import Lattice, Structure

from defectscreen.analysis.formation import finite_size_correction, kumagai_oba_correction, lattice_energy_key
from defectscreen.builders.common import IncrementalBuilder, engine_key, input_fingerprint
from defectscreen.schemas.formation import (
    CorrectionSettings,
    DefectChargeDocument,
    LatticeEnergyDocument,
    settings_key,
)

RELAXED = {"output.task_label": "relax", "output.converged": True}
#: what the correction needs of a defect task (read for the tasks to build only: no structure sites).
TASK_FIELDS = ["uuid", "completed_at", "output.labels", "output.energy_eV", "output.structure.lattice",
               "output.engine", "output.campaign_sha256", "output.planar_average_potential_eV"]
#: how a unit-charge lattice energy is computed (analysis.formation.unit_charge_lattice_energy_eV)
LATTICE_ENERGY_METHOD = "pymatgen.analysis.defects.corrections.freysoldt.perform_es_corr (520 eV, 1e-4 Ha)"
LATTICE_ENERGY_CODE = {"pymatgen-analysis-defects": version("pymatgen-analysis-defects")}
#: what planning reads of every task: indexed scalars, answered by the embedded store's index alone.
HEADER = ["uuid", "completed_at", "output.labels.calculation_id", "output.labels.host", "output.labels.campaign",
          "output.labels.charge", "output.engine.settings_hash", "output.campaign_sha256"]
SITE_FIELDS = ["uuid", "output.structure", "output.site_potential_eV"]
DIELECTRIC_FIELDS = ["uuid", "completed_at", "output.host", "output.engine.settings_hash", "output.epsilon_static"]


def newest_dielectrics(tasks: Store, hosts: list[str] | None) -> dict[tuple[str, str], dict]:
    """(host, engine settings hash) -> the newest dielectric document of each of ``hosts`` (None: every host)."""
    criteria = {"output.task_label": "dielectric", **({} if hosts is None else {"output.host": {"$in": hosts}})}
    newest: dict[tuple[str, str], dict] = {}
    for doc in sorted(tasks.query(criteria, properties=DIELECTRIC_FIELDS), key=lambda doc: doc["completed_at"]):
        newest[(doc["output"]["host"], doc["output"]["engine"]["settings_hash"])] = doc
    return newest


#: what planning reads of a changed task document: enough to tell which host or defect cell it affects.
CHANGE_FIELDS = ["output.task_label", "output.labels.defect_type", "output.labels.host",
                 "output.labels.calculation_id", "output.host"]


def recomputed_hosts(changed_tasks: list[dict]) -> set[str]:
    """Hosts among changed task documents (``CHANGE_FIELDS``) whose bulk cell was relaxed again or whose dielectric
    constant was computed: every defect of such a host is affected."""
    return {doc["output"]["host"] if doc["output"].get("task_label") == "dielectric" else
            doc["output"]["labels"]["host"] for doc in changed_tasks
            if doc["output"].get("task_label") == "dielectric"
            or (doc["output"].get("task_label") == "relax" and doc["output"]["labels"]["defect_type"] == "bulk")}


def dielectric_constant(settings: CorrectionSettings, computed: dict | None) -> tuple[float | list | None, str | None]:
    """(ε⁰ to screen with, uuid of the dielectric document it came from): the campaign's value, or for 'computed'
    the host's newest dielectric document with the defect's engine settings (None, None: not computed yet)."""
    if settings.dielectric_constant != "computed":
        return settings.dielectric_constant, None
    return (computed["output"]["epsilon_static"], computed["uuid"]) if computed else (None, None)


class DefectBuilder(IncrementalBuilder):
    """Relaxed defect task documents (with their host's bulk relaxation of the same engine settings) ->
    ``DefectChargeDocument`` in ``defects``, keyed by ``defect_id``.

    The correction settings (scheme, dielectric constant, Gaussian width) come from the newest submitted version of
    the task's campaign and are part of the id: a resubmission with another ε builds new documents and leaves those
    corrected under the old one as they were. A constant the campaign computes comes from the host's newest
    dielectric document (ε⁰ tensor) with the defect's engine settings. Charged defects of a host without a dielectric
    constant, and Kumagai–Oba corrections of cells without atomic-site potentials, are skipped with a warning naming
    the fix. The Freysoldt lattice energy of a unit charge in a supercell (20–300 ms each) is stored in
    ``lattice_energies`` the first time it is computed and read from there by every later build.
    """

    key = "defect_id"
    indexes = ("labels.host", "labels.defect_name", "labels.charge", "task_uuid", "settings_key")
    older_layout = {"settings_key": {"$exists": False}}

    def __init__(self, tasks: Store, campaigns: Store, defects: Store, lattice_energies: Store, **kwargs) -> None:
        self.tasks, self.campaigns, self.defects, self.lattice_energies = tasks, campaigns, defects, lattice_energies
        super().__init__([tasks, campaigns], defects, **kwargs)

    def connect(self) -> None:
        super().connect()
        self.lattice_energies.connect()
        self.lattice_energies.ensure_index("lattice_key")

    def scope(self) -> tuple[list[str], list[str], list[str]] | None:
        """(hosts whose every defect is planned, defect cells — calculation ids — planned, hosts of either) after
        the changes since the last build: a recomputed bulk cell or dielectric constant affects its host, a defect
        relaxation its cell; None (plan everything) after a campaign was submitted again or without change feeds."""
        campaigns = self.changed(self.campaigns, ["name"])
        tasks = self.changed(self.tasks, CHANGE_FIELDS)
        if campaigns is None or tasks is None or campaigns:
            return None
        hosts = recomputed_hosts(tasks)
        defects = [doc["output"]["labels"] for doc in tasks if doc["output"].get("task_label") == "relax"
                   and doc["output"]["labels"]["defect_type"] not in ("bulk", "competing_phase")]
        return (sorted(hosts), sorted({labels["calculation_id"] for labels in defects}),
                sorted(hosts | {labels["host"] for labels in defects}))

    def plan(self) -> Iterable[dict]:
        scope = self.scope()
        campaigns = {doc["name"]: doc for doc in self.campaigns.query()}
        defect_tasks = {**RELAXED, "output.labels.defect_type": {"$nin": ["bulk", "competing_phase"]}}
        if scope is None:
            selections, hosts, on_hosts = [defect_tasks], None, {}
        else:
            selections = [{**defect_tasks, "output.labels.host": {"$in": scope[0]}},
                          {**defect_tasks, "output.labels.calculation_id": {"$in": scope[1]}}]
            hosts, on_hosts = scope[2], {"output.labels.host": {"$in": scope[2]}}
        bulks = {(doc["output"]["labels"]["host"], doc["output"]["engine"]["settings_hash"]): doc
                 for doc in self.tasks.query({**RELAXED, "output.labels.defect_type": "bulk", **on_hosts},
                                             properties=HEADER)}
        dielectrics = newest_dielectrics(self.tasks, hosts)
        latest: dict[str, dict] = {}
        for doc in (doc for criteria in selections for doc in self.tasks.query(criteria, properties=HEADER)):
            output = doc["output"]
            cell = f"{output['labels']['calculation_id']}|{engine_key(output['engine']['settings_hash'])}"
            if cell not in latest or doc["completed_at"] > latest[cell]["completed_at"]:
                latest[cell] = doc
        for cell, doc in sorted(latest.items()):
            labels, settings_hash = doc["output"]["labels"], doc["output"]["engine"]["settings_hash"]
            bulk = bulks.get((labels["host"], settings_hash))
            if bulk is None:
                self.logger.warning(f"{cell}: no relaxed bulk cell of {labels['host']} with the same engine "
                                    "settings yet; it is built once that relaxation is stored")
                continue
            campaign = campaigns.get(labels["campaign"])
            settings = CorrectionSettings.from_campaign(campaign, labels["host"])
            epsilon, source = dielectric_constant(settings, dielectrics.get((labels["host"], settings_hash)))
            if labels["charge"] != 0 and epsilon is None:
                self.logger.warning(f"{cell}: charged, but there is no dielectric constant of {labels['host']}: "
                                    f"campaign {labels['campaign']} gives no "
                                    f"hosts[{labels['host']}].dielectric_constant (add it and resubmit), or says "
                                    "'computed' and its dielectric job has not finished")
                continue
            yield {"defect_id": f"{cell}|{settings_key(settings)}", "settings": settings, "epsilon": epsilon,
                   "dielectric_uuid": source, "task": doc, "bulk_uuid": bulk["uuid"],
                   "campaign_sha256": campaign["sha256"] if campaign else doc["output"]["campaign_sha256"],
                   "fingerprint": input_fingerprint(doc["uuid"], doc["completed_at"], bulk["uuid"],
                                                    bulk["completed_at"], settings.model_dump(), epsilon, source)}

    def load(self, pending: list[dict]) -> Iterator[dict]:
        tasks = {(doc["uuid"], doc["completed_at"]): doc for doc in self.tasks.query(
            {"uuid": {"$in": sorted({item["task"]["uuid"] for item in pending})}}, properties=TASK_FIELDS)}
        bulk_outputs = {doc["uuid"]: doc for doc in self.tasks.query(
            {"uuid": {"$in": sorted({item["bulk_uuid"] for item in pending})}},
            properties=["uuid", "output.energy_eV", "output.planar_average_potential_eV", *SITE_FIELDS[1:]])}
        loaded = []
        for item in pending:
            task, bulk = tasks[(item["task"]["uuid"], item["task"]["completed_at"])], bulk_outputs[item["bulk_uuid"]]
            sites = None  # the defect cell's structure and site potentials: Kumagai–Oba only
            lattice_key = None  # of a charged cell's Freysoldt lattice energy
            if task["output"]["labels"]["charge"] != 0 and item["settings"].scheme == "kumagai":
                sites = self.tasks.query_one({"uuid": task["uuid"]}, properties=SITE_FIELDS)["output"]
                if None in (sites.get("site_potential_eV"), bulk["output"].get("site_potential_eV")):
                    self.logger.warning(f"{item['defect_id']}: formation.correction 'kumagai' needs atomic-site "
                                        "potentials of the defect and bulk cells, which these tasks lack (computed "
                                        "before defectscreen stored them): rerun them or use 'freysoldt'")
                    continue
            elif task["output"]["labels"]["charge"] != 0:
                lattice_key = lattice_energy_key(task["output"]["structure"]["lattice"]["matrix"], item["epsilon"],
                                                 item["settings"].gaussian_width_bohr)
            loaded.append({**item, "task": task, "bulk": bulk, "sites": sites, "lattice_key": lattice_key})
        keys = sorted({item["lattice_key"] for item in loaded} - {None})
        stored = {doc["lattice_key"]: doc["unit_charge_lattice_energy_eV"] for doc in self.lattice_energies.query(
            {"lattice_key": {"$in": keys}}, properties=["lattice_key", "unit_charge_lattice_energy_eV"])}
        claimed = set(stored)  # lattice keys stored already or by an earlier item of this build
        for item in loaded:
            key = item["lattice_key"]
            stores = key is not None and key not in claimed
            claimed.add(key)
            yield {**item, "unit_lattice_energy_eV": stored.get(key), "stores_lattice_energy": stores}

    def process_item(self, item: dict) -> dict:
        """{"defect": the DefectChargeDocument, "lattice_energy": the LatticeEnergyDocument its correction computed,
        for the first item of a lattice without a stored one (None for the others)}."""
        task, bulk = item["task"]["output"], item["bulk"]["output"]
        labels, settings, sites = task["labels"], item["settings"], item["sites"]
        lattice = Lattice.from_dict(task["structure"]["lattice"])
        if sites is not None:
            correction = kumagai_oba_correction(
                labels["charge"], Structure.from_dict(sites["structure"]), sites["site_potential_eV"],
                Structure.from_dict(bulk["structure"]), bulk["site_potential_eV"], item["epsilon"],
                labels.get("defect_site_frac_coords"))
        else:
            correction = finite_size_correction(
                labels["charge"], lattice, labels.get("defect_site_frac_coords"), item["epsilon"],
                settings.gaussian_width_bohr, task.get("planar_average_potential_eV"),
                bulk.get("planar_average_potential_eV"), item["unit_lattice_energy_eV"])
        lattice_energy = None
        if item["stores_lattice_energy"]:
            lattice_energy = LatticeEnergyDocument(
                lattice_key=item["lattice_key"], lattice_matrix_angstrom=lattice.matrix.tolist(),
                dielectric_constant=item["epsilon"], gaussian_width_bohr=settings.gaussian_width_bohr,
                unit_charge_lattice_energy_eV=correction.lattice_energy_eV / labels["charge"] ** 2,
                method=LATTICE_ENERGY_METHOD, code_versions=LATTICE_ENERGY_CODE, defect_id=item["defect_id"]
            ).model_dump(mode="json")
        defect = DefectChargeDocument(
            defect_id=item["defect_id"], labels=labels, correction_settings=settings,
            settings_key=settings_key(settings), energy_eV=task["energy_eV"],
            corrected_energy_eV=task["energy_eV"] + correction.correction_eV, correction=correction,
            bulk_energy_eV=bulk["energy_eV"], engine=task["engine"], task_uuid=item["task"]["uuid"],
            bulk_task_uuid=item["bulk"]["uuid"], dielectric_task_uuid=item["dielectric_uuid"],
            campaign_sha256=item["campaign_sha256"], input_fingerprint=item["fingerprint"]).model_dump(mode="json")
        return {"defect": defect, "lattice_energy": lattice_energy}

    def update_targets(self, items: list[dict | None]) -> None:
        """Store the lattice energies computed (one per key), then the charge-state documents."""
        items = [item for item in items if item is not None]
        computed = {item["lattice_energy"]["lattice_key"]: item["lattice_energy"] for item in items
                    if item["lattice_energy"] is not None}
        if computed:
            self.lattice_energies.update(list(computed.values()), key="lattice_key")
        super().update_targets([item["defect"] for item in items])

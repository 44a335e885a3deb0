"""Find task documents by host, defect, element, defect type and charge."""

from __future__ import annotations

from collections.abc import Iterable

from jobflow import JobStore
from maggma.core import Store

from defectscreen.schemas import DefectFormationDocument, TaskDocument
from defectscreen.schemas.amorphous import GLASS_SEED_SEPARATOR, GLASS_SITE_SEPARATOR, ensemble_name, glass_site_id
from defectscreen.schemas.phonons import supercell_atoms

ROW_FIELDS = (
    "calculation_id", "host", "defect_name", "defect_type", "charge", "task_label",
    "energy_eV", "max_force_eV_per_angstrom", "n_atoms", "engine", "uuid",
)


def with_ensemble_members(store: Store, field: str, name: str | None) -> str | dict | None:
    """A host or defect name as a filter on ``field`` that also matches its members: an amorphous host's glasses
    ('a-SiO2' -> 'a-SiO2#1', 'a-SiO2#2', ...), a defect's glass sites ('v_O' -> 'v_O@17', ...)."""
    if name is None or GLASS_SEED_SEPARATOR in name or GLASS_SITE_SEPARATOR in name:
        return name
    members = sorted(value for value in store.distinct(field) if ensemble_name(value) == name)
    return name if members in ([], [name]) else {"$in": members}


def task_criteria(
    host: str | None = None,
    defect: str | None = None,
    element: str | None = None,
    defect_type: str | None = None,
    charge: int | None = None,
    task_label: str | None = None,
) -> dict:
    """MongoDB criteria on the JobStore's ``outputs`` collection; None means any."""
    criteria: dict = {"output.labels.calculation_id": {"$exists": True}}
    fields = {
        "output.labels.host": host,
        "output.labels.defect_name": defect,
        "output.labels.defect_elements": element,
        "output.labels.defect_type": defect_type,
        "output.labels.charge": charge,
        "output.task_label": task_label,
    }
    criteria.update({key: value for key, value in fields.items() if value is not None})
    return criteria


def query_tasks(store: JobStore, criteria: dict) -> list[dict]:
    """One flat row per matching task document, sorted by id."""
    rows = []
    for doc in store.query(criteria=criteria):
        output, labels = doc["output"], doc["output"]["labels"]
        rows.append({
            "calculation_id": labels["calculation_id"],
            "host": labels["host"],
            "defect_name": labels["defect_name"],
            "defect_type": labels["defect_type"],
            "charge": labels["charge"],
            "task_label": output["task_label"],
            "energy_eV": output["energy_eV"],
            "max_force_eV_per_angstrom": output["max_force_eV_per_angstrom"],
            "n_atoms": output["n_atoms"],
            "engine": output["engine"]["name"],
            "uuid": doc["uuid"],
        })
    return sorted(rows, key=lambda row: (row["calculation_id"], row["task_label"]))


POTENTIAL_FIELDS = (
    "calculation_id", "backend", "n_train", "train_force_rmse_meV_per_angstrom",
    "validation_force_rmse_meV_per_angstrom", "validation_energy_mae_meV_per_atom", "usable",
    "foundation_model", "phonon_mean_error_meV", "phonon_max_error_meV", "localized_min_overlap", "uuid",
)


def potential_rows(store: JobStore | Store, host: str | None = None) -> list[dict]:
    """One row per stored per-defect potential: its errors and, where the engine phonons were computed, how far
    the potential's Γ frequencies are from them (``store``: the JobStore or its documents store)."""
    criteria: dict = {"output.model_sha256": {"$exists": True}, "output.backend": {"$exists": True}}
    if host is not None:
        criteria["output.labels.host"] = host
    comparisons = {}
    for doc in store.query({"output.comparison.potential_phonons_uuid": {"$exists": True}},
                           properties=["output.comparison", "output.calculation_id"]):
        comparisons[doc["output"]["calculation_id"]] = doc["output"]["comparison"]
    rows = []
    for doc in store.query(criteria, properties=["uuid", "output.foundation_model",
                                                 *(f"output.{f}" for f in POTENTIAL_FIELDS[:7])]):
        comparison = comparisons.get(doc["output"]["calculation_id"], {})
        overlaps = comparison.get("localized_overlaps") or [None]
        rows.append({
            **{name: doc["output"][name] for name in POTENTIAL_FIELDS[:7]},
            "foundation_model": (doc["output"].get("foundation_model") or {}).get("name"),
            "phonon_mean_error_meV": comparison.get("frequency_mean_abs_error_meV"),
            "phonon_max_error_meV": comparison.get("frequency_max_abs_error_meV"),
            "localized_min_overlap": min(overlaps) if overlaps[0] is not None else None,
            "uuid": doc["uuid"],
        })
    return sorted(rows, key=lambda row: row["calculation_id"])


def phonon_validation(store: JobStore, calculation_id: str) -> tuple[dict, dict, dict | None]:
    """(engine phonons, the potential's phonons they were compared with, the Huang–Rhys document that used the
    engine phonons or None) of one defect cell; LookupError when its phonons were not validated."""
    engine = store.query_one({"output.calculation_id": calculation_id, "output.force_source": "engine"}, load=True)
    if engine is None:
        raise LookupError(f"{calculation_id}: no engine phonons stored; add it to phonons.validate_defects and resubmit")
    potential = store.query_one({"uuid": engine["output"]["comparison"]["potential_phonons_uuid"]}, load=True)
    huang_rhys = store.query_one({"output.records.phonons_uuid": engine["uuid"]})
    return engine["output"], potential["output"], None if huang_rhys is None else huang_rhys["output"]


SUMMARY_FIELDS = ("summary_id", "host", "defect_name", "defect_type", "charges", "transition_levels",
                  "deepest_level_depth_eV", "huang_rhys_total_max", "capture_coefficient_per_W_if2_max_cm3_s",
                  "capture_coefficient_max_cm3_s", "flags", "lowest_formation_energy_eV")


def current_versions(campaigns: Store) -> list[str]:
    """SHA-256 of the newest submitted version of every campaign: documents built under an earlier version's
    settings stay stored, and readers show those of these versions (``campaign_sha256``)."""
    return sorted(doc["sha256"] for doc in campaigns.query(properties=["sha256"]))


def defect_formations(store: Store, formation_documents: list[dict]) -> dict[str, list[DefectFormationDocument]]:
    """host_id -> the DefectFormationDocuments of the defects each host's formation-energy document lists (its
    ``defect_lines``), in that order."""
    names = {doc["host_id"]: doc["defect_lines"]["defect_names"] for doc in formation_documents}
    found = {(doc["host_id"], doc["defect_name"]): doc for doc in store.query({"host_id": {"$in": sorted(names)}})}
    return {host_id: [DefectFormationDocument(**{k: v for k, v in found[(host_id, name)].items() if k != "_id"})
                      for name in listed if (host_id, name) in found] for host_id, listed in names.items()}


def summary_criteria(
    host: str | None = None,
    defect: str | None = None,
    defect_type: str | None = None,
    level_window_eV: tuple[float, float] | None = None,
    deep_level_eV: float | None = None,
    huang_rhys_range: tuple[float, float] | None = None,
    capture_above_cm3_s: float | None = None,
    capture_per_w2_above_cm3_s: float | None = None,
    campaign_versions: list[str] | None = None,
) -> dict:
    """MongoDB criteria on the ``summaries`` collection (indexed fields only); None means any.

    level_window_eV: a transition level between the two energies (eV above the VBM); deep_level_eV: a level at
    least this far from both band edges; huang_rhys_range: the largest S of the defect's pairs inside it;
    capture_*: the largest capture coefficient at 300 K above: C = f C̃ / s (needs W_if, and m* and ε for a charged
    defect), or C̃/W_if²; campaign_versions: built under one of these campaign versions (:func:`current_versions`).
    """
    criteria: dict = {key: value for key, value in
                      {"host": host, "defect_name": defect, "defect_type": defect_type}.items() if value is not None}
    if campaign_versions is not None:
        criteria["campaign_sha256"] = {"$in": campaign_versions}
    if level_window_eV is not None:
        criteria["transition_levels.level_eV"] = {"$gte": level_window_eV[0], "$lte": level_window_eV[1]}
    if deep_level_eV is not None:
        criteria["deepest_level_depth_eV"] = {"$gte": deep_level_eV}
    if huang_rhys_range is not None:
        criteria["huang_rhys_total_max"] = {"$gte": huang_rhys_range[0], "$lte": huang_rhys_range[1]}
    if capture_above_cm3_s is not None:
        criteria["capture_coefficient_max_cm3_s"] = {"$gte": capture_above_cm3_s}
    if capture_per_w2_above_cm3_s is not None:
        criteria["capture_coefficient_per_W_if2_max_cm3_s"] = {"$gte": capture_per_w2_above_cm3_s}
    return criteria


def lowest_formation_energy_eV(summary: dict, fermi_level_eV: float, limit: str) -> float:
    """min_q (E_f(q) at the VBM + q E_F) at one chemical-potential limit."""
    states = summary["charge_states"]
    if limit not in states[0]["formation_energy_at_vbm_eV"]:
        known = ", ".join(states[0]["formation_energy_at_vbm_eV"])
        raise ValueError(f"--limit: {summary['host']} has no chemical-potential limit '{limit}'; known: {known}")
    return min(s["formation_energy_at_vbm_eV"][limit] + s["charge"] * fermi_level_eV for s in states)


def query_summaries(store, criteria: dict, formation_below_eV: float | None = None, fermi_level_eV: float = 0.0,
                    limit: str | None = None) -> list[dict]:
    """Summary rows matching ``criteria``; with ``formation_below_eV``, only defects whose lowest formation energy at
    ``fermi_level_eV`` (above the VBM) and chemical-potential ``limit`` (default: each host's first) is below it."""
    rows = []
    for doc in store.query(criteria, properties=[f for f in SUMMARY_FIELDS if f != "lowest_formation_energy_eV"]
                           + ["charge_states"]):
        chosen = limit or next(iter(doc["charge_states"][0]["formation_energy_at_vbm_eV"]))
        energy = lowest_formation_energy_eV(doc, fermi_level_eV, chosen)
        if formation_below_eV is not None and energy >= formation_below_eV:
            continue
        rows.append({**{f: doc.get(f) for f in SUMMARY_FIELDS[:-1]}, "lowest_formation_energy_eV": energy})
    return sorted(rows, key=lambda row: row["summary_id"])


SEARCH_FIELDS = ("defect", "candidates", "unique_minima", "sent_to_engine", "ground_state",
                 "ground_state_lowering_eV", "surrogate_learned_from", "saved_percent", "found", "speedup")


def _learned_from(surrogate: dict | None) -> str | None:
    """'ZnSe, CdTe (stored, campaign ii-vi)': the related hosts a surrogate learned from and the earlier campaign
    whose stored full searches it reused; 'own relaxations' without related hosts."""
    if surrogate is None:
        return None
    hosts = ", ".join(surrogate["related_hosts"]) or "own relaxations"
    return f"{hosts} (stored, campaign {surrogate['training_campaign']})" if surrogate.get("training_campaign") else hosts


def _training_hosts(campaigns: Store) -> dict[str, list[str]]:
    """campaign name -> hosts it searches fully with the engine (search.training_hosts as a list)."""
    named = {d["name"]: d["campaign"].get("search", {}).get("training_hosts", []) for d in campaigns.query()}
    return {name: hosts for name, hosts in named.items() if isinstance(hosts, list)}


def _energy_of(store: JobStore, uuid: str) -> float | None:
    doc = store.query_one({"uuid": uuid}, properties=["output.energy_eV"])
    return doc["output"]["energy_eV"] if doc else None


def structure_searches(store: JobStore, campaigns: Store, host: str | None = None) -> dict[str, list[dict]]:
    """The stored structure searches: ``rows`` (one per searched defect cell: candidates, unique surrogate minima,
    those sent to the engine, the ground state chosen and how far below the unperturbed relaxation it lies, and the
    benchmark's comparison where one ran; a training host's cells with their full search), and the ``searches``,
    ``benchmarks`` and ``full_searches`` documents themselves."""
    criteria = {} if host is None else {"output.labels.host": host}
    searches = {d["uuid"]: d["output"] for d in store.query({**criteria, "output.@class": "StructureSearchDocument"},
                                                             properties=["uuid", "output"])}
    full = {d["output"]["calculation_id"]: d["output"] for d in store.query(
        {**criteria, "output.@class": "FullSearchDocument"}, properties=["output"])}
    benchmarks = {d["output"]["calculation_id"]: d["output"] for d in store.query(
        {**criteria, "output.@class": "SearchBenchmarkDocument"}, properties=["output"])}
    replaced = {d["uuid"] for d in store.query({"uuid": {"$in": list(searches)}, "index": 2}, properties=["uuid"])}
    surrogates = {d["uuid"]: d["output"] for d in store.query(
        {"uuid": {"$in": sorted({doc["surrogate_uuid"] for doc in searches.values() if doc["surrogate_uuid"]})}},
        properties=["uuid", "output.related_hosts", "output.training_campaign"])}
    rows = []
    for uuid, doc in sorted(searches.items(), key=lambda item: item[1]["calculation_id"]):
        ground = TaskDocument.model_validate(store.get_output(uuid, which="last")) if uuid in replaced else None
        bench, unperturbed = benchmarks.get(doc["calculation_id"]), _energy_of(store, doc["unperturbed_uuid"])
        rows.append({"defect": doc["calculation_id"], "candidates": len(doc["candidates"]),
                     "unique_minima": len(doc["unique_minima"]),
                     "sent_to_engine": len(doc["sent_to_reference"]) + len(doc.get("sent_from_prior", [])),
                     "ground_state": ground.search_candidate if ground else None,
                     "ground_state_lowering_eV": (ground.energy_eV - unperturbed
                                                  if ground and unperturbed is not None else None),
                     "surrogate_learned_from": (_learned_from(surrogates.get(doc["surrogate_uuid"]))
                                                if doc["surrogate_uuid"] else "no surrogate (family prior)"),
                     "saved_percent": bench["reference_relaxations_saved_percent"] if bench else None,
                     "found": bench["ground_state_found"] if bench else None,
                     "speedup": bench["speedup"] if bench else None})
    training = _training_hosts(campaigns)
    for cid in sorted(cid for cid, doc in full.items()
                      if doc["labels"]["host"] in training.get(doc["labels"]["campaign"], [])):
        stored = store.query_one({"output.labels.calculation_id": cid, "output.task_label": "relax",
                                  "output.search_candidate": {"$ne": None}}, properties=["output"])
        ground = stored["output"] if stored else None
        unperturbed = _energy_of(store, ground["parent_uuids"][0]) if ground else None
        rows.append({"defect": cid, "candidates": 1 + len(full[cid]["candidates"]), "unique_minima": None,
                     "sent_to_engine": "all (training host)",
                     "ground_state": ground["search_candidate"] if ground else None,
                     "ground_state_lowering_eV": ground["energy_eV"] - unperturbed if unperturbed is not None else None,
                     "surrogate_learned_from": None, "saved_percent": None, "found": None, "speedup": None})
    return {"rows": rows, "searches": list(searches.values()), "benchmarks": list(benchmarks.values()),
            "full_searches": list(full.values())}


def dispersion_rows(store: JobStore | Store, host: str | None = None) -> list[dict]:
    """One row per stored host dispersion (``host_dispersion`` property): where its forces came from, the supercell,
    the highest and lowest ħω on the path, the optical Γ modes (TO; LO along x), the Lyddane–Sachs–Teller check,
    the comparison of an engine dispersion with the potential's, and the flags."""
    criteria: dict = {"output.task_label": "host_dispersion", **({} if host is None else {"output.host": host})}
    rows = []
    for doc in store.query(criteria, properties=["uuid", "completed_at", "output"], sort={"completed_at": 1}):
        output = doc["output"]
        correction, comparison = output.get("dipole_correction") or {}, output.get("comparison") or {}
        top = max(max(map(max, segment["frequencies_meV"])) for segment in output["segments"])
        rows.append({
            "host": output["host"], "force_source": output["force_source"],
            "supercell_atoms": supercell_atoms(output["supercell_matrix"], len(output["primitive_structure"]["sites"])),
            "highest_meV": top, "lowest_meV": output["lowest_frequency_meV"],
            "gamma_TO_meV": correction.get("transverse_gamma_meV", [None] * 3)[3:] or None,
            "gamma_LO_meV": correction.get("longitudinal_gamma_meV", [None] * 3)[3:] or None,
            "lyddane_sachs_teller": correction.get("lyddane_sachs_teller_ratio"),
            "epsilon_static_ratio": correction.get("epsilon_static_ratio"),
            "mean_error_meV": comparison.get("mean_error_meV"), "max_error_meV": comparison.get("max_error_meV"),
            "same_supercell_mean_error_meV": comparison.get("same_supercell_mean_error_meV"),
            "flags": output.get("flags", []), "uuid": doc["uuid"]})
    return rows


def current_site_ensembles(site_ensembles: Store, campaign_versions: list[str], host: str | None = None,
                           defect: str | None = None, charge: int | None = None) -> list[dict]:
    """The stored SiteEnsembleDocuments (collection ``site_ensembles``) over sites of the current campaign versions,
    of amorphous host ``host`` ('a-SiO2'), defect ``defect`` ('v_O') and charge state ``charge`` where given, ordered
    by host, defect, charge and chemical-potential limit."""
    criteria = {"campaign_sha256": {"$in": campaign_versions},
                **{field: value for field, value in (("host", host), ("defect", defect), ("charge", charge))
                   if value is not None}}
    return sorted(site_ensembles.query(criteria), key=lambda d: (d["host"], d["defect"], d["charge"], d["limit"]))


#: what :func:`site_states_of` reads of a formation-energy document
SITE_FIELDS = ["host", "defect_name", "charge_states", "flags"]


def site_states_of(formation_documents: Iterable[dict], tasks: JobStore | Store, charge: int) -> list[dict]:
    """Charge state ``charge`` of the defects of ``formation_documents`` (``SITE_FIELDS`` of each; those of crystal
    hosts are left out) at their glass sites: {'site': 'a-SiO2#1:v_O@17', 'formation_energy_at_vbm_eV': limit -> eV,
    'flags': its formation-energy flags, 'structure': the relaxed cell in ``tasks``, 'site_frac_coords': where the
    defect sits}."""
    found = []
    for doc in formation_documents:
        if GLASS_SEED_SEPARATOR not in doc["host"]:
            continue
        state = next((s for s in doc["charge_states"] if s["charge"] == charge), None)
        if state is not None:
            found.append({"site": glass_site_id(doc["host"], doc["defect_name"]), "uuid": state["defect_uuid"],
                          "formation_energy_at_vbm_eV": state["formation_energy_at_vbm_eV"],
                          "flags": doc.get("flags", [])})
    cells = {doc["uuid"]: doc for doc in tasks.query(
        {"uuid": {"$in": [row["uuid"] for row in found]}, "output.task_label": "relax"},
        properties=["uuid", "output.structure", "output.labels.defect_site_frac_coords"])}
    return [{**row, "structure": cells[row["uuid"]]["output"]["structure"],
             "site_frac_coords": cells[row["uuid"]]["output"]["labels"]["defect_site_frac_coords"]}
            for row in sorted(found, key=lambda row: row["site"]) if row["uuid"] in cells]


def ml_hamiltonian_rows(store: JobStore | Store, host: str | None = None) -> list[dict]:
    """One row per host judged with a Hamiltonian model (``ml_hamiltonian`` property): its training hosts and
    frames, the mixing steps, the mean errors on the host's relaxed cells, E(defect) − E(bulk) against the SCF (and from
    the model's H alone), cost, and whether it is usable."""
    criteria: dict = {"output.task_label": "ml_hamiltonian", **({} if host is None else {"output.host": host})}
    rows = []
    for doc in store.query(criteria, properties=["uuid", "completed_at", "output"], sort={"completed_at": 1}):
        output = doc["output"]
        cells = output["held_out"]
        rows.append({
            "host": output["host"], "campaign": output["campaign"], "training_hosts": output["training_hosts"],
            "n_training_frames": output["n_training_frames"], "cells": len(cells),
            "mixing_steps": output.get("mixing_steps", 0), "mixing_fraction": output.get("mixing_fraction", 0.0),
            "energy_mae_meV_per_atom": _mean_abs(c["energy_error_meV_per_atom"] for c in cells),
            "force_mae_meV_per_angstrom": _mean_abs(c["force_mae_meV_per_angstrom"] for c in cells),
            "occupied_band_mae_meV": _mean_abs(c["occupied_band_mae_meV"] for c in cells),
            "defect_energy_mae_eV": output["defect_energy_mae_eV"],
            "defect_energy_mae_before_mixing_eV": output.get("defect_energy_mae_before_mixing_eV"),
            "held_out_defect_energy_mae_eV": output["held_out_defect_energy_mae_eV"],
            "scf_wall_time_s": sum(c["scf_wall_time_s"] for c in cells),
            "model_wall_time_s": sum(c["model_wall_time_s"] for c in cells),
            "usable": output["usable"], "flag_reason": output["flag_reason"], "model_sha256": output["model_sha256"],
            "model_uuid": output["model_uuid"], "uuid": doc["uuid"]})
    return rows


def _mean_abs(values) -> float:
    values = [abs(v) for v in values]
    return sum(values) / len(values) if values else float("nan")


def full_search_minima(tasks: JobStore | Store, calculation_id: str | None = None,
                       distortion_increment: float | None = None) -> dict[str, dict[str, TaskDocument]]:
    """Per (defect, charge) with a stored full search (``calculation_id``: only that one), sorted by id: the
    unperturbed reference relaxation ('Unperturbed') and each candidate's converged one, by candidate name. A cell
    searched on several grids gives its finest grid's search, or that of ``distortion_increment``."""
    from defectscreen.jobs.search import UNPERTURBED
    from defectscreen.schemas.search import FullSearchDocument

    criteria = {"output.@class": "FullSearchDocument"}
    if calculation_id is not None:
        criteria["output.calculation_id"] = calculation_id
    if distortion_increment is not None:
        criteria["output.distortion_increment"] = distortion_increment
    found = {}
    for document in tasks.query(criteria, properties=["output"], sort={"output.distortion_increment": -1}):
        full = FullSearchDocument.model_validate(document["output"])
        unperturbed = tasks.query_one({"output.task_label": "relax", "output.search_candidate": None,
                                       "output.labels.calculation_id": full.calculation_id}, properties=["output"])
        if unperturbed is not None:
            found[full.calculation_id] = {UNPERTURBED: TaskDocument.model_validate(unperturbed["output"])} | {
                t.search_candidate: t for t in full.relaxations if t.converged}
    return dict(sorted(found.items()))

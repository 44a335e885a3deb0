"""Find task documents by host, defect, element, defect type and charge."""

from __future__ import annotations

from jobflow import JobStore

ROW_FIELDS = (
    "calculation_id", "host", "defect_name", "defect_type", "charge", "task_label",
    "energy_eV", "max_force_eV_per_angstrom", "n_atoms", "engine", "uuid",
)


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
    "phonon_mean_error_meV", "phonon_max_error_meV", "localized_min_overlap", "uuid",
)


def potential_rows(store: JobStore, host: str | None = None) -> list[dict]:
    """One row per stored per-defect potential: its errors and, where the engine phonons were computed, how far
    the potential's Γ frequencies are from them."""
    criteria: dict = {"output.model_sha256": {"$exists": True}, "output.backend": {"$exists": True}}
    if host is not None:
        criteria["output.labels.host"] = host
    comparisons = {}
    for doc in store.query({"output.comparison.potential_phonons_uuid": {"$exists": True}},
                           properties=["output.comparison", "output.calculation_id"]):
        comparisons[doc["output"]["calculation_id"]] = doc["output"]["comparison"]
    rows = []
    for doc in store.query(criteria, properties=["uuid", *(f"output.{f}" for f in POTENTIAL_FIELDS[:7])]):
        comparison = comparisons.get(doc["output"]["calculation_id"], {})
        overlaps = comparison.get("localized_overlaps") or [None]
        rows.append({
            **{name: doc["output"][name] for name in POTENTIAL_FIELDS[:7]},
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

"""Builders planned from the embedded store's change feed build what a build from scratch builds, and only that.

The task documents come from the physical model of ``benchmarks/builder_throughput.py`` (rocksalt hosts whose
vacancies have known formation energies and transition levels, supercell energies including the real Freysoldt
lattice energy), so the built levels are also checked against the generated ones."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
from pymatgen.core import Lattice

from defectscreen.analysis import formation
from defectscreen.analysis.formation import freysoldt_lattice_energy_eV, lattice_energy_key
from defectscreen.builders import builder_chain
from defectscreen.builders.chain import COLLECTIONS
from defectscreen.storage import StorageSettings
from defectscreen.storage.document_store import SQLiteDocumentStore

_spec = importlib.util.spec_from_file_location(
    "builder_throughput", Path(__file__).resolve().parents[1] / "benchmarks" / "builder_throughput.py")
throughput = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(throughput)

#: the target of each builder of the chain
TARGETS = ("defects", "formation_energies", "summaries")
BUILT = ("defects", "formation_energies", "defect_formation_energies", "summaries")


def _store(data_dir: Path, tasks: list[dict], campaign: dict) -> StorageSettings:
    settings = StorageSettings(data_dir=data_dir)
    settings.job_store().docs_store.update(tasks, key=["uuid", "index"])
    settings.collection("campaigns", COLLECTIONS["campaigns"]).update([campaign], key="name")
    return settings


def _run(settings: StorageSettings) -> dict[str, tuple[int, int]]:
    """(documents planned, documents built) by each builder of the chain, by target collection."""
    counts = {}
    for target, builder in zip(TARGETS, builder_chain(settings)):
        builder.connect()
        items = list(builder.get_items())
        builder.update_targets([builder.process_item(item) for item in items])
        builder.finalize()
        counts[target] = (builder.planned, len(items))
    return counts


def _built(settings: StorageSettings) -> dict[str, dict[str, dict]]:
    """Every built document by collection and key, without build times."""
    documents = {}
    for name in BUILT:
        store = settings.collection(name, COLLECTIONS[name])
        documents[name] = {doc[COLLECTIONS[name]]: doc for doc in store.query(properties={"last_updated": 0})}
    return documents


def _scratch(tmp_path: Path, settings: StorageSettings, name: str) -> dict[str, dict[str, dict]]:
    """What a first build builds from the same task documents, in a new data directory."""
    tasks = list(settings.job_store().docs_store.query())
    campaign = settings.collection("campaigns", COLLECTIONS["campaigns"]).query_one()
    fresh = _store(tmp_path / name, tasks, campaign)
    _run(fresh)
    return _built(fresh)


@pytest.mark.slow(seconds=20)
def test_change_feed_builds_what_a_first_build_builds(data_dir: Path, tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    tasks, campaign, truth = throughput.generate(4, 6, rng)
    settings = _store(data_dir, tasks, campaign)
    assert _run(settings) == {"defects": (72, 72), "formation_energies": (4, 4), "summaries": (24, 24)}
    per_defect = settings.collection("defect_formation_energies", COLLECTIONS["defect_formation_energies"])
    per_defect = list(per_defect.query())
    assert len(per_defect) == 24
    for defect in per_defect:  # the generated charge-state energies come back (μ cancels in differences)
        at_vbm = truth[(defect["host"], defect["defect_name"])]
        energies = {s["charge"]: s["formation_energy_at_vbm_eV"] for s in defect["charge_states"]}
        for limit in energies[0]:
            assert {q: energies[q][limit] - energies[0][limit] for q in at_vbm} == pytest.approx(
                {q: at_vbm[q] - at_vbm[0] for q in at_vbm}, abs=1e-9)

    vacancies = [doc for doc in tasks if doc["output"]["labels"]["defect_type"] == "vacancy"]
    throughput.recompute(settings.job_store().docs_store, [vacancies[0], vacancies[40]])  # two hosts, two defects
    assert _run(settings) == {"defects": (2, 2), "formation_energies": (2, 2), "summaries": (2, 2)}
    assert _built(settings) == _scratch(tmp_path, settings, "after-two")

    bulk = next(doc for doc in tasks if doc["output"]["labels"]["defect_type"] == "bulk")
    throughput.recompute(settings.job_store().docs_store, [bulk])  # every defect of that host
    assert _run(settings) == {"defects": (18, 18), "formation_energies": (1, 1), "summaries": (6, 6)}
    assert _built(settings) == _scratch(tmp_path, settings, "after-bulk")
    assert _run(settings) == {"defects": (0, 0), "formation_energies": (0, 0), "summaries": (0, 0)}

    donor = next(doc for doc in vacancies if doc["output"]["labels"]["charge"] == 2)
    host = donor["output"]["labels"]["host"]
    per_defect = settings.collection("defect_formation_energies", COLLECTIONS["defect_formation_energies"])
    assert not any(doc["flags"] for doc in per_defect.query({"host": host}))
    rerun = {**donor, "output": {**donor["output"], "energy_eV": donor["output"]["energy_eV"] - 30.0}}
    throughput.recompute(settings.job_store().docs_store, [rerun])  # E_f(+2) far below 0: E_F leaves the gap
    assert _run(settings) == {"defects": (1, 1), "formation_energies": (1, 1), "summaries": (6, 6)}
    flags = settings.collection("formation_energies", COLLECTIONS["formation_energies"]).query_one(
        {"host": host})["flags"]
    assert flags and all("outside the gap" in flag for flag in flags)
    assert all(doc["flags"] == flags for doc in per_defect.query({"host": host}))  # the host's other defects too
    assert _built(settings) == _scratch(tmp_path, settings, "after-flags")

    outputs = settings.job_store().docs_store
    outputs.remove_docs({"output.labels.calculation_id": vacancies[5]["output"]["labels"]["calculation_id"]})
    defects = builder_chain(settings)[0]  # a removal shows in no document: the next build plans everything
    defects.connect()
    list(defects.get_items())
    assert defects.changed(outputs, ["uuid"]) is None


def test_a_cells_lattice_energy_is_computed_once_and_read_by_later_builds(data_dir: Path, monkeypatch) -> None:
    tasks, campaign, _ = throughput.generate(2, 3, np.random.default_rng(4))
    settings = _store(data_dir, tasks, campaign)
    _run(settings)
    memo = settings.collection("lattice_energies", COLLECTIONS["lattice_energies"])
    stored = {doc["lattice_key"]: doc for doc in memo.query()}
    assert len(stored) == 2  # one per host supercell (and ε, β), not one per charged defect
    defects = settings.collection("defects", COLLECTIONS["defects"])
    charged = list(defects.query({"labels.charge": {"$ne": 0}}))
    cells = {doc["uuid"]: doc["output"]["structure"]["lattice"]["matrix"] for doc in tasks}
    for doc in charged:  # each charged cell's lattice energy is q² times its cell's stored unit-charge value
        unit = stored[lattice_energy_key(cells[doc["task_uuid"]], throughput.DIELECTRIC, throughput.WIDTH_BOHR)]
        assert doc["correction"]["lattice_energy_eV"] == pytest.approx(
            doc["labels"]["charge"] ** 2 * unit["unit_charge_lattice_energy_eV"], rel=1e-12)
        assert doc["correction"]["lattice_energy_eV"] == pytest.approx(freysoldt_lattice_energy_eV(
            Lattice(cells[doc["task_uuid"]]), doc["labels"]["charge"], throughput.DIELECTRIC, throughput.WIDTH_BOHR))

    formation._unit_lattice_energy_eV.cache_clear()  # as in a new process: nothing computed is in memory

    def not_again(*args, **kwargs):
        raise AssertionError("the stored lattice energy was computed again")

    monkeypatch.setattr(formation, "perform_es_corr", not_again)
    rerun = next(doc for doc in tasks if doc["output"]["labels"]["charge"] == 2)
    throughput.recompute(settings.job_store().docs_store, [rerun])
    assert _run(settings)["defects"] == (1, 1)
    rebuilt = defects.query_one({"task_uuid": rerun["uuid"]})
    assert rebuilt["correction"]["lattice_energy_eV"] == next(
        doc for doc in charged if doc["task_uuid"] == rerun["uuid"])["correction"]["lattice_energy_eV"]
    assert {doc["lattice_key"]: doc for doc in memo.query()} == stored


def test_change_feed_of_the_embedded_store(tmp_path: Path) -> None:
    store = SQLiteDocumentStore("docs", str(tmp_path / "db.sqlite"), key="k")
    store.connect()
    store.update([{"k": k, "host": f"H{k % 3}"} for k in range(10)])
    token = store.change_token()
    assert store.changed_since(token) == []
    store.update([{"k": 9, "host": "H9"}, {"k": 10, "host": "H1"}])  # a replacement (of the newest row) and a new one
    assert store.changed_since(token, properties=["k"]) == [{"k": 9}, {"k": 10}]
    assert store.changed_since(token, {"host": "H1"}, ["k"]) == [{"k": 10}]
    later = store.change_token()
    assert later[0] > token[0] and store.changed_since(later) == []
    store.remove_docs({"k": 3})
    assert store.changed_since(later) is None and store.change_token()[1] == 1

"""The embedded document store answers as MongoDB does (mongomock as the reference), from its indexes."""

from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from maggma.stores import MemoryStore

from defectscreen.storage.document_store import SQLiteDocumentStore

INDEXED = ("k", "host", "charge", "level_eV", "flag", "labels.kind", "levels.depth_eV", "elements", "when")
CRITERIA = [
    {}, {"host": "H3"}, {"charge": -1}, {"charge": 1.0}, {"flag": True},
    {"host": {"$in": ["H1", "H4"]}, "charge": {"$ne": 0}}, {"labels.kind": {"$nin": ["bulk", "phase"]}},
    {"level_eV": {"$gte": 0.5, "$lt": 1.5}}, {"level_eV": {"$gt": 1}}, {"level_eV": {"$exists": False}},
    {"levels.depth_eV": {"$gte": 1.0}}, {"elements": "O"}, {"elements": {"$nin": ["O"]}},
    {"host": "H2", "unindexed": {"$gt": 3}}, {"$and": [{"host": "H1"}, {"charge": {"$in": [0, 1]}}]},
    {"$or": [{"host": "H1"}, {"charge": 2}]}, {"labels.kind": {"$exists": True}, "flag": False},
    {"when": {"$gt": datetime(2026, 1, 5)}}, {"level_eV": None}, {"host": {"$in": []}},
]


def _documents(n: int, seed: int = 3) -> list[dict]:
    rng = random.Random(seed)
    docs = []
    for k in range(n):
        doc = {"k": k, "host": f"H{rng.randrange(6)}", "charge": rng.choice([-2, -1, 0, 1, 2]),
               "flag": rng.choice([True, False]), "labels": {"kind": rng.choice(["bulk", "vacancy", "phase"])},
               "levels": [{"depth_eV": rng.uniform(0, 2)} for _ in range(rng.randrange(3))],
               "elements": rng.sample(["Mg", "O", "N", "Ga"], rng.randrange(1, 3)), "unindexed": rng.randrange(6),
               "when": datetime(2026, 1, 1) + timedelta(days=rng.randrange(10))}
        if rng.random() < 0.8:
            doc["level_eV"] = rng.choice([rng.uniform(-0.5, 2.5), None, "deep"])
        docs.append(doc)
    return docs


@pytest.fixture(scope="module")
def stores(tmp_path_factory: pytest.TempPathFactory) -> tuple[SQLiteDocumentStore, MemoryStore]:
    sqlite = SQLiteDocumentStore("docs", str(tmp_path_factory.mktemp("store") / "db.sqlite"), key="k")
    reference = MemoryStore("docs", key="k")
    docs = _documents(400)
    for store in (sqlite, reference):
        store.connect()
        store.update(docs[:200])
    for field in INDEXED:
        sqlite.ensure_index(field)  # half the documents indexed after they were stored, half on insert
    for store in (sqlite, reference):
        store.update(docs[200:])
        store.update([{**docs[7], "host": "H9"}, {**docs[300], "charge": 5}])  # replacements by key
        store.update(_documents(400, seed=5)[150:250])  # every field redrawn, arrays and missing fields included
        store.remove_docs({"k": {"$in": [11, 12]}})
    return sqlite, reference


@pytest.mark.parametrize("criteria", CRITERIA, ids=[str(c) for c in CRITERIA])
def test_queries_match_mongodb_semantics(stores, criteria: dict) -> None:
    sqlite, reference = stores
    expected = sorted(doc["k"] for doc in reference.query(criteria, properties=["k"]))
    assert sorted(doc["k"] for doc in sqlite.query(criteria, properties=["k"])) == expected
    assert sqlite.count(criteria) == len(expected)


def test_aware_datetimes_compare_as_utc(stores) -> None:
    sqlite, _ = stores
    naive, aware = datetime(2026, 1, 5), datetime(2026, 1, 5, 2, tzinfo=timezone(timedelta(hours=2)))
    assert sqlite.count({"when": {"$gt": aware}}) == sqlite.count({"when": {"$gt": naive}}) > 0


def test_index_answers_what_it_can_exactly(stores) -> None:
    """Conditions on indexed scalar fields are answered by SQL alone; arrays and unindexed fields are checked."""
    sqlite, _ = stores
    assert sqlite._plan({"host": "H1", "charge": {"$in": [0, 1]}, "labels.kind": {"$ne": "bulk"}})[2]
    assert not sqlite._plan({"levels.depth_eV": {"$gte": 1.0}})[2], "multikey: MongoDB's any-element semantics"
    assert not sqlite._plan({"host": "H1", "unindexed": 3})[2]
    assert sqlite.indexed_fields()["levels.depth_eV"] & 1 and sqlite.indexed_fields()["host"] == 0


def test_sorted_limited_projected_and_covered(stores) -> None:
    sqlite, reference = stores
    for sort in ({"level_eV": -1}, {"level_eV": 1}, {"charge": 1, "k": -1}):
        for criteria in ({}, {"host": "H2"}):
            args = {"criteria": criteria, "properties": ["k", "level_eV"], "sort": sort, "skip": 3, "limit": 7}
            got, want = list(sqlite.query(**args)), list(reference.query(**args))
            assert [d.get("level_eV") for d in got] == [d.get("level_eV") for d in want]
            if "k" in sort:  # a total order (MongoDB leaves the order of ties unspecified)
                assert [d["k"] for d in got] == [d["k"] for d in want]
    covered = list(sqlite.query({"host": "H3"}, properties=["k", "labels.kind", "flag"]))
    decoded = [{key: d[key] for key in ("k", "labels", "flag")} for d in reference.query({"host": "H3"})]
    assert sorted(covered, key=lambda d: d["k"]) == sorted(decoded, key=lambda d: d["k"])
    assert all(type(d["flag"]) is type(r["flag"]) for d, r in zip(sorted(covered, key=lambda d: d["k"]),
                                                                     sorted(decoded, key=lambda d: d["k"])))
    assert sqlite._covers({"host": "H3"}, {"k": 1, "labels.kind": 1}) and not sqlite._covers({}, {"levels": 1})
    assert sorted(sqlite.distinct("host")) == sorted(reference.distinct("host"))


@pytest.mark.parametrize("field, criteria", [
    ("host", {}), ("host", {"charge": {"$in": [0, 1]}}), ("flag", {"host": "H2"}), ("labels.kind", {}),
    ("level_eV", {}), ("charge", {"levels.depth_eV": {"$gte": 1.0}}), ("elements", {"host": "H1"}),
    ("unindexed", {"host": "H4"}),
])
def test_distinct_values_match_mongodb_and_come_from_the_index_where_it_covers_them(
        stores, field: str, criteria: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    """distinct over an indexed scalar field with exact criteria reads the index only (no document decoded: the
    10^5-task `query --host` lists a host's glasses this way); arrays, mixed types, unindexed fields and inexact
    criteria decode the matching documents. Both give MongoDB's values (booleans as booleans), None for a document
    without the field as the decoding path always has."""
    sqlite, reference = stores

    def values_of(doc: dict) -> list:
        node = doc
        for part in field.split("."):
            node = node.get(part) if isinstance(node, dict) else None
        return node if isinstance(node, list) else [node]

    expected = {repr(value) for doc in reference.query(criteria) for value in values_of(doc)}
    if sqlite._plan(criteria)[2] and sqlite.indexed_fields().get(field) == 0:
        monkeypatch.setattr(sqlite, "_matching", lambda *args, **kwargs: pytest.fail("decoded documents"))
    values = sqlite.distinct(field, criteria)
    assert len(values) == len({repr(value) for value in values}) and {repr(value) for value in values} == expected


def test_replacement_leaves_the_index_of_a_fresh_store(stores, tmp_path: Path) -> None:
    """A replacement keeps the replaced document's index rows where values are unchanged and moves them to the new
    row: the index holds exactly the rows a store given only the final documents holds."""
    sqlite, reference = stores
    fresh = SQLiteDocumentStore("docs", str(tmp_path / "fresh.sqlite"), key="k")
    fresh.connect()
    for field in INDEXED:
        fresh.ensure_index(field)
    fresh.update([{key: value for key, value in doc.items() if key != "_id"} for doc in reference.query()])

    def rows(store: SQLiteDocumentStore) -> list[tuple]:
        return sorted(store._sql().execute(
            f'SELECT k.value, i.field, typeof(i.value), quote(i.value) FROM {store._index} i '
            f'JOIN {store._index} k ON k.id = i.id AND k.field = \'k\'').fetchall())

    kept = rows(sqlite)
    assert kept == rows(fresh) and len(kept) > 3000
    assert sqlite._sql().execute(f"SELECT count(DISTINCT id) FROM {sqlite._index}").fetchone()[0] == 398


def test_documents_persist_across_connections(stores, tmp_path: Path) -> None:
    sqlite, _ = stores
    again = SQLiteDocumentStore("docs", sqlite.database_path, key="k")
    again.connect()
    assert again.count() == sqlite.count() == 398 and set(again.indexed_fields()) == set(sqlite.indexed_fields())
    assert again.query_one({"k": 7})["host"] == "H9"


def test_in_lists_longer_than_sqlites_parameter_limit(stores) -> None:
    """A builder loads 10^5 task documents by uuid at once: the list travels as one JSON parameter."""
    sqlite, reference = stores
    wanted = [*range(-40_000, 0), 3, 250, 399]
    assert sorted(d["k"] for d in sqlite.query({"k": {"$in": wanted}}, properties=["k"])) == [3, 250, 399]
    assert sqlite.count({"k": {"$nin": wanted}}) == reference.count() - 3

"""The embedded database keeps MongoDB's atomicity across processes and survives kill -9."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

from pymongo import ReturnDocument

from defectscreen.storage.embedded_mongo import EmbeddedMongoClient

COUNTER_SCRIPT = """
import sys
from pymongo import ReturnDocument
from defectscreen.storage.embedded_mongo import EmbeddedMongoClient
client = EmbeddedMongoClient(sys.argv[1])
db = client["fw"]
for _ in range(int(sys.argv[2])):
    doc = db.counter.find_one_and_update(
        {"_id": "n"}, {"$inc": {"value": 1}}, upsert=True, return_document=ReturnDocument.AFTER
    )
    db.claims.insert_one({"value": doc["value"], "who": sys.argv[3]})
"""


def _run_counters(path: Path, n_processes: int, increments: int) -> None:
    processes = [
        subprocess.Popen([sys.executable, "-c", COUNTER_SCRIPT, str(path), str(increments), str(i)])
        for i in range(n_processes)
    ]
    assert [p.wait(timeout=300) for p in processes] == [0] * n_processes


def test_concurrent_find_one_and_update_loses_nothing(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite"
    _run_counters(path, n_processes=3, increments=300)
    db = EmbeddedMongoClient(path)["fw"]
    assert db.counter.find_one({"_id": "n"})["value"] == 900
    values = db.claims.distinct("value")
    assert sorted(values) == list(range(1, 901)), "every increment claimed exactly once"
    per_process = {d["_id"]: d["n"] for d in db.claims.aggregate([{"$group": {"_id": "$who", "n": {"$sum": 1}}}])}
    assert per_process == {"0": 300, "1": 300, "2": 300}


def test_kill_9_keeps_every_committed_write(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite"
    process = subprocess.Popen([sys.executable, "-c", COUNTER_SCRIPT, str(path), "100000", "k"])
    time.sleep(4.0)
    process.send_signal(signal.SIGKILL)
    process.wait()
    db = EmbeddedMongoClient(path)["fw"]
    counter = db.counter.find_one({"_id": "n"})["value"]
    claims = db.claims.count_documents({})
    assert counter > 0
    assert claims in (counter, counter - 1), "the kill may fall between the two writes, no more"
    db.counter.find_one_and_update({"_id": "n"}, {"$inc": {"value": 1}})
    assert EmbeddedMongoClient(path)["fw"].counter.find_one()["value"] == counter + 1


def test_pymongo_semantics_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite"
    coll = EmbeddedMongoClient(path)["db"]["things"]
    coll.insert_many([{"fw_id": i, "state": "READY" if i % 2 else "WAITING"} for i in range(10)])
    coll.update_many({"state": "WAITING"}, {"$set": {"state": "READY"}})
    coll.delete_one({"fw_id": 3})
    replaced = coll.find_one_and_replace(
        {"fw_id": 4}, {"fw_id": 4, "state": "DONE"}, return_document=ReturnDocument.AFTER
    )
    assert replaced["state"] == "DONE"
    other = EmbeddedMongoClient(path)["db"]["things"]
    assert other.count_documents({}) == 9
    assert other.count_documents({"state": "READY"}) == 8
    assert [d["fw_id"] for d in other.find({}, sort=[("fw_id", -1)], limit=2)] == [9, 8]


def test_indexed_queries_return_exactly_what_mongomock_returns(tmp_path: Path) -> None:
    """The field index only narrows candidates: random documents, updates and deletes, queried by equality and $in
    on scalars, list elements, numbers of mixed type, booleans and missing fields, match an unindexed mongomock."""
    import copy
    import random

    import mongomock_ng

    rng = random.Random(7)
    values = [0, 1, 1.0, 2, True, False, "a", "b", None, [1, "a"], [2.0, {"x": 1}], {"x": 1}, [[1]]]
    indexed = EmbeddedMongoClient(tmp_path / "db.sqlite")["db"]["things"]
    plain = mongomock_ng.MongoClient()["db"]["things"]
    documents = [{"_id": i, **{f: rng.choice(values) for f in "pqr" if rng.random() < 0.8}} for i in range(300)]
    for coll in (indexed, plain):
        coll.insert_many(copy.deepcopy(documents))
    for step in range(60):
        doc_id, field, value = rng.randrange(300), rng.choice("pqr"), rng.choice(values)
        for coll in (indexed, plain):
            coll.update_one({"_id": doc_id}, {"$set": {field: value}} if step % 3 else {"$unset": {field: ""}})
            coll.delete_one({"_id": 1000 + step if step % 5 else step})
    queries = [{f: v} for f in "pqr" for v in values if not isinstance(v, dict)]
    queries += [{"p": {"$in": [1, "b"]}}, {"q": {"$eq": 2}, "r": "a"}, {"p": 1, "q": {"$ne": 1}},
                {"$or": [{"p": 1}, {"q": "a"}]}, {"p.x": 1}, {"r": {"$in": [[1], 0]}}]
    for query in queries:
        expected = [d["_id"] for d in plain.find(query)]
        assert [d["_id"] for d in indexed.find(query)] == expected, query
        assert indexed.count_documents(query) == len(expected), query
    reopened = EmbeddedMongoClient(tmp_path / "db.sqlite")["db"]["things"]
    assert sorted(d["_id"] for d in reopened.find({"p": 1})) == sorted(d["_id"] for d in plain.find({"p": 1}))


def test_unique_index_is_enforced_by_lookup(tmp_path: Path) -> None:
    import pytest
    from pymongo.errors import DuplicateKeyError

    coll = EmbeddedMongoClient(tmp_path / "db.sqlite")["fw"]["fireworks"]
    coll.create_index("fw_id", unique=True)
    coll.insert_many([{"fw_id": i, "state": "READY"} for i in range(5)])
    coll.update_one({"fw_id": 2}, {"$set": {"state": "RESERVED"}})
    with pytest.raises(DuplicateKeyError):
        coll.insert_one({"fw_id": 3})
    with pytest.raises(DuplicateKeyError):
        coll.update_one({"fw_id": 4}, {"$set": {"fw_id": 1}})
    coll.update_one({"fw_id": 4}, {"$set": {"fw_id": 9}})
    coll.insert_one({"fw_id": 4})
    assert sorted(d["fw_id"] for d in coll.find()) == [0, 1, 2, 3, 4, 9]


def test_sorted_queries_return_exactly_what_mongomock_returns(tmp_path: Path) -> None:
    """A sorted query on indexed candidates (a LaunchPad checkout) sorts, then filters lazily: same documents in the
    same order as mongomock, ties kept in insertion order, for find, find_one and find_one_and_update."""
    import copy
    import random

    import mongomock_ng

    rng = random.Random(11)
    documents = [{"_id": i, "state": rng.choice(["READY", "WAITING"]), "created_on": rng.randrange(5),
                  "spec": {"_priority": rng.choice([None, 1, 2])} if rng.random() < 0.7 else {},
                  "tags": rng.choice([[], [3], "x"])} for i in range(200)]
    indexed = EmbeddedMongoClient(tmp_path / "db.sqlite")["db"]["fireworks"]
    plain = mongomock_ng.MongoClient()["db"]["fireworks"]
    for coll in (indexed, plain):
        coll.insert_many(copy.deepcopy(documents))
    sorts = [[("spec._priority", -1), ("created_on", 1)], [("created_on", -1)], [("tags", 1)], {"created_on": 1}]
    query = {"state": "READY", "$or": [{"spec._fworker": {"$exists": False}}, {"spec._fworker": None}]}
    for sort in sorts:
        assert [d["_id"] for d in indexed.find(query, sort=sort)] == [d["_id"] for d in plain.find(query, sort=sort)]
        assert indexed.find_one(query, {"spec": 1}, sort=sort) == plain.find_one(query, {"spec": 1}, sort=sort)
    for _ in range(5):
        claimed = [coll.find_one_and_update(query, {"$set": {"state": "RESERVED"}}, sort=sorts[0])
                   for coll in (indexed, plain)]
        assert claimed[0] == claimed[1]

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

"""One place decides where data live: a project data directory, or a MongoDB server.

Precedence: environment variables, then the config file, then defaults.

========================== ===================== =======================================
environment variable       config file key       default
========================== ===================== =======================================
DEFECTSCREEN_DATA_DIR      data_dir              ./defectscreen-data
DEFECTSCREEN_MONGO_URI     mongo_uri             (none: embedded store, no server)
DEFECTSCREEN_MONGO_DB      mongo_database        defectscreen
DEFECTSCREEN_CONFIG        (the file itself)     ./defectscreen.yaml if it exists
========================== ===================== =======================================
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

import yaml
from fireworks import LaunchPad
from jobflow import JobStore
from maggma.core import Store
from maggma.stores import GridFSStore, MongoStore, MontyStore
from monty.json import jsanitize
from montydb import MontyClient, set_storage
from montydb.errors import CollectionInvalid

from defectscreen.storage.launchpad import EmbeddedLaunchPad, mongo_launchpad

MONTY_CONFIG_FILES = (".monty.storage", "monty.storage.cfg")  # written by montydb.set_storage
#: above this many replaced documents the embedded store rewrites its collection rather than filtering by $in.
MAX_DELETE_LIST = 500


class EmbeddedStore(MontyStore):
    """maggma's MontyStore, except that montydb's storage configuration is written once, under a file lock, when
    the repository has none: MontyStore rewrites it at every connect, and a worker connecting meanwhile reads a
    partial file ('Empty module name')."""

    def connect(self, force_reset: bool = False) -> None:
        if not self._coll or force_reset:
            repository = Path(self.database_path)
            repository.mkdir(parents=True, exist_ok=True)
            with open(repository / ".defectscreen.lock", "w") as lock:
                fcntl.flock(lock, fcntl.LOCK_EX)
                if not all((repository / f).is_file() for f in MONTY_CONFIG_FILES):
                    set_storage(self.database_path, storage=self.storage, **self.storage_kwargs)
            client = MontyClient(self.database_path, **self.client_kwargs)
            self._coll = client[self.database_name][self.collection_name]

    def update(self, docs: list[dict] | dict, key: list | str | None = None) -> None:
        """maggma's update (replace documents with the same key, insert new ones) in bulk: montydb has no indexes,
        so maggma's one upsert per document scans the collection once per document. Here one scan finds the keys
        already stored, those documents are deleted (by $in, or by rewriting the collection when there are many:
        montydb tests $in against a list) and all are inserted at once. Built documents are derived: one lost
        between the two steps is rebuilt by the next build."""
        key = key or self.key
        docs = [jsanitize(d, allow_bson=True) for d in (docs if isinstance(docs, list) else [docs])]
        if isinstance(key, list) or not docs:
            super().update(docs, key)
            return
        incoming = {d[key] for d in docs}
        replaced = {d[key] for d in self._collection.find({}, {key: 1}) if d.get(key) in incoming}
        if len(replaced) > MAX_DELETE_LIST:
            kept = [d for d in self._collection.find({}) if d.get(key) not in replaced]
            self._collection.drop()
            docs = kept + docs
        elif replaced:
            self._collection.delete_many({key: {"$in": sorted(replaced)}})
        self._collection.insert_many(docs)


@dataclass(frozen=True)
class StorageSettings:
    """Where the JobStore and the LaunchPad live."""

    data_dir: Path
    mongo_uri: str | None = None
    mongo_database: str = "defectscreen"

    @classmethod
    def from_environment(cls) -> StorageSettings:
        config_path = Path(os.environ.get("DEFECTSCREEN_CONFIG", "defectscreen.yaml"))
        config = yaml.safe_load(config_path.read_text()) if config_path.is_file() else {}
        unknown = set(config) - {"data_dir", "mongo_uri", "mongo_database"}
        if unknown:
            raise ValueError(
                f"{config_path}: unknown key(s) {', '.join(sorted(unknown))}; "
                "known: data_dir, mongo_uri, mongo_database"
            )
        data_dir = os.environ.get("DEFECTSCREEN_DATA_DIR", config.get("data_dir", "defectscreen-data"))
        return cls(
            data_dir=Path(data_dir).resolve(),
            mongo_uri=os.environ.get("DEFECTSCREEN_MONGO_URI", config.get("mongo_uri")),
            mongo_database=os.environ.get(
                "DEFECTSCREEN_MONGO_DB", config.get("mongo_database", "defectscreen")
            ),
        )

    @property
    def mode(self) -> str:
        return "mongodb" if self.mongo_uri else "embedded"

    def job_store(self) -> JobStore:
        """jobflow JobStore: task documents in ``outputs``, large arrays in the ``data`` store."""
        if self.mongo_uri:
            docs = MongoStore.from_uri(self.mongo_uri, "outputs", database=self.mongo_database)
            blobs = GridFSStore.from_uri(self.mongo_uri, "outputs_blobs", database=self.mongo_database)
        else:
            docs, blobs = self._embedded("outputs"), self._embedded("outputs_blobs")
        return JobStore(docs, additional_stores={"data": blobs})

    def _embedded(self, name: str, **kwargs) -> MontyStore:
        """A collection of the embedded database, connected, whose table exists on return: workers started together
        after a submission would otherwise read a collection file another worker is still creating ('no such
        table: documents')."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        store = EmbeddedStore(name, database_path=str(self.data_dir / "jobstore"), storage="sqlite", **kwargs)
        store.connect()
        database = store._collection.database
        for _ in range(100):
            try:
                if name not in database.list_collection_names():
                    database.create_collection(name)
                list(store._collection.find({}, max_scan=1))  # reads the table without scanning it
                return store
            except (CollectionInvalid, sqlite3.OperationalError):
                time.sleep(0.05)
        raise RuntimeError(f"the embedded collection {self.data_dir / 'jobstore'}/{name} cannot be created or read")

    def collection(self, name: str, key: str) -> Store:
        """A maggma store beside the JobStore (same MongoDB database, or the same embedded database) for one
        collection the builders or the submission write, documents identified by ``key``."""
        if self.mongo_uri:
            return MongoStore.from_uri(self.mongo_uri, name, database=self.mongo_database, key=key)
        return self._embedded(name, key=key)

    def launchpad(self) -> LaunchPad:
        if self.mongo_uri:
            return mongo_launchpad(self.mongo_uri, self.mongo_database)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        return EmbeddedLaunchPad(self.data_dir / "launchpad.sqlite", strm_lvl="WARNING")

    @property
    def launch_dir(self) -> Path:
        """Where workers run jobs (engine logs, relaxation logs)."""
        path = self.data_dir / "launches"
        path.mkdir(parents=True, exist_ok=True)
        return path

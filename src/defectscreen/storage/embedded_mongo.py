"""A pymongo-compatible database in one SQLite file, safe for many processes and for ``kill -9``.

FireWorks needs a MongoDB-like database. The embedded default keeps mongomock's query, update
and aggregation semantics and adds what mongomock lacks: durability and process safety.

Every operation runs under one exclusive lock (``fcntl.flock`` on ``<file>.lock`` plus a
thread lock) and in three steps:

1. replay: rows that other processes committed since this process last looked (a higher
   ``generation``) are copied into the in-memory mongomock store;
2. the operation runs on mongomock;
3. every document the operation inserted, changed or deleted (tracked by the store) is written
   in one SQLite transaction under a new generation.

A process killed at any point loses only the operation it had not committed, and the kernel
releases its lock, so concurrent workers neither lose updates nor see half-written ones. Cost:
one indexed SQLite read per operation, plus the changed documents; nothing scales with the size
of the database except mongomock's own in-memory scans.
"""

from __future__ import annotations

import fcntl
import sqlite3
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import bson
import mongomock_ng as mongomock
from mongomock_ng.store import CollectionStore, DatabaseStore, ServerStore

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS documents (db TEXT, coll TEXT, doc_id BLOB, doc BLOB,"
    " generation INTEGER, PRIMARY KEY (db, coll, doc_id))",
    "CREATE INDEX IF NOT EXISTS documents_generation ON documents (generation)",
    "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER)",
    "INSERT OR IGNORE INTO meta VALUES ('generation', 0)",
)


class _TrackedCollectionStore(CollectionStore):
    """mongomock's collection store that remembers which document ids were written or removed."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.changed_ids: set = set()

    def __setitem__(self, key, val) -> None:
        super().__setitem__(key, val)
        self.changed_ids.add(key)

    def __delitem__(self, key) -> None:
        super().__delitem__(key)
        self.changed_ids.add(key)

    def drop(self) -> None:
        self.changed_ids.update(self._documents)
        super().drop()

    def replay(self, key, doc: dict | None) -> None:
        """Apply a committed row from disk without marking it as changed here."""
        if doc is None:
            if key in self._documents:
                super().__delitem__(key)
        else:
            super().__setitem__(key, doc)


class _TrackedDatabaseStore(DatabaseStore):
    def __getitem__(self, col_name: str) -> _TrackedCollectionStore:
        if col_name not in self._collections:
            self._collections[col_name] = _TrackedCollectionStore(col_name)
        return self._collections[col_name]

    def collections(self) -> Iterator[_TrackedCollectionStore]:
        return iter(list(self._collections.values()))


class _TrackedServerStore(ServerStore):
    def __getitem__(self, db_name: str) -> _TrackedDatabaseStore:
        if db_name not in self._databases:
            self._databases[db_name] = _TrackedDatabaseStore()
        return self._databases[db_name]

    def databases(self) -> Iterator[tuple[str, _TrackedDatabaseStore]]:
        return iter(list(self._databases.items()))


class EmbeddedMongoClient:
    """A MongoClient-like object whose data live in the SQLite file ``path``."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._server = _TrackedServerStore()
        self._mongo = mongomock.MongoClient(_store=self._server)
        self._thread_lock = threading.RLock()
        self._lock_file = open(f"{self.path}.lock", "a+")  # noqa: SIM115 - held for the client's life
        self._sql = sqlite3.connect(self.path, timeout=60, check_same_thread=False)
        with self._exclusive(), self._sql:
            self._sql.execute("PRAGMA journal_mode=WAL")
            for statement in _SCHEMA:
                self._sql.execute(statement)
        self._generation = 0
        self._depth = 0

    def __getitem__(self, name: str) -> EmbeddedDatabase:
        return EmbeddedDatabase(self, name)

    def __getattr__(self, name: str) -> EmbeddedDatabase:
        if name.startswith("_"):
            raise AttributeError(name)
        return self[name]

    def close(self) -> None:
        self._sql.close()
        self._lock_file.close()

    @contextmanager
    def _exclusive(self) -> Iterator[None]:
        with self._thread_lock:
            fcntl.flock(self._lock_file, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(self._lock_file, fcntl.LOCK_UN)

    def run(self, operation, *args, **kwargs) -> Any:
        """Run one mongomock operation with replay before and commit after, under the lock."""
        with self._thread_lock:
            if self._depth:
                return operation(*args, **kwargs)
            with self._exclusive():
                self._depth += 1
                try:
                    self._replay()
                    return operation(*args, **kwargs)
                finally:
                    self._depth -= 1
                    self._commit()

    def _replay(self) -> None:
        (generation,) = self._sql.execute("SELECT value FROM meta WHERE key='generation'").fetchone()
        if generation == self._generation:
            return
        rows = self._sql.execute(
            "SELECT db, coll, doc_id, doc FROM documents WHERE generation > ?", (self._generation,)
        )
        for db, coll, doc_id, doc in rows:
            key = bson.decode(doc_id)["_id"]
            self._server[db][coll].replay(key, None if doc is None else bson.decode(doc))
        self._generation = generation

    def _commit(self) -> None:
        rows = []
        for db_name, db_store in self._server.databases():
            for coll_store in db_store.collections():
                for key in coll_store.changed_ids:
                    doc = coll_store._documents.get(key)
                    rows.append((
                        db_name,
                        coll_store.name,
                        bson.encode({"_id": key}),
                        None if doc is None else bson.encode(doc),
                        self._generation + 1,
                    ))
                coll_store.changed_ids.clear()
        if not rows:
            return
        with self._sql:
            self._sql.executemany("INSERT OR REPLACE INTO documents VALUES (?, ?, ?, ?, ?)", rows)
            self._sql.execute(
                "UPDATE meta SET value=? WHERE key='generation'", (self._generation + 1,)
            )
        self._generation += 1


class EmbeddedDatabase:
    """A pymongo Database-like view; every call goes through the client's lock."""

    def __init__(self, client: EmbeddedMongoClient, name: str) -> None:
        self.client = client
        self.name = name
        self._db = client._mongo[name]

    def __getitem__(self, name: str) -> EmbeddedCollection:
        return EmbeddedCollection(self, name)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        return _locked(self.client, getattr(self._db, name), lambda: EmbeddedCollection(self, name))


class EmbeddedCollection:
    """A pymongo Collection-like view; every method call goes through the client's lock."""

    def __init__(self, database: EmbeddedDatabase, name: str) -> None:
        self.database = database
        self.name = name
        self._coll = database._db[name]

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        return _locked(
            self.database.client,
            getattr(self._coll, name),
            lambda: EmbeddedCollection(self.database, f"{self.name}.{name}"),
        )


def _locked(client: EmbeddedMongoClient, target: Any, as_collection) -> Any:
    """A sub-collection as a locked view, a method as a locked call, anything else as is."""
    if isinstance(target, mongomock.Collection):
        return as_collection()
    if not callable(target):
        return target
    return lambda *args, **kwargs: client.run(target, *args, **kwargs)

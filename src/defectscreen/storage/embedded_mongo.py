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
one indexed SQLite read per operation, plus the changed documents.

mongomock scans every document of a collection for every query and every unique-index check,
which made a LaunchPad with 10^4 queued jobs cost seconds per job. Each collection therefore
keeps a hash index of every top-level field's scalar values (and the scalar elements of lists,
as MongoDB's multikey indexes do): a query with an equality or ``$in`` on a top-level field
tests only the documents the index names, and a single-field unique index is checked by one
lookup. The index only narrows the candidates; mongomock's own matching still decides, so
results are exactly mongomock's.
"""

from __future__ import annotations

import fcntl
import functools
import itertools
import sqlite3
import threading
from collections.abc import Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import bson
import mongomock_ng as mongomock
from bson import ObjectId
from mongomock_ng.filtering import BsonComparable, filter_applies, resolve_sort_key
from mongomock_ng.store import CollectionStore, DatabaseStore, ServerStore

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS documents (db TEXT, coll TEXT, doc_id BLOB, doc BLOB,"
    " generation INTEGER, PRIMARY KEY (db, coll, doc_id))",
    "CREATE INDEX IF NOT EXISTS documents_generation ON documents (generation)",
    "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER)",
    "INSERT OR IGNORE INTO meta VALUES ('generation', 0)",
)


_INDEXED_TYPES = (str, int, float, ObjectId)


def _indexable(value: Any) -> bool:
    return isinstance(value, _INDEXED_TYPES) and value == value


def _equality_values(condition: Any) -> list | None:
    """The values a top-level filter condition requires equality with, or None if it is not such a condition."""
    if _indexable(condition):
        return [condition]
    if isinstance(condition, Mapping):
        if "$eq" in condition and _indexable(condition["$eq"]):
            return [condition["$eq"]]
        values = condition.get("$in")
        if isinstance(values, (list, tuple)) and all(_indexable(value) for value in values):
            return list(values)
    return None


def _sort_key(key: str, parts: list[str], document: dict) -> tuple:
    """mongomock's ``resolve_sort_key`` with a fast path for a field reached through sub-documents only."""
    value = document
    for part in parts:
        if not isinstance(value, dict):
            return resolve_sort_key(key, document)
        if part not in value:
            return 1, BsonComparable(None)
        value = value[part]
    if isinstance(value, (list, tuple, dict)):
        return resolve_sort_key(key, document)
    return 1, BsonComparable(value)


class _TrackedCollectionStore(CollectionStore):
    """mongomock's collection store that remembers which document ids were written or removed,
    and indexes every top-level field's scalar values (and the scalar elements of lists)."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.changed_ids: set = set()
        self._index: dict[str, dict[Any, set]] = {}
        self._entries: dict[Any, list[tuple[str, Any]]] = {}
        self._position: dict[Any, int] = {}
        self._inserted = 0

    def __setitem__(self, key, val) -> None:
        self._store(key, val)
        self.changed_ids.add(key)

    def __delitem__(self, key) -> None:
        self._remove(key)
        self.changed_ids.add(key)

    def drop(self) -> None:
        self.changed_ids.update(self._documents)
        super().drop()
        self._index, self._entries, self._position = {}, {}, {}

    def replay(self, key, doc: dict | None) -> None:
        """Apply a committed row from disk without marking it as changed here."""
        if doc is None:
            if key in self._documents:
                self._remove(key)
        else:
            self._store(key, doc)

    def _store(self, key, doc: dict) -> None:
        self._unindex(key)
        super().__setitem__(key, doc)
        if key not in self._position:
            self._position[key] = self._inserted
            self._inserted += 1
        entries = []
        for field, value in doc.items():
            values = value if isinstance(value, list) else (value,)
            entries.extend((field, element) for element in values if _indexable(element))
        for field, value in entries:
            self._index.setdefault(field, {}).setdefault(value, set()).add(key)
        self._entries[key] = entries

    def _remove(self, key) -> None:
        self._unindex(key)
        self._position.pop(key, None)
        super().__delitem__(key)

    def _unindex(self, key) -> None:
        for field, value in self._entries.pop(key, ()):
            keys = self._index[field][value]
            keys.discard(key)
            if not keys:
                del self._index[field][value]

    def holding(self, field: str, values: list) -> set:
        """Ids of the documents whose top-level ``field`` equals (or, for a list, contains) one of ``values``."""
        by_value = self._index.get(field, {})
        return set().union(*(by_value.get(value, ()) for value in values))

    def candidates(self, filter: Mapping) -> list | None:
        """Ids, in insertion order, of a superset of the documents ``filter`` matches; None to scan all."""
        best = None
        for field, condition in filter.items():
            values = None if field.startswith("$") or "." in field else _equality_values(condition)
            if values is not None:
                ids = self.holding(field, values)
                if best is None or len(ids) < len(best):
                    best = ids
        return None if best is None else sorted(best, key=self._position.__getitem__)


class _IndexedCollection:
    """Replaces, on one mongomock collection, the full scans of queries and unique checks by index lookups."""

    def __init__(self, collection: mongomock.Collection) -> None:
        self.collection = collection
        self.scan = collection._iter_documents
        self.check_uniques = collection._ensure_uniques
        collection._iter_documents = self.iter_documents
        collection._ensure_uniques = self.ensure_uniques
        collection.find_one = self.find_one
        self.dataset = collection._get_dataset
        collection._get_dataset = self.get_dataset

    def find_one(self, filter=None, *args, **kwargs):
        """mongomock's ``find_one``, without copying and projecting every match to return the first."""
        if filter is None:
            filter = {}
        if not isinstance(filter, Mapping):
            filter = {"_id": filter}
        cursor = self.collection.find(filter, *args, **kwargs)
        cursor._factory = functools.partial(itertools.islice, cursor._factory(), 1 + cursor._skip)
        return next(cursor, None)

    def iter_documents(self, filter):
        store = self.collection._store
        ids = store.candidates(filter) if isinstance(filter, Mapping) else None
        if ids is None:
            return self.scan(filter)
        documents = store._documents
        return (documents[key] for key in ids if filter_applies(filter, documents[key]))

    def get_dataset(self, spec, sort, fields, as_class):
        """mongomock's sorted query, sorting the index's candidates first and testing the filter lazily in that
        order, so that ``find_one`` with a sort (a LaunchPad's checkout) stops at the first match."""
        store = self.collection._store
        keys = [(item, 1) if isinstance(item, str) else tuple(item)
                for item in (sort.items() if isinstance(sort, Mapping) else sort or ())]
        ids = store.candidates(spec) if keys and isinstance(spec, Mapping) else None
        if ids is None or any(key.startswith("$") for key, _ in keys) or any(
                isinstance(condition, Mapping) and {"$near", "$nearSphere"} & condition.keys()
                for condition in spec.values()):
            return self.dataset(spec, sort, fields, as_class)
        documents = [store._documents[key] for key in ids]
        for key, direction in reversed(keys):
            documents.sort(key=functools.partial(_sort_key, key, key.split(".")), reverse=direction < 0)
        matches = (self.collection._copy_only_fields(document, fields, as_class, filter=spec)
                   for document in documents if filter_applies(spec, document))
        return (match for match in matches if match is not None)

    def ensure_uniques(self, new_data: dict) -> None:
        store = self.collection._store
        checks = []
        for index in store.indexes.values():
            if not index.get("unique"):
                continue
            (field, direction), *others = index["key"]
            value = new_data.get(field)
            if (others or "." in field or index.get("partialFilterExpression") is not None
                    or not _indexable(value)):
                return self.check_uniques(new_data)
            checks.append((field, direction, value))
        for field, direction, value in checks:
            if store.holding(field, [value]) - {new_data.get("_id")}:
                raise mongomock.DuplicateKeyError(
                    "E11000 Duplicate Key Error", 11000, {"keyPattern": {field: direction}, "keyValue": {field: value}}
                )


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
        if not isinstance(self._coll._iter_documents.__self__, _IndexedCollection):
            _IndexedCollection(self._coll)

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

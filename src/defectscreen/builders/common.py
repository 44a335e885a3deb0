"""What every builder shares: the fingerprint of a built document's inputs, ids, indexes."""

from __future__ import annotations

import hashlib
import json

from maggma.core import Store
from maggma.stores import MontyStore

import defectscreen


def input_fingerprint(*parts: object) -> str:
    """SHA-256 of the canonical JSON of ``parts`` (uuids, completion times, settings) and of the defectscreen
    version, so that a new version rebuilds what it would compute differently."""
    canonical = json.dumps([defectscreen.__version__, *parts], sort_keys=True, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def engine_key(settings_hash: str) -> str:
    """The short form of an engine settings hash used in built ids."""
    return settings_hash[:16]


def ensure_indexes(store: Store, fields: tuple[str, ...]) -> None:
    """Index the fields users filter on. The embedded store (montydb) has no indexes and scans instead."""
    if isinstance(store, MontyStore):
        return
    for field in fields:
        store.ensure_index(field)


#: above this many replaced documents the embedded store's collection is rewritten rather than filtered by $in.
MAX_DELETE_LIST = 500


def replace_documents(store: Store, documents: list[dict], key: str, stored_keys: set[str]) -> None:
    """Write built documents, replacing those with the same ``key`` (``stored_keys``: the keys the store held when
    the build started). On the embedded store (montydb, no indexes) maggma's per-document upsert scans the
    collection once per document; there the replaced ones are deleted and all inserted in bulk. Built documents
    are derived: one lost between the two steps is rebuilt by the next run."""
    if not documents:
        return
    if isinstance(store, MontyStore):
        replaced = {document[key] for document in documents if document[key] in stored_keys}
        if len(replaced) > MAX_DELETE_LIST:  # montydb tests $in against a list: rewrite the collection instead
            kept = [doc for doc in store._collection.find({}) if doc[key] not in replaced]
            store._collection.drop()
            documents = kept + documents
        elif replaced:
            store._collection.delete_many({key: {"$in": sorted(replaced)}})
        store._collection.insert_many(documents)
        return
    store.update(documents, key=key)

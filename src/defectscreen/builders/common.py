"""What every builder shares: the fingerprint of a built document's inputs, indexes, and the incremental pattern."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator
from typing import ClassVar

from maggma.core import Builder, Store
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


class IncrementalBuilder(Builder):
    """One target collection whose documents (keyed by ``key``) each store ``input_fingerprint``, the hash of their
    inputs: :meth:`plan` says which documents should exist and their fingerprints (from the sources' small header
    fields), ``get_items`` loads (:meth:`load`) the full inputs of only those whose fingerprint changed, so a second
    build processes nothing and a new or recomputed input rebuilds exactly what depends on it. ``process_item`` is
    pure (everything it needs is in the item); ``update_targets`` replaces by key."""

    key: ClassVar[str]
    indexes: ClassVar[tuple[str, ...]] = ()
    #: criteria matching target documents of an older layout (their ids lack what the current ones hold); they are
    #: removed before building and built again in the current layout.
    older_layout: ClassVar[dict | None] = None

    def __init__(self, sources: list[Store], target: Store, **kwargs) -> None:
        self.target = target
        super().__init__(sources=sources, targets=[target], **kwargs)

    def plan(self) -> Iterable[dict]:
        """Every document that should exist now: dicts with ``key``, ``fingerprint`` and what :meth:`load` needs."""
        raise NotImplementedError

    def load(self, pending: list[dict]) -> Iterator[dict]:
        """The items of the ``pending`` planned documents, with everything ``process_item`` reads."""
        raise NotImplementedError

    def get_items(self) -> Iterator[dict]:
        ensure_indexes(self.target, (self.key, *self.indexes))
        if self.older_layout is not None:
            self.target.remove_docs(self.older_layout)
        built = {doc[self.key]: doc["input_fingerprint"]
                 for doc in self.target.query(properties=[self.key, "input_fingerprint"])}
        pending = [planned for planned in self.plan() if built.get(planned[self.key]) != planned["fingerprint"]]
        self.total = len(pending)
        yield from self.load(pending)

    def update_targets(self, items: list[dict | None]) -> None:
        documents = [item for item in items if item is not None]
        if documents:
            self.target.update(documents, key=self.key)

"""What every builder shares: the fingerprint of a built document's inputs, indexes, and the incremental pattern."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from typing import ClassVar

from maggma.core import Builder, Store

import defectscreen


def input_fingerprint(*parts: object) -> str:
    """SHA-256 of the canonical JSON of ``parts`` (uuids, completion times, settings) and of the defectscreen
    version, so that a new version rebuilds what it would compute differently."""
    canonical = json.dumps([defectscreen.__version__, *parts], sort_keys=True, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def engine_key(settings_hash: str) -> str:
    """The short form of an engine settings hash used in built ids."""
    return settings_hash[:16]


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

    def __init__(self, sources: list[Store], target: Store, build_states: Store | None = None, **kwargs) -> None:
        self.target, self.build_states = target, build_states
        self._sources_state: list | None = None
        super().__init__(sources=sources, targets=[target], **kwargs)

    def connect(self) -> None:
        super().connect()
        if self.build_states is not None:
            self.build_states.connect()

    def plan(self) -> Iterable[dict]:
        """Every document that should exist now: dicts with ``key``, ``fingerprint`` and what :meth:`load` needs."""
        raise NotImplementedError

    def load(self, pending: list[dict]) -> Iterator[dict]:
        """The items of the ``pending`` planned documents, with everything ``process_item`` reads."""
        raise NotImplementedError

    def sources_state(self) -> list:
        """What a build depends on, read from indexes only: the defectscreen version, and per source and target its
        document count and newest ``last_updated_field`` (completion time of task documents, submission time of
        campaigns, build time of built documents). Any stored, rerun or removed document changes it."""
        state: list = [defectscreen.__version__]
        for store in (*self.sources, self.target):
            newest = store.query_one(properties=[store.last_updated_field], sort={store.last_updated_field: -1})
            for part in store.last_updated_field.split("."):
                newest = (newest or {}).get(part)
            state.append([store.collection_name, store.count(), str(newest)])
        return state

    def get_items(self) -> Iterator[dict]:
        for field in (self.key, "input_fingerprint", self.target.last_updated_field, *self.indexes):
            self.target.ensure_index(field)
        self.total = 0
        self._sources_state = None
        if self.build_states is not None:
            self._sources_state = self.sources_state()
            recorded = self.build_states.query_one({"builder": self.target.collection_name})
            if recorded is not None and recorded["sources_state"] == self._sources_state:
                return
        if self.older_layout is not None:
            self.target.remove_docs(self.older_layout)
        built = {doc[self.key]: doc["input_fingerprint"]
                 for doc in self.target.query(properties=[self.key, "input_fingerprint"])}
        pending = [planned for planned in self.plan() if built.get(planned[self.key]) != planned["fingerprint"]]
        self.total = len(pending)
        if pending:
            yield from self.load(pending)

    def update_targets(self, items: list[dict | None]) -> None:
        now = datetime.now(UTC).isoformat()
        documents = [{**item, self.target.last_updated_field: now} for item in items if item is not None]
        if documents:
            self.target.update(documents, key=self.key)

    def finalize(self) -> None:
        """Record the sources' state the finished build started from: the next build with the same state is a no-op
        (nothing is planned). The state is taken before planning, so inputs stored during a build are built next."""
        if self.build_states is not None and self._sources_state is not None:
            if self.total:  # what this build wrote changed the target: record its state after the build
                self._sources_state[-1] = self.sources_state()[-1]
            self.build_states.update([{"builder": self.target.collection_name, "sources_state": self._sources_state}],
                                     key="builder")
        super().finalize()

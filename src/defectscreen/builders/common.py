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


def change_token(store: Store) -> list | None:
    """The store's point in its change feed (the embedded store's ``change_token``); None where it keeps none."""
    return getattr(store, "change_token", lambda: None)()


class IncrementalBuilder(Builder):
    """One target collection whose documents (keyed by ``key``) each store ``input_fingerprint``, the hash of their
    inputs: :meth:`plan` says which documents should exist and their fingerprints (from the sources' small header
    fields), ``get_items`` loads (:meth:`load`) the full inputs of only those whose fingerprint changed, so a second
    build processes nothing and a new or recomputed input rebuilds exactly what depends on it. ``process_item`` is
    pure (everything it needs is in the item); ``update_targets`` replaces by key.

    Where every store keeps a change feed (the embedded store: ``change_token`` / ``changed_since``) and nothing was
    removed since the last build, :meth:`changed` gives a source's documents stored since then and :meth:`plan`
    plans only what they affect, so an incremental build costs what changed, not what is stored. Otherwise (MongoDB,
    a removal, a new defectscreen version, a first build) :meth:`changed` is None and :meth:`plan` plans
    everything."""

    key: ClassVar[str]
    indexes: ClassVar[tuple[str, ...]] = ()
    #: criteria matching target documents of an older layout (their ids lack what the current ones hold); they are
    #: removed before building and built again in the current layout.
    older_layout: ClassVar[dict | None] = None

    def __init__(self, sources: list[Store], target: Store, build_states: Store | None = None, **kwargs) -> None:
        self.target, self.build_states = target, build_states
        self._sources_state: list | None = None
        self._tokens: dict[str, list | None] = {}
        self._since: dict[str, list] | None = None
        self.planned = 0
        super().__init__(sources=sources, targets=[target], **kwargs)

    def connect(self) -> None:
        super().connect()
        if self.build_states is not None:
            self.build_states.connect()

    def plan(self) -> Iterable[dict]:
        """The documents that should exist now, of those the changes since the last build (:meth:`changed`) can
        affect or of every one: dicts with ``key``, ``fingerprint`` and what :meth:`load` needs."""
        raise NotImplementedError

    def load(self, pending: list[dict]) -> Iterator[dict]:
        """The items of the ``pending`` planned documents, with everything ``process_item`` reads."""
        raise NotImplementedError

    def changed(self, store: Store, properties: list[str], criteria: dict | None = None) -> list[dict] | None:
        """The documents of ``store`` (a source) stored or replaced since the last build, matching ``criteria`` and
        projected onto ``properties``; None when this build plans everything."""
        if self._since is None:
            return None
        return store.changed_since(self._since[store.collection_name], criteria, properties)

    def sources_state(self, tokens: dict[str, list | None]) -> list:
        """What a build depends on: the defectscreen version, and per source and target its change token
        (``tokens``), or where it keeps no change feed its document count and newest ``last_updated_field``
        (completion time of task documents, submission time of campaigns, build time of built documents), read from
        indexes. Any stored, rerun or removed document changes it."""
        return [defectscreen.__version__, *(self._store_state(store, tokens[store.collection_name])
                                            for store in (*self.sources, self.target))]

    @staticmethod
    def _store_state(store: Store, token: list | None) -> list:
        if token is None:
            newest = store.query_one(properties=[store.last_updated_field], sort={store.last_updated_field: -1})
            for part in store.last_updated_field.split("."):
                newest = (newest or {}).get(part)
            token = [store.count(), str(newest)]
        return [store.collection_name, *token]

    def _feeds_since(self, recorded: dict | None) -> dict[str, list] | None:
        """The recorded tokens of the last build, when every store's feed continues from them without a removal
        and the version is the same; else None (plan everything)."""
        tokens = (recorded or {}).get("change_tokens")
        if (not tokens or recorded["sources_state"][0] != defectscreen.__version__
                or any(token is None or tokens.get(name) is None or tokens[name][1] != token[1]
                       for name, token in self._tokens.items())):
            return None
        return tokens

    def get_items(self) -> Iterator[dict]:
        for field in (self.key, "input_fingerprint", self.target.last_updated_field, *self.indexes):
            self.target.ensure_index(field)
        self.planned, self.total = 0, 0
        self._sources_state, self._since = None, None
        self._tokens = {store.collection_name: change_token(store) for store in (*self.sources, self.target)}
        if self.build_states is not None:
            self._sources_state = self.sources_state(self._tokens)
            recorded = self.build_states.query_one({"builder": self.target.collection_name})
            if recorded is not None and recorded["sources_state"] == self._sources_state:
                return
            self._since = self._feeds_since(recorded)
        if self.older_layout is not None and self._since is None:
            self.target.remove_docs(self.older_layout)
        planned = list(self.plan())
        built = {doc[self.key]: doc["input_fingerprint"] for doc in self.target.query(
            {self.key: {"$in": [item[self.key] for item in planned]}}, properties=[self.key, "input_fingerprint"])}
        pending = [item for item in planned if built.get(item[self.key]) != item["fingerprint"]]
        self.planned, self.total = len(planned), len(pending)
        self.logger.info(f"{self.target.collection_name}: {len(pending)} of {len(planned)} planned documents to "
                         f"build ({'what changed since the last build' if self._since else 'everything'} planned)")
        if pending:
            yield from self.load(pending)

    def update_targets(self, items: list[dict | None]) -> None:
        now = datetime.now(UTC).isoformat()
        documents = [{**item, self.target.last_updated_field: now} for item in items if item is not None]
        if documents:
            self.target.update(documents, key=self.key)

    def finalize(self) -> None:
        """Record the sources' state and change tokens the finished build started from: the next build with the
        same state is a no-op, and one with changes plans from these tokens. Both are taken before planning, so
        inputs stored during a build are built next. What this build wrote to the target is recorded after it."""
        if self.build_states is not None and self._sources_state is not None:
            target = self.target.collection_name
            self._tokens[target] = change_token(self.target)
            if self.total:  # what this build wrote changed the target: record its state after the build
                self._sources_state[-1] = self._store_state(self.target, self._tokens[target])
            self.build_states.update([{"builder": target, "sources_state": self._sources_state,
                                       "change_tokens": self._tokens}], key="builder")
        super().finalize()

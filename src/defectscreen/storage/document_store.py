"""An indexed maggma Store in one SQLite file: the embedded JobStore and builder collections.

Each collection is two tables: ``"<name>"`` (``id``, the BSON document) and ``"<name>.index"`` (``field``,
``value``, ``id``: one row per value of every indexed field, one per array element for a field holding an array,
as MongoDB's multikey indexes), with B-trees on (field, value) and (id, field). A query

1. turns the criteria's top-level conditions on indexed fields (equality, ``$in``, ``$nin``, ``$ne``, ranges,
   ``$exists``) into SQL: the most selective walks the index, each other is a lookup by id per candidate, so the
   cost follows the candidates, not the collection;
2. decodes only the candidates and applies mongomock's MongoDB filter semantics to them, unless SQL answered the
   criteria exactly (every condition translated, on fields that never held an array);
3. sorts in SQL on one indexed scalar field, else in Python; a projection onto indexed scalar fields is answered
   from the index alone (a covered query), no document decoded.

Criteria without an indexed condition scan the collection. Writes are SQLite transactions (WAL journal): a process
killed mid-write loses that write only, and concurrent workers never see half a document. Documents are not held
in memory between queries.

Row ids only grow (``AUTOINCREMENT``; a replacement is a new row) and removals are counted, so the collection is
its own change feed: :meth:`SQLiteDocumentStore.change_token` marks a point in its history and
:meth:`SQLiteDocumentStore.changed_since` returns what was stored after it, at a cost that follows the changes.
"""

from __future__ import annotations

import json
import sqlite3
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from itertools import groupby as group_consecutive
from itertools import islice
from pathlib import Path
from typing import Any

import bson
import bson.errors
from maggma.core import Sort, Store
from mongomock_ng.filtering import filter_applies, resolve_sort_key
from monty.json import jsanitize

RANGE_OPERATORS = {"$gt": ">", "$gte": ">=", "$lt": "<", "$lte": "<="}
#: kinds of conditions the index answers, most selective first
EQUAL, IN, RANGE, EXISTS, EXCLUDE = range(5)
#: shapes of an indexed field's values (bits): an array on its path; a value the index cannot return as stored.
MULTIKEY, OPAQUE = 1, 2
#: index rows counted at most when choosing which of several conditions drives a query
DRIVER_ESTIMATE_CAP = 2000
#: ids per statement (SQLite binds at most 32,766 parameters).
MAX_PARAMETERS = 30_000
#: the write-ahead log is cut back to this size after each checkpoint (SQLite reuses it and, without a limit, keeps
#: the largest size one transaction ever needed: 176 MB after the 10^4-defect benchmark)
WAL_SIZE_LIMIT_BYTES = 32 * 2**20


def _in_chunks(values: list) -> Iterator[tuple[list, str]]:
    """(chunk, its '?,?,…' placeholders) over ``values`` in chunks SQLite can bind in one ``IN (…)``."""
    for start in range(0, len(values), MAX_PARAMETERS):
        chunk = values[start:start + MAX_PARAMETERS]
        yield chunk, ",".join("?" * len(chunk))


def _index_value(value: Any) -> Any:
    """The SQLite value an index holds for a document value: numbers and text as they are, booleans as one-byte
    BLOBs (never equal to a number or a string), datetimes as naive-UTC ISO text (as BSON returns them), anything
    else (a sub-document, bytes) as NULL."""
    if isinstance(value, bool):
        return bytes([value])
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            value = value.astimezone(UTC).replace(tzinfo=None)
        return value.isoformat(timespec="microseconds")
    if isinstance(value, (int, float, str)):
        return value
    return None


def field_values(doc: Any, path: list[str]) -> tuple[list[Any], bool, bool]:
    """(values at the dotted ``path``, whether the path exists, whether an array was crossed or reached)."""
    if not path:
        if isinstance(doc, (list, tuple)):
            return list(doc), True, True
        return [doc], True, False
    if isinstance(doc, dict):
        if path[0] not in doc:
            return [], False, False
        return field_values(doc[path[0]], path[1:])
    if isinstance(doc, (list, tuple)):
        values, present = [], False
        for element in doc:
            element_values, element_present, _ = field_values(element, path)
            values.extend(element_values)
            present = present or element_present
        return values, present, True
    return [], False, False


def _naive_utc(value: Any) -> Any:
    """Criteria with their datetimes as naive UTC, as documents are decoded (so that they compare)."""
    if isinstance(value, datetime) and value.tzinfo is not None:
        return value.astimezone(UTC).replace(tzinfo=None)
    if isinstance(value, dict):
        return {key: _naive_utc(v) for key, v in value.items()}
    if isinstance(value, list):
        return [_naive_utc(v) for v in value]
    return value


def _storable(doc: dict) -> tuple[dict, bytes]:
    """(the document as stored, its BSON): as given when BSON can encode it (jobflow and the builders hand over
    plain data), else sanitized as maggma's stores do (numpy arrays, MSONable objects)."""
    try:
        return doc, bson.encode(doc)
    except (bson.errors.InvalidDocument, TypeError, OverflowError):
        sanitized = jsanitize(doc, allow_bson=True)
        return sanitized, bson.encode(sanitized)


def _from_index(rows: Iterator[tuple[int, str | None, Any]]) -> dict:
    """A projected document from its (id, field, value) index rows (field None: it holds none of them)."""
    doc: dict = {}
    for _, field, value in rows:
        if field is None:
            continue
        *parents, leaf = field.split(".")
        node = doc
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = bool(value[0]) if isinstance(value, bytes) else value
    return doc


def _projection(properties: dict) -> tuple[bool, dict]:
    """MongoDB's projection ``properties`` (dotted path -> 1 include / 0 exclude) as (include, tree of paths)."""
    include = any(properties.values())
    tree: dict = {}
    for path, flag in properties.items():
        if bool(flag) != include:
            continue
        node = tree
        *parents, leaf = path.split(".")
        for part in parents:
            node = node.setdefault(part, {})
            if node is True:
                break
        else:
            node[leaf] = True
    return include, tree


def _projector(properties: dict | list | None) -> Callable[[dict], dict]:
    """The function that projects a decoded document onto MongoDB's ``properties`` (None: the whole document)."""
    if not properties:
        return lambda doc: doc
    include, tree = _projection({p: 1 for p in properties} if isinstance(properties, list) else properties)
    if include and all(sub is True for sub in tree.values()):  # top-level fields only
        return lambda doc: {key: doc[key] for key in tree if key in doc}
    return (lambda doc: _pick(doc, tree)) if include else (lambda doc: _drop(doc, tree))


def _pick(value: Any, tree: dict) -> Any:
    if isinstance(value, list):
        return [picked for v in value if isinstance(v, (dict, list)) for picked in [_pick(v, tree)]]
    if not isinstance(value, dict):
        return value
    picked = {}
    for key, sub in tree.items():
        if key in value:
            picked[key] = value[key] if sub is True else _pick(value[key], sub)
    return picked


def _drop(value: Any, tree: dict) -> Any:
    if isinstance(value, list):
        return [_drop(v, tree) for v in value]
    if not isinstance(value, dict):
        return value
    return {key: v if key not in tree else _drop(v, tree[key]) for key, v in value.items() if tree.get(key) is not True}


class SQLiteDocumentStore(Store):
    """A maggma Store of one collection in the SQLite file ``database_path``, indexed on ``key``, the
    ``last_updated_field`` and every field passed to :meth:`ensure_index` (kept in the file)."""

    def __init__(self, collection_name: str, database_path: str, **kwargs) -> None:
        self.collection_name = collection_name
        self.database_path = str(database_path)
        self.kwargs = kwargs
        self._connection: sqlite3.Connection | None = None
        super().__init__(**kwargs)

    @property
    def name(self) -> str:
        return f"sqlite://{self.database_path}/{self.collection_name}"

    @property
    def _collection(self) -> SQLiteDocumentStore:
        return self

    @property
    def _documents(self) -> str:
        return f'"{self.collection_name}"'

    @property
    def _index(self) -> str:
        return f'"{self.collection_name}.index"'

    def connect(self, force_reset: bool = False) -> None:
        if self._connection is not None and not force_reset:
            return
        Path(self.database_path).parent.mkdir(parents=True, exist_ok=True)
        self._connection = sqlite3.connect(self.database_path, timeout=120, isolation_level=None,
                                           check_same_thread=False)
        self._connection.execute("PRAGMA journal_mode=WAL")
        self._connection.execute("PRAGMA synchronous=NORMAL")
        self._connection.execute(f"PRAGMA journal_size_limit={WAL_SIZE_LIMIT_BYTES}")
        with self._write():
            self._connection.execute(f"CREATE TABLE IF NOT EXISTS {self._documents} "
                                     "(id INTEGER PRIMARY KEY AUTOINCREMENT, doc BLOB NOT NULL)")
            self._connection.execute("CREATE TABLE IF NOT EXISTS removals (collection TEXT PRIMARY KEY, "
                                     "removed INTEGER NOT NULL)")
            self._connection.execute(f"CREATE TABLE IF NOT EXISTS {self._index} (field TEXT, value, id INTEGER)")
            self._connection.execute(f'CREATE INDEX IF NOT EXISTS "{self.collection_name}.by_value" '
                                     f"ON {self._index} (field, value)")
            self._connection.execute(f'CREATE INDEX IF NOT EXISTS "{self.collection_name}.by_id" '
                                     f"ON {self._index} (id, field)")
            self._connection.execute("CREATE TABLE IF NOT EXISTS indexed_fields "
                                     "(collection TEXT, field TEXT, shape INTEGER, PRIMARY KEY (collection, field))")
        for field in (self.key, self.last_updated_field):
            self.ensure_index(field)

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, SQLiteDocumentStore) and self.database_path == other.database_path
                and self.collection_name == other.collection_name)

    def __hash__(self) -> int:
        return hash((self.database_path, self.collection_name))

    def _sql(self) -> sqlite3.Connection:
        if self._connection is None:
            raise RuntimeError(f"{self.name}: not connected; call connect() first")
        return self._connection

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """A write transaction (BEGIN IMMEDIATE: taken at once, waited for while another process writes)."""
        connection = self._sql()
        connection.execute("BEGIN IMMEDIATE")
        try:
            yield connection
        except BaseException:
            connection.execute("ROLLBACK")
            raise
        connection.execute("COMMIT")

    def indexed_fields(self) -> dict[str, int]:
        """Indexed field -> its shape: ``MULTIKEY`` set when a document held an array on its path, ``OPAQUE`` when
        a value was one the index cannot return as stored (a sub-document, a datetime, bytes)."""
        rows = self._sql().execute("SELECT field, shape FROM indexed_fields WHERE collection=?",
                                   (self.collection_name,))
        return dict(rows.fetchall())

    def ensure_index(self, key: str, unique: bool = False) -> bool:
        """Index ``key`` (documents already stored are indexed now). ``unique`` is not enforced: documents are
        unique by the key :meth:`update` replaces on."""
        if key in self.indexed_fields():
            return True
        with self._write():
            if key in self.indexed_fields():  # another process indexed it meanwhile
                return True
            self._sql().execute("INSERT INTO indexed_fields VALUES (?, ?, 0)", (self.collection_name, key))
            shapes: dict[str, int] = {}
            for row_id, blob in self._sql().execute(f"SELECT id, doc FROM {self._documents}").fetchall():
                rows = self._entries(bson.decode(blob), row_id, [key], shapes)
                self._sql().executemany(f"INSERT INTO {self._index} VALUES (?, ?, ?)", rows)
            self._widen(shapes, {key: 0})
        return True

    @staticmethod
    def _entries(doc: dict, row_id: int, fields: list[str], shapes: dict[str, int]) -> list[tuple]:
        """The index rows of one document for ``fields``; the shapes its values have are added to ``shapes``."""
        rows = []
        for field in fields:
            values, present, crossed = field_values(doc, field.split("."))
            shape = MULTIKEY if crossed else 0
            for value in values if values else [None] if present else []:
                indexed = _index_value(value)
                if (indexed is None and value is not None) or isinstance(value, datetime):
                    shape |= OPAQUE
                rows.append((field, indexed, row_id))
            if shape:
                shapes[field] = shapes.get(field, 0) | shape
        return rows

    def _widen(self, shapes: dict[str, int], known: dict[str, int]) -> None:
        """Record shapes the indexed fields had not had yet."""
        wider = [(shape, self.collection_name, field) for field, shape in shapes.items()
                 if shape & ~known.get(field, 0)]
        self._sql().executemany("UPDATE indexed_fields SET shape = shape | ? WHERE collection=? AND field=?", wider)

    def _insert(self, docs: list[tuple[dict, bytes]], indexed: dict[str, int], keys: list[str],
                replaced: list[int]) -> None:
        """Store (document, its BSON) pairs and their index rows in place of the documents ``replaced`` (row ids).
        A new document takes over the index rows of the replaced one with its ``keys`` values where they hold the
        same value (its id changes), so a replacement touches the (field, value) B-tree only where values changed:
        rewriting a document scatters writes over that B-tree's pages once per changed value, not once per indexed
        field."""
        def identity(values: dict) -> tuple:
            return tuple((values.get(field), type(values.get(field))) for field in keys)

        reusable: dict[tuple, dict[tuple, list[int]]] = defaultdict(lambda: defaultdict(list))
        rows_of: dict[int, list[tuple]] = defaultdict(list)
        for chunk, marks in _in_chunks(replaced):
            for row, row_id, field, value in self._sql().execute(
                    f"SELECT rowid, id, field, value FROM {self._index} WHERE id IN ({marks})", chunk):
                rows_of[row_id].append((row, field, value))
        for rows in rows_of.values():
            pool = reusable[identity({field: value for _, field, value in rows})]
            for row, field, value in rows:
                pool[(field, type(value), value)].append(row)
        self._delete(replaced, rows=False)
        shapes: dict[str, int] = {}
        entries, moved = [], []
        for doc, encoded in docs:
            row_id = self._sql().execute(f"INSERT INTO {self._documents} (doc) VALUES (?)", (encoded,)).lastrowid
            rows = self._entries(doc, row_id, list(indexed), shapes)
            pool = reusable.get(identity({field: value for field, value, _ in rows}), {})
            for field, value, _ in rows:
                spare = pool.get((field, type(value), value))
                if spare:
                    moved.append((row_id, spare.pop()))
                else:
                    entries.append((field, value, row_id))
        self._sql().executemany(f"UPDATE {self._index} SET id = ? WHERE rowid = ?", moved)
        unused = [row for pool in reusable.values() for spare in pool.values() for row in spare]
        for chunk, marks in _in_chunks(unused):
            self._sql().execute(f"DELETE FROM {self._index} WHERE rowid IN ({marks})", chunk)
        self._sql().executemany(f"INSERT INTO {self._index} VALUES (?, ?, ?)", entries)
        self._widen(shapes, indexed)

    def _delete(self, ids: list[int], rows: bool = True) -> None:
        """Delete the documents ``ids`` and (``rows``) their index rows."""
        for chunk, marks in _in_chunks(ids):
            self._sql().execute(f"DELETE FROM {self._documents} WHERE id IN ({marks})", chunk)
            if rows:
                self._sql().execute(f"DELETE FROM {self._index} WHERE id IN ({marks})", chunk)

    @staticmethod
    def _condition(condition: Any) -> tuple[int, str, list, bool] | None:
        """One top-level condition on an indexed field as (rank, SQL test on an index row's ``{v}`` value — the
        document matches when one of its rows passes it, or for rank ``EXCLUDE`` when none does —, parameters,
        whether it is exact when the field holds no arrays); None when the index cannot answer it. The rank orders
        conditions: the most selective kinds drive the query, the others are checked per candidate."""
        def scalar(value):
            return isinstance(value, (bool, int, float, str))

        def typed(value):
            return "typeof({v}) = 'text'" if isinstance(value, str) else "typeof({v}) IN ('integer', 'real')"

        if isinstance(condition, datetime) or (isinstance(condition, dict) and any(
                isinstance(v, datetime) for v in condition.values())):
            translated = SQLiteDocumentStore._condition(
                _index_value(condition) if isinstance(condition, datetime) else
                {op: _index_value(v) for op, v in condition.items()})
            return None if translated is None else (*translated[:3], False)  # ISO text: a string could equal it
        if scalar(condition):
            return EQUAL, "{v} = ?", [_index_value(condition)], True
        if not isinstance(condition, dict) or not condition:
            return None
        operators = set(condition)
        if operators == {"$eq"}:
            return SQLiteDocumentStore._condition(condition["$eq"])
        if operators in ({"$in"}, {"$nin"}, {"$ne"}):
            values = list(condition["$in"] if "$in" in condition else condition.get("$nin", [condition.get("$ne")]))
            if not all(scalar(v) for v in values):
                return None
            kind = IN if "$in" in condition else EXCLUDE
            if any(isinstance(v, bool) for v in values):  # booleans are BLOBs in the index, 0/1 in JSON
                return kind, f"{{v}} IN ({','.join('?' * len(values))})", [*map(_index_value, values)], True
            return kind, "{v} IN (SELECT value FROM json_each(?))", [json.dumps(values)], True
        if operators == {"$exists"}:
            return EXISTS if condition["$exists"] is True else EXCLUDE, "1", [], True
        if operators <= set(RANGE_OPERATORS):
            bounds = list(condition.values())
            if not all(scalar(v) and not isinstance(v, bool) for v in bounds) or len({typed(v) for v in bounds}) != 1:
                return None
            clauses = " AND ".join(f"{{v}} {RANGE_OPERATORS[op]} ?" for op in condition)
            return RANGE, f"{typed(bounds[0])} AND {clauses}", [*map(_index_value, bounds)], True
        return None

    def _plan(self, criteria: dict, indexed: dict[str, int] | None = None) -> tuple[str | None, list, bool]:
        """(SQL selecting candidate ids — possibly repeated — or None for every document, its parameters, whether
        it selects exactly the matching documents). One condition walks the index — of the equalities, ``$in``
        lists and ranges the one passed by the fewest index rows, else the first of the most selective kind —; each
        other is a correlated lookup by id per candidate, so the cost follows the candidates, not the
        collection. ``indexed``: :meth:`indexed_fields`, when the caller already read it."""
        indexed = self.indexed_fields() if indexed is None else indexed
        conditions = list(criteria.items())
        for sub in criteria.get("$and", []):
            conditions.extend(sub.items())
        translated, exact = [], True
        for field, condition in conditions:
            result = self._condition(condition) if field in indexed else None
            if result is None:
                exact = False
                continue
            rank, test, parameters, is_exact = result
            translated.append((rank, field, test, parameters))
            exact = exact and is_exact and not indexed[field] & MULTIKEY
        if not translated:
            return None, [], not criteria
        translated.sort(key=lambda item: item[0])
        drivers = [item for item in translated if item[0] < EXISTS]
        if len(drivers) > 1:  # the condition passed by the fewest index rows drives
            translated.insert(0, translated.pop(translated.index(min(drivers, key=self._rows))))
        rank, field, test, parameters = translated[0]
        if rank == EXCLUDE:
            sql, values = f"SELECT a.id FROM {self._documents} a WHERE 1", []
            checks = translated
        else:
            sql, values = f"SELECT a.id FROM {self._index} a WHERE a.field = ? AND {test.format(v='a.value')}", \
                [field, *parameters]
            checks = translated[1:]
        for rank, field, test, parameters in checks:
            sql += (f" AND {'NOT ' if rank == EXCLUDE else ''}EXISTS (SELECT 1 FROM {self._index} b "
                    f"WHERE b.id = a.id AND b.field = ? AND {test.format(v='b.value')})")
            values.extend([field, *parameters])
        return sql, values, exact

    def _rows(self, condition: tuple[int, str, str, list]) -> int:
        """How many index rows pass one translated condition (counted up to ``DRIVER_ESTIMATE_CAP``)."""
        _, field, test, parameters = condition
        return self._sql().execute(
            f"SELECT count(*) FROM (SELECT 1 FROM {self._index} WHERE field = ? AND {test.format(v='value')} "
            f"LIMIT {DRIVER_ESTIMATE_CAP})", [field, *parameters]).fetchone()[0]

    def _matching(self, criteria: dict | None, sort: dict | None = None, skip: int = 0,
                  limit: int = 0) -> Iterator[tuple[int, dict]]:
        """(row id, document) of every document matching ``criteria``, sorted, skipped and limited. SQLite sorts
        and limits when it answers the criteria exactly and the sort is on one indexed field that holds no arrays
        (documents without the field first, as MongoDB's ascending order)."""
        criteria = _naive_utc(criteria or {})
        sql, parameters, exact = self._plan(criteria)
        (field, direction), = (sort or {None: 1}).items() if len(sort or {None: 1}) == 1 else [(None, 1)]
        if exact and sort and field is not None and self.indexed_fields().get(field, MULTIKEY) & MULTIKEY == 0:
            descending = (direction.value if isinstance(direction, Sort) else direction) == -1
            ids = islice(self._ordered_ids(field, sql, parameters, descending), skip, skip + limit if limit else None)
            while chunk := list(islice(ids, 1000)):
                marks = ",".join("?" * len(chunk))
                blobs = dict(self._sql().execute(f"SELECT id, doc FROM {self._documents} WHERE id IN ({marks})",
                                                 chunk).fetchall())
                for row_id in chunk:
                    yield row_id, bson.decode(blobs[row_id])
            return
        where = "" if sql is None else f"WHERE id IN ({sql})"
        rows = self._sql().execute(f"SELECT id, doc FROM {self._documents} {where}", parameters)
        if exact and not sort:
            for row_id, blob in islice(rows, skip, skip + limit if limit else None):
                yield row_id, bson.decode(blob)
            return
        docs = [(row_id, doc) for row_id, blob in rows.fetchall() for doc in [bson.decode(blob)]
                if exact or filter_applies(criteria, doc)]
        for key, direction in reversed(list((sort or {}).items())):
            descending = (direction.value if isinstance(direction, Sort) else direction) == -1
            docs.sort(key=lambda row, f=key: resolve_sort_key(f, row[1]), reverse=descending)
        yield from docs[skip:skip + limit] if limit else docs[skip:]

    def _ordered_ids(self, field: str, sql: str | None, parameters: list, descending: bool) -> Iterator[int]:
        """Ids of the documents ``sql`` selects (every document if None) in the order of ``field``'s index;
        documents without the field sort as null (first ascending, last descending)."""
        restrict = "" if sql is None else f" AND id IN ({sql})"
        present = (f"SELECT id FROM {self._index} WHERE field = ?{restrict} "
                   f"ORDER BY value {'DESC' if descending else 'ASC'}, id")
        missing = (f"SELECT id FROM {self._documents} WHERE id NOT IN (SELECT id FROM {self._index} WHERE field = ?)"
                   f"{restrict} ORDER BY id")
        for statement in (present, missing) if descending else (missing, present):
            for (row_id,) in self._sql().execute(statement, [field, *parameters]):
                yield row_id

    def count(self, criteria: dict | None = None) -> int:
        sql, parameters, exact = self._plan(criteria or {})
        if exact:
            if sql is None:
                return self._sql().execute(f"SELECT COUNT(*) FROM {self._documents}").fetchone()[0]
            return self._sql().execute(f"SELECT COUNT(DISTINCT id) FROM ({sql})", parameters).fetchone()[0]
        return sum(1 for _ in self._matching(criteria))

    def query(
        self,
        criteria: dict | None = None,
        properties: dict | list | None = None,
        sort: dict[str, Sort | int] | None = None,
        skip: int = 0,
        limit: int = 0,
    ) -> Iterator[dict]:
        if isinstance(properties, list):
            properties = {p: 1 for p in properties}
        if properties and not sort and self._covers(criteria or {}, properties):
            yield from self._covered(criteria or {}, list(properties), skip, limit)
            return
        project = _projector(properties)
        for _, doc in self._matching(criteria, sort, skip, limit):
            yield project(doc)

    def _covers(self, criteria: dict, properties: dict) -> bool:
        """Whether the index alone answers the query: criteria exact, every property included, indexed, and always
        a scalar (MongoDB's covered query)."""
        indexed = self.indexed_fields()
        return (all(flag == 1 for flag in properties.values())
                and all(indexed.get(p, MULTIKEY) == 0 for p in properties) and self._plan(criteria)[2])

    def _covered(self, criteria: dict, properties: list[str], skip: int, limit: int) -> Iterator[dict]:
        """The projected documents built from index rows, in storage order; no document is decoded."""
        sql, parameters, _ = self._plan(criteria)
        where = "" if sql is None else f"WHERE d.id IN ({sql})"
        rows = self._sql().execute(
            f"SELECT d.id, i.field, i.value FROM {self._documents} d LEFT JOIN {self._index} i ON i.id = d.id "
            f"AND i.field IN ({','.join('?' * len(properties))}) {where} ORDER BY d.id", [*properties, *parameters])
        documents = (_from_index(group) for _, group in group_consecutive(rows, key=lambda row: row[0]))
        yield from islice(documents, skip, skip + limit if limit else None)

    def distinct(self, field: str, criteria: dict | None = None, all_exist: bool = False) -> list:
        """The values of ``field`` over the documents matching ``criteria`` (an array's elements each; None for a
        document without it). From the index alone where the field is indexed and always a scalar and the criteria
        are exact (a covered query: no document decoded), else by decoding the matching documents."""
        criteria = criteria or {}
        sql, parameters, exact = self._plan(criteria)
        if exact and self.indexed_fields().get(field, MULTIKEY) == 0:
            if sql is None:  # one index row per document holding the field: the others hold none of it
                values = [value for (value,) in self._sql().execute(
                    f"SELECT DISTINCT value FROM {self._index} WHERE field = ?", (field,))]
                holding = self._sql().execute(f"SELECT COUNT(*) FROM {self._index} WHERE field = ?",
                                              (field,)).fetchone()[0]
                if holding < self.count() and None not in values:
                    values.append(None)
            else:
                values = [value for (value,) in self._sql().execute(
                    f"SELECT DISTINCT i.value FROM {self._documents} d LEFT JOIN {self._index} i ON i.id = d.id "
                    f"AND i.field = ? WHERE d.id IN ({sql})", [field, *parameters])]
            return [bool(value[0]) if isinstance(value, bytes) else value for value in values]
        values = []
        for _, doc in self._matching(criteria):
            found, present, _ = field_values(doc, field.split("."))
            values.extend(found if present else [None])
        unique = []
        for value in values:
            if value not in unique:
                unique.append(value)
        return unique

    def groupby(
        self,
        keys: list[str] | str,
        criteria: dict | None = None,
        properties: dict | list | None = None,
        sort: dict[str, Sort | int] | None = None,
        skip: int = 0,
        limit: int = 0,
    ) -> Iterator[tuple[dict, list[dict]]]:
        keys = [keys] if isinstance(keys, str) else list(keys)
        docs = list(self.query(criteria, properties=properties if properties is None else
                               [*keys, *(properties if isinstance(properties, list) else properties)], sort=sort))

        def group_key(doc):
            return tuple(repr(field_values(doc, k.split("."))[0]) for k in keys)

        docs.sort(key=group_key)
        groups = []
        for _, members in group_consecutive(docs, key=group_key):
            members = list(members)
            groups.append(({k: (field_values(members[0], k.split("."))[0] or [None])[0] for k in keys}, members))
        groups = groups[skip:skip + limit] if limit else groups[skip:]
        yield from groups

    def update(self, docs: list[dict] | dict, key: list | str | None = None) -> None:
        """Replace the documents with the same ``key`` values (the store's key by default), insert the others, in
        one transaction."""
        key = key or self.key
        keys = [key] if isinstance(key, str) else list(key)
        docs = [_storable(d) for d in (docs if isinstance(docs, list) else [docs])]
        if self.validator is not None:
            docs = [(d, encoded) for d, encoded in docs if self.validator.is_valid(d)]
        for field in keys:
            self.ensure_index(field)
        if not docs:
            return
        with self._write():
            replaced, indexed = [], self.indexed_fields()
            criteria = [{field: (field_values(doc, field.split("."))[0] or [None])[0] for field in keys}
                        for doc, _ in docs]
            if len(keys) == 1:  # one lookup for every document
                criteria = [{keys[0]: {"$in": [c[keys[0]] for c in criteria]}}]
            for condition in criteria:
                sql, parameters, _ = self._plan(condition, indexed)
                if sql is None:
                    raise ValueError(f"{self.name}: document without its key field(s) {keys}: cannot update")
                replaced.extend(row for (row,) in self._sql().execute(sql, parameters).fetchall())
            self._insert(docs, indexed, keys, sorted(set(replaced)))

    def remove_docs(self, criteria: dict) -> None:
        with self._write():
            removed = [row_id for row_id, _ in self._matching(criteria)]
            self._delete(removed)
            if removed:
                self._sql().execute("INSERT INTO removals VALUES (?, ?) ON CONFLICT (collection) DO UPDATE SET "
                                    "removed = removed + excluded.removed", (self.collection_name, len(removed)))

    def change_token(self) -> list[int] | None:
        """[newest row id, documents removed so far]: the point in the collection's history a later
        :meth:`changed_since` reads from; None for a collection created by an older version, whose row ids may be
        reused (no change feed: read it whole)."""
        connection = self._sql()
        layout = connection.execute("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?",
                                    (self.collection_name,)).fetchone()
        if layout is None or "AUTOINCREMENT" not in layout[0]:
            return None
        connection.execute("BEGIN")  # one snapshot for both numbers
        try:
            newest = connection.execute("SELECT seq FROM sqlite_sequence WHERE name = ?",
                                        (self.collection_name,)).fetchone()
            removed = connection.execute("SELECT removed FROM removals WHERE collection = ?",
                                         (self.collection_name,)).fetchone()
        finally:
            connection.execute("COMMIT")
        return [newest[0] if newest else 0, removed[0] if removed else 0]

    def changed_since(self, token: list[int], criteria: dict | None = None,
                      properties: dict | list | None = None) -> list[dict] | None:
        """The documents stored or replaced after ``token`` (of :meth:`change_token`) that match ``criteria``,
        projected onto ``properties``; None when documents were removed since, which no document shows (the caller
        must read the collection whole)."""
        current = self.change_token()
        if current is None or current[1] != token[1]:
            return None
        criteria = _naive_utc(criteria or {})
        project = _projector(properties)
        rows = self._sql().execute(f"SELECT doc FROM {self._documents} WHERE id > ? ORDER BY id", (token[0],))
        return [project(doc) for (blob,) in rows.fetchall() for doc in [bson.decode(blob)]
                if not criteria or filter_applies(criteria, doc)]

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

import os
from dataclasses import dataclass
from pathlib import Path

import yaml
from fireworks import LaunchPad
from jobflow import JobStore
from maggma.core import Store
from maggma.stores import GridFSStore, MongoStore
from pymongo import MongoClient
from pymongo.errors import InvalidURI, OperationFailure, ServerSelectionTimeoutError
from pymongo.uri_parser import parse_uri

from defectscreen.storage.document_store import SQLiteDocumentStore
from defectscreen.storage.launchpad import EmbeddedLaunchPad, mongo_launchpad

#: what builders, queries and the CLI look task documents up by (indexed in both modes, on first use).
TASK_INDEXES = (
    "uuid", "index", "completed_at", "output.task_label", "output.converged", "output.@class",
    "output.calculation_id", "output.labels.calculation_id", "output.labels.host", "output.labels.defect_name",
    "output.labels.defect_type", "output.labels.charge", "output.labels.campaign", "output.engine.settings_hash",
    "output.campaign_sha256", "output.host", "output.force_source", "output.model_sha256",
    "output.records.phonons_uuid", "output.phonon_factors", "output.records.huang_rhys_total", "output.points",
)


class StorageSettingsError(ValueError):
    """A storage setting (environment variable or config file) that cannot work, with the fix."""


@dataclass(frozen=True)
class StorageSettings:
    """Where the JobStore and the LaunchPad live."""

    data_dir: Path
    mongo_uri: str | None = None
    mongo_database: str = "defectscreen"

    @classmethod
    def from_environment(cls) -> StorageSettings:
        """The settings from the environment and the config file, checked: a malformed file, an unknown key or a
        malformed MongoDB URI is a :class:`StorageSettingsError` naming the setting and the fix."""
        config_path = Path(os.environ.get("DEFECTSCREEN_CONFIG", "defectscreen.yaml"))
        if "DEFECTSCREEN_CONFIG" in os.environ and not config_path.is_file():
            raise StorageSettingsError(f"DEFECTSCREEN_CONFIG={config_path}: no such file; point it at a YAML file "
                                       "with data_dir, mongo_uri and/or mongo_database, or unset it")
        try:
            config = yaml.safe_load(config_path.read_text()) if config_path.is_file() else {}
        except (yaml.YAMLError, UnicodeDecodeError) as error:
            raise StorageSettingsError(f"{config_path}: not valid YAML ({str(error).splitlines()[0]}); write "
                                       "`key: value` lines with data_dir, mongo_uri and/or mongo_database") from None
        config = {} if config is None else config
        if not isinstance(config, dict):
            raise StorageSettingsError(f"{config_path}: expected `key: value` lines (data_dir, mongo_uri, "
                                       f"mongo_database), found a {type(config).__name__}")
        unknown = set(config) - {"data_dir", "mongo_uri", "mongo_database"}
        if unknown:
            raise StorageSettingsError(
                f"{config_path}: unknown key(s) {', '.join(sorted(map(str, unknown)))}; "
                "known: data_dir, mongo_uri, mongo_database"
            )
        data_dir = os.environ.get("DEFECTSCREEN_DATA_DIR", config.get("data_dir", "defectscreen-data"))
        mongo_uri = os.environ.get("DEFECTSCREEN_MONGO_URI", config.get("mongo_uri")) or None
        if mongo_uri is not None:
            try:
                parse_uri(str(mongo_uri))
            except (InvalidURI, ValueError) as error:
                raise StorageSettingsError(f"DEFECTSCREEN_MONGO_URI (or mongo_uri): {error}; write "
                                           "mongodb://[user:password@]host[:port][/?options]") from None
        if Path(data_dir).exists() and not Path(data_dir).is_dir():
            raise StorageSettingsError(f"DEFECTSCREEN_DATA_DIR (or data_dir) {data_dir}: a file, not a folder; "
                                       "name a folder (it is created if missing)")
        return cls(
            data_dir=Path(data_dir).resolve(),
            mongo_uri=mongo_uri,
            mongo_database=os.environ.get(
                "DEFECTSCREEN_MONGO_DB", config.get("mongo_database", "defectscreen")
            ),
        )

    def check_server(self, timeout_s: float = 5.0) -> None:
        """In MongoDB mode, a :class:`StorageSettingsError` within ``timeout_s`` if the server cannot be reached or
        refuses the credentials; nothing in embedded mode."""
        if not self.mongo_uri:
            return
        with MongoClient(self.mongo_uri, serverSelectionTimeoutMS=int(1000 * timeout_s)) as client:
            try:
                client.admin.command("ping")
                client[self.mongo_database].list_collection_names()
            except ServerSelectionTimeoutError as error:
                hosts = ", ".join(f"{host}:{port}" for host, port in parse_uri(self.mongo_uri)["nodelist"])
                raise StorageSettingsError(
                    f"no MongoDB server answered at {hosts} within {timeout_s:g} s (DEFECTSCREEN_MONGO_URI or "
                    f"mongo_uri: {str(error).split(',')[0]}); start it, or unset the URI to use the embedded "
                    "store") from None
            except OperationFailure as error:
                reason = (error.details or {}).get("errmsg", str(error))
                raise StorageSettingsError(
                    f"the MongoDB server refused access to database {self.mongo_database!r} ({reason}): check the "
                    "user, password and authSource in DEFECTSCREEN_MONGO_URI") from None

    @property
    def mode(self) -> str:
        return "mongodb" if self.mongo_uri else "embedded"

    def job_store(self) -> JobStore:
        """jobflow JobStore: task documents in ``outputs``, large arrays in the ``data`` store."""
        if self.mongo_uri:
            docs = MongoStore.from_uri(self.mongo_uri, "outputs", database=self.mongo_database,
                                       last_updated_field="completed_at")
            blobs = GridFSStore.from_uri(self.mongo_uri, "outputs_blobs", database=self.mongo_database)
        else:
            docs = self._embedded("outputs", last_updated_field="completed_at")
            blobs = self._embedded("outputs_blobs")
        store = JobStore(docs, additional_stores={"data": blobs})
        store.connect()
        for field in TASK_INDEXES:
            store.ensure_index(field)
        return store

    def _embedded(self, name: str, **kwargs) -> SQLiteDocumentStore:
        """A collection of the embedded database (``<data_dir>/jobstore.sqlite``), connected."""
        if (self.data_dir / "jobstore").is_dir() and not self.embedded_database.exists():
            raise RuntimeError(
                f"{self.data_dir}: its JobStore is in the montydb layout of defectscreen < 0.2 (folder 'jobstore'), "
                "which this version no longer reads; run the campaign again into a new data_dir "
                "(DEFECTSCREEN_DATA_DIR)")
        store = SQLiteDocumentStore(name, database_path=str(self.embedded_database), **kwargs)
        store.connect()
        return store

    @property
    def embedded_database(self) -> Path:
        return self.data_dir / "jobstore.sqlite"

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

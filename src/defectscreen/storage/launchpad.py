"""FireWorks LaunchPads: embedded (one SQLite file, process-safe) or on a MongoDB server."""

from __future__ import annotations

from pathlib import Path

from fireworks import LaunchPad  # its settings file is chosen in defectscreen/__init__.py
from fireworks.fw_config import STREAM_LOGLEVEL
from fireworks.utilities.fw_utilities import get_fw_logger

from defectscreen.storage.embedded_mongo import EmbeddedMongoClient

#: where a Firework holds its jobflow job's uuid: a resubmission finds the earlier jobs it reads by it
#: (``storage.submission.unfinished_jobs``), so on MongoDB it is indexed
JOB_UUID = "spec._tasks.job.uuid"
#: the tag (in spec.defectscreen) of a job a submission paused as superseded (``storage.submission.drop_jobs``)
DROPPED = "dropped"


class EmbeddedLaunchPad(LaunchPad):
    """A FireWorks LaunchPad whose database is an :class:`EmbeddedMongoClient` file.

    Everything FireWorks does (checkout, completion, lost-run detection, reruns) runs unchanged;
    only the connection differs. Documents have no 16 MB limit, so no GridFS fallback is needed.
    """

    def __init__(self, database_path: str | Path, strm_lvl: str | None = None) -> None:
        self.database_path = str(database_path)
        self.host, self.port, self.name = self.database_path, None, "fireworks"
        self.username = self.password = self.authsource = None
        self.mongoclient_kwargs, self.uri_mode = {}, False
        self.logdir, self.strm_lvl = None, strm_lvl or STREAM_LOGLEVEL
        self.m_logger = get_fw_logger("launchpad", l_dir=None, stream_level=self.strm_lvl)
        self.user_indices, self.wf_user_indices = [], []
        self.connection = EmbeddedMongoClient(database_path)
        self.db = self.connection[self.name]
        self.fireworks = self.db.fireworks
        self.launches = self.db.launches
        self.offline_runs = self.db.offline_runs
        self.fw_id_assigner = self.db.fw_id_assigner
        self.workflows = self.db.workflows
        self.gridfs_fallback = None
        self.backup_launch_data, self.backup_fw_data = {}, {}
        if self.fw_id_assigner.count_documents({}) == 0:
            self._restart_ids(1, 1)

    def to_dict(self) -> dict:
        return {"database_path": self.database_path, "strm_lvl": self.strm_lvl}

    @classmethod
    def from_dict(cls, d: dict) -> EmbeddedLaunchPad:
        return cls(d["database_path"], d.get("strm_lvl"))


def mongo_launchpad(uri: str, database: str) -> LaunchPad:
    """The LaunchPad in database ``<database>_fireworks`` on the MongoDB server at ``uri``."""
    launchpad = LaunchPad(host=uri, uri_mode=True, name=f"{database}_fireworks", strm_lvl="WARNING")
    if launchpad.fw_id_assigner.count_documents({}) == 0:  # first use: FireWorks' indexes, then the id counters
        launchpad.tuneup(bkground=False)
        launchpad._restart_ids(1, 1)
    launchpad.fireworks.create_index(JOB_UUID)  # a no-op once it exists, for LaunchPads made before it was added
    return launchpad

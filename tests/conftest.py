"""Shared fixtures: an isolated project data directory per test, one thread per process."""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pymongo
import pytest

os.environ.setdefault("OMP_NUM_THREADS", "1")

REPO = Path(__file__).resolve().parents[1]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Test files in decreasing cost (the ``slow(seconds=...)`` marks of their tests, summed), so that the two
    processes of ``pytest -n 2 --dist loadfile --no-loadscope-reorder`` start the long files first and end together."""
    cost: dict[Path, float] = {}
    for item in items:
        cost[item.path] = cost.get(item.path, 0.0) + sum(mark.kwargs.get("seconds", 60.0)
                                                         for mark in item.iter_markers("slow"))
    items.sort(key=lambda item: -cost[item.path])


def _reference_data() -> Path:
    """../shared/reference-data of the checkout (or DEFECTSCREEN_REFERENCE_DATA); tests need the real files."""
    if "DEFECTSCREEN_REFERENCE_DATA" in os.environ:
        return Path(os.environ["DEFECTSCREEN_REFERENCE_DATA"])
    for parent in REPO.parents:
        if (parent / "shared" / "reference-data").is_dir():
            return parent / "shared" / "reference-data"
    return Path("/work/shared/reference-data")


REFERENCE_DATA = _reference_data()
NV_DIAMOND = REFERENCE_DATA / "nv-diamond"
GAN_CN = REFERENCE_DATA / "gan-cn"


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh embedded store for this test, also seen by subprocesses it starts."""
    path = tmp_path / "data"
    monkeypatch.setenv("DEFECTSCREEN_DATA_DIR", str(path))
    monkeypatch.delenv("DEFECTSCREEN_MONGO_URI", raising=False)
    monkeypatch.chdir(tmp_path)
    return path


MONGO_USER = "defectscreen-test"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_wire_server(storage: Path, port: int, *options: str, host: str = "127.0.0.1",
                      prefix: tuple[str, ...] = ()) -> subprocess.Popen:
    """SecantusDB (a MongoDB wire-protocol server over WiredTiger, the test extra) on ``host:port``, ready."""
    server_binary = shutil.which("secantusd-py", path=str(Path(sys.executable).parent))
    assert server_binary, "the MongoDB-mode tests need the test server: pip install -e '.[test]' (SecantusDB)"
    server = subprocess.Popen([*prefix, server_binary, "--host", host, "--port", str(port), "--storage-path",
                               str(storage), "--log-level", "WARNING", *options],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 60
    while True:
        try:
            with socket.create_connection((host, port), timeout=1):
                return server
        except OSError:
            assert server.poll() is None and time.time() < deadline, "the MongoDB test server did not start"
            time.sleep(0.1)


@pytest.fixture(scope="session")
def mongo_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """(URI with credentials, password) of a MongoDB wire-protocol server that requires authentication: started
    once without it to create the user, then restarted with ``--auth``."""
    storage, port, password = tmp_path_factory.mktemp("mongo"), _free_port(), f"pw-{secrets.token_hex(12)}"
    server = start_wire_server(storage, port)
    with pymongo.MongoClient(f"mongodb://127.0.0.1:{port}", serverSelectionTimeoutMS=20_000) as client:
        client.admin.command("createUser", MONGO_USER, pwd=password, roles=["root"])
    server.terminate()
    server.wait(timeout=60)
    server = start_wire_server(storage, port, "--auth")
    yield f"mongodb://{MONGO_USER}:{password}@127.0.0.1:{port}/?authSource=admin", password
    server.terminate()
    server.wait(timeout=60)


@pytest.fixture(params=["embedded", "mongodb"])
def store_mode(request: pytest.FixtureRequest, data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """The test runs on the embedded store and again on the MongoDB server (its own database), with the same
    assertions; the data directory keeps the job folders and logs in both."""
    if request.param == "mongodb":
        uri, _ = request.getfixturevalue("mongo_server")
        monkeypatch.setenv("DEFECTSCREEN_MONGO_URI", uri)
        monkeypatch.setenv("DEFECTSCREEN_MONGO_DB", f"test_{secrets.token_hex(6)}")
    return request.param


SI_CAMPAIGN = """
name: si-test
hosts:
  - {name: Si, prototype: diamond-Si}
defects:
  vacancies: true
  substitutions: {Si: [C]}
charges:
  default: [0, -1]
supercell:
  matrix: [[2, 0, 0], [0, 2, 0], [0, 0, 2]]
engine: {name: xtb}
relax: {fmax_eV_per_angstrom: 0.1, max_steps: 100}
"""


@pytest.fixture
def si_campaign(tmp_path: Path) -> Path:
    """A 16-site silicon campaign: bulk, V_Si and C_Si in two charge states (5 xTB jobs)."""
    path = tmp_path / "si.yaml"
    path.write_text(SI_CAMPAIGN)
    return path

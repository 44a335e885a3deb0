"""Workers on several hosts: Linux network namespaces on a private bridge, the MongoDB server in one of them, a worker
in each of three others with its own hostname and its own scratch directory (a private tmpfs: no host sees another's
files). One host's link is cut mid-job and another worker is SIGKILLed; the lost runs are detected and rerun on the
remaining hosts, whose jobs hand each other training sets, models and force constants only through the stores
(GridFS). Every job completes once and every task document is stored once. The test makes and removes the
namespaces, the bridge and the server itself; traffic stays on the bridge's addresses."""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pymongo
import pytest
import yaml
from conftest import start_wire_server

pytestmark = pytest.mark.skipif(os.geteuid() != 0 or shutil.which("ip") is None or shutil.which("unshare") is None,
                                reason="network namespaces need root, iproute2 and util-linux (CI runs as root)")

CAMPAIGN = {
    "name": "multi-host",
    "hosts": [{"name": "C", "prototype": "diamond-C"}],
    "defects": {"vacancies": False, "substitutions": {"C": ["N"]}},
    "charges": {"N_C": [0, 1]},
    "supercell": {"matrix": [[2, 0, 0], [0, 2, 0], [0, 0, 2]]},
    "engine": {"name": "xtb"},
    "relax": {"fmax_eV_per_angstrom": 0.02, "max_steps": 200},
    "potential": {"n_structures": 10, "max_validation_force_rmse_meV_per_angstrom": 1000.0,
                  "training": {"max_epochs": 10}},
    "properties": ["relaxation", "phonons"],
}
N_JOBS = 9  # bulk relaxation; per N_C charge state: relaxation, training set, potential, phonons from the potential
PING_S, LOST_AFTER_S = 2, 12


def _ip(*args: str, namespace: str | None = None) -> None:
    prefix = ["ip", "netns", "exec", namespace] if namespace else []
    subprocess.run([*prefix, "ip", *args], check=True, capture_output=True)


class Network:
    """A bridge with an address for the test process and one namespace per host, each on a veth pair."""

    def __init__(self, names: list[str]) -> None:
        tag = secrets.token_hex(2)
        self.subnet = f"10.{200 + secrets.randbelow(50)}.{secrets.randbelow(250)}"
        self.bridge, self.namespaces, self.links = f"dsb{tag}", {}, {}
        _ip("link", "add", self.bridge, "type", "bridge")
        _ip("addr", "add", f"{self.subnet}.254/24", "dev", self.bridge)
        _ip("link", "set", self.bridge, "up")
        for i, name in enumerate(names, start=1):
            namespace, outside, inside = f"ds{tag}{name}", f"dsh{tag}{i}", f"dsn{tag}{i}"
            subprocess.run(["ip", "netns", "add", namespace], check=True)
            self.namespaces[name], self.links[name] = namespace, inside
            _ip("link", "add", outside, "type", "veth", "peer", "name", inside)
            _ip("link", "set", inside, "netns", namespace)
            _ip("link", "set", outside, "master", self.bridge, "up")
            _ip("addr", "add", f"{self.subnet}.{i}/24", "dev", inside, namespace=namespace)
            _ip("link", "set", inside, "up", namespace=namespace)
            _ip("link", "set", "lo", "up", namespace=namespace)

    def address(self, name: str) -> str:
        return f"{self.subnet}.{list(self.namespaces).index(name) + 1}"

    def cut(self, name: str) -> None:
        _ip("link", "set", self.links[name], "down", namespace=self.namespaces[name])

    def remove(self) -> None:
        for namespace in self.namespaces.values():
            subprocess.run(["ip", "netns", "del", namespace], capture_output=True)
        subprocess.run(["ip", "link", "del", self.bridge], capture_output=True)


@pytest.fixture
def network():
    network = Network(["server", "host1", "host2", "host3"])
    yield network
    network.remove()


def _worker(network: Network, host: str, scratch: Path, environment: dict, *options: str) -> subprocess.Popen:
    """`defectscreen worker` on ``host``: its namespace, its hostname, its data directory in a tmpfs of its own."""
    script = f'hostname {host} && mount -t tmpfs tmpfs "{scratch}" && exec "$@"'
    return subprocess.Popen(
        ["ip", "netns", "exec", network.namespaces[host], "unshare", "--mount", "--uts", "sh", "-c", script, "sh",
         "env", f"DEFECTSCREEN_DATA_DIR={scratch / host}", sys.executable, "-m", "defectscreen.cli", "worker",
         *options], env=environment, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


@pytest.mark.slow(seconds=280)
def test_workers_on_three_hosts_survive_a_cut_link_and_a_kill(network: Network, tmp_path: Path) -> None:
    scratch, config = tmp_path / "hosts", tmp_path / "FW_config.yaml"
    scratch.mkdir()
    config.write_text(f"PING_TIME_SECS: {PING_S}\nWFLOCK_EXPIRATION_SECS: 30\nWFLOCK_EXPIRATION_KILL: true\n")
    server = start_wire_server(tmp_path / "server", 27017, host=network.address("server"),
                               prefix=("ip", "netns", "exec", network.namespaces["server"]))
    uri = f"mongodb://{network.address('server')}:27017/?serverSelectionTimeoutMS=5000"
    environment = {**os.environ, "DEFECTSCREEN_MONGO_URI": uri, "DEFECTSCREEN_MONGO_DB": "multihost",
                   "FW_CONFIG_FILE": str(config), "DEFECTSCREEN_DATA_DIR": str(tmp_path / "submitter")}
    cli = [sys.executable, "-m", "defectscreen.cli"]
    campaign = tmp_path / "campaign.yaml"
    campaign.write_text(yaml.safe_dump(CAMPAIGN))
    workers: list[subprocess.Popen] = []
    try:
        submitted = subprocess.run([*cli, "submit", str(campaign)], env=environment, check=True, capture_output=True,
                                   text=True)
        assert f"{N_JOBS} new job(s)" in submitted.stdout
        client = pymongo.MongoClient(uri)
        database, lp = client.multihost, client.multihost_fireworks
        workers = [_worker(network, host, scratch, environment) for host in ("host1", "host2")]
        deadline = time.time() + 300
        while {launch["fworker"]["name"] for launch in lp.launches.find({"state": "RUNNING"})} != {"host1", "host2"}:
            assert time.time() < deadline and all(w.poll() is None for w in workers), "two hosts never ran at once"
            time.sleep(0.1)
        network.cut("host1")
        workers[1].send_signal(signal.SIGKILL)
        workers[1].wait()
        requeued: list[int] = []
        # the RUNNING jobs fall silent: after LOST_AFTER_S they are put back in the queue. A claim or a finished run a
        # host sent just before the cut or the kill may land late on a loaded server, so this looks until none is left
        while not requeued or lp.fireworks.count_documents({"state": {"$in": ["RUNNING", "RESERVED"]}}):
            assert time.time() < deadline, f"lost runs not detected: {requeued}"
            recovered = subprocess.run([*cli, "recover", "--lost-after", str(LOST_AFTER_S)], env=environment,
                                       capture_output=True, text=True, check=True)
            requeued += yaml.safe_load(recovered.stdout.split(":", 1)[1])
            time.sleep(1)
        # host1 may have finished a job (and claimed the next) between the look above and the cut
        host1_done = {launch["fw_id"] for launch in lp.launches.find({"state": "COMPLETED", "fworker.name": "host1"})}
        for turn in range(4 * N_JOBS):  # the rest alternates between host3 and host2 (restarted): jobs cross hosts
            if lp.fireworks.count_documents({"state": "COMPLETED"}) == N_JOBS:
                break
            one = _worker(network, ("host3", "host2")[turn % 2], scratch, environment, "--max-jobs", "1")
            assert one.wait(timeout=600) == 0, one.stdout.read()[-3000:]

        assert Counter(fw["state"] for fw in lp.fireworks.find()) == {"COMPLETED": N_JOBS}
        completed = {launch["fw_id"]: launch["fworker"]["name"] for launch in lp.launches.find({"state": "COMPLETED"})}
        assert lp.launches.count_documents({"state": "COMPLETED"}) == len(completed) == N_JOBS, "each job ran once"
        assert {"host2", "host3"} <= set(completed.values())
        assert {fw_id for fw_id, host in completed.items() if host == "host1"} == host1_done, "nothing after the cut"
        outputs = list(database.outputs.find({}, {"uuid": 1, "index": 1, "output.parent_uuids": 1}))
        assert len(outputs) == len({(o["uuid"], o["index"]) for o in outputs}) == N_JOBS, "each output stored once"
        host_of = {fw["spec"]["_tasks"][0]["job"]["uuid"]: completed[fw["fw_id"]] for fw in lp.fireworks.find()}
        crossings = [(parent, o["uuid"]) for o in outputs for parent in o["output"].get("parent_uuids") or []
                     if parent in host_of and host_of[parent] != host_of[o["uuid"]]]
        assert crossings, "some job read what another host computed"
        assert database["outputs_blobs.files"].count_documents({}) >= 4, "arrays and models went through GridFS"
        client.close()
    finally:
        for process in workers:
            process.kill()
            process.wait()
        server.terminate()
        server.wait(timeout=60)

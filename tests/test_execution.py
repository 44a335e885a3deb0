"""FireWorks on the embedded store: two concurrent workers, kill -9 of a worker mid-job,
resubmission of the same campaign. Each run ends with every job done exactly once and one
task document per job."""

from __future__ import annotations

import multiprocessing
import os
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pytest
import yaml

from defectscreen.flows.campaign import load_campaign
from defectscreen.storage import StorageSettings
from defectscreen.storage.query import query_tasks, task_criteria
from defectscreen.storage.submission import submit_campaign

CLI = [sys.executable, "-m", "defectscreen.cli"]


def _submit(campaign_path: Path) -> StorageSettings:
    settings = StorageSettings.from_environment()
    campaign, base_dir = load_campaign(campaign_path)
    submit_campaign(campaign, base_dir, settings.launchpad())
    return settings


def _assert_all_done_once(settings: StorageSettings, n_jobs: int) -> None:
    launchpad = settings.launchpad()
    states = Counter(fw["state"] for fw in launchpad.fireworks.find({}, {"state": 1}))
    assert states == {"COMPLETED": n_jobs}
    store = settings.job_store()
    store.connect()
    rows = query_tasks(store, task_criteria())
    ids = [(row["calculation_id"], row["task_label"]) for row in rows]
    assert len(ids) == n_jobs and len(set(ids)) == n_jobs, "one task document per job"
    assert store.docs_store.count({}) == n_jobs, "no duplicated outputs"


def _open_and_write(data_dir: Path, uuid: str) -> int:
    store = StorageSettings(data_dir=data_dir).job_store()
    store.connect()
    store.docs_store.update([{"uuid": uuid, "index": 1}], key=["uuid", "index"])
    return store.docs_store.count({"uuid": uuid})


def test_workers_opening_a_fresh_store_together(tmp_path: Path) -> None:
    """Six processes open the embedded job store at once, right after a submission that recorded its campaign and
    on a data directory nothing has opened yet: each reads and writes it. maggma rewrote montydb's configuration at
    every connect and montydb creates a collection's table on first write, so before the fix they failed with
    'Empty module name' or 'no such table: documents'."""
    for recorded in (True, False):
        data_dir = tmp_path / str(recorded)
        if recorded:
            StorageSettings(data_dir=data_dir).collection("campaigns", "name")
        uuids = [str(i) for i in range(12)]
        with ProcessPoolExecutor(6, mp_context=multiprocessing.get_context("spawn")) as pool:  # fresh processes
            assert list(pool.map(_open_and_write, [data_dir] * len(uuids), uuids)) == [1] * len(uuids)
        store = StorageSettings(data_dir=data_dir).job_store()
        store.connect()
        assert store.docs_store.count() == len(uuids)


def test_two_concurrent_workers(data_dir: Path, si_campaign: Path) -> None:
    settings = _submit(si_campaign)
    workers = [subprocess.Popen([*CLI, "worker"], env=os.environ.copy()) for _ in range(2)]
    assert [w.wait(timeout=900) for w in workers] == [0, 0]
    _assert_all_done_once(settings, 5)
    launches = settings.launchpad().launches
    assert launches.count_documents({}) == 5, "no job ran twice"


def test_worker_max_jobs_stops_after_that_many_or_when_none_is_ready(data_dir: Path, si_campaign: Path) -> None:
    """--max-jobs N stops after N jobs, or as soon as no job is READY: it used to sleep forever waiting for the
    N-th (on an empty store too)."""
    empty = subprocess.run([*CLI, "worker", "--max-jobs", "1"], capture_output=True, text=True, timeout=120)
    assert empty.returncode == 0, empty.stderr[-2000:]
    settings = _submit(si_campaign)
    two = subprocess.run([*CLI, "worker", "--max-jobs", "2"], capture_output=True, text=True, timeout=600)
    assert two.returncode == 0 and settings.launchpad().launches.count_documents({}) == 2
    rest = subprocess.run([*CLI, "worker", "--max-jobs", "10"], capture_output=True, text=True, timeout=600)
    assert rest.returncode == 0, rest.stderr[-2000:]
    _assert_all_done_once(settings, 5)


def test_kill_9_worker_mid_job_then_recover(data_dir: Path, si_campaign: Path) -> None:
    settings = _submit(si_campaign)
    launchpad = settings.launchpad()
    worker = subprocess.Popen([*CLI, "worker"], env=os.environ.copy())
    deadline = time.time() + 300
    while launchpad.fireworks.count_documents({"state": "COMPLETED"}) < 1 or \
            launchpad.fireworks.count_documents({"state": "RUNNING"}) < 1:
        assert time.time() < deadline and worker.poll() is None
        time.sleep(0.2)
    worker.send_signal(signal.SIGKILL)
    worker.wait()
    running = launchpad.fireworks.count_documents({"state": "RUNNING"})
    assert running == 1, "the killed job is left RUNNING"
    done_before = launchpad.fireworks.count_documents({"state": "COMPLETED"})
    recovered = subprocess.run([*CLI, "recover", "--lost-after", "0"], capture_output=True, text=True, check=True)
    assert "re-queued 1 lost job(s)" in recovered.stdout
    subprocess.run([*CLI, "worker"], check=True, env=os.environ.copy())
    _assert_all_done_once(settings, 5)
    completed_launches = launchpad.launches.count_documents({"state": "COMPLETED"})
    assert completed_launches == 5
    assert done_before >= 1


def test_resubmission_adds_only_new_jobs(data_dir: Path, si_campaign: Path) -> None:
    settings = StorageSettings.from_environment()
    campaign, base_dir = load_campaign(si_campaign)
    launchpad = settings.launchpad()
    first = submit_campaign(campaign, base_dir, launchpad)
    again = submit_campaign(campaign, base_dir, launchpad)
    assert (first.new_jobs, again.new_jobs, again.already_submitted) == (5, 0, 5)
    data = yaml.safe_load(si_campaign.read_text())
    data["defects"]["substitutions"]["Si"] = ["C", "Ge"]
    si_campaign.write_text(yaml.safe_dump(data))
    campaign, base_dir = load_campaign(si_campaign)
    extended = submit_campaign(campaign, base_dir, launchpad)
    assert extended.new_jobs == 2, "only Ge_Si in its two charge states"
    assert launchpad.fireworks.count_documents({}) == 7


def test_failed_job_recorded_with_reason_rest_goes_on(data_dir: Path, si_campaign: Path) -> None:
    data = yaml.safe_load(si_campaign.read_text())
    data["relax"] = {"fmax_eV_per_angstrom": 0.001, "max_steps": 2}
    si_campaign.write_text(yaml.safe_dump(data))
    _submit(si_campaign)
    result = subprocess.run([*CLI, "worker"], capture_output=True, text=True, env={**os.environ, "COLUMNS": "200"})
    assert result.returncode == 0
    console = result.stdout + result.stderr  # the jobs' tracebacks go to the worker's log, one line each here
    assert "Traceback" not in console and "INFO" not in console
    log = Path(re.search(r"go to (\S+\.log)", console).group(1))
    assert log.read_text().count("RelaxationNotConvergedError") >= 4
    failed = [line for line in console.splitlines() if line.startswith("failed ")]
    assert len(failed) >= 4 and all("relaxation used all 2 ionic steps" in line and "(job folder " in line
                                    for line in failed)
    status = subprocess.run([*CLI, "status"], capture_output=True, text=True, env={**os.environ, "COLUMNS": "200"})
    assert "relaxation used all 2 ionic steps" in status.stdout
    launchpad = StorageSettings.from_environment().launchpad()
    states = Counter(fw["state"] for fw in launchpad.fireworks.find({}, {"state": 1}))
    assert states["FIZZLED"] >= 4 and sum(states.values()) == 5
    assert states["FIZZLED"] + states["COMPLETED"] == 5, "every job was attempted"


@pytest.mark.parametrize("fmt", ["json", "csv", "table"])
def test_query_formats_and_filters(data_dir: Path, si_campaign: Path, fmt: str) -> None:
    _submit(si_campaign)
    subprocess.run([*CLI, "worker"], check=True, capture_output=True)
    out = subprocess.run([*CLI, "query", "--host", "Si", "--type", "vacancy", "--format", fmt],
                         capture_output=True, text=True, check=True, env={**os.environ, "COLUMNS": "250"}).stdout
    if fmt == "json":
        rows = yaml.safe_load(out)
        assert {r["calculation_id"] for r in rows} == {"Si:v_Si:0", "Si:v_Si:-1"}
        assert all(r["defect_type"] == "vacancy" and r["n_atoms"] == 15 for r in rows)
    elif fmt == "csv":
        header, *lines = out.strip().splitlines()
        assert header.startswith("calculation_id,host,defect_name") and lines
    else:
        assert "Si:v_Si" in out

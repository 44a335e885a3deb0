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

import bson
import pymongo
import pytest
import yaml
from jobflow import CURRENT_JOB, Flow, Response, job
from jobflow.managers.fireworks import flow_to_workflow

from defectscreen.defaults import DEFAULT_LOST_AFTER_S
from defectscreen.flows.campaign import load_campaign
from defectscreen.jobs.provenance import made_by
from defectscreen.storage import StorageSettings
from defectscreen.storage.launchpad import JOB_UUID
from defectscreen.storage.query import query_tasks, task_criteria
from defectscreen.storage.submission import submit_campaign
from defectscreen.storage.worker import recover_lost_runs, run_worker

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


@pytest.mark.slow(seconds=130)
def test_workers_opening_a_fresh_store_together(tmp_path: Path) -> None:
    """Six processes open the embedded job store at once, right after a submission that recorded its campaign and
    on a data directory nothing has opened yet: each creates or finds the tables and indexes and writes (montydb,
    the store before, failed here with 'Empty module name' or 'no such table: documents')."""
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


@pytest.mark.slow(seconds=90)
def test_two_concurrent_workers_then_query_formats_and_filters(store_mode: str, si_campaign: Path) -> None:
    """`defectscreen run --workers 2`: two worker processes claim jobs together, the console gets a line per job as
    it ends, and the run ends by saying what was computed, what failed and what to run next."""
    run = subprocess.run([*CLI, "run", str(si_campaign), "--workers", "2"], capture_output=True, text=True,
                         timeout=900, env={**os.environ, "COLUMNS": "250"})
    assert run.returncode == 0, run.stderr[-2000:]
    assert "running jobs in 2 worker process(es)" in run.stdout and "Traceback" not in run.stdout + run.stderr
    ended = re.findall(r"^ +\d+:\d\d done relax (Si:\S+) \(\d+ s\)$", run.stdout, flags=re.MULTILINE)
    assert sorted(ended) == ["Si:C_Si:-1", "Si:C_Si:0", "Si:bulk", "Si:v_Si:-1", "Si:v_Si:0"], run.stdout
    finished, next_step = run.stdout.strip().splitlines()[-2:]
    assert re.match(r"finished in \d+ min \d\d s: 5 job\(s\) done \(relax 5\), 0 failed$", finished), finished
    assert next_step.startswith("next: defectscreen report --out report.html")
    settings = StorageSettings.from_environment()
    _assert_all_done_once(settings, 5)
    launches = settings.launchpad().launches
    assert launches.count_documents({}) == 5, "no job ran twice"
    assert len(list((settings.data_dir / "logs").glob("worker-*.log"))) == 2, "two worker processes"

    outputs = {fmt: subprocess.run([*CLI, "query", "--host", "Si", "--type", "vacancy", "--format", fmt],
                                   capture_output=True, text=True, check=True,
                                   env={**os.environ, "COLUMNS": "250"}).stdout for fmt in ("json", "csv", "table")}
    rows = yaml.safe_load(outputs["json"])
    assert {r["calculation_id"] for r in rows} == {"Si:v_Si:0", "Si:v_Si:-1"}
    assert all(r["defect_type"] == "vacancy" and r["n_atoms"] == 15 for r in rows)
    header, *lines = outputs["csv"].strip().splitlines()
    assert header.startswith("calculation_id,host,defect_name") and len(lines) == 2
    assert "Si:v_Si" in outputs["table"]


@pytest.mark.slow(seconds=80)
def test_worker_max_jobs_stops_after_that_many_or_when_none_is_ready(store_mode: str, si_campaign: Path) -> None:
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


@pytest.mark.slow(seconds=90)
def test_kill_9_worker_mid_job_then_recover(store_mode: str, si_campaign: Path) -> None:
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


def test_a_job_claimed_by_a_worker_that_died_before_starting_it_goes_back_in_the_queue(store_mode: str,
                                                                                      si_campaign: Path) -> None:
    launchpad = _submit(si_campaign).launchpad()
    ready = launchpad.fireworks.count_documents({"state": "READY"})
    claimed = launchpad._get_a_fw_to_run()  # what a worker does first; killed here, it records no run
    assert launchpad.fireworks.find_one({"fw_id": claimed.fw_id})["state"] == "RESERVED"
    assert recover_lost_runs(launchpad, lost_after_s=600) == [], "a fresh claim is a worker about to start"
    assert recover_lost_runs(launchpad, lost_after_s=0) == [claimed.fw_id]
    assert launchpad.fireworks.count_documents({"state": "READY"}) == ready


@job
def _square(x: float) -> float:
    return x * x


@job
def _sum_of_squares(values: list[float]) -> Response:
    """A job that makes jobs when it runs, like a structure search its relaxations."""
    squares = [made_by(_square(v), CURRENT_JOB.job.uuid) for v in values]
    total = made_by(_add(*(j.output for j in squares)), CURRENT_JOB.job.uuid)
    return Response(replace=Flow([*squares, total], output=total.output))


@job
def _add(*terms: float) -> float:
    return sum(terms)


def test_jobs_a_killed_worker_was_adding_are_made_again(store_mode: str) -> None:
    """FireWorks inserts the jobs a running job makes, then records them in its workflow: a worker killed in between
    leaves jobs no workflow holds, which nothing releases. recover (here with the window reproduced by taking the
    new jobs back out of the workflow, one of them with an output stored) deletes them with that output and reruns
    the job that made them, which makes them again: every result once, none lost."""
    settings = StorageSettings.from_environment()
    launchpad, store = settings.launchpad(), settings.job_store()
    launchpad.add_wf(flow_to_workflow(Flow([_sum_of_squares([1.0, 2.0])])))
    run_worker(settings, max_jobs=1)
    maker = launchpad.fireworks.find_one({"state": "COMPLETED"})
    made = list(launchpad.fireworks.find({"fw_id": {"$ne": maker["fw_id"]}}))
    assert sorted(fw["name"] for fw in made) == ["_add", "_square", "_square", "store_inputs"]
    workflow = launchpad.workflows.find_one({})
    launchpad.workflows.update_one({"_id": workflow["_id"]}, {"$set": {"nodes": [maker["fw_id"]], "links": {}}})
    store.connect()
    square = next(fw for fw in made if fw["name"] == "_square")["spec"]["_tasks"][0]["job"]
    store.update([{"uuid": square["uuid"], "index": square["index"], "output": 1.0}], key=["uuid", "index"])

    assert recover_lost_runs(launchpad, lost_after_s=600, job_store=store) == [], "jobs being added right now"
    assert recover_lost_runs(launchpad, lost_after_s=0, job_store=store) == [maker["fw_id"]]
    assert launchpad.fireworks.count_documents({"fw_id": {"$in": [fw["fw_id"] for fw in made]}}) == 0
    assert store.count({"uuid": square["uuid"]}) == 0
    run_worker(settings)
    assert {fw["state"] for fw in launchpad.fireworks.find({})} == {"COMPLETED"}
    assert launchpad.fireworks.count_documents({}) == 5
    total = store.query_one({"uuid": maker["spec"]["_tasks"][0]["job"]["uuid"]}, sort={"index": -1}, load=True)
    assert store.count({"output": 5.0}) == 1 and total is not None


def test_a_worker_started_from_any_folder_pings_well_within_the_lost_run_limit(tmp_path: Path) -> None:
    """FireWorks binds its ping interval when it is first imported (jobflow imports it too). A worker process must
    get the package's settings whatever its folder and import order; with FireWorks' default (a ping an hour) every
    job longer than the lost-run limit was taken for lost by the next worker to start, and run twice."""
    probe = ("from defectscreen.storage.worker import run_worker\n"
             "import fireworks.core.rocket as rocket, fireworks.fw_config as config\n"
             "print(rocket.PING_TIME_SECS, config.WFLOCK_EXPIRATION_SECS, config.WFLOCK_EXPIRATION_KILL)")
    environment = {name: value for name, value in os.environ.items() if name != "FW_CONFIG_FILE"}
    result = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, env=environment, capture_output=True,
                            text=True, check=True)
    ping_s, lock_s, lock_kill = result.stdout.split()
    assert int(ping_s) * 5 <= DEFAULT_LOST_AFTER_S, "a live job pings several times before it could count as lost"
    assert (int(lock_s), lock_kill) == (30, "True"), "a dead worker's workflow lock is broken"


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


def test_a_resubmitted_job_waits_on_the_unfinished_jobs_it_reads(store_mode: str, si_campaign: Path) -> None:
    """Capture and Ge_Si added to a campaign whose relaxations have not run yet: the new C_Si ccd job reads the two
    C_Si relaxations of the first submission, so it waits on them in their workflow (not READY beside them, where a
    second worker would start it on missing outputs) and on nothing else; the bulk relaxation stays unlinked. Ge_Si
    reads nothing earlier: its relaxations and their ccd job are a workflow of their own, as any new flow."""
    settings = StorageSettings.from_environment()
    launchpad = settings.launchpad()
    data = yaml.safe_load(si_campaign.read_text())
    data["defects"]["vacancies"] = False
    si_campaign.write_text(yaml.safe_dump(data))
    submit_campaign(*load_campaign(si_campaign), launchpad)
    data["properties"] = ["relaxation", "configuration_coordinate"]
    data["defects"]["substitutions"]["Si"] = ["C", "Ge"]
    si_campaign.write_text(yaml.safe_dump(data))
    assert submit_campaign(*load_campaign(si_campaign), launchpad).new_jobs == 4
    fw_ids = {fw["name"]: fw["fw_id"] for fw in launchpad.fireworks.find({}, {"name": 1, "fw_id": 1})}
    workflows = launchpad.workflows.find({}, {"nodes": 1, "links": 1})
    earlier, germanium = sorted(workflows, key=lambda workflow: len(workflow["nodes"]), reverse=True)

    def parents(workflow: dict, name: str) -> set[int]:
        return {int(parent) for parent, children in workflow["links"].items() if fw_ids[name] in children}

    assert parents(earlier, "ccd Si:C_Si:0/-1") == {fw_ids["relax Si:C_Si:0"], fw_ids["relax Si:C_Si:-1"]}
    assert launchpad.get_fw_dict_by_id(fw_ids["ccd Si:C_Si:0/-1"])["state"] == "WAITING"
    assert sorted(germanium["nodes"]) == sorted(fw_ids[name] for name in fw_ids if "Ge_Si" in name)
    assert parents(germanium, "ccd Si:Ge_Si:0/-1") == {fw_ids["relax Si:Ge_Si:0"], fw_ids["relax Si:Ge_Si:-1"]}
    assert submit_campaign(*load_campaign(si_campaign), launchpad).new_jobs == 0
    if store_mode == "mongodb":  # the earlier jobs are looked up by uuid through an index
        assert any(index["key"] == [(JOB_UUID, 1)] for index in launchpad.fireworks.index_information().values())


def test_superseded_jobs_are_reported_paused_on_request_and_resumed_when_used_again(store_mode: str,
                                                                                     si_campaign: Path) -> None:
    """C_Si and Ge_Si submitted, nothing run; the next version drops Ge_Si: its two relaxations are reported and stay
    queued, and with drop_superseded are paused (`status` counts them dropped) — once: a third submission finds
    nothing to drop. The first version submitted again resumes them (nothing new added). Another campaign whose
    ccd job reads them resumes them too, and then they are kept when the second version drops them again."""
    from defectscreen.storage.progress import host_progress

    launchpad = StorageSettings.from_environment().launchpad()
    data = yaml.safe_load(si_campaign.read_text()) | {"defects": {"vacancies": False,
                                                                  "substitutions": {"Si": ["C", "Ge"]}}}
    both, carbon = si_campaign.with_name("both.yaml"), si_campaign.with_name("carbon.yaml")
    both.write_text(yaml.safe_dump(data))
    carbon.write_text(yaml.safe_dump(data | {"defects": {"vacancies": False, "substitutions": {"Si": ["C"]}}}))
    germanium = ["relax Si:Ge_Si:-1", "relax Si:Ge_Si:0"]

    def states() -> list[str]:
        return [launchpad.fireworks.find_one({"name": name})["state"] for name in germanium]

    assert submit_campaign(*load_campaign(both), launchpad).new_jobs == 5
    reported = submit_campaign(*load_campaign(carbon), launchpad)
    assert reported.superseded == germanium and reported.dropped == [] and states() == ["READY", "READY"]
    dropped = submit_campaign(*load_campaign(carbon), launchpad, drop_superseded=True)
    assert dropped.dropped == germanium and states() == ["PAUSED", "PAUSED"]
    assert host_progress(launchpad)["Si"]["dropped"] == 2
    assert submit_campaign(*load_campaign(carbon), launchpad, drop_superseded=True).superseded == []
    again = submit_campaign(*load_campaign(both), launchpad)
    assert again.resumed == germanium and again.new_jobs == 0 and states() == ["READY", "READY"]
    assert submit_campaign(*load_campaign(carbon), launchpad, drop_superseded=True).dropped == germanium
    reader = si_campaign.with_name("reader.yaml")
    reader.write_text(yaml.safe_dump(data | {"name": "si-ccd", "properties": ["relaxation", "configuration_coordinate"],
                                             "defects": {"vacancies": False, "substitutions": {"Si": ["Ge"]}}}))
    read = submit_campaign(*load_campaign(reader), launchpad)
    assert read.resumed == germanium and read.new_jobs == 1 and states() == ["READY", "READY"]
    kept = submit_campaign(*load_campaign(carbon), launchpad, drop_superseded=True)
    assert kept.kept == germanium and kept.dropped == [] and states() == ["READY", "READY"]


def test_a_superseded_job_below_another_is_paused_once(store_mode: str, si_campaign: Path, capfd) -> None:
    """Ge_Si's relaxations and the ccd job reading them are all superseded: each is paused once and reported dropped
    whichever comes first, and FireWorks logs no refused pause."""
    launchpad = StorageSettings.from_environment().launchpad()
    data = yaml.safe_load(si_campaign.read_text()) | {"properties": ["relaxation", "configuration_coordinate"],
                                                      "defects": {"vacancies": False, "substitutions": {"Si": ["C", "Ge"]}}}
    both, carbon = si_campaign.with_name("both.yaml"), si_campaign.with_name("carbon.yaml")
    both.write_text(yaml.safe_dump(data))
    carbon.write_text(yaml.safe_dump(data | {"defects": {"vacancies": False, "substitutions": {"Si": ["C"]}}}))
    submit_campaign(*load_campaign(both), launchpad)
    germanium = ["ccd Si:Ge_Si:0/-1", "relax Si:Ge_Si:-1", "relax Si:Ge_Si:0"]
    dropped = submit_campaign(*load_campaign(carbon), launchpad, drop_superseded=True)
    assert dropped.dropped == germanium and dropped.kept == []
    assert {launchpad.fireworks.find_one({"name": name})["state"] for name in germanium} == {"PAUSED"}
    assert "No pausable" not in "".join(capfd.readouterr())


def test_a_job_reading_unfinished_jobs_of_two_workflows_is_refused(store_mode: str) -> None:
    """FireWorks links jobs within one workflow: a job that reads unfinished jobs of two earlier workflows could only
    be added READY beside them, so submission refuses it, naming the jobs and when to submit again."""
    from jobflow import Flow, job
    from jobflow.managers.fireworks import flow_to_workflow

    from defectscreen.flows.campaign import CampaignError
    from defectscreen.storage.submission import earlier_jobs_read, unfinished_jobs, waiting_on_earlier_jobs

    launchpad = StorageSettings.from_environment().launchpad()
    first, second = job(sum)([1, 2]), job(sum)([3, 4])
    first.name, second.name = "relax A:bulk", "relax B:bulk"
    for earlier in (first, second):
        launchpad.add_wf(flow_to_workflow(Flow([earlier], name=earlier.name)))
    total = job(sum)([first.output, second.output])
    total.name = "fit A+B"
    flow = Flow([total])
    read = earlier_jobs_read(flow)
    assert read == {total.uuid: {first.uuid, second.uuid}}

    def placements():
        unfinished = unfinished_jobs(launchpad, read[total.uuid])
        return waiting_on_earlier_jobs(launchpad, flow_to_workflow(flow, allow_external_references=True), read,
                                       unfinished)

    with pytest.raises(CampaignError, match=r"fit A\+B read unfinished jobs of 2 earlier workflows .*submit this "
                                            r"campaign again once they have finished"):
        placements()
    launchpad.fireworks.update_many({"name": "relax B:bulk"}, {"$set": {"state": "COMPLETED"}})  # B's done: no link
    ((part, parents),) = placements()
    assert parents == {launchpad.fireworks.find_one({"name": "relax A:bulk"})["fw_id"]}


@pytest.mark.slow(seconds=45)
def test_failed_job_recorded_with_reason_rest_goes_on(store_mode: str, si_campaign: Path) -> None:
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
    for options, expected in ((["--host", "Ge"], 0), (["--host", "Si"], states["FIZZLED"])):
        rerun = subprocess.run([*CLI, "recover", "--failed", *options], capture_output=True, text=True)
        assert f"re-queued {expected} failed job(s)" in rerun.stdout, rerun.stdout + rerun.stderr
    again = Counter(fw["state"] for fw in launchpad.fireworks.find({}, {"state": 1}))
    assert again["READY"] + again["WAITING"] == states["FIZZLED"] and "FIZZLED" not in again
    subprocess.run([*CLI, "worker"], capture_output=True, check=True)  # the same settings fail the same way
    assert Counter(fw["state"] for fw in launchpad.fireworks.find({}, {"state": 1})) == states
    assert launchpad.launches.count_documents({"state": "FIZZLED"}) == 2 * states["FIZZLED"], "both attempts kept"


@pytest.mark.slow(seconds=170)
def test_credentials_never_leave_the_uri(mongo_server: tuple[str, str], data_dir: Path, si_campaign: Path,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """MongoDB mode with a password: submit, recover, a worker, status, query, build, report and search (kill -9 and
    concurrent workers run on this server in the store_mode tests; the builders and the report in
    tests/test_formation_energy.py). The password is in no console output, log, job folder, stored document (task
    documents, built collections, FireWorks workflows, fireworks with their specs, launches) of either database."""
    uri, password = mongo_server
    database = f"secret_{os.getpid()}"
    monkeypatch.setenv("DEFECTSCREEN_MONGO_URI", uri)
    monkeypatch.setenv("DEFECTSCREEN_MONGO_DB", database)
    consoles = [subprocess.run([*CLI, "submit", str(si_campaign)], capture_output=True, text=True, check=True)]
    consoles += [subprocess.run([*CLI, *command], capture_output=True, text=True)
                 for command in (["recover", "--lost-after", "0"], ["worker"])]
    for command in (["status"], ["query", "--format", "json"], ["build"]):
        consoles.append(subprocess.run([*CLI, *command], capture_output=True, text=True))
    failed = [(c.args[3:], c.returncode, c.stdout[-800:] + c.stderr[-800:]) for c in consoles if c.returncode]
    assert not failed
    nothing = ((["report", "--out", "report.html"], "no formation-energy documents or host dispersions"),
               (["search"], "no structure searches stored"))  # this campaign computes neither
    for command, reason in nothing:
        consoles.append(subprocess.run([*CLI, *command], capture_output=True, text=True))
        assert consoles[-1].returncode == 1 and reason in consoles[-1].stderr
    _assert_all_done_once(StorageSettings.from_environment(), 5)

    assert not [c.args for c in consoles if password in c.stdout + c.stderr], "password on a console"
    files = [p for p in data_dir.parent.rglob("*") if p.is_file()]
    assert any(p.suffix == ".log" for p in files)
    assert not [p for p in files if password.encode() in p.read_bytes()], "password in a file"
    with pymongo.MongoClient(uri) as client:
        names = [database, f"{database}_fireworks"]
        collections = {(name, c) for name in names for c in client[name].list_collection_names()}
        assert {(names[1], "fireworks"), (names[1], "launches"), (names[0], "outputs")} <= collections
        for name, collection in collections:
            for doc in client[name][collection].find():
                assert password.encode() not in bson.encode(doc), f"password in {name}.{collection}"


def test_console_prints_ids_as_written(capsys) -> None:
    """rich turned the competing phase 'phase:O2:O2' into 'phase🅾O2' (its emoji code :o2:)."""
    from defectscreen.cli.options import console

    console().print("done relax phase:O2:O2 (90 s)", highlight=False)
    assert capsys.readouterr().out.strip() == "done relax phase:O2:O2 (90 s)"


def test_potential_rows_name_the_foundation_model_in_both_store_modes(store_mode: str) -> None:
    from defectscreen.storage.query import potential_rows

    store = StorageSettings.from_environment().job_store()
    store.connect()
    common = {"backend": "mace", "n_train": 34, "train_force_rmse_meV_per_angstrom": 10.0,
              "validation_force_rmse_meV_per_angstrom": 12.0, "validation_energy_mae_meV_per_atom": 1.0,
              "usable": True, "model_sha256": "0" * 64}
    foundation = {"name": "7net-0", "checkpoint": "/x.pth", "sha256": "1" * 64, "source": "sevenn 0.13.0 wheel"}
    store.docs_store.update([
        {"uuid": "a", "index": 1, "output": {**common, "calculation_id": "C:N_C:0", "foundation_model": None}},
        {"uuid": "b", "index": 1, "output": {**common, "calculation_id": "C:N_C:+1", "backend": "sevennet",
                                             "foundation_model": foundation}},
    ], key="uuid")
    rows = potential_rows(store)
    assert [(row["calculation_id"], row["backend"], row["foundation_model"]) for row in rows] == [
        ("C:N_C:+1", "sevennet", "7net-0"), ("C:N_C:0", "mace", None)]

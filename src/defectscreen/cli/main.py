"""``defectscreen``: submit campaigns, run workers, watch progress, query results.

Only click is imported here: each command imports what it uses, so ``--help`` and a wrong option answer at once.
"""

from __future__ import annotations

import csv
import json
import logging
import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import click

from defectscreen.cli.amorphous import amorphous
from defectscreen.cli.analyze import analyze
from defectscreen.cli.errors import CommandGroup
from defectscreen.cli.hamiltonian import hamiltonian
from defectscreen.cli.options import (
    NON_NEGATIVE,
    POSITIVE,
    console,
    ordered_pair,
    output_folder,
    output_path,
    storage_settings,
)
from defectscreen.cli.potential import potential
from defectscreen.defaults import DEFAULT_LOST_AFTER_S

if TYPE_CHECKING:
    from defectscreen.storage import StorageSettings


@click.group(cls=CommandGroup)
@click.version_option(package_name="defectscreen")
def cli() -> None:
    """High-throughput point-defect screening on FireWorks, jobflow and maggma.

    Data live in the embedded store (./defectscreen-data) unless DEFECTSCREEN_MONGO_URI
    or the config file names a MongoDB server.
    """


#: the option that pauses a campaign's superseded jobs
DROP_SUPERSEDED = click.option(
    "--drop-superseded", is_flag=True,
    help="pause the queued jobs that earlier versions of this campaign added and this version does not use (a job "
    "another campaign waits on is kept; a later version that uses one again resumes it)")


def _submit(campaign_path: str, settings: StorageSettings, drop_superseded: bool) -> None:
    from defectscreen.builders.chain import COLLECTIONS
    from defectscreen.flows.campaign import CampaignError, load_campaign
    from defectscreen.storage.submission import submit_campaign

    try:
        campaign, base_dir = load_campaign(campaign_path)
        report = submit_campaign(campaign, base_dir, settings.launchpad(),
                                 settings.collection("campaigns", COLLECTIONS["campaigns"]),
                                 settings.collection("amorphous_hosts", COLLECTIONS["amorphous_hosts"]),
                                 lambda line: console().print(line, soft_wrap=True), drop_superseded)
    except CampaignError as error:
        raise click.ClickException(str(error)) from None
    console().print(
        f"campaign [bold]{campaign.name}[/]: {report.new_jobs} new job(s) submitted, "
        f"{report.already_submitted} already on the LaunchPad ({settings.mode} store)"
    )
    for host, count in report.jobs_per_host.items():
        console().print(f"  {host}: {count} new")
    for change in report.settings_changes:
        console().print(f"[yellow]formation settings changed[/] {change}")
    if report.resumed:
        console().print(f"resumed {len(report.resumed)} job(s) an earlier submission dropped: {_listed(report.resumed)}",
                         soft_wrap=True)
    if report.dropped:
        console().print(f"paused {len(report.dropped)} superseded job(s): {_listed(report.dropped)}", soft_wrap=True)
    if report.kept:
        console().print(f"[yellow]kept {len(report.kept)} superseded job(s)[/] that a job of another campaign waits on "
                         f"or that started meanwhile: {_listed(report.kept)}", soft_wrap=True)
    if report.superseded and not drop_superseded:
        console().print(f"[yellow]{len(report.superseded)} queued job(s) of earlier versions of {campaign.name} are not "
                         f"part of this one[/] and will still run: {_listed(report.superseded)}; `defectscreen submit "
                         f"--drop-superseded {campaign_path}` pauses them", soft_wrap=True)


def _listed(names: list[str], shown: int = 5) -> str:
    """The first ``shown`` names, and how many more."""
    return ", ".join(names[:shown]) + (f" and {len(names) - shown} more" if len(names) > shown else "")


@cli.command()
@click.argument("campaign_path", type=click.Path(dir_okay=False))
@DROP_SUPERSEDED
def submit(campaign_path: str, drop_superseded: bool) -> None:
    """Validate CAMPAIGN_PATH and add its missing jobs to the LaunchPad."""
    _submit(campaign_path, storage_settings(), drop_superseded)


@cli.command()
@click.option("--max-jobs", type=click.IntRange(min=0), default=0, show_default=True,
              help="stop after this many jobs (0: until none is READY)")
@click.option("--lost-after", type=NON_NEGATIVE, default=DEFAULT_LOST_AFTER_S, show_default=True,
              help="seconds without a ping after which a RUNNING job is rerun")
@click.option("--wait", "wait_s", type=POSITIVE, default=None,
              help="keep polling for new jobs every WAIT seconds instead of stopping")
@click.option("--ranks", type=click.IntRange(min=1), default=None,
              help="MPI ranks of each GPAW calculation (mpiexec -n RANKS; the launcher from DEFECTSCREEN_MPIEXEC)  "
                   "[default: 1, in this process]")
def worker(max_jobs: int, lost_after: float, wait_s: float | None, ranks: int | None) -> None:
    """Run jobs from the LaunchPad in this process (start as many as you like, anywhere)."""
    _set_ranks(ranks)
    _work(storage_settings(), max_jobs=max_jobs, lost_after_s=lost_after, wait_for_jobs_s=wait_s)


def _set_ranks(ranks: int | None) -> None:
    """MPI ranks per GPAW calculation for the jobs this process runs and the workers it starts."""
    from defectscreen.engines.ranks import RANKS_VARIABLE

    if ranks is not None:
        os.environ[RANKS_VARIABLE] = str(ranks)


def _work(settings: StorageSettings, **options) -> None:
    """Run jobs in this process (``options`` as :func:`run_worker`'s), their output in the worker's log; then the
    status and one line per failed job."""
    from defectscreen.storage.worker import run_worker, worker_log

    console().print(f"running jobs; their output and the tracebacks of failed jobs go to {worker_log(settings)}")
    recovered = run_worker(settings, **options)
    if recovered:
        console().print(f"re-queued lost job(s): {recovered}")
    _print_status(settings)


@cli.command()
@click.option("--lost-after", type=NON_NEGATIVE, default=DEFAULT_LOST_AFTER_S, show_default=True,
              help="seconds without a ping after which a RUNNING job counts as lost")
@click.option("--failed", is_flag=True, help="also put failed jobs back in the queue (once what made them fail is "
              "fixed: a node that died, a walltime, memory)")
@click.option("--host", default=None, help="with --failed: only this host's failed jobs")
def recover(lost_after: float, failed: bool, host: str | None) -> None:
    """Find RUNNING jobs whose worker died (kill -9, node failure) and make them READY again; with --failed, failed
    jobs too."""
    from defectscreen.storage.worker import recover_lost_runs, rerun_failed_jobs

    if host is not None and not failed:
        raise click.UsageError("--host selects failed jobs to rerun: add --failed")
    settings = storage_settings()
    launchpad = settings.launchpad()
    lost = recover_lost_runs(launchpad, lost_after, settings.job_store())
    console().print(f"re-queued {len(lost)} lost job(s): {lost}")
    if failed:
        rerun = rerun_failed_jobs(launchpad, host)
        console().print(f"re-queued {len(rerun)} failed job(s){f' of {host}' if host else ''}: {rerun}")


#: seconds between two looks at the LaunchPad for jobs that ended, while `defectscreen run` waits for its workers.
PROGRESS_INTERVAL_S = 2.0


@cli.command()
@click.argument("campaign_path", type=click.Path(dir_okay=False))
@click.option("--workers", type=click.IntRange(min=1), default=None,
              help="worker processes on this machine  [default: one per CPU core, divided by --ranks]")
@click.option("--ranks", type=click.IntRange(min=1), default=None,
              help="MPI ranks of each GPAW calculation  [default: 1]")
@DROP_SUPERSEDED
def run(campaign_path: str, workers: int | None, ranks: int | None, drop_superseded: bool) -> None:
    """Submit CAMPAIGN_PATH and run local workers until every job has finished, with a line per job as it ends; then
    say what was computed, what failed and what to run next."""
    from defectscreen.storage.progress import ENDED, completed_jobs_by_kind
    from defectscreen.storage.worker import start_workers, worker_log

    settings = storage_settings()
    started = time.monotonic()
    _submit(campaign_path, settings, drop_superseded)
    launchpad = settings.launchpad()
    known = {launch["launch_id"] for launch in launchpad.launches.find(ENDED, {"launch_id": 1})}
    _set_ranks(ranks)
    workers = workers or max(1, (os.cpu_count() or 1) // (ranks or 1))
    console().print(f"running jobs in {workers} worker process(es); their output and the tracebacks of failed jobs "
                     f"go to {worker_log(settings).parent / 'worker-*.log'}", soft_wrap=True)
    processes = start_workers(workers)
    _follow(launchpad, processes, known, started)
    stopped_abnormally = [process.returncode for process in processes if process.returncode != 0]
    if stopped_abnormally:
        console().print(f"[red]{len(stopped_abnormally)} worker process(es) stopped with an error[/] (exit codes "
                         f"{stopped_abnormally}); see their logs", soft_wrap=True)
    failed = _print_status(settings)
    minutes, seconds = divmod(round(time.monotonic() - started), 60)
    done = completed_jobs_by_kind(launchpad)
    console().print(f"finished in {minutes} min {seconds:02d} s: {sum(done.values())} job(s) done ("
                     + ", ".join(f"{kind} {count}" for kind, count in sorted(done.items()))
                     + f"), {len(failed)} failed" + (" (listed above; tracebacks in the workers' logs)" if failed else ""),
                     soft_wrap=True)
    console().print("next: defectscreen report --out report.html   (formation energies, transition levels, "
                     "summaries and the HTML report)", soft_wrap=True)


def _follow(launchpad, processes: list, known: set[int], started: float) -> None:
    """Until every worker process has stopped: a line for each job that ends (its launch id not in ``known``), with
    the minutes since ``started`` (time.monotonic)."""
    from rich.markup import escape

    from defectscreen.storage.progress import finished_jobs

    while True:
        running = any(process.poll() is None for process in processes)
        for job in finished_jobs(launchpad, known):
            known.add(job.launch_id)
            minutes, seconds = divmod(round(time.monotonic() - started), 60)
            took = "" if job.runtime_s is None else f" ({job.runtime_s:.0f} s)"
            ended = f"[red]failed[/] {escape(job.job_name)}{took}: {escape(job.reason)}" if job.failed else \
                f"done {escape(job.job_name)}{took}"
            console().print(f"{minutes:3d}:{seconds:02d} {ended}", soft_wrap=True, highlight=False)
        if not running:
            return
        time.sleep(PROGRESS_INTERVAL_S)


def _print_status(settings: StorageSettings) -> list:
    """The jobs per host and state, progress bars and a line per failed job; returns the failed jobs."""
    from rich.markup import escape
    from rich.progress import BarColumn, Progress, TextColumn
    from rich.table import Table

    from defectscreen.storage.progress import failures, host_progress

    launchpad = settings.launchpad()
    progress_by_host = host_progress(launchpad)
    if not progress_by_host:
        console().print("no jobs on the LaunchPad; submit a campaign first")
        return []
    table = Table(title=f"defectscreen jobs ({settings.mode} store)")
    states = ("waiting", "running", "done", "failed",
              *(("dropped",) if any(counts["dropped"] for counts in progress_by_host.values()) else ()))
    for column in ("host", *states):
        table.add_column(column, justify="left" if column == "host" else "right")
    for host, counts in progress_by_host.items():
        table.add_row(host, *(str(counts[state]) for state in states))
    console().print(table)
    with Progress(TextColumn("{task.description:>12}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
                  console=console(), auto_refresh=False) as bars:
        for host, counts in progress_by_host.items():
            bars.add_task(host, total=sum(counts.values()) - counts["dropped"],
                          completed=counts["done"] + counts["failed"])
        bars.refresh()
    failed = failures(launchpad)
    for failure in failed:
        console().print(f"[red]failed[/] {escape(failure.job_name)}: {escape(failure.reason)}"
                         + (f" (job folder {escape(failure.job_dir)})" if failure.job_dir else ""), soft_wrap=True)
    return failed


@cli.command()
def status() -> None:
    """Jobs per host: waiting, running, done, failed (with reasons)."""
    _print_status(storage_settings())


@cli.command()
@click.option("--host", help="host label, e.g. GaN")
@click.option("--defect", help="defect name, e.g. C_N or v_Ga")
@click.option("--element", help="element added or removed by the defect (task documents)")
@click.option("--type", "defect_type", type=click.Choice(["bulk", "vacancy", "substitution", "antisite", "interstitial",
                                                           "competing_phase"]))
@click.option("--charge", type=int, help="charge state (task documents)")
@click.option("--task", "task_label", type=click.Choice(["relax", "static"]))
@click.option("--level-window", nargs=2, type=float, metavar="MIN MAX", callback=ordered_pair, help="a transition level MIN..MAX eV above the VBM")
@click.option("--deep-level", type=NON_NEGATIVE, metavar="EV", help="a transition level at least EV from both band edges")
@click.option("--huang-rhys", nargs=2, type=NON_NEGATIVE, metavar="MIN MAX", callback=ordered_pair, help="largest total S of the defect's pairs in MIN..MAX")
@click.option("--capture-above", type=NON_NEGATIVE, metavar="CM3_S", help="largest C = f C̃/s (300 K, W_if known) above")
@click.option("--capture-per-w2-above", type=NON_NEGATIVE, metavar="CM3_S", help="largest C/W_if² (300 K) above")
@click.option("--formation-below", type=float, metavar="EV", help="lowest formation energy at --fermi-level and --limit below")
@click.option("--fermi-level", type=float, default=0.0, show_default=True, help="eV above the VBM, for --formation-below")
@click.option("--mu-limit", "--limit", "limit", metavar="NAME",
              help="chemical-potential limit of --formation-below, e.g. Ga-rich (default: each host's first; "
              "--limit is the old name)")
@click.option("--format", "output_format", type=click.Choice(["table", "json", "csv"]), default="table", show_default=True)
def query(host, defect, element, defect_type, charge, task_label, level_window, deep_level, huang_rhys, capture_above,
          capture_per_w2_above, formation_below, fermi_level, limit, output_format) -> None:
    """Stored documents matching every filter given: task documents, or, with any physics filter, the defect
    summaries `defectscreen build` made."""
    from defectscreen.builders.chain import COLLECTIONS
    from defectscreen.storage.query import (
        ROW_FIELDS,
        SUMMARY_FIELDS,
        current_versions,
        query_summaries,
        query_tasks,
        summary_criteria,
        task_criteria,
        with_ensemble_members,
    )

    settings = storage_settings()
    physics = (level_window, deep_level, huang_rhys, capture_above, capture_per_w2_above, formation_below, limit)
    if any(value not in (None, ()) for value in physics):
        if element is not None or charge is not None or task_label is not None:
            raise click.UsageError("--element, --charge and --task filter task documents; drop them with physics filters")
        store = settings.collection("summaries", COLLECTIONS["summaries"])
        store.connect()
        criteria = summary_criteria(with_ensemble_members(store, "host", host),
                                    with_ensemble_members(store, "defect_name", defect), defect_type,
                                    level_window or None, deep_level, huang_rhys or None, capture_above,
                                    capture_per_w2_above, current_versions(_campaigns(settings)))
        try:
            rows = query_summaries(store, criteria, formation_below, fermi_level, limit)
        except ValueError as error:
            raise click.UsageError(str(error)) from None
        _print_rows(rows, SUMMARY_FIELDS, "defect summaries", output_format)
        return
    store = settings.job_store()
    store.connect()
    rows = query_tasks(store, task_criteria(with_ensemble_members(store, "output.labels.host", host),
                                            with_ensemble_members(store, "output.labels.defect_name", defect),
                                            element, defect_type, charge, task_label))
    _print_rows(rows, ROW_FIELDS, "task document(s)", output_format, hidden=("uuid",))


def _print_rows(rows: list[dict], fields: tuple[str, ...], title: str, output_format: str,
                hidden: tuple[str, ...] = ()) -> None:
    if output_format == "json":
        click.echo(json.dumps(rows, indent=2))
    elif output_format == "csv":
        writer = csv.DictWriter(sys.stdout, fieldnames=fields)
        writer.writeheader()
        writer.writerows({key: json.dumps(value) if isinstance(value, list | dict) else value
                          for key, value in row.items()} for row in rows)
    else:
        from rich.table import Table

        table = Table(title=f"{len(rows)} {title}")
        shown = [field for field in fields if field not in hidden]
        for column in shown:
            table.add_column(column)
        for row in rows:
            table.add_row(*(_cell(row[column]) for column in shown))
        console().print(table)


def _cell(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.4f}" if 1e-3 <= abs(value) < 1e6 else f"{value:.4g}"
    if isinstance(value, list) and value and isinstance(value[0], str):
        return f"{len(value)} (see --format json)"
    if isinstance(value, list) and value and isinstance(value[0], dict):
        return ", ".join(f"{v['charges']}: {v['level_eV']:.3f}" for v in value)
    return str(value)


@cli.command()
def build() -> None:
    """Run the builders: tasks -> defects -> formation energies -> summaries -> report. Only new or changed inputs
    are processed, so running it again after more jobs finished is cheap (`mrun builders/pipeline.py` does the same)."""
    _run_builders(storage_settings(), report_counts=True)


def _run_builders(settings: StorageSettings, report_counts: bool) -> None:
    """Every builder of the pipeline in order; their warnings (what was skipped and why) go to the console."""
    from maggma.cli.serial import serial

    from defectscreen.reports.report_builder import report_pipeline

    for builder in report_pipeline(settings):
        handler = logging.StreamHandler(sys.stderr)
        handler.setLevel(logging.WARNING)
        handler.setFormatter(logging.Formatter(f"[{type(builder).__name__}] %(message)s"))
        builder.logger.addHandler(handler)
        serial(builder, no_bars=True)
        builder.logger.removeHandler(handler)
        if report_counts:
            console().print(f"{type(builder).__name__}: {getattr(builder, 'total', 0)} item(s) with new or changed "
                          f"inputs -> {', '.join(target.collection_name for target in builder.targets)}")


@cli.command()
@click.option("--host", help="host label, e.g. CdTe (default: every host)")
@click.option("--json", "as_json", is_flag=True, help="print the search (and benchmark) documents as JSON")
def search(host: str | None, as_json: bool) -> None:
    """Structure searches: candidates, unique surrogate minima, those sent to the engine, the ground state chosen,
    and, for campaigns with search.benchmark, the comparison with the full reference search; a training host's
    defects show their full search."""
    from rich.table import Table

    from defectscreen.storage.query import SEARCH_FIELDS, structure_searches

    settings = storage_settings()
    store = settings.job_store()
    store.connect()
    found = structure_searches(store, _campaigns(settings), host)
    if not found["rows"] and not found["full_searches"]:
        raise click.ClickException("no structure searches stored; add structure_search to the campaign's properties "
                                   "and run its jobs")
    if as_json:
        click.echo(json.dumps({key: found[key] for key in ("searches", "benchmarks", "full_searches")}, indent=2,
                              default=str))
        return
    table = Table(title="structure searches (surrogate minima -> reference relaxations)")
    for column in ("defect", "candidates", "unique minima", "sent to engine", "ground state", "E_gs − E_unperturbed (eV)",
                   "surrogate learned from", "full search: saved %", "found", "speed-up"):
        table.add_column(column)
    formats = {"ground_state_lowering_eV": "{:.3f}", "saved_percent": "{:.0f}", "speedup": "{:.1f}"}
    for row in found["rows"]:
        table.add_row(*("(running)" if field == "ground_state" and row[field] is None else "" if row[field] is None
                        else formats.get(field, "{}").format(row[field]) for field in SEARCH_FIELDS))
    console().print(table)


def _campaigns(settings: StorageSettings):
    """The ``campaigns`` collection (newest submitted version of each campaign), connected."""
    from defectscreen.builders.chain import COLLECTIONS

    campaigns = settings.collection("campaigns", COLLECTIONS["campaigns"])
    campaigns.connect()
    return campaigns


@cli.command()
@click.option("--host", help="host label, e.g. GaN (default: every host)")
@click.option("--json", "as_json", is_flag=True,
              help="print the formation-energy documents as JSON (each host's defects under 'defects')")
@click.option("--plot", "plot_dir", type=click.Path(file_okay=False), callback=output_folder,
              help="write <host>_formation.png per host here (and, for Kumagai–Oba corrections, "
              "<host>_<defect>_<q>_site_potentials.png per charged defect)")
def formation(host: str | None, as_json: bool, plot_dir: str | None) -> None:
    """Transition levels, chemical-potential limits and charge-neutral Fermi levels built by `defectscreen build`."""
    from rich.table import Table

    from defectscreen.builders.chain import COLLECTIONS
    from defectscreen.reports.plots import plot_formation_energies, plot_site_potentials
    from defectscreen.schemas import DefectChargeDocument, FormationEnergyDocument
    from defectscreen.schemas.formation import settings_key
    from defectscreen.storage.query import current_versions, defect_formations

    settings = storage_settings()
    store = settings.collection("formation_energies", COLLECTIONS["formation_energies"])
    store.connect()
    defect_store = settings.collection("defect_formation_energies", COLLECTIONS["defect_formation_energies"])
    defect_store.connect()
    defects = settings.collection("defects", COLLECTIONS["defects"])
    defects.connect()
    criteria = {"campaign_sha256": {"$in": current_versions(_campaigns(settings))}}
    stored = [{k: v for k, v in doc.items() if k != "_id"}
              for doc in store.query(criteria | ({} if host is None else {"host": host}), sort={"host_id": 1})]
    if not stored:
        raise click.ClickException("no formation-energy documents; run a campaign with the formation_energy property, "
                                   "then `defectscreen build`")
    documents = [FormationEnergyDocument(**doc) for doc in stored]
    per_defect = defect_formations(defect_store, stored)
    if as_json:
        click.echo(json.dumps([{**doc.model_dump(mode="json"), "defects": [
            defect.model_dump(mode="json") for defect in per_defect[doc.host_id]]} for doc in documents], indent=2))
    for doc in documents:
        if plot_dir:
            path = plot_formation_energies(doc, per_defect[doc.host_id], Path(plot_dir) / f"{doc.host}_formation.png")
            console().print(f"wrote {path}")
            for defect in defects.query({"labels.host": doc.host, "correction.method": "kumagai",
                                         "settings_key": settings_key(doc.inputs.correction)}):
                charged = DefectChargeDocument(**{k: v for k, v in defect.items() if k != "_id"})
                name = f"{doc.host}_{charged.labels.defect_name}_{charged.labels.charge:+d}_site_potentials.png"
                console().print(f"wrote {plot_site_potentials(charged, Path(plot_dir) / name)}")
        if as_json:
            continue
        table = Table(title=f"{doc.host} ({doc.engine.name}): gap {doc.band_gap_eV:.3f} eV, "
                            f"ΔH_f {doc.host_formation_enthalpy_eV_per_atom:.3f} eV/atom")
        for column in ("defect", "transition levels (eV above VBM)",
                       *(f"E_f at VBM, {limit.name}" for limit in doc.chemical_potential_limits)):
            table.add_column(column)
        for defect in per_defect[doc.host_id]:
            levels = ", ".join(f"ε({t.charges}) {t.level_eV:.3f}" for t in defect.transition_levels) or "none in gap"
            stable = {limit.name: min(s.formation_energy_at_vbm_eV[limit.name] for s in defect.charge_states)
                      for limit in doc.chemical_potential_limits}
            table.add_row(defect.defect_name, levels, *(f"{value:.3f}" for value in stable.values()))
        console().print(table)
        for solution in doc.fermi_levels:
            console().print(f"  {solution.limit}: charge-neutral E_F = {solution.fermi_level_eV:.3f} eV at "
                             f"{solution.temperature_K:g} K (n {solution.electrons_cm3:.2e}, p {solution.holes_cm3:.2e} "
                             "cm^-3)")
        for flag in doc.flags:
            console().print(f"  [yellow]not physics:[/] {flag}", soft_wrap=True)


@cli.command()
@click.option("--host", required=True, help="amorphous host of the campaign, e.g. a-SiO2 (all its glasses)")
@click.option("--defect", required=True, help="defect without its site, e.g. v_O")
@click.option("--charge", type=int, default=0, show_default=True, help="charge state")
@click.option("--mu-limit", "limit", metavar="NAME",
              help="chemical-potential limit, e.g. O-rich (default: the first in alphabetical order)")
@click.option("--fermi-level", type=float, default=0.0, show_default=True, help="eV above the VBM (charged states)")
@click.option("--json", "as_json", is_flag=True, help="print the summary as JSON")
@click.option("--plot", "plot_dir", type=click.Path(file_okay=False), callback=output_folder,
              help="write <host>_<defect>_<q>_sites.png here: histogram and formation energy against the descriptor")
def sites(host: str, defect: str, charge: int, limit: str | None, fermi_level: float, as_json: bool,
          plot_dir: str | None) -> None:
    """A defect over the sites of an amorphous host's glasses: mean, spread, histogram, lowest sites, and for a
    vacancy the correlation with the distance between its two nearest former atoms after relaxation (the site
    ensembles `defectscreen build` stored)."""
    from defectscreen.analysis.site_ensembles import site_ensemble_at_fermi_level
    from defectscreen.builders.chain import COLLECTIONS
    from defectscreen.flows.defect_set import charge_label
    from defectscreen.reports.plots import plot_site_ensemble
    from defectscreen.schemas.amorphous import SiteEnsembleSummary
    from defectscreen.storage.query import current_site_ensembles, current_versions

    settings = storage_settings()
    stored = settings.collection("site_ensembles", COLLECTIONS["site_ensembles"])
    stored.connect()
    ensembles = {doc["limit"]: doc for doc in current_site_ensembles(
        stored, current_versions(_campaigns(settings)), host, defect, charge)}
    if not ensembles:
        raise click.ClickException(f"no formation energies of {defect} (q = {charge_label(charge)}) at glass sites "
                                   f"of {host}; give an amorphous host of a campaign with formation_energy (see "
                                   "`defectscreen query --type vacancy`), then `defectscreen build`")
    chosen = limit or next(iter(ensembles))
    if chosen not in ensembles:
        raise click.UsageError(f"--mu-limit: {host} has no chemical-potential limit '{chosen}'; known: "
                               f"{', '.join(ensembles)}")
    summary = site_ensemble_at_fermi_level(SiteEnsembleSummary.model_validate(ensembles[chosen]), fermi_level)
    energies = dict(zip(summary.sites, summary.formation_energy_eV))
    if plot_dir:
        name = f"{host}_{defect}_{charge_label(charge)}_sites.png"
        console().print(f"wrote {plot_site_ensemble(summary, Path(plot_dir) / name)}")
    if as_json:
        click.echo(json.dumps(summary.model_dump(mode="json"), indent=2))
        return
    console().print(f"{defect} (q = {charge_label(charge)}) over {len(summary.sites)} site(s) of {host}, {chosen}, "
                     f"E_F = VBM + {fermi_level:g} eV: mean {summary.mean_eV:.3f} eV, standard deviation "
                     f"{summary.standard_deviation_eV:.3f} eV, range {min(summary.formation_energy_eV):.3f} to "
                     f"{max(summary.formation_energy_eV):.3f} eV")
    console().print("  lowest: " + ", ".join(f"{site} {energies[site]:.3f} eV" for site in summary.lowest_sites))
    console().print("  per glass: " + ", ".join(f"{glass.glass} {glass.mean_eV:.3f} ± {glass.standard_deviation_eV:.3f} eV "
                                             f"({glass.sites})" for glass in summary.per_glass))
    if summary.pearson_r is not None:
        console().print(f"  correlation with the {summary.descriptor}: r = {summary.pearson_r:.2f}")
    for flag in summary.flags:
        console().print(f"  [yellow]not physics:[/] {flag}", soft_wrap=True)


@cli.command()
@click.option("--host", help="host label, e.g. MgO (default: every host)")
@click.option("--json", "as_json", is_flag=True, help="print the dielectric documents as JSON")
def dielectric(host: str | None, as_json: bool) -> None:
    """Dielectric tensors the campaigns computed (hosts[].dielectric_constant: computed): ε∞, ε_ion, ε⁰, Born
    charges and the infrared-active Γ modes, newest last."""
    from rich.table import Table

    from defectscreen.schemas import DielectricDocument

    settings = storage_settings()
    store = settings.job_store()
    store.connect()
    criteria = {"output.task_label": "dielectric", **({} if host is None else {"output.host": host})}
    documents = [DielectricDocument.model_validate(doc["output"])
                 for doc in store.query(criteria, properties=["output"], sort={"completed_at": 1})]
    if not documents:
        raise click.ClickException("no computed dielectric tensors; give a host dielectric_constant: computed in a "
                                   "campaign with engine gpaw and the formation_energy property, and run its jobs")
    if as_json:
        click.echo(json.dumps([doc.model_dump(mode="json") for doc in documents], indent=2))
        return
    for doc in documents:
        table = Table(title=f"{doc.host} ({doc.engine.name}, primitive cell, k {'x'.join(map(str, doc.kpts))}): "
                            "ε⁰ = ε∞ + ε_ion")
        for column in ("", "xx", "yy", "zz", "yz", "xz", "xy"):
            table.add_column(column)
        for name, tensor in (("ε∞", doc.epsilon_electronic), ("ε_ion", doc.epsilon_ionic), ("ε⁰", doc.epsilon_static)):
            table.add_row(name, *(f"{tensor[i][j]:.3f}" for i, j in ((0, 0), (1, 1), (2, 2), (1, 2), (0, 2), (0, 1))))
        for index, site in enumerate(doc.structure):
            born = doc.born_charges_e[index]
            table.add_row(f"Z* {site.specie.symbol}{index}", *(f"{born[i][j]:+.3f}" for i, j in
                                                                ((0, 0), (1, 1), (2, 2), (1, 2), (0, 2), (0, 1))))
        console().print(table)
        console().print("  infrared-active TO modes (meV): " + ", ".join(
            f"{mode.frequency_meV:.2f} (ε_ion share {sum(mode.epsilon_contribution[i][i] for i in range(3)) / 3:.3f})"
            for mode in doc.infrared_modes))


@cli.command()
@click.option("--host", help="host label, e.g. MgO (default: every host)")
@click.option("--json", "as_json", is_flag=True, help="print the rows as JSON")
@click.option("--plot", "plot_path", type=click.Path(dir_okay=False), callback=output_path,
              help="write the host's dispersion figure (needs --host): the potential's, the engine's dashed")
def dispersion(host: str | None, as_json: bool, plot_path: str | None) -> None:
    """Host phonon dispersions the campaigns computed (host_dispersion): source of the forces, supercell, highest
    and lowest ħω, Γ TO/LO with the Lyddane–Sachs–Teller check, engine-vs-potential errors, flags."""
    from rich.table import Table

    from defectscreen.storage.query import dispersion_rows

    if plot_path and host is None:
        raise click.UsageError("--plot draws one host: give --host")
    store = storage_settings().job_store()
    store.connect()
    rows = dispersion_rows(store, host)
    if not rows:
        raise click.ClickException("no host dispersions stored; add host_dispersion to a campaign's properties and "
                                   "run its jobs")
    if plot_path:
        from defectscreen.reports.plots import plot_host_dispersion
        from defectscreen.schemas.phonons import PhononDispersionDocument

        newest = {row["force_source"]: row["uuid"] for row in rows}
        documents = {source: PhononDispersionDocument.model_validate(
            store.query_one({"uuid": uuid}, properties=["output"])["output"]) for source, uuid in newest.items()}
        plot_host_dispersion(documents, plot_path, title=f"{host}: phonon dispersion")
    if as_json:
        click.echo(json.dumps(rows, indent=2, ensure_ascii=False))
        return
    table = Table(title="host phonon dispersions (ħω in meV)")
    for column in ("host", "forces", "atoms", "highest", "lowest", "Γ TO", "Γ LO (x)", "Π(LO/TO)² | ε⁰/ε∞",
                   "vs potential mean/max", "flags"):
        table.add_column(column)
    for row in rows:
        modes = ("–", "–") if row["gamma_TO_meV"] is None else tuple(
            ", ".join(f"{f:.1f}" for f in row[key]) for key in ("gamma_TO_meV", "gamma_LO_meV"))
        lst = "–" if row["lyddane_sachs_teller"] is None else (
            f"{row['lyddane_sachs_teller']:.3f} | " + ("–" if row["epsilon_static_ratio"] is None
                                                       else f"{row['epsilon_static_ratio']:.3f}"))
        errors = "–" if row["mean_error_meV"] is None else f"{row['mean_error_meV']:.2f} / {row['max_error_meV']:.2f}"
        table.add_row(row["host"], row["force_source"], str(row["supercell_atoms"]), f"{row['highest_meV']:.1f}",
                      f"{row['lowest_meV']:.1f}", *modes, lst, errors, "; ".join(row["flags"]) or "–")
    console().print(table)
    if plot_path:
        click.echo(f"figure: {plot_path}")


@cli.command()
@click.option("--out", "out_path", type=click.Path(dir_okay=False), default="defectscreen-report.html", show_default=True,
              callback=output_path, help="HTML file to write")
def report(out_path: str) -> None:
    """Build what changed (as `defectscreen build`) and write the stored HTML screening report to OUT."""
    from defectscreen.reports.report_builder import REPORT_ID

    settings = storage_settings()
    _run_builders(settings, report_counts=False)
    store = settings.collection("reports", "report_id")
    store.connect()
    document = store.query_one({"report_id": REPORT_ID})
    if document is None:
        raise click.ClickException("nothing to report: no formation-energy documents or host dispersions yet (run a "
                                   "campaign with the formation_energy or host_dispersion property)")
    Path(out_path).write_text(document["html"])
    console().print(f"wrote {out_path}: {document['n_defects']} defect(s) in {document['n_hosts']} host(s)")


cli.add_command(amorphous)
cli.add_command(analyze)
cli.add_command(hamiltonian)
cli.add_command(potential)

"""``defectscreen``: submit campaigns, run workers, watch progress, query results."""

from __future__ import annotations

import csv
import json
import sys

import click
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn
from rich.table import Table

from defectscreen.cli.analyze import analyze
from defectscreen.cli.potential import potential
from defectscreen.flows.campaign import CampaignError, load_campaign
from defectscreen.storage import StorageSettings
from defectscreen.storage.progress import failures, host_progress
from defectscreen.storage.query import ROW_FIELDS, query_tasks, task_criteria
from defectscreen.storage.submission import submit_campaign
from defectscreen.storage.worker import DEFAULT_LOST_AFTER_S, recover_lost_runs, run_worker

console = Console(width=None if sys.stdout.isatty() else 200)


@click.group()
@click.version_option(package_name="defectscreen")
def cli() -> None:
    """High-throughput point-defect screening on FireWorks, jobflow and maggma.

    Data live in the embedded store (./defectscreen-data) unless DEFECTSCREEN_MONGO_URI
    or the config file names a MongoDB server.
    """


def _submit(campaign_path: str, settings: StorageSettings) -> None:
    try:
        campaign, base_dir = load_campaign(campaign_path)
        report = submit_campaign(campaign, base_dir, settings.launchpad())
    except CampaignError as error:
        raise click.ClickException(str(error)) from None
    console.print(
        f"campaign [bold]{campaign.name}[/]: {report.new_jobs} new job(s) submitted, "
        f"{report.already_submitted} already on the LaunchPad ({settings.mode} store)"
    )
    for host, count in report.jobs_per_host.items():
        console.print(f"  {host}: {count} new")


@cli.command()
@click.argument("campaign_path", type=click.Path(dir_okay=False))
def submit(campaign_path: str) -> None:
    """Validate CAMPAIGN_PATH and add its missing jobs to the LaunchPad."""
    _submit(campaign_path, StorageSettings.from_environment())


@cli.command()
@click.option("--max-jobs", default=0, show_default=True, help="stop after this many jobs (0: until none is READY)")
@click.option("--lost-after", default=DEFAULT_LOST_AFTER_S, show_default=True, help="seconds without a ping after which a RUNNING job is rerun")
@click.option("--wait", "wait_s", type=float, default=None, help="keep polling for new jobs every WAIT seconds instead of stopping")
def worker(max_jobs: int, lost_after: float, wait_s: float | None) -> None:
    """Run jobs from the LaunchPad in this process (start as many as you like, anywhere)."""
    settings = StorageSettings.from_environment()
    recovered = run_worker(settings, max_jobs=max_jobs, lost_after_s=lost_after, wait_for_jobs_s=wait_s)
    if recovered:
        console.print(f"re-queued lost job(s): {recovered}")
    _print_status(settings)


@cli.command()
@click.option("--lost-after", default=DEFAULT_LOST_AFTER_S, show_default=True, help="seconds without a ping after which a RUNNING job counts as lost")
def recover(lost_after: float) -> None:
    """Find RUNNING jobs whose worker died (kill -9, node failure) and make them READY again."""
    lost = recover_lost_runs(StorageSettings.from_environment().launchpad(), lost_after)
    console.print(f"re-queued {len(lost)} lost job(s): {lost}")


@cli.command()
@click.argument("campaign_path", type=click.Path(dir_okay=False))
def run(campaign_path: str) -> None:
    """Submit CAMPAIGN_PATH and run a local worker until every job has finished."""
    settings = StorageSettings.from_environment()
    _submit(campaign_path, settings)
    run_worker(settings)
    _print_status(settings)


def _print_status(settings: StorageSettings) -> None:
    launchpad = settings.launchpad()
    progress_by_host = host_progress(launchpad)
    if not progress_by_host:
        console.print("no jobs on the LaunchPad; submit a campaign first")
        return
    table = Table(title=f"defectscreen jobs ({settings.mode} store)")
    for column in ("host", "waiting", "running", "done", "failed"):
        table.add_column(column, justify="left" if column == "host" else "right")
    for host, counts in progress_by_host.items():
        table.add_row(host, *(str(counts[state]) for state in ("waiting", "running", "done", "failed")))
    console.print(table)
    with Progress(TextColumn("{task.description:>12}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
                  console=console, auto_refresh=False) as bars:
        for host, counts in progress_by_host.items():
            bars.add_task(host, total=sum(counts.values()), completed=counts["done"] + counts["failed"])
        bars.refresh()
    failed = failures(launchpad)
    for failure in failed:
        console.print(f"[red]failed[/] {failure.job_name}: {failure.reason}")


@cli.command()
def status() -> None:
    """Jobs per host: waiting, running, done, failed (with reasons)."""
    _print_status(StorageSettings.from_environment())


@cli.command()
@click.option("--host", help="host label, e.g. GaN")
@click.option("--defect", help="defect name, e.g. C_N or v_Ga")
@click.option("--element", help="element added or removed by the defect")
@click.option("--type", "defect_type", type=click.Choice(["bulk", "vacancy", "substitution", "antisite", "interstitial"]))
@click.option("--charge", type=int)
@click.option("--task", "task_label", type=click.Choice(["relax", "static"]))
@click.option("--format", "output_format", type=click.Choice(["table", "json", "csv"]), default="table", show_default=True)
def query(host, defect, element, defect_type, charge, task_label, output_format) -> None:
    """Stored task documents matching every filter given."""
    store = StorageSettings.from_environment().job_store()
    store.connect()
    rows = query_tasks(store, task_criteria(host, defect, element, defect_type, charge, task_label))
    if output_format == "json":
        click.echo(json.dumps(rows, indent=2))
    elif output_format == "csv":
        writer = csv.DictWriter(sys.stdout, fieldnames=ROW_FIELDS)
        writer.writeheader()
        writer.writerows(rows)
    else:
        table = Table(title=f"{len(rows)} task document(s)")
        for column in ROW_FIELDS[:-1]:
            table.add_column(column)
        for row in rows:
            table.add_row(*(f"{row[c]:.4f}" if isinstance(row[c], float) else str(row[c]) for c in ROW_FIELDS[:-1]))
        console.print(table)


cli.add_command(analyze)
cli.add_command(potential)

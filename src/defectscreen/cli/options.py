"""What the commands share: option types (input files, output paths checked before any work, physical ranges) and
the checked storage settings."""

from __future__ import annotations

import os
import sys
from functools import cache
from pathlib import Path

import click

#: an existing file to read.
FILE = click.Path(exists=True, dir_okay=False)
POSITIVE = click.FloatRange(min=0.0, min_open=True)
NON_NEGATIVE = click.FloatRange(min=0.0)


def output_path(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """Click callback for an output file or file-name prefix: its folder exists and can be written, and it is not
    itself a folder, checked before the command computes anything."""
    if value is None:
        return None
    path = Path(value).expanduser()
    folder = path.resolve().parent
    if path.is_dir():
        raise click.BadParameter(f"{value} is a folder; give a file name, e.g. {Path(value) / 'out'}", ctx, param)
    if not folder.is_dir():
        raise click.BadParameter(f"folder {folder} does not exist; create it first or write elsewhere", ctx, param)
    if not os.access(folder, os.W_OK):
        raise click.BadParameter(f"folder {folder} is not writable", ctx, param)
    return value


def output_folder(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """Click callback for an output folder: created if missing (with its parents), refused if it is a file or
    cannot be written."""
    if value is None:
        return None
    path = Path(value).expanduser()
    if path.exists() and not path.is_dir():
        raise click.BadParameter(f"{value} is a file; give a folder", ctx, param)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise click.BadParameter(f"cannot create folder {value}: {error.strerror}", ctx, param) from None
    if not os.access(path, os.W_OK):
        raise click.BadParameter(f"folder {value} is not writable", ctx, param)
    return value


def ordered_pair(ctx: click.Context, param: click.Parameter, value: tuple[float, float]) -> tuple[float, float]:
    """Click callback for a MIN MAX pair: MIN ≤ MAX."""
    if value and value[0] > value[1]:
        raise click.BadParameter(f"MIN {value[0]:g} > MAX {value[1]:g}; give MIN first", ctx, param)
    return value


def storage_settings():
    """The storage settings of the environment, checked: a malformed setting, or a MongoDB server that does not
    answer within 5 s, stops the command with one line."""
    from defectscreen.storage import StorageSettings

    settings = StorageSettings.from_environment()
    settings.check_server()
    return settings


@cache
def console():
    """The console of every command; no emoji codes: ids such as phase:O2:O2 hold rich's ':o2:'."""
    from rich.console import Console

    return Console(width=None if sys.stdout.isatty() else 200, emoji=False)

"""What a user sees when a command fails: one line naming the cause and the fix; the full trace goes to a log file
whose path the line gives. No Python traceback reaches the console."""

from __future__ import annotations

import os
import sys
import tempfile
import time
import traceback
from pathlib import Path

import click

#: exceptions whose message is written for a user (a setting, a file, a campaign field and its fix): ValueError
#: covers CampaignError, InputFileError, StorageSettingsError and UnicodeDecodeError, which derive from it.
USER_ERRORS = ("ValueError", "FileNotFoundError", "FileExistsError", "PermissionError", "IsADirectoryError",
               "NotADirectoryError")


class CommandGroup(click.Group):
    """A click group whose commands (and subgroups) fail with one line instead of a traceback."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except (click.exceptions.ClickException, click.exceptions.Abort, click.exceptions.Exit):
            raise
        except KeyboardInterrupt:
            raise click.ClickException("interrupted; what was stored stays stored: run the command again to go on "
                                       "(`defectscreen recover` re-queues a job this stopped)") from None
        except Exception as error:  # noqa: BLE001 - every other failure becomes one line and a log file
            command = f"{ctx.info_name} {ctx.invoked_subcommand or ''}".strip()
            raise click.ClickException(describe(error, command)) from None


def log_directory() -> Path:
    """``<data dir>/logs`` as the environment sets it (DEFECTSCREEN_DATA_DIR, default ./defectscreen-data), or the
    system's temporary folder where that cannot be written."""
    folder = Path(os.environ.get("DEFECTSCREEN_DATA_DIR", "defectscreen-data")) / "logs"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        if os.access(folder, os.W_OK):
            return folder.resolve()
    except OSError:
        pass
    return Path(tempfile.gettempdir())


def describe(error: BaseException, command: str) -> str:
    """One line for ``error`` raised by ``command``; its traceback is written to a log file named in the line."""
    log = log_directory() / f"{command.replace(' ', '-')}-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}.log"
    log.write_text(f"$ {' '.join(sys.argv)}\n\n{''.join(traceback.format_exception(error))}")
    kind = type(error)
    names = {cls.__name__ for cls in kind.__mro__}
    if "ValidationError" in names and kind.__module__.startswith("pydantic"):
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'value'}: {e['msg']}" for e in error.errors())
        message = f"invalid setting: {problems}"
    elif "ConnectionFailure" in names:  # ServerSelectionTimeoutError among them
        message = ("cannot reach the MongoDB server that DEFECTSCREEN_MONGO_URI (or mongo_uri in defectscreen.yaml) "
                   f"names: {str(error).split(',')[0]}; start it, or unset the URI to use the embedded store")
    elif "OperationFailure" in names and getattr(error, "code", None) in (13, 18):
        message = ("the MongoDB server refused these credentials (code "
                   f"{error.code}): check the user and password in DEFECTSCREEN_MONGO_URI and its authSource")
    elif names & set(USER_ERRORS):
        message = str(error).strip() or kind.__name__
    elif isinstance(error, OSError):
        message = f"{error.strerror or kind.__name__}: {error.filename or error}"
    else:
        message = f"{kind.__name__}: {error} (an unexpected failure; please report it with the log)"
    return f"{message}\n  full trace: {log}"

"""DFT across MPI ranks from a one-process worker: a calculation runs as ``mpiexec -n N python -m
defectscreen.engines.ranks`` while the worker (one FireWorks process, one job at a time) waits for its result.

Every rank calls the same function with the same arguments (GPAW divides the work over its MPI world: real-space
domains); rank 0 hands back the return value, or the exception, which the worker raises as if the function had run
in it. N is the worker's (``defectscreen worker --ranks N``, the environment variable ``DEFECTSCREEN_MPI_RANKS``):
how many cores a node gives one worker is a property of the node, not of the calculation, so it is not part of the
engine settings and the documents do not depend on it. Output of the ranks goes to ``ranks.log`` in the job's
directory.

Launcher: ``DEFECTSCREEN_MPIEXEC`` (default ``mpiexec``; e.g. ``srun`` inside a SLURM allocation). Open MPI is told
not to bind ranks to cores (two workers on one node would otherwise share the same cores) and may run as root.
"""

from __future__ import annotations

import ctypes
import os
import pickle
import shlex
import signal
import subprocess
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from defectscreen.engines.base import GpawSettings, XtbSettings

#: environment variable holding the MPI ranks of one calculation
RANKS_VARIABLE = "DEFECTSCREEN_MPI_RANKS"
#: environment variable holding the MPI launcher
LAUNCHER_VARIABLE = "DEFECTSCREEN_MPIEXEC"
#: environment of the ranks: GPAW's own MPI (what ``gpaw python`` sets), one thread each; Open MPI not binding
#: ranks to cores and allowed to run as root (containers)
RANKS_ENVIRONMENT = {"GPAW_MPI_BACKEND": "cgpaw", "OMP_NUM_THREADS": "1", "OMPI_MCA_hwloc_base_binding_policy": "none",
                     "OMPI_ALLOW_RUN_AS_ROOT": "1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1"}

#: prctl option: the signal this process gets when its parent dies
PR_SET_PDEATHSIG = 1
#: engines whose calculations run across MPI ranks
PARALLEL_ENGINES = {"gpaw"}

Result = TypeVar("Result")


class RanksFailedError(RuntimeError):
    """The MPI ranks ended without a result (killed, out of memory, a crash in compiled code)."""


def mpi_ranks() -> int:
    """MPI ranks per calculation of this worker (1: in the worker process)."""
    value = os.environ.get(RANKS_VARIABLE, "1")
    try:
        ranks = int(value)
    except ValueError:
        ranks = 0
    if ranks < 1:
        raise ValueError(f"{RANKS_VARIABLE}={value!r}: give a whole number of MPI ranks >= 1 "
                         "(defectscreen worker --ranks N)")
    return ranks


def on_ranks(engine: XtbSettings | GpawSettings, function: Callable[..., Result], *args: Any, **kwargs: Any) -> Result:
    """``function(*args, **kwargs)``, a calculation with ``engine``: on the worker's :func:`mpi_ranks` where the engine
    divides its work over MPI ranks (GPAW), else in this process. ``function`` must be importable by name and its
    arguments and result picklable."""
    ranks = mpi_ranks() if engine.name in PARALLEL_ENGINES else 1
    if ranks == 1:
        return function(*args, **kwargs)
    workdir = Path.cwd()
    call, answer, log = workdir / "ranks_call.pkl", workdir / "ranks_result.pkl", workdir / "ranks.log"
    call.write_bytes(pickle.dumps((function, args, kwargs)))
    answer.unlink(missing_ok=True)
    command = [*shlex.split(os.environ.get(LAUNCHER_VARIABLE, "mpiexec")), "-n", str(ranks), sys.executable, "-m",
               "defectscreen.engines.ranks", str(call), str(answer)]
    with open(log, "a") as output:
        output.write(f"$ {shlex.join(command)}\n")
        output.flush()
        returncode = subprocess.run(command, stdin=subprocess.DEVNULL, stdout=output, stderr=subprocess.STDOUT,
                                    env={**os.environ, **RANKS_ENVIRONMENT}, preexec_fn=_end_with_worker).returncode
    if not answer.exists():
        raise RanksFailedError(f"{function.__name__} on {ranks} MPI ranks ended (exit code {returncode}) without a "
                               f"result; the ranks' output is in {log}")
    failed, value = pickle.loads(answer.read_bytes())
    call.unlink()
    answer.unlink()
    if failed:
        raise value
    return value


def _end_with_worker() -> None:
    """In the launcher's process before it starts: be killed when the worker dies (Linux ``PR_SET_PDEATHSIG``), so a
    worker killed mid-job (kill -9, a lost node's job killed by the queue) leaves no ranks computing a job that
    recovery gives to another worker."""
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def _run(call: Path, answer: Path) -> None:
    """One rank: call the function; rank 0 writes (failed, result or exception) to ``answer``."""
    from gpaw.mpi import world

    function, args, kwargs = pickle.loads(call.read_bytes())
    try:
        outcome = (False, function(*args, **kwargs))
    except Exception as error:  # noqa: BLE001 - handed to the worker, which raises it
        traceback.print_exc()
        outcome = (True, error)
    if world.rank == 0:
        try:
            encoded = pickle.dumps(outcome)
        except Exception as error:  # noqa: BLE001 - handed to the worker, which raises it
            reason = f"{type(outcome[1]).__name__}: {outcome[1]}" if outcome[0] else \
                f"{function.__name__} returned what cannot be pickled ({error})"
            encoded = pickle.dumps((True, RuntimeError(reason)))
        answer.with_suffix(".partial").write_bytes(encoded)
        answer.with_suffix(".partial").rename(answer)


if __name__ == "__main__":
    _run(Path(sys.argv[1]), Path(sys.argv[2]))

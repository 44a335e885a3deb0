"""SLEPc (shift-and-invert spectrum slicing, MUMPS factorization) for the modes in a frequency window.

pip builds PETSc from source (> 40 min here); Debian's python3-slepc4py installs in seconds but is
built against Debian's numpy 1.x, so it runs in the system Python (install/install.sh installs it),
or the interpreter named by DEFECTSCREEN_SLEPC_PYTHON. The matrix travels as CSR arrays in one
.npz file; slepc_window.py returns eigenvalues and projections, never the eigenvectors.
"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from defectscreen.physics.units import MEV_PER_SQRT_EIGENVALUE

_PETSC_DIR = "/usr/lib/petscdir/petsc3.18/x86_64-linux-gnu-real"
_SLEPC_DIR = "/usr/lib/slepcdir/slepc3.18/x86_64-linux-gnu-real"
DEFAULT_SLEPC_TOLERANCE = 1e-10


class SlepcUnavailableError(RuntimeError):
    """No Python with slepc4py, or SLEPc failed; the message says which and what to do."""


@dataclass(frozen=True)
class WindowModes:
    """Modes with ħω inside [lower, upper] meV: eigenvalues λ_k (eV/(Å² amu)), e_k·v, IPR, relative residuals."""

    eigenvalues: np.ndarray
    projections: np.ndarray
    participation: np.ndarray
    relative_residuals: np.ndarray
    iterations: int
    window_meV: tuple[float, float]


def _die_with_parent() -> None:
    """Linux prctl(PR_SET_PDEATHSIG, SIGKILL): a killed caller does not leave SLEPc running."""
    ctypes.CDLL(None).prctl(1, int(signal.SIGKILL), 0, 0, 0)


def _environment() -> dict:
    return {**os.environ, "PETSC_DIR": os.environ.get("PETSC_DIR", _PETSC_DIR),
            "SLEPC_DIR": os.environ.get("SLEPC_DIR", _SLEPC_DIR)}


def slepc_python() -> str:
    """The interpreter with slepc4py; a clear error where there is none."""
    python = os.environ.get("DEFECTSCREEN_SLEPC_PYTHON", "/usr/bin/python3")
    probe = subprocess.run([python, "-c", "import slepc4py"], capture_output=True, text=True, env=_environment())
    if probe.returncode != 0:
        raise SlepcUnavailableError(
            f"the SLEPc solver needs a Python with slepc4py and {python} has none: run install/install.sh "
            "(apt python3-slepc4py), or set DEFECTSCREEN_SLEPC_PYTHON, or choose method 'lanczos'")
    return python


def window_modes(dynamical_matrix, vector: np.ndarray, window_meV: tuple[float, float],
                 tolerance: float = DEFAULT_SLEPC_TOLERANCE) -> WindowModes:
    """All eigenpairs of D with ħω in window_meV (ħω = c sqrt(λ)); D sparse symmetric in eV/(Å² amu)."""
    lower_meV, upper_meV = window_meV
    if not 0 <= lower_meV < upper_meV:
        raise ValueError(f"window_meV = {window_meV}: give 0 ≤ lower < upper in meV")
    python = slepc_python()
    csr = sp.csr_matrix(dynamical_matrix)
    with tempfile.TemporaryDirectory(prefix="slepc-") as folder:
        source, target = Path(folder) / "input.npz", Path(folder) / "output.npz"
        np.savez(source, indptr=csr.indptr, indices=csr.indices, data=csr.data, vector=vector,
                 lower=(lower_meV / MEV_PER_SQRT_EIGENVALUE) ** 2, upper=(upper_meV / MEV_PER_SQRT_EIGENVALUE) ** 2,
                 tolerance=tolerance)
        run = subprocess.run([python, str(Path(__file__).with_name("slepc_window.py")), str(source), str(target)],
                             capture_output=True, text=True, env=_environment(), preexec_fn=_die_with_parent)
        if run.returncode != 0:
            last = (run.stderr.strip().splitlines() or ["(no output)"])[-1]
            raise SlepcUnavailableError(f"SLEPc failed: {last}")
        found = np.load(target)
        order = np.argsort(found["eigenvalues"])
        return WindowModes(
            eigenvalues=found["eigenvalues"][order], projections=found["projections"][order],
            participation=found["participation"][order], relative_residuals=found["errors"][order],
            iterations=int(found["iterations"]), window_meV=(float(lower_meV), float(upper_meV)),
        )

"""The second Python environment, where NequIP/Allegro and SevenNet live.

mace-torch pins e3nn 0.4.4; nequip >= 0.7 and sevenn need e3nn >= 0.5 (DESIGN.md). install/install.sh makes
``.venv-nequip`` next to ``.venv`` with both (or set DEFECTSCREEN_NEQUIP_PYTHON to such an interpreter). Their
trainers run as commands there; predictions and relaxations run ``environment_predict.py`` there, all frames in
one call.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from ase import Atoms
from ase.io import read, write

PREDICT_SCRIPT = Path(__file__).with_name("environment_predict.py")


class PredictionFailedError(RuntimeError):
    """The environment could not evaluate the model; the message carries its last error line."""


def equivariant_python() -> Path:
    """The interpreter of the NequIP/SevenNet environment; a clear error where there is none."""
    python = Path(os.environ.get("DEFECTSCREEN_NEQUIP_PYTHON", Path(sys.prefix).parent / ".venv-nequip" / "bin" / "python"))
    if not python.is_file():
        raise FileNotFoundError(
            f"the NequIP and SevenNet backends need their own environment (their e3nn conflicts with mace-torch's) "
            f"and {python} does not exist: run install/install.sh, or set DEFECTSCREEN_NEQUIP_PYTHON to a Python "
            "with nequip >= 0.7 and sevenn"
        )
    return python


def run_in_environment(script: Path, arguments: list[str], failure: type[Exception], what: str,
                       cwd: Path | None = None) -> None:
    """Run ``script`` with ``arguments`` in the environment; ``failure`` naming ``what`` failed and the script's
    last error line when it exits with an error."""
    finished = subprocess.run([str(equivariant_python()), "-P", str(script), *arguments], capture_output=True,
                              text=True, check=False, cwd=cwd)
    if finished.returncode != 0:
        raise failure(f"{what}: {' '.join(finished.stderr.strip().splitlines()[-1:])}")


def package_versions(packages: tuple[str, ...]) -> dict[str, str]:
    """Installed versions of ``packages`` in the environment."""
    query = f"from importlib.metadata import version as v; print(*(v(p) for p in {list(packages)!r}))"
    found = subprocess.run([str(equivariant_python()), "-c", query], capture_output=True, text=True, check=True)
    return dict(zip(packages, found.stdout.split()))


def predict_in_environment(backend: str, model_file: Path, frames: list[Atoms]) -> tuple[np.ndarray, list[np.ndarray]]:
    """Energies (eV) and forces (eV/Å) of every frame from a NequIP or SevenNet model, in one subprocess (its files
    in a folder of its own, so that processes sharing a model never share them)."""
    with tempfile.TemporaryDirectory(prefix="defectscreen-predict-") as folder:
        inputs, outputs = Path(folder, "predict_in.extxyz"), Path(folder, "predict_out.npz")
        write(inputs, [Atoms(f.numbers, positions=f.positions, cell=f.cell, pbc=f.pbc) for f in frames],
              format="extxyz")
        run_in_environment(PREDICT_SCRIPT, ["predict", backend, str(model_file), str(inputs), str(outputs)],
                           PredictionFailedError, f"{backend} prediction failed")
        result = np.load(outputs)
        energies, forces = result["energies"], result["forces"]
    return energies, np.split(forces, np.cumsum([len(f) for f in frames])[:-1])


def relax_in_environment(backend: str, model_file: Path, starts: list[Atoms], fmax_eV_per_angstrom: float,
                         max_steps: int) -> list[Atoms]:
    """FIRE relaxations at fixed cell of every start with a NequIP or SevenNet model, in one subprocess: the final
    structures, each with ``info`` energy_eV, steps and converged."""
    with tempfile.TemporaryDirectory(prefix="defectscreen-relax-") as folder:
        inputs, outputs = Path(folder, "relax_in.extxyz"), Path(folder, "relax_out.extxyz")
        write(inputs, [Atoms(a.numbers, positions=a.positions, cell=a.cell, pbc=a.pbc) for a in starts],
              format="extxyz")
        run_in_environment(PREDICT_SCRIPT, ["relax", backend, str(model_file), str(inputs), str(outputs),
                                            str(fmax_eV_per_angstrom), str(max_steps)], PredictionFailedError,
                           f"{backend} relaxation failed")
        return read(outputs, index=":", format="extxyz")

"""Shared fixtures: an isolated project data directory per test, one thread per process."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("OMP_NUM_THREADS", "1")

REPO = Path(__file__).resolve().parents[1]


def _reference_data() -> Path:
    """../shared/reference-data of the checkout (or DEFECTSCREEN_REFERENCE_DATA); tests need the real files."""
    if "DEFECTSCREEN_REFERENCE_DATA" in os.environ:
        return Path(os.environ["DEFECTSCREEN_REFERENCE_DATA"])
    for parent in REPO.parents:
        if (parent / "shared" / "reference-data").is_dir():
            return parent / "shared" / "reference-data"
    return Path("/work/shared/reference-data")


REFERENCE_DATA = _reference_data()
NV_DIAMOND = REFERENCE_DATA / "nv-diamond"
GAN_CN = REFERENCE_DATA / "gan-cn"


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh embedded store for this test, also seen by subprocesses it starts."""
    path = tmp_path / "data"
    monkeypatch.setenv("DEFECTSCREEN_DATA_DIR", str(path))
    monkeypatch.delenv("DEFECTSCREEN_MONGO_URI", raising=False)
    monkeypatch.chdir(tmp_path)
    return path


SI_CAMPAIGN = """
name: si-test
hosts:
  - {name: Si, prototype: diamond-Si}
defects:
  vacancies: true
  substitutions: {Si: [C]}
charges:
  default: [0, -1]
supercell:
  matrix: [[2, 0, 0], [0, 2, 0], [0, 0, 2]]
engine: {name: xtb}
relax: {fmax_eV_per_angstrom: 0.1, max_steps: 100}
"""


@pytest.fixture
def si_campaign(tmp_path: Path) -> Path:
    """A 16-site silicon campaign: bulk, V_Si and C_Si in two charge states (5 xTB jobs)."""
    path = tmp_path / "si.yaml"
    path.write_text(SI_CAMPAIGN)
    return path

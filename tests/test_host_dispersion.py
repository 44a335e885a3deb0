"""The host_dispersion property through FireWorks (xTB, diamond, 16-atom relaxation cell): the host's own potential
(MACE, and NequIP in its own environment) fine-tuned on its perturbed supercells gives the dispersion in a 12 Å
supercell; the engine's own dispersion in the relaxation cell is exact at the q-points that cell folds onto Γ, and
the potential's is compared with it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from pymatgen.core import Structure

from defectscreen.engines import XtbSettings
from defectscreen.flows.campaign import load_campaign
from defectscreen.jobs.reference import engine_forces_function
from defectscreen.physics.finite_displacement import force_constants_by_displacement
from defectscreen.physics.normal_modes import structure_normal_modes
from defectscreen.schemas import CalculationLabels
from defectscreen.storage import StorageSettings
from defectscreen.storage.progress import failures
from defectscreen.storage.submission import submit_campaign

CAMPAIGN = {
    "name": "dispersion-test",
    "hosts": [{"name": "C", "prototype": "diamond-C"}],
    "defects": {"vacancies": False},
    "supercell": {"matrix": [[2, 0, 0], [0, 2, 0], [0, 0, 2]]},
    "engine": {"name": "xtb"},
    "relax": {"fmax_eV_per_angstrom": 0.005, "max_steps": 200},
    "potential": {"n_structures": 20, "max_validation_force_rmse_meV_per_angstrom": 100.0,
                  "training": {"max_epochs": 100}},
    "dispersion": {"validate_with_engine": True, "points_per_segment": 11},
    "properties": ["relaxation", "host_dispersion"],
}


@pytest.mark.slow(seconds=300)
@pytest.mark.parametrize("backend", ["mace", "nequip"])
def test_host_dispersion_from_its_potential_matches_the_engine(backend: str, data_dir: Path, tmp_path: Path) -> None:
    settings = StorageSettings.from_environment()
    path = tmp_path / "dispersion.yaml"
    campaign = {**CAMPAIGN, "potential": {**CAMPAIGN["potential"], "training": {"backend": backend, "max_epochs": 100}}}
    path.write_text(yaml.safe_dump(campaign))
    campaign, base_dir = load_campaign(path)
    submitted = submit_campaign(campaign, base_dir, settings.launchpad(), settings.collection("campaigns", "name"))
    assert submitted.new_jobs == 5  # bulk relaxation, training set, potential, two dispersions
    subprocess.run([sys.executable, "-m", "defectscreen.cli", "worker"], check=True, capture_output=True, timeout=1200)
    assert failures(settings.launchpad()) == []
    store = settings.job_store()
    store.connect()
    by_uuid = {doc["uuid"]: doc["output"] for doc in store.query({}, load=True)}
    dispersions = {o["force_source"]: o for o in by_uuid.values() if o.get("task_label") == "host_dispersion"}
    learned, direct = dispersions["potential"], dispersions["engine"]

    assert learned["supercell_matrix"] == np.diag([6, 6, 6]).tolist()  # diamond's primitive cell is 2.06 Å wide
    assert direct["supercell_matrix"] == np.diag([2, 2, 2]).tolist() or abs(np.linalg.det(direct["supercell_matrix"])) == 8
    assert learned["dipole_correction"] is None and direct["flags"] == []
    # the 16-atom cell is 4.1 Å wide, less than MACE's 5 Å cutoff: the large-supercell dispersion says so
    assert len(learned["flags"]) == 1 and learned["flags"][0].startswith("the potential was trained on cells 4.1 Å")
    assert learned["potential_uuid"] in by_uuid and direct["comparison"]["potential_dispersion_uuid"] in by_uuid
    assert by_uuid[learned["potential_uuid"]]["backend"] == backend

    segments = {(s["start"], s["end"]): np.array(s["frequencies_meV"]) for s in direct["segments"]}
    gamma, x_point, l_point = segments[("Γ", "X")][0], segments[("Γ", "X")][-1], segments[("Γ", "L")][-1]
    folded = np.sort(np.concatenate([gamma, *[x_point] * 3, *[l_point] * 4]))
    relaxed = next(o for o in by_uuid.values() if o.get("task_label") == "relax")
    cell = Structure.from_dict(relaxed["structure"])
    labels = CalculationLabels(**relaxed["labels"])
    force_constants, _ = force_constants_by_displacement(
        cell, engine_forces_function(labels, XtbSettings()), 0.01)
    supercell_gamma = structure_normal_modes(cell, force_constants).frequencies_meV
    assert np.abs(folded - np.sort(supercell_gamma)).max() < 0.5, "exact where the relaxation cell folds q onto Γ"
    assert 100 < gamma.max() < 250 and np.abs(gamma[:3]).max() < 0.5  # diamond's optical Γ phonon ~165 meV

    # measured: MACE 0.30 / 1.8 meV mean / max in the same 16-atom cell (the model's error), 4.1 / 19 meV against
    # the potential's 432-atom supercell (the 16-atom cell's interpolation error on top), of a 198 meV top mode;
    # NequIP 0.46 / 0.81 and 7.2 / 42 meV (validation force RMSE 16.6 vs MACE's 11.3 meV/Å)
    comparison = direct["comparison"]
    assert comparison["same_supercell_mean_error_meV"] < 0.01 * gamma.max()
    assert comparison["same_supercell_max_error_meV"] < 0.03 * gamma.max()
    assert comparison["mean_error_meV"] < 0.05 * gamma.max()

    cli = [sys.executable, "-m", "defectscreen.cli"]
    listed = subprocess.run([*cli, "dispersion", "--json"], check=True, capture_output=True, text=True)
    rows = {row["force_source"]: row for row in json.loads(listed.stdout)}
    assert rows["potential"]["supercell_atoms"] == 432 and rows["engine"]["supercell_atoms"] == 16
    assert rows["engine"]["mean_error_meV"] == pytest.approx(comparison["mean_error_meV"])
    figure = tmp_path / "dispersion.png"
    subprocess.run([*cli, "dispersion", "--host", "C", "--plot", str(figure)], check=True, capture_output=True)
    assert figure.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    page = tmp_path / "report.html"
    subprocess.run([*cli, "report", "--out", str(page)], check=True, capture_output=True)
    html = page.read_text()
    assert "C: phonon dispersion" in html and "Engine (xtb, relaxation cell) vs potential" in html

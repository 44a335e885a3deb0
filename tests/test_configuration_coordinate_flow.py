"""The configuration_coordinate property through FireWorks on the embedded store: added to a campaign whose
relaxations already ran, it reads them by uuid and stores one CCD document per adjacent charge pair."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from pymatgen.analysis.defects.ccd import get_dQ

from defectscreen.analysis.capture import harmonic_model_flags
from defectscreen.flows.campaign import CampaignError, load_campaign
from defectscreen.physics.ccd import fit_harmonic
from defectscreen.physics.units import MEV_PER_SQRT_EIGENVALUE
from defectscreen.schemas.optics import PotentialEnergySurface
from defectscreen.storage import StorageSettings
from defectscreen.storage.submission import submit_campaign

CLI = [sys.executable, "-m", "defectscreen.cli"]


def _worker() -> None:
    subprocess.run([*CLI, "worker"], check=True, capture_output=True, timeout=1200)


def _surface(q: np.ndarray, energy_eV: np.ndarray, below_meV: float = 0.0) -> PotentialEnergySurface:
    near = np.abs(q) <= 0.2 * np.ptp(q) + 1e-12
    fit = fit_harmonic(q[near], energy_eV[near], 0.0, 0.0)
    return PotentialEnergySurface(state="lower_charge", q_amu_half_angstrom=q.tolist(), energy_eV=energy_eV.tolist(),
                                  minimum_q_amu_half_angstrom=0.0, hbar_omega_meV=fit.hbar_omega_meV,
                                  hbar_omega_source="harmonic_fit", fit_residual_meV=fit.residual_meV,
                                  energy_below_minimum_meV=below_meV)


def test_an_anharmonic_surface_or_a_relaxation_short_of_the_minimum_is_flagged() -> None:
    """A parabola (ħω 20 meV) is a harmonic surface, and so, within the tolerance, is E = ½ω²Q² + βQ⁴ with the quartic
    term as large as the harmonic one at the fit window's edge (misfit 13 % of the fitted ħω); four times as large it
    is not (35 %). A path point 8 meV below the relaxed structure says the relaxation stopped short."""
    q = np.linspace(-2.0, 2.0, 41)
    curvature = (20.0 / MEV_PER_SQRT_EIGENVALUE) ** 2
    edge = 0.2 * np.ptp(q)
    quartic = 0.5 * curvature / edge**2 * q**4
    assert harmonic_model_flags([_surface(q, 0.5 * curvature * q**2)]) == []
    assert harmonic_model_flags([_surface(q, 0.5 * curvature * q**2 + quartic)]) == []
    (flag,) = harmonic_model_flags([_surface(q, 0.5 * curvature * q**2 + 4 * quartic)])
    assert flag.startswith("anharmonic: the harmonic fit of the lower charge surface")
    (flag,) = harmonic_model_flags([_surface(q, 0.5 * curvature * q**2, below_meV=8.0)])
    assert "8 meV above a point of the path" in flag


@pytest.mark.slow(seconds=80)
def test_ccd_added_after_relaxations_reads_them_and_is_physical(data_dir: Path, si_campaign: Path) -> None:
    data = yaml.safe_load(si_campaign.read_text())
    data["defects"]["vacancies"] = False  # V_Si relaxed from the symmetric site is a Jahn–Teller saddle
    data["relax"]["fmax_eV_per_angstrom"] = 0.02
    si_campaign.write_text(yaml.safe_dump(data))
    settings = StorageSettings.from_environment()
    launchpad = settings.launchpad()
    campaign, base_dir = load_campaign(si_campaign)
    assert submit_campaign(campaign, base_dir, launchpad).new_jobs == 3  # bulk, C_Si 0 and -1
    _worker()

    data["properties"] = ["relaxation", "configuration_coordinate"]
    si_campaign.write_text(yaml.safe_dump(data))
    campaign, base_dir = load_campaign(si_campaign)
    report = submit_campaign(campaign, base_dir, settings.launchpad())
    assert (report.new_jobs, report.already_submitted) == (1, 3)
    _worker()

    store = settings.job_store()
    store.connect()
    relaxed = {doc["output"]["labels"]["charge"]: doc for doc in store.query({"output.task_label": "relax",
                                                                              "output.labels.defect_name": "C_Si"})}
    documents = list(store.query({"output.calculation_id": "Si:C_Si:0/-1"}))
    assert len(documents) == 1
    ccd = documents[0]["output"]
    assert sorted(ccd["parent_uuids"]) == sorted(doc["uuid"] for doc in relaxed.values())
    from pymatgen.core import Structure

    expected = get_dQ(Structure.from_dict(relaxed[-1]["output"]["structure"]),
                      Structure.from_dict(relaxed[0]["output"]["structure"]))
    assert ccd["delta_Q_amu_half_angstrom"] == pytest.approx(expected, rel=1e-9)
    for surface in ccd["surfaces"]:
        q = np.array(surface["q_amu_half_angstrom"])
        energy = np.array(surface["energy_eV"])
        assert energy[np.argmin(np.abs(q - surface["minimum_q_amu_half_angstrom"]))] == pytest.approx(energy.min(), abs=2e-3)
        assert 5.0 < surface["hbar_omega_meV"] < 70.0  # below the Si optical phonon (64 meV) plus margin
        assert surface["fit_residual_meV"] < 0.2 * surface["hbar_omega_meV"]
        assert 0 <= surface["energy_below_minimum_meV"] < 2.0
    assert ccd["flags"] == []
    electron = next(f for f in ccd["phonon_factors"] if f["carrier"] == "electron")
    assert (electron["initial_charge"], electron["final_charge"]) == (0, -1)
    table = np.array(electron["capture_coefficient_per_W_if2_cm3_s"])
    # ΔE ≥ 0.2 eV >> relaxation energy ½ω²ΔQ²: the inverted regime, thermally activated, rising with T
    assert np.all(np.diff(table, axis=1)[table[:, :-1] > 0] > 0)
    assert table[0, 0] > 0 and table[0, -1] > table[0, 0]
    assert ccd["engine"]["name"] == "xtb"


def test_ccd_without_relaxation_is_refused(tmp_path: Path, si_campaign: Path) -> None:
    data = yaml.safe_load(si_campaign.read_text())
    data["properties"] = ["configuration_coordinate"]
    si_campaign.write_text(yaml.safe_dump(data))
    with pytest.raises(CampaignError, match="add 'relaxation' to properties"):
        load_campaign(si_campaign)

"""The phonons, huang_rhys and embedded_phonons properties through FireWorks on the embedded store (xTB, N_C in a 16-site diamond
cell): training set → potential → Γ phonons from it and from xTB → Huang–Rhys factors, with provenance; a
flagged potential is not used; a rerun adds nothing and a changed training setting reuses the training sets;
embedded large cells added later reuse the whole chain."""

from __future__ import annotations

import base64
import hashlib
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from pymatgen.analysis.defects.ccd import get_dQ
from pymatgen.core import Structure

from defectscreen.analysis.potential import ModeCurvatureCheck, phonon_flags
from defectscreen.analysis.summary import huang_rhys_flags, photoluminescence_bands
from defectscreen.flows.campaign import CampaignError, load_campaign
from defectscreen.physics.mode_curvature import (
    MeasuredCurvature,
    cartesian_mode_direction,
    curvature_of_force_constants,
)
from defectscreen.physics.normal_modes import NormalModes, atomic_masses
from defectscreen.reports.plots import plot_photoluminescence
from defectscreen.storage import StorageSettings
from defectscreen.storage.progress import failures
from defectscreen.storage.submission import submit_campaign

CLI = [sys.executable, "-m", "defectscreen.cli"]
CAMPAIGN = {
    "name": "phonon-test",
    "hosts": [{"name": "C", "prototype": "diamond-C"}],
    "defects": {"vacancies": False, "substitutions": {"C": ["N"]}},
    "charges": {"N_C": [1, 0]},
    "supercell": {"matrix": [[2, 0, 0], [0, 2, 0], [0, 0, 2]]},
    "engine": {"name": "xtb"},
    "relax": {"fmax_eV_per_angstrom": 0.005, "max_steps": 200},
    # diamond is stiff: forces in the training set are ~0.8 eV/Å RMS, so 100 meV/Å is a 12 % error
    "potential": {"n_structures": 20, "max_validation_force_rmse_meV_per_angstrom": 100.0,
                  "training": {"max_epochs": 100}},
    "phonons": {"validate_defects": ["N_C"]},
    "properties": ["relaxation", "phonons", "huang_rhys"],
}


def _submit(path: Path, data: dict, settings: StorageSettings):
    path.write_text(yaml.safe_dump(data))
    campaign, base_dir = load_campaign(path)
    return submit_campaign(campaign, base_dir, settings.launchpad(), settings.collection("campaigns", "name"))


def _worker() -> None:
    subprocess.run([*CLI, "worker"], check=True, capture_output=True, timeout=1200)


@pytest.mark.slow(seconds=450)
def test_phonon_chain_is_stored_with_provenance_and_matches_the_engine(data_dir: Path, tmp_path: Path) -> None:
    settings = StorageSettings.from_environment()
    path = tmp_path / "phonons.yaml"
    # bulk + 2 relaxations; per charge: training set, potential, phonons (potential), phonons (xTB); 1 Huang–Rhys
    assert _submit(path, CAMPAIGN, settings).new_jobs == 12
    _worker()
    assert failures(settings.launchpad()) == []
    store = settings.job_store()
    store.connect()
    by_uuid = {doc["uuid"]: doc["output"] for doc in store.query({}, load=True)}

    potentials = [o for o in by_uuid.values() if "model_sha256" in o and "backend" in o]
    assert len(potentials) == 2
    for potential in potentials:
        model = base64.b64decode(potential["model_base64"])
        assert hashlib.sha256(model).hexdigest() == potential["model_sha256"] and len(model) == potential["model_size_bytes"]
        assert potential["usable"] and potential["validation_force_rmse_meV_per_angstrom"] < 100
        training_set = by_uuid[potential["parent_uuids"][0]]
        assert len(training_set["energies_eV"]) == 20 and len(potential["parent_uuids"]) == 1
        assert (potential["n_train"], potential["n_validation"]) == (17, 3)
        relaxed = by_uuid[training_set["parent_uuids"][0]]
        assert relaxed["task_label"] == "relax" and relaxed["labels"] == potential["labels"]

    engine_phonons = [o for o in by_uuid.values() if o.get("force_source") == "engine"]
    assert len(engine_phonons) == 2
    for phonons in engine_phonons:
        comparison = phonons["comparison"]
        learned = by_uuid[comparison["potential_phonons_uuid"]]
        assert learned["force_source"] == "potential" and learned["potential_uuid"] in by_uuid
        frequencies = np.array(phonons["frequencies_meV"])
        # measured 1.0 and 2.5 meV (0.6 % and 1.5 % of the top mode) with 17 training frames, 100 epochs
        assert comparison["frequency_mean_abs_error_meV"] < 0.025 * frequencies.max()
        assert np.all(frequencies[3:] > 0) and 100 < frequencies.max() < 250  # stable; diamond's top ~165 meV
        assert np.allclose(np.array(phonons["force_constants_eV_per_angstrom2"]).shape, (16, 16, 3, 3))
        # the engine's phonons are taken at its own minimum: its forces there are below the relaxation's 5 meV/Å;
        # the potential's force there is its error at that minimum, of the size of its validation error
        assert phonons["largest_residual_force_meV_per_angstrom"] < 5.0
        validation_rmse = by_uuid[learned["potential_uuid"]]["validation_force_rmse_meV_per_angstrom"]
        assert learned["largest_residual_force_meV_per_angstrom"] < 2 * validation_rmse  # measured 68.9 vs 67.3
        # the potential's softest mode against its own 20 xTB-labelled cells: their curvature along it is the
        # engine's (ê·Φ_xTB·ê) within the fit's error, and the potential's agrees with it
        (check,) = learned["mode_curvatures"]  # no imaginary mode, so the softest real one only
        assert check["index"] == 3 and check["n_reference_cells"] == 20 and not check["model_is_wrong"]
        assert learned["flags"] == [] and phonons["flags"] == []
        modes = NormalModes(np.array(learned["frequencies_meV"]), np.array(learned["eigenvectors"]),
                            atomic_masses(Structure.from_dict(learned["structure"])))
        direction = cartesian_mode_direction(modes, check["index"])
        engine_curvature = curvature_of_force_constants(direction, np.array(phonons["force_constants_eV_per_angstrom2"]))
        assert abs(check["reference_curvature_eV_per_angstrom2"] - engine_curvature) < max(
            3 * check["reference_standard_error_eV_per_angstrom2"], 0.25 * engine_curvature)

    huang_rhys = [o for o in by_uuid.values() if o.get("calculation_id") == "C:N_C:1/0"]
    assert len(huang_rhys) == 1
    document = huang_rhys[0]
    relaxed = {by_uuid[u]["labels"]["charge"]: by_uuid[u] for u in document["parent_uuids"][:2]}
    expected_dQ = get_dQ(Structure.from_dict(relaxed[0]["structure"]), Structure.from_dict(relaxed[1]["structure"]))
    assert document["delta_Q_amu_half_angstrom"] == pytest.approx(expected_dQ, rel=1e-9)
    assert len(document["records"]) == 4 and all(r["phonon_flags"] == [] for r in document["records"])
    for record in document["records"]:
        density = np.array(record["spectral_density_per_meV"])
        step = np.diff(record["spectral_density_energy_meV"])[0]
        assert density.sum() * step == pytest.approx(record["huang_rhys_total"], rel=1e-3)  # ∫S(ħω) = S
    assert set(document["potential_vs_engine_huang_rhys"]) == {"higher_charge", "lower_charge"}
    assert all(abs(change) < 0.1 for change in document["potential_vs_engine_huang_rhys"].values())

    listed = subprocess.run([*CLI, "potential", "list", "--json"], check=True, capture_output=True, text=True)
    rows = json.loads(listed.stdout)
    assert [row["calculation_id"] for row in rows] == ["C:N_C:+1", "C:N_C:0"]
    assert all(row["usable"] and row["phonon_mean_error_meV"] is not None for row in rows)
    assert all(row["foundation_model"] is None for row in rows)  # trained from scratch

    figure = tmp_path / "validation.png"
    subprocess.run([*CLI, "potential", "plot", "C:N_C:0", "--out", str(figure)], check=True, capture_output=True)
    assert figure.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and figure.stat().st_size > 20_000
    missing = subprocess.run([*CLI, "potential", "plot", "C:bulk"], capture_output=True, text=True)
    assert missing.returncode != 0 and "add it to phonons.validate_defects" in missing.stderr

    assert _submit(path, CAMPAIGN, settings).new_jobs == 0

    # Large cells added later: the defect cell and one 128-atom embedded cell, then the convergence document;
    # everything else is reused.
    embedded = {**CAMPAIGN, "properties": [*CAMPAIGN["properties"], "embedded_phonons"],
                "phonons": {**CAMPAIGN["phonons"], "embedding_atoms": [128]}}
    assert _submit(path, embedded, settings).new_jobs == 3
    _worker()
    assert failures(settings.launchpad()) == []
    by_uuid = {doc["uuid"]: doc["output"] for doc in store.query({}, load=True)}
    study = next(o for o in by_uuid.values() if "huang_rhys_change_last" in o)
    cell, large = study["points"]
    assert (cell["n_atoms"], large["n_atoms"], large["repetitions"]) == (16, 128, [2, 2, 2])
    assert large["embedding"]["host_force_constants"] == "potential" and large["solver"]["converged"]
    basis = next(r for r in document["records"] if (r["phonon_basis"], r["force_source"]) == ("higher_charge",
                                                                                               "potential"))
    assert cell["huang_rhys_total"] == pytest.approx(basis["huang_rhys_total"], rel=1e-6)  # same cell, same S
    assert 0.5 < large["huang_rhys_total"] / cell["huang_rhys_total"] < 2.0
    assert set(study["parent_uuids"]) <= set(by_uuid) and len(large["parent_uuids"]) == 5
    assert _submit(path, embedded, settings).new_jobs == 0

    # Formation energies added later: the two competing phases (C, N2) are relaxed; the build joins the N_C level
    # with the Huang–Rhys factors into PL bands whose ZPL is that level (hole capture) or the gap minus it.
    formation = {**embedded, "hosts": [{**CAMPAIGN["hosts"][0], "dielectric_constant": 5.7}],
                 "properties": [*embedded["properties"], "formation_energy"]}
    assert _submit(path, formation, settings).new_jobs == 2
    _worker()
    subprocess.run([*CLI, "build"], check=True, capture_output=True, timeout=600)
    summaries = settings.collection("summaries", "summary_id")
    summaries.connect()
    pair = summaries.query_one({"defect_name": "N_C"})["pairs"][0]
    gap = summaries.query_one({"defect_name": "N_C"})["band_gap_eV"]
    assert pair["charges"] == "1/0" and 0 < pair["level_eV"] < gap
    assert pair["huang_rhys_total"] == pytest.approx(basis["huang_rhys_total"], rel=1e-9)
    assert pair["huang_rhys_total_embedded"] == pytest.approx(large["huang_rhys_total"], rel=1e-9)
    bands = {band["carrier"]: band for band in pair["photoluminescence"]}
    zpl = {"hole": pair["level_eV"], "electron": gap - pair["level_eV"]}
    for carrier, state in (("hole", "higher_charge"), ("electron", "lower_charge")):
        record = next(r for r in document["records"] if (r["phonon_basis"], r["force_source"]) == (state, "potential"))
        relaxation = 1e-3 * record["huang_rhys_total"] * record["mean_phonon_energy_meV"]
        assert (carrier in bands) == (relaxation < zpl[carrier])  # no band where emission would be at ħω <= 0
        if carrier not in bands:
            continue
        band = bands[carrier]
        assert band["zpl_energy_eV"] == pytest.approx(zpl[carrier], abs=1e-12)
        assert band["huang_rhys_total"] == pytest.approx(record["huang_rhys_total"], rel=1e-6)
        assert band["debye_waller"] == pytest.approx(np.exp(-record["huang_rhys_total"]), rel=1e-6)  # 0 K
        area = np.trapezoid(band["intensity_per_eV"], band["photon_energy_eV"])
        assert area == pytest.approx(1.0, abs=0.02) and band["peak_energy_eV"] < band["zpl_energy_eV"]
    assert bands, "the electron capture of this cell (ZPL 5.0 eV, relaxation ~3 eV) has a band"
    page = tmp_path / "report.html"
    subprocess.run([*CLI, "report", "--out", str(page)], check=True, capture_output=True, timeout=600)
    assert "C:N_C:1/0: photoluminescence" in page.read_text()

    # The host's own potential (trained on perturbed host cells) as the embedded cell's host force constants: its
    # training set and potential, both sizes again and their study; the defect cell itself is unchanged.
    hosted = {**embedded, "phonons": {**embedded["phonons"], "embedding_host_force_constants": "host_potential"}}
    assert _submit(path, hosted, settings).new_jobs == 5
    _worker()
    assert failures(settings.launchpad()) == []
    by_uuid = {doc["uuid"]: doc["output"] for doc in store.query({}, load=True)}
    host_study = next(o for o in by_uuid.values() if "huang_rhys_change_last" in o
                      and o["points"][1]["embedding"]["host_force_constants"] == "host_potential")
    host_cell, host_large = host_study["points"]
    assert host_cell["huang_rhys_total"] == pytest.approx(cell["huang_rhys_total"], rel=1e-9)
    assert host_large["huang_rhys_total"] == pytest.approx(large["huang_rhys_total"], rel=0.1)

    # a threshold no potential meets (trained for 2 epochs: what is checked is the flag, not the fit)
    strict = {**CAMPAIGN, "potential": {**CAMPAIGN["potential"], "max_validation_force_rmse_meV_per_angstrom": 1e-3,
                                        "training": {"max_epochs": 2}}}
    report = _submit(path, strict, settings)
    assert (report.new_jobs, report.already_submitted) == (7, 5)  # training sets and relaxations reused
    subprocess.run([*CLI, "worker"], capture_output=True, timeout=1200)
    reasons = [failure.reason for failure in failures(settings.launchpad())]
    assert len(reasons) == 2 and all("potential not used" in r and "exceeds the threshold" in r for r in reasons)


def test_flagged_phonons_flag_the_huang_rhys_factors_and_the_band_made_from_them(tmp_path: Path) -> None:
    """A mode the training cells find four times stiffer than the potential (2.00 ± 0.10 against 0.50 eV/Å²) is
    flagged too soft, one within their error is not, an imaginary mode always is; the S record made from flagged
    phonons carries the flags to the pair and to its PL band, whose ZPL (hole capture: the level) is unchanged."""
    reference = MeasuredCurvature(2.0, 0.0, 0.001, 20, 0.1)
    soft, agreeing = ModeCurvatureCheck(3, 10.0, 0.5, reference), ModeCurvatureCheck(3, 10.0, 1.9, reference)
    frequencies = [0.0, 0.0, 0.0, 10.0, 40.0]
    assert phonon_flags(np.array(frequencies), 2.0, [agreeing], "of its training set") == []
    (flag,) = phonon_flags(np.array(frequencies), 2.0, [soft], "of its training set")
    assert flag == ("the 10.00 meV mode: the reference frames give a curvature of +2.00 ± 0.10 eV/Å² along it (the "
                    "model +0.50; 20 cells of its training set): the model's mode is too soft")
    (unstable,) = phonon_flags(np.array([-3.0, 0.0, 0.0, 0.0, 40.0]), 80.0, [], "", "engine")
    assert unstable.startswith("1 imaginary mode(s) (-3.00 meV): the structure is not a minimum of the engine (its "
                               "largest force there is 80.0 meV/Å)")

    record = {"phonon_basis": "higher_charge", "force_source": "potential", "phonons_uuid": "p",
              "huang_rhys_total": 1.5, "mean_phonon_energy_meV": 20.0, "partial_huang_rhys": [0, 0, 0, 1.0, 0.5]}
    for flags in ([flag], []):
        document = {"sigma_meV": 2.0, "records": [{**record, "phonon_flags": flags}]}
        (band,) = photoluminescence_bands(document, {"p": frequencies}, level_eV=1.0, band_gap_eV=3.0)
        assert band.carrier == "hole" and band.zpl_energy_eV == 1.0 and band.flags == flags
        assert huang_rhys_flags(document) == [f"S in the higher charge's phonons (potential): {f}" for f in flags]
        figure = plot_photoluminescence([band], tmp_path / "band.png")  # dashed where flagged
        assert figure.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    (band,) = photoluminescence_bands({"sigma_meV": 2.0, "records": [record]}, {"p": frequencies}, 1.0, 3.0)
    assert band.flags == []  # a record stored before phonon flags existed


def test_phonons_need_relaxation_and_huang_rhys_needs_phonons(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    for properties, message in ((["phonons"], "add 'relaxation'"), (["relaxation", "huang_rhys"], "add 'phonons'")):
        path.write_text(yaml.safe_dump({**CAMPAIGN, "properties": properties}))
        with pytest.raises(CampaignError, match=message):
            load_campaign(path)
    path.write_text(yaml.safe_dump({**CAMPAIGN, "potential": {"training": {"epochs": 5}}}))
    with pytest.raises(CampaignError, match=r"potential.training.mace.epochs: unknown setting.*max_epochs"):
        load_campaign(path)
    path.write_text(yaml.safe_dump({**CAMPAIGN, "potential": {"training": {"backend": "schnet"}}}))
    with pytest.raises(CampaignError, match=r"potential.training: unknown training backend; use backend: mace"):
        load_campaign(path)
    nequip = {"training": {"backend": "nequip", "model": "allegro", "max_epochs": 10}}
    path.write_text(yaml.safe_dump({**CAMPAIGN, "potential": nequip}))
    assert load_campaign(path)[0].potential.training.model == "allegro"
    path.write_text(yaml.safe_dump({**CAMPAIGN, "potential": {"training": {"backend": "sevennet"}}}))
    assert load_campaign(path)[0].potential.training.foundation_model == "7net-0"
    path.write_text(yaml.safe_dump({**CAMPAIGN, "potential": {"training": {"backend": "sevennet",
                                                                             "foundation_model": "mace-mp-0"}}}))
    with pytest.raises(CampaignError, match=r"potential.training.sevennet.foundation_model: .*7net-0, 7net-l3i5"):
        load_campaign(path)

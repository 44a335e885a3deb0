"""`defectscreen analyze lineshape` on the real NV⁻ diamond data (VASP 6.6, PBE and HSE06 force constants)."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
from click.testing import CliRunner
from conftest import NV_DIAMOND

from defectscreen.cli.main import cli
from defectscreen.schemas.optics import LineshapeDocument


def _run(tmp_path, monkeypatch, *extra: str):
    monkeypatch.chdir(tmp_path)
    return CliRunner().invoke(cli, [
        "analyze", "lineshape", "--fc", str(NV_DIAMOND / "dfpt_hse06_FORCE_CONSTANTS.gz"),
        "--cell", str(NV_DIAMOND / "dfpt_hse06_POSCAR.gz"), "--ground", str(NV_DIAMOND / "gs_hse06_CONTCAR.gz"),
        "--excited", str(NV_DIAMOND / "zpl_hse06_CONTCAR.gz"), *extra,
    ])


def test_nv_lineshape_json_document_spectrum_and_plot(tmp_path, monkeypatch) -> None:
    result = _run(tmp_path, monkeypatch, "--zpl", "1.945", "--json", "--plot", "nv.png")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output.strip().splitlines()[-1])
    assert summary["debye_waller"] == pytest.approx(np.exp(-summary["huang_rhys_total"]), rel=1e-12)
    assert 0.6 < summary["delta_Q_amu_half_angstrom"] < 0.75 and 0.15 < summary["delta_R_angstrom"] < 0.22
    assert summary["numerics"]["converged"]
    document = LineshapeDocument.model_validate_json((tmp_path / "lineshape.json").read_text())
    assert document.huang_rhys_total == pytest.approx(sum(document.partial_huang_rhys))
    with open(tmp_path / "lineshape_spectrum.csv") as handle:
        rows = list(csv.DictReader(handle))
    photon = np.array([float(r["photon_energy_eV"]) for r in rows])
    intensity = np.array([float(r["intensity_per_eV"]) for r in rows])
    assert np.trapezoid(intensity, photon) == pytest.approx(1.0, abs=0.02)
    sideband = photon < 1.945 - 0.02
    peak_sideband = photon[sideband][np.argmax(intensity[sideband])]
    assert 1.70 < peak_sideband < 1.91  # strongest sideband line: one quasi-local phonon (40–70 meV) below the ZPL
    mean_photon = np.trapezoid(photon * intensity, photon)
    expected_mean = 1.945 - 1e-3 * np.dot(document.frequencies_meV, document.partial_huang_rhys)  # first moment
    assert mean_photon == pytest.approx(expected_mean, abs=0.03)  # ω³ weighting shifts it by < 30 meV
    assert (tmp_path / "nv.png").stat().st_size > 20_000


def test_warmer_band_has_less_zpl_weight(tmp_path, monkeypatch) -> None:
    cold = json.loads(_run(tmp_path, monkeypatch, "--json").output.strip().splitlines()[-1])
    warm = json.loads(_run(tmp_path, monkeypatch, "--json", "--temperature", "300").output.strip().splitlines()[-1])
    assert warm["debye_waller"] < cold["debye_waller"]
    assert warm["huang_rhys_total"] == pytest.approx(cold["huang_rhys_total"])


def test_wrong_files_are_refused_with_the_reason(tmp_path, monkeypatch) -> None:
    result = CliRunner().invoke(cli, [
        "analyze", "lineshape", "--fc", str(NV_DIAMOND / "gs_CONTCAR.gz"), "--cell", str(NV_DIAMOND / "dfpt_POSCAR.gz"),
        "--ground", str(NV_DIAMOND / "gs_CONTCAR.gz"), "--excited", str(NV_DIAMOND / "zpl_CONTCAR.gz"),
    ])
    assert result.exit_code != 0 and "not a phonopy FORCE_CONSTANTS file" in result.output
    no_width = _run(tmp_path, monkeypatch, "--sigma-meV", "0")  # S(ħω) needs a width: refused before any work
    assert no_width.exit_code == 2 and "--sigma-meV" in no_width.output


def test_force_mode_needs_forces_at_the_ground_geometry(tmp_path, monkeypatch) -> None:
    both = _run(tmp_path, monkeypatch, "--excited-forces", str(NV_DIAMOND.parent / "gan-cn" / "nonrad_vasprun.xml.0.gz"))
    assert both.exit_code != 0 and "exactly one" in both.output
    monkeypatch.chdir(tmp_path)
    wrong_cell = CliRunner().invoke(cli, [
        "analyze", "lineshape", "--fc", str(NV_DIAMOND / "dfpt_FORCE_CONSTANTS.gz"), "--cell", str(NV_DIAMOND / "dfpt_POSCAR.gz"),
        "--ground", str(NV_DIAMOND / "gs_CONTCAR.gz"),
        "--excited-forces", str(NV_DIAMOND.parent / "gan-cn" / "nonrad_vasprun.xml.0.gz"),
    ])
    assert wrong_cell.exit_code != 0 and "does not match the force-constant cell" in wrong_cell.output

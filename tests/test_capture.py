"""1D configuration-coordinate model, Sommerfeld factor, W_if and C(T) — analytic limits and the real
C_N-in-GaN VASP data (HSE, 96 atoms) used by the nonrad code's own tests."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner
from conftest import GAN_CN
from pymatgen.analysis.defects.recombination import get_SRH_coef

from defectscreen.analysis.capture import CaptureSettings, analyze_capture_files
from defectscreen.cli.main import cli
from defectscreen.physics.capture import (
    capture_coefficient_unscaled,
    effective_rydberg_eV,
    sommerfeld_factor,
    vibrational_matrix_elements,
)
from defectscreen.physics.ccd import fit_harmonic, harmonic_crossing_barrier, spline_crossing_barrier, spline_surface
from defectscreen.physics.units import BOLTZMANN_MEV_PER_K, MEV_PER_SQRT_EIGENVALUE
from defectscreen.readers import InputFileError


def test_sommerfeld_factor_limits() -> None:
    temperatures = np.array([2.0, 300.0, 1e6])
    attractive = sommerfeld_factor(temperatures, -1, 0.18, 8.9)
    low_t_limit = 4 * np.sqrt(np.pi) * np.sqrt(effective_rydberg_eV(0.18, 8.9) / (1e-3 * BOLTZMANN_MEV_PER_K * 2.0))
    assert attractive[0] == pytest.approx(low_t_limit, rel=0.02)
    # kT >> E_R: s ≈ 1 + πν + (πν)²/3 with ⟨ν⟩ = 2 sqrt(E_R/πkT), ⟨ν²⟩ = 2 E_R/kT
    ratio = effective_rydberg_eV(0.18, 8.9) / (1e-3 * BOLTZMANN_MEV_PER_K * 1e6)
    assert attractive[2] == pytest.approx(1 + 2 * np.sqrt(np.pi * ratio) + 2 * np.pi**2 * ratio / 3, rel=1e-4)
    repulsive = sommerfeld_factor(temperatures, 1, 0.18, 8.9)
    assert repulsive[0] < 1e-10 and repulsive[1] < repulsive[2] < 1.0
    # nonrad's independent quadrature (scaling.sommerfeld_parameter, 'Integrate') gives 7.7815 at 300 K
    assert attractive[1] == pytest.approx(7.7815, rel=1e-4)
    assert np.all(sommerfeld_factor(temperatures, 0, 0.18, 8.9) == 1.0)


def test_harmonic_fit_and_barriers_are_exact_for_parabolas() -> None:
    curvature = (30.0 / MEV_PER_SQRT_EIGENVALUE) ** 2
    q = np.linspace(-0.5, 0.5, 5)
    fit = fit_harmonic(q, 3.0 + 0.5 * curvature * q**2, 0.0, 3.0)
    assert fit.hbar_omega_meV == pytest.approx(30.0, rel=1e-10) and fit.residual_meV < 1e-9
    delta_Q, delta_E, wi, wf = 2.0, 0.5, 35.0, 25.0
    harmonic = harmonic_crossing_barrier(delta_Q, delta_E, wi, wf)
    grid = np.linspace(-1.0, 4.0, 41)
    ki, kf = (wi / MEV_PER_SQRT_EIGENVALUE) ** 2, (wf / MEV_PER_SQRT_EIGENVALUE) ** 2
    spline = spline_crossing_barrier(spline_surface(grid, delta_E + 0.5 * ki * (grid - delta_Q) ** 2),
                                     spline_surface(grid, 0.5 * kf * grid**2), -1.0, 4.0, delta_E)
    assert spline == pytest.approx(harmonic, rel=1e-6)
    with pytest.raises(ValueError, match="minimum is not at Q0"):
        fit_harmonic(q, 3.0 - q**2, 0.0, 3.0)


def test_capture_reaches_the_classical_marcus_limit_at_high_temperature() -> None:
    """kT >> ħω: C ∝ T^{-1/2} exp(−E_b/kT), so the Arrhenius slope is E_b − kT/2 (E_b: harmonic crossing)."""
    delta_Q, delta_E, omega = 2.0, 1.0, 30.0
    barrier = harmonic_crossing_barrier(delta_Q, delta_E, omega, omega)
    temperatures = np.array([1800.0, 2200.0])
    rate = capture_coefficient_unscaled(temperatures, delta_Q, delta_E, omega, omega, 0.05, 1000.0, 1)
    kT = 1e-3 * BOLTZMANN_MEV_PER_K * temperatures
    activation = -np.log(rate[1] / rate[0]) / (1 / kT[1] - 1 / kT[0])
    assert activation == pytest.approx(barrier - kT.mean() / 2, rel=0.05)
    assert np.all(np.diff(capture_coefficient_unscaled(np.array([100.0, 300.0, 600.0]), delta_Q, delta_E, omega, omega,
                                                       0.05, 1000.0, 1)) > 0)
    doubled = capture_coefficient_unscaled(temperatures, delta_Q, delta_E, omega, omega, 0.10, 1000.0, 4)
    np.testing.assert_allclose(doubled, 16 * rate, rtol=1e-10)  # C ∝ g W_if²


def test_vibrational_sum_agrees_with_pymatgen_where_its_closed_form_overlaps_hold() -> None:
    temperatures = np.array([50.0, 300.0])
    ours = capture_coefficient_unscaled(temperatures, 1.6859, 1.13, 33.45, 33.45, 0.0942, 1058.0, 4)
    library = get_SRH_coef(temperatures, 1.6859, 1.13, 0.03345, 0.03345, 0.0942, 1058.0, 4)
    np.testing.assert_allclose(ours, library, rtol=2e-3)
    overlaps, _ = vibrational_matrix_elements(2.0, 30.0, 30.0, 60, 400)
    np.testing.assert_allclose(np.sum(overlaps**2, axis=1), 1.0, atol=1e-8)  # completeness of the final basis


def _gan_capture(**overrides):
    arguments = dict(
        ccd_final=[GAN_CN / "nonrad_vasprun.xml.0.gz", GAN_CN / "nonrad_lower_10" / "vasprun.xml.gz"],
        wswq_dirs=[GAN_CN / "nonrad_lower_10"], reference_vasprun=GAN_CN / "nonrad_vasprun.xml.0.gz",
        defect_band=192, bulk_bands=[189], spin=2,
    )
    arguments.update(overrides)
    settings = CaptureSettings(delta_E_eV=1.13, degeneracy=4, Z=-1, effective_mass=0.18, dielectric_constant=8.9,
                               temperatures_K=(100.0, 300.0, 500.0))
    return analyze_capture_files(GAN_CN / "nonrad_POSCAR.C-.gz", GAN_CN / "nonrad_POSCAR.C0.gz", settings, **arguments)


def test_gan_cn_hole_capture_from_real_vasp_files() -> None:
    document = _gan_capture()
    assert document.delta_Q_amu_half_angstrom == pytest.approx(1.6859, abs=1e-3)
    # nonrad's test suite: get_Wif_from_WSWQ(..., 192, [189], spin=down) = 0.094 on the same C_N files
    assert document.W_if_eV_per_amu_half_angstrom == pytest.approx(0.094, abs=0.005)
    assert document.surfaces[1].hbar_omega_source == "harmonic_fit"
    assert 25.0 < document.hbar_omega_f_meV < 45.0  # GaN effective modes of C_N lie in the acoustic–TO range
    c300 = document.capture_coefficient_cm3_s[1]
    # seed 000 (multi-mode, HSE, same defect): 4.5e-9 … 7.0e-9 cm³/s at 300 K; the 1D model is within a decade
    assert 5e-10 < c300 < 7e-8
    assert document.capture_coefficient_cm3_s[0] < c300 < document.capture_coefficient_cm3_s[2]
    assert document.flags == [] and document.surfaces[1].energy_below_minimum_meV == 0.0


def test_capture_from_points_the_harmonic_fit_misses_is_flagged(tmp_path) -> None:
    """The C_N path point at 10 % of ΔQ given twice, once as computed and once 100 meV higher (a noisy or anharmonic
    surface): the fit passes between them, 41 meV RMS off (50 meV at both, 0 at the minimum) against ħω = 33 meV
    from the computed point alone, and the document says so."""
    import gzip

    computed = GAN_CN / "nonrad_lower_10" / "vasprun.xml.gz"
    text = gzip.decompress(computed.read_bytes()).decode()
    assert text.count("-811.90263560") >= 2  # the final energy, written in every energy block of this file
    shifted = tmp_path / "vasprun.xml.gz"
    shifted.write_bytes(gzip.compress(text.replace("-811.90263560", "-811.80263560").encode()))
    document = _gan_capture(ccd_final=[GAN_CN / "nonrad_vasprun.xml.0.gz", computed, shifted])
    (flag,) = document.flags
    assert flag.startswith("anharmonic: the harmonic fit of the final surface misses its points")
    assert document.surfaces[1].fit_residual_meV == pytest.approx(50.0 * np.sqrt(2 / 3), rel=1e-3)
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(tmp_path)
        result = CliRunner().invoke(cli, [
            "analyze", "capture", "--initial", str(GAN_CN / "nonrad_POSCAR.C-.gz"),
            "--final", str(GAN_CN / "nonrad_POSCAR.C0.gz"), "--ccd-final", str(GAN_CN / "nonrad_vasprun.xml.0.gz"),
            "--ccd-final", str(computed), "--ccd-final", str(shifted), "--w-if", "0.094", "--delta-e", "1.13"])
    assert result.exit_code == 0, result.output
    assert "not physics: anharmonic: the harmonic fit of the final surface" in " ".join(result.output.split())


def test_capture_input_errors_name_the_fix() -> None:
    with pytest.raises(InputFileError, match="add the relaxed calculation"):
        _gan_capture(ccd_final=[GAN_CN / "nonrad_lower_10" / "vasprun.xml.gz"])
    with pytest.raises(InputFileError, match="--w-if, or --wswq"):
        _gan_capture(wswq_dirs=[])
    with pytest.raises(InputFileError, match="spin 3"):
        _gan_capture(spin=3)
    with pytest.raises(InputFileError, match="same order|atoms"):
        analyze_capture_files(GAN_CN / "nonrad_POSCAR.C-.gz", GAN_CN.parent / "nv-diamond" / "gs_CONTCAR.gz",
                              CaptureSettings(delta_E_eV=1.0), W_if=0.1, hbar_omega_f_meV=30.0)


def test_analyze_capture_cli_prints_json(tmp_path) -> None:
    runner = CliRunner()
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(tmp_path)
        result = runner.invoke(cli, [
            "analyze", "capture", "--initial", str(GAN_CN / "nonrad_POSCAR.C-.gz"), "--final", str(GAN_CN / "nonrad_POSCAR.C0.gz"),
            "--ccd-final", str(GAN_CN / "nonrad_vasprun.xml.0.gz"), "--ccd-final", str(GAN_CN / "nonrad_lower_10/vasprun.xml.gz"),
            "--wswq", str(GAN_CN / "nonrad_lower_10"), "--reference-vasprun", str(GAN_CN / "nonrad_vasprun.xml.0.gz"),
            "--defect-band", "192", "--bulk-band", "189", "--spin", "2", "--delta-e", "1.13", "-g", "4", "--Z", "-1",
            "--effective-mass", "0.18", "--dielectric", "8.9", "--temperatures", "100:500:100", "--json", "--plot", "c.png",
        ])
        assert result.exit_code == 0, result.output
        summary = json.loads(result.output.strip().splitlines()[-1])
        assert summary["temperatures_K"] == [100.0, 200.0, 300.0, 400.0, 500.0]
        assert summary["W_if_per_band"]["189"] == pytest.approx(0.094, abs=0.005)
        assert len(summary["capture_coefficient_cm3_s"]) == 5 and summary["flags"] == []
        bad = runner.invoke(cli, ["analyze", "capture", "--initial", str(GAN_CN / "nonrad_POSCAR.C-.gz"),
                                  "--final", str(GAN_CN / "nonrad_POSCAR.C0.gz"), "--delta-e", "1.1", "--temperatures", "hot"])
        assert bad.exit_code != 0 and "start:stop:step" in bad.output


def test_summary_capture_at_the_level_is_f_times_unscaled_over_s() -> None:
    """The defect summary's C at a pair's level: C̃/W² evaluated there exactly (Eq. 22 with the CCD document's ΔQ,
    ħω_i, ħω_f, volume and g, to 1e-10 relative, between grid points too: a log-linear interpolation of the grid is
    off by percent there), Z from the capturing charge and the carrier, f from the campaign's m* and the mean
    eigenvalue of ε⁰, s from the CCD document; C is left out (C̃ kept) where m* is missing, nothing for ΔE ≤ 0."""
    from defectscreen.analysis.summary import capture_at_level

    delta_E = [0.4, 0.6, 0.8]
    temperatures = [250.0, 300.0, 350.0]
    ccd = {"delta_Q_amu_half_angstrom": 1.5, "supercell_volume_angstrom3": 1000.0, "final_state_degeneracy": 2}

    def direct(e: float) -> float:
        return float(capture_coefficient_unscaled(np.array([300.0]), 1.5, e, 30.0, 25.0, 1.0, 1000.0, 2)[0])

    table = [capture_coefficient_unscaled(np.array(temperatures), 1.5, e, 30.0, 25.0, 1.0, 1000.0, 2).tolist()
             for e in delta_E]

    def factor(carrier: str, initial_charge: int, scaling: float) -> dict:
        return {"carrier": carrier, "initial_charge": initial_charge, "hbar_omega_i_meV": 30.0,
                "hbar_omega_f_meV": 25.0, "delta_E_eV": delta_E, "temperatures_K": temperatures,
                "capture_coefficient_per_W_if2_cm3_s": table, "W_if_eV_per_amu_half_angstrom": 0.05,
                "charged_supercell_scaling": scaling}

    epsilon = [[8.0, 0, 0], [0, 9.0, 0], [0, 0, 10.0]]
    gap = 3.0
    electron = capture_at_level(factor("electron", 1, 1.7), ccd, gap - 0.6, gap, {"electron": 0.2}, epsilon)
    assert electron.Z == -1 and electron.temperature_K == 300.0 and electron.delta_E_eV == pytest.approx(0.6)
    assert electron.capture_coefficient_per_W_if2_cm3_s == pytest.approx(table[1][1], rel=1e-12)
    assert electron.capture_coefficient_unscaled_cm3_s == pytest.approx(table[1][1] * 0.05**2, rel=1e-12)
    f = sommerfeld_factor(np.array([300.0]), -1, 0.2, 9.0)[0]
    assert electron.sommerfeld_factor == pytest.approx(f, rel=1e-12) and f > 1
    assert electron.capture_coefficient_cm3_s == pytest.approx(table[1][1] * 0.05**2 * f / 1.7, rel=1e-12)
    between = capture_at_level(factor("hole", 0, 1.0), ccd, 0.7137, gap, {}, None).capture_coefficient_per_W_if2_cm3_s
    assert between == pytest.approx(direct(0.7137), rel=1e-10)
    log_linear = np.exp(np.interp(0.7137, delta_E, np.log(np.array(table)[:, 1])))
    assert abs(log_linear / direct(0.7137) - 1) > 1e-3  # what the grid gave before
    neutral = capture_at_level(factor("hole", 0, 1.0), ccd, 0.6, gap, {}, None)
    assert (neutral.Z, neutral.sommerfeld_factor) == (0, 1.0)
    assert neutral.capture_coefficient_cm3_s == neutral.capture_coefficient_unscaled_cm3_s
    repelled = capture_at_level(factor("hole", 1, 0.8), ccd, 0.6, gap, {"hole": 1.0}, 9.0)
    assert repelled.Z == 1 and repelled.sommerfeld_factor < 1
    unconverged = {**factor("hole", -1, 1.3), "charged_supercell_scaling_profile": {"plateau_found": False}}
    no_mass = capture_at_level(unconverged, ccd, 0.6, gap, {"electron": 0.2}, epsilon)
    assert no_mass.sommerfeld_factor is None and no_mass.capture_coefficient_cm3_s is None
    assert no_mass.capture_coefficient_unscaled_cm3_s == pytest.approx(table[1][1] * 0.05**2, rel=1e-12)
    outside = capture_at_level(factor("electron", 0, 1.0), ccd, gap + 0.1, gap, {}, None)
    assert outside.capture_coefficient_per_W_if2_cm3_s is None and outside.capture_coefficient_cm3_s is None
    from defectscreen.reports.html import _capture_note

    note = _capture_note({"capture": [electron.model_dump(), no_mass.model_dump()]})
    assert "electron capture (Z = -1) at ΔE = 0.60 eV, 300 K" in note and f"f = {f:.2f}, s = 1.70, C = " in note
    assert "hole capture (Z = -1)" in note and note.count("C = ") == 1  # no C without the hole mass
    assert note.count("no plateau") == 1 and electron.scaling_plateau_found is None


def test_band_edges_are_the_nearest_manifolds_beside_the_defect_level() -> None:
    """Bands within 10 meV of the defect level are its own; each edge is the nearest band beyond with its partners
    within 10 meV (a degenerate edge enters whole, so W_if is rotation-invariant)."""
    from defectscreen.jobs.coupling import edge_manifolds

    eigenvalues = np.array([-1.5, -0.945, -0.94, -0.12, 0.0, 0.0005, 1.1, 1.105, 1.4])
    assert edge_manifolds(eigenvalues, list(range(9)), 4) == {"valence": [3], "conduction": [6, 7]}
    assert edge_manifolds(eigenvalues, [0, 1, 2, 4, 5], 4) == {"valence": [1, 2], "conduction": []}

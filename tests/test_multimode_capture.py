"""Multi-mode capture (seed 000 Eqs. 11–13) against an exact sum over states, symmetry, and real NV⁻ phonons."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from conftest import NV_DIAMOND

from defectscreen.analysis.capture import CaptureSettings, analyze_capture_files
from defectscreen.physics.capture import hermite_functions, vibrational_matrix_elements
from defectscreen.physics.multimode_capture import (
    capture_coefficient_duschinsky,
    capture_coefficient_multimode,
    duschinsky_matrix,
)
from defectscreen.physics.normal_modes import gamma_normal_modes
from defectscreen.physics.units import BOLTZMANN_MEV_PER_K, HBAR_EV_S
from defectscreen.physics.units import HBAR2_PER_AMU_ANGSTROM2_MEV as HBAR2

TEMPERATURES = np.array([100.0, 300.0, 600.0])


def _sum_over_states(delta_Q, omega_i, omega_f, delta_E_eV, sigma, W_if, volume, g, n_f=120):
    """C̃ from Σ_m w_m Σ_n |⟨χ_m|Q|χ_n⟩|² with a Gaussian δ of width σ, straight from the overlap matrices."""
    n_i = 60
    _, position = vibrational_matrix_elements(delta_Q, omega_i, omega_f, n_i, n_f)
    rates = []
    for temperature in TEMPERATURES:
        weights = np.exp(-np.arange(n_i) * omega_i / (BOLTZMANN_MEV_PER_K * temperature))
        weights /= weights.sum()
        mismatch = 1e3 * delta_E_eV + np.arange(n_i)[:, None] * omega_i - np.arange(n_f)[None, :] * omega_f
        density = np.sum(weights[:, None] * position**2 * np.exp(-0.5 * (mismatch / sigma) ** 2)) / (sigma * np.sqrt(2 * np.pi))
        rates.append(volume * 1e-24 * 2 * np.pi / HBAR_EV_S * g * W_if**2 * density * 1e3)
    return np.array(rates)


def test_one_mode_equals_the_sum_over_vibrational_states() -> None:
    result = capture_coefficient_multimode(TEMPERATURES, [33.45], [1.6859], 1.13, 0.0942, 1058.0, 4, sigma_meV=4.0)
    exact = _sum_over_states(1.6859, 33.45, 33.45, 1.13, 4.0, 0.0942, 1058.0, 4)
    np.testing.assert_allclose(result.capture_coefficient_unscaled_cm3_s, exact, rtol=1e-6)


@pytest.mark.parametrize("direction", [[0.8, -0.6], [0.5, 0.5, 0.5, 0.5]])
def test_degenerate_modes_rotated_give_the_same_rate(direction) -> None:
    """An isotropic oscillator does not care how its degenerate modes are chosen: cross terms must be right."""
    single = capture_coefficient_multimode(TEMPERATURES, [30.0], [1.5], 0.9, 0.05, 1000.0, 1)
    split = capture_coefficient_multimode(TEMPERATURES, [30.0] * len(direction), 1.5 * np.array(direction), 0.9, 0.05, 1000.0, 1)
    np.testing.assert_allclose(split.capture_coefficient_unscaled_cm3_s, single.capture_coefficient_unscaled_cm3_s, rtol=1e-8)


def test_duschinsky_matrix_is_a_rotation() -> None:
    rng = np.random.default_rng(2)
    force_constants = rng.normal(size=(4, 4, 3, 3))
    force_constants = force_constants + force_constants.transpose(1, 0, 3, 2)
    first = gamma_normal_modes(force_constants, np.ones(4)).eigenvectors
    second = gamma_normal_modes(force_constants + 0.1 * np.eye(12).reshape(4, 3, 4, 3).transpose(0, 2, 1, 3), np.ones(4)).eigenvectors
    rotation = duschinsky_matrix(first, second)
    np.testing.assert_allclose(rotation @ rotation.T, np.eye(12), atol=1e-10)
    np.testing.assert_allclose(np.abs(duschinsky_matrix(first, first)), np.eye(12), atol=1e-10)


def test_real_nv_phonons_converge_in_broadening_and_both_bases_agree() -> None:
    """215 atoms, 642 modes (PBE and HSE06 force constants as the two 'states'): many modes make the δ
    width irrelevant (< 2 %), and two close phonon sets give close rates."""
    document = analyze_capture_files(
        NV_DIAMOND / "zpl_CONTCAR.gz", NV_DIAMOND / "gs_CONTCAR.gz",
        CaptureSettings(delta_E_eV=1.0, temperatures_K=(300.0,)), W_if=0.1,
        fc_initial=NV_DIAMOND / "dfpt_hse06_FORCE_CONSTANTS.gz", fc_final=NV_DIAMOND / "dfpt_FORCE_CONSTANTS.gz",
    )
    initial, final = document.multimode
    assert initial.n_modes == final.n_modes == 642
    assert max(initial.sigma_sensitivity + final.sigma_sensitivity) < 0.02
    assert initial.capture_coefficient_cm3_s[0] == pytest.approx(final.capture_coefficient_cm3_s[0], rel=0.2)
    assert document.surfaces[1].hbar_omega_source == "phonons" and 55 < document.hbar_omega_f_meV < 75
    assert document.duschinsky.mean_mode_mixing < 0.1


def test_duschinsky_rate_equals_the_two_mode_sum_over_states() -> None:
    """Two modes, different frequencies in the two states and a 0.5 rad rotation between them: the Gaussian
    (Mehler-kernel) correlation function against ⟨0_i|A|n_f⟩ computed on a 2D grid."""
    initial, final, angle = np.array([40.0, 25.0]), np.array([30.0, 20.0]), 0.5
    rotation = np.array([[np.cos(angle), np.sin(angle)], [-np.sin(angle), np.cos(angle)]])
    displacement, delta_E, sigma = np.array([0.8, -0.5]), 150.0, 4.0
    grid = np.linspace(-9, 9, 361)
    y = np.stack([a.ravel() for a in np.meshgrid(grid, grid, indexing="ij")])
    x = rotation @ (y - displacement[:, None])
    alpha_i, alpha_f = np.sqrt(initial / HBAR2), np.sqrt(final / HBAR2)
    ground = np.prod([hermite_functions(0, alpha_i[k] * x[k])[0] * np.sqrt(alpha_i[k]) for k in range(2)], axis=0)
    basis = [hermite_functions(30, alpha_f[k] * y[k]) * np.sqrt(alpha_f[k]) for k in range(2)]
    coupling = displacement / np.linalg.norm(displacement)
    elements = (basis[0] * ground * (coupling @ y)) @ basis[1].T * (grid[1] - grid[0]) ** 2
    energies = np.arange(31)[:, None] * final[0] + np.arange(31)[None, :] * final[1]
    density = np.sum(elements**2 * np.exp(-0.5 * ((delta_E - energies) / sigma) ** 2)) / (sigma * np.sqrt(2 * np.pi))
    exact = 1000e-24 * 2 * np.pi / HBAR_EV_S * 0.01 * density * 1e3
    result = capture_coefficient_duschinsky([0.0], initial, final, rotation, displacement, 0.15, 0.1, 1000.0, 1, sigma_meV=sigma)
    assert result.capture_coefficient_unscaled_cm3_s[0] == pytest.approx(exact, rel=1e-6)


def test_duschinsky_rate_reduces_to_one_mode_with_two_frequencies_and_to_one_basis() -> None:
    two_frequencies = capture_coefficient_duschinsky(TEMPERATURES, [40.0], [30.0], np.eye(1), [1.0], 0.5, 0.1, 1000.0, 1)
    np.testing.assert_allclose(two_frequencies.capture_coefficient_unscaled_cm3_s,
                               _sum_over_states(1.0, 40.0, 30.0, 0.5, 4.0, 0.1, 1000.0, 1, n_f=150), rtol=1e-6)
    angle = 0.7
    rotation = np.array([[np.cos(angle), np.sin(angle), 0], [-np.sin(angle), np.cos(angle), 0], [0, 0, 1]])
    rotated = capture_coefficient_duschinsky(TEMPERATURES, [33.45] * 3, [33.45] * 3, rotation, [1.0, 0.5, -0.3], 0.5, 0.1, 1000.0, 1)
    one_basis = capture_coefficient_multimode(TEMPERATURES, [33.45] * 3, [1.0, 0.5, -0.3], 0.5, 0.1, 1000.0, 1)
    np.testing.assert_allclose(rotated.capture_coefficient_unscaled_cm3_s, one_basis.capture_coefficient_unscaled_cm3_s, rtol=1e-8)


def test_duschinsky_rate_far_in_the_tail_is_finite_quiet_and_equals_the_one_basis_rate() -> None:
    # 60 weakly coupled modes (S = 0.03 in all) and ΔE = 4 eV at 10 K: a rate ~1e-150 below the peak, where the
    # contour integrand's exponents are largest. Its magnitude at the contour start is the rate times the line width,
    # so the Duschinsky path needs no rescaling: it agrees with the rescaled one-basis rate, without a warning.
    energies = np.linspace(5.0, 90.0, 60)
    displacement = np.sqrt(2 * HBAR2 * 0.0005 / energies)
    one_basis = capture_coefficient_multimode([10.0, 300.0], energies, displacement, 4.0, 0.1, 1000.0, 1)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        duschinsky = capture_coefficient_duschinsky([10.0, 300.0], energies, energies, np.eye(60), displacement, 4.0,
                                                    0.1, 1000.0, 1)
    assert np.all(one_basis.capture_coefficient_unscaled_cm3_s < 1e-140)
    np.testing.assert_allclose(duschinsky.capture_coefficient_unscaled_cm3_s,
                               one_basis.capture_coefficient_unscaled_cm3_s, rtol=1e-8)

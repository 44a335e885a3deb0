"""Generating-function lineshape against exact single-mode results and sum rules."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import factorial, ive, voigt_profile

from defectscreen.physics.lineshape import optical_lineshape
from defectscreen.physics.units import BOLTZMANN_MEV_PER_K


def test_single_mode_zero_temperature_is_a_poisson_progression_of_voigt_lines() -> None:
    S, energy, sigma, gamma = 2.0, 50.0, 2.0, 0.3
    band = optical_lineshape([energy], [S], sigma_meV=sigma, gamma_meV=gamma)
    eps = band.phonon_energy_meV
    exact = np.exp(-S) * gamma / np.pi / (eps**2 + gamma**2)
    for n in range(1, 30):
        exact += np.exp(-S) * S**n / factorial(n) * voigt_profile(eps - n * energy, np.sqrt(n) * sigma, gamma)
    assert band.converged
    assert np.max(np.abs(band.spectral_function_per_meV - exact)) < 1e-6 * exact.max()
    assert band.debye_waller == pytest.approx(np.exp(-S), rel=1e-12)
    assert band.huang_rhys_total == pytest.approx(S)


def test_single_mode_finite_temperature_line_weights_are_bessel_functions() -> None:
    S, energy, gamma, temperature = 1.5, 40.0, 0.5, 300.0
    band = optical_lineshape([energy], [S], sigma_meV=0.0, gamma_meV=gamma, temperature_K=temperature)
    occupation = 1.0 / np.expm1(energy / (BOLTZMANN_MEV_PER_K * temperature))
    x = 2 * S * np.sqrt(occupation * (occupation + 1))
    eps = band.phonon_energy_meV
    exact = np.zeros_like(eps)
    for p in range(-20, 40):
        weight = np.exp(-S * (2 * occupation + 1) + x) * ((occupation + 1) / occupation) ** (p / 2) * ive(p, x)
        exact += weight * gamma / np.pi / ((eps - p * energy) ** 2 + gamma**2)
    assert np.max(np.abs(band.spectral_function_per_meV - exact)) < 1e-6 * exact.max()
    assert band.debye_waller == pytest.approx(np.exp(-S * (2 * occupation + 1)), rel=1e-12)
    assert np.any(exact[eps < -energy / 2] > 1e-3)  # anti-Stokes lines exist at 300 K


def test_many_modes_obey_the_moment_sum_rules() -> None:
    rng = np.random.default_rng(7)
    energies = rng.uniform(20.0, 160.0, 300)
    factors = rng.exponential(0.01, 300)
    band = optical_lineshape(energies, factors, sigma_meV=3.0, gamma_meV=1.0)
    eps, spectrum = band.phonon_energy_meV, band.spectral_function_per_meV
    area = np.trapezoid(spectrum, eps)
    mean = np.trapezoid(eps * spectrum, eps)
    assert area == pytest.approx(1.0, abs=2e-3)  # Lorentzian tails beyond the window hold ~1e-3
    assert mean == pytest.approx(np.sum(factors * energies), rel=5e-3)  # first moment = Σ S_k ħω_k (γ tails cut at the window)


def test_result_does_not_depend_on_the_grid_chosen_by_the_user() -> None:
    energies, factors = np.array([30.0, 65.0, 150.0]), np.array([1.2, 0.8, 0.3])
    narrow = optical_lineshape(energies, factors, zpl_energy_eV=1.9, sigma_meV=2.0, gamma_meV=0.3)
    wide = optical_lineshape(energies, factors, zpl_energy_eV=1.9, sigma_meV=2.0, gamma_meV=0.3, temperature_K=1e-9)
    assert narrow.converged and narrow.convergence_change < 1e-6
    assert np.array_equal(narrow.spectral_function_per_meV, wide.spectral_function_per_meV)
    assert np.trapezoid(narrow.intensity_per_eV, narrow.photon_energy_eV) == pytest.approx(1.0)
    peak = narrow.photon_energy_eV[np.argmax(narrow.intensity_per_eV)]
    assert peak == pytest.approx(1.9, abs=1e-3)  # S = 2.3 spread over modes: the ZPL (γ = 0.3 meV) is the tallest line


def test_absorption_is_the_mirror_image_on_the_high_energy_side() -> None:
    emission = optical_lineshape([60.0], [3.0], zpl_energy_eV=2.0, kind="emission")
    absorption = optical_lineshape([60.0], [3.0], zpl_energy_eV=2.0, kind="absorption")
    mean_emission = np.trapezoid(emission.photon_energy_eV * emission.intensity_per_eV, emission.photon_energy_eV)
    mean_absorption = np.trapezoid(absorption.photon_energy_eV * absorption.intensity_per_eV, absorption.photon_energy_eV)
    assert mean_emission < 2.0 - 0.15 and mean_absorption > 2.0 + 0.15


@pytest.mark.parametrize(("sigma", "gamma"), [(-1.0, 0.3), (0.0, 0.0)])
def test_bad_broadening_is_refused_with_the_defaults_named(sigma: float, gamma: float) -> None:
    with pytest.raises(ValueError, match=r"\(defaults sigma 2.0 meV, gamma 0.3 meV\)"):
        optical_lineshape([50.0], [1.0], sigma_meV=sigma, gamma_meV=gamma)

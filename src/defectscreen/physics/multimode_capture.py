"""Nonradiative capture with every phonon mode of one vibrational basis (seed 000 Eqs. 11–13).

Static, linear coupling along the capture path: H_eL = W_if Σ_k u_k Q_k, u_k = ΔQ_k/ΔQ, with ΔQ_k the
initial-minus-final displacement in mode k of the chosen basis (initial- or final-state phonons, as in
seed 000 Fig. 3(d)); Q_k measured from the final minimum. With ħ = 1 and energies in meV,

    Σ_m w_m Σ_n |⟨χ_im|Σ_k u_k Q_k|χ_fn⟩|² δ_σ(ΔE + E_m − E_n) = 1/2π ∫ dt e^{iΔE t − σ²t²/2} F(t),
    F(t) = G(t) [A(t) B(t) + Σ_k u_k² s_k² c_k(t)],       G(t) = Π_k exp(S_k[(n_k+1)(e^{−iω_k t} − 1) + n_k(e^{iω_k t} − 1)]),
    A = Σ_k u_k s_k ((γ_k n_k + α_k) e^{−iω_k t} + (α_k − γ̄_k (n_k+1)) e^{iω_k t})/√2,
    B = Σ_k u_k s_k (γ_k n_k − γ̄_k (n_k+1) + 2α_k)/√2,    c_k = ((n_k+1) e^{−iω_k t} + n_k e^{iω_k t})/2,
    α_k = sign(ΔQ_k) sqrt(S_k), γ_k = α_k (1 − e^{iω_k t}), γ̄_k = α_k (1 − e^{−iω_k t}), s_k = sqrt(ħ²/(amu Å² ħω_k)).

(derived from displaced thermal states and Wick's theorem; one mode reproduces the sum over states).
The integral runs on the contour t = τ − iθ, with θ at the saddle point of the integrand's magnitude,
so that rates 10⁻²⁰ below the spectrum's peak come out without cancellation. Then
C̃ = V (2π/ħ) g W_if² × (the sum above).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import brentq

from defectscreen.defaults import DEFAULT_CAPTURE_SIGMA_MEV
from defectscreen.physics.units import (
    BOLTZMANN_MEV_PER_K,
    HBAR2_PER_AMU_ANGSTROM2_MEV,
    HBAR_EV_S,
    bose_occupation,
)

_ENVELOPE_LOG_CUTOFF = 46.0


@dataclass(frozen=True)
class MultimodeCapture:
    """C̃(T) for one ΔE, and how its numerics behaved."""

    temperatures_K: np.ndarray
    capture_coefficient_unscaled_cm3_s: np.ndarray
    sigma_meV: float
    sigma_sensitivity: np.ndarray  # |C̃(2σ) − C̃(σ)| / C̃(σ) per temperature
    n_modes: int


def _log_generating_function(theta: float, energies, factors, occupations) -> float:
    """ln G(−iθ) = Σ S_k[(n_k+1)(e^{−ω_kθ} − 1) + n_k(e^{ω_kθ} − 1)] (real)."""
    return float(np.sum(factors * ((occupations + 1) * np.expm1(-energies * theta) + occupations * np.expm1(energies * theta))))


def _saddle(delta_E_meV, energies, factors, occupations, sigma) -> tuple[float, float]:
    """θ where d/dθ [ΔE θ + ln G(−iθ) + σ²θ²/2] = 0, and the curvature there (meV²)."""
    def slope(theta):
        return delta_E_meV - np.sum(factors * energies * ((occupations + 1) * np.exp(-energies * theta)
                                                          - occupations * np.exp(energies * theta))) + sigma**2 * theta
    bound = 1.0 / max(np.max(energies), sigma)
    low, high = -bound, bound
    while slope(low) > 0:
        low *= 2
    while slope(high) < 0:
        high *= 2
    theta = brentq(slope, low, high, xtol=1e-14)
    curvature = np.sum(factors * energies**2 * ((occupations + 1) * np.exp(-energies * theta)
                                                + occupations * np.exp(energies * theta))) + sigma**2
    return theta, float(curvature)


def _contour_integral(correlation, delta_E_meV: float, theta: float, sigma: float, dtau: float, tau_max: float,
                      log_scale: float = 0.0) -> float:
    """1/π Re ∫_0^τmax dτ F(t) e^{iΔE t − σ²t²/2} on t = τ − iθ (trapezoid, step dtau), where
    correlation(t) returns F as (factor, log magnitude); log_scale is taken out before exponentiating."""
    tau = np.arange(int(np.ceil(tau_max / dtau)) + 1) * dtau
    t = tau - 1j * theta
    factor, log_magnitude = correlation(t)
    integrand = factor * np.exp(log_magnitude + 1j * delta_E_meV * t - 0.5 * sigma**2 * t**2 - log_scale)
    integrand[0] *= 0.5
    return float(np.exp(log_scale) * np.real(np.sum(integrand)) * dtau / np.pi)


def _line_density(delta_E_meV, energies, factors, signs, couplings, occupations, sigma) -> float:
    """Σ_m w_m Σ_n |⟨m|Σ u_k Q_k|n⟩|² δ_σ(ΔE + E_m − E_n) in amu Å² per meV."""
    theta, curvature = _saddle(delta_E_meV, energies, factors, occupations, sigma)
    scale = np.sqrt(HBAR2_PER_AMU_ANGSTROM2_MEV / energies)
    alpha = signs * np.sqrt(factors)
    width = np.sqrt(curvature)
    tau_max = np.sqrt(2 * _ENVELOPE_LOG_CUTOFF) / sigma
    weight = couplings * scale
    log_scale = delta_E_meV * theta + _log_generating_function(theta, energies, factors, occupations) + 0.5 * sigma**2 * theta**2

    def correlation(t):
        emit = np.exp(-1j * np.outer(t, energies))
        absorb = np.exp(1j * np.outer(t, energies))
        gamma = alpha * (1 - absorb)
        gamma_bar = alpha * (1 - emit)
        a = ((gamma * occupations + alpha) * emit + (alpha - gamma_bar * (occupations + 1)) * absorb) @ weight / np.sqrt(2)
        b = (gamma * occupations - gamma_bar * (occupations + 1) + 2 * alpha) @ weight / np.sqrt(2)
        c = ((occupations + 1) * emit + occupations * absorb) @ (weight**2) / 2
        log_g = (emit - 1) @ (factors * (occupations + 1)) + (absorb - 1) @ (factors * occupations)
        return a * b + c, log_g

    results = []
    for refinement in (1, 2):
        dtau = np.pi / (refinement * (12.0 * width + 2.0 * np.max(energies)))
        results.append(_contour_integral(correlation, delta_E_meV, theta, sigma, dtau, refinement * tau_max, log_scale))
    if abs(results[1] - results[0]) > 1e-6 * abs(results[1]):
        raise ArithmeticError(f"the capture integral did not converge ({results[0]:.6g} vs {results[1]:.6g})")
    return float(results[1])


def capture_coefficient_multimode(
    temperature_K: np.ndarray, phonon_energies_meV: np.ndarray, delta_Q_k_amu_half_angstrom: np.ndarray,
    delta_E_eV: float, W_if: float, volume_angstrom3: float, degeneracy: int,
    sigma_meV: float = DEFAULT_CAPTURE_SIGMA_MEV, min_phonon_energy_meV: float = 1.0,
) -> MultimodeCapture:
    """C̃(T) in cm³/s with all modes of one basis: ħω_k (meV) and ΔQ_k = ⟨e_k|M^{1/2}(R_i − R_f)⟩ (amu^1/2 Å).

    W_if in eV/(amu^1/2 Å) is the coupling along the path (as from WSWQ overlaps along ΔQ); sigma_meV is the
    Gaussian width of the energy-conserving δ; the result at 2σ is reported as a sensitivity.
    """
    energies = np.asarray(phonon_energies_meV, dtype=float)
    displacement = np.asarray(delta_Q_k_amu_half_angstrom, dtype=float)
    keep = energies >= min_phonon_energy_meV
    energies, displacement = energies[keep], displacement[keep]
    if delta_E_eV <= 0 or sigma_meV <= 0:
        raise ValueError("delta_E_eV and sigma_meV must be positive")
    factors = energies * displacement**2 / (2 * HBAR2_PER_AMU_ANGSTROM2_MEV)
    couplings = displacement / np.sqrt(np.sum(displacement**2))
    signs = np.sign(displacement)
    temperatures = np.atleast_1d(np.asarray(temperature_K, dtype=float))
    prefactor = volume_angstrom3 * 1e-24 * 2 * np.pi / HBAR_EV_S * degeneracy * W_if**2 * 1e3
    values, sensitivity = [], []
    for temperature in temperatures:
        occupations = bose_occupation(energies, temperature)
        density = _line_density(1e3 * delta_E_eV, energies, factors, signs, couplings, occupations, sigma_meV)
        wider = _line_density(1e3 * delta_E_eV, energies, factors, signs, couplings, occupations, 2 * sigma_meV)
        values.append(prefactor * density)
        sensitivity.append(abs(wider - density) / abs(density))
    return MultimodeCapture(
        temperatures_K=temperatures, capture_coefficient_unscaled_cm3_s=np.array(values), sigma_meV=sigma_meV,
        sigma_sensitivity=np.array(sensitivity), n_modes=int(energies.size),
    )


def _log_sinh(z: np.ndarray) -> np.ndarray:
    """log sinh z, stable for large Re z."""
    z = np.asarray(z, dtype=complex)
    large = z.real > 20
    return np.where(large, z - np.log(2.0), np.log(np.sinh(np.where(large, 1, z))))


def _duschinsky_correlation(t, initial_meV, final_meV, rotation, displacement, coupling, temperature_K):
    """F(t) on a path of complex times t for y = R x + d (R = rotation.T), Gaussian integrals of the two
    Mehler kernels, as (factor, log magnitude), with the zero-point phase removed (ΔE between vibrational
    ground states)."""
    kappa_i, kappa_f = initial_meV / HBAR2_PER_AMU_ANGSTROM2_MEV, final_meV / HBAR2_PER_AMU_ANGSTROM2_MEV
    r = rotation.T
    w = r.T @ coupling
    zero_point = 0.5 * (initial_meV.sum() - final_meV.sum())
    thermal = temperature_K > 1e-6
    beta = 1.0 / (BOLTZMANN_MEV_PER_K * temperature_K) if thermal else np.inf
    logs, halves, brackets = [], [], []
    for time in t:
        tau_f = 1j * time
        if thermal:
            tau_i = beta - 1j * time
            decay = np.exp(-2 * initial_meV * tau_i)
            c_i = kappa_i * (1 + decay) / (1 - decay)
            s_i = kappa_i * 2 * np.exp(-initial_meV * tau_i) / (1 - decay)
            log_i = np.sum(0.5 * np.log(kappa_i) + np.log(2 * np.sinh(0.5 * beta * initial_meV)))
            half_i = np.sum(_log_sinh(initial_meV * tau_i))
        else:
            c_i, s_i = kappa_i.astype(complex), np.zeros(initial_meV.size, dtype=complex)
            log_i = np.sum(0.5 * np.log(2 * kappa_i) + 0.5j * initial_meV * time)
            half_i = 0.0
        c_f = kappa_f / np.tanh(final_meV * tau_f)
        s_f = kappa_f / np.sinh(final_meV * tau_f)
        p = np.diag(c_i) + (r.T * c_f) @ r
        q = np.diag(s_i) + (r.T * s_f) @ r
        g = (c_f - s_f) * displacement
        v = -r.T @ g
        minus = np.linalg.solve(p - q, np.column_stack([v, w]))
        plus = np.linalg.solve(p + q, w)
        sign_m, logdet_m = np.linalg.slogdet(p - q)
        sign_p, logdet_p = np.linalg.slogdet(p + q)
        logs.append(log_i + np.sum(0.5 * np.log(kappa_f)) - displacement @ g + v @ minus[:, 0] - 1j * zero_point * time)
        halves.append(half_i + np.sum(_log_sinh(final_meV * tau_f)) + np.log(sign_m) + logdet_m + np.log(sign_p) + logdet_p)
        brackets.append((w @ minus[:, 0] + coupling @ displacement) ** 2 + 0.5 * (w @ minus[:, 1] - w @ plus))
    halves = np.array(halves)
    phase = np.unwrap(halves.imag)
    phase -= 2 * np.pi * np.round(phase[0] / (2 * np.pi))
    return np.array(brackets), np.array(logs) - 0.5 * (halves.real + 1j * phase)


def capture_coefficient_duschinsky(
    temperature_K: np.ndarray, initial_energies_meV: np.ndarray, final_energies_meV: np.ndarray,
    rotation: np.ndarray, delta_Q_k_final_basis: np.ndarray, delta_E_eV: float, W_if: float,
    volume_angstrom3: float, degeneracy: int, sigma_meV: float = DEFAULT_CAPTURE_SIGMA_MEV,
) -> MultimodeCapture:
    """C̃(T) in cm³/s with the phonons of both states and the Duschinsky rotation (seed 000 Eqs. 11–13).

    rotation: J_kk' = e^i_k · e^f_k' over the optical modes kept in both states (square, orthogonal up to the
    excluded acoustic modes); delta_Q_k_final_basis: ΔQ of the initial minimum in final-state modes.
    F(t) = Tr[ρ_i e^{iH_i t} A e^{−iH_f t} A] is a Gaussian integral of two Mehler kernels (one per state),
    evaluated in closed form with two n×n solves per time step (O(n³) each; minutes for ~600 modes).
    ΔE is the energy between the two vibrational ground states. With J = 1 and equal frequencies this is
    `capture_coefficient_multimode`; with one mode and ω_i ≠ ω_f the sum over vibrational states (tested).
    F is kept as a log magnitude until the integrand is formed, whose size at the contour start is the rate times
    the line width: rates ~1e-150 (60 modes, ΔE = 4 eV, 10 K) agree with the rescaled one-basis integral to 1e-8.
    """
    initial = np.asarray(initial_energies_meV, dtype=float)
    final = np.asarray(final_energies_meV, dtype=float)
    displacement = np.asarray(delta_Q_k_final_basis, dtype=float)
    rotation = np.asarray(rotation, dtype=float)
    if rotation.shape != (initial.size, final.size) or initial.size != final.size or displacement.size != final.size:
        raise ValueError(f"rotation {rotation.shape} must be square and match {initial.size} initial and "
                         f"{final.size} final modes and {displacement.size} displacements")
    if np.any(initial <= 0) or np.any(final <= 0):
        raise ValueError("only optical modes (ħω > 0) enter the Duschinsky rate: drop acoustic/imaginary modes first")
    coupling = displacement / np.linalg.norm(displacement)
    factors = final * displacement**2 / (2 * HBAR2_PER_AMU_ANGSTROM2_MEV)
    temperatures = np.atleast_1d(np.asarray(temperature_K, dtype=float))
    prefactor = volume_angstrom3 * 1e-24 * 2 * np.pi / HBAR_EV_S * degeneracy * W_if**2 * 1e3
    delta_E = 1e3 * delta_E_eV

    def density(temperature, sigma, refinement=1):
        occupations = bose_occupation(final, temperature)
        theta, curvature = _saddle(delta_E, final, factors, occupations, sigma)
        dtau = np.pi / (refinement * (12.0 * np.sqrt(curvature) + 2.0 * max(initial.max(), final.max())))
        return _contour_integral(
            lambda t: _duschinsky_correlation(t, initial, final, rotation, displacement, coupling, temperature),
            delta_E, theta, sigma, dtau, np.sqrt(2 * _ENVELOPE_LOG_CUTOFF) / sigma,
        )

    values, sensitivity = [], []
    for index, temperature in enumerate(temperatures):
        value = density(temperature, sigma_meV)
        if index == 0:
            refined = density(temperature, sigma_meV, refinement=2)
            if abs(refined - value) > 1e-6 * abs(refined):
                raise ArithmeticError(f"the Duschinsky capture integral did not converge ({value:.6g} vs {refined:.6g})")
        values.append(prefactor * value)
        sensitivity.append(abs(density(temperature, 2 * sigma_meV) - value) / abs(value))
    return MultimodeCapture(
        temperatures_K=temperatures, capture_coefficient_unscaled_cm3_s=np.array(values), sigma_meV=sigma_meV,
        sigma_sensitivity=np.array(sensitivity), n_modes=int(final.size),
    )


def duschinsky_matrix(initial_eigenvectors: np.ndarray, final_eigenvectors: np.ndarray) -> np.ndarray:
    """J_kk' = Σ_jα e^i_{k,jα} e^f_{k',jα} (seed 000 Eq. 13): rotation between the two states' normal modes."""
    n_modes = initial_eigenvectors.shape[0]
    return initial_eigenvectors.reshape(n_modes, -1) @ final_eigenvectors.reshape(n_modes, -1).T

"""Optical lineshapes by the generating-function method (seed 000 Eqs. 6–10).

With S_k, ħω_k and occupations n_k at temperature T (energies in meV, time τ in ħ/meV):

    S(τ)  = Σ_k S_k [(n_k+1) e^{−iω_k τ} + n_k e^{iω_k τ}] e^{−σ²τ²/2}      (Eq. 9a, Gaussian δ of Eq. 10)
    S_T   = Σ_k S_k (2n_k + 1),  Debye–Waller weight of the ZPL  w_ZPL = e^{−S_T}
    G(τ)  = e^{S(τ) − S_T}                                                   (Eq. 8)
    A(ε)  = 1/2π ∫ G(τ) e^{iετ − γ|τ|} dτ,  ε = phonon energy emitted         (Eq. 7)
    emission    I(ħω) ∝ (ħω)³ A(E_ZPL − ħω)     absorption  I(ħω) ∝ ħω A(ħω − E_ZPL)   (Eq. 6)

G(τ) = w_ZPL + w_ZPL (e^{S(τ)} − 1): the first term is the zero-phonon line, transformed
analytically into a Lorentzian of half width γ; the second decays as e^{−σ²τ²/2 − γτ}, so its
time window, step and energy resolution follow from σ, γ and the phonon spectrum alone. The
result is computed twice (the second time with a longer window and half the energy step) and the
largest change is reported: the user never picks a grid.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from defectscreen.defaults import DEFAULT_GAMMA_MEV, DEFAULT_SIGMA_MEV
from defectscreen.physics.units import bose_occupation

_ENVELOPE_LOG_CUTOFF = 46.0  # the sideband is truncated where its envelope is below e^-46 ≈ 1e-20
_MODES_PER_CHUNK = 512
CONVERGENCE_TOLERANCE = 1e-6
_MAX_FFT_POINTS = 2**24
#: At most this many e^{-iω_k τ} values held at once (16 bytes each: 256 MB).
_PHASES_PER_CHUNK = 2**24


@dataclass(frozen=True)
class Lineshape:
    """One optical band.

    phonon_energy_meV (ε) and spectral_function_per_meV A(ε) (ZPL included, ∫A dε = 1);
    photon_energy_eV and intensity_per_eV (area 1) when a ZPL energy is given.
    """

    kind: Literal["emission", "absorption"]
    temperature_K: float
    zpl_energy_eV: float | None
    sigma_meV: float
    gamma_meV: float
    huang_rhys_total: float
    huang_rhys_thermal: float
    debye_waller: float
    phonon_energy_meV: np.ndarray
    spectral_function_per_meV: np.ndarray
    photon_energy_eV: np.ndarray | None
    intensity_per_eV: np.ndarray | None
    time_window_hbar_per_meV: float
    energy_step_meV: float
    convergence_change: float
    converged: bool


def _window(energies: np.ndarray, factors: np.ndarray, occupations: np.ndarray, sigma: float, gamma: float):
    """Range of ε that holds the sideband, from its Poisson statistics, and the decay time of G − w_ZPL."""
    top = float(np.max(energies)) if energies.size else 0.0
    stokes = float(np.sum(factors * (occupations + 1.0)))
    anti_stokes = float(np.sum(factors * occupations))
    high = top * (stokes + 10.0 * np.sqrt(stokes) + 12.0) + 12.0 * sigma + 50.0 * gamma
    low = top * (anti_stokes + 10.0 * np.sqrt(anti_stokes) + (12.0 if anti_stokes > 1e-12 else 0.0))
    low += 12.0 * sigma + 50.0 * gamma
    if sigma > 0:
        tau = (-gamma + np.sqrt(gamma**2 + 2.0 * sigma**2 * _ENVELOPE_LOG_CUTOFF)) / sigma**2
    else:
        tau = _ENVELOPE_LOG_CUTOFF / gamma
    return -low, high, tau


def _sideband(energies, factors, occupations, sigma, gamma, eps_low, eps_high, tau_max, dtau, n_fft):
    """A_sideband(ε) on ε_j = ε_low + j·2π/(n_fft·dτ) from the trapezoid rule in τ and one inverse FFT."""
    n_tau = int(np.ceil(tau_max / dtau)) + 1
    tau = np.arange(n_tau) * dtau
    s_tau = np.zeros(n_tau, dtype=complex)
    modes_per_chunk = max(1, min(_MODES_PER_CHUNK, _PHASES_PER_CHUNK // n_tau))  # bounded memory for long τ grids
    for start in range(0, energies.size, modes_per_chunk):
        chunk = slice(start, start + modes_per_chunk)
        phase = np.exp(-1j * np.outer(tau, energies[chunk]))
        s_tau += phase @ (factors[chunk] * (occupations[chunk] + 1)) + phase.conj() @ (factors[chunk] * occupations[chunk])
    s_tau *= np.exp(-0.5 * (sigma * tau) ** 2)
    debye_waller = np.exp(-np.sum(factors * (2 * occupations + 1)))
    integrand = debye_waller * np.expm1(s_tau) * np.exp(-gamma * tau + 1j * eps_low * tau) * dtau
    integrand[0] *= 0.5
    padded = np.zeros(n_fft, dtype=complex)
    padded[:n_tau] = integrand
    values = np.real(np.fft.ifft(padded)) * n_fft / np.pi
    step = 2.0 * np.pi / (n_fft * dtau)
    n_keep = int(np.floor((eps_high - eps_low) / step)) + 1
    return eps_low + step * np.arange(n_keep), values[:n_keep]


def optical_lineshape(
    phonon_energies_meV: np.ndarray,
    partial_huang_rhys: np.ndarray,
    zpl_energy_eV: float | None = None,
    sigma_meV: float = DEFAULT_SIGMA_MEV,
    gamma_meV: float = DEFAULT_GAMMA_MEV,
    temperature_K: float = 0.0,
    kind: Literal["emission", "absorption"] = "emission",
) -> Lineshape:
    """PL (emission) or absorption band of a defect from its Huang–Rhys factors (seed 000 Eqs. 6–10).

    phonon_energies_meV, partial_huang_rhys: ħω_k > 0 and S_k of the vibrational basis (the final state's
    phonons for emission in the usual approximation). sigma_meV: Gaussian width of each δ(ħω − ħω_k);
    gamma_meV: Lorentzian half width of every line (ZPL width). zpl_energy_eV: needed for I(ħω).
    """
    energies = np.asarray(phonon_energies_meV, dtype=float)
    factors = np.asarray(partial_huang_rhys, dtype=float)
    if energies.shape != factors.shape:
        raise ValueError(f"{energies.size} phonon energies but {factors.size} Huang–Rhys factors")
    if sigma_meV < 0 or gamma_meV < 0 or (sigma_meV == 0 and gamma_meV == 0):
        raise ValueError(
            f"sigma_meV = {sigma_meV}, gamma_meV = {gamma_meV}: both must be >= 0 and at least one > 0 "
            f"(defaults sigma {DEFAULT_SIGMA_MEV} meV, gamma {DEFAULT_GAMMA_MEV} meV)"
        )
    if np.any(factors < 0):
        raise ValueError("Huang–Rhys factors must be non-negative")
    keep = (factors > 0) & (energies > 0)
    energies, factors = energies[keep], factors[keep]
    if kind not in ("emission", "absorption"):
        raise ValueError(f"kind = {kind!r}: use 'emission' or 'absorption'")
    occupations = bose_occupation(energies, temperature_K)
    eps_low, eps_high, tau_max = _window(energies, factors, occupations, sigma_meV, gamma_meV)
    target_step = (sigma_meV if sigma_meV > 0 else gamma_meV) / 8.0  # every sideband line is at least σ wide
    dtau = np.pi / (2.0 * (eps_high - eps_low))
    n_fft = int(2 ** np.ceil(np.log2(max(2.0 * np.pi / (target_step * dtau), 2.0 * tau_max / dtau + 2))))
    if n_fft > _MAX_FFT_POINTS:
        raise ValueError(
            f"sigma_meV = {sigma_meV}, gamma_meV = {gamma_meV} over a {eps_high - eps_low:.0f} meV wide band needs "
            f"{n_fft} points: use a Gaussian width of at least {8 * (eps_high - eps_low) / _MAX_FFT_POINTS * 8:.2g} meV"
        )

    _, coarse = _sideband(energies, factors, occupations, sigma_meV, gamma_meV,
                          eps_low, eps_high, tau_max, dtau, n_fft)
    eps, sideband = _sideband(energies, factors, occupations, sigma_meV, gamma_meV,
                              eps_low, eps_high, 1.5 * tau_max, dtau / 2.0, 4 * n_fft)
    step = float(eps[1] - eps[0])
    change = float(np.max(np.abs(sideband[::2][: coarse.size] - coarse)) / max(np.max(np.abs(sideband)), 1e-300))

    thermal = float(np.sum(factors * (2 * occupations + 1)))
    debye_waller = float(np.exp(-thermal))
    spectral = sideband + debye_waller * gamma_meV / np.pi / (eps**2 + gamma_meV**2) if gamma_meV > 0 else sideband

    photon = intensity = None
    if zpl_energy_eV is not None:
        sign = -1.0 if kind == "emission" else 1.0
        photon = zpl_energy_eV + sign * eps * 1e-3
        power = 3 if kind == "emission" else 1
        weight = np.where(photon > 0, np.clip(spectral, 0.0, None) * np.abs(photon) ** power, 0.0)
        order = np.argsort(photon)
        photon, weight = photon[order], weight[order]
        intensity = weight / np.trapezoid(weight, photon)
    return Lineshape(
        kind=kind, temperature_K=temperature_K, zpl_energy_eV=zpl_energy_eV, sigma_meV=sigma_meV,
        gamma_meV=gamma_meV, huang_rhys_total=float(np.sum(factors)), huang_rhys_thermal=thermal,
        debye_waller=debye_waller, phonon_energy_meV=eps, spectral_function_per_meV=spectral,
        photon_energy_eV=photon, intensity_per_eV=intensity, time_window_hbar_per_meV=1.5 * tau_max,
        energy_step_meV=step, convergence_change=change, converged=change < CONVERGENCE_TOLERANCE,
    )

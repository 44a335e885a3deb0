"""Nonradiative carrier capture by multiphonon emission in the 1D static-coupling model
(Alkauskas, Yan & Van de Walle, PRB 90, 075202 (2014); seed 000 Eqs. 11–12 with one effective mode).

    C̃(T) = V (2π/ħ) g W_if² Σ_m w_m(T) Σ_n |⟨χ_im|Q − Q_0|χ_fn⟩|² δ(ΔE + mħω_i − nħω_f)     (Eq. 22)
    C(T)  = f(T) C̃(T) / s                  f: Sommerfeld factor, s: charged-supercell scaling
    W_if  = (ε_f − ε_i) ∂⟨ψ_i(0)|ψ_f(Q)⟩/∂Q                                                 (Eq. 23)

The vibrational wavefunctions are normalized Hermite functions built by their stable three-term
recurrence and integrated on a grid that resolves the highest quantum number used; the closed-form
overlaps of pymatgen-analysis-defects (`analytic_overlap_NM`) lose all precision beyond m ≈ 20,
n ≈ 60 (e.g. ⟨χ_40|χ_90⟩ = −4·10⁹ for ΔQ = 2, ħω = 30 meV), which high temperatures and large ΔE need.
δ(ΔE + mħω_i − nħω_f) is the PCHIP interpolation of the discrete lines divided by their spacing ħω_f.
"""

from __future__ import annotations

import numpy as np
from scipy import constants
from scipy.interpolate import PchipInterpolator
from scipy.special import roots_laguerre

from defectscreen.physics.units import BOLTZMANN_MEV_PER_K, HBAR2_PER_AMU_ANGSTROM2_MEV, HBAR_EV_S

_LAGUERRE_X, _LAGUERRE_W = roots_laguerre(96)

#: Initial vibrational levels are kept until their Boltzmann weight falls below this.
OCCUPATION_TOLERANCE = 1e-8
#: Relative round-off of the quadrature matrix elements; line densities below its square are reported as 0.
NUMERICAL_FLOOR = 1e-14


def hermite_functions(n_max: int, x: np.ndarray) -> np.ndarray:
    """φ_n(x) = (2^n n! sqrt(π))^{-1/2} H_n(x) e^{−x²/2} for n = 0..n_max, by the normalized recurrence
    φ_n = sqrt(2/n) x φ_{n−1} − sqrt((n−1)/n) φ_{n−2} (no factorials, no overflow)."""
    functions = np.zeros((n_max + 1, x.size))
    functions[0] = np.pi**-0.25 * np.exp(-0.5 * x * x)
    if n_max > 0:
        functions[1] = np.sqrt(2.0) * x * functions[0]
    for n in range(2, n_max + 1):
        functions[n] = np.sqrt(2.0 / n) * x * functions[n - 1] - np.sqrt((n - 1) / n) * functions[n - 2]
    return functions


def vibrational_matrix_elements(delta_Q: float, hbar_omega_i_meV: float, hbar_omega_f_meV: float,
                                n_initial: int, n_final: int) -> tuple[np.ndarray, np.ndarray]:
    """⟨χ_im|χ_fn⟩ and ⟨χ_im|Q|χ_fn⟩ (amu^1/2 Å) for m < n_initial, n < n_final.

    χ_i is centred at Q = ΔQ, χ_f at Q = 0 (Q measured from the final minimum, where W_if is evaluated).
    """
    alpha_i = np.sqrt(hbar_omega_i_meV / HBAR2_PER_AMU_ANGSTROM2_MEV)  # 1/(amu^1/2 Å)
    alpha_f = np.sqrt(hbar_omega_f_meV / HBAR2_PER_AMU_ANGSTROM2_MEV)
    reach = max(np.sqrt(2 * n_initial + 1) / alpha_i, np.sqrt(2 * n_final + 1) / alpha_f) + 10.0 / min(alpha_i, alpha_f)
    shortest = 2 * np.pi / max(alpha_i * np.sqrt(2 * n_initial + 1), alpha_f * np.sqrt(2 * n_final + 1))
    q = np.linspace(min(0.0, delta_Q) - reach, max(0.0, delta_Q) + reach, int(60 * 2 * reach / shortest) + 1)
    weight = q[1] - q[0]
    initial = hermite_functions(n_initial - 1, alpha_i * (q - delta_Q)) * np.sqrt(alpha_i)
    final = hermite_functions(n_final - 1, alpha_f * q) * np.sqrt(alpha_f)
    return initial @ final.T * weight, (initial * q) @ final.T * weight


def capture_coefficient_unscaled(
    temperature_K: np.ndarray, delta_Q: float, delta_E_eV: float, hbar_omega_i_meV: float,
    hbar_omega_f_meV: float, W_if: float, volume_angstrom3: float, degeneracy: int,
) -> np.ndarray:
    """C̃(T) in cm³/s for harmonic surfaces (Eq. 22). delta_Q in amu^1/2 Å, W_if in eV/(amu^1/2 Å),
    volume of the supercell in Å³. Contributions below the round-off of the matrix elements (far below any
    measurable rate, ~1e-30 cm³/s for W_if = 1) are exactly 0."""
    temperatures = np.atleast_1d(np.asarray(temperature_K, dtype=float))
    if np.any(temperatures <= 0):
        raise ValueError("temperatures must be > 0 K")
    if delta_E_eV <= 0:
        raise ValueError(f"delta_E_eV = {delta_E_eV}: the transition energy must be positive")
    if hbar_omega_i_meV <= 0 or hbar_omega_f_meV <= 0:
        raise ValueError("phonon energies hbar_omega_i_meV and hbar_omega_f_meV must be positive")
    kT_meV = BOLTZMANN_MEV_PER_K * temperatures.max()
    n_initial = max(int(np.ceil(-kT_meV * np.log(OCCUPATION_TOLERANCE) / hbar_omega_i_meV)) + 2, 4)
    n_final = int(np.ceil((1e3 * delta_E_eV + n_initial * hbar_omega_i_meV) / hbar_omega_f_meV)) + 8
    _, position = vibrational_matrix_elements(delta_Q, hbar_omega_i_meV, hbar_omega_f_meV, n_initial, n_final)
    final_energies = np.arange(n_final) * hbar_omega_f_meV
    line_density = np.empty(n_initial)
    for m in range(n_initial):
        energies = final_energies - m * hbar_omega_i_meV
        line_density[m] = PchipInterpolator(energies, position[m] ** 2, extrapolate=False)(1e3 * delta_E_eV)
    line_density = np.nan_to_num(line_density) / (1e-3 * hbar_omega_f_meV)  # (amu Å²)/eV
    roundoff = (NUMERICAL_FLOOR * np.max(np.abs(position))) ** 2 * n_final / (1e-3 * hbar_omega_f_meV)
    line_density[line_density < roundoff] = 0.0
    levels = np.arange(n_initial)[:, None] * hbar_omega_i_meV
    boltzmann = np.exp(-levels / (BOLTZMANN_MEV_PER_K * temperatures[None, :]))
    boltzmann /= boltzmann.sum(axis=0)
    volume_cm3 = volume_angstrom3 * 1e-24
    return volume_cm3 * 2 * np.pi / HBAR_EV_S * degeneracy * W_if**2 * (line_density @ boltzmann)


def effective_rydberg_eV(effective_mass: float, dielectric_constant: float) -> float:
    """E_R = m* e⁴ / (2 ħ² (4π ε0 ε)²), the hydrogenic binding energy of the carrier, in eV."""
    return constants.physical_constants["Rydberg constant times hc in eV"][0] * effective_mass / dielectric_constant**2


def sommerfeld_factor(temperature_K: np.ndarray, Z: int, effective_mass: float, dielectric_constant: float) -> np.ndarray:
    """Thermal average of the 3D Coulomb (Sommerfeld) factor (Pässler, phys. stat. sol. (b) 78, 625 (1976)).

    Z = (defect charge)/(carrier charge) before capture: Z < 0 attractive, Z > 0 repulsive, 0 neutral.
    s(E) = 2πν/(1 − e^{−2πν}) (attractive) or 2πν/(e^{2πν} − 1) (repulsive), ν = |Z| sqrt(E_R/E),
    averaged over a Maxwell–Boltzmann gas, weight sqrt(E) e^{−E/kT}. Low-T attractive limit:
    f → 4 sqrt(π) |Z| sqrt(E_R/kT).
    """
    temperatures = np.atleast_1d(np.asarray(temperature_K, dtype=float))
    if Z == 0:
        return np.ones_like(temperatures)
    if effective_mass <= 0 or dielectric_constant <= 0:
        raise ValueError("effective_mass and dielectric_constant must be positive for a charged defect")
    rydberg = effective_rydberg_eV(effective_mass, dielectric_constant)
    kT = constants.k * temperatures / constants.e
    nu = abs(Z) * np.sqrt(rydberg / np.outer(kT, _LAGUERRE_X))
    two_pi_nu = 2.0 * np.pi * nu
    if Z < 0:
        s = two_pi_nu / -np.expm1(-two_pi_nu)
    else:
        s = two_pi_nu / np.expm1(np.minimum(two_pi_nu, 700.0))
    return (s * np.sqrt(_LAGUERRE_X)) @ _LAGUERRE_W / (0.5 * np.sqrt(np.pi))


def electron_phonon_coupling(q: np.ndarray, overlaps: np.ndarray, eigenvalue_difference_eV: float) -> float:
    """W_if in eV/(amu^1/2 Å): |ε_f − ε_i| times the slope of ⟨ψ_i(0)|ψ_f(Q)⟩ against Q (least squares
    through the origin, where the overlap of two different orbitals vanishes)."""
    q = np.asarray(q, dtype=float)
    overlaps = np.asarray(overlaps, dtype=float)
    if np.count_nonzero(np.abs(q) > 1e-8) == 0:
        raise ValueError("W_if needs at least one overlap at Q != 0")
    slope = np.sum(q * overlaps) / np.sum(q * q)
    return float(abs(eigenvalue_difference_eV) * slope)


def orbital_overlap(bra: np.ndarray, ket: np.ndarray) -> float:
    """|⟨ψ_a|ψ_b⟩| of two orbitals sampled on the same real-space grid (each normalized to Σ|ψ|² = 1)."""
    return float(abs(np.vdot(bra, ket)))


def inverse_participation_ratio(density: np.ndarray) -> float:
    """N_grid Σρ² of a density on a grid with Σρ = 1 (ρ = |ψ|² of a normalized orbital, or the mean over a degenerate
    manifold's): 1 for a uniform (bulk-like) state, ≫ 1 for a localized defect state."""
    return float(density.size * np.sum(density**2))

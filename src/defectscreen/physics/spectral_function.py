"""S(ħω) of a large cell straight from its dynamical matrix, with or without diagonalizing it.

With D the mass-weighted dynamical matrix (eV/(Å² amu)), v = M^1/2 ΔR (amu^1/2 Å), λ_k, e_k the
eigenpairs of D and ħω_k = c sqrt(λ_k) (c = units.MEV_PER_SQRT_EIGENVALUE):

    S(ħω) = Σ_k ħω_k (e_k·v)² / (2 ħ²/amu Å²) g_σ(ħω − ħω_k) = ⟨v| f_ħω(D) |v⟩      (seed 000 Eqs. 4, 5, 10)

so S(ħω) is the projected density of states of D on v, weighted by ħω/2. Three ways to get it:

- dense: all eigenpairs (O(N³) time, O(N²) memory; the reference);
- Lanczos: m steps from v give the m-point Gauss quadrature of the spectral measure of v (nodes θ_j,
  weights ‖v‖² u_0j²); S(ħω) is then the same sum over m "modes". O(nnz) per step, three vectors of
  memory, no reorthogonalization (Gauss quadrature is stable under the loss of orthogonality);
- Chebyshev moments (kernel polynomial method): μ_n = ⟨v|T_n(D̃)|v⟩ of D scaled into [−1, 1], then
  S(ħω) = Σ_n c_n(ħω) μ_n with c_n the exact Chebyshev coefficients of f_ħω; no kernel damping.

Both iterative methods double their order until S(ħω) changes by less than the tolerance (relative
to its maximum) and report the last change.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.fft import dct
from scipy.linalg import eigh_tridiagonal

from defectscreen.defaults import DEFAULT_MIN_PHONON_ENERGY_MEV
from defectscreen.physics.huang_rhys import spectral_density
from defectscreen.physics.units import HBAR2_PER_AMU_ANGSTROM2_MEV, MEV_PER_SQRT_EIGENVALUE

#: Relative change of S(ħω) between order m and m/2 accepted as converged.
DEFAULT_SPECTRUM_TOLERANCE = 1e-3
_MAX_ORDER = 1 << 14


@dataclass(frozen=True)
class SpectralFunction:
    """S(ħω) (1/meV) on energy_grid_meV and what made it.

    mode_energies_meV, partial_huang_rhys: the modes (dense, SLEPc) or quadrature nodes (Lanczos) whose
    Gaussian-broadened sum is S(ħω); empty for Chebyshev moments. huang_rhys_total: S = Σ S_k (dense,
    Lanczos) or ∫ S(ħω) dħω over the grid (Chebyshev). order: Lanczos steps or Chebyshev moments.
    convergence_change: max |S_m − S_m/2| / max S_m (0 for dense).
    """

    method: str
    energy_grid_meV: np.ndarray
    spectral_function_per_meV: np.ndarray
    huang_rhys_total: float
    mode_energies_meV: np.ndarray
    partial_huang_rhys: np.ndarray
    sigma_meV: float
    order: int
    convergence_change: float
    converged: bool
    matrix_vector_products: int


def huang_rhys_weights(eigenvalues: np.ndarray, squared_projections: np.ndarray,
                       min_phonon_energy_meV: float = DEFAULT_MIN_PHONON_ENERGY_MEV):
    """(ħω_k in meV, S_k) of eigenvalues λ_k of D with squared projections |⟨e_k|v⟩|² in amu Å².

    Modes below min_phonon_energy_meV and imaginary modes (λ < 0) carry no weight (as huang_rhys)."""
    energies = MEV_PER_SQRT_EIGENVALUE * np.sqrt(np.clip(eigenvalues, 0.0, None))
    factors = np.where(energies >= min_phonon_energy_meV,
                       energies * squared_projections / (2.0 * HBAR2_PER_AMU_ANGSTROM2_MEV), 0.0)
    return energies, factors


def dense_spectral_function(dynamical_matrix, displacement: np.ndarray, energy_grid_meV: np.ndarray,
                            sigma_meV: float) -> SpectralFunction:
    """All eigenpairs of D (dense eigh): the exact S(ħω) for cells up to a few 10³ atoms."""
    matrix = dynamical_matrix.toarray() if hasattr(dynamical_matrix, "toarray") else np.asarray(dynamical_matrix)
    eigenvalues, vectors = np.linalg.eigh(0.5 * (matrix + matrix.T))
    energies, factors = huang_rhys_weights(eigenvalues, (vectors.T @ displacement) ** 2)
    return SpectralFunction(
        method="dense", energy_grid_meV=energy_grid_meV,
        spectral_function_per_meV=spectral_density(energies, factors, energy_grid_meV, sigma_meV),
        huang_rhys_total=float(factors.sum()), mode_energies_meV=energies, partial_huang_rhys=factors,
        sigma_meV=sigma_meV, order=len(eigenvalues), convergence_change=0.0, converged=True,
        matrix_vector_products=0,
    )


def lanczos_recurrence(dynamical_matrix, start: np.ndarray):
    """Yield (α_j, β_j) of the Lanczos tridiagonal of D from ``start`` (no reorthogonalization).

    Ends at an invariant subspace (β below 1e-12 |α|), where the Gauss quadrature is exact."""
    q_previous = np.zeros_like(start)
    q = start / np.linalg.norm(start)
    b = 0.0
    while True:
        w = dynamical_matrix @ q - b * q_previous
        a = float(q @ w)
        w -= a * q
        b = float(np.linalg.norm(w))
        yield a, b
        if b <= 1e-12 * max(abs(a), 1.0):
            return
        q_previous, q = q, w / b


def _gauss_quadrature(alpha, beta, norm_squared):
    nodes, vectors = eigh_tridiagonal(alpha, beta) if len(alpha) > 1 else (alpha, np.ones((1, 1)))
    return nodes, norm_squared * vectors[0] ** 2


def lanczos_spectral_function(dynamical_matrix, displacement: np.ndarray, energy_grid_meV: np.ndarray,
                              sigma_meV: float, tolerance: float = DEFAULT_SPECTRUM_TOLERANCE,
                              initial_steps: int = 32) -> SpectralFunction:
    """S(ħω) by Lanczos Gauss quadrature, checked after initial_steps, then 2×, 4×, … steps until S(ħω) moves by
    less than ``tolerance`` from the quadrature of half the steps (one Lanczos run, extended as needed)."""
    norm_squared = float(displacement @ displacement)

    def quadrature(m):
        nodes, weights = _gauss_quadrature(alpha[:m], beta[: m - 1], norm_squared)
        energies, factors = huang_rhys_weights(nodes, weights)
        return energies, factors, spectral_density(energies, factors, energy_grid_meV, sigma_meV)

    alpha, beta = [], []
    checkpoint = initial_steps
    for a, b in lanczos_recurrence(dynamical_matrix, displacement):
        alpha.append(a)
        beta.append(b)
        if len(alpha) < checkpoint and b > 1e-12 * max(abs(a), 1.0):
            continue
        exact = len(alpha) < checkpoint
        energies, factors, spectrum = quadrature(len(alpha))
        change = 0.0 if exact else float(np.max(np.abs(spectrum - quadrature(len(alpha) // 2)[2]))
                                         / max(np.max(spectrum), 1e-300))
        if change < tolerance or len(alpha) >= _MAX_ORDER or exact:
            break
        checkpoint *= 2
    return SpectralFunction(
        method="lanczos", energy_grid_meV=energy_grid_meV, spectral_function_per_meV=spectrum,
        huang_rhys_total=float(factors.sum()), mode_energies_meV=energies, partial_huang_rhys=factors,
        sigma_meV=sigma_meV, order=len(alpha), convergence_change=change, converged=change < tolerance,
        matrix_vector_products=len(alpha),
    )


def spectrum_bounds(dynamical_matrix, start: np.ndarray, n_steps: int = 40) -> tuple[float, float]:
    """An interval (eV/(Å² amu)) holding every eigenvalue of D: extreme Ritz values widened by their residuals."""
    pairs = [pair for pair, _ in zip(lanczos_recurrence(dynamical_matrix, start), range(n_steps))]
    alpha, beta = np.array(pairs).reshape(-1, 2).T
    nodes, vectors = eigh_tridiagonal(alpha, beta[:-1])
    residual = beta[-1] * np.abs(vectors[-1])
    lower = min(nodes[0] - residual[0], 0.0)
    upper = nodes[-1] + residual[-1]
    margin = 0.01 * (upper - lower)
    return lower - margin, upper + margin


def chebyshev_moments(dynamical_matrix, start: np.ndarray, n_moments: int, bounds: tuple[float, float]) -> np.ndarray:
    """μ_n = ⟨v|T_n(D̃)|v⟩, n < n_moments, with D̃ = (D − center)/half_width; two moments per product."""
    center, half_width = 0.5 * (bounds[1] + bounds[0]), 0.5 * (bounds[1] - bounds[0])

    def scaled(x):
        return (dynamical_matrix @ x - center * x) / half_width

    moments = np.zeros(n_moments)
    t_previous, t = start, scaled(start)
    moments[0] = start @ start
    moments[1] = start @ t
    for n in range(1, (n_moments + 1) // 2):
        if 2 * n < n_moments:
            moments[2 * n] = 2.0 * (t @ t) - moments[0]
        t_next = 2.0 * scaled(t) - t_previous
        if 2 * n + 1 < n_moments:
            moments[2 * n + 1] = 2.0 * (t_next @ t) - moments[1]
        t_previous, t = t, t_next
    return moments


def _chebyshev_coefficients(energy_grid_meV, sigma_meV, bounds, n_moments):
    """c_n(ħω) of f_ħω(λ) = ħω(λ)/(2ħ²) g_σ(ħω − ħω(λ)) by a DCT of f on 2 n_moments Chebyshev nodes."""
    n_nodes = 2 * n_moments
    x = np.cos(np.pi * (np.arange(n_nodes) + 0.5) / n_nodes)
    eigenvalue = 0.5 * (bounds[1] + bounds[0]) + 0.5 * (bounds[1] - bounds[0]) * x
    energies, weight = huang_rhys_weights(eigenvalue, np.ones_like(eigenvalue))
    gauss = np.exp(-0.5 * ((energy_grid_meV[:, None] - energies[None, :]) / sigma_meV) ** 2)
    samples = gauss * (weight / (sigma_meV * np.sqrt(2.0 * np.pi)))[None, :]
    coefficients = dct(samples, type=2, axis=1)[:, :n_moments] / n_nodes
    coefficients[:, 0] *= 0.5
    return coefficients


def chebyshev_spectral_function(dynamical_matrix, displacement: np.ndarray, energy_grid_meV: np.ndarray,
                                sigma_meV: float, tolerance: float = DEFAULT_SPECTRUM_TOLERANCE,
                                initial_moments: int = 256) -> SpectralFunction:
    """S(ħω) by Chebyshev moments; the number of moments doubles until S(ħω) moves by less than ``tolerance``."""
    bounds = spectrum_bounds(dynamical_matrix, displacement)
    n_moments = initial_moments
    while True:
        moments = chebyshev_moments(dynamical_matrix, displacement, n_moments, bounds)
        spectra = [_chebyshev_coefficients(energy_grid_meV, sigma_meV, bounds, m) @ moments[:m]
                   for m in (n_moments, n_moments // 2)]
        change = float(np.max(np.abs(spectra[0] - spectra[1])) / max(np.max(spectra[0]), 1e-300))
        if change < tolerance or n_moments >= _MAX_ORDER:
            step = energy_grid_meV[1] - energy_grid_meV[0]
            return SpectralFunction(
                method="chebyshev", energy_grid_meV=energy_grid_meV, spectral_function_per_meV=spectra[0],
                huang_rhys_total=float(np.sum(spectra[0]) * step), mode_energies_meV=np.zeros(0),
                partial_huang_rhys=np.zeros(0), sigma_meV=sigma_meV, order=n_moments, convergence_change=change,
                converged=change < tolerance, matrix_vector_products=n_moments // 2 + 40,
            )
        n_moments *= 2

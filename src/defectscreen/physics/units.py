"""Physical constants and the unit conversions the physics layer uses (CODATA via scipy)."""

from __future__ import annotations

import numpy as np
from scipy import constants

HBAR_EV_S = constants.hbar / constants.e
BOLTZMANN_MEV_PER_K = 1e3 * constants.k / constants.e
BOLTZMANN_EV_PER_K = constants.k / constants.e

#: ħω in meV of a mode whose mass-weighted force-constant eigenvalue is 1 eV/(Å² amu).
MEV_PER_SQRT_EIGENVALUE = 1e3 * HBAR_EV_S * (constants.e / (constants.angstrom**2 * constants.atomic_mass)) ** 0.5

#: ħ²/(amu Å²) in meV: S_k = ħω_k ΔQ_k² / (2 · this) with ħω_k in meV and ΔQ_k in amu^1/2 Å.
HBAR2_PER_AMU_ANGSTROM2_MEV = 1e3 * constants.hbar**2 / (constants.atomic_mass * constants.angstrom**2) / constants.e


def bose_occupation(phonon_energy_meV: np.ndarray, temperature_K: float) -> np.ndarray:
    """Bose–Einstein occupation n(ħω, T) of modes with energies in meV; exactly 0 at T = 0."""
    energy = np.asarray(phonon_energy_meV, dtype=float)
    if temperature_K <= 0:
        return np.zeros_like(energy)
    with np.errstate(over="ignore"):
        return 1.0 / np.expm1(energy / (BOLTZMANN_MEV_PER_K * temperature_K))

"""Charge neutrality: defect concentrations, free carriers and the self-consistent Fermi level.

Energies in eV with the Fermi level E_F measured from the VBM; concentrations per cm³; temperature in K.
A defect in charge state q with formation energy E_q(E_F) = b_q + q·E_F on N sites per cm³ has
concentration c_q = N / (1 + exp(E_q / kT)) (dilute; the Boltzmann factor N·exp(−E_q/kT) wherever E_q ≫ kT,
bounded by the site density where a formation energy goes negative). Free carriers come from the host's
one-electron levels: n = Σ_{ε ≥ CBM} w f(ε − E_F), p = Σ_{ε ≤ VBM} w (1 − f(ε − E_F)), w the number of states
per level per cm³. Neutrality: Σ_defects Σ_q q·c_q + p − n = 0, a monotonic function of E_F.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import brentq
from scipy.special import expit

from defectscreen.physics.units import BOLTZMANN_EV_PER_K

CUBIC_ANGSTROM_PER_CUBIC_CM = 1e24


@dataclass(frozen=True)
class DefectLines:
    """One defect's formation energies at E_F = VBM per charge state (eV) and its site density (cm⁻³), or several
    defects' charge states at once with one site density per state."""

    charges: np.ndarray
    formation_energies_at_vbm_eV: np.ndarray
    sites_per_cm3: float | np.ndarray

    @classmethod
    def joined(cls, defects: list[DefectLines]) -> DefectLines:
        """Every charge state of ``defects`` in one set of arrays (one vectorised evaluation per E_F)."""
        if not defects:
            return cls(np.zeros(0), np.zeros(0), np.zeros(0))
        return cls(np.concatenate([d.charges for d in defects]),
                   np.concatenate([d.formation_energies_at_vbm_eV for d in defects]),
                   np.concatenate([np.broadcast_to(d.sites_per_cm3, np.shape(d.charges)) for d in defects]))

    def formation_energies_eV(self, fermi_level_eV: float) -> np.ndarray:
        return self.formation_energies_at_vbm_eV + self.charges * fermi_level_eV

    def concentrations_cm3(self, fermi_level_eV: float, temperature_K: float) -> np.ndarray:
        """c_q per charge state (cm⁻³)."""
        energies = self.formation_energies_eV(fermi_level_eV)
        return self.sites_per_cm3 * expit(-energies / (BOLTZMANN_EV_PER_K * temperature_K))


@dataclass(frozen=True)
class HostLevels:
    """The host's one-electron levels relative to its VBM (eV) and states per level per cm³."""

    valence_eV: np.ndarray
    valence_states_cm3: np.ndarray
    conduction_eV: np.ndarray
    conduction_states_cm3: np.ndarray

    @classmethod
    def from_levels(cls, eigenvalues_eV: np.ndarray, states_per_level: np.ndarray, vbm_eV: float, cbm_eV: float,
                    volume_angstrom3: float) -> HostLevels:
        """Split the levels of a bulk cell (volume in Å³) at its band edges; ``states_per_level`` is the number
        of electrons a level holds in that cell (spin degeneracy × k-weight)."""
        eigenvalues, weights = np.ravel(eigenvalues_eV), np.ravel(states_per_level)
        per_cm3 = weights * CUBIC_ANGSTROM_PER_CUBIC_CM / volume_angstrom3
        valence, conduction = eigenvalues <= vbm_eV + 1e-9, eigenvalues >= cbm_eV - 1e-9
        return cls(eigenvalues[valence] - vbm_eV, per_cm3[valence], eigenvalues[conduction] - vbm_eV,
                   per_cm3[conduction])

    def carriers_cm3(self, fermi_level_eV: float, temperature_K: float) -> tuple[float, float]:
        """(electrons in the conduction band, holes in the valence band) per cm³."""
        kt = BOLTZMANN_EV_PER_K * temperature_K
        electrons = float(np.sum(self.conduction_states_cm3 * expit(-(self.conduction_eV - fermi_level_eV) / kt)))
        holes = float(np.sum(self.valence_states_cm3 * expit((self.valence_eV - fermi_level_eV) / kt)))
        return electrons, holes


@dataclass(frozen=True)
class NetCharge:
    """Σ q c_q + p − n (e per cm³) as one sum Σ_i w_i σ(a_i E_F + b_i), σ the logistic function: holes w = states
    per cm³, a = −1/kT, b = ε_v/kT; electrons w = −states, a = 1/kT, b = −ε_c/kT; defect states w = q N,
    a = −q/kT, b = −b_q/kT. Positive when E_F is too low for neutrality."""

    weights: np.ndarray
    slopes_per_eV: np.ndarray
    intercepts: np.ndarray

    @classmethod
    def of(cls, defects: list[DefectLines], host: HostLevels, temperature_K: float) -> NetCharge:
        kt = BOLTZMANN_EV_PER_K * temperature_K
        lines = DefectLines.joined(defects)
        sites = np.broadcast_to(lines.sites_per_cm3, np.shape(lines.charges))
        return cls(np.concatenate([host.valence_states_cm3, -host.conduction_states_cm3, lines.charges * sites]),
                   np.concatenate([np.full(len(host.valence_eV), -1.0 / kt),
                                   np.full(len(host.conduction_eV), 1.0 / kt), -lines.charges / kt]),
                   np.concatenate([host.valence_eV / kt, -host.conduction_eV / kt,
                                   -lines.formation_energies_at_vbm_eV / kt]))

    def __call__(self, fermi_level_eV: float) -> float:
        return float(self.weights @ expit(self.slopes_per_eV * fermi_level_eV + self.intercepts))


def charge_neutral_fermi_level(defects: list[DefectLines], host: HostLevels, temperature_K: float,
                               band_gap_eV: float) -> float:
    """The E_F (eV above the VBM) at which the net charge vanishes (net charge falls monotonically with E_F, so the
    root is unique), bracketed from 1 eV below the VBM to 1 eV above the CBM, widened 1 eV at a time where
    negative formation energies saturate the defects."""
    if temperature_K <= 0:
        raise ValueError(f"temperature_K must be positive, got {temperature_K}")
    net_charge = NetCharge.of(defects, host, temperature_K)
    low, high = -1.0, band_gap_eV + 1.0
    for _ in range(10):
        if net_charge(low) > 0 > net_charge(high):
            return float(brentq(net_charge, low, high, xtol=1e-9))
        low, high = low - 1.0, high + 1.0
    raise ValueError(f"no charge-neutral Fermi level within 10 eV of the band edges: the defects' charge "
                     f"({net_charge(low):.3g} cm^-3 at E_F = {low} eV) exceeds what "
                     "the host's computed levels can compensate; include more empty bands or check the formation energies")

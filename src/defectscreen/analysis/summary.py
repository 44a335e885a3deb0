"""One defect's summary: its formation energies and levels joined with the vibronic documents of its charge pairs.

With the levels known, each pair's Huang–Rhys factors give its photoluminescence bands (ZPL from the level).

Capture through a pair happens at that pair's own level ε (the crossing of the two charge states' lines): an
electron is captured by the higher charge with ΔE = E_CBM − ε, a hole by the lower charge with ΔE = ε − E_VBM.
C̃/W_if² of the 1D harmonic model (seed 000, Eq. 22) is evaluated there exactly, at 300 K, from the
configuration-coordinate document's ΔQ, ħω_i, ħω_f, cell volume and g (its (ΔE, T) grid is for figures).
C = f C̃ / s with the Sommerfeld factor f of the carrier's Coulomb interaction with the capturing charge (m* from
the campaign, ε the mean of the eigenvalues of the ε⁰ the host's defects were corrected with) and the
charged-supercell scaling s from the orbitals.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import pairwise

import numpy as np

from defectscreen.analysis.lineshape import binned_emission
from defectscreen.physics.capture import capture_coefficient_unscaled, sommerfeld_factor
from defectscreen.physics.lineshape import optical_lineshape
from defectscreen.schemas.formation import (
    CaptureAtLevel,
    ChargePairSummary,
    DefectFormation,
    DefectFormationDocument,
    DefectSummaryDocument,
    PhotoluminescenceBand,
)

SUMMARY_TEMPERATURE_K = 300.0


def pair_level_eV(defect: DefectFormation, higher: int, lower: int) -> float:
    """ε(q/q−1) = b_{q−1} − b_q: where the two lines cross (any chemical-potential limit gives the same)."""
    states = {s.charge: s.formation_energy_at_vbm_eV for s in defect.charge_states}
    limit = next(iter(states[higher]))
    return states[lower][limit] - states[higher][limit]


def capture_at_level(factor: dict, ccd: dict, level_eV: float, band_gap_eV: float,
                     effective_masses: dict[str, float], dielectric_constant: float | list[list[float]] | None,
                     temperature_K: float = SUMMARY_TEMPERATURE_K) -> CaptureAtLevel:
    """C̃/W_if², C̃ and C of one capture direction (a ``phonon_factors`` entry of the ConfigurationCoordinateDocument
    ``ccd``) at the pair's level, evaluated exactly at ``temperature_K`` (K). None where ΔE ≤ 0 (the level lies
    outside the gap on that carrier's side: no capture)."""
    carrier = factor["carrier"]
    delta_e = band_gap_eV - level_eV if carrier == "electron" else level_eV
    per_w2 = None
    if delta_e > 0:
        per_w2 = float(capture_coefficient_unscaled(
            np.array([temperature_K]), ccd["delta_Q_amu_half_angstrom"], delta_e, factor["hbar_omega_i_meV"],
            factor["hbar_omega_f_meV"], 1.0, ccd["supercell_volume_angstrom3"], ccd["final_state_degeneracy"])[0])
    coupling = factor.get("W_if_eV_per_amu_half_angstrom")
    unscaled = None if per_w2 is None or coupling is None else per_w2 * coupling**2
    Z = -factor["initial_charge"] if carrier == "electron" else factor["initial_charge"]
    sommerfeld = 1.0 if Z == 0 else None
    if Z != 0 and carrier in effective_masses and dielectric_constant is not None:
        epsilon = float(np.mean(np.linalg.eigvalsh(np.atleast_2d(dielectric_constant))))
        sommerfeld = float(sommerfeld_factor(np.array([temperature_K]), Z, effective_masses[carrier], epsilon)[0])
    scaling = factor.get("charged_supercell_scaling")
    profile = factor.get("charged_supercell_scaling_profile")
    return CaptureAtLevel(carrier=carrier, delta_E_eV=float(delta_e), temperature_K=temperature_K,
                          capture_coefficient_per_W_if2_cm3_s=per_w2, capture_coefficient_unscaled_cm3_s=unscaled,
                          Z=Z, sommerfeld_factor=sommerfeld, charged_supercell_scaling=scaling,
                          scaling_plateau_found=profile["plateau_found"] if profile else None,
                          capture_coefficient_cm3_s=None if None in (unscaled, sommerfeld, scaling)
                          else unscaled * sommerfeld / scaling)


def photoluminescence_bands(huang_rhys: dict, frequencies_meV: dict[str, list[float]], level_eV: float,
                            band_gap_eV: float) -> list[PhotoluminescenceBand]:
    """Both radiative captures of one pair with ZPL inside the gap: an electron into the higher charge (final state:
    the lower charge, ZPL = E_gap − ε) and a hole into the lower charge (final: the higher charge, ZPL = ε), each
    in its final state's phonons (``frequencies_meV`` by phonon-document uuid), potential-force records only.
    A capture whose Franck–Condon relaxation energy S⟨ħω⟩ reaches its ZPL gives no band: its emission would lie at
    zero or negative photon energy (the capture is nonradiative). A band carries its phonons' flags."""
    bands = []
    for carrier, basis, zpl in (("electron", "lower_charge", band_gap_eV - level_eV), ("hole", "higher_charge", level_eV)):
        record = next((r for r in huang_rhys["records"] if r["phonon_basis"] == basis and r["force_source"] == "potential"),
                      None)
        if record is None or not 0.0 < zpl < band_gap_eV or record["phonons_uuid"] not in frequencies_meV:
            continue
        relaxation_eV = 1e-3 * record["huang_rhys_total"] * (record["mean_phonon_energy_meV"] or 0.0)
        if relaxation_eV >= zpl:
            continue
        energies = np.asarray(frequencies_meV[record["phonons_uuid"]])
        factors = np.asarray(record["partial_huang_rhys"])
        real = energies > 0
        band = optical_lineshape(energies[real], factors[real], zpl_energy_eV=zpl, sigma_meV=huang_rhys["sigma_meV"])
        photon, intensity = binned_emission(band)
        bands.append(PhotoluminescenceBand(
            carrier=carrier, final_state_basis=basis, zpl_energy_eV=zpl, relaxation_energy_eV=relaxation_eV,
            huang_rhys_total=band.huang_rhys_total,
            debye_waller=band.debye_waller, peak_energy_eV=photon[int(np.argmax(intensity))], photon_energy_eV=photon,
            intensity_per_eV=intensity, phonons_uuid=record["phonons_uuid"], flags=record.get("phonon_flags", [])))
    return bands


def huang_rhys_flags(huang_rhys: dict) -> list[str]:
    """The phonon flags of a Huang–Rhys document's records, each naming whose phonons it is about."""
    return [f"S in the {record['phonon_basis'].replace('_', ' ')}'s phonons ({record['force_source']}): {flag}"
            for record in huang_rhys["records"] for flag in record.get("phonon_flags", [])]


@dataclass(frozen=True)
class SummaryInputs:
    """Everything one defect's summary is made of: its formation-energy document (with what of its host a summary
    reads), and the vibronic documents of its charge pairs ('q/q-1' -> stored document with its JobStore ``uuid``);
    the phonon frequencies the Huang–Rhys documents refer to, by phonon-document uuid."""

    summary_id: str
    fingerprint: str
    formation: DefectFormationDocument
    configuration_coordinate: dict[str, dict] = field(default_factory=dict)
    huang_rhys: dict[str, dict] = field(default_factory=dict)
    embedding_convergence: dict[str, dict] = field(default_factory=dict)
    frequencies_meV: dict[str, list[float]] = field(default_factory=dict)


def summarize_defect(inputs: SummaryInputs) -> DefectSummaryDocument:
    """The summary of ``inputs.formation``'s defect."""
    defect = inputs.formation
    band_gap_eV = defect.band_gap_eV
    charges = sorted((s.charge for s in defect.charge_states), reverse=True)
    pairs = []
    for higher, lower in pairwise(charges):
        if higher - lower != 1:
            continue
        key = f"{higher}/{lower}"
        pair = ChargePairSummary(charges=key, level_eV=pair_level_eV(defect, higher, lower))
        if key in inputs.configuration_coordinate:
            doc = inputs.configuration_coordinate[key]
            pair.delta_Q_amu_half_angstrom = doc["delta_Q_amu_half_angstrom"]
            surfaces = {s["state"]: s["hbar_omega_meV"] for s in doc["surfaces"]}
            pair.hbar_omega_higher_meV, pair.hbar_omega_lower_meV = surfaces["higher_charge"], surfaces["lower_charge"]
            pair.capture = [capture_at_level(f, doc, pair.level_eV, band_gap_eV, defect.effective_masses,
                                             defect.dielectric_constant) for f in doc["phonon_factors"]]
            pair.source_uuids["configuration_coordinate"] = doc["uuid"]
            pair.flags += doc.get("flags", [])
        if key in inputs.huang_rhys:
            doc = inputs.huang_rhys[key]
            pair.huang_rhys_total = next((r["huang_rhys_total"] for r in doc["records"]
                                          if r["phonon_basis"] == "higher_charge"), doc["records"][0]["huang_rhys_total"])
            pair.source_uuids["huang_rhys"] = doc["uuid"]
            pair.photoluminescence = photoluminescence_bands(doc, inputs.frequencies_meV, pair.level_eV, band_gap_eV)
            pair.flags += huang_rhys_flags(doc)
        if key in inputs.embedding_convergence:
            largest = inputs.embedding_convergence[key]["points"][-1]
            pair.huang_rhys_total_embedded, pair.embedded_n_atoms = largest["huang_rhys_total"], largest["n_atoms"]
            pair.source_uuids["embedding_convergence"] = inputs.embedding_convergence[key]["uuid"]
        pairs.append(pair)
    depths = [min(t.level_eV, band_gap_eV - t.level_eV) for t in defect.transition_levels]
    per_w2 = [c.capture_coefficient_per_W_if2_cm3_s for p in pairs for c in p.capture
              if c.capture_coefficient_per_W_if2_cm3_s is not None]
    rates = [c.capture_coefficient_cm3_s for p in pairs for c in p.capture if c.capture_coefficient_cm3_s is not None]
    huang_rhys_values = [v for p in pairs for v in (p.huang_rhys_total_embedded or p.huang_rhys_total,) if v is not None]
    return DefectSummaryDocument(
        summary_id=inputs.summary_id, host=defect.host, defect_name=defect.defect_name, defect_type=defect.defect_type,
        campaign=defect.campaign, campaign_sha256=defect.campaign_sha256, engine_name=defect.engine_name,
        flags=[*defect.flags, *(f"{pair.charges}: {flag}" for pair in pairs for flag in pair.flags)],
        band_gap_eV=band_gap_eV, charges=charges,
        charge_states=defect.charge_states, transition_levels=defect.transition_levels,
        deepest_level_depth_eV=max(depths) if depths else None,
        pairs=pairs, huang_rhys_total_max=max(huang_rhys_values, default=None),
        capture_coefficient_per_W_if2_max_cm3_s=max(per_w2, default=None),
        capture_coefficient_max_cm3_s=max(rates, default=None), formation_energies_uuid=defect.host_id,
        input_fingerprint=inputs.fingerprint)

"""Documents of the formation-energy builders: one per defect and charge, one per host."""

from __future__ import annotations

import hashlib
from typing import Literal

from pydantic import BaseModel, Field

from defectscreen.schemas.amorphous import ensemble_name
from defectscreen.schemas.tasks import CalculationLabels, EngineRecord


class SitePotential(BaseModel):
    """One atomic site of a Kumagai–Oba correction."""

    element: str
    distance_angstrom: float = Field(description="from the defect (nearest image)")
    defect_minus_bulk_V: float = Field(description="φ_defect − φ_bulk, electrostatic potential at the site")
    point_charge_V: float | None = Field(description="φ_PC of the screened point charge; None inside the sampling "
                                         "radius (sites not averaged)")


class FiniteSizeCorrection(BaseModel):
    """Finite-size correction of a charged supercell (zero for q = 0)."""

    method: str = Field(description="'freysoldt' (lattice energy + planar-averaged potential alignment), "
                        "'freysoldt_lattice_only' (engine without a real-space potential: no alignment term), "
                        "'kumagai' (point-charge lattice energy + atomic-site potential alignment) or 'none' (q = 0)")
    correction_eV: float = Field(description="added to the supercell energy")
    lattice_energy_eV: float = Field(description="E_iso − E_per of the model charge (Freysoldt: Gaussian of width "
                                     "gaussian_width_bohr; Kumagai: point charge), screened by ε")
    alignment_eV: float | None = Field(description="−q ΔV far from the defect: of the planar-averaged potentials "
                                       "(Freysoldt) or of the atomic-site potentials outside the sampling radius "
                                       "(Kumagai)")
    alignment_per_axis_eV: list[float] | None = None
    dielectric_constant: float | list[list[float]] | None = Field(description="None only for q = 0 without one")
    gaussian_width_bohr: float | None = Field(description="Freysoldt's model charge; None for Kumagai")
    sampling_radius_angstrom: float | None = Field(None, description="Kumagai: sites farther than this are averaged")
    site_potentials: list[SitePotential] | None = Field(None, description="Kumagai: every site's potentials")


def settings_key(settings: BaseModel) -> str:
    """16 hex digits of the SHA-256 of settings' canonical JSON: part of the ids of the documents built under them."""
    return hashlib.sha256(settings.model_dump_json().encode()).hexdigest()[:16]


class CorrectionSettings(BaseModel):
    """The campaign's settings a charged defect's finite-size correction depends on: part of the defect document's
    inputs and id, so that another ε or scheme in a resubmitted campaign builds new documents beside the old."""

    scheme: Literal["freysoldt", "kumagai"] = "freysoldt"
    dielectric_constant: float | list[list[float]] | Literal["computed"] | None = Field(
        None, description="as the campaign gives it ('computed': the host's newest dielectric document)")
    gaussian_width_bohr: float = 1.0

    @classmethod
    def from_campaign(cls, campaign: dict | None, host: str) -> CorrectionSettings:
        """The settings of ``host`` in a stored campaign document (``{"campaign": {...}}``; the defaults where a
        task's campaign was never recorded)."""
        if campaign is None:
            return cls()
        spec = next((h for h in campaign["campaign"]["hosts"] if h["name"] == ensemble_name(host)), {})
        formation = campaign["campaign"]["formation"]
        return cls(scheme=formation.get("correction", "freysoldt"), dielectric_constant=spec.get("dielectric_constant"),
                   gaussian_width_bohr=formation["gaussian_width_bohr"])


class FormationInputs(BaseModel):
    """The campaign's settings a host's formation energies, levels, Fermi level and capture coefficients depend on
    beyond its task documents: part of the formation document's inputs and id (``settings_key``)."""

    correction: CorrectionSettings
    chemical_potentials: dict[str, dict[str, float]] = Field(default_factory=dict,
                                                             description="limits the user fixed")
    temperature_K: float = Field(description="of the charge-neutral Fermi level")
    effective_masses: dict[str, float] = Field(default_factory=dict, description="carrier -> m* (electron masses)")
    phase_entries: list[dict] | None = Field(None, description="the competing phases as the campaign gave them "
                                             "(pymatgen ComputedEntry dicts); None: computed by the campaign")

    @classmethod
    def from_campaign(cls, campaign: dict, host: str) -> FormationInputs:
        """The formation settings of ``host`` in a stored campaign document."""
        spec = next((h for h in campaign["campaign"]["hosts"] if h["name"] == ensemble_name(host)), {})
        formation = campaign["campaign"]["formation"]
        return cls(correction=CorrectionSettings.from_campaign(campaign, host),
                   chemical_potentials=formation["chemical_potentials"], temperature_K=formation["temperature_K"],
                   phase_entries=formation.get("phase_entries"),
                   effective_masses={carrier: spec[f"effective_mass_{carrier}"] for carrier in ("electron", "hole")
                                     if spec.get(f"effective_mass_{carrier}") is not None})


class LatticeEnergyDocument(BaseModel):
    """The Freysoldt lattice energy E_iso − E_per of a unit Gaussian charge in one supercell, screened by ε
    (collection ``lattice_energies``, keyed by ``lattice_key``): a charged defect's Freysoldt correction takes q²
    times it. Computed once per (lattice, ε, β) and read by every later build, whichever process runs it."""

    lattice_key: str = Field(description="SHA-256 of the lattice matrix (rounded to 10^-8 Å), ε and β")
    lattice_matrix_angstrom: list[list[float]]
    dielectric_constant: float | list[float] | list[list[float]]
    gaussian_width_bohr: float
    unit_charge_lattice_energy_eV: float
    method: str = Field(description="the library function that computed it, with its settings")
    code_versions: dict[str, str]
    defect_id: str = Field(description="the charge-state document whose build computed it")


class DefectChargeDocument(BaseModel):
    """One relaxed defect in one charge state, with its finite-size correction (collection ``defects``)."""

    defect_id: str = Field(description="'GaN:C_N:-1|<engine settings hash[:16]>|<settings_key>'")
    labels: CalculationLabels
    correction_settings: CorrectionSettings
    settings_key: str = Field(description="settings_key(correction_settings)")
    energy_eV: float = Field(description="relaxed supercell energy, uncorrected")
    corrected_energy_eV: float
    correction: FiniteSizeCorrection
    bulk_energy_eV: float
    engine: EngineRecord
    task_uuid: str
    bulk_task_uuid: str
    dielectric_task_uuid: str | None = Field(None, description="the host's dielectric document whose ε⁰ was used "
                                             "(None: the campaign gave the dielectric constant)")
    campaign_sha256: str = Field(description="campaign whose dielectric constant and charge model were used")
    input_fingerprint: str = Field(description="SHA-256 of the source documents' uuids and completion times")


class ChemicalPotentialLimit(BaseModel):
    """One vertex of the host's stability region (or a limit the user fixed)."""

    name: str = Field(description="e.g. 'Ga-rich' (elements at their reference phase)")
    mu_eV: dict[str, float] = Field(description="element -> μ relative to its reference phase (eV per atom)")
    source: str = Field(description="'phase diagram' or 'campaign'")


class ChargeStateFormation(BaseModel):
    charge: int
    formation_energy_at_vbm_eV: dict[str, float] = Field(description="chemical-potential limit -> E_f at E_F = VBM")
    correction_eV: float
    defect_uuid: str = Field(description="the DefectChargeDocument's task uuid")


class TransitionLevel(BaseModel):
    charges: str = Field(description="'q1/q2' with q1 stable below the level")
    level_eV: float = Field(description="above the VBM")


class FormationLines(BaseModel):
    """The formation-energy lines E_f(E_F) = b_q + q E_F of a host's defects, one list per quantity (entry i of each
    is the i-th defect's, defects sorted by name): what the host's charge balance reads. Columns, not an object per
    defect, so that a host's rebuild decodes, solves and writes a few arrays."""

    defect_names: list[str]
    equivalent_sites: list[int | None] = Field(description="sites per bulk cell; None: left out of the charge balance")
    charges: list[list[int]]
    formation_energy_at_vbm_eV: dict[str, list[list[float]]] = Field(
        description="chemical-potential limit -> per defect, b_q (E_f at E_F = VBM) per entry of its charges")
    input_fingerprints: list[str | None] = Field(description="each defect's DefectFormation.input_fingerprint")

    def fingerprints(self) -> dict[str, str | None]:
        """defect name -> its input fingerprint."""
        return dict(zip(self.defect_names, self.input_fingerprints))

    @classmethod
    def joined(cls, parts: list[FormationLines], keep: set[str] | None = None) -> FormationLines:
        """The defects of ``parts`` (at least one table; those named in ``keep``, where given) in one table sorted
        by name; a name in several parts is taken from the last."""
        rows = {}
        for part in parts:
            for i, name in enumerate(part.defect_names):
                if keep is None or name in keep:
                    rows[name] = (part, i)
        ordered = [rows[name] for name in sorted(rows)]
        limits = list(parts[0].formation_energy_at_vbm_eV)
        return cls(defect_names=[part.defect_names[i] for part, i in ordered],
                   equivalent_sites=[part.equivalent_sites[i] for part, i in ordered],
                   charges=[part.charges[i] for part, i in ordered],
                   formation_energy_at_vbm_eV={limit: [part.formation_energy_at_vbm_eV[limit][i] for part, i in ordered]
                                               for limit in limits},
                   input_fingerprints=[part.input_fingerprints[i] for part, i in ordered])


class DefectFormation(BaseModel):
    defect_name: str
    defect_type: str
    charge_states: list[ChargeStateFormation]
    transition_levels: list[TransitionLevel] = Field(description="kinks of the lower envelope inside the gap "
                                                     "(independent of the chemical potentials)")
    equivalent_sites: int | None
    input_fingerprint: str | None = Field(None, description="SHA-256 of what this defect's entry is computed from "
                                          "(its charge-state documents, the host's bulk cell, competing phases and "
                                          "formation settings): its summary is rebuilt when it changes")

    def lines(self) -> FormationLines:
        """The formation-energy lines of its charge states (a one-defect table)."""
        limits = self.charge_states[0].formation_energy_at_vbm_eV
        return FormationLines(defect_names=[self.defect_name], equivalent_sites=[self.equivalent_sites],
                              charges=[[s.charge for s in self.charge_states]],
                              formation_energy_at_vbm_eV={limit: [[s.formation_energy_at_vbm_eV[limit]
                                                                   for s in self.charge_states]] for limit in limits},
                              input_fingerprints=[self.input_fingerprint])


class DefectFormationDocument(DefectFormation):
    """One defect's formation energies and transition levels in its host, with what of the host its summary reads
    (collection ``defect_formation_energies``). Built with its host's FormationEnergyDocument ``host_id``, whose
    charge-neutral Fermi level and concentrations every defect of the host shifts; a defect's document is rewritten
    only when its own inputs or its host's flags change."""

    defect_formation_id: str = Field(description="'GaN:C_N|<engine settings hash[:16]>|<settings_key>'")
    host_id: str = Field(description="the host's FormationEnergyDocument")
    host: str
    campaign: str
    campaign_sha256: str
    engine_name: str
    band_gap_eV: float
    effective_masses: dict[str, float] = Field(default_factory=dict, description="carrier -> m* from the campaign")
    dielectric_constant: float | list[list[float]] | None = Field(description="ε⁰ its charged states were "
                                                                  "corrected with")
    flags: list[str] = Field(default_factory=list, description="the host's formation-energy flags")


class FermiLevelSolution(BaseModel):
    """Charge-neutral Fermi level at one chemical-potential limit."""

    limit: str
    temperature_K: float
    fermi_level_eV: float = Field(description="above the VBM")
    electrons_cm3: float
    holes_cm3: float
    concentrations_cm3: list[list[float] | None] = Field(
        description="per defect of the host's defect_lines (same order), per entry of its charges (cm⁻³); None: "
        "left out of the balance (no site count)")


class FormationEnergyDocument(BaseModel):
    """Chemical-potential limits, the charge-neutral Fermi level and the defect concentrations of one host
    (collection ``formation_energies``); each defect's formation energies and levels are its own
    DefectFormationDocument (``defect_formation_energies``, same ``host_id``)."""

    host_id: str = Field(description="'GaN|<engine settings hash[:16]>|<settings_key>'")
    host: str
    campaign: str
    inputs: FormationInputs
    settings_key: str = Field(description="settings_key(inputs)")
    formula: str
    vbm_eV: float
    cbm_eV: float
    band_gap_eV: float = Field(description="Kohn–Sham (or tight-binding) gap of the bulk supercell")
    host_formation_enthalpy_eV_per_atom: float
    host_energy_above_hull_eV_per_atom: float = Field(
        description="> 0: the host is unstable against the competing phases with this engine; its energy was "
        "lowered onto the hull to define the limits")
    elemental_reference_energies_eV_per_atom: dict[str, float]
    competing_phases: dict[str, float] = Field(description="phase id -> formation enthalpy (eV per atom)")
    chemical_potential_limits: list[ChemicalPotentialLimit]
    defect_lines: FormationLines = Field(description="every defect's formation-energy lines, the input of "
                                         "fermi_levels")
    fermi_levels: list[FermiLevelSolution]
    flags: list[str] = Field(default_factory=list, description="what in this document is not physics (an engine "
                             "without a band gap, a metallic gap, a Fermi level outside the gap), in words")
    dielectric_constant: float | list[list[float]] | None = Field(
        None, description="ε⁰ its defects were corrected with (scalar or 3x3); None when no defect had one")
    dielectric_task_uuid: str | None = Field(None, description="the dielectric document ε⁰ came from (None: campaign)")
    effective_masses: dict[str, float] = Field(
        default_factory=dict, description="carrier ('electron', 'hole') -> m* (electron masses) from the campaign")
    engine: EngineRecord
    bulk_task_uuid: str
    source_uuids: list[str] = Field(description="bulk and competing-phase task uuids used (each defect's are in its "
                                    "charge_states)")
    campaign_sha256: str
    host_input_fingerprint: str | None = Field(None, description="SHA-256 of the host's own inputs (bulk cell, "
                                               "competing phases, formation settings, ε⁰): while it is unchanged, "
                                               "a rebuild reads only the defects whose documents changed")
    input_fingerprint: str


class CaptureAtLevel(BaseModel):
    """Nonradiative capture through one charge pair at its own transition level, from the 1D CCD phonon factor."""

    carrier: str = Field(description="'electron' (higher → lower charge) or 'hole'")
    delta_E_eV: float = Field(description="CBM − ε (electron) or ε − VBM (hole), ε the pair's crossing level")
    temperature_K: float
    capture_coefficient_per_W_if2_cm3_s: float | None = Field(
        description="C̃/W_if² evaluated exactly at ΔE (seed 000 Eq. 22); None where ΔE ≤ 0 (the level lies beyond "
        "that band edge)")
    capture_coefficient_unscaled_cm3_s: float | None = Field(description="× W_if² where the engine gave orbitals")
    Z: int = Field(description="defect charge / carrier charge before capture (< 0 attractive)")
    sommerfeld_factor: float | None = Field(description="f at temperature_K; None for Z ≠ 0 without m* and ε")
    charged_supercell_scaling: float | None = Field(description="s from the orbitals (1 for Z = 0)")
    scaling_plateau_found: bool | None = Field(
        None, description="False: s(R) had no flat window in this cell (s is the flattest window's mean); use a "
        "larger supercell before trusting C")
    capture_coefficient_cm3_s: float | None = Field(
        description="C = f C̃ / s with g = 1 (multiply by the number of equivalent final configurations)")


class PhotoluminescenceBand(BaseModel):
    """Radiative capture of a free carrier through the pair at its own level, by the generating function in the
    final state's phonons (seed 000 Eqs. 6–10), at 0 K."""

    carrier: str = Field(description="'electron' (q → q−1, ZPL = E_gap − ε) or 'hole' (q−1 → q, ZPL = ε)")
    final_state_basis: str = Field(description="whose phonons: 'lower_charge' (electron) or 'higher_charge' (hole)")
    zpl_energy_eV: float
    relaxation_energy_eV: float = Field(description="S⟨ħω⟩ of the final state, below the ZPL (else no band)")
    huang_rhys_total: float
    debye_waller: float
    peak_energy_eV: float = Field(description="photon energy of the band maximum")
    photon_energy_eV: list[float]
    intensity_per_eV: list[float] = Field(description="I(ħω) ∝ ω³A, unit area, γ and σ of the Huang–Rhys document")
    phonons_uuid: str
    flags: list[str] = Field(default_factory=list, description="its phonons' flags: where present, the band is not "
                             "physics")


class ChargePairSummary(BaseModel):
    """What the platform computed between two adjacent charge states of the defect."""

    charges: str = Field(description="'q/q-1'")
    level_eV: float = Field(description="crossing of the two charge states' lines, above the VBM (may lie outside "
                            "the gap or above a lower-envelope kink)")
    delta_Q_amu_half_angstrom: float | None = None
    hbar_omega_higher_meV: float | None = None
    hbar_omega_lower_meV: float | None = None
    capture: list[CaptureAtLevel] = Field(default_factory=list)
    huang_rhys_total: float | None = Field(None, description="in the defect cell's phonons (higher-charge basis)")
    huang_rhys_total_embedded: float | None = Field(None, description="in the largest embedded cell")
    embedded_n_atoms: int | None = None
    photoluminescence: list[PhotoluminescenceBand] = Field(
        default_factory=list, description="where the pair has Huang–Rhys factors, its level lies in the gap and the "
        "relaxation energy is below the ZPL")
    source_uuids: dict[str, str] = Field(default_factory=dict, description="document kind -> JobStore uuid")
    flags: list[str] = Field(default_factory=list, description="what of this pair is not physics: its "
                             "configuration-coordinate document's flags (an anharmonic surface, ...), its Huang–Rhys "
                             "records' phonon flags (imaginary modes, a mode the potential's training set contradicts)")


class DefectSummaryDocument(BaseModel):
    """One defect of one host: formation energies, transition levels and every vibronic result, with links to their
    documents (collection ``summaries``). Its equilibrium concentrations at the host's charge-neutral Fermi level,
    which every defect of the host shifts, are in the formation-energy document ``formation_energies_uuid``."""

    summary_id: str = Field(description="'GaN:C_N|<engine settings hash[:16]>|<settings_key>'")
    host: str
    defect_name: str
    defect_type: str
    campaign: str
    campaign_sha256: str = Field(description="the campaign version its formation-energy document was built under")
    engine_name: str
    flags: list[str] = Field(default_factory=list, description="the host's formation-energy flags (what is not "
                             "physics in these levels, energies and concentrations), then each pair's ('0/-1: ...')")
    band_gap_eV: float
    charges: list[int]
    charge_states: list[ChargeStateFormation]
    transition_levels: list[TransitionLevel]
    deepest_level_depth_eV: float | None = Field(description="max over levels of min(ε, gap − ε): how deep in the gap")
    pairs: list[ChargePairSummary]
    huang_rhys_total_max: float | None
    capture_coefficient_per_W_if2_max_cm3_s: float | None
    capture_coefficient_max_cm3_s: float | None = Field(
        description="largest C = f C̃ / s at 300 K over the pairs where W_if (and, for charged defects, m* and ε) "
        "are known")
    formation_energies_uuid: str = Field(description="host_id of the formation-energy document")
    input_fingerprint: str

"""Documents of one defect, one potential: training set, potential, Γ phonons, Huang–Rhys factors."""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import BaseModel, Field
from pymatgen.core import Structure

from defectscreen.schemas.tasks import CalculationLabels, EngineRecord


class TrainingSetDocument(BaseModel):
    """Perturbed copies of one relaxed supercell labelled by the campaign's engine (seed 000 §II)."""

    calculation_id: str
    labels: CalculationLabels
    reference_structure: Structure = Field(description="the relaxed supercell every frame is a perturbation of")
    n_structures: int
    r_max_angstrom: float = Field(description="every atom displaced inside a sphere of this radius")
    seed: int
    displacements_angstrom: list[list[list[float]]] = Field(description="(frame, atom, xyz) from the reference")
    energies_eV: list[float]
    forces_eV_per_angstrom: list[list[list[float]]] = Field(description="(frame, atom, xyz)")
    train_indices: list[int]
    validation_indices: list[int]
    engine: EngineRecord
    wall_time_s: float
    campaign_sha256: str
    parent_uuids: list[str] = Field(description="task document of the relaxed structure")
    defectscreen_version: str


class FrameSource(BaseModel):
    """Where training frames came from: a stored training set (uuid) or a user file (path + SHA-256)."""

    uuid: str | None = None
    path: str | None = None
    sha256: str | None = None


class FoundationModel(BaseModel):
    """The foundation model a potential was fine-tuned from."""

    name: str = Field(description="as the settings give it: a shipped model's name or a file path")
    checkpoint: str = Field(description="the file the weights were read from")
    sha256: str
    source: str = Field(description="'file' (the user's), or the package whose wheel ships it, with its version")


class PotentialDocument(BaseModel):
    """A trained per-defect potential: model file, exact settings, and its errors measured by defectscreen
    on the training and the held-out validation frames (float64 evaluation)."""

    calculation_id: str
    labels: CalculationLabels | None = Field(None, description="None for a potential trained on a user's file")
    backend: Literal["mace", "nequip", "sevennet"]
    training_settings: dict = Field(description="every backend setting, defaults included")
    foundation_model: FoundationModel | None = Field(None, description="None for a model trained from scratch")
    recipe: dict = Field(description="the PotentialRecipe: training-set size, r_max, split, threshold, training")
    recipe_sha256: str
    model_file_name: str
    model_sha256: str
    model_size_bytes: int
    model_base64: str = Field(description="the model file, base64; kept in the blob store")
    n_train: int
    n_validation: int
    train_force_rmse_meV_per_angstrom: float
    validation_force_rmse_meV_per_angstrom: float
    validation_max_force_error_meV_per_angstrom: float
    train_energy_mae_meV_per_atom: float
    validation_energy_mae_meV_per_atom: float
    validation_reference_force_rms_meV_per_angstrom: float | None = Field(
        None, description="RMS reference force of the validation frames, the scale of the force RMSE")
    max_validation_force_rmse_meV_per_angstrom: float
    max_validation_relative_force_rmse: float | None = None
    usable: bool = Field(description="validation force RMSE within the thresholds: used for phonons")
    flag_reason: str | None = None
    frames: FrameSource
    code_versions: dict[str, str]
    training_wall_time_s: float
    wall_time_s: float
    campaign_sha256: str | None = None
    parent_uuids: list[str] = Field(default_factory=list, description="the training set's document")
    dipole_dipole_subtracted: str | None = Field(
        None, description="the dielectric document whose dipole–dipole energies and forces (Z*, ε∞, Ewald sum in the "
        "training supercell) were subtracted from the labels: a short-ranged model, the term is added back "
        "analytically where it is used")
    defectscreen_version: str


class PhononComparison(BaseModel):
    """Γ modes from the per-defect potential against the same modes from the engine (the reference)."""

    potential_phonons_uuid: str
    frequency_mean_abs_error_meV: float = Field(description="optical modes paired in ascending order")
    frequency_max_abs_error_meV: float
    localized_mode_indices: list[int] = Field(description="reference modes with IPR > 10/N")
    localized_reference_frequencies_meV: list[float]
    localized_frequency_errors_meV: list[float] = Field(description="potential minus engine")
    localized_overlaps: list[float] = Field(
        description="|projection| of each localized engine eigenvector on the potential's modes within 2 meV"
    )


class ModeCurvatureRecord(BaseModel):
    """One normal mode of a potential's phonons against the curvature that engine-labelled cells displaced around the
    structure give along it (the least-squares line f_k = f_0 − λ d_k of force against displacement along the mode)."""

    index: int = Field(description="the mode, in the phonon document's order")
    frequency_meV: float
    model_curvature_eV_per_angstrom2: float = Field(description="ê·Φ·ê of the potential's force constants")
    reference_curvature_eV_per_angstrom2: float = Field(description="λ of the labelled cells")
    reference_standard_error_eV_per_angstrom2: float
    reference_line_residual_meV_per_angstrom: float
    n_reference_cells: int
    model_is_wrong: bool = Field(description="the cells contradict the potential's curvature (the margin of "
                                 "analysis.potential.ModeCurvatureCheck): this mode, and an S from it, are the "
                                 "model's error")


class PhononDocument(BaseModel):
    """Γ-point phonons of one relaxed supercell by finite displacements (phonopy, ± displacements, acoustic sum
    rule enforced), with forces from the per-defect potential or directly from the engine."""

    calculation_id: str
    labels: CalculationLabels
    force_source: Literal["potential", "engine"]
    structure: Structure
    displacement_angstrom: float
    n_force_evaluations: int
    frequencies_meV: list[float] = Field(description="ħω_k ascending; imaginary modes negative")
    inverse_participation_ratio: list[float]
    n_imaginary_modes: int = Field(description="modes below −0.5 meV (acoustic noise excluded)")
    largest_residual_force_meV_per_angstrom: float | None = Field(
        None, description="max_j |F_j − ⟨F⟩| of the force source on the undisplaced structure (drift removed, as in "
                          "the displaced sets): near 0 at its minimum; large with imaginary modes, the structure is "
                          "not a minimum of the force source")
    eigenvectors: list[list[list[float]]] = Field(description="(mode, atom, xyz) mass-weighted; blob store")
    force_constants_eV_per_angstrom2: list[list[list[list[float]]]] = Field(description="(N, N, 3, 3); blob store")
    comparison: PhononComparison | None = Field(None, description="engine phonons only: against the potential's")
    mode_curvatures: list[ModeCurvatureRecord] = Field(
        default_factory=list, description="potential phonons: each imaginary mode and the softest real one checked "
        "against the potential's own training set (the engine's perturbed cells)")
    flags: list[str] = Field(default_factory=list, description="what of these phonons is not physics: imaginary "
                             "modes, and checked modes the potential's training set contradicts")
    engine: EngineRecord = Field(description="the engine that labelled the potential's data, or made the forces")
    potential_uuid: str | None = None
    model_sha256: str | None = None
    wall_time_s: float
    campaign_sha256: str
    parent_uuids: list[str]
    defectscreen_version: str


class HuangRhysRecord(BaseModel):
    """Huang–Rhys factors of one transition in one state's phonons (seed 000 Eqs. 3–5, 10)."""

    phonon_basis: Literal["higher_charge", "lower_charge"]
    force_source: Literal["potential", "engine"]
    phonons_uuid: str
    huang_rhys_total: float
    mean_phonon_energy_meV: float | None = Field(description="Σ_k S_k ħω_k / S; None when S = 0")
    partial_huang_rhys: list[float] = Field(description="S_k per mode, in the phonon document's order")
    spectral_density_energy_meV: list[float]
    spectral_density_per_meV: list[float] = Field(description="S(ħω) with Gaussian width sigma_meV")
    n_modes_excluded: int
    phonon_flags: list[str] = Field(default_factory=list, description="the phonon document's flags: where "
                                    "present, this S is not physics")


class HuangRhysDocument(BaseModel):
    """ΔQ, ΔR and Huang–Rhys factors between the relaxed structures of two adjacent charge states."""

    calculation_id: str = Field(description="'GaN:C_N:0/-1'")
    host: str
    defect_name: str
    higher_charge: int
    lower_charge: int
    delta_Q_amu_half_angstrom: float
    delta_R_angstrom: float
    sigma_meV: float
    records: list[HuangRhysRecord]
    potential_vs_engine_huang_rhys: dict[str, float] = Field(
        default_factory=dict,
        description="phonon basis -> S(potential) / S(engine) − 1, where the engine phonons were computed",
    )
    campaign_sha256: str
    parent_uuids: list[str] = Field(description="the two relaxations and every phonon document used")
    defectscreen_version: str


class PhononBandSegmentDocument(BaseModel):
    """One straight piece of the dispersion path."""

    start: str = Field(description="label of its first point, e.g. 'Γ'")
    end: str
    q_points: list[list[float]] = Field(description="reduced coordinates of the primitive reciprocal lattice")
    distance_inv_angstrom: list[float] = Field(description="cumulative path length, 1/Å without 2π")
    frequencies_meV: list[list[float]] = Field(description="(q, band) ħω ascending; imaginary as negative")


class DipoleCorrectionDocument(BaseModel):
    """The dipole–dipole (LO–TO) term: its inputs and what it gives at Γ."""

    method: Literal["gonze-lee"] = Field(description="dipole–dipole force constants subtracted from the supercell's "
                                         "in real space, added back by an Ewald sum at every q (phonopy)")
    source: str = Field(description="where Z* and ε∞ came from (a BORN file, a dielectric document)")
    born_charges_e: list[list[list[float]]] = Field(description="Z* (primitive atom, field α, displacement β)")
    epsilon_inf: list[list[float]]
    direction_cartesian: list[float] = Field(description="the direction q̂ Γ is approached along below")
    transverse_gamma_meV: list[float] = Field(description="ħω at Γ, analytic part only (TO)")
    longitudinal_gamma_meV: list[float] = Field(description="ħω for q → 0 along direction_cartesian (LO and TO)")
    lyddane_sachs_teller_ratio: float = Field(description="Π_m ω²_LO,m / ω²_TO,m over the optical modes")
    epsilon_static_ratio: float | None = Field(
        description="q̂·ε⁰·q̂ / q̂·ε∞·q̂ with ε⁰ = ε∞ + ε_ion(Z*, Φ_Γ): equals the ratio above when Z*, ε∞ and the "
        "force constants are consistent; None when an optical Γ mode is unstable (no static response)")


class DispersionComparison(BaseModel):
    """The engine's dispersion (this document) against the potential's, on the same path."""

    potential_dispersion_uuid: str = Field(description="the potential's dispersion in its own (larger) supercell")
    same_supercell_mean_error_meV: float = Field(description="potential − engine in this document's supercell: "
                                                 "the model's error alone")
    same_supercell_max_error_meV: float
    mean_error_meV: float = Field(description="against the potential's document: model and supercell size together")
    max_error_meV: float


def supercell_atoms(supercell_matrix: list[list[int]], primitive_atoms: int) -> int:
    """Atoms in the supercell ``supercell_matrix`` of a primitive cell holding ``primitive_atoms``."""
    return round(abs(np.linalg.det(supercell_matrix))) * primitive_atoms


class PhononDispersionDocument(BaseModel):
    """A crystal's phonon dispersion along the standard path and its density of states, from supercell force
    constants (phonopy), with the dipole–dipole correction when Born charges and ε∞ are given. From a campaign
    (task_label 'host_dispersion'): a host's, with forces from its fine-tuned potential or from the engine."""

    task_label: Literal["host_dispersion"] = "host_dispersion"
    host: str | None = Field(None, description="None for a user's own files (analyze dispersion)")
    force_source: Literal["potential", "engine", "files"] = "files"
    formula: str
    primitive_structure: Structure
    supercell_matrix: list[list[int]]
    force_constants_source: str = Field(description="the files or document the force constants came from")
    segments: list[PhononBandSegmentDocument]
    dos_energy_meV: list[float]
    dos_states_per_meV: list[float] = Field(description="per primitive cell; integrates to 3N")
    dos_mesh: list[int]
    dipole_correction: DipoleCorrectionDocument | None = Field(description="None: no LO–TO splitting computed")
    lowest_frequency_meV: float = Field(description="on the path")
    flags: list[str] = Field(default_factory=list, description="what is not physics here (imaginary modes, a "
                             "polar crystal without its dipole–dipole term)")
    n_force_evaluations: int | None = None
    comparison: DispersionComparison | None = Field(None, description="engine dispersions: against the potential's")
    engine: EngineRecord | None = Field(None, description="the engine that labelled the potential's data, or made "
                                        "the forces")
    potential_uuid: str | None = None
    model_sha256: str | None = None
    dielectric_uuid: str | None = Field(None, description="the dielectric document Z* and ε∞ came from")
    wall_time_s: float | None = None
    campaign_sha256: str | None = None
    parent_uuids: list[str] = Field(default_factory=list)
    phonopy_version: str
    defectscreen_version: str

"""Documents of one defect, one potential: training set, potential, Γ phonons, Huang–Rhys factors."""

from __future__ import annotations

from typing import Literal

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


class PotentialDocument(BaseModel):
    """A trained per-defect potential: model file, exact settings, and its errors measured by defectscreen
    on the training and the held-out validation frames (float64 evaluation)."""

    calculation_id: str
    labels: CalculationLabels | None = Field(None, description="None for a potential trained on a user's file")
    backend: Literal["mace", "nequip"]
    training_settings: dict = Field(description="every backend setting, defaults included")
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
    max_validation_force_rmse_meV_per_angstrom: float
    usable: bool = Field(description="validation force RMSE within the threshold: used for phonons")
    flag_reason: str | None = None
    frames: FrameSource
    code_versions: dict[str, str]
    training_wall_time_s: float
    wall_time_s: float
    campaign_sha256: str | None = None
    parent_uuids: list[str] = Field(default_factory=list, description="the training set's document")
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
    eigenvectors: list[list[list[float]]] = Field(description="(mode, atom, xyz) mass-weighted; blob store")
    force_constants_eV_per_angstrom2: list[list[list[list[float]]]] = Field(description="(N, N, 3, 3); blob store")
    comparison: PhononComparison | None = Field(None, description="engine phonons only: against the potential's")
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

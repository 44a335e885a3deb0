"""Documents of the structure search (seed 002): the surrogate, each defect's search, and the benchmark record."""

from __future__ import annotations

from pydantic import BaseModel, Field

from defectscreen.schemas.tasks import CalculationLabels, EngineRecord, TaskDocument


class TrainingSource(BaseModel):
    """A reference relaxation whose frames trained the surrogate."""

    uuid: str = Field(description="the relaxation's job, or the full search that holds it")
    calculation_id: str
    campaign: str | None = Field(None, description="the campaign whose job made the relaxation")
    candidate: str | None = Field(None, description="search candidate of a full search's relaxation")
    n_frames: int


class SurrogateDocument(BaseModel):
    """A universal potential fine-tuned on one host's reference relaxations of one charge state (seed 002 §IV)."""

    surrogate_id: str = Field(description="'CdTe:surrogate:0': host and charge state it serves")
    host: str
    charge: int
    settings: dict = Field(description="SurrogateSettings used")
    training_sources: list[TrainingSource]
    related_hosts: list[str] = Field(description="other hosts whose bulk and full-search relaxations it learned from")
    training_campaign: str | None = Field(
        None, description="the earlier campaign whose stored full searches it also learned from (search.training_campaign)")
    n_training_frames: int
    n_validation_frames: int
    validation_errors_starting_model: dict[str, float] = Field(
        description="relative-energy MAE (meV/atom) and force MAE (meV/Å) of the starting model on the held-out frames")
    validation_errors: dict[str, float] = Field(description="the same for the fine-tuned model")
    cell_offsets_eV: dict[str, float] = Field(description="calculation_id -> E_engine − E_model at its last frame")
    model_base64: str = Field(description="the fine-tuned model, base64: CHGNet (torch.save of CHGNet.as_dict()) or a "
                              "SevenNet checkpoint")
    starting_model: dict[str, str] = Field(
        default_factory=dict, description="the model it was fine-tuned from: name, source (the wheel) and, for a file "
        "or a SevenNet checkpoint, its SHA-256")
    n_defects_served: int = Field(description="defect relaxations trained on (each is searched with this model)")
    engine: EngineRecord = Field(description="the reference engine whose frames trained it")
    code_versions: dict[str, str]
    wall_time_s: float
    campaign_sha256: str
    parent_uuids: list[str]
    defectscreen_version: str


class SearchCandidate(BaseModel):
    """One candidate structure relaxed with the surrogate."""

    name: str = Field(description="'Unperturbed', 'Bond_Distortion_-40.0%', 'Dimer', 'Pair_3-7_Bond_Distortion_-40.0%'")
    surrogate_energy_eV: float
    surrogate_steps: int
    surrogate_converged: bool
    minimum: str = Field(description="the unique minimum (candidate name) it relaxed into")
    cosine_distance_to_minimum: float = Field(description="SOAP cosine distance of its defect site to the minimum's")
    sent_to_reference: bool = Field(description="relaxed with the reference engine from its surrogate minimum")
    sent_from_prior: bool = Field(False, description="relaxed with the reference engine from its distorted structure, "
                                  "as one of the family prior's candidates")


class StructureSearchDocument(BaseModel):
    """Candidates of one (defect, charge), their surrogate minima, and which went to the reference engine."""

    calculation_id: str
    labels: CalculationLabels
    candidates: list[SearchCandidate]
    unique_minima: list[str] = Field(description="candidate names, lowest surrogate energy first")
    sent_to_reference: list[str] = Field(
        description="unique minima relaxed with the reference from their surrogate geometry (all but 'Unperturbed', "
        "whose reference relaxation is the campaign's own)")
    family_prior: dict[str, float] = Field(
        default_factory=dict, description="candidate -> mean fraction of the reconstruction it recovered in the "
        "related hosts' full searches, highest first (filled when search.prior_candidates > 0)")
    sent_from_prior: list[str] = Field(
        default_factory=list, description="the family prior's first search.prior_candidates candidates, relaxed with "
        "the reference from their distorted structures (a sent minimum of the same name is not sent again)")
    fingerprint: dict = Field(description="SOAP parameters and the cosine-distance threshold")
    selection: dict = Field(default_factory=dict, description="max_sent and send_within_eV: which unique minima "
                            "were sent (None: every one)")
    distortion_increment: float
    neighbour_pairs: bool = Field(description="whether the every-neighbour-pair search was added")
    benchmark: bool = Field(description="every candidate is also relaxed with the reference (full search)")
    surrogate_uuid: str | None = Field(description="the surrogate it used (None: search.max_sent 0, the family prior "
                                       "alone)")
    unperturbed_uuid: str
    wall_time_s: float = Field(description="candidate generation, surrogate relaxations and fingerprints")
    campaign_sha256: str
    parent_uuids: list[str]
    defectscreen_version: str


class FullSearchDocument(BaseModel):
    """Every candidate of one (defect, charge) relaxed with the reference engine (seed 002's reference search)."""

    calculation_id: str
    labels: CalculationLabels
    candidates: list[str] = Field(description="ShakeNBreak candidate names ('Unperturbed' is the campaign's own "
                                  "relaxation)")
    relaxations: list[TaskDocument] = Field(description="the finished reference relaxations, one per candidate")
    not_finished: list[str] = Field(description="candidates whose relaxation job failed")
    distortion_increment: float
    wall_time_s: float = Field(description="sum of the relaxations' wall times")
    campaign_sha256: str
    parent_uuids: list[str] = Field(description="the full-search job, then each relaxation")
    defectscreen_version: str


class CandidateStartRoute(BaseModel):
    """Diagnostic: the minima a search sent, had they been relaxed with the reference from their candidates'
    ShakeNBreak structures instead of their surrogate geometries; read from the full search, which relaxed exactly
    those structures. Measures what the surrogate geometry itself is worth."""

    ground_state: str
    ground_state_energy_eV: float
    energy_difference_eV: float = Field(description="this route − full search ground-state energy (> 0: missed)")
    ground_state_found: bool = Field(description="energy difference below the benchmark's ground_state_tolerance_eV")
    wall_time_s: float = Field(description="unperturbed + the sent candidates' full-search relaxations + candidate "
                               "surrogate relaxations + this defect's share of the surrogate's training")
    speedup: float = Field(description="full search wall time / this route's")


class SearchBenchmarkDocument(BaseModel):
    """Surrogate route against the full reference search of one (defect, charge) (seed 002 Table II)."""

    calculation_id: str
    labels: CalculationLabels
    n_reference_relaxations_full: int = Field(description="every candidate and the unperturbed cell")
    n_reference_relaxations_surrogate: int = Field(description="the unperturbed cell, the minima sent and the "
                                                   "family prior's candidates")
    reference_relaxations_saved_percent: float
    full_ground_state: str = Field(description="candidate whose reference relaxation is lowest in the full search")
    full_ground_state_energy_eV: float
    surrogate_ground_state: str
    surrogate_ground_state_energy_eV: float
    energy_difference_eV: float = Field(description="surrogate route − full search ground-state energy (> 0: missed)")
    ground_state_found: bool = Field(description="energy difference below ground_state_tolerance_eV")
    ground_state_tolerance_eV: float
    reconstruction_energy_eV: float = Field(description="full ground state − unperturbed relaxation (< 0: the "
                                            "unperturbed relaxation misses a lower structure)")
    full_reference_energies_eV: dict[str, float | None] = Field(
        description="candidate -> reference energy after relaxing it (None: not converged)")
    wall_time_full_s: float = Field(description="sum of the full search's reference relaxations")
    wall_time_surrogate_s: float = Field(description="unperturbed + minima reference relaxations + candidate "
                                         "surrogate relaxations + this defect's share of the surrogate's training")
    speedup: float
    candidate_start: CandidateStartRoute = Field(
        description="the same minima relaxed from their ShakeNBreak structures (read from the full search)")
    campaign_sha256: str
    parent_uuids: list[str]
    defectscreen_version: str

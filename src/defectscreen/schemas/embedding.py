"""Documents of large-cell defect phonons: one spectrum per supercell size, and the convergence study."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from defectscreen.schemas.optics import InputRecord


class EmbeddingRecord(BaseModel):
    """How the large cell's force constants were assembled (seed 000 §IV.A)."""

    defect_radius_angstrom: float = Field(description="r_d: defect force constants between atoms both inside it")
    boundary_radius_angstrom: float = Field(description="r_b: force constants of pairs farther apart are zero")
    radii_rule: str = Field(description="'default: r_d = w/4, r_b = w/2 (w = … Å)' or 'given'")
    host_force_constants: Literal["far_field", "potential", "host_potential", "file"] = Field(
        description="far_field: the defect cell's own rows far from the defect; potential: the per-defect "
        "potential on the ideal host cell; host_potential: the host's own potential (host_dispersion) on it; "
        "file: a host FORCE_CONSTANTS file")
    n_defect_pairs: int = Field(description="atom pairs that carry defect force constants")
    acoustic_sum_rule_residual_eV_per_angstrom2: float = Field(
        description="max |Σ_j Φ_ij| left after the self terms were restored and symmetrized")


class SolverRecord(BaseModel):
    """Which spectral method made S(ħω), and how accurate it is."""

    method: Literal["dense", "lanczos", "chebyshev", "slepc"]
    order: int = Field(description="dense/slepc: modes; lanczos: steps; chebyshev: moments")
    tolerance: float = Field(description="target max |S_m − S_m/2| / max S (lanczos, chebyshev); residual (slepc)")
    convergence_change: float = Field(description="the change reached (lanczos, chebyshev); 0 for dense")
    converged: bool
    matrix_vector_products: int
    window_meV: list[float] | None = Field(None, description="slepc: every mode with ħω in this window")
    max_relative_residual: float | None = Field(None, description="slepc: max ‖Dx − λx‖ / |λ| of the modes")


class EmbeddedSpectrumDocument(BaseModel):
    """S(ħω), S and (where the method gives them) modes and the PL lineshape of one supercell size."""

    label: str = Field(description="which defect and transition, e.g. 'NV- diamond (PBE)' or 'GaN:C_N:0/-1'")
    n_atoms: int
    repetitions: list[int] = Field(description="n1 × n2 × n3 copies of the defect cell; [1, 1, 1]: the defect cell")
    embedding: EmbeddingRecord | None = Field(description="None for the defect cell's own force constants")
    solver: SolverRecord
    sigma_meV: float
    huang_rhys_total: float = Field(description="S over all modes; slepc: over the window only")
    spectral_density_energy_meV: list[float]
    spectral_density_per_meV: list[float] = Field(description="S(ħω), Gaussian width sigma_meV (Eq. 10)")
    mode_energies_meV: list[float] = Field(description="dense/slepc: modes with S_k > 0; lanczos: quadrature nodes")
    partial_huang_rhys: list[float]
    inverse_participation_ratio: list[float] | None = Field(None, description="slepc: per mode in the window")
    zpl_energy_eV: float | None
    debye_waller: float | None = Field(description="ZPL weight at temperature_K (dense, lanczos); None otherwise")
    temperature_K: float
    photon_energy_eV: list[float] | None
    intensity_per_eV: list[float] | None = Field(description="PL I(ħω) ∝ ω³A, unit area, γ = gamma_meV")
    gamma_meV: float
    nonzeros_per_atom: float = Field(description="stored matrix elements per atom of D")
    build_wall_time_s: float
    solve_wall_time_s: float
    peak_memory_MiB: float = Field(description="peak resident memory of the process that made this document")
    inputs: list[InputRecord]
    parent_uuids: list[str] = Field(default_factory=list)
    defectscreen_version: str


class EmbeddingConvergenceDocument(BaseModel):
    """S, S(ħω) and the PL lineshape versus supercell size: the defect cell, then embedded cells."""

    label: str
    method: str
    points: list[EmbeddedSpectrumDocument] = Field(description="ascending in n_atoms")
    huang_rhys_change_last: float = Field(description="S(largest) / S(second largest) − 1")
    spectral_density_change_last: float = Field(
        description="max |S_N(ħω) − S_N'(ħω)| / max S_N(ħω) between the two largest cells")
    parent_uuids: list[str] = Field(default_factory=list, description="the per-size documents")
    defectscreen_version: str

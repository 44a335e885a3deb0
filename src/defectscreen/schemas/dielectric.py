"""The dielectric document: a host's static dielectric tensor computed with the campaign's engine."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field
from pymatgen.core import Structure

from defectscreen.schemas.tasks import EngineRecord


class InfraredMode(BaseModel):
    """One infrared-active Γ mode (transverse optical) and its share of the ionic dielectric tensor."""

    frequency_meV: float = Field(description="ħω_TO of the analytic Γ dynamical matrix")
    epsilon_contribution: list[list[float]] = Field(description="(4π e²/(4πε₀Ω)) p pᵀ/ω², 3x3")


class DielectricDocument(BaseModel):
    """ε⁰ = ε∞ + ε_ion of one host (task_label 'dielectric'): ε∞ from GPAW's RPA response with local fields,
    ε_ion from Born charges (Berry phase) and Γ force constants of the same displaced cells
    (Gonze & Lee 1997, Eq. 55). Cartesian axes of ``structure``."""

    task_label: Literal["dielectric"] = "dielectric"
    host: str
    campaign: str
    structure: Structure = Field(description="primitive cell, atoms relaxed at the host's fixed lattice")
    kpts: tuple[int, int, int] = Field(description="Monkhorst–Pack grid of the primitive cell (in place of "
                                       "engine.settings.kpts, the supercells' grid)")
    epsilon_electronic: list[list[float]] = Field(description="ε∞ (clamped ions, RPA with local fields)")
    epsilon_ionic: list[list[float]]
    epsilon_static: list[list[float]] = Field(description="ε⁰ = ε∞ + ε_ion: what screens a relaxed charged defect")
    born_charges_e: list[list[list[float]]] = Field(description="Z*_κ,αβ = Ω/e ∂P_α/∂u_κβ per site, symmetrized, "
                                                    "Σ_κ Z*_κ = 0 imposed")
    optical_frequencies_meV: list[float] = Field(description="every optical Γ mode, ascending")
    infrared_modes: list[InfraredMode]
    displacement_angstrom: float
    response_ecut_eV: float = Field(description="plane-wave cutoff of the response function")
    n_relaxation_steps: int
    max_force_eV_per_angstrom: float = Field(description="on the primitive cell before the displacements")
    engine: EngineRecord = Field(description="the campaign's engine (its settings hash matches the host's tasks)")
    wall_time_s: float
    defectscreen_version: str
    campaign_sha256: str
    parent_uuids: list[str] = Field(default_factory=list)

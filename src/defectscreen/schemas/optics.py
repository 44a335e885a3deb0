"""Documents of the vibronic properties: Huang–Rhys analysis + lineshape, and nonradiative capture."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from defectscreen.physics.supercell_scaling import ChargedSupercellScaling
from defectscreen.schemas.tasks import EngineRecord


class InputRecord(BaseModel):
    """Where an analysis input came from: a user file (path + SHA-256) or a stored document (uuid)."""

    role: str = Field(description="what the input is, e.g. 'force_constants', 'ground_structure'")
    path: str | None = None
    sha256: str | None = None
    uuid: str | None = None


class LineshapeNumerics(BaseModel):
    """How the generating-function integral was converged (chosen from σ, γ and the spectrum)."""

    time_window_hbar_per_meV: float
    energy_step_meV: float
    convergence_change: float = Field(
        description="max |A_refined − A| / max A between the result and a run with 1.5x the time window "
        "and half the time and energy steps"
    )
    converged: bool
    output_step_meV: float = Field(description="bin width of the stored spectrum (bin averages keep the area)")


class LineshapeDocument(BaseModel):
    """Huang–Rhys factors between two states and the optical band they give (seed 000 Eqs. 3–10)."""

    kind: Literal["emission", "absorption"]
    coupling_source: Literal["displacement", "forces"] = Field(
        description="ΔQ_k from the relaxation ΔR, or from the forces of one state at the other's geometry"
    )
    temperature_K: float
    zpl_energy_eV: float | None
    sigma_meV: float = Field(description="Gaussian width of each phonon δ in S(ħω) and G(t)")
    gamma_meV: float = Field(description="Lorentzian half width of the ZPL and every line")
    huang_rhys_total: float = Field(description="S = Σ_k S_k")
    huang_rhys_thermal: float = Field(description="Σ_k S_k (2 n_k + 1) at temperature_K")
    debye_waller: float = Field(description="ZPL weight exp(−Σ_k S_k (2 n_k + 1))")
    delta_Q_amu_half_angstrom: float | None
    delta_R_angstrom: float | None
    n_atoms: int
    n_modes_excluded: int = Field(description="acoustic, imaginary or below min_phonon_energy_meV: S_k = 0")
    min_phonon_energy_meV: float
    acoustic_sum_rule_enforced: bool
    frequencies_meV: list[float]
    partial_huang_rhys: list[float]
    inverse_participation_ratio: list[float]
    spectral_density_energy_meV: list[float]
    spectral_density_per_meV: list[float] = Field(description="S(ħω), Gaussian width sigma_meV (Eq. 10)")
    phonon_energy_meV: list[float] = Field(description="ε: energy given to phonons (ZPL at 0)")
    spectral_function_per_meV: list[float] = Field(description="A(ε), ZPL included, unit area (Eq. 7)")
    photon_energy_eV: list[float] | None
    intensity_per_eV: list[float] | None = Field(description="I(ħω) ∝ ω³A (emission) or ωA, unit area")
    numerics: LineshapeNumerics
    inputs: list[InputRecord]
    defectscreen_version: str


class CouplingMatrixElement(BaseModel):
    """W_if between the defect orbital and one band-edge band, from wavefunction overlaps along Q."""

    band: int = Field(description="band index (1-based, as in VASP)")
    defect_band: int
    defect_bands: list[int] | None = Field(
        None, description="platform runs: the defect level's bands within 10 meV (1-based), the manifold the "
        "overlaps are taken with; one band for a non-degenerate level")
    spin: int = Field(description="spin channel, 1-based as in VASP (1 up, 2 down)")
    eigenvalue_difference_eV: float
    q_amu_half_angstrom: list[float]
    overlaps: list[float] = Field(description="sign(Q)·|⟨ψ_band(0)|ψ_defect(Q)⟩| at each Q; over a degenerate "
                                  "defect manifold (defect_bands) sign(Q)·(Σ_d |⟨ψ_band(0)|ψ_d(Q)⟩|² / N_d)^½")
    W_if_eV_per_amu_half_angstrom: float
    edge: Literal["valence", "conduction"] | None = Field(
        None, description="for the platform's own runs: which band edge the band belongs to"
    )
    inverse_participation_ratio: float | None = Field(None, description="N_grid Σ|ψ|⁴ of this band's orbital")
    density_ratio_near_defect: float | None = Field(
        None, description="platform runs: density within 2 Å of the defect site over the cell average (compare "
        "with the defect orbital's: a band-edge state near it is hybridized with the defect)")


class PotentialEnergySurface(BaseModel):
    """Computed points of one state's 1D surface and the fits to them."""

    state: Literal["initial", "final", "lower_charge", "higher_charge"]
    q_amu_half_angstrom: list[float]
    energy_eV: list[float]
    minimum_q_amu_half_angstrom: float
    hbar_omega_meV: float
    hbar_omega_source: Literal["harmonic_fit", "given", "equal_to_other_state", "phonons"] = Field(
        description="'phonons': ħω_eff² = Σ_k ΔQ_k² ω_k² / ΔQ² from this state's force constants"
    )
    fit_residual_meV: float | None
    energy_below_minimum_meV: float | None = Field(
        None, description="how far the lowest computed point lies below the relaxed one (0: the relaxed structure is "
        "the minimum along the path; > a few meV: relax tighter, the harmonic fit is unreliable)"
    )


class MultimodeCaptureRecord(BaseModel):
    """C(T) with every phonon of one state's force constants (seed 000 Eqs. 11–12, one basis)."""

    basis: Literal["initial", "final", "duschinsky"] = Field(
        description="whose phonons are used for both states, or 'duschinsky': each state its own, rotated by J"
    )
    n_modes: int
    huang_rhys_total: float
    sigma_meV: float = Field(description="Gaussian width of the energy-conserving δ")
    sigma_sensitivity: list[float] = Field(description="|C̃(2σ) − C̃(σ)| / C̃(σ) per temperature")
    capture_coefficient_unscaled_cm3_s: list[float]
    capture_coefficient_cm3_s: list[float] = Field(description="f(T) C̃ / s, same f and s as the 1D result")


class DuschinskySummary(BaseModel):
    """How the two states' normal modes differ (J = E_iᵀ E_f, seed 000 Eq. 13)."""

    mean_mode_mixing: float = Field(description="mean over final modes of 1 − max_k J_kk'²: 0 = no rotation")
    frequency_shift_rms_meV: float = Field(description="RMS of ħω_f,k' − ħω_i,k for the best-matching modes")


class ChargedSupercellScalingRecord(BaseModel):
    """s of one carrier: its band-edge density in the supercell of the charged defect that captures it, around
    the defect site, over the cell average (physics/supercell_scaling.py)."""

    scaling: float = Field(description="s: mean of s(R) over the plateau; C = f C̃ / s")
    captured_by_charge: int = Field(description="charge state whose cell holds the free carrier's orbitals")
    bands: list[int] = Field(description="the edge manifold (1-based band indices) whose summed |ψ|² is used")
    radii_angstrom: list[float]
    density_ratio: list[float] = Field(description="s(R): density within R of the defect over the cell average")
    plateau_radii_angstrom: list[float] = Field(description="[R_start, R_end] of the window averaged")
    plateau_found: bool = Field(description="False: no window was flat to 0.05/Å; s is the flattest window's mean")

    @classmethod
    def from_scaling(cls, result: ChargedSupercellScaling, captured_by_charge: int,
                     bands: list[int]) -> ChargedSupercellScalingRecord:
        """The stored form of a physics.supercell_scaling result (bands 1-based)."""
        return cls(scaling=result.scaling, captured_by_charge=captured_by_charge, bands=bands,
                   radii_angstrom=result.radii_angstrom.tolist(), density_ratio=result.density_ratio.tolist(),
                   plateau_radii_angstrom=list(result.plateau_radii_angstrom), plateau_found=result.plateau_found)


class CaptureDocument(BaseModel):
    """Nonradiative capture in the 1D static-coupling model (Alkauskas, Yan & Van de Walle 2014)."""

    carrier: Literal["electron", "hole"]
    delta_Q_amu_half_angstrom: float
    delta_R_angstrom: float
    delta_E_eV: float = Field(description="transition energy between the two minima")
    hbar_omega_i_meV: float
    hbar_omega_f_meV: float
    surfaces: list[PotentialEnergySurface]
    classical_barrier_harmonic_eV: float | None
    classical_barrier_spline_eV: float | None = Field(description="when a surface has ≥ 4 points on each side")
    coupling: list[CouplingMatrixElement]
    W_if_eV_per_amu_half_angstrom: float = Field(description="mean |W_if| over the band-edge bands given")
    degeneracy: int
    Z: int = Field(description="defect charge / carrier charge before capture (< 0 attractive)")
    effective_mass: float | None
    dielectric_constant: float | None
    charged_supercell_scaling: float = Field(description="s: C = f C̃ / s (1 when neither given nor computed)")
    charged_supercell_scaling_profile: ChargedSupercellScalingRecord | None = Field(
        None, description="s(R) when s was computed from a WAVECAR (--scaling-wavecar)")
    supercell_volume_angstrom3: float
    temperatures_K: list[float]
    sommerfeld_factor: list[float]
    capture_coefficient_unscaled_cm3_s: list[float]
    capture_coefficient_cm3_s: list[float]
    capture_cross_section_cm2: list[float] | None = Field(description="σ = C / ⟨v⟩, ⟨v⟩ = sqrt(3kT/m*); needs m*")
    multimode: list[MultimodeCaptureRecord] = Field(
        default_factory=list, description="one entry per state whose force constants were given"
    )
    duschinsky: DuschinskySummary | None = None
    flags: list[str] = Field(default_factory=list, description="why its 1D harmonic ħω and capture coefficients are "
                             "not physics: a surface the harmonic fit misses (anharmonic), a relaxed structure that is "
                             "not the minimum along the path")
    inputs: list[InputRecord]
    defectscreen_version: str


class CapturePhononFactor(BaseModel):
    """C̃(T, ΔE) / W_if² of the 1D harmonic model for one capture direction, cm³/s per (eV/(amu^1/2 Å))²:
    multiply by W_if² (and f(T)/s) once the coupling and the transition energy are known."""

    carrier: Literal["electron", "hole"]
    initial_charge: int
    final_charge: int
    hbar_omega_i_meV: float
    hbar_omega_f_meV: float
    delta_E_eV: list[float]
    temperatures_K: list[float]
    capture_coefficient_per_W_if2_cm3_s: list[list[float]] = Field(description="[ΔE][T]")
    classical_barrier_harmonic_eV: list[float | None] = Field(description="per ΔE")
    W_if_eV_per_amu_half_angstrom: float | None = Field(
        None, description="RMS coupling to the band-edge manifold (GPAW orbitals); None for engines without orbitals"
    )
    capture_coefficient_unscaled_cm3_s: list[list[float]] | None = Field(
        None, description="[ΔE][T] C̃ = table × W_if² (no Sommerfeld factor or supercell scaling)"
    )
    charged_supercell_scaling: float | None = Field(
        None, description="s for C = f C̃ / s: 1 for capture by a neutral defect, from the orbitals for a charged "
        "one (charged_supercell_scaling_profile); None for engines without orbitals")
    charged_supercell_scaling_profile: ChargedSupercellScalingRecord | None = None


class ConfigurationCoordinateDocument(BaseModel):
    """1D configuration-coordinate diagram of a defect between two adjacent charge states, computed with the
    campaign's engine along the straight path between the two relaxed structures."""

    calculation_id: str = Field(description="'GaN:C_N:0/-1': defect and the two charges")
    host: str
    defect_name: str
    higher_charge: int
    lower_charge: int
    delta_Q_amu_half_angstrom: float = Field(description="Q = 0 at the lower charge's minimum, ΔQ at the higher's")
    delta_R_angstrom: float
    surfaces: list[PotentialEnergySurface] = Field(description="lower charge (minimum at 0), then higher charge")
    harmonic_fit_window: float = Field(description="points with |Q − Q_min| ≤ this × ΔQ enter the harmonic fit")
    supercell_volume_angstrom3: float | None = Field(
        None, description="volume of the cell C̃ is normalised to (Eq. 22); None in documents made before it was "
        "stored (the summary then reads it from the lower charge's relaxation)")
    final_state_degeneracy: int = Field(1, description="g of Eq. 22 in phonon_factors and at the level")
    phonon_factors: list[CapturePhononFactor]
    coupling: list[CouplingMatrixElement] = Field(
        default_factory=list, description="W_if per band-edge band from all-electron GPAW orbitals of the higher charge"
    )
    defect_orbital_ipr: float | None = Field(
        None, description="N_grid Σ|ψ|⁴ of the defect orbital; compare with the band-edge orbitals' in `coupling`"
    )
    defect_orbital_density_ratio: float | None = Field(
        None, description="the defect orbital's density within 2 Å of the defect site over the cell average; "
        "compare with `coupling[].density_ratio_near_defect`")
    engine: EngineRecord
    n_single_points: int
    wall_time_s: float
    campaign_sha256: str
    parent_uuids: list[str] = Field(description="task documents of the two relaxed structures")
    flags: list[str] = Field(default_factory=list, description="why its 1D harmonic ħω and capture factors are not "
                             "physics: a surface the harmonic fit misses (anharmonic), a relaxed structure that is not "
                             "the minimum along the path")
    defectscreen_version: str

"""The task document: one reference calculation (relaxation or single point) of one cell."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field
from pymatgen.core import Structure

DefectType = Literal["bulk", "vacancy", "substitution", "antisite", "interstitial", "competing_phase"]


class EngineRecord(BaseModel):
    """Which engine made a number, with which settings and code versions."""

    name: str = Field(description="engine name: 'xtb', 'gpaw' or 'vasp'")
    settings: dict = Field(description="every engine setting, defaults included")
    settings_hash: str = Field(description="SHA-256 of the canonical JSON of `settings`")
    is_dft: bool = Field(description="False for tight binding and ML potentials")
    code_versions: dict[str, str]


class CalculationLabels(BaseModel):
    """What a calculation is, in the physicist's words; the query keys of every document."""

    calculation_id: str = Field(description="stable id: 'GaN:C_N:-1' (defect) or 'GaN:bulk'")
    campaign: str
    host: str = Field(description="host label from the campaign, e.g. 'GaN'")
    defect_name: str = Field(description="'bulk', or pymatgen-analysis-defects name e.g. 'C_N', 'v_Ga'")
    defect_type: DefectType
    defect_elements: list[str] = Field(description="elements added or removed by the defect")
    element_changes: dict[str, int] = Field(description="element -> atoms added (+) or removed (-)")
    charge: int = Field(description="charge of the supercell in units of e (electrons removed)")
    spin_multiplicity: int = Field(description="2S+1 used by the engine")
    defect_site_frac_coords: list[float] | None = Field(
        None, description="fractional coordinates of the defect site in the supercell"
    )
    equivalent_sites: int | None = Field(
        None, description="symmetry-equivalent sites of this defect in the supercell (concentration per site)")
    glass_site: int | None = Field(
        None, description="amorphous host: index (from 0) of the glass cell's site the defect takes; its cell is cut "
        "from the glass as the engine relaxed it")


class OneElectronLevels(BaseModel):
    """Eigenvalues and occupations of the final SCF at the engine's k-points (Γ of the supercell for xTB)."""

    eigenvalues_eV: list[list[list[float]]] = Field(description="[spin][k][band]")
    occupations: list[list[list[float]]] = Field(description="[spin][k][band], 0..1 per state")
    k_weights: list[float] = Field(description="weights of the k-points, summing to 1")
    spin_degeneracy: int = Field(description="2 for a spin-restricted calculation, 1 when spin-polarized")
    highest_occupied_eV: float = Field(description="VBM for a bulk cell")
    lowest_unoccupied_eV: float | None = Field(description="CBM for a bulk cell; None if no empty state was computed")


class RelaxationFrame(BaseModel):
    """One ionic step of a relaxation, kept as training data (structure search surrogate, seed 002)."""

    step: int = Field(description="ionic step, 0 = the starting structure")
    positions_angstrom: list[list[float]] = Field(description="Cartesian positions (atom, xyz); lattice and species "
                                                  "are those of input_structure")
    energy_eV: float
    forces_eV_per_angstrom: list[list[float]]


class GeometryRelaxation(BaseModel):
    """The relaxation behind a document whose energy is of another functional (GPAW ``relax_xc``)."""

    xc: str = Field(description="functional that relaxed the geometry")
    energy_eV: float = Field(description="its energy of the relaxed structure")
    relaxation_energies_eV: list[float] = Field(description="its energy after each ionic step")
    wall_time_s: float


class TaskDocument(BaseModel):
    """Output of a reference relaxation or single point: energy, forces, final structure."""

    task_label: Literal["relax", "relax_candidate", "static"] = Field(
        description="'relax': the structure later steps use (after a structure search: its ground state); "
        "'relax_candidate': a structure-search candidate relaxed with the engine")
    labels: CalculationLabels
    input_structure: Structure
    structure: Structure = Field(description="final structure (relaxed for 'relax')")
    n_atoms: int
    formula: str
    energy_eV: float = Field(description="total energy of the final structure")
    forces_eV_per_angstrom: list[list[float]] = Field(description="forces on the final structure")
    max_force_eV_per_angstrom: float
    converged: bool = Field(description="SCF and (for relax) force criterion both met")
    fmax_target_eV_per_angstrom: float | None = Field(
        None, description="relaxation stops when every force is below this"
    )
    n_ionic_steps: int
    relaxation_energies_eV: list[float] = Field(description="energy after each ionic step")
    relaxation_frames: list[RelaxationFrame] = Field(
        default_factory=list, description="evenly spaced ionic steps (first and last included) with forces")
    search_candidate: str | None = Field(
        None, description="structure-search candidate it was relaxed from, e.g. 'Bond_Distortion_-40.0%', 'Dimer', "
        "'Unperturbed'; None without a search")
    geometry: GeometryRelaxation | None = Field(
        None, description="where another functional relaxed the structure (engine relax_xc): that relaxation; "
        "energy, forces, levels and potentials are then of one single point with the engine's xc at its geometry, "
        "and relaxation_frames empty")
    levels: OneElectronLevels | None = Field(None, description="one-electron levels of the final structure")
    planar_average_potential_eV: list[list[float]] | None = Field(
        None, description="electrostatic potential energy of an electron averaged over planes normal to a, b, c "
        "(engines with a real-space potential: GPAW; VASP where it wrote a LOCPOT)")
    site_potential_eV: list[float] | None = Field(
        None, description="electrostatic potential energy of an electron at each site, in site order (GPAW; VASP's "
        "OUTCAR 'average (electrostatic) potential at core')")
    engine: EngineRecord
    wall_time_s: float
    mpi_ranks: int = Field(1, description="MPI ranks the engine ran on (defectscreen worker --ranks; VASP: its command's, "
                           "from OUTCAR); wall_time_s is "
                           "theirs")
    defectscreen_version: str
    campaign_sha256: str = Field(description="hash of the validated campaign that asked for it")
    parent_uuids: list[str] = Field(
        default_factory=list, description="jobflow uuids of the documents this one was made from"
    )

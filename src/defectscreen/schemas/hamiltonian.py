"""Documents of the machine-learned Hamiltonian (seeds 001/004): the LCAO Hamiltonians a cell's SCF converged to, and
the model learned from them with its errors on cells it did not see."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field
from pymatgen.core import Structure

from defectscreen.schemas.tasks import CalculationLabels, EngineRecord


class HamiltonianFrame(BaseModel):
    """One self-consistent GPAW LCAO calculation at Γ of a geometry of the cell."""

    role: Literal["held_out", "training"] = Field(description="held_out: the relaxed geometry, never trained on; "
                                                  "training: a rattled copy")
    displacements_angstrom: list[list[float]] = Field(description="(atom, xyz) from the relaxed structure")
    energy_eV: float
    forces_eV_per_angstrom: list[list[float]]
    n_orbitals: int
    occupied_orbitals: int
    gap_eV: float = Field(description="lowest empty − highest occupied eigenvalue of the SCF H (Γ)")
    scf_iterations: int
    wall_time_s: float


class HamiltonianLabelsDocument(BaseModel):
    """The converged LCAO Hamiltonians of one cell (task_label 'hamiltonian_labels'): its relaxed geometry and, for a
    training cell, rattled copies of it. ``hamiltonians_npz_base64`` (blob store) holds one array per frame,
    ``hamiltonian_eV_<i>``: the upper triangle (row-major, float32) of H(Γ) in eV in GPAW's orbital order of
    ``basis_shells``. S and the free-atom-density H are two-centre integrals of the geometry and are recomputed from it
    with the same settings, not stored."""

    task_label: Literal["hamiltonian_labels"] = "hamiltonian_labels"
    calculation_id: str
    labels: CalculationLabels
    structure: Structure = Field(description="the relaxed cell (the relaxation's task document)")
    frames: list[HamiltonianFrame]
    rattle_angstrom: float = Field(description="σ of the Gaussian displacements of the training copies")
    basis_shells: dict[str, list[list]] = Field(description="element -> (l, GPAW's label) of each radial function")
    hamiltonians_npz_base64: str
    hamiltonians_sha256: str
    engine: EngineRecord = Field(description="GPAW LCAO settings (name 'gpaw-lcao')")
    wall_time_s: float
    campaign_sha256: str
    parent_uuids: list[str] = Field(description="the relaxation's task document")
    defectscreen_version: str


class HeldOutCellError(BaseModel):
    """The model against the SCF on one cell's relaxed geometry (never in the training set)."""

    calculation_id: str
    n_atoms: int
    trained_on_this_cell: bool = Field(description="its rattled copies were training frames")
    energy_error_meV_per_atom: float = Field(description="E(model H, after the mixing steps) − E(SCF)")
    energy_error_before_mixing_meV_per_atom: float | None = Field(None, description="E(model H) − E(SCF), the "
                                                                  "seeds' step alone")
    force_mae_meV_per_angstrom: float
    hamiltonian_mae_meV: float = Field(description="mean |ΔH| over the non-zero elements, after the best c·S")
    occupied_band_mae_meV: float = Field(description="occupied band energies, after aligning their means")
    gap_error_meV: float = Field(description="lowest empty − highest occupied band, model − SCF")
    scf_wall_time_s: float
    model_wall_time_s: float = Field(description="model H, one diagonalisation, density and functional once")


class DefectEnergyError(BaseModel):
    """E(defect) − E(bulk) from the model against the SCF: the error of the formation energy at any chemical
    potentials and Fermi level (both cells' relaxed geometries, held out)."""

    calculation_id: str
    trained_on_this_cell: bool
    model_eV: float = Field(description="after the mixing steps")
    scf_eV: float
    error_eV: float
    error_before_mixing_eV: float | None = Field(None, description="of the model H's density alone")


class HamiltonianModelDocument(BaseModel):
    """A fitted Hamiltonian model (task_label 'hamiltonian_model'): the two-centre equivariant model
    (:class:`~defectscreen.mlip.hamiltonian_model.HamiltonianModel`) fitted on the training frames of the training
    hosts' cells, stored with its checksum. One per training set: hosts judged against the same training hosts share
    it."""

    task_label: Literal["hamiltonian_model"] = "hamiltonian_model"
    training_hosts: list[str]
    model_json_base64: str = Field(description="HamiltonianModel.to_dict(), JSON, zlib, base64; kept in the blob store")
    model_sha256: str = Field(description="HamiltonianModel.sha256()")
    model_settings: dict = Field(description="layout, radial functions, reach, loss and weights")
    n_coefficients: int
    training_cells: list[str] = Field(description="cells with fitted frames")
    n_training_frames: int
    left_out_of_training: list[str] = Field(default_factory=list, description="training frames not fitted, and why "
                                            "(a gap too small for the energy loss: open-shell physics)")
    engine: EngineRecord = Field(description="GPAW LCAO settings of the labels; every energy from the model uses them")
    fit_wall_time_s: float
    wall_time_s: float = Field(description="LCAO set-up of every frame and the fit")
    campaign_sha256: str
    parent_uuids: list[str] = Field(description="the hamiltonian_labels documents")
    defectscreen_version: str


class MlHamiltonianDocument(BaseModel):
    """A host's machine-learned Hamiltonian judged (task_label 'ml_hamiltonian'): a fitted model's errors on every
    cell's relaxed geometry, which it never saw as a training frame. ``usable``: the mean defect-energy error within
    ``max_defect_energy_mae_eV``; otherwise ``flag_reason`` says why, and its energies are not results."""

    task_label: Literal["ml_hamiltonian"] = "ml_hamiltonian"
    host: str
    campaign: str
    model_uuid: str = Field(description="the hamiltonian_model document")
    model_sha256: str
    training_hosts: list[str]
    n_training_frames: int
    overlap_floor: float = Field(description="the learned correction acts where S's eigenvalues exceed this")
    mixing_steps: int = Field(0, description="linear-mixing steps H ← H + α (H[n] − H) after the model's H (0: the "
                              "seeds' step alone)")
    mixing_fraction: float = Field(0.0, description="α of those steps")
    held_out: list[HeldOutCellError]
    defect_energies: list[DefectEnergyError]
    defect_energy_mae_eV: float | None = Field(description="over every defect cell; None without a bulk cell")
    defect_energy_mae_before_mixing_eV: float | None = Field(None, description="the same from the model H's density "
                                                             "alone")
    held_out_defect_energy_mae_eV: float | None = Field(description="over defect cells with no training frames")
    max_defect_energy_mae_eV: float
    usable: bool
    flag_reason: str | None = None
    engine: EngineRecord = Field(description="GPAW LCAO settings of the labels and of every energy from the model")
    wall_time_s: float
    campaign_sha256: str
    parent_uuids: list[str] = Field(description="the model and the host's hamiltonian_labels documents")
    defectscreen_version: str

"""The machine-learned Hamiltonian of a host (seeds 001/004): LCAO Hamiltonians of its relaxed cells and of rattled
copies from GPAW's SCF, and the model fitted on them with its errors on the relaxed cells."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from ase import Atoms
from jobflow import Maker, job
from pymatgen.io.ase import AseAtomsAdaptor
from scipy.linalg import eigh

import defectscreen
from defectscreen.analysis.hamiltonian_errors import compare_with_scf
from defectscreen.engines import engine_record
from defectscreen.engines.base import LcaoSettings
from defectscreen.engines.lcao_hamiltonian import LcaoCell, lcao_ground_state
from defectscreen.jobs.provenance import parent_uuids, provenance, read, read_all, uuid_of
from defectscreen.mlip.hamiltonian_model import (
    MIN_TRAINING_GAP_EV,
    HamiltonianExample,
    HamiltonianModel,
    OrbitalLayout,
)
from defectscreen.schemas import EngineRecord, TaskDocument
from defectscreen.schemas.hamiltonian import (
    DefectEnergyError,
    HamiltonianFrame,
    HamiltonianLabelsDocument,
    HamiltonianModelDocument,
    HeldOutCellError,
    MlHamiltonianDocument,
)


def _upper(matrix: np.ndarray) -> np.ndarray:
    return matrix[np.triu_indices(len(matrix))].astype(np.float32)


def _symmetric(upper: np.ndarray, n: int) -> np.ndarray:
    matrix = np.zeros((n, n))
    matrix[np.triu_indices(n)] = upper
    return matrix + np.triu(matrix, 1).T


def frame_atoms(document: HamiltonianLabelsDocument, frame: HamiltonianFrame) -> Atoms:
    """The geometry of one frame: the relaxed structure plus the frame's displacements."""
    atoms = AseAtomsAdaptor.get_atoms(document.structure)
    atoms.positions = atoms.positions + np.array(frame.displacements_angstrom)
    return atoms


def frame_hamiltonians(document: HamiltonianLabelsDocument) -> list[np.ndarray]:
    """The stored H(Γ) of every frame (eV, GPAW's orbital order), after checking the blob's checksum."""
    raw = base64.b64decode(document.hamiltonians_npz_base64)
    if hashlib.sha256(raw).hexdigest() != document.hamiltonians_sha256:
        raise ValueError(f"{document.calculation_id}: the stored Hamiltonians do not match their SHA-256; rerun its "
                         "hamiltonian_labels job (defectscreen recover --failed after removing the document)")
    arrays = np.load(io.BytesIO(raw))
    return [_symmetric(arrays[f"hamiltonian_eV_{i}"], frame.n_orbitals) for i, frame in enumerate(document.frames)]


@dataclass
class HamiltonianLabelsMaker(Maker):
    """Self-consistent GPAW LCAO at Γ of a relaxed cell and, for a training cell, of ``rattled_copies`` copies with
    Gaussian displacements of σ ``rattle_angstrom`` (the seeds' relaxation-trajectory frames' stand-in); each
    frame's H goes to the blob store. Closed shells only (one spin channel)."""

    name: str = "hamiltonian labels"
    lcao_settings: dict = field(default_factory=lambda: LcaoSettings().model_dump(mode="json"))
    rattled_copies: int = 3
    rattle_angstrom: float = 0.05

    @job(output_schema=HamiltonianLabelsDocument, data=["hamiltonians_npz_base64"], config=provenance())
    def make(self, relaxed: TaskDocument, training: bool, campaign_sha256: str) -> HamiltonianLabelsDocument:
        start = time.perf_counter()
        relaxed = read(relaxed, TaskDocument)
        settings = LcaoSettings.model_validate(self.lcao_settings)
        labels = relaxed.labels
        reference = AseAtomsAdaptor.get_atoms(relaxed.structure)
        rng = np.random.default_rng(zlib.crc32(labels.calculation_id.encode()))
        shifts = [np.zeros((len(reference), 3))] + [rng.normal(0.0, self.rattle_angstrom, (len(reference), 3))
                                                    for _ in range(self.rattled_copies if training else 0)]
        frames, arrays, shells = [], {}, {}
        for index, shift in enumerate(shifts):
            atoms = reference.copy()
            atoms.positions += shift
            state = lcao_ground_state(atoms, settings, Path.cwd() / f"frame-{index}", labels.charge)
            occupied = round(state.n_electrons) // 2
            bands = eigh(state.hamiltonian_eV, state.overlap, eigvals_only=True)
            arrays[f"hamiltonian_eV_{index}"] = _upper(state.hamiltonian_eV)
            shells.update({symbol: [list(shell) for shell in basis_shells]
                           for symbol, basis_shells in zip(state.basis.symbols, state.basis.shells)})
            frames.append(HamiltonianFrame(
                role="held_out" if index == 0 else "training", displacements_angstrom=shift.tolist(),
                energy_eV=state.energy_eV, forces_eV_per_angstrom=state.forces_eV_per_angstrom.tolist(),
                n_orbitals=len(state.hamiltonian_eV), occupied_orbitals=occupied,
                gap_eV=float(bands[occupied] - bands[occupied - 1]),
                scf_iterations=state.scf_iterations, wall_time_s=state.wall_time_s))
        buffer = io.BytesIO()
        np.savez_compressed(buffer, **arrays)
        raw = buffer.getvalue()
        return HamiltonianLabelsDocument(
            calculation_id=labels.calculation_id, labels=labels, structure=relaxed.structure, frames=frames,
            rattle_angstrom=self.rattle_angstrom, basis_shells=shells,
            hamiltonians_npz_base64=base64.b64encode(raw).decode(), hamiltonians_sha256=hashlib.sha256(raw).hexdigest(),
            engine=EngineRecord(**engine_record(settings)), wall_time_s=time.perf_counter() - start,
            campaign_sha256=campaign_sha256, parent_uuids=parent_uuids(), defectscreen_version=defectscreen.__version__)


def model_json_base64(model: HamiltonianModel) -> str:
    return base64.b64encode(zlib.compress(json.dumps(model.to_dict()).encode())).decode()


def stored_model(document: HamiltonianModelDocument) -> HamiltonianModel:
    """The model of a stored document, after checking its checksum."""
    model = HamiltonianModel.from_dict(json.loads(zlib.decompress(base64.b64decode(document.model_json_base64))))
    if model.sha256() != document.model_sha256:
        raise ValueError(f"the stored Hamiltonian model of {', '.join(document.training_hosts)} does not match its "
                         "SHA-256; rerun its hamiltonian_model job")
    return model


@dataclass
class HamiltonianFitMaker(Maker):
    """Fit a Hamiltonian model (``model_settings``: the :class:`HamiltonianModel` settings) on every training frame
    of the labels of the training hosts; with the energy loss, frames without a gap are left out, with the reason."""

    name: str = "hamiltonian model"
    lcao_settings: dict = field(default_factory=lambda: LcaoSettings().model_dump(mode="json"))
    model_settings: dict = field(default_factory=dict)

    @job(output_schema=HamiltonianModelDocument, data=["model_json_base64"], config=provenance())
    def make(self, labels: list[HamiltonianLabelsDocument], training_hosts: list[str],
             campaign_sha256: str) -> HamiltonianModelDocument:
        start = time.perf_counter()
        settings = LcaoSettings.model_validate(self.lcao_settings)
        workdir = Path.cwd() / "lcao"
        examples, left_out, fitted, basis = [], [], set(), None
        for document in read_all(labels, HamiltonianLabelsDocument):
            for number, (frame, hamiltonian) in enumerate(zip(document.frames, frame_hamiltonians(document))):
                if frame.role != "training":
                    continue
                if self.model_settings.get("loss", "energy") == "energy" and frame.gap_eV < MIN_TRAINING_GAP_EV:
                    left_out.append(f"{document.calculation_id} frame {number}: SCF gap {frame.gap_eV:.3f} eV, below "
                                    f"the energy loss's {MIN_TRAINING_GAP_EV} eV (partly filled levels)")
                    continue
                cell = LcaoCell(frame_atoms(document, frame), settings, workdir, document.labels.charge)
                basis = cell.basis
                fitted.add(document.calculation_id)
                examples.append(HamiltonianExample(cell.atoms, hamiltonian, cell.overlap,
                                                   cell.atomic_density_hamiltonian_eV, cell.occupied_orbitals))
        if not examples:
            raise ValueError(f"{', '.join(training_hosts)}: no training frames (every defect cell is held out and "
                             "the host is not trained on, or every training frame's gap is too small for the energy "
                             f"loss: {'; '.join(left_out) or 'none'}): lower ml_hamiltonian.held_out_fraction, shorten "
                             "held_out_defects, set ml_hamiltonian.train_on_host, name other training_hosts, or use "
                             "loss 'elements'")
        model = HamiltonianModel(OrbitalLayout.of(basis), **self.model_settings)
        fit_start = time.perf_counter()
        model.fit(examples)
        return HamiltonianModelDocument(
            training_hosts=training_hosts, model_json_base64=model_json_base64(model), model_sha256=model.sha256(),
            model_settings={key: value for key, value in model.to_dict().items()
                            if key not in ("terms", "coefficients")},
            n_coefficients=model.width, training_cells=sorted(fitted), n_training_frames=len(examples),
            left_out_of_training=left_out, engine=EngineRecord(**engine_record(settings)),
            fit_wall_time_s=time.perf_counter() - fit_start, wall_time_s=time.perf_counter() - start,
            campaign_sha256=campaign_sha256, parent_uuids=parent_uuids(), defectscreen_version=defectscreen.__version__)


@dataclass
class MlHamiltonianMaker(Maker):
    """Judge a fitted Hamiltonian model on a host's cells: on every cell's relaxed geometry (never a training
    frame) energy, forces, H, bands and gap against the SCF, and E(defect) − E(bulk), energies and forces after
    ``mixing_steps`` linear-mixing steps of fraction ``mixing_fraction`` (:meth:`LcaoCell.energy_of`; the model H's
    density alone recorded beside). ``usable`` when the mean error of E(defect) − E(bulk) is within
    ``max_defect_energy_mae_eV``."""

    name: str = "ml hamiltonian"
    overlap_floor: float = 1e-3
    mixing_steps: int = 1
    mixing_fraction: float = 0.45
    max_defect_energy_mae_eV: float = 0.05

    @job(output_schema=MlHamiltonianDocument, config=provenance())
    def make(self, model: HamiltonianModelDocument, labels: list[HamiltonianLabelsDocument], host: str,
             campaign: str, campaign_sha256: str) -> MlHamiltonianDocument:
        start = time.perf_counter()
        model_uuid, fit = uuid_of(model), read(model, HamiltonianModelDocument)
        hamiltonian_model = stored_model(fit)
        settings = LcaoSettings.model_validate(fit.engine.settings)
        trained = set(fit.training_cells)
        errors, energies = [], {}
        for document in read_all(labels, HamiltonianLabelsDocument):
            frame = document.frames[0]
            cell = LcaoCell(frame_atoms(document, frame), settings, Path.cwd() / "lcao", document.labels.charge)
            comparison = compare_with_scf(hamiltonian_model, cell, frame_hamiltonians(document)[0], frame.energy_eV,
                                          np.array(frame.forces_eV_per_angstrom), self.overlap_floor,
                                          (self.mixing_fraction,) * self.mixing_steps)
            n_atoms = len(cell.atoms)
            energies[document.calculation_id] = (document.labels, comparison, frame.energy_eV)
            errors.append(HeldOutCellError(
                calculation_id=document.calculation_id, n_atoms=n_atoms,
                trained_on_this_cell=document.calculation_id in trained,
                energy_error_meV_per_atom=1000 * comparison.energy_error_eV / n_atoms,
                energy_error_before_mixing_meV_per_atom=1000 * comparison.energy_error_before_mixing_eV / n_atoms,
                force_mae_meV_per_angstrom=1000 * comparison.force_mae_eV_per_angstrom,
                hamiltonian_mae_meV=comparison.hamiltonian_mae_meV,
                occupied_band_mae_meV=comparison.occupied_band_mae_meV, gap_error_meV=comparison.gap_error_meV,
                scf_wall_time_s=frame.wall_time_s, model_wall_time_s=comparison.model_wall_time_s))
        defect_energies = _defect_energies(energies, trained)
        mae = _mean_error([d.error_eV for d in defect_energies])
        unseen_mae = _mean_error([d.error_eV for d in defect_energies if not d.trained_on_this_cell])
        flag = _flag(defect_energies, mae, self.max_defect_energy_mae_eV)
        return MlHamiltonianDocument(
            host=host, campaign=campaign, model_uuid=model_uuid, model_sha256=fit.model_sha256,
            training_hosts=fit.training_hosts, n_training_frames=fit.n_training_frames, overlap_floor=self.overlap_floor,
            mixing_steps=self.mixing_steps, mixing_fraction=self.mixing_fraction,
            held_out=errors, defect_energies=defect_energies, defect_energy_mae_eV=mae,
            defect_energy_mae_before_mixing_eV=_mean_error([d.error_before_mixing_eV for d in defect_energies]),
            held_out_defect_energy_mae_eV=unseen_mae, max_defect_energy_mae_eV=self.max_defect_energy_mae_eV,
            usable=flag is None, flag_reason=flag, engine=fit.engine, wall_time_s=time.perf_counter() - start,
            campaign_sha256=campaign_sha256, parent_uuids=parent_uuids(), defectscreen_version=defectscreen.__version__)


def _defect_energies(energies: dict, trained: set[str]) -> list[DefectEnergyError]:
    """E(defect) − E(bulk) of every defect cell from ``energies`` (calculation id -> labels, the cell's
    HamiltonianComparison, its SCF energy)."""
    bulk = next((value for value in energies.values() if value[0].defect_type == "bulk"), None)
    if bulk is None:
        return []
    _, bulk_comparison, bulk_scf_eV = bulk
    rows = []
    for calculation_id, (labels, comparison, scf_eV) in energies.items():
        if labels.defect_type != "bulk":
            model_difference = comparison.energy_eV - bulk_comparison.energy_eV
            scf_difference = scf_eV - bulk_scf_eV
            rows.append(DefectEnergyError(
                calculation_id=calculation_id, trained_on_this_cell=calculation_id in trained,
                model_eV=model_difference, scf_eV=scf_difference, error_eV=model_difference - scf_difference,
                error_before_mixing_eV=comparison.energy_before_mixing_eV - bulk_comparison.energy_before_mixing_eV
                - scf_difference))
    return rows


def _mean_error(errors: list[float]) -> float | None:
    return float(np.mean(np.abs(errors))) if errors else None


def _flag(defect_energies: list[DefectEnergyError], mae: float | None, threshold: float) -> str | None:
    if mae is None:
        return ("no defect energy to judge the model by (no bulk cell or no closed-shell defect cell): its energies "
                "are not results")
    if mae > threshold:
        return (f"E(defect) − E(bulk) from the model is {1000 * mae:.0f} meV from the SCF on average over "
                f"{len(defect_energies)} cells, beyond ml_hamiltonian.max_defect_energy_mae_eV = {threshold:g} eV: "
                "its formation energies are not results")
    return None

"""Relaxations on a learned Hamiltonian against self-consistent GPAW LCAO (seeds 001/004: the MLH relaxes hosts and
defects). For the cells a campaign's ``ml_hamiltonian`` job judged on one host, each relaxed twice from the same start
(the campaign's relaxed geometry): with :class:`MlHamiltonianCalculator` (the judged model, its overlap floor and mixing
steps) and with GPAW LCAO SCF at every step (the labels' settings), BFGS to ``--fmax``. Prints per cell both relaxation
energies, the SCF energy at the MLH's final geometry (what that geometry is worth), the largest displacement between
the two final geometries, steps and wall times; then E(defect) − E(bulk) at the relaxed geometries: MLH, GPAW, and
GPAW at the MLH geometries. ``--mlip`` first trains the per-defect MACE potential (the platform's defaults, from
scratch) on the model's own training frames and prints its errors on the host's relaxed cells beside the learned H's
(the seeds' side-by-side); ``--cells 0`` skips the relaxations.

    DEFECTSCREEN_DATA_DIR=DIR OMP_NUM_THREADS=1 .venv/bin/python benchmarks/ml_hamiltonian_relaxation.py \
        --host 'a-SiO2#3' [--cells 3] [--fmax 0.05] [--processes 2] [--mlip]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
from ase.optimize import BFGS

from defectscreen.engines.base import LcaoSettings
from defectscreen.engines.lcao_hamiltonian import LcaoCell
from defectscreen.jobs.hamiltonian import frame_atoms, stored_model
from defectscreen.mlip.dataset import labelled_frame
from defectscreen.mlip.hamiltonian_model import MlHamiltonianCalculator
from defectscreen.mlip.mace import MaceSettings
from defectscreen.mlip.potential import potential_predictor, train_potential
from defectscreen.schemas.hamiltonian import HamiltonianLabelsDocument, HamiltonianModelDocument, MlHamiltonianDocument
from defectscreen.storage import StorageSettings


def _stored(host: str, campaign: str | None):
    store = StorageSettings.from_environment().job_store()
    store.connect()
    criteria = {"output.task_label": "ml_hamiltonian", "output.host": host}
    if campaign:
        criteria["output.campaign"] = campaign
    judged = [MlHamiltonianDocument.model_validate(d["output"])
              for d in store.query(criteria, properties=["output"], sort={"completed_at": 1})]
    if not judged:
        raise SystemExit(f"no ml_hamiltonian document of host {host}: run a campaign with that property first")
    document = judged[-1]
    fit = HamiltonianModelDocument.model_validate(
        store.query_one({"uuid": document.model_uuid}, properties=["output"], load=True)["output"])
    ids = {cell.calculation_id for cell in document.held_out} | set(fit.training_cells)
    labels = {}
    for d in store.query({"output.task_label": "hamiltonian_labels"}, properties=["output"], load=True):
        label = HamiltonianLabelsDocument.model_validate(d["output"])
        if label.calculation_id in ids:
            labels[label.calculation_id] = label
    return document, fit, labels


def _labelled(label: HamiltonianLabelsDocument, index: int):
    frame = label.frames[index]
    return labelled_frame(frame_atoms(label, frame), frame.energy_eV, np.array(frame.forces_eV_per_angstrom))


def mlip_side_by_side(document: MlHamiltonianDocument, fit: HamiltonianModelDocument, labels: dict, work: Path) -> None:
    """MACE trained on the model's training frames (the last two for validation), on the judged relaxed cells."""
    training = [_labelled(labels[cid], index) for cid in fit.training_cells
                for index in range(1, len(labels[cid].frames))]
    start = time.perf_counter()
    predict = potential_predictor(train_potential(training[:-2], training[-2:], MaceSettings(), work), "mace")
    print(f"MACE trained on {len(training) - 2} frames (+2 validation): {time.perf_counter() - start:.0f} s")
    frames = {cell.calculation_id: _labelled(labels[cell.calculation_id], 0) for cell in document.held_out}
    energies, forces = predict(list(frames.values()))
    energy_of = dict(zip(frames, energies))
    for (cid, frame), force in zip(frames.items(), forces):
        print(f"MACE {cid:24s} {len(frame):3d} atoms  E {1000 * (energy_of[cid] - frame.get_potential_energy()) / len(frame):+7.1f}"
              f" meV/atom  F MAE {1000 * np.abs(force - frame.get_forces()).mean():4.0f} meV/Å")
    bulk = next(cid for cid in frames if labels[cid].labels.defect_type == "bulk")
    print("E(defect) − E(bulk) error (meV): MACE, learned H (the judged document)")
    for entry in document.defect_energies:
        cid = entry.calculation_id
        mace = (energy_of[cid] - energy_of[bulk]) - entry.scf_eV
        print(f"{cid:24s} {1000 * mace:+7.0f} {1000 * entry.error_eV:+7.0f}")


def _relax(task: tuple) -> dict:
    route, label, fit, document, fmax, max_steps = task
    settings = LcaoSettings.model_validate(fit.engine.settings)
    atoms = frame_atoms(label, label.frames[0])
    start_s = time.perf_counter()
    with tempfile.TemporaryDirectory() as workdir:
        if route == "mlh":
            atoms.calc = MlHamiltonianCalculator(stored_model(fit), settings, Path(workdir), document.overlap_floor,
                                                 label.labels.charge,
                                                 (document.mixing_fraction,) * document.mixing_steps)
        else:
            atoms.calc = LcaoCell(atoms, settings, Path(workdir), label.labels.charge).calculator
        first = atoms.get_potential_energy()
        optimizer = BFGS(atoms, logfile=None)
        converged = optimizer.run(fmax=fmax, steps=max_steps)
        final = atoms.get_potential_energy()
        steps, wall_s = optimizer.get_number_of_steps(), time.perf_counter() - start_s
        scf_at_final = final
        if route == "mlh":
            check = atoms.copy()
            check.calc = LcaoCell(check, settings, Path(workdir) / "check", label.labels.charge).calculator
            scf_at_final = check.get_potential_energy()
    return {"route": route, "cell": label.calculation_id, "defect_type": label.labels.defect_type, "start_eV": first,
            "final_eV": final, "scf_at_final_eV": scf_at_final, "converged": bool(converged), "steps": steps,
            "wall_s": wall_s, "positions": atoms.get_positions(), "n_atoms": len(atoms)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", required=True, help="a host the campaign judged, e.g. a-SiO2#3")
    parser.add_argument("--campaign", help="the campaign's name (default: the newest judged document of the host)")
    parser.add_argument("--cells", type=int, default=3, help="the bulk and the first cells-1 defect cells")
    parser.add_argument("--fmax", type=float, default=0.05, help="eV/Å")
    parser.add_argument("--max-steps", type=int, default=100)
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--mlip", action="store_true", help="also MACE on the model's training frames, side by side")
    options = parser.parse_args()
    document, fit, labels = _stored(options.host, options.campaign)
    if options.mlip:
        with tempfile.TemporaryDirectory() as work:
            mlip_side_by_side(document, fit, labels, Path(work))
    judged = {cell.calculation_id for cell in document.held_out}
    ordered = sorted((label for label in labels.values() if label.calculation_id in judged),
                     key=lambda label: (label.labels.defect_type != "bulk", label.calculation_id))
    chosen = ordered[:options.cells]
    if not chosen:
        return
    print(f"{options.host}: model {fit.model_sha256[:12]} ({fit.n_training_frames} frames of "
          f"{', '.join(fit.training_hosts)}), overlap floor {document.overlap_floor:g}, {document.mixing_steps} "
          f"mixing step(s) × {document.mixing_fraction:g}; BFGS to {options.fmax} eV/Å", flush=True)
    tasks = [(route, label, fit, document, options.fmax, options.max_steps) for label in chosen
             for route in ("mlh", "gpaw")]
    results = {}
    with ProcessPoolExecutor(options.processes) as pool:
        for result in pool.map(_relax, tasks):
            results[(result["route"], result["cell"])] = result
            print(f"{result['route']:4s} {result['cell']:24s} {result['n_atoms']:3d} atoms  relaxation "
                  f"{result['final_eV'] - result['start_eV']:+8.3f} eV in {result['steps']:3d} steps "
                  f"({'converged' if result['converged'] else 'NOT converged'}), {result['wall_s']:6.0f} s", flush=True)
    print("cell                      MLH relax (eV)  GPAW relax (eV)  SCF at MLH geometry − GPAW min (meV)  "
          "max |Δr| (Å)  MLH / GPAW (s)")
    for label in chosen:
        mlh, gpaw = results[("mlh", label.calculation_id)], results[("gpaw", label.calculation_id)]
        shift = np.linalg.norm(mlh["positions"] - gpaw["positions"], axis=1).max()
        print(f"{label.calculation_id:24s} {mlh['final_eV'] - mlh['start_eV']:+14.3f} "
              f"{gpaw['final_eV'] - gpaw['start_eV']:+16.3f} {1000 * (mlh['scf_at_final_eV'] - gpaw['final_eV']):+37.0f} "
              f"{shift:13.3f}  {mlh['wall_s']:.0f} / {gpaw['wall_s']:.0f}")
    bulk = next((label for label in chosen if label.labels.defect_type == "bulk"), None)
    if bulk is None:
        return
    print("E(defect) − E(bulk) at relaxed geometries (eV): MLH, GPAW, GPAW at the MLH geometries; MLH − GPAW (meV)")
    for label in chosen:
        if label is bulk:
            continue
        values = [results[(route, label.calculation_id)][key] - results[(route, bulk.calculation_id)][key]
                  for route, key in (("mlh", "final_eV"), ("gpaw", "final_eV"), ("mlh", "scf_at_final_eV"))]
        print(f"{label.calculation_id:24s} {values[0]:8.3f} {values[1]:8.3f} {values[2]:8.3f}  "
              f"{1000 * (values[0] - values[1]):+6.0f}")


if __name__ == "__main__":
    main()

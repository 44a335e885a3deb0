"""What limits a per-defect potential on a defect's GPAW PBE labels: the labels' SCF noise, the host, or the defect.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/label_floor.py --noise-cells 4       # N_C in 16-atom diamond
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/label_floor.py --systems N_C+ host --routes mace

The cells are label_count_phonons.py's (the platform's recipe: every atom displaced inside r_max around the relaxed
cell; the first --labels of a pool of --pool cells train, the --held-out cells after the pool are held out, so
both scripts draw the same cells). For each system — N_C⁰ (one unpaired electron in the gap), N_C⁺ (closed shell,
its own relaxation) and the perfect host cell with the same displacements — MACE from scratch and SevenNet-0
fine-tuned for 400 steps train on the same number of labels; each held-out force error is split into the defect
site, its first neighbours and the rest of the cell. --noise-cells K: the first K held-out cells of the first system
recomputed with the density converged to 1e-7 and the forces to 1e-4 eV/Å (the platform converges the energy to
5e-4 eV per electron and keeps GPAW's density criterion, 1e-4): the RMS force change is the labels' SCF noise.
"""

from __future__ import annotations

import argparse
import math
import tempfile
import time
from pathlib import Path

import numpy as np
from label_count_phonons import relaxed_defect  # the sibling benchmark script

from defectscreen.analysis.potential import model_forces
from defectscreen.engines import GpawSettings
from defectscreen.flows.hosts import prototype_structure
from defectscreen.jobs.potential import engine_frames
from defectscreen.jobs.reference import reference_atoms
from defectscreen.mlip.dataset import perturbed_structures
from defectscreen.mlip.mace import MaceSettings
from defectscreen.mlip.potential import PotentialRecipe, fit_potential
from defectscreen.mlip.sevennet_backend import SevennetSettings
from defectscreen.schemas import CalculationLabels

#: GPAW convergence of the reference forces in the SCF-noise measurement.
TIGHT_CONVERGENCE = {"energy": 1e-7, "density": 1e-7, "eigenstates": 1e-11, "forces": 1e-4}
#: First-neighbour distance cut (Å) between the C–C/C–N bond (1.5 Å) and the second shell (2.5 Å) of diamond.
FIRST_SHELL_ANGSTROM = 1.8
ROW = "{:<8} {:<22} {:>18} {:>10} {:>12} {:>10} {:>8} {:>8}"


def system_cell(system: str, repeat: int, engine: GpawSettings):
    """(relaxed cell, labels) of N_C⁰, N_C⁺ or the perfect host (ideal positions, atom 0 on the defect's site)."""
    if system != "host":
        return relaxed_defect(repeat, 0 if system == "N_C0" else 1, engine)
    structure = prototype_structure("diamond-C")
    structure.make_supercell([repeat] * 3)
    return structure, CalculationLabels(
        calculation_id=f"C:bulk:{len(structure)}", campaign="benchmark", host="C", defect_name="bulk",
        defect_type="bulk", defect_elements=[], element_changes={}, charge=0, spin_multiplicity=1)


def rms_meV(values: np.ndarray) -> float:
    return 1000 * float(np.sqrt(np.mean(np.square(values))))


def scf_noise(structures, labels, engine: GpawSettings) -> list[tuple[float, float]]:
    """(RMS, max) |ΔF| in meV/Å between the platform's and TIGHT_CONVERGENCE's forces, per cell."""
    changes = []
    for structure in structures:
        platform = reference_atoms(structure, labels, engine).get_forces()
        tight = reference_atoms(structure, labels, engine)
        tight.calc.inner.set(convergence=TIGHT_CONVERGENCE)
        difference = platform - tight.get_forces()
        changes.append((rms_meV(difference), 1000 * float(np.abs(difference).max())))
    return changes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--systems", nargs="+", choices=["N_C0", "N_C+", "host"], default=["N_C0", "N_C+", "host"])
    parser.add_argument("--routes", nargs="+", choices=["mace", "sevennet"], default=["mace", "sevennet"])
    parser.add_argument("--labels", type=int, default=20)
    parser.add_argument("--pool", type=int, default=40)
    parser.add_argument("--held-out", type=int, default=8)
    parser.add_argument("--repeat", type=int, default=2, help="diamond primitive-cell repeats (2: 16 atoms)")
    parser.add_argument("--kpts", type=int, default=2, help="a Γ-centred k×k×k grid")
    parser.add_argument("--noise-cells", type=int, default=0)
    args = parser.parse_args()
    engine = GpawSettings(kpts=(args.kpts,) * 3)
    recipe = PotentialRecipe()
    training = {"mace": MaceSettings(), "sevennet": SevennetSettings(max_epochs=math.ceil(400 / args.labels))}
    print(f"GPAW PBE {engine.ecut_eV:.0f} eV, {args.kpts}³ k-points; {args.labels} training / {args.held_out} "
          "held-out cells; one thread", flush=True)
    print(ROW.format("system", "route", "train / held-out", "RMS force", "defect site", "neighbours", "rest",
                     "train s"))
    print(ROW.format("", "", "meV/Å", "meV/Å", "meV/Å", "meV/Å", "meV/Å", ""))
    with tempfile.TemporaryDirectory() as scratch:
        for system in args.systems:
            relaxed, labels = system_cell(system, args.repeat, engine)
            cells = perturbed_structures(relaxed, args.pool + args.held_out, recipe.r_max_angstrom, recipe.seed)
            cells = cells[:args.labels] + cells[args.pool:]
            if args.noise_cells and system == args.systems[0]:
                for index, (rms, largest) in enumerate(scf_noise(cells[args.labels:][:args.noise_cells], labels,
                                                                 engine)):
                    print(f"{system} held-out cell {index}: SCF noise of the forces {rms:.2f} meV/Å RMS, "
                          f"{largest:.2f} max", flush=True)
            start = time.perf_counter()
            frames = engine_frames(cells, labels, engine)
            print(f"{system}: {len(frames)} labels, {(time.perf_counter() - start) / len(frames):.0f} s each",
                  flush=True)
            distances = relaxed.distance_matrix[0]
            shells = (distances < 0.1, (distances >= 0.1) & (distances < FIRST_SHELL_ANGSTROM),
                      distances >= FIRST_SHELL_ANGSTROM)
            reference = np.array([frame.get_forces() for frame in frames[args.labels:]])
            for route in args.routes:
                folder = Path(scratch) / f"{system}-{route}"
                fields = fit_potential(frames[:args.labels], frames[args.labels:],
                                       PotentialRecipe(training=training[route]), folder)
                model = next(folder.rglob(fields["model_file_name"]))
                error = model_forces(model, route)(cells[args.labels:]) - reference
                print(ROW.format(system, {"mace": "MACE from scratch", "sevennet": "fine-tuned SevenNet-0"}[route],
                                 f"{fields['train_force_rmse_meV_per_angstrom']:.1f} / "
                                 f"{fields['validation_force_rmse_meV_per_angstrom']:.1f}",
                                 f"{rms_meV(reference):.0f}", *(f"{rms_meV(error[:, shell]):.1f}" for shell in shells),
                                 f"{fields['training_wall_time_s']:.0f}"), flush=True)


if __name__ == "__main__":
    main()

"""C_N⁰ in GaN: is a model's soft Γ mode of nonrad_POSCAR.C0 physics? Its curvature against the HSE cells near it.

    defectscreen potential phonons --model MODEL --structure ../shared/reference-data/gan-cn/nonrad_POSCAR.C0.gz --out FC
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/gan_cn_soft_mode.py FC [FC ...] [--modes 4]

(`potential phonons --reference-frames ../shared/reference-data/gan-cn/C_N-GaN.extxyz` does the same check on all
the frames near the cell, for the imaginary modes and the softest real one.)
For each of the lowest optical modes of each force-constants file (Cartesian direction ê: the mass-weighted
eigenvector divided by √m, normalised), the model's curvature ê·Φ·ê and the HSE one: the slope λ of the
least-squares line f_k = f_0 − λ d_k through HSE frames of `gan-cn/C_N-GaN.extxyz` whose atoms all lie within
--max-displacement of the cell, d_k = u_k·ê their displacement along ê and f_k = F_k·ê their HSE force along it;
fitted apart on its 30 cells displaced by ≤ 0.05 Å (RMS atomic force above --displaced-force) and on the
relaxation frames near the minimum (below it). The line is exact where ê is an eigenvector of Φ and the cells are
harmonic; its residual says how much the other directions leak in. A mode with ħω² < 0 whose HSE λ is positive
is the model's error, not an instability of the defect.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from defectscreen.analysis.potential import cells_near
from defectscreen.physics.mode_curvature import (
    cartesian_mode_direction,
    curvature_from_displaced_cells,
    curvature_of_force_constants,
)
from defectscreen.physics.normal_modes import optical_mode_indices, structure_normal_modes
from defectscreen.readers.phonopy_files import read_force_constants
from defectscreen.readers.structures import read_structure

GAN_CN = Path(__file__).resolve().parents[2] / "shared" / "reference-data" / "gan-cn"
ROW = "{:<24} {:>5} {:>9} {:>12} {:>24} {:>24}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("force_constants", type=Path, nargs="+", help="phonopy FORCE_CONSTANTS of nonrad_POSCAR.C0")
    parser.add_argument("--modes", type=int, default=4, help="how many of the lowest optical modes")
    parser.add_argument("--max-displacement", type=float, default=0.06, help="Å; frames farther from the cell are left out")
    parser.add_argument("--displaced-force", type=float, default=0.09,
                        help="eV/Å; RMS atomic force above which a frame counts as a displaced cell")
    args = parser.parse_args()
    structure = read_structure(GAN_CN / "nonrad_POSCAR.C0.gz")
    displacements, forces = cells_near(structure, GAN_CN / "C_N-GaN.extxyz", args.max_displacement)
    rms_force = np.sqrt((forces**2).sum(axis=2).mean(axis=1))
    subsets = {"displaced cells": rms_force > args.displaced_force, "relaxation frames": rms_force <= args.displaced_force}
    print(ROW.format("force constants", "mode", "ħω (meV)", "model ê·Φ·ê",
                     *(f"HSE λ, {int(mask.sum())} {name}" for name, mask in subsets.items())))
    print(ROW.format("", "", "", "(eV/Å²)", *["λ (eV/Å²), line residual"] * 2))
    for path in args.force_constants:
        force_constants = read_force_constants(path, len(structure))
        modes = structure_normal_modes(structure, force_constants)
        for k in optical_mode_indices(modes.frequencies_meV)[:args.modes]:
            direction = cartesian_mode_direction(modes, k)
            fits = [curvature_from_displaced_cells(direction, displacements[mask], forces[mask])
                    for mask in subsets.values()]
            print(ROW.format(path.name[:24], int(k), f"{modes.frequencies_meV[k]:.2f}",
                             f"{curvature_of_force_constants(direction, force_constants):.2f}",
                             *(f"{fit.curvature_eV_per_angstrom2:.2f}, {1000 * fit.line_residual_eV_per_angstrom:.0f} "
                               "meV/Å" for fit in fits)))


if __name__ == "__main__":
    main()

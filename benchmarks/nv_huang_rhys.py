"""NV⁻ in diamond: the Huang–Rhys factor of the 3E → 3A2 emission from a per-defect potential's Γ phonons against
the HSE06 DFT force constants of the same 215-atom cell (reference-data/nv-diamond, from defectpl), with the same
ΔR (the HSE06 ground and excited geometries) in both, so the difference is the phonons' alone.

    defectscreen potential train ../shared/reference-data/mlip-datasets/NV-diamond.extxyz --out mace --json
    defectscreen potential phonons --model mace/model/potential.model --structure CELL --out FC_mace
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/nv_huang_rhys.py FC_mace [FC ...] [--frames-lattice]

CELL is `dfpt_hse06_POSCAR` (a = 3.5607 Å, the DFT force constants' cell), or with --frames-lattice that cell, its
ground and its excited state scaled to the lattice of the training frames of NV-diamond.extxyz (a = 3.5477 Å);
`--frames-lattice --write-scaled DIR` writes those three files. For each force-constants file: S, ΔS against the DFT value in the
same geometry (the DFT force constants with the ΔR of that geometry), the mean / max error of the optical
frequencies paired in ascending order, the S carried below 60 meV, between 60 and 120 meV and above, and over the
DFT's localized modes (IPR > 10/N) the mean |Δħω| and the mean overlap of their eigenvectors with the model's.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from defectscreen.physics.huang_rhys import displacement_between, huang_rhys_from_displacement
from defectscreen.physics.mode_comparison import compare_normal_modes, localized_mode_indices
from defectscreen.physics.normal_modes import structure_normal_modes
from defectscreen.readers.phonopy_files import read_force_constants
from defectscreen.readers.structures import read_structure

NV_DIAMOND = Path(__file__).resolve().parents[2] / "shared" / "reference-data" / "nv-diamond"
#: Lattice constant of the NV-diamond.extxyz frames (Å): 10.643199 / 3.
FRAMES_LATTICE_ANGSTROM = 10.643199 / 3
BANDS_MEV = (0.0, 60.0, 120.0, np.inf)
ROW = "{:<28} {:>7} {:>8} {:>12} {:>11} {:>7} {:>9} {:>7} {:>14}"


def _scaled(structure, factor: float):
    scaled = structure.copy()
    scaled.scale_lattice(structure.volume * factor**3)
    return scaled


def coupling(force_constants: np.ndarray, cell, ground, excited):
    """Γ modes of the force constants (acoustic sum rule enforced) and the S_k of ΔR = excited − ground."""
    modes = structure_normal_modes(cell, force_constants)
    return modes, huang_rhys_from_displacement(modes, displacement_between(ground, excited))


def band_sums(huang_rhys) -> list[float]:
    frequencies = huang_rhys.frequencies_meV
    return [float(huang_rhys.partial_huang_rhys[(frequencies >= low) & (frequencies < high)].sum())
            for low, high in zip(BANDS_MEV[:-1], BANDS_MEV[1:])]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("force_constants", type=Path, nargs="*", help="phonopy FORCE_CONSTANTS of the model")
    parser.add_argument("--frames-lattice", action="store_true",
                        help="the files are for the cell scaled to the training frames' lattice")
    parser.add_argument("--write-scaled", type=Path, help="write the scaled cell, ground and excited state here")
    args = parser.parse_args()
    if args.write_scaled is not None and not args.frames_lattice:
        parser.error("--write-scaled writes the cell at the frames' lattice: add --frames-lattice")
    cell, ground, excited = (read_structure(NV_DIAMOND / f"{name}.gz")
                             for name in ("dfpt_hse06_POSCAR", "gs_hse06_CONTCAR", "zpl_hse06_CONTCAR"))
    dft = read_force_constants(NV_DIAMOND / "dfpt_hse06_FORCE_CONSTANTS.gz", len(cell))
    factor = FRAMES_LATTICE_ANGSTROM / (cell.lattice.a / 3) if args.frames_lattice else 1.0
    cell, ground, excited = (_scaled(structure, factor) for structure in (cell, ground, excited))
    if args.write_scaled is not None:
        args.write_scaled.mkdir(parents=True, exist_ok=True)
        for structure, name in ((cell, "POSCAR"), (ground, "gs_CONTCAR"), (excited, "zpl_CONTCAR")):
            structure.to(filename=str(args.write_scaled / name), fmt="poscar")
    reference_modes, reference = coupling(dft, cell, ground, excited)
    print(f"a = {cell.lattice.a / 3:.4f} Å, ΔQ = {reference.delta_Q_amu_half_angstrom:.4f} amu^½ Å; "
          f"DFT (HSE06) S = {reference.total:.3f}; localized modes (IPR > 10/N): "
          f"{len(localized_mode_indices(reference_modes.eigenvectors))}")
    print(ROW.format("force constants", "S", "ΔS", "ħω mean err", "ħω max err", "S<60", "S 60-120", "S>120",
                     "local |Δħω|/ov"))
    print(ROW.format("DFT HSE06", f"{reference.total:.3f}", "-", "-", "-",
                     *(f"{value:.3f}" for value in band_sums(reference)), "-"))
    for path in args.force_constants:
        modes, model = coupling(read_force_constants(path, len(cell)), cell, ground, excited)
        errors = compare_normal_modes(reference_modes, modes)
        print(ROW.format(str(path)[-28:], f"{model.total:.3f}", f"{100 * (model.total / reference.total - 1):+.1f} %",
                         f"{errors.frequency_mean_abs_error_meV:.2f} meV", f"{errors.frequency_max_abs_error_meV:.2f}",
                         *(f"{value:.3f}" for value in band_sums(model)),
                         f"{np.mean(np.abs(errors.localized_frequency_errors_meV)):.2f} / "
                         f"{np.mean(errors.localized_overlaps):.2f}"), flush=True)


if __name__ == "__main__":
    main()

"""NV⁻ in diamond: the Huang–Rhys factor of the 3E → 3A2 emission from a per-defect potential's Γ phonons against
the HSE06 DFT force constants of the same 215-atom cell (reference-data/nv-diamond, from defectpl), with the same
ΔR (the HSE06 ground and excited geometries) in both, so the difference is the phonons' alone.

    defectscreen potential train ../shared/reference-data/mlip-datasets/NV-diamond.extxyz --out mace --json
    defectscreen potential phonons --model mace/model/potential.model --structure CELL --out FC_mace
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/nv_huang_rhys.py FC_mace [FC ...] [--frames-lattice] [--by-distance]
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/nv_huang_rhys.py --model sevennet:ft/potential.pth [--model ...]

CELL is `dfpt_hse06_POSCAR` (a = 3.5607 Å, the DFT force constants' cell), or with --frames-lattice that cell, its
ground and its excited state scaled to the lattice of the training frames of NV-diamond.extxyz (a = 3.5477 Å);
`--frames-lattice --write-scaled DIR` writes those three files. For each force-constants file: S, ΔS against the DFT value in the
same geometry (the DFT force constants with the ΔR of that geometry), the harmonic relaxation energy
E_rel = Σ_k S_k ħω_k = ½ ΔR·Φ·ΔR (the curvature of the model along ΔR; S ∝ ⟨ΔR|√D|ΔR⟩ follows it roughly as its
square root), the mean / max error of the optical frequencies paired in ascending order, the S carried below 60 meV,
between 60 and 120 meV and above, and over the DFT's localized modes (IPR > 10/N) the mean |Δħω| and the mean overlap
of their eigenvectors with the model's. With --by-distance, where the S error sits: S from force constants that are
the model's between atoms both within r of the N and the DFT's elsewhere, for growing r, and the stiffness of the
vacancy's three dangling-bond carbons (the softest eigenvalue of their on-site block Φ_jj, mean). With --model BACKEND:FILE,
a model's E_rel without its phonons (two minutes instead of half an hour of finite displacements): ½ΔR·Φ·ΔR from its
energies at the ground state moved by ±0.1 ΔR, E_rel = (E₊ − 2E₀ + E₋) / (2 × 0.1²), and from its forces there,
−ΔR·(F₊ − F₋) / (4 × 0.1) (a float32 model's energies quantize the first to 6 meV steps in this cell).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from ase import Atoms
from pymatgen.core import Element

from defectscreen.mlip.potential import potential_predictor
from defectscreen.physics.huang_rhys import displacement_between, huang_rhys_from_displacement
from defectscreen.physics.mode_comparison import compare_normal_modes, localized_mode_indices
from defectscreen.physics.normal_modes import structure_normal_modes
from defectscreen.readers.phonopy_files import read_force_constants
from defectscreen.readers.structures import read_structure

NV_DIAMOND = Path(__file__).resolve().parents[2] / "shared" / "reference-data" / "nv-diamond"
#: Lattice constant of the NV-diamond.extxyz frames (Å): 10.643199 / 3.
FRAMES_LATTICE_ANGSTROM = 10.643199 / 3
BANDS_MEV = (0.0, 60.0, 120.0, np.inf)
#: Step along ΔR (fraction of it) of the finite-difference E_rel of --model.
PATH_STEP = 0.1
#: C–C / C–N bond cut (Å): 1.5 Å bonds, 2.5 Å second neighbours.
BOND_ANGSTROM = 1.8
#: Radii (Å) around the N of --by-distance: the N, its 3 C neighbours, the 2nd shell, the vacancy's 3 C neighbours.
RADII_ANGSTROM = (0.1, 1.7, 2.6, 3.2, 4.5, 6.5)
ROW = "{:<28} {:>7} {:>8} {:>9} {:>12} {:>11} {:>7} {:>9} {:>7} {:>14}"


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


def relaxation_energy_meV(huang_rhys) -> float:
    """E_rel = Σ_k S_k ħω_k in meV."""
    return float(np.sum(huang_rhys.partial_huang_rhys * huang_rhys.frequencies_meV))


def dangling_bond_carbons(cell) -> np.ndarray:
    """Indices of the C atoms with three neighbours within BOND_ANGSTROM (the vacancy's)."""
    neighbours = ((cell.distance_matrix > 0.1) & (cell.distance_matrix < BOND_ANGSTROM)).sum(axis=1)
    return np.array([j for j, site in enumerate(cell) if site.species_string == "C" and neighbours[j] == 3])


def on_site_stiffness(force_constants: np.ndarray, atoms: np.ndarray) -> float:
    """Mean over the atoms of the softest eigenvalue of Φ_jj (eV/Å²)."""
    return float(np.mean([np.linalg.eigvalsh(0.5 * (force_constants[j, j] + force_constants[j, j].T))[0]
                          for j in atoms]))


def model_within(model: np.ndarray, reference: np.ndarray, inside: np.ndarray) -> np.ndarray:
    """Force constants (N, N, 3, 3) that are the model's between two atoms both inside, the reference's elsewhere."""
    return np.where(np.outer(inside, inside)[:, :, None, None], model, reference)


def relaxation_energy_of_model(backend: str, model_file: Path, ground, displacement: np.ndarray
                               ) -> tuple[float, float]:
    """½ΔR·Φ·ΔR in meV from the model at R_g and R_g ± h ΔR (h = PATH_STEP): from its energies,
    (E₊ − 2E₀ + E₋) / 2h², and from its forces, −ΔR·(F₊ − F₋) / 4h. A float32 model's energy of a 215-atom cell
    (~1,950 eV) is resolved to 1.2 × 10⁻⁴ eV, which quantizes the first to steps of 6 meV; the second is not."""
    cells = [Atoms([site.specie.Z for site in ground], positions=ground.cart_coords + step * displacement,
                   cell=ground.lattice.matrix, pbc=True) for step in (-PATH_STEP, 0.0, PATH_STEP)]
    energies, forces = potential_predictor(model_file, backend)(cells)
    from_energies = 1e3 * float(energies[0] - 2 * energies[1] + energies[2]) / (2 * PATH_STEP**2)
    from_forces = -1e3 * float(np.sum(displacement * (forces[2] - forces[0]))) / (4 * PATH_STEP)
    return from_energies, from_forces


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("force_constants", type=Path, nargs="*", help="phonopy FORCE_CONSTANTS of the model")
    parser.add_argument("--frames-lattice", action="store_true",
                        help="the files are for the cell scaled to the training frames' lattice")
    parser.add_argument("--write-scaled", type=Path, help="write the scaled cell, ground and excited state here")
    parser.add_argument("--by-distance", action="store_true",
                        help="S with the model's force constants only within growing radii of the N")
    parser.add_argument("--model", action="append", default=[], metavar="BACKEND:FILE",
                        help="E_rel from a model's energies along ΔR (mace, nequip or sevennet)")
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
    print(ROW.format("force constants", "S", "ΔS", "E_rel meV", "ħω mean err", "ħω max err", "S<60", "S 60-120", "S>120",
                     "local |Δħω|/ov"))
    print(ROW.format("DFT HSE06", f"{reference.total:.3f}", "-", f"{relaxation_energy_meV(reference):.1f}", "-", "-",
                     *(f"{value:.3f}" for value in band_sums(reference)), "-"))
    distance_to_n = cell.distance_matrix[cell.species.index(Element("N"))]
    dangling = dangling_bond_carbons(cell)
    for path in args.force_constants:
        force_constants = read_force_constants(path, len(cell))
        modes, model = coupling(force_constants, cell, ground, excited)
        errors = compare_normal_modes(reference_modes, modes)
        print(ROW.format(str(path)[-28:], f"{model.total:.3f}", f"{100 * (model.total / reference.total - 1):+.1f} %",
                         f"{relaxation_energy_meV(model):.1f}",
                         f"{errors.frequency_mean_abs_error_meV:.2f} meV", f"{errors.frequency_max_abs_error_meV:.2f}",
                         *(f"{value:.3f}" for value in band_sums(model)),
                         f"{np.mean(np.abs(errors.localized_frequency_errors_meV)):.2f} / "
                         f"{np.mean(errors.localized_overlaps):.2f}"), flush=True)
        if args.by_distance:
            print(f"    dangling-bond C stiffness {on_site_stiffness(force_constants, dangling):.1f} eV/Å² (DFT "
                  f"{on_site_stiffness(dft, dangling):.1f})")
            for radius in RADII_ANGSTROM:
                inside = distance_to_n < radius
                _, within = coupling(model_within(force_constants, dft, inside), cell, ground, excited)
                print(f"    the model's within {radius:.1f} Å of the N ({inside.sum():3d} atoms), the DFT's beyond: "
                      f"S {within.total:.3f} ({100 * (within.total / reference.total - 1):+.1f} %)", flush=True)
    displacement = displacement_between(ground, excited)
    for backend_and_file in args.model:
        backend, _, model_file = backend_and_file.partition(":")
        from_energies, from_forces = relaxation_energy_of_model(backend, Path(model_file), ground, displacement)
        print(f"{model_file}: E_rel {from_energies:.1f} meV from its energies, {from_forces:.1f} meV from its forces "
              f"along ΔR (DFT force constants: {relaxation_energy_meV(reference):.1f})", flush=True)


if __name__ == "__main__":
    main()

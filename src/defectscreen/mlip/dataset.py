"""Training sets for one defect, one potential: perturbed copies of a relaxed supercell (seed 000 §II)
and labelled frames in extended XYZ, the format every backend reads."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from ase import Atoms
from ase.calculators.singlepoint import SinglePointCalculator
from ase.io import read, write
from pymatgen.core import Structure

from defectscreen.readers import InputFileError

#: Keys under which frames are written for the backends (never clash with ASE's own 'energy'/'forces').
ENERGY_KEY = "REF_energy"
FORCES_KEY = "REF_forces"


def random_displacements(n_structures: int, n_atoms: int, r_max_angstrom: float, seed: int) -> np.ndarray:
    """(n_structures, n_atoms, 3) displacements in Å, each inside a sphere of radius r_max.

    As in seed 000 §II both parts are uniform: the radius on [0, r_max] and the direction on the
    unit sphere (so the mean length is r_max/2, not the 3r_max/4 of points uniform in the ball).
    """
    if r_max_angstrom <= 0:
        raise ValueError(f"r_max_angstrom must be positive, got {r_max_angstrom}")
    rng = np.random.default_rng(seed)
    radius = rng.uniform(0.0, r_max_angstrom, size=(n_structures, n_atoms, 1))
    direction = rng.normal(size=(n_structures, n_atoms, 3))
    direction /= np.linalg.norm(direction, axis=2, keepdims=True)
    return radius * direction


def perturbed_structures(structure: Structure, n_structures: int, r_max_angstrom: float, seed: int) -> list[Structure]:
    """Copies of ``structure`` with every atom displaced by :func:`random_displacements`."""
    displacements = random_displacements(n_structures, len(structure), r_max_angstrom, seed)
    return [
        Structure(structure.lattice, structure.species, structure.cart_coords + shift, coords_are_cartesian=True)
        for shift in displacements
    ]


def train_validation_split(n_frames: int, validation_fraction: float, seed: int) -> tuple[list[int], list[int]]:
    """Random disjoint (train, validation) frame indices; at least one frame in each."""
    if not 0.0 < validation_fraction < 1.0:
        raise ValueError(f"validation_fraction must lie strictly between 0 and 1, got {validation_fraction}")
    if n_frames < 2:
        raise ValueError(f"a potential needs at least 2 frames (training and validation), got {n_frames}")
    n_validation = min(n_frames - 1, max(1, round(validation_fraction * n_frames)))
    order = np.random.default_rng(seed).permutation(n_frames)
    return sorted(order[n_validation:].tolist()), sorted(order[:n_validation].tolist())


def evenly_spaced(n_items: int, n_kept: int) -> list[int]:
    """Indices of ``n_kept`` evenly spaced items of ``n_items`` (first and last included; all if fewer)."""
    return sorted({int(round(i)) for i in np.linspace(0, n_items - 1, min(n_kept, n_items))})


def labelled_frame(structure: Structure | Atoms, energy_eV: float, forces_eV_per_angstrom: np.ndarray) -> Atoms:
    """ASE atoms carrying a reference energy and forces."""
    atoms = structure.to_ase_atoms() if isinstance(structure, Structure) else structure.copy()
    atoms.calc = SinglePointCalculator(atoms, energy=energy_eV, forces=np.asarray(forces_eV_per_angstrom))
    return atoms


def write_frames(path: Path, frames: list[Atoms]) -> None:
    """Extended XYZ with the reference labels under ENERGY_KEY/FORCES_KEY."""
    plain = []
    for frame in frames:
        atoms = Atoms(frame.numbers, positions=frame.positions, cell=frame.cell, pbc=frame.pbc)
        atoms.info[ENERGY_KEY] = float(frame.get_potential_energy())
        atoms.arrays[FORCES_KEY] = np.array(frame.get_forces())
        plain.append(atoms)
    write(path, plain, format="extxyz")


def read_frames(path: Path) -> list[Atoms]:
    """Labelled frames from an extended XYZ file (gzip accepted): energy and forces either as
    ENERGY_KEY/FORCES_KEY or as the usual ``energy``/``forces`` results."""
    path = Path(path)
    if not path.is_file():
        raise InputFileError(f"{path}: no such file; give an extended XYZ file of frames with energies and forces")
    try:
        images = read(path, index=":", format="extxyz")
    except Exception as error:  # ASE raises several types for malformed files
        raise InputFileError(f"{path}: not a readable extended XYZ file ({error})") from None
    frames = []
    for index, atoms in enumerate(images):
        energy = atoms.info.get(ENERGY_KEY)
        forces = atoms.arrays.get(FORCES_KEY)
        if (energy is None or forces is None) and atoms.calc is not None:
            energy = atoms.calc.results.get("energy", energy)
            forces = atoms.calc.results.get("forces", forces)
        if energy is None or forces is None:
            raise InputFileError(
                f"{path}: frame {index} has no {'energy' if energy is None else 'forces'}; every frame needs a "
                f"total energy (key '{ENERGY_KEY}' or 'energy' in the comment line) and per-atom forces "
                f"('{FORCES_KEY}' or 'forces' in Properties)"
            )
        if not (np.isfinite(float(energy)) and np.all(np.isfinite(forces))):
            raise InputFileError(f"{path}: frame {index} has a non-finite energy or force (NaN or inf); remove the "
                                 "frame or recompute it")
        frames.append(labelled_frame(atoms, float(energy), forces))
    if len(frames) < 2:
        raise InputFileError(f"{path}: {len(frames)} frame(s); a potential needs at least 2 (training and validation)")
    return frames

"""Run inside the NequIP environment: energies and forces of every frame of an extended XYZ file.

    python nequip_predict.py MODEL.ckpt FRAMES.extxyz OUT.npz
"""

import sys

import numpy as np
from ase.io import read
from nequip.integrations.ase import NequIPCalculator


def main(model_file: str, frames_file: str, out_file: str) -> None:
    calculator = NequIPCalculator._from_saved_model(model_file, device="cpu")
    energies, forces = [], []
    for atoms in read(frames_file, index=":", format="extxyz"):
        atoms.calc = calculator
        energies.append(atoms.get_potential_energy())
        forces.append(atoms.get_forces())
    np.savez(out_file, energies=np.array(energies), forces=np.concatenate(forces))


if __name__ == "__main__":
    main(*sys.argv[1:4])

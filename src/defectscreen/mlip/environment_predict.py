"""Run inside the NequIP/SevenNet environment: energies and forces of every frame of an extended XYZ file.

    python environment_predict.py nequip|sevennet MODEL FRAMES.extxyz OUT.npz

Imports only the backend's package, torch (to find a GPU), ASE and numpy.
"""

import sys

import numpy as np
import torch
from ase.io import read

#: A GPU worker predicts on its GPU, any other on the CPU.
DEVICE = "cuda" if torch.cuda.is_available() else "cpu"


def calculator(backend: str, model_file: str):
    """The backend's ASE calculator of a trained model, on DEVICE."""
    if backend == "nequip":
        from nequip.integrations.ase import NequIPCalculator

        return NequIPCalculator._from_saved_model(model_file, device=DEVICE)
    from sevenn.calculator import SevenNetCalculator

    return SevenNetCalculator(model_file, device=DEVICE)


def main(backend: str, model_file: str, frames_file: str, out_file: str) -> None:
    model = calculator(backend, model_file)
    energies, forces = [], []
    for atoms in read(frames_file, index=":", format="extxyz"):
        atoms.calc = model
        energies.append(atoms.get_potential_energy())
        forces.append(atoms.get_forces())
    np.savez(out_file, energies=np.array(energies), forces=np.concatenate(forces))


if __name__ == "__main__":
    main(*sys.argv[1:5])

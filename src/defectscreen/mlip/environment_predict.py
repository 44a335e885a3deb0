"""Run inside the NequIP/SevenNet environment: energies and forces of every frame of an extended XYZ file, or FIRE
relaxations at fixed cell of every structure in one.

    python environment_predict.py predict nequip|sevennet MODEL FRAMES.extxyz OUT.npz
    python environment_predict.py relax nequip|sevennet MODEL STARTS.extxyz OUT.extxyz FMAX MAX_STEPS

``relax`` writes each final structure with its model energy (eV), FIRE steps and whether it converged
(``info``: energy_eV, steps, converged). Imports only the backend's package, torch (to find a GPU), ASE and numpy.
"""

import sys

import numpy as np
import torch
from ase.io import read, write
from ase.optimize import FIRE

#: A GPU worker predicts on its GPU, any other on the CPU.
DEVICE = "cuda" if torch.cuda.is_available() else "cpu"


def calculator(backend: str, model_file: str):
    """The backend's ASE calculator of a trained model, on DEVICE."""
    if backend == "nequip":
        from nequip.integrations.ase import NequIPCalculator

        return NequIPCalculator._from_saved_model(model_file, device=DEVICE)
    from sevenn.calculator import SevenNetCalculator

    return SevenNetCalculator(model_file, device=DEVICE)


def predict(backend: str, model_file: str, frames_file: str, out_file: str) -> None:
    model = calculator(backend, model_file)
    energies, forces = [], []
    for atoms in read(frames_file, index=":", format="extxyz"):
        atoms.calc = model
        energies.append(atoms.get_potential_energy())
        forces.append(atoms.get_forces())
    np.savez(out_file, energies=np.array(energies), forces=np.concatenate(forces))


def relax(backend: str, model_file: str, starts_file: str, out_file: str, fmax: str, max_steps: str) -> None:
    model = calculator(backend, model_file)
    relaxed = []
    for atoms in read(starts_file, index=":", format="extxyz"):
        atoms.calc = model
        optimizer = FIRE(atoms, logfile=None)
        converged = bool(optimizer.run(fmax=float(fmax), steps=int(max_steps)))
        energy = float(atoms.get_potential_energy())
        atoms.calc = None
        atoms.info.update(energy_eV=energy, steps=int(optimizer.nsteps), converged=converged)
        relaxed.append(atoms)
    write(out_file, relaxed, format="extxyz")


if __name__ == "__main__":
    {"predict": predict, "relax": relax}[sys.argv[1]](*sys.argv[2:])

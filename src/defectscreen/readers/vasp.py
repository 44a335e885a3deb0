"""VASP outputs for the configuration-coordinate analysis: vasprun.xml (energy, structure, Kohn–Sham
eigenvalues), WSWQ (overlaps ⟨ψ_i(0)|S|ψ_j(Q)⟩), gzipped or not, and WAVECAR (band densities); parsed by
pymatgen."""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from pymatgen.core import Structure
from pymatgen.io.vasp.outputs import WSWQ, Vasprun, Wavecar

from defectscreen.readers.errors import InputFileError


@dataclass(frozen=True)
class VaspCalculation:
    """Final energy (eV), structure, forces (eV/Å) and eigenvalues (spin, k-point, band) in eV of one vasprun.xml."""

    path: Path
    energy_eV: float
    structure: Structure
    forces_eV_per_angstrom: np.ndarray
    eigenvalues_eV: np.ndarray


def read_vasprun(path: str | Path) -> VaspCalculation:
    """Parse a vasprun.xml; a file that is not one raises InputFileError."""
    path = Path(path)
    if not path.is_file():
        raise InputFileError(f"{path}: no such file")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            run = Vasprun(path, parse_potcar_file=False, parse_dos=False)
    except Exception as error:  # noqa: BLE001 - any parser failure means the wrong kind of file
        raise InputFileError(f"{path}: not a readable vasprun.xml ({type(error).__name__}: {error})") from None
    eigenvalues = np.array([values[:, :, 0] for _, values in sorted(run.eigenvalues.items(), key=lambda kv: -kv[0].value)])
    return VaspCalculation(path=path, energy_eV=float(run.final_energy), structure=run.final_structure,
                           forces_eV_per_angstrom=np.array(run.ionic_steps[-1]["forces"]), eigenvalues_eV=eigenvalues)


def read_wswq_overlap(path: str | Path, spin: int, kpoint: int, band: int, defect_band: int) -> float:
    """|⟨ψ_band(0)|S|ψ_defect_band(Q)⟩| from a WSWQ file (indices 1-based as VASP writes them)."""
    path = Path(path)
    if not path.is_file():
        raise InputFileError(f"{path}: no such file")
    try:
        wswq = WSWQ.from_file(path)
    except Exception as error:  # noqa: BLE001 - any parser failure means the wrong kind of file
        raise InputFileError(f"{path}: not a VASP WSWQ file ({type(error).__name__}: {error})") from None
    if not (1 <= spin <= wswq.nspin and 1 <= kpoint <= wswq.nkpoints):
        raise InputFileError(f"{path}: has {wswq.nspin} spin channel(s) and {wswq.nkpoints} k-point(s); "
                             f"spin {spin} / k-point {kpoint} do not exist")
    for name, index in (("band", band), ("defect band", defect_band)):
        if not 1 <= index <= wswq.nbands:
            raise InputFileError(f"{path}: {name} {index} outside 1..{wswq.nbands}")
    return float(abs(wswq.data[spin - 1, kpoint - 1, band - 1, defect_band - 1]))


def read_wavecar_density(path: str | Path, bands: list[int], spin: int, kpoint: int) -> tuple[np.ndarray, np.ndarray]:
    """(Σ_b |ψ_b(r)|² of the pseudo wavefunctions on the cell's FFT grid, lattice rows in Å) from a WAVECAR
    (standard or Γ-only); indices 1-based as VASP writes them."""
    path = Path(path)
    if not path.is_file():
        raise InputFileError(f"{path}: no such file")
    try:
        wavecar = Wavecar(path)
    except Exception as error:  # noqa: BLE001 - any parser failure means the wrong kind of file
        raise InputFileError(f"{path}: not a readable VASP WAVECAR ({type(error).__name__}: {error})") from None
    if not (1 <= spin <= wavecar.spin and 1 <= kpoint <= wavecar.nk):
        raise InputFileError(f"{path}: has {wavecar.spin} spin channel(s) and {wavecar.nk} k-point(s); "
                             f"spin {spin} / k-point {kpoint} do not exist")
    outside = [band for band in bands if not 1 <= band <= wavecar.nb]
    if not bands or outside:
        raise InputFileError(f"{path}: give the band-edge bands (--bulk-band) within 1..{wavecar.nb}")
    density = sum(np.abs(np.fft.ifftn(wavecar.fft_mesh(kpoint - 1, band - 1, spin=spin - 1))) ** 2 for band in bands)
    return density, np.asarray(wavecar.a, dtype=float)

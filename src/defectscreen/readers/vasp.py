"""VASP outputs, parsed by pymatgen: a whole calculation folder as atomate2/custodian leave it (vasprun.xml,
OUTCAR, LOCPOT), and for the configuration-coordinate analysis vasprun.xml (energy, structure, Kohn–Sham
eigenvalues), WSWQ (overlaps ⟨ψ_i(0)|S|ψ_j(Q)⟩), gzipped or not, and WAVECAR (band densities)."""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from monty.os.path import zpath
from pymatgen.core import Structure
from pymatgen.electronic_structure.core import Spin
from pymatgen.io.vasp.outputs import WSWQ, Locpot, Outcar, Vasprun, Wavecar

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
    run = _parsed(path, "a readable vasprun.xml", _vasprun)
    eigenvalues = np.array([values[:, :, 0] for _, values in sorted(run.eigenvalues.items(), key=lambda kv: -kv[0].value)])
    return VaspCalculation(path=path, energy_eV=float(run.final_energy), structure=run.final_structure,
                           forces_eV_per_angstrom=np.array(run.ionic_steps[-1]["forces"]), eigenvalues_eV=eigenvalues)


@dataclass(frozen=True)
class VaspDirectory:
    """What the platform's task document takes from one VASP calculation folder.

    Energies in eV (VASP's energy extrapolated to σ → 0, as pymatgen's ``Vasprun.final_energy``), every ionic step as
    (positions Å, energy eV, forces eV/Å) — the last one the final structure's —,
    eigenvalues and occupations [spin][k][band] (occupations 0..1 per state), the electrostatic potential energy of
    an electron at each site (OUTCAR's 'average (electrostatic) potential at core', eV) and averaged over planes
    normal to a, b, c (LOCPOT, where VASP wrote one)."""

    input_structure: Structure
    structure: Structure
    energy_eV: float
    ionic_steps: list[tuple[np.ndarray, float, np.ndarray]]
    converged_electronic: bool
    converged_ionic: bool
    eigenvalues_eV: list
    occupations: list
    k_weights: list[float]
    site_potential_eV: list[float]
    planar_average_potential_eV: list[list[float]] | None
    vasp_version: str
    mpi_ranks: int


def read_vasp_directory(directory: str | Path) -> VaspDirectory:
    """Read a finished VASP calculation folder (files gzipped or not); a folder without a readable vasprun.xml and
    OUTCAR raises InputFileError naming the file."""
    directory = Path(directory)
    run = _parsed(Path(zpath(str(directory / "vasprun.xml"))), "a readable vasprun.xml", _vasprun)
    outcar = _parsed(Path(zpath(str(directory / "OUTCAR"))), "a readable OUTCAR", Outcar)
    outcar.read_electrostatic_potential()
    outcar.read_pattern({"cores": r"running on\s+(\d+) total cores"}, terminate_on_match=True, postprocess=int)
    locpot_path = Path(zpath(str(directory / "LOCPOT")))
    planar = ([list(map(float, locpot.get_average_along_axis(axis))) for axis in range(3)]
              if locpot_path.is_file() and (locpot := _parsed(locpot_path, "a readable LOCPOT", Locpot.from_file))
              else None)
    spins = [spin for spin in (Spin.up, Spin.down) if spin in run.eigenvalues]
    return VaspDirectory(
        input_structure=run.initial_structure, structure=run.final_structure, energy_eV=float(run.final_energy),
        ionic_steps=[(step["structure"].cart_coords, float(step["e_0_energy"]), np.array(step["forces"]))
                     for step in run.ionic_steps],
        converged_electronic=bool(run.converged_electronic), converged_ionic=bool(run.converged_ionic),
        eigenvalues_eV=[run.eigenvalues[spin][:, :, 0].tolist() for spin in spins],
        occupations=[run.eigenvalues[spin][:, :, 1].tolist() for spin in spins],
        k_weights=[float(w) for w in run.actual_kpoints_weights],
        site_potential_eV=[float(v) for v in outcar.electrostatic_potential],
        planar_average_potential_eV=planar, vasp_version=str(run.vasp_version).strip(),
        mpi_ranks=outcar.data["cores"][0][0] if outcar.data.get("cores") else 1)


def _vasprun(path: Path) -> Vasprun:
    return Vasprun(path, parse_potcar_file=False, parse_dos=False)


def _parsed(path: Path, kind: str, parse):
    """``parse(path)`` (pymatgen's warnings silenced), or InputFileError: no such file, or not ``kind``."""
    if not path.is_file():
        raise InputFileError(f"{path}: no such file")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return parse(path)
    except Exception as error:  # noqa: BLE001 - any parser failure means a truncated or foreign file
        raise InputFileError(f"{path}: not {kind} ({type(error).__name__}: {error})") from None


def read_wswq_overlap(path: str | Path, spin: int, kpoint: int, band: int, defect_band: int) -> float:
    """|⟨ψ_band(0)|S|ψ_defect_band(Q)⟩| from a WSWQ file (indices 1-based as VASP writes them)."""
    path = Path(path)
    wswq = _parsed(path, "a VASP WSWQ file", WSWQ.from_file)
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
    wavecar = _parsed(path, "a readable VASP WAVECAR", Wavecar)
    if not (1 <= spin <= wavecar.spin and 1 <= kpoint <= wavecar.nk):
        raise InputFileError(f"{path}: has {wavecar.spin} spin channel(s) and {wavecar.nk} k-point(s); "
                             f"spin {spin} / k-point {kpoint} do not exist")
    outside = [band for band in bands if not 1 <= band <= wavecar.nb]
    if not bands or outside:
        raise InputFileError(f"{path}: give the band-edge bands (--bulk-band) within 1..{wavecar.nb}")
    density = sum(np.abs(np.fft.ifftn(wavecar.fft_mesh(kpoint - 1, band - 1, spin=spin - 1))) ** 2 for band in bands)
    return density, np.asarray(wavecar.a, dtype=float)

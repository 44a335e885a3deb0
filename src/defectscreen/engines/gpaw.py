"""GPAW calculators (plane waves or LCAO): charged cells through ``charge=``, fixed spin moment when open-shell.

The calculator is GPAW's classic implementation (``gpaw.calculator.GPAW``) in one process and across MPI ranks
(:mod:`defectscreen.engines.ranks`), so a document is the same calculation whatever the rank count. It divides a
cell into real-space domains without ScaLAPACK, which GPAW's current implementation (``gpaw.GPAW`` since 25.1) needs
for that (measured with GPAW 26.7 on 2 ranks: domain decomposition fails in its subspace diagonalisation, band
parallelisation in its LCAO start); serially it is also faster here (63-atom Si vacancy, PW 500 eV, Γ: 131 s vs
198 s), and the two agree to the SCF tolerance (8-atom Si, PW 300 eV: 2e-5 eV apart).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from gpaw import PW, KohnShamConvergenceError
from gpaw.calculator import GPAW
from gpaw.utilities.ps2ae import PS2AE

from defectscreen.engines.base import PLANE_WAVE_HYBRIDS, GpawSettings
from defectscreen.engines.guard import ScfGuard


def gpaw_calculator(
    settings: GpawSettings, charge: int, multiplicity: int, workdir: Path, symmetry_off: bool = False
) -> ScfGuard:
    """GPAW calculator (plane waves, or atomic orbitals with ``mode: lcao``) writing its text log to
    ``workdir/gpaw.txt``; ``symmetry_off``: every k-point of the full Monkhorst–Pack grid, as Berry phases need."""
    spin_polarized = multiplicity > 1
    basis = ({"mode": PW(settings.ecut_eV)} if settings.mode == "pw" else
             {"mode": "lcao", "basis": settings.basis, "h": settings.grid_spacing_angstrom})
    calculator = GPAW(
        **basis,
        xc={"name": settings.xc, "backend": "pw"} if settings.xc in PLANE_WAVE_HYBRIDS else settings.xc,
        kpts={"size": settings.kpts, "gamma": settings.gamma_centered},
        charge=charge,
        spinpol=spin_polarized,
        occupations={
            "name": "fermi-dirac",
            "width": settings.smearing_eV,
            "fixmagmom": spin_polarized,
        },
        convergence={"energy": settings.energy_convergence_eV_per_electron},
        maxiter=settings.max_scf_iterations,
        setups=settings.setups,
        txt=str(workdir / "gpaw.txt"),
        **({"symmetry": "off"} if symmetry_off else {}),
    )
    return ScfGuard(calculator, scf_failures=(KohnShamConvergenceError,), engine="GPAW")


@dataclass(frozen=True)
class KohnShamOrbitals:
    """Γ-point Kohn–Sham states (the first point of a Γ-centred grid) of one spin channel of a converged GPAW
    calculation.

    eigenvalues_eV, occupations (0..1): all bands of the channel; orbitals: band index (0-based) -> all-electron
    wave function on a uniform real-space grid (PAW-reconstructed by GPAW's PS2AE), normalized to 1.
    """

    spin: int
    eigenvalues_eV: np.ndarray
    occupations: np.ndarray
    orbitals: dict[int, np.ndarray]


#: Real-space spacing (Å) of the all-electron orbitals used for overlaps between geometries.
ALL_ELECTRON_GRID_SPACING = 0.05


def kohn_sham_orbitals(guarded: ScfGuard, atoms, spin: int, bands: list[int] | None = None, edge_bands: int = 3,
                       grid_spacing: float = ALL_ELECTRON_GRID_SPACING) -> KohnShamOrbitals:
    """Eigenvalues, occupations and all-electron orbitals of ``bands`` after an SCF of ``atoms`` with this
    calculator; bands None: the first empty band of the channel and ``edge_bands`` bands on each side."""
    atoms.calc = guarded
    atoms.get_potential_energy()
    calculator = guarded.inner
    eigenvalues = np.asarray(calculator.get_eigenvalues(kpt=0, spin=spin))
    occupations = np.asarray(calculator.get_occupation_numbers(kpt=0, spin=spin)) * (
        1.0 if calculator.get_number_of_spins() == 2 else 0.5
    ) / calculator.get_k_point_weights()[0]
    if bands is None:
        first_empty = int(np.argmax(occupations < 0.5))
        bands = [b for b in range(first_empty - edge_bands, first_empty + edge_bands + 1) if 0 <= b < eigenvalues.size]
    transformer = PS2AE(calculator, grid_spacing=grid_spacing)
    orbitals = {}
    for band in bands:
        wave = transformer.get_wave_function(band, k=0, s=spin, ae=True)
        orbitals[band] = wave / np.sqrt(np.sum(np.abs(wave) ** 2))
    return KohnShamOrbitals(spin=spin, eigenvalues_eV=eigenvalues, occupations=occupations, orbitals=orbitals)

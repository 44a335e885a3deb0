"""GPAW plane-wave calculators: charged cells through ``charge=``, fixed spin moment when open-shell."""

from __future__ import annotations

from pathlib import Path

from gpaw import GPAW, PW, KohnShamConvergenceError

from defectscreen.engines.base import GpawSettings
from defectscreen.engines.guard import ScfGuard


def gpaw_calculator(
    settings: GpawSettings, charge: int, multiplicity: int, workdir: Path
) -> ScfGuard:
    """GPAW PW calculator writing its text log to ``workdir/gpaw.txt``."""
    spin_polarized = multiplicity > 1
    calculator = GPAW(
        mode=PW(settings.ecut_eV),
        xc=settings.xc,
        kpts=settings.kpts,
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
    )
    return ScfGuard(calculator, scf_failures=(KohnShamConvergenceError,), engine="GPAW")

"""tblite GFN-xTB calculators (periodic, charged; not DFT)."""

from __future__ import annotations

from ase.calculators.calculator import CalculationFailed
from tblite.ase import TBLite

from defectscreen.engines.base import XtbSettings
from defectscreen.engines.guard import ScfGuard


def xtb_calculator(settings: XtbSettings, charge: int, multiplicity: int) -> ScfGuard:
    """tblite calculator; ``electronic_temperature`` is passed in kelvin as tblite expects.

    tblite reports an unconverged SCF as ``CalculationFailed('SCF not converged in N cycles')``.
    """
    calculator = TBLite(
        method=settings.method,
        charge=charge,
        multiplicity=multiplicity,
        accuracy=settings.accuracy,
        electronic_temperature=settings.electronic_temperature_K,
        max_iterations=settings.max_scf_iterations,
        verbosity=0,
    )
    return ScfGuard(calculator, scf_failures=(CalculationFailed,), engine="xTB")

"""Reference calculators behind one small interface: settings -> ASE calculator, provenance."""

from defectscreen.engines.base import (
    EngineSettings,
    GpawSettings,
    VaspSettings,
    XtbSettings,
    engine_record,
    make_calculator,
    parse_engine_settings,
    spin_multiplicity,
)
from defectscreen.engines.guard import ScfNotConvergedError

__all__ = [
    "EngineSettings",
    "GpawSettings",
    "ScfNotConvergedError",
    "VaspSettings",
    "XtbSettings",
    "engine_record",
    "make_calculator",
    "parse_engine_settings",
    "spin_multiplicity",
]

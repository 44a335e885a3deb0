"""jobflow Makers in the atomate2 style: a dataclass whose make() returns a Job."""

from defectscreen.jobs.ccd import ConfigurationCoordinateMaker
from defectscreen.jobs.reference import RelaxationNotConvergedError, RelaxMaker, StaticMaker

__all__ = ["ConfigurationCoordinateMaker", "RelaxMaker", "RelaxationNotConvergedError", "StaticMaker"]

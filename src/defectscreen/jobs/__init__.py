"""jobflow Makers in the atomate2 style: a dataclass whose make() returns a Job."""

from defectscreen.jobs.reference import RelaxationNotConvergedError, RelaxMaker, StaticMaker

__all__ = ["RelaxMaker", "RelaxationNotConvergedError", "StaticMaker"]

"""jobflow Makers in the atomate2 style: a dataclass whose make() returns a Job."""

from defectscreen.jobs.ccd import ConfigurationCoordinateMaker
from defectscreen.jobs.phonons import GammaPhononMaker, HuangRhysMaker, PotentialRejectedError
from defectscreen.jobs.potential import PotentialMaker, TrainingSetMaker
from defectscreen.jobs.reference import RelaxationNotConvergedError, RelaxMaker, StaticMaker

__all__ = [
    "ConfigurationCoordinateMaker",
    "GammaPhononMaker",
    "HuangRhysMaker",
    "PotentialMaker",
    "PotentialRejectedError",
    "RelaxMaker",
    "RelaxationNotConvergedError",
    "StaticMaker",
    "TrainingSetMaker",
]

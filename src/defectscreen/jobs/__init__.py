"""jobflow Makers in the atomate2 style: a dataclass whose make() returns a Job; jobs that read other jobs' documents
record them as parents through :mod:`defectscreen.jobs.provenance`."""

from defectscreen.jobs.ccd import ConfigurationCoordinateMaker
from defectscreen.jobs.embedding import EmbeddedSpectrumMaker, EmbeddingConvergenceMaker
from defectscreen.jobs.glass_cell import GlassDefectCellMaker
from defectscreen.jobs.phonons import GammaPhononMaker, HuangRhysMaker, PotentialRejectedError
from defectscreen.jobs.potential import PotentialMaker, TrainingSetMaker
from defectscreen.jobs.reference import RelaxationNotConvergedError, RelaxMaker, StaticMaker
from defectscreen.jobs.search import (
    FullSearchMaker,
    GroundStateMaker,
    SearchBenchmarkMaker,
    StructureSearchMaker,
    SurrogateMaker,
)

__all__ = [
    "ConfigurationCoordinateMaker",
    "EmbeddedSpectrumMaker",
    "EmbeddingConvergenceMaker",
    "GlassDefectCellMaker",
    "GroundStateMaker",
    "GammaPhononMaker",
    "HuangRhysMaker",
    "PotentialMaker",
    "PotentialRejectedError",
    "RelaxMaker",
    "RelaxationNotConvergedError",
    "FullSearchMaker",
    "SearchBenchmarkMaker",
    "StaticMaker",
    "StructureSearchMaker",
    "SurrogateMaker",
    "TrainingSetMaker",
]

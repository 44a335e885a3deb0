"""Pydantic documents, one per stored collection, with units in field names and provenance."""

from defectscreen.schemas.amorphous import AmorphousHostDocument, SiteEnsembleDocument
from defectscreen.schemas.dielectric import DielectricDocument
from defectscreen.schemas.embedding import (
    EmbeddedSpectrumDocument,
    EmbeddingConvergenceDocument,
)
from defectscreen.schemas.formation import (
    DefectChargeDocument,
    DefectFormationDocument,
    DefectSummaryDocument,
    FormationEnergyDocument,
    LatticeEnergyDocument,
)
from defectscreen.schemas.hamiltonian import (
    HamiltonianLabelsDocument,
    HamiltonianModelDocument,
    MlHamiltonianDocument,
)
from defectscreen.schemas.optics import (
    CaptureDocument,
    ConfigurationCoordinateDocument,
    LineshapeDocument,
)
from defectscreen.schemas.phonons import (
    HuangRhysDocument,
    PhononDispersionDocument,
    PhononDocument,
    PotentialDocument,
    TrainingSetDocument,
)
from defectscreen.schemas.search import (
    FullSearchDocument,
    SearchBenchmarkDocument,
    StructureSearchDocument,
    SurrogateDocument,
)
from defectscreen.schemas.tasks import CalculationLabels, EngineRecord, TaskDocument

__all__ = [
    "AmorphousHostDocument",
    "DefectChargeDocument",
    "DefectFormationDocument",
    "DefectSummaryDocument",
    "DielectricDocument",
    "FormationEnergyDocument",
    "LatticeEnergyDocument",
    "EmbeddedSpectrumDocument",
    "EmbeddingConvergenceDocument",
    "CalculationLabels",
    "CaptureDocument",
    "ConfigurationCoordinateDocument",
    "EngineRecord",
    "HamiltonianLabelsDocument",
    "HamiltonianModelDocument",
    "HuangRhysDocument",
    "MlHamiltonianDocument",
    "LineshapeDocument",
    "PhononDispersionDocument",
    "PhononDocument",
    "PotentialDocument",
    "FullSearchDocument",
    "SearchBenchmarkDocument",
    "SiteEnsembleDocument",
    "StructureSearchDocument",
    "SurrogateDocument",
    "TaskDocument",
    "TrainingSetDocument",
]

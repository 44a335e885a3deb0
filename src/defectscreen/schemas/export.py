"""Write the JSON Schema of every stored document into a folder (top-level ``schemas/``).

    python -m defectscreen.schemas.export schemas/
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from defectscreen.schemas import (
    AmorphousHostDocument,
    CaptureDocument,
    ConfigurationCoordinateDocument,
    DefectChargeDocument,
    DefectFormationDocument,
    DefectSummaryDocument,
    DielectricDocument,
    EmbeddedSpectrumDocument,
    EmbeddingConvergenceDocument,
    FormationEnergyDocument,
    FullSearchDocument,
    HamiltonianLabelsDocument,
    HamiltonianModelDocument,
    HuangRhysDocument,
    LatticeEnergyDocument,
    LineshapeDocument,
    MlHamiltonianDocument,
    PhononDispersionDocument,
    PhononDocument,
    PotentialDocument,
    SearchBenchmarkDocument,
    SiteEnsembleDocument,
    StructureSearchDocument,
    SurrogateDocument,
    TaskDocument,
    TrainingSetDocument,
)

DOCUMENTS = {
    "task_document": TaskDocument,
    "lineshape_document": LineshapeDocument,
    "capture_document": CaptureDocument,
    "configuration_coordinate_document": ConfigurationCoordinateDocument,
    "training_set_document": TrainingSetDocument,
    "potential_document": PotentialDocument,
    "phonon_document": PhononDocument,
    "phonon_dispersion_document": PhononDispersionDocument,
    "huang_rhys_document": HuangRhysDocument,
    "embedded_spectrum_document": EmbeddedSpectrumDocument,
    "embedding_convergence_document": EmbeddingConvergenceDocument,
    "defect_charge_document": DefectChargeDocument,
    "dielectric_document": DielectricDocument,
    "formation_energy_document": FormationEnergyDocument,
    "defect_formation_document": DefectFormationDocument,
    "lattice_energy_document": LatticeEnergyDocument,
    "defect_summary_document": DefectSummaryDocument,
    "surrogate_document": SurrogateDocument,
    "structure_search_document": StructureSearchDocument,
    "full_search_document": FullSearchDocument,
    "search_benchmark_document": SearchBenchmarkDocument,
    "amorphous_host_document": AmorphousHostDocument,
    "site_ensemble_document": SiteEnsembleDocument,
    "hamiltonian_labels_document": HamiltonianLabelsDocument,
    "hamiltonian_model_document": HamiltonianModelDocument,
    "ml_hamiltonian_document": MlHamiltonianDocument,
}


def json_schemas() -> dict[str, str]:
    """file name -> JSON Schema text of each stored document."""
    return {
        f"{name}.json": json.dumps(model.model_json_schema(), indent=2, sort_keys=True) + "\n"
        for name, model in DOCUMENTS.items()
    }


if __name__ == "__main__":
    folder = Path(sys.argv[1])
    folder.mkdir(parents=True, exist_ok=True)
    for file_name, text in json_schemas().items():
        (folder / file_name).write_text(text)

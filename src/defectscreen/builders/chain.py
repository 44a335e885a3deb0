"""The builder pipeline over one storage location (embedded or MongoDB), in dependency order."""

from __future__ import annotations

from maggma.core import Builder

from defectscreen.builders.defects import DefectBuilder
from defectscreen.builders.formation import FormationEnergyBuilder
from defectscreen.builders.summary import DefectSummaryBuilder
from defectscreen.storage import StorageSettings

#: documents written per update: each replacement on the embedded store scans its collection once.
CHUNK_SIZE = 10_000
#: collection -> key of its documents.
COLLECTIONS = {"campaigns": "name", "defects": "defect_id", "formation_energies": "host_id", "summaries": "summary_id",
               "build_states": "builder"}


def builder_chain(settings: StorageSettings) -> list[Builder]:
    """tasks -> defects -> formation energies -> summaries, on the stores ``settings`` names."""
    tasks = settings.job_store().docs_store
    stores = {name: settings.collection(name, key) for name, key in COLLECTIONS.items()}
    stores["campaigns"].last_updated_field = "submitted_at"
    common = {"build_states": stores["build_states"], "chunk_size": CHUNK_SIZE}
    return [
        DefectBuilder(tasks, stores["campaigns"], stores["defects"], **common),
        FormationEnergyBuilder(tasks, stores["campaigns"], stores["defects"], stores["formation_energies"], **common),
        DefectSummaryBuilder(tasks, stores["formation_energies"], stores["summaries"], **common),
    ]

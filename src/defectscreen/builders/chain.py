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
COLLECTIONS = {"campaigns": "name", "defects": "defect_id", "formation_energies": "host_id", "summaries": "summary_id"}


def builder_chain(settings: StorageSettings) -> list[Builder]:
    """tasks -> defects -> formation energies -> summaries, on the stores ``settings`` names."""
    tasks = settings.job_store().docs_store
    stores = {name: settings.collection(name, key) for name, key in COLLECTIONS.items()}
    return [
        DefectBuilder(tasks, stores["campaigns"], stores["defects"], chunk_size=CHUNK_SIZE),
        FormationEnergyBuilder(tasks, stores["campaigns"], stores["defects"], stores["formation_energies"],
                               chunk_size=CHUNK_SIZE),
        DefectSummaryBuilder(tasks, stores["formation_energies"], stores["summaries"], chunk_size=CHUNK_SIZE),
    ]

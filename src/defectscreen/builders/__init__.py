"""maggma Builders: task documents -> defects (one per defect and charge) -> formation energies per host ->
one summary per defect, and per amorphous host its defects' site ensembles.

Every target document carries the SHA-256 of its inputs' uuids and completion times (``input_fingerprint``):
``get_items`` yields only the groups whose fingerprint changed, so a rerun processes nothing new twice and a
new or recomputed task rebuilds exactly the documents that depend on it.
"""

from defectscreen.builders.chain import builder_chain
from defectscreen.builders.defects import DefectBuilder
from defectscreen.builders.formation import FormationEnergyBuilder
from defectscreen.builders.site_ensembles import SiteEnsembleBuilder
from defectscreen.builders.summary import DefectSummaryBuilder

__all__ = ["DefectBuilder", "DefectSummaryBuilder", "FormationEnergyBuilder", "SiteEnsembleBuilder", "builder_chain"]

"""maggma pipeline: ``mrun builders/pipeline.py`` builds defects, formation energies, summaries, site ensembles and
the report from the JobStore.

Stores come from the same settings as every defectscreen command (DEFECTSCREEN_DATA_DIR or
DEFECTSCREEN_MONGO_URI / the config file), so this runs on the embedded store and on MongoDB alike;
``defectscreen build`` runs the same builders.
"""

from defectscreen.reports.report_builder import report_pipeline
from defectscreen.storage import StorageSettings

__builders__ = report_pipeline(StorageSettings.from_environment())

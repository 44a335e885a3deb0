"""defectscreen: high-throughput point-defect screening on jobflow, FireWorks and maggma."""

import os
from importlib.metadata import version
from pathlib import Path

# FireWorks reads its settings once, when it is first imported (jobflow imports it too), and its rocket binds the
# ping interval then: set here, before any module of this package can import either, or a worker keeps FireWorks'
# defaults (a ping an hour, so every job longer than the lost-run limit is taken for lost and run twice).
os.environ.setdefault("FW_CONFIG_FILE", str(Path(__file__).parent / "storage" / "FW_config.yaml"))

__version__ = version("defectscreen")

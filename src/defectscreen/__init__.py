"""defectscreen: high-throughput point-defect screening on jobflow, FireWorks and maggma."""

from importlib.metadata import version

__version__ = version("defectscreen")

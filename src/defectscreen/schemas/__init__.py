"""Pydantic documents, one per stored collection, with units in field names and provenance."""

from defectscreen.schemas.tasks import CalculationLabels, EngineRecord, TaskDocument

__all__ = ["CalculationLabels", "EngineRecord", "TaskDocument"]

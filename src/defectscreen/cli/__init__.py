"""The ``defectscreen`` command."""

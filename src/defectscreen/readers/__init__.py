"""Readers for files users bring from their own calculations (phonopy, VASP; gzip accepted).

Each reader raises `InputFileError` naming the file, what was expected and how to fix it.
"""

from defectscreen.readers.errors import InputFileError

__all__ = ["InputFileError"]

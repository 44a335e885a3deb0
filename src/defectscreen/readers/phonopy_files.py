"""phonopy FORCE_CONSTANTS (full N×N format), gzipped or not."""

from __future__ import annotations

import gzip
import tempfile
from pathlib import Path

import numpy as np
from phonopy.file_IO import parse_FORCE_CONSTANTS

from defectscreen.readers.errors import InputFileError


def read_force_constants(path: str | Path, n_atoms: int) -> np.ndarray:
    """Φ (n_atoms, n_atoms, 3, 3) in the file's units (eV/Å² for VASP/phonopy)."""
    path = Path(path)
    if not path.is_file():
        raise InputFileError(f"{path}: no such file")
    try:
        if path.suffix == ".gz":
            with gzip.open(path, "rb") as source, tempfile.NamedTemporaryFile(suffix="FORCE_CONSTANTS") as plain:
                plain.write(source.read())
                plain.flush()
                force_constants = parse_FORCE_CONSTANTS(plain.name)
        else:
            force_constants = parse_FORCE_CONSTANTS(path)
    except Exception as error:  # noqa: BLE001 - phonopy raises several types for a malformed file
        raise InputFileError(
            f"{path}: not a phonopy FORCE_CONSTANTS file ({type(error).__name__}: {error})"
        ) from None
    if force_constants.shape != (n_atoms, n_atoms, 3, 3):
        raise InputFileError(
            f"{path}: force constants of shape {force_constants.shape}, but the cell has {n_atoms} atoms; give the "
            "full (not compact) force constants of exactly this supercell (phonopy --full-fc / FULL_FORCE_CONSTANTS)"
        )
    return force_constants

"""phonopy's files: FORCE_CONSTANTS (full N×N format, gzipped or not), and a whole phonopy set (yaml, force sets
or constants, BORN) loaded as a phonopy object."""

from __future__ import annotations

import gzip
import tempfile
from pathlib import Path

import numpy as np
import phonopy
from phonopy import Phonopy
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


def load_phonopy(phonopy_yaml: str | Path, force_sets: str | Path | None = None,
                 force_constants: str | Path | None = None, born: str | Path | None = None) -> Phonopy:
    """A phonopy object with force constants, from phonopy's own files: ``phonopy_yaml`` (phonopy_disp.yaml or
    phonopy.yaml: unit cell, supercell and primitive matrices; its force sets or constants if it holds them), one
    of ``force_sets`` (FORCE_SETS) or ``force_constants`` (FORCE_CONSTANTS, full or compact), and ``born`` (BORN:
    ε∞ and the Born charges of the symmetry-independent atoms), which sets phonopy's dipole–dipole correction."""
    for name, path in (("phonopy yaml", phonopy_yaml), ("FORCE_SETS", force_sets),
                       ("FORCE_CONSTANTS", force_constants), ("BORN", born)):
        if path is not None and not Path(path).is_file():
            raise InputFileError(f"{path}: no such file (the {name})")
    if force_sets is not None and force_constants is not None:
        raise InputFileError("give FORCE_SETS or FORCE_CONSTANTS, not both")
    try:
        phonon = phonopy.load(str(phonopy_yaml), force_sets_filename=force_sets and str(force_sets),
                              force_constants_filename=force_constants and str(force_constants),
                              born_filename=born and str(born), is_nac=born is not None, log_level=0)
    except Exception as error:  # noqa: BLE001 - phonopy raises many types for malformed or mismatched files
        files = ", ".join(str(p) for p in (phonopy_yaml, force_sets, force_constants, born) if p is not None)
        raise InputFileError(f"phonopy could not read {files}: {type(error).__name__}: {error}. Give the "
                             "phonopy_disp.yaml the displacements were made from and the files computed from it") from None
    if phonon.force_constants is None:
        raise InputFileError(f"{phonopy_yaml}: holds no forces or force constants; give --force-sets FORCE_SETS or "
                             "--force-constants FORCE_CONSTANTS computed from its displacements")
    return phonon

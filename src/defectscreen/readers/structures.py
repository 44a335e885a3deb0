"""Crystal structures from POSCAR/CONTCAR, CIF, extxyz or vasprun.xml files, gzipped or not."""

from __future__ import annotations

import warnings
from pathlib import Path

from monty.io import zopen
from pymatgen.core import Structure
from pymatgen.io.vasp import Poscar

from defectscreen.readers.errors import InputFileError


def read_structure(path: str | Path) -> Structure:
    """The structure in `path`; VASP POSCAR/CONTCAR text is recognised whatever the file is called."""
    path = Path(path)
    if not path.is_file():
        raise InputFileError(f"{path}: no such file")
    name = path.name.lower().removesuffix(".gz")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if name.endswith((".cif", ".json", ".xml", ".extxyz", ".xyz", ".cssr")) or "vasprun" in name:
                return Structure.from_file(path)
            with zopen(path, "rt") as handle:
                return Poscar.from_str(handle.read()).structure
    except Exception as error:  # noqa: BLE001 - any parser failure means the wrong kind of file
        raise InputFileError(
            f"{path}: not a structure file ({type(error).__name__}: {error}); give a POSCAR/CONTCAR, CIF or "
            "vasprun.xml"
        ) from None

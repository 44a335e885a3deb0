"""Measured fundamental band gaps of common hosts, to recognise a computed gap that cannot be physics.

Low-temperature optical/fundamental gaps (eV) as compiled in O. Madelung, *Semiconductors: Data Handbook*
(Springer, 3rd ed. 2004) and W. H. Strehlow & E. L. Cook, J. Phys. Chem. Ref. Data 2, 163 (1973), rounded to
0.01–0.1 eV. Where a formula has several common polymorphs the smallest of their gaps is listed (the check is a
lower bound), with the polymorph it belongs to.

Semilocal DFT underestimates gaps, typically to 40–70 % of the measured value (PBE: Si 0.6 of 1.17 eV, GaN 1.7 of
3.5 eV, ZnO 0.7 of 3.4 eV, MgO 4.5 of 7.8 eV). A computed gap below ``FAR_BELOW_FRACTION`` of the measured one is
therefore not an approximation of it but a failure: a wrong structure, a metallic cell, or an engine without a
band gap.
"""

from __future__ import annotations

from pymatgen.core import Composition

#: A computed gap below this fraction of the measured one is flagged.
FAR_BELOW_FRACTION = 0.2

#: reduced formula -> (measured gap in eV, the polymorph it is of)
MEASURED_BAND_GAPS_EV: dict[str, tuple[float, str]] = {
    "C": (5.48, "diamond"),
    "Si": (1.17, "diamond"),
    "Ge": (0.74, "diamond"),
    "SiC": (2.39, "3C; hexagonal polytypes 3.0-3.3"),
    "BN": (6.0, "hexagonal; cubic 6.4"),
    "AlN": (6.2, "wurtzite"),
    "GaN": (3.50, "wurtzite"),
    "InN": (0.7, "wurtzite"),
    "AlP": (2.5, "zinc blende"),
    "AlAs": (2.23, "zinc blende"),
    "GaP": (2.35, "zinc blende"),
    "GaAs": (1.52, "zinc blende"),
    "InP": (1.42, "zinc blende"),
    "InAs": (0.42, "zinc blende"),
    "ZnO": (3.44, "wurtzite"),
    "ZnS": (3.7, "zinc blende"),
    "ZnSe": (2.82, "zinc blende"),
    "ZnTe": (2.39, "zinc blende"),
    "CdS": (2.5, "wurtzite"),
    "CdSe": (1.84, "wurtzite"),
    "CdTe": (1.61, "zinc blende"),
    "MgO": (7.8, "rocksalt"),
    "CaO": (7.0, "rocksalt"),
    "LiF": (14.2, "rocksalt"),
    "NaCl": (8.5, "rocksalt"),
    "KCl": (8.5, "rocksalt"),
    "CaF2": (12.0, "fluorite"),
    "Al2O3": (8.8, "corundum"),
    "SiO2": (8.9, "alpha-quartz"),
    "TiO2": (3.03, "rutile; anatase 3.2"),
    "SnO2": (3.6, "rutile"),
    "Ga2O3": (4.8, "beta"),
    "HfO2": (5.7, "monoclinic"),
    "SrTiO3": (3.25, "perovskite"),
    "Cu2O": (2.17, "cuprite"),
}


def measured_band_gap(formula: str) -> tuple[float, str] | None:
    """(measured gap in eV, polymorph) of the compound ``formula`` (any formula unit), or None if not tabulated."""
    return MEASURED_BAND_GAPS_EV.get(Composition(formula).reduced_formula)

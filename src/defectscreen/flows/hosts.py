"""Built-in host prototypes at room-temperature experimental lattice constants."""

from __future__ import annotations

from pymatgen.core import Lattice, Structure

# name -> (space group, lattice, species, fractional coordinates); room-temperature experiment.
_PROTOTYPES = {
    "wurtzite-GaN": ("P6_3mc", Lattice.hexagonal(3.189, 5.185), ["Ga", "N"],
                     [[1 / 3, 2 / 3, 0.0], [1 / 3, 2 / 3, 0.377]]),
    "wurtzite-ZnO": ("P6_3mc", Lattice.hexagonal(3.250, 5.207), ["Zn", "O"],
                     [[1 / 3, 2 / 3, 0.0], [1 / 3, 2 / 3, 0.382]]),
    "rocksalt-MgO": ("Fm-3m", Lattice.cubic(4.212), ["Mg", "O"], [[0, 0, 0], [0.5, 0.5, 0.5]]),
    "zincblende-CdTe": ("F-43m", Lattice.cubic(6.481), ["Cd", "Te"], [[0, 0, 0], [0.25, 0.25, 0.25]]),
    "zincblende-ZnSe": ("F-43m", Lattice.cubic(5.668), ["Zn", "Se"], [[0, 0, 0], [0.25, 0.25, 0.25]]),
    "zincblende-ZnS": ("F-43m", Lattice.cubic(5.409), ["Zn", "S"], [[0, 0, 0], [0.25, 0.25, 0.25]]),
    "diamond-Si": ("Fd-3m", Lattice.cubic(5.431), ["Si"], [[0, 0, 0]]),
    "diamond-C": ("Fd-3m", Lattice.cubic(3.567), ["C"], [[0, 0, 0]]),
    # ideal β-cristobalite (straight Si–O–Si bridges; measured a = 7.16 Å above its 270 °C transition): the crystal
    # amorphous SiO2 hosts are generated from
    "cristobalite-SiO2": ("Fd-3m", Lattice.cubic(7.16), ["Si", "O"], [[0, 0, 0], [0.125, 0.125, 0.125]]),
    # anti-bixbyite: N on 8b and 24d, Mg tetrahedral on 48e (Mg–N 2.09–2.18 Å, density 2.71 g/cm³)
    "antibixbyite-Mg3N2": ("Ia-3", Lattice.cubic(9.9657), ["Mg", "N", "N"],
                           [[0.3890, 0.1520, 0.3823], [0.25, 0.25, 0.25], [0.9696, 0.0, 0.25]]),
}

PROTOTYPE_NAMES = tuple(_PROTOTYPES)


def prototype_structure(name: str) -> Structure:
    """Primitive cell of a built-in prototype (see PROTOTYPE_NAMES)."""
    spacegroup, lattice, species, coords = _PROTOTYPES[name]
    return Structure.from_spacegroup(spacegroup, lattice, species, coords).get_primitive_structure()


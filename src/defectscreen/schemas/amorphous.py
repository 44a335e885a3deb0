"""The amorphous-host document: one generated glass structure, how it was made and how it compares with experiment."""

from __future__ import annotations

from pydantic import BaseModel, Field
from pymatgen.core import Structure


class GlassStructureMetrics(BaseModel):
    """What says whether a structure is the glass (A the four-fold former, X the bridge: Si and O in a-SiO2)."""

    density_g_cm3: float
    first_shell_angstrom: dict[str, float] = Field(
        description="'A-X', 'X-X', 'A-A' -> mean distance of the first shell (centre of g(r)'s first peak)")
    angles_degrees: dict[str, list[float]] = Field(description="'X-A-X', 'A-X-A' -> [mean, standard deviation]")
    coordination_defects: dict[str, int] = Field(
        description="atoms of unexpected coordination by distance (< 2.0 Å), e.g. {'Si3': 1, 'O1': 1}; {} when none")


class AmorphousHostDocument(BaseModel):
    """A glass generated from a crystal by bond-switching Monte Carlo (seed 004), its validation against experiment
    and the flags a reader must see before using it as a host."""

    formula: str
    n_atoms: int
    structure: Structure
    crystal_formula: str = Field(description="the crystal it was generated from")
    method: str = Field("bond_switching_monte_carlo", description="Wooten–Winer–Weaire switches on a Keating network "
                        "(defectscreen.physics.bond_switching)")
    seed: int
    melting_moves: int
    quenching_moves: int
    melt_temperature_K: float
    final_temperature_K: float
    keating_parameters: dict[str, float]
    accepted_melting_moves: int
    accepted_quenching_moves: int
    network_energy_eV_per_atom: float = Field(description="Keating energy of the final network (0 for ideal bonds "
                                              "and angles)")
    metrics: GlassStructureMetrics
    crystal_bridges_kept_fraction: float = Field(description="the crystal's A–A bridges (A pairs sharing an X) still "
                                                 "bridged in the glass: ~0 for a melted network, 1 for the crystal")
    measured: dict[str, float] = Field(description="experiment the metrics are compared with")
    flags: list[str] = Field(description="what in this structure is not the glass; empty when it is")
    wall_time_s: float
    defectscreen_version: str

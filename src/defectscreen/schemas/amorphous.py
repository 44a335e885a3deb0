"""The amorphous-host document: one generated glass structure, how it was made and how it compares with experiment."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field
from pymatgen.core import Structure

#: joins an amorphous host's name and the seed of one of its structures into that structure's host name: 'a-SiO2#1'
GLASS_SEED_SEPARATOR = "#"
#: joins a defect's name and the glass site it takes into the site defect's name: 'v_O@17'
GLASS_SITE_SEPARATOR = "@"


def glass_host_name(host: str, seed: int) -> str:
    """The host name of the structure generated with ``seed`` for the campaign's amorphous host ``host``."""
    return f"{host}{GLASS_SEED_SEPARATOR}{seed}"


def ensemble_name(name: str) -> str:
    """What a glass host or a glass-site defect is one member of: the campaign's amorphous host ('a-SiO2#1' ->
    'a-SiO2') or the defect ('v_O@17' -> 'v_O'); any other name is its own. (Host names hold no '@' and defect names
    no '#', so one function serves both.)"""
    return name.split(GLASS_SEED_SEPARATOR)[0].split(GLASS_SITE_SEPARATOR)[0]


def glass_site_id(glass: str, site_defect: str) -> str:
    """The id of one site of a site ensemble: glass structure 'a-SiO2#1', site defect 'v_O@17' -> 'a-SiO2#1:v_O@17'."""
    return f"{glass}:{site_defect}"


def glass_of_site(site: str) -> str:
    """The glass structure of a site id (``glass_site_id``): 'a-SiO2#1:v_O@17' -> 'a-SiO2#1'."""
    return site.split(":")[0]


class GlassStructureMetrics(BaseModel):
    """What says whether a structure is the glass (A the four-fold former, X the bridge: Si and O in a-SiO2)."""

    density_g_cm3: float
    first_shell_angstrom: dict[str, float] = Field(
        description="'A-X', 'X-X', 'A-A' -> mean distance of the first shell (centre of g(r)'s first peak)")
    angles_degrees: dict[str, list[float]] = Field(description="'X-A-X', 'A-X-A' -> [mean, standard deviation]")
    coordination_defects: dict[str, int] = Field(
        description="atoms of unexpected coordination by distance (< 2.0 Å), e.g. {'Si3': 1, 'O1': 1}; {} when none")


class AmorphousHostDocument(BaseModel):
    """A glass generated from a crystal (bond-switching Monte Carlo as seed 004, or melt–quench MD), its validation
    against experiment and the flags a reader must see before using it as a host."""

    host: str | None = Field(None, description="host name of this structure in its campaign ('a-SiO2#1'); None when "
                             "generated outside one (defectscreen amorphous)")
    campaign: str | None = None
    generation_sha256: str | None = Field(None, description="hash of the crystal and the generation settings it was "
                                          "made from (a campaign reuses the structure while they are unchanged)")
    formula: str
    n_atoms: int
    structure: Structure
    crystal_formula: str = Field(description="the crystal it was generated from")
    supercell: Literal["compact", "diagonal"] = Field(
        "diagonal", description="how its cell was cut from the crystal (analysis.amorphous.crystal_at_density): "
        "'compact', the widest of the diagonal and the near-cubic primitive supercells; 'diagonal', multiples of the "
        "crystal's cell (documents made before this was recorded)")
    method: str = Field("bond_switching_monte_carlo", description="'bond_switching_monte_carlo': Wooten–Winer–Weaire "
                        "switches on a Keating network (defectscreen.physics.bond_switching); 'melt_quench_md': "
                        "Langevin melt–quench with a universal potential (defectscreen.mlip.melt_quench)")
    seed: int
    melt_temperature_K: float
    final_temperature_K: float
    melting_moves: int | None = Field(None, description="bond switching: Metropolis switches at the melt temperature")
    quenching_moves: int | None = None
    keating_parameters: dict[str, float] | None = None
    accepted_melting_moves: int | None = None
    accepted_quenching_moves: int | None = None
    network_energy_eV_per_atom: float | None = Field(None, description="bond switching: Keating energy of the final "
                                                     "network (0 for ideal bonds and angles)")
    melt_quench: dict | None = Field(None, description="melt–quench: the protocol (MeltQuenchSettings)")
    potential: dict | None = Field(None, description="melt–quench: the universal potential and its code versions")
    potential_energy_eV_per_atom: float | None = Field(None, description="melt–quench: the potential's energy of the "
                                                       "relaxed glass")
    melt_temperature_mean_K: float | None = Field(None, description="melt–quench: kinetic temperature over the second "
                                                  "half of the melt (the thermostat's check)")
    metrics: GlassStructureMetrics
    crystal_bridges_kept_fraction: float = Field(description="the crystal's A–A bridges (A pairs sharing an X) still "
                                                 "bridged in the glass: ~0 for a melted network, 1 for the crystal")
    measured: dict[str, float] = Field(description="experiment the metrics are compared with")
    flags: list[str] = Field(description="what in this structure is not the glass; empty when it is")
    wall_time_s: float
    defectscreen_version: str


class GlassSites(BaseModel):
    """One glass's sites of a site ensemble."""

    glass: str = Field(description="'a-SiO2#1'")
    sites: int
    mean_eV: float
    standard_deviation_eV: float = Field(description="over its sites (0 for one site)")


class SiteEnsembleSummary(BaseModel):
    """One defect over the sites of an amorphous host's glasses: the distribution of its formation energy in one
    charge state, its lowest sites, and how it follows a local descriptor (``defectscreen sites``)."""

    host: str = Field(description="the campaign's amorphous host ('a-SiO2'), over all its glasses")
    defect: str = Field(description="the defect without its site ('v_O')")
    charge: int
    limit: str = Field(description="chemical-potential limit")
    fermi_level_eV: float = Field(description="above the VBM of each glass")
    sites: list[str] = Field(description="'a-SiO2#1:v_O@17', in the order of the values")
    formation_energy_eV: list[float]
    mean_eV: float
    standard_deviation_eV: float
    lowest_sites: list[str] = Field(description="up to five sites, lowest formation energy first")
    histogram_counts: list[int]
    histogram_edges_eV: list[float]
    descriptor: str | None = Field(description="e.g. 'Si–Si distance across the vacancy after relaxation (Å)'")
    descriptor_values: list[float] | None
    pearson_r: float | None = Field(description="correlation of formation energy and descriptor (None: fewer than "
                                    "three sites or no descriptor)")
    flags: list[str] = Field(default_factory=list, description="why these formation energies are not physics, from "
                             "the sites' formation-energy documents (each once); empty when they are")
    per_glass: list[GlassSites] = Field(default_factory=list, description="the same glass by glass: whether the "
                                        "spread is from site to site or from glass to glass")


class SiteEnsembleDocument(SiteEnsembleSummary):
    """A site ensemble as the builders store it (collection ``site_ensembles``): at E_F = the VBM of each glass, one
    per amorphous host, defect, charge state and chemical-potential limit, over the sites of the current campaign
    versions."""

    site_ensemble_id: str = Field(description="'a-SiO2:v_O:0|O-rich'")
    campaign_sha256: list[str] = Field(description="the campaign versions whose sites it holds")
    defect_formation_ids: list[str] = Field(description="the sites' DefectFormationDocuments")
    input_fingerprint: str
    defectscreen_version: str

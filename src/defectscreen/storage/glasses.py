"""The glass structures of a campaign's amorphous hosts: generated once, stored, reused by every later submission.

A glass is made when its campaign is submitted (its defect cells are cut from it, so they exist only once it
does), stored at once in the ``amorphous_hosts`` collection with its validation, and read back by the next
submission while its crystal and settings are unchanged: a submission killed halfway keeps the glasses it made.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path

from maggma.core import Store
from monty.json import jsanitize
from pymatgen.core import Structure
from pymatgen.symmetry.analyzer import SpacegroupAnalyzer

from defectscreen.analysis.amorphous import (
    NETWORK_FORMERS,
    bond_switching_glass,
    listed_coordination_defects,
    melt_quench_glass,
)
from defectscreen.flows.campaign import AmorphousSpec, Campaign, CampaignError, HostSpec
from defectscreen.schemas import AmorphousHostDocument


def glass_id(campaign: str, host: str) -> str:
    """Key of a glass in ``amorphous_hosts``: 'campaign:a-SiO2#1'."""
    return f"{campaign}:{host}"


def generation_sha256(crystal: Structure, settings: AmorphousSpec, seed: int) -> str:
    """Hash of what a glass is made from: the crystal's species and coordinates, the settings, the seed. A diagonal
    supercell leaves ``supercell`` out: it was the only cut before the setting existed, and its glasses keep their
    hash."""
    unused = ({"seeds"} | ({"melt_quench"} if settings.method == "bond_switching" else set())
              | ({"supercell"} if settings.supercell == "diagonal" else set()))
    recipe = {"lattice": crystal.lattice.matrix.round(8).tolist(), "species": [s.symbol for s in crystal.species],
              "frac_coords": crystal.frac_coords.round(8).tolist(), "seed": seed,
              "settings": settings.model_dump(mode="json", exclude=unused)}
    return hashlib.sha256(json.dumps(recipe, sort_keys=True).encode()).hexdigest()


def _crystal(host: HostSpec, base_dir: Path) -> Structure:
    crystal = host.load(base_dir)
    crystal.remove_oxidation_states()
    formula = crystal.composition.reduced_formula
    if formula not in NETWORK_FORMERS:
        raise CampaignError(f"hosts[{host.name}].amorphous: the generators make {', '.join(NETWORK_FORMERS)} glasses "
                            f"and the crystal is {formula}; give an SiO2 crystal (prototype: cristobalite-SiO2)")
    conventional = SpacegroupAnalyzer(crystal).get_conventional_standard_structure()
    cut = conventional if host.amorphous.supercell == "diagonal" else conventional.get_primitive_structure()
    if host.amorphous.atoms % len(cut):
        raise CampaignError(f"hosts[{host.name}].amorphous.atoms: {host.amorphous.atoms} is not a multiple of the "
                            f"{len(cut)} atoms of {formula}'s {'conventional' if cut is conventional else 'primitive'} "
                            f"cell (e.g. {4 * len(conventional)})")
    return conventional


def _generate(crystal: Structure, settings: AmorphousSpec, seed: int, name: str,
              announce: Callable[[str], None]) -> AmorphousHostDocument:
    """One glass by the settings' method (``announce`` is told first: it takes minutes)."""
    if settings.method == "melt_quench":
        protocol = settings.melt_quench
        announce(f"generating glass {name}: melt–quench MD with {protocol.potential}, {settings.atoms} atoms, "
                 f"{protocol.melt_ps} ps at {protocol.melt_temperature_K:g} K + {protocol.quench_ps} ps quench")
        return melt_quench_glass(crystal, settings.atoms, settings.density_g_cm3, seed, protocol,
                                 settings.final_temperature_K, settings.supercell)
    announce(f"generating glass {name}: bond-switching Monte Carlo, {settings.atoms} atoms, "
             f"{settings.melting_moves} + {settings.quenching_moves} moves")
    return bond_switching_glass(crystal, settings.atoms, settings.density_g_cm3, seed, settings.melting_moves,
                                settings.quenching_moves, settings.melt_temperature_K, settings.final_temperature_K,
                                supercell=settings.supercell)


def glass_structures(campaign: Campaign, base_dir: Path, store: Store,
                     announce: Callable[[str], None] = lambda line: None) -> dict[str, Structure]:
    """Host name ('a-SiO2#1') -> glass structure of every amorphous host of ``campaign``, generated and stored where
    not in ``store`` yet (``announce`` is told before each generation, which takes minutes, and each glass's flags).

    A glass stored under the same name with another crystal or settings, and a glass with coordination defects, are
    a :class:`CampaignError` (cells cut from them would mix with the new ones, or its defects with the screened)."""
    glasses: dict[str, Structure] = {}
    store.connect()
    for host in campaign.hosts:
        if host.amorphous is None:
            continue
        crystal, settings = _crystal(host, base_dir), host.amorphous
        for seed, name in zip(settings.seeds, host.cell_hosts):
            key, sha = glass_id(campaign.name, name), generation_sha256(crystal, settings, seed)
            stored = store.query_one({"glass_id": key})
            if stored is not None and stored["generation_sha256"] != sha:
                raise CampaignError(f"hosts[{host.name}]: {name} was generated before from another crystal or other "
                                    "amorphous settings, and its cells were computed from it: name the host anew "
                                    f"(e.g. '{host.name}-2') to generate new glasses beside the old")
            if stored is None:
                document = _generate(crystal, settings, seed, name, announce)
                stored = jsanitize(document.model_copy(update={"host": name, "campaign": campaign.name,
                                                               "generation_sha256": sha}).model_dump(), strict=True)
                store.update([stored | {"glass_id": key}], key="glass_id")
            document = AmorphousHostDocument.model_validate(stored)
            if document.metrics.coordination_defects:
                listed = listed_coordination_defects(document.metrics.coordination_defects)
                slower = ("amorphous.melt_quench.quench_ps" if settings.method == "melt_quench"
                          else "amorphous.quenching_moves")
                raise CampaignError(f"hosts[{host.name}]: glass {name} has coordination defects ({listed}), which "
                                    f"would mix with the defects screened: leave out seed {seed} (or quench more "
                                    f"slowly: lengthen {slower})")
            for flag in document.flags:
                announce(f"glass {name}, not the glass: {flag}")
            glasses[name] = document.structure
    return glasses

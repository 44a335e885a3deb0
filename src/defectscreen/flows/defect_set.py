"""Defect sets across hosts with pymatgen-analysis-defects: sites, supercells, charge states, ids.

Every (defect, charge) and each host's bulk supercell becomes a :class:`Calculation` with a
stable, human-readable id (``GaN:C_N:-1``, ``GaN:bulk``) so that submitting the same campaign
twice adds nothing twice.
"""

from __future__ import annotations

import hashlib
import logging
import warnings
from collections import Counter
from collections.abc import Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from pymatgen.analysis.defects.core import Defect, Interstitial, Substitution, Vacancy
from pymatgen.analysis.defects.generators import (
    AntiSiteGenerator,
    SubstitutionGenerator,
    VacancyGenerator,
    VoronoiInterstitialGenerator,
)
from pymatgen.analysis.defects.supercells import get_sc_fromstruct
from pymatgen.core import PeriodicSite, Structure

from defectscreen.analysis.amorphous import defect_cell_in_glass
from defectscreen.engines import spin_multiplicity
from defectscreen.flows.campaign import MAX_SUPERCELL_ATOMS, Campaign, CampaignError, DefectKinds, SupercellRule
from defectscreen.schemas import CalculationLabels
from defectscreen.schemas.amorphous import GLASS_SITE_SEPARATOR

CHARGE_PADDING_LIMIT = 2


@dataclass(frozen=True)
class Calculation:
    """One cell to compute: its labels (ids, charge, spin) and its starting structure."""

    labels: CalculationLabels
    structure: Structure

    def cell_sha256(self) -> str:
        """SHA-256 of the starting cell (lattice, species, Cartesian positions rounded to 1e-4 Å): the structure its
        id stands for on a LaunchPad."""
        lattice = np.round(self.structure.lattice.matrix, 4) + 0.0
        positions = np.round(self.structure.cart_coords, 4) + 0.0
        species = ",".join(str(s) for s in self.structure.species)
        return hashlib.sha256(lattice.tobytes() + positions.tobytes() + species.encode()).hexdigest()


def charge_label(charge: int) -> str:
    """'0', '+1', '-2': the charge as written in ids."""
    return f"{charge:+d}" if charge else "0"


@contextmanager
def _quiet_logger(name: str):
    """Only errors from logger ``name`` while the block runs."""
    logger = logging.getLogger(name)
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def supercell_matrix(host: str, structure: Structure, rule: SupercellRule) -> np.ndarray:
    """The supercell matrix the rule gives for this host (shared by its bulk and defect cells)."""
    if rule.matrix is not None:
        n_atoms = len(structure) * round(abs(np.linalg.det(rule.matrix)))
        if n_atoms > MAX_SUPERCELL_ATOMS:
            raise CampaignError(f"supercell.matrix: {n_atoms} atoms in host {host}'s supercell, more than "
                                f"{MAX_SUPERCELL_ATOMS}; use a smaller matrix")
        return np.array(rule.matrix)
    try:
        # the cell-shape search logs each size it tries as a warning and warns of its own deprecations
        with _quiet_logger("pymatgen.analysis.defects.supercells"), warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            matrix = get_sc_fromstruct(
                structure,
                min_atoms=rule.min_atoms,
                max_atoms=rule.max_atoms,
                min_length=rule.min_length_angstrom,
            )
    except RuntimeError:  # pymatgen-analysis-defects: "Could not find a cubic supercell"
        matrix = None
    if matrix is None:
        raise CampaignError(
            f"supercell: no supercell of host {host} ({len(structure)} atoms per cell) has "
            f"images >= {rule.min_length_angstrom} Å apart with {rule.min_atoms}-"
            f"{rule.max_atoms} atoms; raise supercell.max_atoms or lower "
            "supercell.min_length_angstrom"
        )
    return np.array(matrix)


def _defect_type(defect: Defect) -> str:
    if isinstance(defect, Vacancy):
        return "vacancy"
    if isinstance(defect, Interstitial):
        return "interstitial"
    host_elements = {element.symbol for element in defect.structure.composition}
    if isinstance(defect, Substitution) and defect.site.specie.symbol in host_elements:
        return "antisite"
    return "substitution"


def generate_defects(structure: Structure, kinds: DefectKinds) -> list[Defect]:
    """Symmetry-distinct defects of one host, in generator order (deterministic)."""
    elements = {element.symbol for element in structure.composition}
    defects: list[Defect] = []
    if kinds.vacancies:
        removed = elements if kinds.vacancies is True else set(kinds.vacancies) & elements
        defects += VacancyGenerator().get_defects(structure, rm_species=sorted(removed))
    substitutions = {el: dopants for el, dopants in kinds.substitutions.items() if el in elements}
    if substitutions:
        defects += SubstitutionGenerator().get_defects(structure, substitution=substitutions)
    if kinds.antisites and len(elements) > 1:
        defects += AntiSiteGenerator().get_defects(structure)
    if kinds.interstitials:
        defects += VoronoiInterstitialGenerator().get_defects(
            structure, insert_species=kinds.interstitials
        )
    return defects


def glass_site_defects(glass: Structure, kinds: DefectKinds) -> list[tuple[str, Defect, int]]:
    """(name, defect, site index) of every vacancy and substitution ``kinds`` asks for at the sites of a glass
    (each its own defect, named for its site: 'v_O@17', 'C_Si@3'; indices of the glass cell, from 0)."""
    by_element: dict[str, list[int]] = {}
    for index, site in enumerate(glass):
        by_element.setdefault(site.specie.symbol, []).append(index)
    if kinds.sites != "all":
        rng = np.random.default_rng(kinds.sites.seed)
        by_element = {element: sorted(int(i) for i in rng.choice(indices, min(kinds.sites.sample, len(indices)),
                                                                  replace=False))
                      for element, indices in sorted(by_element.items())}
    removed = set(by_element) if kinds.vacancies is True else set(kinds.vacancies or ()) & set(by_element)
    host = glass.copy()  # pymatgen-analysis-defects decorates its structure with oxidation states
    defects = [(Vacancy(host, host[index]), index) for element in sorted(removed) for index in by_element[element]]
    for element, dopants in kinds.substitutions.items():
        for dopant in dopants:
            defects += [(Substitution(host, PeriodicSite(dopant, host[index].frac_coords, host.lattice)), index)
                        for index in by_element.get(element, [])]
    return [(f"{defect.name}{GLASS_SITE_SEPARATOR}{index}", defect, index) for defect, index in defects]


def defect_names(defects: list[Defect]) -> list[str]:
    """pymatgen-analysis-defects names, numbered ('v_O_1', 'v_O_2') where sites share a name."""
    counts = Counter(defect.name for defect in defects)
    seen: Counter = Counter()
    names = []
    for defect in defects:
        seen[defect.name] += 1
        names.append(defect.name if counts[defect.name] == 1 else f"{defect.name}_{seen[defect.name]}")
    return names


def charge_states(campaign: Campaign, host: str, name: str, defect: Defect) -> list[int]:
    """Charges asked for (by name, else 'default', else automatic), checked against the
    oxidation-state rule widened to a padding of CHARGE_PADDING_LIMIT."""
    if campaign.charges == "auto":
        return defect.get_charge_states()
    for key in (name, defect.name, "default"):
        if key in campaign.charges:
            charges = campaign.charges[key]
            break
    else:
        return defect.get_charge_states()
    allowed = defect.get_charge_states(padding=CHARGE_PADDING_LIMIT)
    for charge in charges:
        if not min(allowed) <= charge <= max(allowed):
            raise CampaignError(
                f"charges.{key}: charge {charge} cannot exist for {name} in {host} "
                f"(oxidation state {defect.oxi_state:+g}: possible {min(allowed)} to "
                f"{max(allowed)}); choose charges in that range"
            )
    return sorted(set(charges))


def defect_position(bulk: Structure, cell: Structure, tolerance_angstrom: float = 0.1) -> np.ndarray:
    """Fractional coordinates, in ``cell``, of its one point defect against the unrelaxed ``bulk`` supercell on the
    same lattice: the bulk site with no atom in ``cell`` (vacancy), the site whose species changed (substitution), or
    the atom with no bulk site (interstitial). (pymatgen-analysis-defects 2026.10.24's ``get_supercell_structure(...,
    return_site=True)`` translates the cell by whole unit cells where a column of the supercell matrix sums to less
    than zero, e.g. [[-2, -2, 2], [-2, 2, -2], [2, -2, -2]], but adds that translation to the site in the supercell's
    fractional coordinates: the site then lies on another atom of the removed kind.)"""
    distances = bulk.lattice.get_all_distances(bulk.frac_coords, cell.frac_coords)
    nearest_in_cell, nearest_in_bulk = distances.argmin(axis=1), distances.argmin(axis=0)
    vacant = [bulk[i].frac_coords for i in range(len(bulk)) if distances[i, nearest_in_cell[i]] > tolerance_angstrom]
    changed = [cell[j].frac_coords for j in range(len(cell))
               if distances[nearest_in_bulk[j], j] > tolerance_angstrom
               or cell[j].species != bulk[nearest_in_bulk[j]].species]
    found = vacant + changed
    if len(found) != 1:
        raise ValueError(f"expected one point defect between the bulk and the defect cell, found {len(found)} "
                         f"differing sites ({len(vacant)} vacant, {len(changed)} added or changed)")
    return np.asarray(found[0])


def build_defect_set(campaign: Campaign, base_dir: Path,
                     glasses: Mapping[str, Structure] | None = None) -> list[Calculation]:
    """Every calculation the campaign asks for, bulk supercell first within each host; names in the campaign's
    maps that match nothing (a host element, a defect) are a :class:`CampaignError`, not silently ignored.

    ``glasses``: the generated structure of each glass host ('a-SiO2#1'), for campaigns with amorphous hosts."""
    glasses = glasses or {}
    unknown_hosts = set(campaign.defects.substitutions)
    unknown_vacancies = set(campaign.defects.vacancies) if isinstance(campaign.defects.vacancies, list) else set()
    charge_keys = set(campaign.charges) - {"default"} if isinstance(campaign.charges, dict) else set()
    generated: set[str] = set()
    calculations: list[Calculation] = []
    for host_spec in campaign.hosts:
        structure = host_spec.load(base_dir)
        structure.remove_oxidation_states()
        elements = {element.symbol for element in structure.composition}
        unknown_hosts -= elements
        unknown_vacancies -= elements
        if host_spec.amorphous is not None:
            for host in host_spec.cell_hosts:
                site_defects = glass_site_defects(glasses[host], campaign.defects)
                generated |= {label for name, defect, _ in site_defects for label in (name, defect.name)}
                calculations += _glass_calculations(campaign, host, glasses[host], site_defects)
            continue
        matrix = supercell_matrix(host_spec.name, structure, campaign.supercell)
        bulk = structure.copy().make_supercell(matrix)
        calculations.append(_bulk_calculation(campaign, host_spec.name, bulk))
        defects = generate_defects(structure, campaign.defects)
        for name, defect in zip(defect_names(defects), defects):
            generated |= {name, defect.name}
            cell = defect.get_supercell_structure(sc_mat=matrix)
            cell.remove_oxidation_states()
            site = defect_position(bulk, cell)
            for charge in charge_states(campaign, host_spec.name, name, defect):
                labels = _defect_labels(campaign, host_spec.name, name, defect, cell, charge, site,
                                        int(defect.multiplicity * round(abs(np.linalg.det(matrix)))))
                calculations.append(Calculation(labels=labels, structure=cell))
    if unknown_hosts:
        raise CampaignError(
            f"defects.substitutions: host element(s) {', '.join(sorted(unknown_hosts))} occur "
            "in no host; substitute an element the hosts contain"
        )
    if unknown_vacancies:
        raise CampaignError(f"defects.vacancies: element(s) {', '.join(sorted(unknown_vacancies))} occur in no host; "
                            "list elements the hosts contain, or write vacancies: true for every element")
    if charge_keys - generated:
        raise CampaignError(
            f"charges: {', '.join(sorted(charge_keys - generated))} names no defect of this campaign; its defects "
            f"are {', '.join(sorted(generated)) or 'none'} (or use 'default' for every defect)")
    return calculations


def _defect_labels(campaign: Campaign, host: str, name: str, defect: Defect, cell: Structure, charge: int,
                   site_frac_coords: np.ndarray, equivalent_sites: int, glass_site: int | None = None,
                   ) -> CalculationLabels:
    changes = {el.symbol: int(n) for el, n in defect.element_changes.items()}
    return CalculationLabels(
        calculation_id=f"{host}:{name}:{charge_label(charge)}", campaign=campaign.name, host=host, defect_name=name,
        defect_type=_defect_type(defect), defect_elements=sorted(changes), element_changes=changes, charge=charge,
        spin_multiplicity=spin_multiplicity(cell.atomic_numbers, charge),
        defect_site_frac_coords=site_frac_coords.tolist(), equivalent_sites=equivalent_sites, glass_site=glass_site)


def _glass_calculations(campaign: Campaign, host: str, glass: Structure,
                        site_defects: list[tuple[str, Defect, int]]) -> list[Calculation]:
    """The bulk cell of one glass structure (the glass cell itself) and a cell per (site defect, charge), each site
    counted once."""
    calculations = [_bulk_calculation(campaign, host, glass)]
    for name, defect, index in site_defects:
        dopant = None if isinstance(defect, Vacancy) else defect.site.specie.symbol
        cell = defect_cell_in_glass(glass, index, dopant)
        for charge in charge_states(campaign, host, name, defect):
            labels = _defect_labels(campaign, host, name, defect, cell, charge, glass[index].frac_coords, 1, index)
            calculations.append(Calculation(labels=labels, structure=cell))
    return calculations


def _bulk_calculation(campaign: Campaign, host: str, bulk: Structure) -> Calculation:
    labels = CalculationLabels(
        calculation_id=f"{host}:bulk",
        campaign=campaign.name,
        host=host,
        defect_name="bulk",
        defect_type="bulk",
        defect_elements=[],
        element_changes={},
        charge=0,
        spin_multiplicity=spin_multiplicity(bulk.atomic_numbers, 0),
    )
    return Calculation(labels=labels, structure=bulk)

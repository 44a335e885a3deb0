"""Defect sets: symmetry-distinct sites, shared supercells, charge rules, stable ids, spin."""

from __future__ import annotations

from pathlib import Path

from defectscreen.engines import spin_multiplicity
from defectscreen.flows.campaign import parse_campaign
from defectscreen.flows.defect_set import build_defect_set

CAMPAIGN = {
    "name": "t",
    "hosts": [{"name": "GaN", "prototype": "wurtzite-GaN"}, {"name": "ZnO", "prototype": "wurtzite-ZnO"}],
    "defects": {"vacancies": True, "substitutions": {"N": ["C"], "Zn": ["Ga", "Al"]}, "antisites": True},
    "charges": {"default": [0, -1], "v_N": [0, 1, 3]},
    "supercell": {"matrix": [[2, 0, 0], [0, 2, 0], [0, 0, 2]]},
}


def test_ids_sites_and_cells() -> None:
    calculations = build_defect_set(parse_campaign(CAMPAIGN), Path("."))
    by_id = {c.labels.calculation_id: c for c in calculations}
    assert len(by_id) == len(calculations), "ids are unique"
    assert {"GaN:bulk", "GaN:v_Ga:-1", "GaN:v_N:+3", "GaN:C_N:0", "GaN:Ga_N:-1", "GaN:N_Ga:0",
            "ZnO:Ga_Zn:0", "ZnO:Al_Zn:-1", "ZnO:v_O:0"} <= set(by_id)
    assert by_id["GaN:Ga_N:0"].labels.defect_type == "antisite"
    assert by_id["ZnO:Al_Zn:0"].labels.defect_type == "substitution"
    bulk = by_id["GaN:bulk"].structure
    assert len(bulk) == 32
    for cid in ("GaN:v_Ga:0", "GaN:C_N:-1", "GaN:Ga_N:0"):
        cell = by_id[cid].structure
        assert abs(cell.volume - bulk.volume) < 1e-6, "defect and bulk share the supercell"
    assert len(by_id["GaN:v_Ga:0"].structure) == 31
    assert by_id["GaN:C_N:0"].structure.composition["C"] == 1
    assert by_id["GaN:C_N:0"].labels.element_changes == {"C": 1, "N": -1}


def test_rebuild_gives_same_ids() -> None:
    first = [c.labels.calculation_id for c in build_defect_set(parse_campaign(CAMPAIGN), Path("."))]
    second = [c.labels.calculation_id for c in build_defect_set(parse_campaign(CAMPAIGN), Path("."))]
    assert first == second


def test_auto_charges_follow_oxidation_states() -> None:
    data = {**CAMPAIGN, "hosts": CAMPAIGN["hosts"][:1], "charges": "auto",
            "defects": {"vacancies": ["Ga"]}}
    charges = [c.labels.charge for c in build_defect_set(parse_campaign(data), Path("."))][1:]
    assert charges == [-4, -3, -2, -1, 0, 1], "Ga3+ removed: -3 and one beyond on either side"


def test_spin_multiplicity_from_electron_parity() -> None:
    assert spin_multiplicity([31, 7], 0) == 1
    assert spin_multiplicity([31, 7, 7], 0) == 2, "odd electron count: doublet"
    assert spin_multiplicity([31, 7, 7], -1) == 1
    calculations = build_defect_set(parse_campaign(CAMPAIGN), Path("."))
    for c in calculations:
        electrons = sum(c.structure.atomic_numbers) - c.labels.charge
        assert c.labels.spin_multiplicity == 1 + electrons % 2


def test_each_defect_site_is_where_its_cell_differs_from_the_bulk() -> None:
    """The site every later step centres on (charge corrections, distortions, fingerprints, embedding) is the vacant
    bulk site, the substituted atom or the added interstitial — for supercell matrices whose columns sum to less than
    zero too, which the atom-count search picks for fcc hosts (pymatgen-analysis-defects' own site lands on another
    atom of the removed kind there), in zincblende, rocksalt and wurtzite."""
    hosts = [{"name": "CdTe", "prototype": "zincblende-CdTe"}, {"name": "MgO", "prototype": "rocksalt-MgO"},
             {"name": "GaN", "prototype": "wurtzite-GaN"}]
    defects = {"vacancies": True, "substitutions": {"Te": ["Se"], "O": ["N"]}, "antisites": True,
               "interstitials": ["H"]}
    for supercell in ({"matrix": [[-2, -2, 2], [-2, 2, -2], [2, -2, -2]]}, {"min_atoms": 64, "max_atoms": 128}):
        campaign = parse_campaign({**CAMPAIGN, "hosts": hosts, "defects": defects, "charges": {"default": [0]},
                                   "supercell": supercell})
        calculations = build_defect_set(campaign, Path("."))
        bulks = {c.labels.host: c.structure for c in calculations if c.labels.defect_type == "bulk"}
        for c in calculations:
            if c.labels.defect_type == "bulk":
                continue
            cell, bulk, site = c.structure, bulks[c.labels.host], c.labels.defect_site_frac_coords
            in_cell = cell.lattice.get_all_distances([site], cell.frac_coords)[0]
            in_bulk = bulk.lattice.get_all_distances([site], bulk.frac_coords)[0]
            if c.labels.defect_type == "vacancy":
                assert in_bulk.min() < 1e-6 and in_cell.min() > 1.5, c.labels.calculation_id
                assert bulk[int(in_bulk.argmin())].specie.symbol == c.labels.defect_elements[0]
            elif c.labels.defect_type == "interstitial":
                assert in_cell.min() < 1e-6 and in_bulk.min() > 1.0, c.labels.calculation_id
                assert cell[int(in_cell.argmin())].specie.symbol == "H"
            else:
                added = next(e for e, n in c.labels.element_changes.items() if n > 0)
                assert in_cell.min() < 1e-6 and cell[int(in_cell.argmin())].specie.symbol == added, \
                    c.labels.calculation_id

"""Bad campaigns stop before submission with one message naming the field and the fix."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from conftest import REPO
from pymatgen.symmetry.analyzer import SpacegroupAnalyzer

from defectscreen.analysis.amorphous import crystal_at_density
from defectscreen.flows.campaign import CampaignError, load_campaign, parse_campaign
from defectscreen.flows.defect_set import build_defect_set
from defectscreen.storage.submission import submit_campaign

BASE = {
    "name": "t",
    "hosts": [{"name": "GaN", "prototype": "wurtzite-GaN"}],
    "supercell": {"matrix": [[2, 0, 0], [0, 2, 0], [0, 0, 1]]},
}


def _error(data: dict, tmp_path: Path = Path(".")) -> str:
    with pytest.raises(CampaignError) as info:
        build_defect_set(parse_campaign(data), tmp_path)
    return str(info.value)


def test_unknown_element_names_field() -> None:
    message = _error({**BASE, "defects": {"substitutions": {"N": ["Xq"]}}})
    assert "defects.substitutions" in message and "'Xq' is not a chemical element" in message


def test_missing_structure_file(tmp_path: Path) -> None:
    data = {**BASE, "hosts": [{"name": "X", "structure": "nowhere/POSCAR"}]}
    message = _error(data, tmp_path)
    assert "hosts[X].structure" in message and "does not exist" in message


def test_negative_and_impossible_supercells() -> None:
    assert "supercell.min_length_angstrom" in _error({**BASE, "supercell": {"min_length_angstrom": -3}})
    message = _error({**BASE, "supercell": {"min_atoms": 100, "max_atoms": 10}})
    assert "min_atoms (100) exceeds max_atoms (10)" in message
    message = _error({**BASE, "supercell": {"min_length_angstrom": 30, "max_atoms": 16}})
    assert "supercell: no supercell of host GaN" in message and "raise supercell.max_atoms" in message


def test_charge_that_cannot_exist() -> None:
    message = _error({**BASE, "defects": {"vacancies": ["Ga"]}, "charges": {"v_Ga": [0, 6]}})
    assert "charges.v_Ga: charge 6 cannot exist for v_Ga in GaN" in message
    assert "possible -5 to 2" in message


def test_unknown_engine_setting_lists_known_ones() -> None:
    message = _error({**BASE, "engine": {"name": "gpaw", "ecut": 520}})
    assert "engine.gpaw.ecut: unknown setting" in message and "ecut_eV" in message
    assert "greater than or equal to 500" in _error({**BASE, "engine": {"name": "gpaw", "ecut_eV": 300}})
    assert "unknown engine; use name: xtb, name: gpaw or name: vasp" in _error({**BASE, "engine": {"name": "castep"}})
    assert "engine.vasp.incar: NSW is set from relax.max_steps" in _error({**BASE, "engine": {"name": "vasp",
                                                                                              "incar": {"NSW": 5}}})


def test_effective_masses_must_be_positive() -> None:
    host = {**BASE["hosts"][0], "effective_mass_hole": -0.5}
    message = _error({**BASE, "hosts": [host]})
    assert "hosts.0.effective_mass_hole" in message and "greater than 0" in message
    masses = {**BASE["hosts"][0], "effective_mass_electron": 0.2, "effective_mass_hole": 1.4}
    assert parse_campaign({**BASE, "hosts": [masses]}).hosts[0].effective_mass_hole == 1.4


def test_substituting_an_element_no_host_has() -> None:
    message = _error({**BASE, "defects": {"substitutions": {"O": ["N"]}}})
    assert "defects.substitutions: host element(s) O occur in no host" in message


def test_bad_campaign_submits_nothing(tmp_path: Path, data_dir: Path) -> None:
    from defectscreen.storage import StorageSettings

    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump({**BASE, "charges": {"default": [0, 9]}}))
    campaign, base_dir = load_campaign(path)
    launchpad = StorageSettings.from_environment().launchpad()
    with pytest.raises(CampaignError):
        submit_campaign(campaign, base_dir, launchpad)
    assert launchpad.fireworks.count_documents({}) == 0


def test_a_cell_id_names_one_structure_across_campaigns(tmp_path: Path, store_mode: str) -> None:
    """A second campaign whose GaN cells differ (another supercell) is refused before anything is added, instead of
    reusing the first campaign's results under the same ids; the same cells under another campaign are reused. On
    the embedded store and on the MongoDB server."""
    from defectscreen.flows.registry import CellConflictError
    from defectscreen.storage import StorageSettings

    launchpad = StorageSettings.from_environment().launchpad()
    small = {**BASE, "defects": {"vacancies": ["Ga"]}, "charges": {"default": [0]}, "properties": ["relaxation"]}
    for name, data in (("small", small), ("larger", {**small, "name": "u", "supercell": {"matrix": [
            [3, 0, 0], [0, 3, 0], [0, 0, 2]]}}), ("same", {**small, "name": "v"})):
        (tmp_path / f"{name}.yaml").write_text(yaml.safe_dump(data))
    assert submit_campaign(*load_campaign(tmp_path / "small.yaml"), launchpad).new_jobs == 2
    with pytest.raises(CellConflictError, match=r"GaN:bulk: .*from campaign 't' for another cell.*e\.g\. GaN-large"):
        submit_campaign(*load_campaign(tmp_path / "larger.yaml"), launchpad)
    assert launchpad.fireworks.count_documents({}) == 2
    report = submit_campaign(*load_campaign(tmp_path / "same.yaml"), launchpad)
    assert (report.new_jobs, report.already_submitted) == (0, 2)


def test_structure_file_host(tmp_path: Path) -> None:
    from defectscreen.flows.hosts import prototype_structure

    prototype_structure("rocksalt-MgO").to(filename=str(tmp_path / "MgO.cif"))
    data = {**BASE, "hosts": [{"name": "MgO", "structure": "MgO.cif"}],
            "supercell": {"matrix": [[2, 0, 0], [0, 2, 0], [0, 0, 2]]}}
    ids = [c.labels.calculation_id for c in build_defect_set(parse_campaign(data), tmp_path)]
    assert ids[0] == "MgO:bulk" and "MgO:v_O:+1" in ids and "MgO:v_Mg:-2" in ids


@pytest.mark.parametrize("path", sorted((REPO / "flows").glob("*.yaml")), ids=lambda p: p.name)
def test_every_example_campaign_is_valid_and_generates_its_cells(path: Path) -> None:
    """Glasses of amorphous hosts stand in as the crystal at the glass's size and density (generating them takes
    minutes; tests/test_amorphous_campaign.py generates one)."""
    campaign, base_dir = load_campaign(path)
    glasses = {name: crystal_at_density(SpacegroupAnalyzer(host.load(base_dir)).get_conventional_standard_structure(),
                                        host.amorphous.atoms, host.amorphous.density_g_cm3, host.amorphous.supercell)
               for host in campaign.hosts if host.amorphous for name in host.cell_hosts}
    calculations = build_defect_set(campaign, base_dir, glasses)
    assert {c.labels.host for c in calculations} == set(campaign.cell_hosts)
    assert sum(c.labels.defect_type == "bulk" for c in calculations) == len(campaign.cell_hosts)

"""Amorphous hosts in a campaign: glasses generated once and stored, one defect per glass site with a stable id, each
defect cell cut from the glass as the engine relaxed it, and the site ensemble read back across the glasses."""

from __future__ import annotations

import html
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from click.testing import CliRunner
from pymatgen.analysis.defects.ccd import get_dQ
from pymatgen.core import Structure

from defectscreen.analysis.amorphous import crystal_at_density
from defectscreen.analysis.site_ensembles import (
    site_ensemble,
    site_ensemble_at_fermi_level,
    site_ensemble_of_states,
    vacancy_neighbour_distance_angstrom,
)
from defectscreen.builders.chain import COLLECTIONS
from defectscreen.cli.main import cli
from defectscreen.flows.campaign import CampaignError, load_campaign, parse_campaign
from defectscreen.flows.defect_set import build_defect_set
from defectscreen.flows.hosts import prototype_structure
from defectscreen.storage import StorageSettings
from defectscreen.storage.submission import submit_campaign

GLASS_HOST = {"name": "a-SiO2", "prototype": "cristobalite-SiO2", "dielectric_constant": 3.9,
              "amorphous": {"atoms": 24, "seeds": [1], "melting_moves": 100, "quenching_moves": 300}}


def _campaign(**changes) -> dict:
    return {"name": "glass", "hosts": [GLASS_HOST], "defects": {"vacancies": ["O"], "sites": {"sample": 3, "seed": 1}},
            "charges": {"v_O": [0, 2]}, "engine": {"name": "xtb"}, **changes}


@pytest.mark.parametrize(("changes", "message"), [
    ({"properties": ["relaxation", "structure_search"]}, "need(s) a crystal"),
    ({"defects": {"vacancies": ["O"], "antisites": True}}, "remove antisites and interstitials"),
    ({"hosts": [GLASS_HOST | {"dielectric_constant": "computed"}], "engine": {"name": "gpaw"}},
     "give the glass's measured value"),
    ({"hosts": [GLASS_HOST | {"amorphous": {"seeds": [1, 1]}}]}, "each seed once"),
    ({"hosts": [{"name": "Si", "prototype": "diamond-Si"}]}, "no host is amorphous"),
])
def test_a_glass_campaign_refuses_what_a_glass_cannot_have(changes: dict, message: str) -> None:
    with pytest.raises(CampaignError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_campaign(_campaign(**changes))


def test_a_melt_quench_glass_is_generated_stored_and_refused_with_its_coordination_defects(tmp_path: Path) -> None:
    """amorphous.method melt_quench: the glass comes from CHGNet melt–quench MD and is stored with its protocol; a
    quench this fast (24 atoms, 0.5 ps at 8000 K, 0.05 ps to 300 K) leaves coordination defects (every seed tried,
    1-3, did), so the campaign is refused naming
    the setting that quenches more slowly. The stored bond-switching glasses keep their recipe hash whatever the
    melt–quench settings (their glasses are not generated anew), and a diagonal cut keeps the hash its glasses had
    before the cut was a setting (the value below, from the code before it)."""
    from defectscreen.storage.glasses import generation_sha256

    crystal = prototype_structure("cristobalite-SiO2")
    host = GLASS_HOST | {"amorphous": {"atoms": 24, "seeds": [1], "method": "melt_quench",
                                       "melt_quench": {"melt_temperature_K": 8000, "melt_ps": 0.5,
                                                       "quench_ps": 0.05}}}
    campaign = parse_campaign(_campaign(hosts=[host]))
    switching = parse_campaign(_campaign()).hosts[0].amorphous
    slower = switching.model_copy(update={"melt_quench": campaign.hosts[0].amorphous.melt_quench})
    assert generation_sha256(crystal, switching, 1) == generation_sha256(crystal, slower, 1)
    assert generation_sha256(crystal, campaign.hosts[0].amorphous, 1) != generation_sha256(crystal, switching, 1)
    diagonal = switching.model_copy(update={"supercell": "diagonal"})
    assert generation_sha256(crystal, diagonal, 1) == \
        "c9e920a93102bdbcbdc7cf6eedbb75b6509857600cbc043d8192d246ed7410a4" != generation_sha256(crystal, switching, 1)
    settings = StorageSettings(data_dir=tmp_path / "data")
    glasses = settings.collection("amorphous_hosts", COLLECTIONS["amorphous_hosts"])
    generated: list[str] = []
    with pytest.raises(CampaignError, match=r"glass a-SiO2#1 has coordination defects .*lengthen "
                                            r"amorphous\.melt_quench\.quench_ps"):
        submit_campaign(campaign, tmp_path, settings.launchpad(), None, glasses, generated.append)
    assert generated == ["generating glass a-SiO2#1: melt–quench MD with chgnet-0.3.0, 24 atoms, 0.5 ps at 8000 K "
                         "+ 0.05 ps quench"]
    stored = glasses.query_one({"glass_id": "glass:a-SiO2#1"})
    assert stored["method"] == "melt_quench_md" and stored["melt_quench"]["quench_ps"] == 0.05
    assert any(flag.startswith("coordination defects") for flag in stored["flags"])
    assert stored["metrics"]["coordination_defects"] and stored["n_atoms"] == 24


def test_each_sampled_site_is_a_defect_of_its_own_cut_from_the_glass() -> None:
    crystal = prototype_structure("cristobalite-SiO2")
    glass = crystal_at_density(crystal.get_primitive_structure() * (2, 2, 2), 48, 2.2)
    glass.perturb(0.1, min_distance=0.05)
    campaign = parse_campaign(_campaign(defects={"vacancies": ["O"], "substitutions": {"Si": ["C"]},
                                                 "sites": {"sample": 3, "seed": 7}}))
    cells = build_defect_set(campaign, Path("."), {"a-SiO2#1": glass})
    assert cells[0].labels.calculation_id == "a-SiO2#1:bulk" and cells[0].structure == glass
    defects = cells[1:]
    assert len({c.labels.defect_name for c in defects}) == 3 + 3  # three O and three Si sites
    assert sum(c.labels.defect_name.startswith("v_O@") for c in defects) == 3 * 2  # charges 0 and +2
    assert all(getattr(site.specie, "oxi_state", None) is None for c in cells for site in c.structure)
    for cell in defects:
        labels, site = cell.labels, cell.labels.glass_site
        name, index = labels.defect_name.split("@")
        assert int(index) == site and labels.calculation_id == f"a-SiO2#1:{labels.defect_name}:" + (
            f"{labels.charge:+d}" if labels.charge else "0")
        assert labels.equivalent_sites == 1
        np.testing.assert_allclose(labels.defect_site_frac_coords, glass[site].frac_coords)
        if name == "v_O":
            assert glass[site].specie.symbol == "O" and len(cell.structure) == len(glass) - 1
            kept = [i for i in range(len(glass)) if i != site]
            np.testing.assert_allclose(cell.structure.cart_coords, glass.cart_coords[kept])
        else:
            assert glass[site].specie.symbol == "Si" and cell.structure[site].specie.symbol == "C"
    again = build_defect_set(campaign, Path("."), {"a-SiO2#1": glass})
    assert [c.labels.calculation_id for c in again] == [c.labels.calculation_id for c in cells]


def test_site_ensemble_statistics_and_the_vacancy_descriptor() -> None:
    energies = {"g#1:v_O@1": 5.0, "g#1:v_O@2": 6.0, "g#2:v_O@1": 7.0, "g#2:v_O@5": 4.0}
    distances = {"g#1:v_O@1": 2.4, "g#1:v_O@2": 2.6, "g#2:v_O@1": 2.8, "g#2:v_O@5": 2.2}
    summary = site_ensemble("g", "v_O", 0, "O-rich", 0.0, energies, "d", distances, bins=3)
    assert summary.mean_eV == pytest.approx(5.5)
    assert summary.standard_deviation_eV == pytest.approx(np.std([5, 6, 7, 4], ddof=1))
    assert summary.lowest_sites[:2] == ["g#2:v_O@5", "g#1:v_O@1"] and sum(summary.histogram_counts) == 4
    assert summary.pearson_r == pytest.approx(1.0)  # energies are linear in the distances
    # glass by glass: both glasses average 5.5 eV, so the spread is all from site to site
    assert [(g.glass, g.sites, g.mean_eV) for g in summary.per_glass] == [("g#1", 2, 5.5), ("g#2", 2, 5.5)]
    assert [g.standard_deviation_eV for g in summary.per_glass] == pytest.approx([np.sqrt(0.5), np.sqrt(4.5)])
    charged = site_ensemble_at_fermi_level(summary.model_copy(update={"charge": 2}), 1.5)  # +2 at E_F = VBM + 1.5 eV
    assert charged.mean_eV == pytest.approx(8.5) and charged.fermi_level_eV == 1.5
    assert charged.formation_energy_eV == pytest.approx(np.add(summary.formation_energy_eV, 3.0))
    assert charged.histogram_edges_eV == pytest.approx(np.add(summary.histogram_edges_eV, 3.0))
    assert [g.mean_eV for g in charged.per_glass] == pytest.approx([8.5, 8.5])
    assert (charged.standard_deviation_eV, charged.lowest_sites, charged.pearson_r) == \
        (summary.standard_deviation_eV, summary.lowest_sites, summary.pearson_r)
    assert site_ensemble_at_fermi_level(charged, 0.0).mean_eV == pytest.approx(5.5)  # back to the VBM
    two_si = Structure([[10, 0, 0], [0, 10, 0], [0, 0, 10]], ["Si", "Si", "Si"], [[0, 0, 0], [0.25, 0, 0],
                                                                                [0.7, 0.7, 0.7]])
    assert vacancy_neighbour_distance_angstrom(two_si, [0.12, 0, 0], "Si") == pytest.approx(2.5)


def test_a_site_ensemble_carries_its_sites_flags_into_json_and_figure(tmp_path: Path) -> None:
    """The flags of the sites' formation energies (a Γ-only glass cell) reach the summary once each, so the JSON a
    user reads and the figure (a footnote under the axes) say what the report and the console say."""
    from defectscreen.reports.plots import plot_site_ensemble

    cell = Structure([[10, 0, 0], [0, 10, 0], [0, 0, 10]], ["Si", "Si", "O"], [[0, 0, 0], [0.25, 0, 0], [0.6, 0.6, 0.6]])
    k_points = "the k-points sample only 7.1 Å of this cell (below 8 Å)"
    rows = [{"site": f"g#{glass}:v_O@{site}", "formation_energy_at_vbm_eV": {"O-rich": energy},
             "structure": cell.as_dict(), "site_frac_coords": [0.12, 0, 0], "flags": flags}
            for glass, site, energy, flags in ((1, 3, 4.6, [k_points]), (2, 3, 4.8, [k_points, "anharmonic"]),
                                               (2, 9, 5.0, []))]
    summary = site_ensemble_of_states("g", "v_O", 0, "O-rich", rows)
    assert summary.flags == ["anharmonic", k_points]
    assert summary.descriptor_values == pytest.approx([2.5] * 3)
    assert plot_site_ensemble(summary, tmp_path / "sites.png").stat().st_size > 0


@pytest.mark.slow(seconds=180)
def test_a_glass_host_is_generated_once_and_its_vacancies_relax_from_the_relaxed_glass(store_mode: str,
                                                                                       tmp_path: Path) -> None:
    """24-atom a-SiO2 (100 + 300 bond switches), two O sites, V_O in 0 and +1 with xTB: the glass is made at the
    first submission only; each vacancy relaxation starts from the glass the engine relaxed, minus the site; the
    neutral vacancy closes into an Si–Si bond (2.3–2.5 Å in DFT, from ~3.1 Å across the bridging O); a glass site's
    configuration-coordinate diagram is built as a crystal's. On the embedded store and on the MongoDB server."""
    path = tmp_path / "glass.yaml"
    data = _campaign(defects={"vacancies": ["O"], "sites": {"sample": 2, "seed": 1}}, charges={"v_O": [0, 1]},
                     relax={"fmax_eV_per_angstrom": 0.05, "max_steps": 300},
                     properties=["relaxation", "configuration_coordinate", "formation_energy"],
                     formation={"chemical_potentials": {"O-rich": {"O": 0.0, "Si": -9.0}}})
    path.write_text(yaml.safe_dump(data))
    settings = StorageSettings.from_environment()
    glasses = settings.collection("amorphous_hosts", COLLECTIONS["amorphous_hosts"])
    campaign, base_dir = load_campaign(path)
    generated: list[str] = []
    campaigns = settings.collection("campaigns", COLLECTIONS["campaigns"])
    report = submit_campaign(campaign, base_dir, settings.launchpad(), campaigns, glasses, generated.append)
    # the glass's relaxation; per site and charge the cut and the relaxation; per site the CCD of the (+1, 0) pair
    assert generated[0].startswith("generating glass a-SiO2#1")
    assert report.jobs_per_host["a-SiO2#1"] == 1 + 2 * 2 * 2 + 2
    again = submit_campaign(campaign, base_dir, settings.launchpad(), campaigns, glasses, generated.append)
    assert sum(line.startswith("generating") for line in generated) == 1 and again.new_jobs == 0
    stored = glasses.query_one({"glass_id": "glass:a-SiO2#1"})
    assert stored["metrics"]["coordination_defects"] == {} and stored["n_atoms"] == 24

    subprocess.run([sys.executable, "-m", "defectscreen.cli", "worker"], check=True, capture_output=True, timeout=1200)
    tasks = settings.job_store()
    tasks.connect()
    relaxed = {doc["output"]["labels"]["calculation_id"]: doc["output"]
               for doc in tasks.query({"output.task_label": "relax"})}
    glass = Structure.from_dict(relaxed["a-SiO2#1:bulk"]["structure"])
    unrelaxed_glass = Structure.from_dict(stored["structure"])
    vacancies = [cid for cid in relaxed if "v_O@" in cid]
    assert len(vacancies) == 4
    for cid in vacancies:
        task = relaxed[cid]
        site = task["labels"]["glass_site"]
        kept = [i for i in range(len(glass)) if i != site]
        start = Structure.from_dict(task["input_structure"])
        np.testing.assert_allclose(start.cart_coords, glass.cart_coords[kept], atol=1e-8)
        if task["labels"]["charge"] == 0:
            before = vacancy_neighbour_distance_angstrom(unrelaxed_glass, unrelaxed_glass[site].frac_coords, "Si")
            after = vacancy_neighbour_distance_angstrom(Structure.from_dict(task["structure"]),
                                                        task["labels"]["defect_site_frac_coords"], "Si")
            assert before > 2.9 and 2.2 < after < 2.7
    for site in {relaxed[cid]["labels"]["defect_name"] for cid in vacancies}:
        (ccd,) = [doc["output"] for doc in tasks.query({"output.calculation_id": f"a-SiO2#1:{site}:1/0"})]
        expected = get_dQ(Structure.from_dict(relaxed[f"a-SiO2#1:{site}:0"]["structure"]),
                          Structure.from_dict(relaxed[f"a-SiO2#1:{site}:+1"]["structure"]))
        assert ccd["delta_Q_amu_half_angstrom"] == pytest.approx(expected, rel=1e-9) and expected > 0.1
        for surface in ccd["surfaces"]:  # each state's relaxed structure is the lowest point of its surface
            assert 0 <= surface["energy_below_minimum_meV"] < 2.0
        anharmonic = [s for s in ccd["surfaces"] if s["fit_residual_meV"] > 0.2 * s["hbar_omega_meV"]]
        assert len([flag for flag in ccd["flags"] if flag.startswith("anharmonic")]) == len(anharmonic)

    subprocess.run([sys.executable, "-m", "defectscreen.cli", "report", "--out", str(tmp_path / "report.html")],
                   check=True, capture_output=True, timeout=600)
    result = CliRunner().invoke(cli, ["sites", "--host", "a-SiO2", "--defect", "v_O", "--json"])
    assert result.exit_code == 0, result.output
    ensemble = json.loads(result.output)
    assert ensemble["defect"] == "v_O" and len(ensemble["sites"]) == 2 and ensemble["limit"] == "O-rich"
    stored_ensembles = settings.collection("site_ensembles", COLLECTIONS["site_ensembles"])
    stored_ensembles.connect()
    stored_ensemble = stored_ensembles.query_one({"site_ensemble_id": "a-SiO2:v_O:0|O-rich"})
    assert {key: stored_ensemble[key] for key in ensemble} == ensemble  # `sites` reads what `build` stored
    formations = settings.collection("defect_formation_energies", COLLECTIONS["defect_formation_energies"])
    formations.connect()
    at_vbm = {(f"{doc['host']}:{doc['defect_name']}", state["charge"]): state["formation_energy_at_vbm_eV"]["O-rich"]
              for doc in formations.query({}) if "#" in doc["host"]
              for state in doc["charge_states"]}
    assert ensemble["formation_energy_eV"] == pytest.approx([at_vbm[(site, 0)] for site in ensemble["sites"]])
    charged = CliRunner().invoke(cli, ["sites", "--host", "a-SiO2", "--defect", "v_O", "--charge", "1",
                                       "--fermi-level", "2.5", "--json"])
    assert charged.exit_code == 0, charged.output
    charged = json.loads(charged.output)  # E_f(E_F) = E_f(VBM) + q E_F, site by site
    assert charged["fermi_level_eV"] == 2.5 and charged["sites"] == ensemble["sites"]
    assert charged["formation_energy_eV"] == pytest.approx([at_vbm[(site, 1)] + 2.5 for site in charged["sites"]])
    report = (tmp_path / "report.html").read_text()
    assert all(html.escape(flag) in report for flag in ensemble["flags"])  # the console's, the report's and the JSON's
    for charge in ("0", "+1"):  # the report has each charge state's ensemble, its table and its histogram
        heading = f"a-SiO2: v_O (q = {charge}) over the glass sites"
        assert heading in report and f'id="sites-a-SiO2-v_O-{int(charge)}"' in report
        assert report.split(heading)[1].split("<h2>")[0].count("<img") == 1
    section = report.split("a-SiO2: v_O (q = 0) over the glass sites")[1].split("</table>")[0]
    assert f'data-value="{ensemble["mean_eV"]}"' in section and "Si–Si distance across the vacancy" in report
    query = CliRunner().invoke(cli, ["query", "--host", "a-SiO2", "--defect", "v_O", "--charge", "0"])
    assert query.exit_code == 0 and query.output.count("a-SiO2#1:v_O@") == 2, query.output

    data["hosts"] = [GLASS_HOST | {"amorphous": GLASS_HOST["amorphous"] | {"quenching_moves": 400}}]
    path.write_text(yaml.safe_dump(data))
    campaign, base_dir = load_campaign(path)
    with pytest.raises(CampaignError, match="generated before from another crystal or other amorphous settings"):
        submit_campaign(campaign, base_dir, settings.launchpad(), amorphous_hosts=glasses)


def test_site_ensembles_are_built_per_limit_from_the_current_versions_sites_and_rebuilt_when_one_changes() -> None:
    """Three V_O sites over two glasses of the current campaign version, one site of an older version and a crystal
    defect: the builder stores one ensemble per chemical-potential limit over the three current sites, equal to the
    summary of their formation documents; `current_site_ensembles` finds both under the current version, none under
    the older one; a second build writes nothing; a site whose flags change rebuilds both limits, which then carry
    the flag."""
    from maggma.stores import MemoryStore

    from defectscreen.builders import SiteEnsembleBuilder
    from defectscreen.storage.query import current_site_ensembles, site_states_of

    cell = Structure([[10, 0, 0], [0, 10, 0], [0, 0, 10]], ["Si", "Si", "O"], [[0, 0, 0], [0.25, 0, 0], [0.6, 0.6, 0.6]])
    stores = {name: MemoryStore(name, key=key) for name, key in (
        ("tasks", "uuid"), ("campaigns", "name"), ("amorphous_hosts", "glass_id"),
        ("defect_formation_energies", "defect_formation_id"), ("site_ensembles", "site_ensemble_id"))}
    for store in stores.values():
        store.connect()
    stores["campaigns"].update([{"name": "glass", "sha256": "v2"}])
    stores["amorphous_hosts"].update([{"glass_id": f"glass:a-SiO2#{seed}", "host": f"a-SiO2#{seed}"}
                                      for seed in (1, 2, 3)] + [{"glass_id": "glass:outside", "host": None}])
    sites = [("a-SiO2#1", "v_O@3", 4.6, "v2"), ("a-SiO2#1", "v_O@9", 4.9, "v2"), ("a-SiO2#2", "v_O@3", 5.2, "v2"),
             ("a-SiO2#3", "v_O@3", 9.9, "v1"), ("SiO2", "v_O", 7.0, "v2")]
    stores["defect_formation_energies"].update([
        {"defect_formation_id": f"{host}:{defect}|engine|settings", "host": host, "defect_name": defect,
         "campaign_sha256": version, "input_fingerprint": f"{host}{defect}", "flags": [],
         "charge_states": [{"charge": 0, "formation_energy_at_vbm_eV": {"O-rich": energy, "Si-rich": energy - 3},
                            "correction_eV": 0.0, "defect_uuid": f"{host}:{defect}"}]}
        for host, defect, energy, version in sites])
    stores["tasks"].update([{"uuid": f"{host}:{defect}", "output": {
        "task_label": "relax", "structure": cell.as_dict(), "labels": {"defect_site_frac_coords": [0.12, 0, 0]}}}
        for host, defect, _, _ in sites])

    def build() -> int:
        builder = SiteEnsembleBuilder(stores["tasks"], stores["campaigns"], stores["amorphous_hosts"],
                                      stores["defect_formation_energies"], stores["site_ensembles"])
        builder.connect()
        builder.update_targets([builder.process_item(item) for item in builder.get_items()])
        return builder.total  # the stores stay open: maggma's finalize would close the in-memory ones

    assert build() == 2 and build() == 0
    built = {doc["limit"]: doc for doc in stores["site_ensembles"].query()}
    assert sorted(built) == ["O-rich", "Si-rich"]
    rich = built["O-rich"]
    assert rich["site_ensemble_id"] == "a-SiO2:v_O:0|O-rich" and rich["campaign_sha256"] == ["v2"]
    assert rich["sites"] == ["a-SiO2#1:v_O@3", "a-SiO2#1:v_O@9", "a-SiO2#2:v_O@3"]
    assert rich["mean_eV"] == pytest.approx(4.9) and built["Si-rich"]["mean_eV"] == pytest.approx(1.9)
    states = site_states_of(stores["defect_formation_energies"].query({"campaign_sha256": "v2"}), stores["tasks"], 0)
    on_demand = site_ensemble_of_states("a-SiO2", "v_O", 0, "O-rich", states).model_dump(mode="json")
    assert {key: rich[key] for key in on_demand} == on_demand
    assert [doc["limit"] for doc in current_site_ensembles(stores["site_ensembles"], ["v2"], "a-SiO2", "v_O", 0)] \
        == ["O-rich", "Si-rich"]
    assert current_site_ensembles(stores["site_ensembles"], ["v1"]) == []
    older = {key: value for key, value in rich.items() if key not in ("_id", "per_glass")}  # stored by 0.4.0
    stores["site_ensembles"].update([older])
    assert build() == 1 and stores["site_ensembles"].query_one({"limit": "O-rich"})["per_glass"] == rich["per_glass"]
    stores["defect_formation_energies"].update([{
        **stores["defect_formation_energies"].query_one({"defect_formation_id": "a-SiO2#2:v_O@3|engine|settings"}),
        "flags": ["a Γ-only cell"]}])
    assert build() == 2
    assert all(doc["flags"] == ["a Γ-only cell"] for doc in stores["site_ensembles"].query())

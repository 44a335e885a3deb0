"""Engine vasp: atomate2's defect Makers under custodian, tested by replaying real VASP runs (Mg_Ga in a 32-atom GaN
cell, q = -2..+1, as atomate2/custodian left them; pymatgen-analysis-defects' test files). The stand-in for the VASP
executable (tests/vasp_replay.py) checks every input the job wrote against the run's own and copies its outputs; the
campaign's formation energies and levels must be pymatgen-analysis-defects' own result on the same files."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
from functools import lru_cache
from pathlib import Path

import numpy as np
import pytest
import yaml
from conftest import REFERENCE_DATA
from monty.json import MontyDecoder
from monty.serialization import loadfn
from pymatgen.analysis.defects.corrections.kumagai import get_efnv_correction, get_structure_with_pot
from pymatgen.analysis.defects.thermo import DefectEntry, FormationEnergyDiagram
from pymatgen.core import SETTINGS, Element
from pymatgen.io.vasp import Poscar, Vasprun
from vasp_replay import replay

MG_GA = REFERENCE_DATA / "pad-gan" / "Mg_Ga"
STABLE_ENTRIES = REFERENCE_DATA / "pad-gan" / "stable_entries_Mg_Ga_N.json"
CHARGE_FOLDERS = {-2: "q=-2", -1: "q=-1", 0: "q=0", 1: "q=1"}
EPSILON_GAN = 9.5
CLI = [sys.executable, "-m", "defectscreen.cli"]
#: the settings of the reference runs beyond atomate2 0.1.5's defect sets (read off their INCAR.orig)
ENGINE = {"name": "vasp", "incar": {"ENAUG": 1360, "LVHAR": False, "LWAVE": False}}
#: valence electrons of the reference runs' POTCARs (their OUTCARs: PAW_PBE Mg 13Apr2007, Ga_d 06Jul2010, N 08Apr2002)
VALENCE = {"Mg": 2.0, "Ga_d": 13.0, "N": 5.0}


def fake_potcars(root: Path) -> Path:
    """POTCAR headers pymatgen reads valence electrons from (no pseudopotential data: POTCARs are licensed and never
    copied), in the layout of PMG_VASP_PSP_DIR."""
    for symbol, valence in VALENCE.items():
        folder = root / "POT_GGA_PAW_PBE_54" / symbol
        folder.mkdir(parents=True, exist_ok=True)
        element = symbol.split("_")[0]
        (folder / "POTCAR").write_text(
            f"  PAW_PBE {symbol} 01Jan2000\n   {valence:.8f}\n parameters from PSCTR are:\n   VRHFIN ={element}: s p\n"
            f"   LEXCH  = PE\n   TITEL  = PAW_PBE {symbol} 01Jan2000\n   POMASS =   1.000; ZVAL   =   {valence:.3f}"
            "    mass and valenz\n   ENMAX  =  400.000; ENMIN  =  300.000 eV\n END of PSCTR-controll parameters\n"
            "   local part\n   1.00000000000 2.00000000000 3.00000000000\n End of Dataset\n")
    return root


@pytest.fixture
def replayed_vasp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """atomate2 runs the replay instead of VASP, on fake POTCARs; returns the campaign folder with the host cell."""
    potcars = str(fake_potcars(tmp_path / "potcars"))
    monkeypatch.setenv("PMG_VASP_PSP_DIR", potcars)  # the workers'
    monkeypatch.setitem(SETTINGS, "PMG_VASP_PSP_DIR", potcars)  # this process's, read when pymatgen was imported
    monkeypatch.setenv("ATOMATE2_VASP_CMD", f"{sys.executable} {Path(__file__).with_name('vasp_replay.py')} {MG_GA}")
    monkeypatch.setenv("PYTHONWARNINGS", "ignore")
    (tmp_path / "GaN_sc.vasp").write_bytes(gzip.open(MG_GA / "bulk_sc" / "POSCAR.orig.gz").read())
    return tmp_path


def _campaign(folder: Path, engine: dict) -> Path:
    path = folder / "mg_ga.yaml"
    path.write_text(yaml.safe_dump({
        "name": "mg-ga-replay",
        "hosts": [{"name": "GaN", "structure": "GaN_sc.vasp", "dielectric_constant": EPSILON_GAN}],
        "defects": {"vacancies": False, "substitutions": {"Ga": ["Mg"]}},
        "charges": {"Mg_Ga": sorted(CHARGE_FOLDERS)},
        "supercell": {"matrix": [[1, 0, 0], [0, 1, 0], [0, 0, 1]]},
        "engine": engine,
        "relax": {"fmax_eV_per_angstrom": 0.05, "max_steps": 99},
        "properties": ["relaxation", "formation_energy"],
        "formation": {"correction": "kumagai", "phase_entries": str(STABLE_ENTRIES)},
    }))
    return path


def pymatgen_analysis_defects_energies(mu_eV: dict[str, float]) -> dict[int, float]:
    """E_f at the VBM per charge by pymatgen-analysis-defects at these chemical potentials."""
    diagram, entries = _diagram()
    return {entry.charge_state: diagram._vbm_formation_energy(entry, {Element(el): mu for el, mu in mu_eV.items()})
            for entry in entries}


def pymatgen_analysis_defects_result() -> tuple[float, dict, list[dict]]:
    """(VBM, {charge: Kumagai–Oba correction}, per chemical-potential limit: μ, E_f at the VBM per charge and the
    transition levels) from the reference folders by pymatgen-analysis-defects alone."""
    diagram, entries = _diagram()
    limits = []
    for chempots in diagram.chempot_limits:
        levels = diagram.get_transitions(chempots, 0, diagram.band_gap)
        limits.append({"mu": {el.symbol: float(mu) for el, mu in chempots.items()},
                       "energies": {e.charge_state: diagram._vbm_formation_energy(e, chempots) for e in entries},
                       "levels": [float(x) for x, _ in levels[1:-1]]})
    return diagram.vbm, {entry.charge_state: entry.corrections["kumagai"] for entry in entries}, limits


@lru_cache(maxsize=1)
def _diagram() -> tuple[FormationEnergyDiagram, list[DefectEntry]]:
    """pymatgen-analysis-defects' formation-energy diagram of the reference folders (its E_f at the VBM is
    ``_vbm_formation_energy``; its public ``get_formation_energy`` is the lower envelope's)."""
    bulk_run = Vasprun(MG_GA / "bulk_sc" / "vasprun.xml.gz", parse_potcar_file=False)
    gap, _, vbm, _ = bulk_run.eigenvalue_band_properties
    bulk_potentials = get_structure_with_pot(MG_GA / "bulk_sc")
    entries = []
    for charge, name in CHARGE_FOLDERS.items():
        info = json.loads(gzip.open(MG_GA / name / "info.json.gz").read(), cls=MontyDecoder)
        run = Vasprun(MG_GA / name / "vasprun.xml.gz", parse_potcar_file=False)
        start = Poscar.from_str(gzip.open(MG_GA / name / "POSCAR.orig.gz").read().decode()).structure
        ideal_site = tuple(next(site for site in start if site.specie.symbol == "Mg").frac_coords)
        # the defect's ideal site, as the platform corrects it (found from the relaxed cells instead: 1.5e-5 eV apart)
        correction = get_efnv_correction(charge, get_structure_with_pot(MG_GA / name), bulk_potentials,
                                         np.eye(3) * EPSILON_GAN, defect_coords=ideal_site
                                         ).correction_energy if charge else 0.0
        entries.append(DefectEntry(defect=info["defect"], charge_state=charge, sc_entry=run.get_computed_entry(),
                                   corrections={"kumagai": correction}))
    diagram = FormationEnergyDiagram(bulk_entry=bulk_run.get_computed_entry(), defect_entries=entries, vbm=vbm,
                                     band_gap=gap, pd_entries=loadfn(STABLE_ENTRIES), inc_inf_values=False)
    return diagram, entries


@pytest.mark.slow(seconds=120)
def test_mg_ga_in_gan_replayed_through_atomate2_gives_pymatgen_analysis_defects_numbers(
        store_mode: str, data_dir: Path, replayed_vasp: Path) -> None:
    run = subprocess.run([*CLI, "run", str(_campaign(replayed_vasp, ENGINE)), "--workers", "2"], capture_output=True,
                         text=True, timeout=900, env={**os.environ, "COLUMNS": "250"})
    assert run.returncode == 0 and "5 job(s) done (relax 5), 0 failed" in run.stdout, run.stdout[-3000:]
    assert "Traceback" not in run.stdout + run.stderr
    for folder in data_dir.rglob("REPLAYED_FROM"):
        assert {"INCAR.orig.gz", "custodian.json.gz", "vasprun.xml.gz", "OUTCAR.gz"} <= {f.name for f in folder.parent.iterdir()}
    assert len(list(data_dir.rglob("REPLAYED_FROM"))) == 5, "every job ran VASP (the replay) under custodian"

    assert subprocess.run([*CLI, "build"], capture_output=True, text=True, timeout=600).returncode == 0
    printed = subprocess.run([*CLI, "formation", "--host", "GaN", "--json"], capture_output=True, text=True,
                             timeout=300)
    assert printed.returncode == 0, printed.stderr[-2000:]
    (host,) = json.loads(printed.stdout)
    assert host["engine"]["name"] == "vasp" and host["engine"]["is_dft"]
    assert host["engine"]["code_versions"]["vasp"] == "6.3.0"
    assert any(flag.startswith("the VBM and CBM are the bulk supercell's levels at one special k-point")
               for flag in host["flags"])
    assert host["inputs"]["phase_entries"] and not host["competing_phases"].keys() - {
        entry["entry_id"] for entry in host["inputs"]["phase_entries"]}

    vbm, corrections, limits = pymatgen_analysis_defects_result()
    assert host["vbm_eV"] == pytest.approx(vbm, abs=1e-9)
    (defect,) = host["defects"]
    states = {state["charge"]: state for state in defect["charge_states"]}
    assert sorted(states) == sorted(CHARGE_FOLDERS)
    for charge, correction in corrections.items():
        assert states[charge]["correction_eV"] == pytest.approx(correction, abs=1e-6)
    # pymatgen-analysis-defects puts a stable host 1 meV per cell below the hull too (the platform only one above
    # it): 1 meV / 16 formula units moves its limits by 6.25e-5 eV
    assert len(host["chemical_potential_limits"]) == len(limits) == 3
    for limit in host["chemical_potential_limits"]:
        (theirs,) = [other for other in limits if all(abs(other["mu"][el] - mu) < 1e-4
                                                      for el, mu in limit["mu_eV"].items())]
        for charge, energy in theirs["energies"].items():
            assert states[charge]["formation_energy_at_vbm_eV"][limit["name"]] == pytest.approx(energy, abs=1e-4)
        for charge, energy in pymatgen_analysis_defects_energies(limit["mu_eV"]).items():  # at the platform's μ
            assert states[charge]["formation_energy_at_vbm_eV"][limit["name"]] == pytest.approx(energy, abs=1e-9)
    levels = [level["level_eV"] for level in defect["transition_levels"]]
    assert levels == pytest.approx(limits[0]["levels"], abs=1e-9) and len(levels) == 3


def test_the_replay_refuses_inputs_the_reference_run_did_not_have(replayed_vasp: Path) -> None:
    """atomate2's own defect set without the reference runs' changes: the replay names each differing tag (and a
    cell or electron count no run had), so a job that writes other inputs fails instead of reading foreign outputs."""
    from atomate2.vasp.files import write_vasp_input_set
    from pymatgen.core import Structure

    from defectscreen.engines import VaspSettings
    from defectscreen.engines.vasp import vasp_maker

    folder = replayed_vasp / "job"
    folder.mkdir()
    cell = Structure.from_file(replayed_vasp / "GaN_sc.vasp")
    maker = vasp_maker(VaspSettings(), 0.05, 99, 1)
    write_vasp_input_set(cell, maker.input_set_generator, directory=folder)
    differences = replay(MG_GA, folder)
    assert sorted(d.split(":")[1].split()[1] for d in differences) == ["ENAUG", "LVHAR", "LWAVE"], differences
    assert all(d.startswith("bulk_sc: INCAR") for d in differences)
    charged = cell.copy()
    charged.set_charge(3)
    write_vasp_input_set(charged, vasp_maker(VaspSettings(**ENGINE), 0.05, 99, 1).input_set_generator,
                         directory=folder)
    assert replay(MG_GA, folder) == ["INCAR NELECT 285.0: 0 reference runs of this cell have it (bulk_sc start from it)"]
    assert not (folder / "vasprun.xml").exists()
    write_vasp_input_set(cell, vasp_maker(VaspSettings(**ENGINE), 0.05, 99, 1).input_set_generator, directory=folder)
    assert replay(MG_GA, folder) == [] and (folder / "vasprun.xml").is_file() and (folder / "OSZICAR").is_file()

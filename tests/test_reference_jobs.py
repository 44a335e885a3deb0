"""Reference Makers: relaxations lower the energy to a force minimum; charged cells obey
physical limits; GPAW through the Maker equals a direct GPAW call; failures carry reasons."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from jobflow import run_locally

from defectscreen.engines import GpawSettings, ScfNotConvergedError, XtbSettings
from defectscreen.engines.electronic import NoValenceElectronsError
from defectscreen.flows.campaign import parse_campaign
from defectscreen.flows.defect_set import build_defect_set
from defectscreen.jobs import RelaxationNotConvergedError, RelaxMaker, StaticMaker
from defectscreen.jobs.reference import run_reference

CAMPAIGN = {
    "name": "t",
    "hosts": [{"name": "Si", "prototype": "diamond-Si"}],
    "defects": {"vacancies": True},
    "charges": {"default": [-1, 0, 1]},
    "supercell": {"matrix": [[2, 0, 0], [0, 2, 0], [0, 0, 2]]},
}


@pytest.fixture(scope="module")
def calculations() -> dict:
    return {c.labels.calculation_id: c for c in build_defect_set(parse_campaign(CAMPAIGN), Path("."))}


def _run(job, tmp_path: Path):
    responses = run_locally(job, root_dir=tmp_path, ensure_success=True, log=False)
    return responses[job.uuid][1].output


def test_relaxation_lowers_energy_to_force_minimum(calculations: dict, tmp_path: Path) -> None:
    vacancy = calculations["Si:v_Si:0"]
    maker = RelaxMaker(fmax_eV_per_angstrom=0.02)
    relaxed = _run(maker.make(vacancy.structure, vacancy.labels, "sha"), tmp_path)
    unrelaxed = _run(StaticMaker().make(vacancy.structure, vacancy.labels, "sha"), tmp_path)
    assert relaxed.max_force_eV_per_angstrom < 0.02
    assert relaxed.energy_eV < unrelaxed.energy_eV - 0.01, "relaxation around V_Si releases energy"
    assert relaxed.relaxation_energies_eV[-1] == pytest.approx(relaxed.energy_eV)
    assert unrelaxed.max_force_eV_per_angstrom > 0.05
    assert relaxed.engine.name == "xtb" and not relaxed.engine.is_dft
    assert relaxed.engine.settings == XtbSettings().model_dump(mode="json")
    forces = np.array(relaxed.forces_eV_per_angstrom)
    assert np.abs(forces.sum(axis=0)).max() < 1e-3, "forces of a periodic cell sum to zero"


def test_charge_states_give_a_positive_gap(calculations: dict, tmp_path: Path) -> None:
    """E(+1) + E(-1) - 2E(0) of bulk Si is the cell's fundamental gap minus twice the spurious
    Madelung energy of a charge in a periodic 16-atom cell (~0.2 eV each for eps 12, L 7.7 A):
    the energy is convex in the charge (gap > 0) and below the 1.1-3 eV of any Si model."""
    bulk = calculations["Si:bulk"]
    energies = {}
    for charge in (-1, 0, 1):
        labels = bulk.labels.model_copy(update={"charge": charge, "spin_multiplicity": 1 + abs(charge) % 2})
        energies[charge] = run_reference(bulk.structure, labels, XtbSettings(), None, 0)["energy_eV"]
    gap = energies[1] + energies[-1] - 2 * energies[0]
    assert 0.05 < gap < 3.0


def test_bulk_levels_hold_every_electron_and_bracket_the_gap(calculations: dict) -> None:
    """16-atom Si, GFN1-xTB: 64 valence electrons in doubly occupied levels; VBM below CBM (Γ-only, so the gap
    of this small cell is 0.05 eV, not Si's)."""
    bulk = calculations["Si:bulk"]
    levels = run_reference(bulk.structure, bulk.labels, XtbSettings(), None, 0)["levels"]
    assert levels["spin_degeneracy"] == 2
    assert 2 * np.sum(levels["occupations"]) == pytest.approx(64.0, abs=1e-6)
    assert 0.0 < levels["lowest_unoccupied_eV"] - levels["highest_occupied_eV"] < 5.0


def test_unconverged_relaxation_and_scf_raise_with_reason(calculations: dict) -> None:
    vacancy = calculations["Si:v_Si:0"]
    with pytest.raises(RelaxationNotConvergedError, match="used all 1 ionic steps"):
        run_reference(vacancy.structure, vacancy.labels, XtbSettings(), 0.001, 1)
    with pytest.raises(ScfNotConvergedError, match="xTB SCF did not converge"):
        run_reference(vacancy.structure, vacancy.labels, XtbSettings(max_scf_iterations=2), None, 0)
    small = {**CAMPAIGN, "hosts": [{"name": "MgO", "prototype": "rocksalt-MgO"}], "defects": {"vacancies": ["O"]},
             "charges": {"default": [2]}, "supercell": {"matrix": [[1, 0, 0], [0, 1, 0], [0, 0, 1]]}}
    (bare,) = [c for c in build_defect_set(parse_campaign(small), Path(".")) if c.labels.charge == 2]
    with pytest.raises(NoValenceElectronsError, match=r"MgO:v_O:\+2: charge \+2 leaves this 1-atom cell no valence"):
        run_reference(bare.structure, bare.labels, XtbSettings(), None, 0)  # Mg²⁺ alone: GFN1-xTB's 2 electrons gone


@pytest.mark.dft
def test_gpaw_static_matches_direct_gpaw(tmp_path: Path) -> None:
    """A charged, spin-polarised GPAW single point through the Maker equals plain GPAW."""
    from gpaw import GPAW, PW
    from pymatgen.io.ase import AseAtomsAdaptor

    from defectscreen.engines import GpawSettings
    from defectscreen.flows.hosts import prototype_structure

    data = {**CAMPAIGN, "supercell": {"matrix": [[1, 0, 0], [0, 1, 0], [0, 0, 1]]},
            "engine": {"name": "gpaw"}, "defects": {"vacancies": False}}
    bulk = build_defect_set(parse_campaign(data), Path("."))[0]
    labels = bulk.labels.model_copy(update={"charge": -1, "spin_multiplicity": 2})
    settings = GpawSettings()
    doc = _run(StaticMaker(engine_settings=settings.model_dump(mode="json")).make(bulk.structure, labels, "sha"), tmp_path)
    atoms = AseAtomsAdaptor.get_atoms(prototype_structure("diamond-Si"))
    atoms.set_initial_magnetic_moments([0.5, 0.5])
    atoms.calc = GPAW(mode=PW(500), xc="PBE", kpts=(1, 1, 1), charge=-1, spinpol=True,
                      occupations={"name": "fermi-dirac", "width": 0.01, "fixmagmom": True},
                      convergence={"energy": 5e-4}, txt=None)
    assert doc.energy_eV == pytest.approx(atoms.get_potential_energy(), abs=2e-3)
    assert atoms.calc.get_magnetic_moment() == pytest.approx(1.0, abs=1e-6)
    assert doc.engine.is_dft and doc.engine.code_versions["gpaw"]
    levels = doc.levels
    assert levels.spin_degeneracy == 1 and len(levels.eigenvalues_eV) == 2
    assert levels.eigenvalues_eV[0][0] == pytest.approx(list(atoms.calc.get_eigenvalues(spin=0)), abs=2e-3)
    assert sum(np.sum(channel) for channel in levels.occupations) == pytest.approx(9.0, abs=1e-6)  # 8 + the extra e
    potential = atoms.calc.get_electrostatic_potential()
    assert [len(profile) for profile in doc.planar_average_potential_eV] == list(potential.shape)
    assert np.mean(doc.planar_average_potential_eV[2]) == pytest.approx(potential.mean(), abs=2e-3)
    sites = atoms.calc.get_atomic_electrostatic_potentials()
    assert doc.site_potential_eV == pytest.approx(list(sites), abs=2e-3)
    assert doc.site_potential_eV[0] == pytest.approx(doc.site_potential_eV[1], abs=1e-3)  # the two equivalent Si


@pytest.mark.dft
def test_path_energies_restarting_each_scf_equal_fresh_single_points(tmp_path: Path, monkeypatch) -> None:
    """Along a displacement path one GPAW calculator, each SCF started from the previous point, gives the energies
    of separate single points. The path starts off the symmetric end point, as a configuration-coordinate diagram's
    does: GPAW keeps the first point's symmetry."""
    from defectscreen.engines import GpawSettings
    from defectscreen.jobs.reference import path_energies
    from defectscreen.physics.ccd import interpolate_structures

    monkeypatch.chdir(tmp_path)
    data = {**CAMPAIGN, "supercell": {"matrix": [[1, 0, 0], [0, 1, 0], [0, 0, 1]]}, "defects": {"vacancies": False}}
    bulk = build_defect_set(parse_campaign(data), Path("."))[0]
    displaced = bulk.structure.copy()
    displaced.translate_sites([0], [0.15, 0.1, 0.05], frac_coords=False)
    path = interpolate_structures(bulk.structure, displaced, np.array([-0.5, 0.25, 1.0, 1.5]))
    settings = GpawSettings()
    restarted = path_energies(path, bulk.labels, settings)
    fresh = [run_reference(structure, bulk.labels, settings, None, 0)["energy_eV"] for structure in path]
    assert restarted == pytest.approx(fresh, abs=1e-4)
    assert max(restarted) - min(restarted) > 0.05  # different geometries, not one energy four times


@pytest.mark.dft
def test_even_k_grid_holds_gamma_where_the_gap_of_mgo_is(tmp_path: Path, monkeypatch) -> None:
    """MgO's gap is direct at Γ: PBE gives about 4.5-4.8 eV at the experimental lattice. A Γ-centred 2x2x2 grid
    (the default) holds Γ and finds it; Monkhorst–Pack's shifted 2x2x2 grid misses Γ and reports a gap over 1 eV
    too wide."""
    from defectscreen.engines import GpawSettings

    monkeypatch.chdir(tmp_path)
    data = {**CAMPAIGN, "hosts": [{"name": "MgO", "prototype": "rocksalt-MgO"}], "defects": {"vacancies": False},
            "supercell": {"matrix": [[1, 0, 0], [0, 1, 0], [0, 0, 1]]}}
    bulk = build_defect_set(parse_campaign(data), Path("."))[0]
    gaps = {}
    for gamma_centered in (True, False):
        levels = run_reference(bulk.structure, bulk.labels, GpawSettings(kpts=(2, 2, 2), gamma_centered=gamma_centered),
                               None, 0)["levels"]
        gaps[gamma_centered] = levels["lowest_unoccupied_eV"] - levels["highest_occupied_eV"]
    assert 4.3 < gaps[True] < 5.0
    assert gaps[False] > gaps[True] + 1.0


@pytest.mark.dft
def test_lcao_mode_gives_the_gap_of_mgo_that_plane_waves_give(tmp_path: Path, monkeypatch) -> None:
    """``engine: {name: gpaw, mode: lcao}`` expands the states in GPAW's dzp atomic orbitals (seed 004's kind of
    basis): MgO's PBE gap at Γ (4.46 eV in plane waves on this grid) within 0.2 eV, and the calculation is GPAW's
    LCAO. Hybrids, which GPAW computes in plane waves only, and a computed dielectric constant are refused in it."""
    monkeypatch.chdir(tmp_path)
    data = {**CAMPAIGN, "hosts": [{"name": "MgO", "prototype": "rocksalt-MgO"}], "defects": {"vacancies": False},
            "supercell": {"matrix": [[1, 0, 0], [0, 1, 0], [0, 0, 1]]}}
    bulk = build_defect_set(parse_campaign(data), Path("."))[0]
    gaps = {}
    for mode in ("lcao", "pw"):
        levels = run_reference(bulk.structure, bulk.labels, GpawSettings(mode=mode, kpts=(2, 2, 2)), None, 0)["levels"]
        gaps[mode] = levels["lowest_unoccupied_eV"] - levels["highest_occupied_eV"]
        if mode == "lcao":
            assert "Wave functions: LCAO" in (tmp_path / "gpaw.txt").read_text()
    assert 4.3 < gaps["pw"] < 5.0
    assert gaps["lcao"] == pytest.approx(gaps["pw"], abs=0.2)
    assert GpawSettings(mode="lcao").settings_hash() != GpawSettings().settings_hash()
    with pytest.raises(ValueError, match="hybrid HSE06 in plane waves only"):
        GpawSettings(mode="lcao", xc="HSE06")
    with pytest.raises(ValueError, match="engine 'gpaw in mode lcao' does not compute"):
        parse_campaign({**data, "engine": {"name": "gpaw", "mode": "lcao"},
                        "hosts": [{"name": "MgO", "prototype": "rocksalt-MgO", "dielectric_constant": "computed"}]})


@pytest.mark.dft
def test_hse06_opens_the_gap_of_silicon(tmp_path: Path, monkeypatch) -> None:
    """``engine: {name: gpaw, xc: HSE06}`` runs GPAW's plane-wave hybrid: a quarter of screened exact exchange
    widens Si's PBE gap (0.6 eV) at the same k-points. On this coarse grid the exchange is far from converged in k
    (2×2×2: 1.74 eV, 3×3×3: 1.43 eV; converged HSE06 1.2 eV, experiment 1.17), as docs/running-on-a-cluster.md says."""

    monkeypatch.chdir(tmp_path)
    data = {**CAMPAIGN, "supercell": {"matrix": [[1, 0, 0], [0, 1, 0], [0, 0, 1]]}, "defects": {"vacancies": False},
            "engine": {"name": "gpaw", "xc": "HSE06", "kpts": [2, 2, 2]}}
    campaign = parse_campaign(data)
    bulk = build_defect_set(campaign, Path("."))[0]
    gaps = {}
    for xc in ("PBE", "HSE06"):
        levels = run_reference(bulk.structure, bulk.labels, campaign.engine.model_copy(update={"xc": xc}), None,
                               0)["levels"]
        gaps[xc] = levels["lowest_unoccupied_eV"] - levels["highest_occupied_eV"]
        assert f"Using the {xc} Exchange-Correlation functional" in (tmp_path / "gpaw.txt").read_text()
    assert 0.5 < gaps["PBE"] < 0.7
    assert 0.6 < gaps["HSE06"] - gaps["PBE"] < 1.3


@pytest.mark.dft
def test_pbe0_runs_in_plane_wave_mode(tmp_path: Path, monkeypatch) -> None:
    """PBE0 by name reached GPAW's real-space hybrid, which fails in plane-wave mode (AttributeError in its Poisson
    solver); the engine asks for the plane-wave implementation, as for HSE06."""
    monkeypatch.chdir(tmp_path)
    data = {**CAMPAIGN, "supercell": {"matrix": [[1, 0, 0], [0, 1, 0], [0, 0, 1]]}, "defects": {"vacancies": False},
            "engine": {"name": "gpaw", "xc": "PBE0"}}
    campaign = parse_campaign(data)
    bulk = build_defect_set(campaign, Path("."))[0]
    pbe0 = run_reference(bulk.structure, bulk.labels, campaign.engine, None, 0)
    assert "XC parameters: HYB_GGA_XC_PBEH + 0.25 * EXX" in (tmp_path / "gpaw.txt").read_text()
    pbe = run_reference(bulk.structure, bulk.labels, campaign.engine.model_copy(update={"xc": "PBE"}), None, 0)
    assert pbe0["converged"] and abs(pbe0["energy_eV"] - pbe["energy_eV"]) > 1.0


@pytest.mark.dft
def test_hybrid_energy_at_the_semilocal_geometry(tmp_path: Path, monkeypatch) -> None:
    """``engine: {xc: HSE06, relax_xc: PBE}`` (HSE06//PBE): the relaxation is PBE's own — same structure and energy
    as a PBE relaxation — and the document's energy and levels are one HSE06 single point there, with the hybrid's
    wider gap; settings without relax_xc keep the hash they had before it existed."""
    monkeypatch.chdir(tmp_path)
    data = {**CAMPAIGN, "supercell": {"matrix": [[1, 0, 0], [0, 1, 0], [0, 0, 1]]}, "defects": {"vacancies": False},
            "engine": {"name": "gpaw", "xc": "HSE06", "relax_xc": "PBE", "kpts": [2, 2, 2]}}
    campaign = parse_campaign(data)
    bulk = build_defect_set(campaign, Path("."))[0]
    shaken = bulk.structure.copy()
    shaken.translate_sites([0], [0.08, -0.05, 0.03], frac_coords=False)
    document = _run(RelaxMaker(engine_settings=campaign.engine.model_dump(mode="json"),
                               fmax_eV_per_angstrom=0.02).make(shaken, bulk.labels, "sha"), tmp_path)
    pbe = run_reference(shaken, bulk.labels, campaign.engine.model_copy(update={"xc": "PBE", "relax_xc": None}),
                        0.02, 200)
    assert document.geometry.xc == "PBE" and document.engine.settings["xc"] == "HSE06"
    assert document.n_ionic_steps == pbe["n_ionic_steps"] > 1 and document.converged
    assert np.allclose(document.structure.cart_coords, pbe["structure"].cart_coords, atol=1e-8)
    assert document.geometry.energy_eV == pytest.approx(pbe["energy_eV"], abs=1e-6)
    assert document.input_structure == shaken and not document.relaxation_frames
    gap = document.levels.lowest_unoccupied_eV - document.levels.highest_occupied_eV
    pbe_gap = pbe["levels"]["lowest_unoccupied_eV"] - pbe["levels"]["highest_occupied_eV"]
    assert 0.6 < gap - pbe_gap < 1.3
    assert abs(document.energy_eV - document.geometry.energy_eV) > 1.0
    assert GpawSettings().settings_hash() == "5bf5b2e80b95221276b10b07eaa612119188e6458ddfe5ae07ead526163bb0b2"
    assert GpawSettings(xc="HSE06", relax_xc="PBE").settings_hash() != GpawSettings(xc="HSE06").settings_hash()
    with pytest.raises(ValueError, match="structure_search trains its surrogate"):
        parse_campaign({**data, "properties": ["relaxation", "structure_search"]})

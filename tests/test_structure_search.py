"""Structure search (seed 002): ShakeNBreak candidates, SOAP unique minima, the CHGNet surrogate, and the search
running through the LaunchPad into the ground state every later step reads."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml
from click.testing import CliRunner
from jobflow.core.reference import ResolvedReference
from maggma.cli.serial import serial
from monty.json import jsanitize
from pymatgen.core import Structure

from defectscreen.analysis.defect_fingerprints import cosine_distances, defect_site_fingerprints, unique_minima
from defectscreen.analysis.distortion_prior import (
    SearchedDefect,
    distortion_prior,
    prior_candidates,
    reconstruction_fractions,
)
from defectscreen.analysis.distortions import distortion_candidates, first_shell
from defectscreen.builders import DefectBuilder
from defectscreen.cli.main import cli
from defectscreen.flows.campaign import CampaignError, load_campaign, parse_campaign
from defectscreen.flows.hosts import prototype_structure
from defectscreen.jobs.search import SearchBenchmarkMaker, full_search_relaxations, minima_to_send
from defectscreen.mlip.surrogate import (
    ChgnetSurrogate,
    Frame,
    SurrogateSettings,
    cell_offsets,
    errors,
    fine_tune,
    select_frames,
    stored_surrogate,
    surrogate_backend,
)
from defectscreen.schemas import CalculationLabels, FullSearchDocument, StructureSearchDocument, TaskDocument
from defectscreen.schemas.tasks import EngineRecord
from defectscreen.storage import StorageSettings
from defectscreen.storage.query import structure_searches
from defectscreen.storage.submission import submit_campaign
from defectscreen.storage.worker import run_worker

CDTE_BOND_ANGSTROM = 6.481 * np.sqrt(3) / 4


def _vacancy_cell() -> tuple[Structure, Structure, list[float]]:
    bulk = prototype_structure("zincblende-CdTe") * (2, 2, 2)
    site = bulk[0].frac_coords.tolist()
    defect = bulk.copy()
    defect.remove_sites([0])
    return defect, bulk, site


def _distances(structure: Structure, site: list[float]) -> np.ndarray:
    return structure.lattice.get_all_distances([site], structure.frac_coords)[0]


def test_bond_distortions_move_as_many_neighbours_as_the_electron_count_says() -> None:
    """v_Cd⁰ in CdTe misses two electrons: two Te neighbours at (1 + d) × the bulk bond, the others untouched by
    the distortion; v_Cd²⁻ is fully compensated, so only the rattle and the dimer remain."""
    defect, bulk, site = _vacancy_cell()
    candidates = distortion_candidates(defect, bulk, site, "vacancy", 0)
    assert len(candidates) == 14 and "Dimer" in candidates
    for factor in (-0.4, 0.3):
        distorted = candidates[f"Bond_Distortion_{100 * factor:.1f}%"]
        assert [s.specie.symbol for s in distorted] == [s.specie.symbol for s in defect]
        nearest = np.sort(_distances(distorted, site)[first_shell(defect, site, None)])
        moved = nearest[:2] if factor < 0 else nearest[2:]
        assert moved == pytest.approx([(1 + factor) * CDTE_BOND_ANGSTROM] * 2, abs=1e-3)
    dimer = candidates["Dimer"]
    shell = first_shell(defect, site, None)
    pair = dimer.distance_matrix[np.ix_(shell, shell)]
    assert pair[pair > 0].min() < 0.7 * CDTE_BOND_ANGSTROM * np.sqrt(8 / 3)  # Te–Te 4.58 Å in the bulk
    assert sorted(distortion_candidates(defect, bulk, site, "vacancy", -2)) == ["Dimer", "Rattled"]


def test_mixed_neighbour_shell_adds_every_pair() -> None:
    """CdSe_xTe_1-x-like shell (one Te neighbour replaced by Se): the seed's finer search adds 6 pairs × 5
    compressions, each compressing exactly that pair."""
    defect, bulk, site = _vacancy_cell()
    shell = first_shell(defect, site, None)
    defect.replace(shell[0], "Se")
    bulk_alloy = bulk.copy()
    bulk_alloy.replace(shell[0] + 1, "Se")
    candidates = distortion_candidates(defect, bulk_alloy, site, "vacancy", 0)
    pairs = [name for name in candidates if name.startswith("Pair_")]
    assert len(pairs) == 30
    i, j = shell[1], shell[2]
    compressed = candidates[f"Pair_{i}-{j}_Bond_Distortion_-50.0%"]
    assert _distances(compressed, site)[[i, j]] == pytest.approx([0.5 * CDTE_BOND_ANGSTROM] * 2, abs=1e-3)
    assert len(distortion_candidates(defect, bulk_alloy, site, "vacancy", 0, neighbour_pairs=False)) == 14


def test_defect_site_fingerprint_sees_motifs_not_translations() -> None:
    """The SOAP cosine distance is 0 for the same cell translated rigidly (site moved along), and above the
    search's threshold for a Te–Te dimer at the vacancy."""
    defect, bulk, site = _vacancy_cell()
    centre = defect.lattice.get_cartesian_coords(site)
    shifted = defect.copy()
    shifted.translate_sites(list(range(len(shifted))), [0.13, 0.07, -0.21])
    dimer = distortion_candidates(defect, bulk, site, "vacancy", 0)["Dimer"]
    fingerprints = defect_site_fingerprints([defect, shifted, dimer], [
        centre, centre + shifted.lattice.get_cartesian_coords([0.13, 0.07, -0.21]), centre])
    distances = cosine_distances(fingerprints)
    assert distances[0, 1] < 1e-9
    assert distances[0, 2] > 1e-3
    assert np.allclose(distances, distances.T) and np.allclose(np.diag(distances), 0, atol=1e-12)


def test_unique_minima_are_the_lowest_member_of_each_cluster() -> None:
    distances = np.array([[0, 1e-5, 0.2, 0.2], [1e-5, 0, 0.2, 0.2], [0.2, 0.2, 0, 0.3], [0.2, 0.2, 0.3, 0]])
    assert unique_minima([-1.0, -2.0, -0.5, -3.0], distances, 1e-3) == [1, 1, 2, 3]


def test_minima_sent_to_the_reference_by_window_and_count() -> None:
    """Every unique minimum but the unperturbed one by default, lowest first; a window measured from the lowest
    minimum (the unperturbed one counts); at most max_sent."""
    energies = {"Unperturbed": 0.0, "A": -0.5, "B": 0.2, "C": 1.0}
    minima = ["A", "Unperturbed", "B", "C"]
    assert minima_to_send(minima, energies) == ["A", "B", "C"]
    assert minima_to_send(minima, energies, within_eV=0.8) == ["A", "B"]
    assert minima_to_send(minima, energies, max_sent=1) == ["A"]
    assert minima_to_send(["Unperturbed", "B"], energies, within_eV=0.1) == []
    assert minima_to_send(minima, energies, max_sent=0) == []
    assert minima_to_send([], {}) == []  # no surrogate ran (search.max_sent 0)


def test_family_prior_ranks_distortions_by_the_reconstruction_they_recover() -> None:
    """Fractions of the reconstruction energy, clipped to [0, 1]: a defect with nothing below its unperturbed
    relaxation says nothing; an unconverged candidate or one the defect lacks counts 0; the mean ranks."""
    deep = SearchedDefect({"Dimer": -2.0, "Bond_Distortion_-60.0%": -1.0, "Bond_Distortion_60.0%": 0.5,
                           "Bond_Distortion_0.0%": None}, unperturbed_energy_eV=0.0)
    assert reconstruction_fractions(deep, 0.01) == {"Dimer": 1.0, "Bond_Distortion_-60.0%": 0.5,
                                                    "Bond_Distortion_60.0%": 0.0, "Bond_Distortion_0.0%": 0.0}
    flat = SearchedDefect({"Dimer": -10.004, "Bond_Distortion_-60.0%": -9.995}, unperturbed_energy_eV=-10.0)
    assert reconstruction_fractions(flat, 0.01) is None and reconstruction_fractions(flat, 0.001) is not None
    shallow = SearchedDefect({"Bond_Distortion_-60.0%": -5.3, "Dimer": -5.2, "Pair_1-2_Bond_Distortion_-40.0%": -5.3},
                             unperturbed_energy_eV=-5.0)
    prior = distortion_prior([deep, flat, shallow], 0.01)
    assert [name for name, _ in prior] == ["Dimer", "Bond_Distortion_-60.0%", "Pair_1-2_Bond_Distortion_-40.0%"]
    assert [mean for _, mean in prior] == pytest.approx([(1.0 + 2 / 3) / 2, (0.5 + 1.0) / 2, 0.5])
    assert distortion_prior([flat], 0.01) == []
    ranked = ["Pair_1-2_Bond_Distortion_-40.0%", "Dimer", "Bond_Distortion_-60.0%"]  # the pair names another cell
    assert prior_candidates(ranked, {"Dimer": 0, "Bond_Distortion_-60.0%": 0}, 1) == ["Dimer"]


def test_surrogate_training_frames_offsets_and_model_round_trip(tmp_path: Path) -> None:
    """Frames above the window are dropped and the rest evenly thinned; the per-cell offsets put the starting model
    exactly on each cell's last frame (zero relative-energy error there); the fine-tuned model file reloads to
    the same predictions."""
    defect, _, _ = _vacancy_cell()
    rng = np.random.default_rng(0)
    trajectory = [Frame(defect.copy().perturb(0.05 * (10 - i), 0.05 * (10 - i)) if i < 10 else defect.copy(),
                        -100.0 - i + (50.0 if i == 1 else 0.0), rng.normal(0, 0.1, (len(defect), 3)), "v_Cd")
                  for i in range(11)]
    kept = select_frames(trajectory, 4, 15.0)
    assert trajectory[1] not in kept and kept[0] is trajectory[0] and kept[-1] is trajectory[-1] and len(kept) == 4
    model = ChgnetSurrogate.starting("chgnet-0.3.0")
    offsets = cell_offsets(model, kept)
    assert errors(model, [kept[-1]], offsets)["energy_mae_meV_per_atom"] == pytest.approx(0, abs=1e-3)
    result = fine_tune(kept[:-1], [kept[-1]], SurrogateSettings(epochs=1, validation_fraction=0.25), tmp_path)
    assert result["n_training_frames"] + result["n_validation_frames"] == 4
    assert result["starting_model"]["name"] == "chgnet-0.3.0"
    energies, forces = stored_surrogate(result["model_base64"], "chgnet-0.3.0", tmp_path).predict([defect])
    again, _ = stored_surrogate(result["model_base64"], "chgnet-0.3.0", tmp_path).predict([defect])
    assert np.isfinite(energies).all() and energies == pytest.approx(again, abs=1e-6) and forces[0].shape == (15, 3)


@pytest.mark.slow(seconds=120)
def test_a_sevennet_surrogate_learns_the_reference_and_relaxes_with_it(tmp_path: Path) -> None:
    """SevenNet-0 (shipped in the sevenn wheel) fine-tuned on EMT frames of a Cu vacancy cell in the SevenNet
    environment: the held-out force error falls below SevenNet-0's own, the document records the checkpoint it
    started from, and the stored model relaxes a rattled cell (in one subprocess) to where EMT's forces are small."""
    from ase.build import bulk as ase_bulk
    from ase.calculators.emt import EMT

    cell = ase_bulk("Cu", "fcc", a=3.61, cubic=True).repeat((2, 2, 2))
    del cell[0]
    rng = np.random.default_rng(1)

    def labelled(amplitude: float, source: str) -> Frame:
        atoms = cell.copy()
        atoms.positions += rng.normal(0, amplitude, atoms.positions.shape)
        atoms.calc = EMT()
        return Frame(Structure.from_ase_atoms(atoms), atoms.get_potential_energy(), atoms.get_forces(), source)

    frames = [labelled(amplitude, source) for source in ("a", "b", "c") for amplitude in (0.15, 0.1, 0.05, 0.02)]
    result = fine_tune(frames, [labelled(0.01, "bulk")], SurrogateSettings(
        starting_model="7net-0", epochs=3, batch_size=1, validation_fraction=0.25), tmp_path / "train")
    # measured: 7net-0 as shipped 83 meV/Å mean absolute force error on the held-out EMT frames, fine-tuned 19 (63 s);
    # relaxed with it, EMT's largest force falls from 3.4 to 0.04 eV/Å in 33 FIRE steps
    assert result["validation_errors"]["force_mae_meV_per_angstrom"] < \
        0.5 * result["validation_errors_starting_model"]["force_mae_meV_per_angstrom"]
    record = result["starting_model"]
    assert record["name"] == "7net-0" and record["source"].endswith(" wheel") and len(record["sha256"]) == 64
    assert set(result["code_versions"]) == {"sevenn", "torch", "e3nn"}
    start = labelled(0.1, "start")
    model = stored_surrogate(result["model_base64"], "7net-0", tmp_path / "search")
    (relaxed, energy, steps, converged), = model.relax({"rattled": start.structure}, 0.05, 300).values()
    atoms = relaxed.to_ase_atoms()
    atoms.calc = EMT()
    assert converged and 0 < steps <= 300 and np.isfinite(energy)
    assert np.abs(atoms.get_forces()).max() < 0.2 < np.abs(start.forces_eV_per_angstrom).max()


def _relaxation(labels: CalculationLabels, name: str | None, energy_eV: float, wall_time_s: float,
                converged: bool = True) -> TaskDocument:
    return TaskDocument.model_construct(labels=labels, search_candidate=name, energy_eV=energy_eV,
                                        wall_time_s=wall_time_s, converged=converged)


def test_benchmark_reads_the_candidate_start_route_from_the_full_search() -> None:
    """A reconstruction the surrogate relaxes away: the sent minimum (−60 %) relaxed from its surrogate geometry
    returns to the unperturbed energy, the same candidate relaxed from its ShakeNBreak structure (in the full search)
    reaches the ground state. Both routes are recorded, with wall times that add up their own relaxations."""
    labels = CalculationLabels(calculation_id="CdTe:v_Cd:0", campaign="c", host="CdTe", defect_name="v_Cd",
                               defect_type="vacancy", defect_elements=["Cd"], element_changes={"Cd": -1}, charge=0,
                               spin_multiplicity=1)
    names = ["Bond_Distortion_-60.0%", "Bond_Distortion_0.0%", "Bond_Distortion_60.0%", "Dimer"]
    energies = [-2.9, -5.0, -0.1, 0.3]  # the rattle (0 %) ran out of steps: its −5 eV is no ground state
    full = FullSearchDocument.model_construct(
        calculation_id=labels.calculation_id, labels=labels, candidates=names, not_finished=[], wall_time_s=406.0,
        relaxations=[_relaxation(labels, n, e, 100.0 + i, converged=n != "Bond_Distortion_0.0%")
                     for i, (n, e) in enumerate(zip(names, energies))])
    search = StructureSearchDocument.model_construct(
        calculation_id=labels.calculation_id, labels=labels, sent_to_reference=["Bond_Distortion_-60.0%", "Dimer"],
        wall_time_s=7.0, campaign_sha256="x")
    unperturbed = _relaxation(labels, None, 0.0, 50.0)
    sent = [_relaxation(labels, "Bond_Distortion_-60.0%", 0.0, 20.0), _relaxation(labels, "Dimer", 0.2, 30.0)]
    maker = SearchBenchmarkMaker(tolerance_eV=0.01)
    record = SearchBenchmarkMaker.make.original(maker, search, unperturbed, full, sent, 3.0)
    assert record.full_ground_state == "Bond_Distortion_-60.0%" and record.reconstruction_energy_eV == -2.9
    assert record.surrogate_ground_state == "Unperturbed" and not record.ground_state_found
    assert record.energy_difference_eV == pytest.approx(2.9)
    assert record.reference_relaxations_saved_percent == pytest.approx(40.0)  # 3 of 5
    route = record.candidate_start
    assert route.ground_state == "Bond_Distortion_-60.0%" and route.ground_state_found
    assert route.energy_difference_eV == pytest.approx(0.0)
    assert record.wall_time_full_s == pytest.approx(50 + 100 + 101 + 102 + 103)
    assert record.wall_time_surrogate_s == pytest.approx(50 + 7 + 3 + 20 + 30)
    assert route.wall_time_s == pytest.approx(50 + 7 + 3 + 100 + 103)
    assert route.speedup == pytest.approx(record.wall_time_full_s / route.wall_time_s)


def test_search_settings_errors_name_the_field() -> None:
    base = {"name": "s", "hosts": [{"name": "CdTe", "prototype": "zincblende-CdTe"}]}
    with pytest.raises(CampaignError, match="structure_search is computed from relaxation"):
        parse_campaign({**base, "properties": ["unrelaxed_energy", "structure_search"]})
    with pytest.raises(CampaignError, match=r"search\.surrogate.*epochz"):
        parse_campaign({**base, "search": {"surrogate": {"epochz": 3}}})
    two = {**base, "hosts": [*base["hosts"], {"name": "ZnSe", "prototype": "zincblende-ZnSe"}]}
    with pytest.raises(CampaignError, match="set search.benchmark: true"):
        parse_campaign({**two, "search": {"training_hosts": "all_others"}})
    with pytest.raises(CampaignError, match=r"search.training_hosts: ZnS not among the hosts \(CdTe, ZnSe\)"):
        parse_campaign({**two, "search": {"training_hosts": ["ZnS"]}})
    with pytest.raises(CampaignError, match="no host is left to search"):
        parse_campaign({**two, "search": {"training_hosts": ["ZnSe", "CdTe"]}})
    with pytest.raises(CampaignError, match=r"search.prior_candidates .* list search.training_hosts or name a "
                                            r"search.training_campaign, or set search.prior_candidates: 0"):
        parse_campaign({**two, "search": {"prior_candidates": 1}})
    with pytest.raises(CampaignError, match=r"search.max_sent: 0 .* search would relax nothing but the unperturbed "
                                            r"cell: raise max_sent \(or leave it out\), or set prior_candidates"):
        parse_campaign({**two, "search": {"max_sent": 0, "training_hosts": ["ZnSe"]}})
    for missing in ("7net-mf-0", "/nowhere/model.pth"):  # a model not shipped, a checkpoint not on this machine
        with pytest.raises(FileNotFoundError, match=r"search.surrogate.starting_model: .* chgnet-0.3.0, 7net-0, "
                                                    r"7net-l3i5"):
            surrogate_backend(missing).starting(missing)


def _cdte_relaxation(cid: str, candidate: str | None, energy_eV: float, converged: bool = True,
                     structure: Structure | None = None) -> TaskDocument:
    """A reference relaxation of CdTe's v_Cd⁰ cell (its unperturbed cell where ``structure`` is not given)."""
    structure = structure or _vacancy_cell()[0]
    labels = CalculationLabels(calculation_id=cid, campaign="c", host="CdTe", defect_name="v_Cd",
                               defect_type="vacancy", defect_elements=["Cd"], element_changes={"Cd": -1},
                               charge=0, spin_multiplicity=1)
    engine = EngineRecord(name="xtb", settings={}, settings_hash="0", is_dft=False, code_versions={})
    return TaskDocument(task_label="relax_candidate" if candidate else "relax", labels=labels,
                        input_structure=structure, structure=structure, n_atoms=len(structure), formula="Cd15Te16",
                        energy_eV=energy_eV, forces_eV_per_angstrom=[[0.0] * 3] * len(structure),
                        max_force_eV_per_angstrom=0.0, converged=converged, n_ionic_steps=1,
                        relaxation_energies_eV=[energy_eV], engine=engine, wall_time_s=1.0,
                        defectscreen_version="t", campaign_sha256="c", search_candidate=candidate)


def test_a_benchmark_search_reads_the_prior_candidates_from_the_full_search() -> None:
    """In benchmark mode the prior's candidates are the full search's, relaxed from the same ShakeNBreak starts:
    each is read from the full search (a reference to that document's entry), none relaxed twice; an entry relaxed
    from another start is not."""
    defect, bulk, site = _vacancy_cell()
    starts = distortion_candidates(defect, bulk, site, "vacancy", 0, 0.6, "auto")
    moved = starts["Dimer"].copy()
    moved.translate_sites([0], [0.01, 0, 0], frac_coords=False)
    cid = "CdTe:v_Cd:0"
    full = FullSearchDocument(
        calculation_id=cid, labels=_cdte_relaxation(cid, None, 0.0).labels, candidates=list(starts),
        relaxations=[_cdte_relaxation(cid, "Bond_Distortion_-60.0%", -2.0, structure=starts["Bond_Distortion_-60.0%"]),
                     _cdte_relaxation(cid, "Dimer", -1.5, structure=moved)],
        not_finished=[], distortion_increment=0.6, wall_time_s=2.0, campaign_sha256="c", parent_uuids=[],
        defectscreen_version="t")
    arrived = ResolvedReference(uuid="full", attributes=(), value=full)  # jobflow hands the document over as such
    read_back = full_search_relaxations(arrived, {n: starts[n] for n in ("Bond_Distortion_-60.0%", "Dimer")})
    assert list(read_back) == ["Bond_Distortion_-60.0%"]
    entry = read_back["Bond_Distortion_-60.0%"]
    assert entry.uuid == "full" and entry.attributes == (("a", "relaxations"), ("i", 0))
    assert entry.value.energy_eV == -2.0 and jsanitize(entry, strict=True)["value"]["energy_eV"] == -2.0
    assert full_search_relaxations(None, starts) == {}


def test_full_searches_are_read_back_with_their_unperturbed_relaxation(store_mode: str) -> None:
    """Each stored full search comes back with the campaign's unperturbed relaxation of its cell and only its
    converged candidates; a search whose unperturbed relaxation is not stored is left out; a cell searched on two
    grids gives the finer grid's search, or the one asked for. On both stores."""
    from defectscreen.jobs.search import UNPERTURBED
    from defectscreen.storage.query import full_search_minima

    store = StorageSettings.from_environment().job_store()
    store.connect()

    def full_search(cid: str, relaxations: list[TaskDocument], increment: float) -> dict:
        full = FullSearchDocument(
            calculation_id=cid, labels=_cdte_relaxation(cid, None, 0.0).labels,
            candidates=[t.search_candidate for t in relaxations], relaxations=relaxations, not_finished=[],
            distortion_increment=increment, wall_time_s=2.0, campaign_sha256="c", parent_uuids=[],
            defectscreen_version="t")
        return {"uuid": f"full {cid} {increment}", "index": 1, "output": jsanitize(full, strict=True)}

    coarse = {cid: [_cdte_relaxation(cid, "Dimer", -1.5),
                    _cdte_relaxation(cid, "Bond_Distortion_-60.0%", -9.0, converged=False)]
              for cid in ("CdTe:v_Cd:0", "CdTe:v_Cd:-1")}
    finer = [*coarse["CdTe:v_Cd:0"], _cdte_relaxation("CdTe:v_Cd:0", "Bond_Distortion_-30.0%", -2.0)]
    documents = [full_search("CdTe:v_Cd:0", finer, 0.3), *(full_search(c, r, 0.6) for c, r in coarse.items()),
                 {"uuid": "unperturbed", "index": 1,
                  "output": jsanitize(_cdte_relaxation("CdTe:v_Cd:0", None, -1.0), strict=True)}]
    store.update(documents, key=["uuid", "index"])
    minima = full_search_minima(store)
    assert list(minima) == ["CdTe:v_Cd:0"]  # v_Cd:-1 has no unperturbed relaxation stored
    assert {name: t.energy_eV for name, t in minima["CdTe:v_Cd:0"].items()} == {
        UNPERTURBED: -1.0, "Dimer": -1.5, "Bond_Distortion_-30.0%": -2.0}
    coarse_grid = full_search_minima(store, distortion_increment=0.6)["CdTe:v_Cd:0"]
    assert {name: t.energy_eV for name, t in coarse_grid.items()} == {UNPERTURBED: -1.0, "Dimer": -1.5}
    assert full_search_minima(store, "CdTe:v_Cd:-1") == {}


def test_training_hosts_feed_the_other_hosts_surrogates(tmp_path: Path, store_mode: str) -> None:
    """ZnSe as training host: its defects get full searches (every candidate relaxed with the engine) that fix
    its ground states; CdTe's surrogate of each charge waits on ZnSe's bulk relaxation and on ZnSe's full searches
    of that charge only; everything lands in one workflow, and resubmitting adds nothing. A later campaign naming it
    as training_campaign is refused while its searches have not run. On the embedded store and on MongoDB."""
    settings = StorageSettings.from_environment()
    path = tmp_path / "campaign.yaml"
    path.write_text(yaml.safe_dump({
        **CAMPAIGN, "hosts": [*CAMPAIGN["hosts"], {"name": "ZnSe", "prototype": "zincblende-ZnSe"}],
        "defects": {"vacancies": True}, "charges": {"default": [0, -1]}, "search": {"training_hosts": ["ZnSe"]}}))
    campaign, base_dir = load_campaign(path)
    launchpad, campaigns = settings.launchpad(), settings.collection("campaigns", "name")
    submit_campaign(campaign, base_dir, launchpad, campaigns)
    assert len(launchpad.get_wf_ids()) == 1
    fireworks = {fw["name"]: fw for fw in launchpad.fireworks.find({}, {"name": 1, "fw_id": 1, "spec._tasks": 1})}
    uuid = {name: fw["spec"]["_tasks"][0]["job"]["uuid"] for name, fw in fireworks.items()}
    names = sorted(fireworks)
    assert [n for n in names if n.startswith("full_search")] == [
        f"full_search ZnSe:{d}:{q}" for d in ("v_Se", "v_Zn") for q in (-1, 0)]
    assert not [n for n in names if n.startswith(("surrogate ZnSe", "structure_search ZnSe", "full_search CdTe"))]
    links = {int(parent): children for parent, children in launchpad.workflows.find_one({})["links"].items()}
    for charge in (0, -1):
        surrogate = fireworks[f"surrogate CdTe:surrogate:{charge}"]
        parents = {fw_id for fw_id, children in links.items() if surrogate["fw_id"] in children}
        expected = {"relax CdTe:bulk", "relax ZnSe:bulk", f"relax CdTe:v_Cd:{charge}", f"relax CdTe:v_Te:{charge}",
                    f"full_search ZnSe:v_Zn:{charge}", f"full_search ZnSe:v_Se:{charge}"}
        assert parents == {fireworks[n]["fw_id"] for n in expected}
        arguments = surrogate["spec"]["_tasks"][0]["job"]["function_kwargs"]
        assert sorted(r["uuid"] for r in arguments["related_searches"]) == sorted(
            uuid[f"full_search ZnSe:{d}:{charge}"] for d in ("v_Zn", "v_Se"))
    ground = fireworks["ground_state ZnSe:v_Zn:0"]["spec"]["_tasks"][0]["job"]["function_args"]
    assert ground[1]["uuid"] == uuid["full_search ZnSe:v_Zn:0"] and ground[1]["attributes"] == [["a", "relaxations"]]
    assert submit_campaign(campaign, base_dir, launchpad).new_jobs == 0

    later = {**CAMPAIGN, "name": "zns-search", "hosts": [{"name": "ZnS", "prototype": "zincblende-ZnS"}],
             "defects": {"vacancies": ["Zn"]},
             "search": {"training_campaign": "cdte-search"}}
    for data, message in (
            (later, r"5 part\(s\) of campaign 'cdte-search''s full searches have not finished \(ZnSe:bulk relaxation, "
                    r"ZnSe:v_Se:-1 \(READY, unperturbed relaxation not finished\)"),
            (later | {"search": {"training_campaign": "cdte"}}, r"no campaign 'cdte' .*\(campaigns here: cdte-search\)"),
            (later | {"relax": {"fmax_eV_per_angstrom": 0.05}}, "'cdte-search' searched with other relax settings")):
        path.write_text(yaml.safe_dump(data))
        with pytest.raises(CampaignError, match=message):
            submit_campaign(*load_campaign(path), launchpad, campaigns)
    with pytest.raises(CampaignError, match="search.training_campaign names this campaign"):
        parse_campaign(later | {"search": {"training_campaign": "zns-search"}})


def test_the_family_prior_reads_every_charge_of_the_training_hosts_full_searches(tmp_path: Path,
                                                                               store_mode: str) -> None:
    """search.prior_candidates on a campaign searched before without it: only the searches are new (the surrogates
    are the same), and each reads ZnSe's full searches of both charge states with their cells' unperturbed
    relaxations, in pairs, and waits on them. On the embedded store and on MongoDB."""
    settings = StorageSettings.from_environment()
    launchpad = settings.launchpad()
    path = tmp_path / "campaign.yaml"
    data = {**CAMPAIGN, "hosts": [*CAMPAIGN["hosts"], {"name": "ZnSe", "prototype": "zincblende-ZnSe"}],
            "defects": {"vacancies": True}, "charges": {"default": [0, -1]},
            "search": {"training_hosts": ["ZnSe"], "distortion_increment": 0.6}}
    path.write_text(yaml.safe_dump(data))
    submit_campaign(*load_campaign(path), launchpad)
    path.write_text(yaml.safe_dump(data | {"search": {**data["search"], "prior_candidates": 1}}))
    report = submit_campaign(*load_campaign(path), launchpad)
    assert report.new_jobs == 4 and report.already_submitted > 0  # CdTe's four searches
    fireworks = {}
    for fw in launchpad.fireworks.find({}, {"name": 1, "fw_id": 1, "spec._tasks": 1}):
        fireworks.setdefault(fw["name"], []).append(fw)
    uuid = {name: fws[0]["spec"]["_tasks"][0]["job"]["uuid"] for name, fws in fireworks.items()}
    assert len(fireworks["surrogate CdTe:surrogate:0"]) == 1
    newest = max(fireworks["structure_search CdTe:v_Cd:0"], key=lambda fw: fw["fw_id"])
    arguments = newest["spec"]["_tasks"][0]["job"]["function_kwargs"]
    cells = [f"ZnSe:{d}:{q}" for d in ("v_Se", "v_Zn") for q in (-1, 0)]
    pairs = sorted(zip([r["uuid"] for r in arguments["related_searches"]],
                       [r["uuid"] for r in arguments["related_unperturbed"]]))
    assert pairs == sorted((uuid[f"full_search {c}"], uuid[f"relax {c}"]) for c in cells)
    links = {int(parent): children for parent, children in launchpad.workflows.find_one({})["links"].items()}
    parents = {fw_id for fw_id, children in links.items() if newest["fw_id"] in children}
    assert {fireworks[f"full_search {c}"][0]["fw_id"] for c in cells} <= parents

    path.write_text(yaml.safe_dump(data | {"search": {**data["search"], "prior_candidates": 1, "max_sent": 0}}))
    alone = submit_campaign(*load_campaign(path), launchpad)
    assert alone.new_jobs == 4  # the searches, without a surrogate
    newest = launchpad.fireworks.find_one({"name": "structure_search CdTe:v_Cd:0"}, sort=[("fw_id", -1)])
    assert newest["spec"]["_tasks"][0]["job"]["function_args"][4] is None
    assert launchpad.fireworks.count_documents({"name": {"$regex": "^surrogate"}}) == 2


def test_a_benchmark_without_one_host_trains_new_surrogates_and_drops_the_hosts_searches(tmp_path: Path,
                                                                                       store_mode: str) -> None:
    """training_hosts: all_others means the other hosts of each version: with ZnS left out of a three-host benchmark,
    CdTe's surrogates are new jobs that learn from ZnSe only, not the three-host ones. ZnS's v_S⁰ full search has
    run, so only the candidate relaxations it added are queued: drop_superseded pauses those with every queued job
    of ZnS and the three-host surrogates, and the three-host version submitted again resumes them, adding nothing."""
    settings = StorageSettings.from_environment()
    launchpad = settings.launchpad()
    hosts = [*CAMPAIGN["hosts"], {"name": "ZnSe", "prototype": "zincblende-ZnSe"},
             {"name": "ZnS", "prototype": "zincblende-ZnS"}]
    three, two = tmp_path / "three.yaml", tmp_path / "two.yaml"
    data = {**CAMPAIGN, "hosts": hosts, "defects": {"vacancies": True},
            "search": {"benchmark": True, "training_hosts": "all_others", "distortion_increment": 0.6}}
    three.write_text(yaml.safe_dump(data))
    two.write_text(yaml.safe_dump(data | {"hosts": hosts[:2]}))
    submit_campaign(*load_campaign(three), launchpad)
    launchpad.fireworks.update_one({"name": "full_search ZnS:v_S:0"}, {"$set": {"spec._priority": 100}})
    run_worker(settings, max_jobs=1)

    def zns_states() -> dict[str, str]:
        return {fw["name"]: fw["state"] for fw in launchpad.fireworks.find({"spec.defectscreen.host": "ZnS"})}

    candidates = [name for name in zns_states() if name.startswith("relax_candidate ZnS:v_S:0")]
    assert len(candidates) == 4 and zns_states()["full_search ZnS:v_S:0"] == "COMPLETED"
    old_surrogates = {fw["fw_id"] for fw in launchpad.fireworks.find({"name": {"$regex": "^surrogate CdTe"}})}

    report = submit_campaign(*load_campaign(two), launchpad, drop_superseded=True)
    assert "full_search ZnS:v_S:0" in report.dropped and "surrogate CdTe:surrogate:0" in report.dropped
    assert {state for name, state in zns_states().items() if state != "COMPLETED"} == {"PAUSED"}
    surrogates = list(launchpad.fireworks.find({"name": "surrogate CdTe:surrogate:0"}))
    new = [fw for fw in surrogates if fw["fw_id"] not in old_surrogates]
    assert len(surrogates) == 2 and len(new) == 1
    learned_from = {fw["spec"]["_tasks"][0]["job"]["uuid"]: fw["name"] for fw in launchpad.fireworks.find(
        {"name": {"$regex": "^full_search"}})}
    assert sorted(learned_from[r["uuid"]] for r in new[0]["spec"]["_tasks"][0]["job"]["function_kwargs"][
        "related_searches"]) == ["full_search ZnSe:v_Se:0", "full_search ZnSe:v_Zn:0"]
    assert {fw["state"] for fw in surrogates if fw["fw_id"] in old_surrogates} == {"PAUSED"}

    again = submit_campaign(*load_campaign(three), launchpad)
    assert again.new_jobs == 0 and "full_search ZnS:v_S:0" in again.resumed
    assert {zns_states()[name] for name in candidates} == {"READY"}



def test_a_finer_grid_reads_the_candidates_a_coarser_one_relaxed(tmp_path: Path, store_mode: str) -> None:
    """A full search on the 30 % grid after one on the 60 % grid relaxes only the two distortions the coarser grid
    lacks: ShakeNBreak names a distortion by its size, so the ±60 % starts are the same structures, and their
    reference relaxations (same engine and relaxation settings) are read, with their uuids as the document's
    parents. On the embedded store and on MongoDB."""
    settings = StorageSettings.from_environment()
    launchpad = settings.launchpad()
    path = tmp_path / "campaign.yaml"
    data = {**CAMPAIGN, "hosts": [*CAMPAIGN["hosts"], {"name": "ZnSe", "prototype": "zincblende-ZnSe"}],
            "defects": {"vacancies": True}, "relax": {"fmax_eV_per_angstrom": 0.5, "max_steps": 3},
            "search": {"training_hosts": ["ZnSe"], "distortion_increment": 0.6}}
    cell = "ZnSe:v_Se:0"

    def run_first(query: dict) -> list[dict]:
        """Run the queued jobs ``query`` finds before any other; returns them."""
        first = list(launchpad.fireworks.find(query | {"state": {"$in": ["READY", "WAITING"]}}))
        launchpad.fireworks.update_many({"fw_id": {"$in": [fw["fw_id"] for fw in first]}},
                                        {"$set": {"spec._priority": 100}})
        run_worker(settings, max_jobs=len(first))
        assert {fw["state"] for fw in launchpad.fireworks.find({"fw_id": {"$in": [f["fw_id"] for f in first]}})} == {
            "COMPLETED"}
        return first

    def run_full_search() -> tuple[dict[str, str], FullSearchDocument]:
        """Run the newest full search of the cell with what it adds; (candidate -> uuid of each relaxation it
        added, its document)."""
        newest = launchpad.fireworks.find_one({"name": f"full_search {cell}"}, sort=[("fw_id", -1)])
        added = run_first({"fw_id": {"$gt": run_first({"fw_id": newest["fw_id"]})[0]["fw_id"]},
                           "spec.made_by": newest["spec"]["_tasks"][0]["job"]["uuid"]})
        relaxations = {fw["name"].split()[2]: fw["spec"]["_tasks"][0]["job"]["uuid"] for fw in added
                       if fw["name"].startswith("relax_candidate")}
        collection, = (fw["spec"]["_tasks"][0]["job"]["uuid"] for fw in added if fw["name"] == "full search collection")
        store = settings.job_store()
        store.connect()
        output = store.query_one({"uuid": collection}, load=True)["output"]
        return relaxations, FullSearchDocument.model_validate(output)

    path.write_text(yaml.safe_dump(data))
    submit_campaign(*load_campaign(path), launchpad)
    run_first({"name": {"$regex": "^relax "}})  # the cells' own relaxations, which the next version's jobs read
    coarse_uuids, coarse = run_full_search()
    assert sorted(coarse_uuids) == sorted(coarse.candidates) and "Bond_Distortion_60.0%" in coarse.candidates

    path.write_text(yaml.safe_dump(data | {"search": {**data["search"], "distortion_increment": 0.3}}))
    submit_campaign(*load_campaign(path), launchpad)
    fine_uuids, fine = run_full_search()
    assert sorted(fine_uuids) == ["Bond_Distortion_-30.0%", "Bond_Distortion_30.0%"]
    assert set(fine.candidates) == set(coarse.candidates) | set(fine_uuids) and not fine.not_finished
    coarse_energy = {t.search_candidate: t.energy_eV for t in coarse.relaxations}
    assert {t.search_candidate: t.energy_eV for t in fine.relaxations if t.search_candidate in coarse_energy} == (
        coarse_energy)
    assert set(coarse_uuids.values()) | set(fine_uuids.values()) <= set(fine.parent_uuids)

CAMPAIGN = {
    "name": "cdte-search",
    "hosts": [{"name": "CdTe", "prototype": "zincblende-CdTe"}],
    "defects": {"vacancies": ["Cd"]},
    "charges": {"default": [0]},
    "supercell": {"matrix": [[2, 0, 0], [0, 2, 0], [0, 0, 2]]},
    "engine": {"name": "xtb", "method": "GFN1-xTB"},
    "relax": {"fmax_eV_per_angstrom": 0.1, "max_steps": 200},
    "properties": ["relaxation", "structure_search"],
    "search": {"surrogate": {"epochs": 2}},
}


@pytest.mark.slow(seconds=700)
def test_search_flow_gives_the_lowest_reference_relaxation_as_ground_state(tmp_path: Path) -> None:
    """v_Cd⁰ in CdTe searched with a surrogate that also learned from the full search of v_Zn⁰ in ZnSe (training
    host), through the embedded LaunchPad: every candidate relaxed by the surrogate and recorded, only unique minima
    sent to GFN1-xTB, each ground state is the lowest of the reference relaxations its route made, the defect
    builder reads it, and resubmitting adds nothing. A later ZnS campaign reuses ZnSe's stored search for its
    surrogate and its family prior (the prior's best candidate relaxed from ZnS's distorted structure), then the prior
    alone (no surrogate) relaxes that candidate again to the same energy — the read-back the benchmarks rely on."""
    settings = StorageSettings(data_dir=tmp_path / "data")
    path = tmp_path / "campaign.yaml"
    path.write_text(yaml.safe_dump({
        **CAMPAIGN, "hosts": [*CAMPAIGN["hosts"], {"name": "ZnSe", "prototype": "zincblende-ZnSe"}],
        "defects": {"vacancies": ["Cd", "Zn"]},
        "search": {"distortion_increment": 0.6, "training_hosts": ["ZnSe"], "surrogate": {"epochs": 2}}}))
    campaign, base_dir = load_campaign(path)
    report = submit_campaign(campaign, base_dir, settings.launchpad(), settings.collection("campaigns", "name"))
    assert report.new_jobs == 8  # 2 bulk, 2 vacancy relaxations, ZnSe full search + ground state, surrogate, search
    run_worker(settings)
    store = settings.job_store()
    store.connect()
    stored = store.query_one({"output.@class": "StructureSearchDocument"})
    search, search_uuid = stored["output"], stored["uuid"]
    names = [c["name"] for c in search["candidates"]]
    assert names[0] == "Unperturbed" and len(names) == 5  # −60 %, 0 % (rattle), +60 %, dimer
    assert set(search["unique_minima"]) == {c["minimum"] for c in search["candidates"]}
    assert all(c["sent_to_reference"] == (c["name"] in search["sent_to_reference"]) for c in search["candidates"])
    assert search["sent_to_reference"] == [m for m in search["unique_minima"] if m != "Unperturbed"]
    assert search["selection"] == {"max_sent": None, "send_within_eV": None}

    def reference_relaxations(cid: str) -> list[dict]:
        """The unperturbed relaxation and the candidates' (not the ground-state documents chosen from them)."""
        outputs = [d["output"] for d in store.query({"output.labels.calculation_id": cid,
                                                      "output.task_label": {"$in": ["relax", "relax_candidate"]}})]
        return [o for o in outputs if o["task_label"] == "relax_candidate" or o["search_candidate"] is None]

    cdte = reference_relaxations("CdTe:v_Cd:0")
    candidates = [r for r in cdte if r["task_label"] == "relax_candidate"]
    assert sorted(r["search_candidate"] for r in candidates) == sorted(search["sent_to_reference"])
    ground = store.get_output(search_uuid, which="last").model_dump()
    lowest = min(r["energy_eV"] for r in cdte if r["converged"])
    assert ground["task_label"] == "relax" and ground["energy_eV"] == pytest.approx(lowest, abs=1e-9)
    assert ground["relaxation_frames"] and search["surrogate_uuid"] in search["parent_uuids"]
    # made by the search, from the unperturbed relaxation handed on with its uuid, and the sent minima
    assert ground["parent_uuids"][:2] == [search_uuid, search["unperturbed_uuid"]]
    assert len(ground["parent_uuids"]) == 2 + len(search["sent_to_reference"])

    full = store.query_one({"output.@class": "FullSearchDocument"}, load=True)["output"]
    assert full["calculation_id"] == "ZnSe:v_Zn:0" and len(full["candidates"]) == 4 and not full["not_finished"]
    assert sorted(r["search_candidate"] for r in full["relaxations"]) == sorted(full["candidates"])
    znse = reference_relaxations("ZnSe:v_Zn:0")
    assert len(znse) == 5
    znse_ground = next(d["output"] for d in store.query({"output.labels.calculation_id": "ZnSe:v_Zn:0",
                                                         "output.task_label": "relax"})
                       if d["output"]["search_candidate"] is not None)
    assert znse_ground["energy_eV"] == pytest.approx(min(r["energy_eV"] for r in znse if r["converged"]), abs=1e-9)

    surrogate = store.query_one({"output.@class": "SurrogateDocument"}, load=True)["output"]
    sources = [(s["calculation_id"], s["candidate"]) for s in surrogate["training_sources"]]
    assert sources[:3] == [("CdTe:bulk", None), ("CdTe:v_Cd:0", None), ("ZnSe:bulk", None)]
    assert sorted(sources[3:]) == sorted(("ZnSe:v_Zn:0", c) for c in full["candidates"])
    assert surrogate["related_hosts"] == ["ZnSe"]
    assert surrogate["n_training_frames"] + surrogate["n_validation_frames"] == sum(
        s["n_frames"] for s in surrogate["training_sources"])

    defects = settings.collection("defects", "defect_id")
    builder = DefectBuilder(store.docs_store, settings.collection("campaigns", "name"), defects,
                            settings.collection("lattice_energies", "lattice_key"))
    serial(builder, no_bars=True)  # as `defectscreen build` does; Builder.run leaves a DEBUG handler on the root logger
    defects.connect()
    for cid, energy in (("CdTe:v_Cd:0", ground["energy_eV"]), ("ZnSe:v_Zn:0", znse_ground["energy_eV"])):
        assert defects.query_one({"labels.calculation_id": cid})["energy_eV"] == pytest.approx(energy)
    table = CliRunner().invoke(cli, ["search"], env={"DEFECTSCREEN_DATA_DIR": str(settings.data_dir)})
    assert table.exit_code == 0, table.output
    rows = {line.split("│")[1].strip(): [c.strip() for c in line.split("│")[2:-1]]
            for line in table.output.splitlines() if line.startswith("│")}
    assert rows["ZnSe:v_Zn:0"][:4] == ["5", "", "all (training host)", znse_ground["search_candidate"]]
    assert rows["CdTe:v_Cd:0"][:4] == ["5", str(len(search["unique_minima"])), str(len(search["sent_to_reference"])),
                                       ground["search_candidate"]]
    again = submit_campaign(campaign, base_dir, settings.launchpad())
    assert again.new_jobs == 0

    # a later campaign on ZnS reuses ZnSe's stored full search (training_campaign) without recomputing it
    path.write_text(yaml.safe_dump({
        **CAMPAIGN, "name": "zns-search", "hosts": [{"name": "ZnS", "prototype": "zincblende-ZnS"}],
        "defects": {"vacancies": ["Zn"]},
        "search": {"distortion_increment": 0.6, "training_campaign": "cdte-search", "max_sent": 1,
                   "prior_candidates": 1, "surrogate": {"epochs": 2}}}))
    announced = []
    later = submit_campaign(*load_campaign(path), settings.launchpad(), settings.collection("campaigns", "name"),
                            announce=announced.append)
    assert later.new_jobs == 4  # bulk and vacancy relaxations, surrogate, search: no full search
    assert announced == ["search.training_campaign cdte-search: 1 stored full searches of ZnSe train the surrogates "
                         "(nothing of them recomputed)"]
    run_worker(settings)
    store.connect()
    family = store.query_one({"output.@class": "SurrogateDocument", "output.host": "ZnS"}, load=True)["output"]
    assert family["training_campaign"] == "cdte-search" and family["related_hosts"] == ["ZnSe"]
    reused = [(s["calculation_id"], s["candidate"], s["campaign"]) for s in family["training_sources"][2:]]
    assert sorted(reused) == sorted([("ZnSe:bulk", None, "cdte-search")]
                                    + [("ZnSe:v_Zn:0", c, "cdte-search") for c in full["candidates"]])
    assert store.count({"output.@class": "FullSearchDocument"}) == 1
    zns = store.query_one({"output.@class": "StructureSearchDocument", "output.labels.host": "ZnS"})["output"]
    assert zns["selection"] == {"max_sent": 1, "send_within_eV": None}
    # the family prior: ZnSe's stored full search with its unperturbed relaxation, its best candidate relaxed with the
    # engine from ZnS's distorted structure (the lowest surrogate minimum is not sent twice)
    znse_unperturbed = next(r for r in znse if r["task_label"] == "relax")
    prior = distortion_prior([SearchedDefect({r["search_candidate"]: r["energy_eV"] for r in full["relaxations"]
                                              if r["converged"]}, znse_unperturbed["energy_eV"])], 0.01)
    assert prior and list(zns["family_prior"]) == [name for name, _ in prior]
    assert list(zns["family_prior"].values()) == pytest.approx([mean for _, mean in prior])
    assert zns["sent_from_prior"] == [prior[0][0]]
    lowest = [m for m in zns["unique_minima"] if m != "Unperturbed"][:1]
    assert zns["sent_to_reference"] == [m for m in lowest if m not in zns["sent_from_prior"]]
    relaxed = {o["search_candidate"]: o for o in (d["output"] for d in store.query(
        {"output.task_label": "relax_candidate", "output.labels.host": "ZnS"}))}
    assert sorted(relaxed) == sorted([*zns["sent_to_reference"], *zns["sent_from_prior"]])
    unperturbed = reference_relaxations("ZnS:v_Zn:0")[0]
    bulk = store.query_one({"output.labels.calculation_id": "ZnS:bulk", "output.task_label": "relax"})["output"]
    labels = unperturbed["labels"]
    start = distortion_candidates(Structure.from_dict(unperturbed["input_structure"]),
                                  Structure.from_dict(bulk["input_structure"]), labels["defect_site_frac_coords"],
                                  labels["defect_type"], labels["charge"], 0.6, "auto")[prior[0][0]]
    assert np.allclose(Structure.from_dict(relaxed[prior[0][0]]["input_structure"]).cart_coords, start.cart_coords)

    rows = structure_searches(store, settings.collection("campaigns", "name"))["rows"]
    assert {row["defect"]: row["surrogate_learned_from"] for row in rows} == {
        "CdTe:v_Cd:0": "ZnSe", "ZnS:v_Zn:0": "ZnSe (stored, campaign cdte-search)", "ZnSe:v_Zn:0": None}

    # the family prior alone (max_sent 0): no surrogate, the same prior candidate relaxed to the same energy
    path.write_text(yaml.safe_dump(yaml.safe_load(path.read_text()) | {"search": {
        "distortion_increment": 0.6, "training_campaign": "cdte-search", "max_sent": 0, "prior_candidates": 1}}))
    alone = submit_campaign(*load_campaign(path), settings.launchpad(), settings.collection("campaigns", "name"))
    assert alone.new_jobs == 1  # the search; no surrogate
    run_worker(settings)
    store.connect()
    newest = max(store.query({"output.@class": "StructureSearchDocument", "output.labels.host": "ZnS"},
                             properties=["output", "completed_at"]), key=lambda d: d["completed_at"])["output"]
    assert newest["surrogate_uuid"] is None and newest["candidates"] == [] and newest["sent_to_reference"] == []
    assert newest["sent_from_prior"] == zns["sent_from_prior"] and newest["family_prior"] == zns["family_prior"]
    again = [d["output"] for d in store.query({"output.task_label": "relax_candidate", "output.labels.host": "ZnS",
                                               "output.search_candidate": prior[0][0]})]
    assert len(again) == 2 and again[0]["energy_eV"] == pytest.approx(again[1]["energy_eV"], abs=1e-6)
    rows = structure_searches(store, settings.collection("campaigns", "name"))["rows"]
    assert "no surrogate (family prior)" in [row["surrogate_learned_from"] for row in rows]

"""Bad input through every command: refused before any work with the option, field or setting named, exit code 2
(a wrong option) or 1 (a wrong file, campaign or setting), and no Python traceback on the console; an unexpected
failure prints one line and the path of a log that holds the trace."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from conftest import NV_DIAMOND, SI_CAMPAIGN

from defectscreen.cli.main import cli
from defectscreen.storage import StorageSettings

NV = ["--fc", str(NV_DIAMOND / "dfpt_hse06_FORCE_CONSTANTS.gz"), "--cell", str(NV_DIAMOND / "dfpt_hse06_POSCAR.gz"),
      "--ground", str(NV_DIAMOND / "gs_hse06_CONTCAR.gz"), "--excited", str(NV_DIAMOND / "zpl_hse06_CONTCAR.gz")]
CAPTURE = ["analyze", "capture", "--initial", str(NV_DIAMOND / "gs_CONTCAR.gz"), "--final",
           str(NV_DIAMOND / "zpl_CONTCAR.gz"), "--delta-e", "1.0", "--w-if", "0.05"]
STRUCTURE = str(NV_DIAMOND / "gs_CONTCAR.gz")

OPTION_CASES = [
    (["worker", "--max-jobs", "-1"], "--max-jobs"),
    (["worker", "--wait", "0"], "--wait"),
    (["run", "si.yaml", "--workers", "0"], "--workers"),
    (["recover", "--lost-after", "-5"], "--lost-after"),
    (["query", "--level-window", "2", "1"], "--level-window"),
    (["query", "--huang-rhys", "-1", "2"], "--huang-rhys"),
    (["query", "--deep-level", "-0.5"], "--deep-level"),
    (["report", "--out", "no-such-folder/report.html"], "--out"),
    (["formation", "--plot", "si.yaml"], "--plot"),
    (["sites", "--host", "a-SiO2"], "--defect"),
    (["sites", "--host", "a-SiO2", "--defect", "v_O", "--plot", "si.yaml"], "--plot"),
    (["analyze", "lineshape", *NV, "--zpl", "-1.945"], "--zpl"),
    (["analyze", "lineshape", *NV, "--zpl", "0"], "--zpl"),
    (["analyze", "lineshape", *NV, "--temperature", "-300"], "--temperature"),
    (["analyze", "lineshape", *NV, "--sigma-meV", "-1"], "--sigma-meV"),
    (["analyze", "lineshape", *NV, "--sigma-meV", "0"], "--sigma-meV"),
    (["analyze", "lineshape", *NV, "--out", "no-such-folder/nv"], "--out"),
    (["analyze", "lineshape", *NV, "--output", "no-such-folder/nv"], "--output"),  # the old name
    (["analyze", "lineshape", *NV, "--plot", "no-such-folder/nv.png"], "--plot"),
    ([*CAPTURE, "--Z", "-1", "--effective-mass", "0", "--dielectric", "8.9"], "--effective-mass"),
    ([*CAPTURE, "--Z", "-1", "--effective-mass", "0.2", "--dielectric", "0"], "--dielectric"),
    ([*CAPTURE, "--temperatures", "-300"], "--temperatures"),
    ([*CAPTURE, "--temperatures", "300:25:25"], "--temperatures"),
    ([*CAPTURE, "--degeneracy", "0"], "--degeneracy"),
    ([*CAPTURE, "--spin", "3"], "--spin"),
    ([*CAPTURE, "--scaling", "0"], "--scaling"),
    (["analyze", "capture", "--initial", STRUCTURE, "--final", STRUCTURE, "--delta-e", "-1"], "--delta-e"),
    (["analyze", "embed", *NV, "--atoms", "0"], "--atoms"),
    (["analyze", "embed", *NV, "--r-d", "-2"], "--r-d"),
    (["potential", "train", STRUCTURE, "--validation-fraction", "1.5"], "--validation-fraction"),
    (["potential", "train", STRUCTURE, "--threshold-meV", "-5"], "--threshold-meV"),
    (["potential", "train", STRUCTURE, "--max-epochs", "0"], "--max-epochs"),
    (["potential", "train", STRUCTURE, "--learning-rate", "0"], "--learning-rate"),
    (["potential", "train", STRUCTURE, "--huber-delta-eV", "0"], "--huber-delta-eV"),
    (["potential", "train", STRUCTURE, "--backend", "mace", "--huber-delta-eV", "1"], "--huber-delta-eV"),
    (["potential", "train", STRUCTURE, "--out", "si.yaml"], "--out"),
    (["potential", "phonons", "--model", STRUCTURE, "--structure", STRUCTURE, "--displacement", "0"], "--displacement"),
    (["potential", "phonons", "--model", STRUCTURE, "--structure", STRUCTURE, "--out", "no-such-folder/FC"], "--out"),
    (["amorphous", STRUCTURE, "--seeds", "1,x", "--out", "glass"], "--seeds"),
    (["amorphous", STRUCTURE, "--seeds", "2,2", "--out", "glass"], "--seeds"),
    (["amorphous", STRUCTURE, "--density", "0", "--out", "glass"], "--density"),
    (["amorphous", STRUCTURE, "--atoms", "3", "--out", "glass"], "--atoms"),
    (["amorphous", STRUCTURE, "--out", "si.yaml"], "--out"),
]


def _assert_refused(result, exit_code: int, named: str) -> None:
    assert result.exit_code == exit_code, result.output
    assert named in result.output, result.output
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)


@pytest.mark.parametrize(("arguments", "option"), OPTION_CASES, ids=lambda value: " ".join(value)[-60:]
                         if isinstance(value, list) else value)
def test_wrong_option_is_named_before_any_work(arguments: list[str], option: str, data_dir: Path) -> None:
    (data_dir.parent / "si.yaml").write_text(SI_CAMPAIGN)
    _assert_refused(CliRunner().invoke(cli, arguments), 2, option)
    assert not (data_dir.parent / "lineshape.json").exists() and not (data_dir.parent / "capture.json").exists()


def _campaign(tmp_path: Path, **changes) -> str:
    data = yaml.safe_load(SI_CAMPAIGN)
    for key, value in changes.items():
        section, _, field = key.partition("__")
        if field:
            data[section] = {**data.get(section, {}), field: value}
        else:
            data[section] = value
    path = tmp_path / "campaign.yaml"
    path.write_text(yaml.safe_dump(data))
    return str(path)


@pytest.mark.parametrize(("changes", "named"), [
    ({"charges__v_Sii": [0, 1]}, "charges: v_Sii names no defect of this campaign; its defects are C_Si, v_Si"),
    ({"charges__v_Si": []}, "charges: v_Si: an empty list computes nothing"),
    ({"defects__vacancies": ["Ga"]}, "defects.vacancies: element(s) Ga occur in no host"),
    ({"supercell": {"matrix": [[8, 0, 0], [0, 8, 0], [0, 0, 8]]}}, "supercell.matrix: 1024 atoms in host Si's supercell"),
    ({"supercell": {"min_length_angstrom": 1e308}}, "supercell.min_length_angstrom"),
    ({"supercell": {"min_length_angstrom": 60, "max_atoms": 100000}}, "supercell.max_atoms"),
    ({"engine": {"name": "gpaw", "kpts": [0, 0, 0]}}, "engine.gpaw.kpts.0"),
    ({"engine": {"name": "gpaw", "xc": "PBEE"}}, "engine.gpaw.xc: GPAW does not know the functional 'PBEE'"),
    ({"engine": {"name": "vasp", "incar": {"NELECT": 100}}}, "engine.vasp.incar: NELECT is set from the charge state"),
    ({"engine": {"name": "vasp", "incar": {"encut": 520}}}, "engine.vasp.incar: 'encut' is not an INCAR tag; write "
     "tags in capitals"),
    ({"engine": {"name": "vasp"}, "properties": ["relaxation", "phonons"]}, "engine vasp computes relaxation, "
     "unrelaxed_energy, formation_energy (atomate2's relaxations and single points); phonons need(s) the engine"),
    ({"engine": {"name": "vasp", "potcar_functional": "LDA"}}, "engine.vasp.potcar_functional"),
    ({"engine": {"name": "vsp"}}, "unknown engine; use name: xtb, name: gpaw or name: vasp"),
    ({"formation": {"phase_entries": "missing.json"}}, "formation.phase_entries: '"),
    ({"formation": {"phase_entries": [{"energy": 1.0}]}}, "formation.phase_entries: entry 0 is not a pymatgen "
     "ComputedEntry"),
])
def test_campaign_that_would_compute_nothing_or_too_much_is_refused(changes: dict, named: str, data_dir: Path,
                                                                    tmp_path: Path) -> None:
    _assert_refused(CliRunner().invoke(cli, ["submit", _campaign(tmp_path, **changes)]), 1, named)
    assert StorageSettings.from_environment().launchpad().fireworks.count_documents({}) == 0


def test_a_key_given_twice_is_named(data_dir: Path) -> None:
    """YAML keeps the last of two equal keys without a word; a campaign refuses them."""
    path = data_dir.parent / "twice.yaml"
    path.write_text(SI_CAMPAIGN + "charges:\n  default: [0, 1]\n")
    _assert_refused(CliRunner().invoke(cli, ["submit", str(path)]), 1, "key 'charges' is given twice; keep one")


def test_a_binary_file_as_campaign_is_named(data_dir: Path) -> None:
    picture = data_dir.parent / "figure.png"
    picture.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4)
    _assert_refused(CliRunner().invoke(cli, ["submit", str(picture)]), 1, "figure.png: not a text file")


@pytest.mark.parametrize(("environment", "config", "named"), [
    ({"DEFECTSCREEN_MONGO_URI": "mongodb://127.0.0.1:9"}, None, "no MongoDB server answered at 127.0.0.1:9 within 5 s"),
    ({"DEFECTSCREEN_MONGO_URI": "http://example"}, None, "DEFECTSCREEN_MONGO_URI (or mongo_uri)"),
    ({"DEFECTSCREEN_CONFIG": "missing.yaml"}, None, "DEFECTSCREEN_CONFIG=missing.yaml: no such file"),
    ({}, "data_dir: [unclosed", "defectscreen.yaml: not valid YAML"),
    ({}, "data_dir: here\nmongo: x\n", "defectscreen.yaml: unknown key(s) mongo"),
    ({}, "- a list\n", "expected `key: value` lines"),
])
def test_wrong_storage_setting_is_named_within_seconds(environment: dict, config: str | None, named: str,
                                                       data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    if config is not None:
        (data_dir.parent / "defectscreen.yaml").write_text(config)
    start = time.perf_counter()
    result = CliRunner().invoke(cli, ["status"])
    _assert_refused(result, 1, named)
    assert time.perf_counter() - start < 20, "an unreachable server is reported, not waited on for 30 s"


def test_unexpected_failure_prints_one_line_and_logs_the_trace(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A failure nobody foresaw (here a fault injected into the status table) is one line naming the error and
    the log; the log holds the whole trace and the command line."""
    import defectscreen.storage.progress as progress

    def broken(launchpad):
        raise ZeroDivisionError("injected fault")

    monkeypatch.setattr(progress, "host_progress", broken)
    result = CliRunner().invoke(cli, ["status"])
    assert result.exit_code == 1 and "ZeroDivisionError: injected fault" in result.output
    assert "Traceback" not in result.output
    log = Path(result.output.split("full trace: ")[1].strip())
    assert log.parent == data_dir / "logs" and "Traceback" in log.read_text() and "broken" in log.read_text()


def test_help_imports_no_scientific_library() -> None:
    """`--help` of every command answers without importing numpy, torch, pymatgen or FireWorks (measured in
    benchmarks/cli_startup.py)."""
    probe = ("import sys\nfrom click.testing import CliRunner\nfrom defectscreen.cli.main import cli\n"
             "for words in ([], ['analyze', 'capture'], ['potential', 'train'], ['query'], ['worker']):\n"
             "    assert CliRunner().invoke(cli, [*words, '--help']).exit_code == 0\n"
             "print(sorted(m for m in ('numpy', 'torch', 'pymatgen', 'fireworks', 'maggma', 'jobflow', 'rich')"
             " if m in sys.modules))\n")
    loaded = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    assert loaded.strip() == "[]"


def _silicon_frames(path: Path, forces: list[float]) -> Path:
    """Two-atom Si frames with REF_energy −10, −11, … eV and every force component forces[i] eV/Å."""
    import numpy as np
    from ase.build import bulk
    from ase.io import write

    frames = []
    for index, force in enumerate(forces):
        atoms = bulk("Si", "diamond", a=5.43)
        atoms.info["REF_energy"] = -10.0 - index
        atoms.arrays["REF_forces"] = np.full((2, 3), force)
        frames.append(atoms)
    write(path, frames, format="extxyz")
    return path


def test_frames_with_nan_forces_and_all_zero_force_constants_are_refused(data_dir: Path) -> None:
    """Input that would give a number that is not physics (an RMSE of NaN, S = 0 with every mode excluded) is
    refused with the file named, before any training or spectrum."""
    import numpy as np
    from phonopy.file_IO import write_FORCE_CONSTANTS

    path = _silicon_frames(data_dir.parent / "frames.xyz", [0.1, np.nan, 0.1])
    result = CliRunner().invoke(cli, ["potential", "train", str(path), "--out", str(data_dir.parent / "model")])
    _assert_refused(result, 1, "frames.xyz: frame 1 has a non-finite energy or force")

    n_atoms = 215  # the NV⁻ supercell of NV[2:]
    write_FORCE_CONSTANTS(np.zeros((n_atoms, n_atoms, 3, 3)), filename=str(data_dir.parent / "FC_zero"))
    zero = ["--fc", str(data_dir.parent / "FC_zero"), *NV[2:]]
    result = CliRunner().invoke(cli, ["analyze", "lineshape", *zero])
    _assert_refused(result, 1, "FC_zero: every mode is below 1 meV")
    assert not (data_dir.parent / "lineshape.json").exists()


def test_fewer_training_frames_than_one_batch_are_refused_before_training(data_dir: Path) -> None:
    """MACE drops an incomplete last batch: with fewer training frames than one batch it failed inside its own
    code (`torch.cat(): expected a non-empty list`). Now the frames file and a campaign's recipe are refused, naming
    the setting."""
    from defectscreen.mlip.potential import PotentialRecipe

    path = _silicon_frames(data_dir.parent / "frames.xyz", [0.0, 0.1, 0.2])
    result = CliRunner().invoke(cli, ["potential", "train", str(path), "--out", str(data_dir.parent / "model")])
    _assert_refused(result, 1, "2 training structures are fewer than one batch (training.batch_size 4)")
    assert not (data_dir.parent / "model" / "potential.json").exists()
    result = CliRunner().invoke(cli, ["potential", "train", str(path), "--batch-size", "3", "--out",
                                      str(data_dir.parent / "model")])
    _assert_refused(result, 1, "lower training.batch_size to 2 or less")
    with pytest.raises(ValueError, match="n_structures 4 with validation_fraction 0.15: 3 training structures"):
        PotentialRecipe(n_structures=4)
    assert PotentialRecipe(n_structures=4, training={"batch_size": 3}).n_structures == 4


@pytest.mark.parametrize(("backend", "foundation", "named"), [
    ("sevennet", "mace-mp-0", "foundation_model 'mace-mp-0': name one shipped in the sevenn wheel"),
    ("mace", "none.model", "none.model' does not exist"),
])
def test_a_foundation_model_that_cannot_be_had_is_named(backend: str, foundation: str, named: str,
                                                        data_dir: Path) -> None:
    path = _silicon_frames(data_dir.parent / "frames.xyz", [0.0, 0.1, 0.2, 0.3, 0.4, 0.5])
    result = CliRunner().invoke(cli, ["potential", "train", str(path), "--backend", backend, "--foundation-model",
                                      str(data_dir.parent / foundation) if backend == "mace" else foundation,
                                      "--out", str(data_dir.parent / "tuned")])
    _assert_refused(result, 1, named)


POSCAR = "Si\n1.0\n5.43 0 0\n0 5.43 0\n0 0 5.43\n{element}\n2\ndirect\n0 0 0\n{second}\n"
PARTIAL_CIF = """data_MgO
_cell_length_a 4.2
_cell_length_b 4.2
_cell_length_c 4.2
_cell_angle_alpha 90
_cell_angle_beta 90
_cell_angle_gamma 90
_symmetry_space_group_name_H-M 'P 1'
loop_
_atom_site_label
_atom_site_type_symbol
_atom_site_fract_x
_atom_site_fract_y
_atom_site_fract_z
_atom_site_occupancy
Mg1 Mg 0 0 0 0.5
O1 O 0.5 0.5 0.5 1.0
"""


@pytest.mark.parametrize(("file_name", "text", "named"), [
    ("unknown.vasp", POSCAR.format(element="Xx", second="0.25 0.25 0.25"), "holds Xx, not chemical elements"),
    ("overlap.vasp", POSCAR.format(element="Si", second="0 0 0"), "has atoms 0.00 Å apart"),
    ("partial.cif", PARTIAL_CIF, "has partial occupancies"),
])
def test_unusable_host_structure_is_named(file_name: str, text: str, named: str, data_dir: Path,
                                          tmp_path: Path) -> None:
    (tmp_path / file_name).write_text(text)
    campaign = _campaign(tmp_path, hosts=[{"name": "X", "structure": file_name}])
    _assert_refused(CliRunner().invoke(cli, ["submit", campaign]), 1, f"hosts[X].structure: '{tmp_path / file_name}' "
                                                                      f"{named}")


def test_a_failed_jobs_reason_is_one_short_line() -> None:
    """The console names a failed job by its exception line, even when the message spans many lines (jobflow puts
    whole documents in it), cut to a few hundred characters; the full trace stays in the log."""
    from defectscreen.storage.progress import MAX_REASON_CHARACTERS, failure_reason

    trace = ("Traceback (most recent call last):\n  File \"job.py\", line 1, in run\nValueError: Could not resolve "
             "reference - abc not in store, cache={" + "'x': 1, " * 200 + "\nLattice\n    abc : 7.68 7.68 7.68")
    reason = failure_reason(trace)
    assert reason.startswith("ValueError: Could not resolve reference") and "\n" not in reason
    assert len(reason) <= MAX_REASON_CHARACTERS + 2
    assert failure_reason("Traceback\n  File x\nRuntimeError: SCF not converged") == "RuntimeError: SCF not converged"

"""GPAW across MPI ranks (``defectscreen worker --ranks N``) gives the documents of the serial path: the same
energy, forces, one-electron levels and electrostatic potentials to the SCF tolerance, and the same failures; the
cluster examples start workers with their ranks."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from fireworks.user_objects.queue_adapters.common_adapter import CommonAdapter
from jobflow import run_locally

from defectscreen.cli.main import cli
from defectscreen.engines import GpawSettings, ScfNotConvergedError
from defectscreen.engines.ranks import RANKS_VARIABLE, mpi_ranks, on_ranks
from defectscreen.flows.campaign import parse_campaign
from defectscreen.flows.defect_set import build_defect_set
from defectscreen.flows.hosts import prototype_structure
from defectscreen.jobs import StaticMaker
from defectscreen.jobs.dielectric import DielectricMaker
from defectscreen.jobs.reference import run_reference

DOCS = Path(__file__).parents[1] / "docs" / "cluster"
CAMPAIGN = {"name": "t", "hosts": [{"name": "Si", "prototype": "diamond-Si"}], "defects": {"vacancies": False},
            "charges": {"default": [0]}, "engine": {"name": "gpaw"},
            "supercell": {"matrix": [[1, 0, 0], [0, 1, 0], [0, 0, 1]]}}


@pytest.fixture(scope="module")
def charged_cell():
    """Primitive Si with one atom moved 0.1 Å (forces not zero by symmetry), one extra electron, a doublet."""
    bulk = build_defect_set(parse_campaign(CAMPAIGN), Path("."))[0]
    structure = bulk.structure.copy()
    structure.translate_sites([0], [0.06, 0.05, 0.06], frac_coords=False)
    return structure, bulk.labels.model_copy(update={"charge": -1, "spin_multiplicity": 2})


@pytest.mark.dft
def test_two_ranks_give_the_serial_document(charged_cell, tmp_path: Path, monkeypatch) -> None:
    structure, labels = charged_cell
    settings = GpawSettings()
    monkeypatch.chdir(tmp_path)
    serial = run_reference(structure, labels, settings, None, 0)
    monkeypatch.setenv(RANKS_VARIABLE, "2")
    job = StaticMaker(engine_settings=settings.model_dump(mode="json")).make(structure, labels, "sha")
    parallel = run_locally(job, root_dir=tmp_path / "ranks", ensure_success=True, log=False)[job.uuid][1].output
    assert (serial["mpi_ranks"], parallel.mpi_ranks) == (1, 2)
    assert parallel.energy_eV == pytest.approx(serial["energy_eV"], abs=1e-3)
    assert np.abs(np.array(serial["forces_eV_per_angstrom"])).max() > 0.1
    assert parallel.forces_eV_per_angstrom == pytest.approx(np.array(serial["forces_eV_per_angstrom"]), abs=2e-3)
    assert np.array(parallel.levels.eigenvalues_eV) == pytest.approx(np.array(serial["levels"]["eigenvalues_eV"]),
                                                                      abs=2e-3)
    assert np.array(parallel.levels.occupations) == pytest.approx(np.array(serial["levels"]["occupations"]), abs=1e-6)
    assert np.array(parallel.planar_average_potential_eV) == pytest.approx(
        np.array(serial["planar_average_potential_eV"]), abs=2e-3)
    assert parallel.site_potential_eV == pytest.approx(serial["site_potential_eV"], abs=2e-3)
    log = next((tmp_path / "ranks").rglob("gpaw.txt")).read_text()
    assert "Total number of cores used: 2" in log and "Domain decomposition: 2 x 1 x 1" in log


@pytest.mark.dft
def test_a_failure_on_ranks_is_the_serial_failure(charged_cell, tmp_path: Path, monkeypatch) -> None:
    structure, labels = charged_cell
    settings = GpawSettings(max_scf_iterations=2)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv(RANKS_VARIABLE, "2")
    with pytest.raises(ScfNotConvergedError, match="GPAW SCF did not converge"):
        on_ranks(settings, run_reference, structure, labels, settings, None, 0)
    assert "ScfNotConvergedError" in (tmp_path / "ranks.log").read_text()  # the ranks' traceback, for the job's log


def _ranks_running(folder: Path) -> list[str]:
    found = subprocess.run(["pgrep", "-f", f"defectscreen.engines.ranks {folder}"], capture_output=True, text=True)
    return found.stdout.split()


@pytest.mark.slow(seconds=70)
@pytest.mark.dft
def test_dielectric_job_on_two_ranks_gives_the_serial_tensors(tmp_path: Path, monkeypatch) -> None:
    """MgO's relaxation, RPA ε∞ and Berry-phase Born charges (3x3x3 k) on two ranks: the serial numbers (measured:
    ε∞ 3.0177, ε⁰ 9.750, Z* 1.977, TO 49.37 meV; equal to 10⁻⁹ in 21 s on two ranks vs 30 s on one)."""
    documents = {}
    for ranks in ("1", "2"):
        monkeypatch.setenv(RANKS_VARIABLE, ranks)
        job = DielectricMaker(kpoint_density=1.0).make(prototype_structure("rocksalt-MgO"), "MgO", "eps", "c0")
        documents[ranks] = run_locally(job, root_dir=tmp_path / ranks, create_folders=False, ensure_success=True,
                                       log=False)[job.uuid][1].output
    serial, parallel = documents["1"], documents["2"]
    assert serial.kpts == parallel.kpts == (3, 3, 3)
    assert serial.epsilon_electronic[0][0] == pytest.approx(3.0, abs=0.1)
    for field in ("epsilon_electronic", "epsilon_static", "born_charges_e"):
        assert np.array(getattr(parallel, field)) == pytest.approx(np.array(getattr(serial, field)), abs=1e-6)
    assert [m.frequency_meV for m in parallel.infrared_modes] == pytest.approx(
        [m.frequency_meV for m in serial.infrared_modes], abs=1e-4)
    assert "mpiexec -n 2" in (tmp_path / "2" / "ranks.log").read_text()


@pytest.mark.slow(seconds=60)
@pytest.mark.dft
def test_couplings_on_two_ranks_give_the_serial_W_if_and_s(tmp_path: Path, monkeypatch) -> None:
    """W_b, W_if and s of C_Si 0/−1 in 8-atom Si (Γ; both geometries shaken 0.1 Å so that no level is degenerate):
    the ranks compute the SCFs, all-electron orbitals and overlaps and return the numbers (measured: equal to
    3·10⁻¹², 28.6 s on two ranks vs 23.5 s on one — the SCFs of a cell this small do not pay for the ranks)."""
    from types import SimpleNamespace

    from ase.build import bulk
    from pymatgen.io.ase import AseAtomsAdaptor

    from defectscreen.jobs.coupling import gpaw_couplings

    crystal = bulk("Si", "diamond", 5.43, cubic=True)
    crystal[0].symbol = "C"

    def task(charge: int, multiplicity: int, seed: int):
        shaken = crystal.copy()
        shaken.positions += 0.1 * np.random.default_rng(seed).normal(size=(8, 3))
        labels = SimpleNamespace(charge=charge, spin_multiplicity=multiplicity, defect_site_frac_coords=[0.0, 0.0, 0.0])
        return SimpleNamespace(labels=labels, structure=AseAtomsAdaptor.get_structure(shaken))

    higher, lower = task(0, 1, 3), task(-1, 2, 7)
    results = {}
    for ranks in ("1", "2"):
        monkeypatch.setenv(RANKS_VARIABLE, ranks)
        (tmp_path / ranks).mkdir()
        monkeypatch.chdir(tmp_path / ranks)
        results[ranks] = on_ranks(GpawSettings(), gpaw_couplings, higher, lower, GpawSettings(), 0.2)
    serial, parallel = results["1"], results["2"]
    assert "mpiexec -n 2" in (tmp_path / "2" / "ranks.log").read_text()
    assert serial.n_scf == parallel.n_scf == 4 and set(serial.W_if) == {"hole", "electron"}
    assert parallel.W_if == pytest.approx(serial.W_if, rel=1e-6)
    assert [e.band for e in parallel.elements] == [e.band for e in serial.elements]
    assert [e.W_if_eV_per_amu_half_angstrom for e in parallel.elements] == pytest.approx(
        [e.W_if_eV_per_amu_half_angstrom for e in serial.elements], rel=1e-6, abs=1e-9)
    assert parallel.scaling["hole"].scaling == pytest.approx(serial.scaling["hole"].scaling, rel=1e-6)
    assert parallel.defect_orbital_ipr == pytest.approx(serial.defect_orbital_ipr, rel=1e-6)


def test_ranks_end_with_a_killed_worker(tmp_path: Path) -> None:
    """A worker killed with SIGKILL mid-calculation takes its MPI launcher and ranks with it: recovery reruns the job
    elsewhere, and nothing keeps computing it here."""
    script = (f"import os, time; os.chdir({str(tmp_path)!r}); os.environ[{RANKS_VARIABLE!r}] = '2'; "
              "from defectscreen.engines import GpawSettings; from defectscreen.engines.ranks import on_ranks; "
              "on_ranks(GpawSettings(), time.sleep, 300)")
    worker = subprocess.Popen([sys.executable, "-c", script])
    deadline = time.monotonic() + 60
    while len(_ranks_running(tmp_path)) < 3 and time.monotonic() < deadline:  # the launcher and its 2 ranks
        time.sleep(0.5)
    assert len(_ranks_running(tmp_path)) == 3
    worker.kill()
    worker.wait()
    deadline = time.monotonic() + 30
    while _ranks_running(tmp_path) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert not _ranks_running(tmp_path)


@pytest.mark.parametrize("value", ["0", "two"])
def test_rank_count_is_checked(value: str, monkeypatch) -> None:
    monkeypatch.setenv(RANKS_VARIABLE, value)
    with pytest.raises(ValueError, match=f"{RANKS_VARIABLE}=.*--ranks N"):
        mpi_ranks()


def test_cluster_examples_give_each_worker_its_ranks() -> None:
    """docs/cluster: the FireWorks queue adapter renders a SLURM script whose rocket is one worker across the
    allocation's tasks; the batch script is valid bash; the CLI refuses a rank count below 1."""
    script = CommonAdapter.from_file(str(DOCS / "my_qadapter.yaml")).get_script_str("/scratch/launch")
    assert "#SBATCH --ntasks=32" in script and "defectscreen worker --ranks $SLURM_NTASKS" in script
    assert "DEFECTSCREEN_MPIEXEC=srun" in script
    subprocess.run(["bash", "-n", str(DOCS / "slurm_worker.sh")], check=True)
    assert "defectscreen worker --ranks $((SLURM_NTASKS / WORKERS))" in (DOCS / "slurm_worker.sh").read_text()
    refused = CliRunner().invoke(cli, ["worker", "--ranks", "0"])
    assert refused.exit_code == 2 and "--ranks" in refused.output

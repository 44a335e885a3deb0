"""The static dielectric tensor ε⁰ = ε∞ + ε_ion: closed forms, phonopy's LO–TO splitting on public DFT data (the
Lyddane–Sachs–Teller relation), the campaign's 'computed' constant and the builder that uses it, and GPAW on MgO."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import phonopy
import pytest
import yaml
from conftest import REFERENCE_DATA
from maggma.stores import MemoryStore

from defectscreen.builders.defects import DefectBuilder
from defectscreen.flows.campaign import CampaignError, parse_campaign
from defectscreen.flows.defect_set import build_defect_set
from defectscreen.flows.hosts import prototype_structure
from defectscreen.flows.registry import TaskRegistry
from defectscreen.flows.screening import HostScreeningMaker
from defectscreen.flows.steps import HostCells
from defectscreen.flows.steps.dielectric import dielectric_settings_hash
from defectscreen.jobs.tagging import task_key
from defectscreen.physics.dielectric import (
    COULOMB_EV_ANGSTROM,
    force_constants_from_cartesian_displacements,
    infrared_active,
    ionic_dielectric_tensor,
)
from defectscreen.physics.normal_modes import atomic_masses
from defectscreen.physics.units import MEV_PER_SQRT_EIGENVALUE

NACL = REFERENCE_DATA / "nacl-phonopy"
THZ_TO_MEV = 4.135667696


def _diatomic_force_constants(spring_eV_per_angstrom2: float) -> np.ndarray:
    """Φ at Γ of a rocksalt primitive cell whose two atoms are tied by an isotropic spring k (all images)."""
    k = spring_eV_per_angstrom2 * np.eye(3)
    return np.array([[k, -k], [-k, k]])


def test_rigid_ion_diatomic_equals_closed_form_and_does_not_depend_on_masses() -> None:
    # Static balance: k (u₁ − u₂) = Z e E, so P = Z² e² E/(k Ω) and ε_ion = 4π (e²/4πε₀) Z²/(k Ω); masses drop out.
    structure = prototype_structure("rocksalt-MgO")
    spring, charge = 12.0, 2.0
    born = np.array([charge * np.eye(3), -charge * np.eye(3)])
    response = ionic_dielectric_tensor(born, _diatomic_force_constants(spring), atomic_masses(structure),
                                       structure.volume)
    expected = 4 * np.pi * COULOMB_EV_ANGSTROM * charge**2 / (spring * structure.volume)
    assert np.allclose(response.epsilon_ionic, expected * np.eye(3), rtol=1e-10, atol=1e-12)
    reduced_mass = 1 / (1 / atomic_masses(structure)).sum()
    assert np.allclose(response.frequencies_meV, MEV_PER_SQRT_EIGENVALUE * np.sqrt(spring / reduced_mass), rtol=1e-10)
    assert np.allclose(response.acoustic_frequencies_meV, 0, atol=1e-6)
    heavier = ionic_dielectric_tensor(born, _diatomic_force_constants(spring), 7 * atomic_masses(structure),
                                      structure.volume)
    assert np.allclose(heavier.epsilon_ionic, response.epsilon_ionic, rtol=1e-10)
    assert np.allclose(heavier.frequencies_meV, response.frequencies_meV / np.sqrt(7), rtol=1e-10)
    assert infrared_active(response).all()


def test_nacl_public_dft_obeys_lyddane_sachs_teller_with_phonopys_lo_to_splitting() -> None:
    # Public VASP force sets and Born charges of NaCl (phonopy's test data). ε⁰/ε∞ = ω_LO²/ω_TO² must hold between
    # our ε_ion and phonopy's independent non-analytic correction; ε⁰ against experiment, 5.90 (Lowndes & Martin,
    # Proc. R. Soc. A 308, 473 (1969)), and ω_TO against 164 cm⁻¹ = 20.3 meV (PBE softens both a little).
    ph = phonopy.load(NACL / "phonopy_disp_NaCl.yaml", force_sets_filename=NACL / "FORCE_SETS_NaCl",
                      born_filename=NACL / "BORN_NaCl", log_level=0)
    ph.dynamical_matrix.run([0, 0, 0])
    masses = np.repeat(ph.primitive.masses, 3)
    gamma = (ph.dynamical_matrix.dynamical_matrix.real * np.sqrt(np.outer(masses, masses)))
    force_constants = gamma.reshape(2, 3, 2, 3).transpose(0, 2, 1, 3)
    response = ionic_dielectric_tensor(ph.nac_params["born"], force_constants, ph.primitive.masses,
                                       ph.primitive.volume)
    epsilon_inf = ph.nac_params["dielectric"]
    epsilon_static = epsilon_inf + response.epsilon_ionic
    ph.run_qpoints([[0, 0, 0]], nac_q_direction=[1, 0, 0])
    frequencies = np.sort(ph.qpoints.frequencies[0]) * THZ_TO_MEV
    omega_to, omega_lo = frequencies[3], frequencies[5]
    assert response.frequencies_meV == pytest.approx(omega_to, rel=1e-6)
    assert epsilon_static[0, 0] / epsilon_inf[0, 0] == pytest.approx((omega_lo / omega_to) ** 2, rel=1e-4)
    assert np.allclose(epsilon_static, epsilon_static[0, 0] * np.eye(3), atol=1e-8)
    assert epsilon_static[0, 0] == pytest.approx(5.90, rel=0.1)
    assert omega_to == pytest.approx(20.3, rel=0.1)


def test_force_constants_from_harmonic_forces_are_recovered() -> None:
    # A harmonic lattice F = −Φ u: the ± Cartesian displacements give back a Φ that already has the crystal's
    # symmetry and translational invariance.
    structure = prototype_structure("wurtzite-GaN")
    n_atoms, u = len(structure), 0.01
    rng = np.random.default_rng(3)
    phonon = phonopy.Phonopy(phonopy.structure.atoms.PhonopyAtoms(
        symbols=[s.specie.symbol for s in structure], cell=structure.lattice.matrix,
        scaled_positions=structure.frac_coords), supercell_matrix=np.eye(3, dtype=int), log_level=0)
    raw = rng.normal(size=(3 * n_atoms, 3 * n_atoms))
    phonon.force_constants = (raw + raw.T).reshape(n_atoms, 3, n_atoms, 3).transpose(0, 2, 1, 3).copy()
    phonon.symmetrize_force_constants_by_space_group(show_drift=False)
    phonon.symmetrize_force_constants(show_drift=False)
    reference = phonon.force_constants
    forces = np.zeros((n_atoms, 3, 2, n_atoms, 3))
    for atom in range(n_atoms):
        for axis in range(3):
            for index, sign in enumerate((-1, 1)):
                forces[atom, axis, index] = -sign * u * reference[atom, :, axis, :]
    recovered = force_constants_from_cartesian_displacements(structure, forces, u)
    assert np.allclose(recovered, reference, atol=1e-8)
    with pytest.raises(ValueError, match=r"expected \(4, 3, 2, 4, 3\)"):
        force_constants_from_cartesian_displacements(structure, forces[:2], u)


def test_unstable_optical_mode_is_refused() -> None:
    structure = prototype_structure("rocksalt-MgO")
    born = np.array([2 * np.eye(3), -2 * np.eye(3)])
    with pytest.raises(ValueError, match="unstable"):
        ionic_dielectric_tensor(born, _diatomic_force_constants(-3.0), atomic_masses(structure), structure.volume)


COMPUTED = """
name: eps
hosts: [{name: MgO, prototype: rocksalt-MgO, dielectric_constant: computed}]
properties: [relaxation, formation_energy]
"""


def test_computed_dielectric_needs_a_dft_engine_and_plans_one_job_per_host(tmp_path: Path) -> None:
    with pytest.raises(CampaignError, match=r"hosts\[MgO\].dielectric_constant: 'computed'.*engine: \{name: gpaw\}"):
        parse_campaign(yaml.safe_load(COMPUTED))
    with pytest.raises(CampaignError, match="dielectric_constant must be a number >= 1"):
        parse_campaign(yaml.safe_load(COMPUTED.replace("computed", "computd")) | {"engine": {"name": "gpaw"}})
    campaign = parse_campaign(yaml.safe_load(COMPUTED) | {"engine": {"name": "gpaw"}})
    key = task_key("MgO:dielectric", "dielectric", dielectric_settings_hash(campaign))
    registry = TaskRegistry(campaign.name)
    flow = HostScreeningMaker(registry=registry).make(HostCells(campaign, "MgO", build_defect_set(campaign, tmp_path)))
    names = [job.name for job in flow.jobs]
    assert key in registry.made and names.count("dielectric MgO:dielectric") == 1
    finer = parse_campaign(yaml.safe_load(COMPUTED) | {"engine": {"name": "gpaw"},
                                                       "formation": {"dielectric": {"kpoint_density": 3.0}}})
    assert dielectric_settings_hash(finer) != dielectric_settings_hash(campaign)


def test_defect_builder_screens_charged_defects_with_the_computed_tensor() -> None:
    tasks, campaigns, defects, lattice_energies = MemoryStore(), MemoryStore(), MemoryStore(), MemoryStore()
    for store in (tasks, campaigns, defects, lattice_energies):
        store.connect()
    campaign = {"name": "eps", "sha256": "c0", "campaign": {
        "hosts": [{"name": "MgO", "dielectric_constant": "computed"}],
        "formation": {"gaussian_width_bohr": 1.0, "correction": "freysoldt"}}}
    campaigns.update([campaign], key="name")
    structure = prototype_structure("rocksalt-MgO") * 2
    engine = {"name": "gpaw", "settings": {}, "settings_hash": "e" * 64, "is_dft": True, "code_versions": {}}

    def task(uuid: str, defect_type: str, charge: int, completed_at: str) -> dict:
        labels = {"calculation_id": f"MgO:{defect_type}:{charge}", "campaign": "eps", "host": "MgO",
                  "defect_name": "v_O" if defect_type == "vacancy" else "bulk", "defect_type": defect_type,
                  "defect_elements": [], "element_changes": {}, "charge": charge, "spin_multiplicity": 1,
                  "defect_site_frac_coords": [0, 0, 0]}
        return {"uuid": uuid, "completed_at": completed_at, "output": {
            "task_label": "relax", "converged": True, "labels": labels, "energy_eV": -10.0, "engine": engine,
            "structure": structure.as_dict(), "campaign_sha256": "c0", "planar_average_potential_eV": None}}

    tasks.update([task("bulk", "bulk", 0, "1"), task("vac", "vacancy", 2, "2")], key="uuid")
    builder = DefectBuilder(tasks, campaigns, defects, lattice_energies)

    def build() -> None:
        builder.update_targets([builder.process_item(item) for item in builder.get_items()])

    build()
    assert defects.count() == 0  # no dielectric document yet: the charged defect waits
    tensor = [[9.7, 0, 0], [0, 9.7, 0], [0, 0, 9.7]]
    tasks.update([{"uuid": "eps", "completed_at": "3", "output": {
        "task_label": "dielectric", "host": "MgO", "engine": engine, "epsilon_static": tensor}}], key="uuid")
    build()
    document = defects.query_one({})
    assert document["dielectric_task_uuid"] == "eps"
    assert document["correction"]["dielectric_constant"] == tensor
    assert document["correction"]["method"] == "freysoldt_lattice_only"


@pytest.mark.slow(seconds=120)
@pytest.mark.dft
def test_gpaw_mgo_dielectric_tensor_matches_experiment(data_dir: Path) -> None:
    # GPAW PBE 500 eV on the MgO primitive cell at the experimental lattice, 4x4x4 k (the job, stored in the embedded
    # JobStore): cubic, so every tensor is isotropic and the three TO modes degenerate. Experiment (Jasperse et al.,
    # Phys. Rev. 146, 526 (1966)): ω_TO = 401 cm⁻¹ = 49.7 meV, ω_LO = 718 cm⁻¹ = 89.0 meV, ε⁰ = 9.8, ε∞ = 2.96.
    # Then what users read: `defectscreen dielectric` and the report's note on the host.
    from click.testing import CliRunner
    from jobflow import run_locally

    from defectscreen.cli.main import cli
    from defectscreen.jobs.dielectric import DielectricMaker
    from defectscreen.reports.html import _screening_note
    from defectscreen.schemas import DielectricDocument
    from defectscreen.storage import StorageSettings

    store = StorageSettings.from_environment().job_store()
    job = DielectricMaker(kpoint_density=1.5).make(prototype_structure("rocksalt-MgO"), "MgO", "eps", "c0")
    run_locally(job, store=store, create_folders=True, ensure_success=True)
    store.connect()
    stored = store.query_one({"uuid": job.uuid})
    document = DielectricDocument.model_validate(stored["output"])
    assert document.kpts == (4, 4, 4) and document.engine.is_dft
    electronic, static = np.array(document.epsilon_electronic), np.array(document.epsilon_static)
    for tensor in (electronic, static, np.array(document.born_charges_e[0])):
        assert np.allclose(tensor, tensor[0, 0] * np.eye(3), atol=1e-6)
    assert electronic[0, 0] == pytest.approx(2.96, rel=0.05)
    assert static[0, 0] == pytest.approx(9.8, rel=0.05)
    (mode,) = {round(m.frequency_meV, 4) for m in document.infrared_modes}
    assert mode == pytest.approx(49.7, rel=0.03)
    assert mode * np.sqrt(static[0, 0] / electronic[0, 0]) == pytest.approx(89.0, rel=0.03)  # Lyddane–Sachs–Teller
    assert np.array(document.born_charges_e).sum(axis=0) == pytest.approx(np.zeros((3, 3)), abs=1e-10)
    printed = CliRunner().invoke(cli, ["dielectric", "--host", "MgO"])
    assert printed.exit_code == 0, printed.output
    assert f"{static[0, 0]:.3f}" in printed.output and f"{document.born_charges_e[0][0][0]:+.3f}" in printed.output
    note = _screening_note(document.epsilon_static, stored["output"])
    assert f"ε⁰ = diag({static[0, 0]:.2f}, {static[0, 0]:.2f}, {static[0, 0]:.2f}), computed with gpaw" in note
    assert f"TO modes {mode:.1f}" in note

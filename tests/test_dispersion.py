"""Phonon dispersion with the LO–TO term: the public NaCl phonopy data (../shared/reference-data/nacl-phonopy) against
phonopy's own command line, the Lyddane–Sachs–Teller relation, Λ independence, the acoustic branches, the flags and
the `analyze dispersion` command."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import yaml
from click.testing import CliRunner
from conftest import REFERENCE_DATA
from phonopy.file_IO import parse_FORCE_SETS, write_FORCE_SETS
from pymatgen.analysis.ewald import EwaldSummation
from pymatgen.core import Lattice, Structure

from defectscreen.analysis.dispersion import analyze_dispersion_files, supercell_phonons
from defectscreen.cli.main import cli
from defectscreen.physics.dispersion import (
    MEV_PER_THZ,
    dipole_dipole_force_constants,
    gamma_frequencies,
    harmonic_energy_and_forces,
    matching_sites,
    supercell_force_constants,
    supercell_matrix_of,
)
from defectscreen.physics.finite_displacement import structure_of
from defectscreen.readers.phonopy_files import load_phonopy

NACL = REFERENCE_DATA / "nacl-phonopy"
YAML, FORCE_SETS, BORN = NACL / "phonopy_disp_NaCl.yaml", NACL / "FORCE_SETS_NaCl", NACL / "BORN_NaCl"
POINTS = 21


def _phonopy_command_line(folder: Path, nac: bool) -> list[dict]:
    """phonopy-load's own band structure (``--band auto``) of the NaCl files, as band.yaml's q-points."""
    shutil.copy(YAML, folder / "phonopy_disp.yaml")
    shutil.copy(FORCE_SETS, folder / "FORCE_SETS")
    if nac:
        shutil.copy(BORN, folder / "BORN")
    command = [str(Path(sys.executable).parent / "phonopy-load"), "phonopy_disp.yaml", "--band", "auto",
               "--band-points", str(POINTS)]  # phonopy-load applies BORN when the folder holds one
    subprocess.run(command, cwd=folder, check=True, capture_output=True)
    return yaml.safe_load((folder / "band.yaml").read_text())["phonon"]


@pytest.mark.parametrize("nac", [False, True])
def test_nacl_equals_phonopy_command_line(nac: bool, tmp_path: Path) -> None:
    """Same path, same q-points, same frequencies as phonopy's `phonopy-load --band auto`, with and without the
    non-analytic correction (LO at Γ approached along each segment included)."""
    document = analyze_dispersion_files(YAML, FORCE_SETS, born=BORN if nac else None, points_per_segment=POINTS)
    ours = [(q, f) for s in document.segments for q, f in zip(s.q_points, s.frequencies_meV)]
    reference = _phonopy_command_line(tmp_path, nac)
    assert len(ours) == len(reference) == 6 * POINTS
    assert np.abs(np.array([q for q, _ in ours]) - [p["q-position"] for p in reference]).max() < 1e-9
    difference_THz = np.array([f for _, f in ours]) / MEV_PER_THZ - [[b["frequency"] for b in p["band"]]
                                                                     for p in reference]
    assert np.abs(difference_THz).max() < 1e-6
    assert [(s.start, s.end) for s in document.segments] == [("Γ", "X"), ("X", "U"), ("K", "Γ"), ("Γ", "L"),
                                                             ("L", "W"), ("W", "X")]


def test_lo_to_splitting_obeys_lyddane_sachs_teller() -> None:
    """NaCl has one polar triplet: ω_LO²/ω_TO² must equal ε⁰/ε∞, with ε⁰ = ε∞ + ε_ion computed independently from
    the same Z* and Γ force constants (Gonze & Lee Eq. 55)."""
    correction = analyze_dispersion_files(YAML, FORCE_SETS, born=BORN).dipole_correction
    transverse, longitudinal = np.array(correction.transverse_gamma_meV), np.array(correction.longitudinal_gamma_meV)
    assert np.abs(transverse[:3]).max() < 1e-3 and np.abs(longitudinal[:3]).max() < 1e-3, "acoustic sum rule"
    assert transverse[3:] == pytest.approx([19.092] * 3, abs=1e-3)
    assert longitudinal[3:5] == pytest.approx(transverse[3:5]) and longitudinal[5] == pytest.approx(30.589, abs=1e-3)
    assert correction.lyddane_sachs_teller_ratio == pytest.approx(correction.epsilon_static_ratio, rel=1e-4)
    assert correction.epsilon_static_ratio * 2.43533967 == pytest.approx(6.25, abs=0.01)


def test_ewald_parameter_needs_no_calibration() -> None:
    """The Ewald splitting Λ only moves the dipole sum between real and reciprocal space: with the reciprocal sum
    converged, frequencies near Γ (where the dipole term matters most) and at the zone boundary do not depend on it,
    and phonopy's automatic choice gives the same; acoustic branches keep ω → 0 at Γ and the sound speed of the
    short-range force constants (the non-analytic term does not act on uniform translations)."""
    phonon = load_phonopy(YAML, FORCE_SETS, born=BORN)
    q_points = [[0.02, 0.01, 0.0], [0.1, 0.05, 0.0], [0.5, 0.5, 0.0]]
    phonon.run_qpoints(q_points)
    automatic = phonon.qpoints.frequencies
    parameters = dict(phonon.nac_params)
    for ewald in (0.2, 0.3, 0.5):
        phonon.nac_params = {**parameters, "Lambda": ewald, "G_cutoff": 8.0}
        phonon.run_qpoints(q_points)
        assert np.abs(phonon.qpoints.frequencies - automatic).max() < 1e-6
    phonon.nac_params = parameters
    assert np.abs(gamma_frequencies(phonon, np.array([1.0, 1.0, 0.0]))[:3]).max() < 1e-3
    short_range = load_phonopy(YAML, FORCE_SETS)
    short_range.run_qpoints(q_points[:1])
    acoustic_ratio = automatic[0][:3] / short_range.qpoints.frequencies[0][:3]
    assert acoustic_ratio == pytest.approx([1.0, 1.0, 1.0], abs=0.03)  # measured within 1.3 %


def test_density_of_states_counts_every_mode() -> None:
    document = analyze_dispersion_files(YAML, FORCE_SETS, born=BORN)
    assert np.trapezoid(document.dos_states_per_meV, document.dos_energy_meV) == pytest.approx(6.0, rel=0.01)
    assert max(document.dos_energy_meV) > max(max(map(max, s.frequencies_meV)) for s in document.segments)


def test_what_is_not_physics_is_flagged(tmp_path: Path) -> None:
    """A polar crystal without Born charges is flagged (no LO–TO); force constants of the wrong sign (a structure
    at a maximum) give imaginary modes, flagged with where they are."""
    assert analyze_dispersion_files(YAML, FORCE_SETS, born=BORN).flags == []
    assert analyze_dispersion_files(YAML, FORCE_SETS).flags[0].startswith("no dipole–dipole term")
    dataset = parse_FORCE_SETS(filename=str(FORCE_SETS))
    for displacement in dataset["first_atoms"]:
        displacement["forces"] = -displacement["forces"]
    write_FORCE_SETS(dataset, filename=str(tmp_path / "FORCE_SETS"))
    document = analyze_dispersion_files(YAML, tmp_path / "FORCE_SETS", born=BORN)
    assert document.lowest_frequency_meV < -5.0
    assert document.flags[0].startswith("imaginary modes down to")


def test_analyze_dispersion_command(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["analyze", "dispersion", str(YAML), "--force-sets", str(FORCE_SETS), "--born",
                                      str(BORN), "--out", str(tmp_path / "nacl"), "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert summary["gamma_LO_meV"][-1] == pytest.approx(30.589, abs=1e-3)
    assert (tmp_path / "nacl.png").stat().st_size > 10_000
    stored = json.loads((tmp_path / "nacl.json").read_text())
    assert stored["dipole_correction"]["method"] == "gonze-lee" and stored["formula"] == "NaCl"


@pytest.mark.parametrize(("arguments", "named"), [
    (["--force-sets", str(FORCE_SETS), "--force-constants", str(FORCE_SETS)], "give FORCE_SETS or FORCE_CONSTANTS"),
    ([], "holds no forces or force constants"),
    (["--force-sets", str(BORN)], "phonopy could not read"),
    (["--force-sets", str(FORCE_SETS), "--born", str(FORCE_SETS)], "phonopy could not read"),
    (["--force-sets", str(FORCE_SETS), "--points", "1"], "--points"),
])
def test_analyze_dispersion_refuses_bad_files(arguments: list[str], named: str, tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["analyze", "dispersion", str(YAML), *arguments, "--out", str(tmp_path / "x")])
    assert result.exit_code in (1, 2) and named in result.output and "Traceback" not in result.output, result.output


def _nacl_short_range_force_constants():
    """(NaCl's phonopy object with full force constants and BORN, the short-range force constants phonopy's
    Gonze–Lee route keeps of them)."""
    phonon = load_phonopy(YAML, FORCE_SETS, born=BORN)
    phonon.produce_force_constants(calculate_full_force_constants=True)
    phonon.run_qpoints([[0.1, 0.0, 0.0]])
    return phonon, phonon.dynamical_matrix.short_range_force_constants


def test_dipole_dipole_force_constants_are_what_gonze_lee_subtract() -> None:
    """Φ_dd of the NaCl supercell (from Z*, ε∞ and the primitive cell alone) is the part phonopy's Gonze–Lee route
    removes from the supercell force constants: Φ − Φ_short = Φ_dd (to the convergence of the Ewald sums)."""
    phonon, short_range = _nacl_short_range_force_constants()
    primitive, ours = structure_of(phonon.primitive), structure_of(phonon.supercell)
    cell, dipole_dipole = dipole_dipole_force_constants(primitive, supercell_matrix_of(ours, primitive),
                                                        phonon.nac_params["born"], phonon.nac_params["dielectric"])
    order = matching_sites(cell, ours)
    residual = np.abs(phonon.force_constants - short_range - dipole_dipole[np.ix_(order, order)]).max()
    assert residual < 1e-3 * np.abs(phonon.force_constants).max()  # measured 8e-4 eV/Å² (Ewald sums of two cells)
    assert np.abs(dipole_dipole.sum(axis=1)).max() < 1e-10, "acoustic sum rule"


def test_dipole_dipole_force_constants_are_the_long_range_coulomb_springs() -> None:
    """A rigid-ion crystal (charges ±1 e, no electrons to screen: ε∞ = 1, Z* = ±1): the harmonic force constants of
    its Coulomb energy (finite differences of pymatgen's Ewald forces, 128-atom NaCl supercell) equal Φ_dd from Z*
    and ε∞ for every pair beyond the nearest neighbours; they differ only at the nearest neighbours and on site
    (phonopy's Ewald kernel omits the real-space part, a short-range term). So what a potential's labels lose in
    ``short_range_frames`` is the whole long-range part, and what is left for the model is short-ranged."""
    primitive = Structure(Lattice([[0, 2.82, 2.82], [2.82, 0, 2.82], [2.82, 2.82, 0]]), ["Na", "Cl"],
                          [[0, 0, 0], [0.5, 0.5, 0.5]])
    matrix = np.diag([4, 4, 4])
    born = np.array([np.eye(3), -np.eye(3)])
    cell, dipole_dipole = dipole_dipole_force_constants(primitive, matrix, born, np.eye(3))

    def coulomb_forces(structures: list[Structure]) -> np.ndarray:
        forces = []
        for structure in structures:
            charged = structure.copy()
            charged.add_oxidation_state_by_element({"Na": 1, "Cl": -1})
            forces.append(EwaldSummation(charged, compute_forces=True).forces)
        return np.array(forces)

    phonon, _ = supercell_force_constants(primitive, matrix, coulomb_forces, 0.005)
    ours = structure_of(phonon.supercell)
    order = matching_sites(cell, ours)
    difference = np.abs(phonon.force_constants[0] - dipole_dipole[np.ix_(order, order)][0]).max(axis=(1, 2))
    distance = np.array([ours[0].distance(site) for site in ours])
    assert difference[distance > 3.5].max() < 2e-3 * np.abs(phonon.force_constants[0]).max()  # measured 6e-4
    assert difference[distance > 4.5].max() < 1e-5
    assert np.abs(phonon.force_constants[0][distance > 4.5]).max() > 0.1  # a long-range part there is to match


def test_harmonic_labels_and_site_matching() -> None:
    rng = np.random.default_rng(1)
    force_constants = rng.normal(size=(4, 4, 3, 3))
    force_constants = force_constants + force_constants.transpose(1, 0, 3, 2)
    shift = rng.normal(size=(4, 3)) * 0.01
    energy, forces = harmonic_energy_and_forces(force_constants, shift)
    assert energy == pytest.approx(0.5 * shift.ravel() @ force_constants.transpose(0, 2, 1, 3).reshape(12, 12)
                                   @ shift.ravel())
    step = 1e-6 * np.eye(12)[5].reshape(4, 3)
    assert -(harmonic_energy_and_forces(force_constants, shift + step)[0] - energy) / 1e-6 == pytest.approx(
        forces[1, 2], rel=1e-4)
    structure = Structure(Lattice.cubic(5.0), ["Na", "Cl", "Na", "Cl"],
                          [[0, 0, 0], [0.5, 0, 0], [0, 0.5, 0], [0.5, 0.5, 0.999]])
    shuffled = Structure.from_sites([structure[i] for i in (2, 0, 3, 1)])
    assert matching_sites(shuffled, structure).tolist() == [1, 3, 0, 2]
    with pytest.raises(ValueError, match="do not hold the same sites"):
        matching_sites(Structure(Lattice.cubic(5.0), ["Na"] * 4, structure.frac_coords), structure)


def test_short_range_model_plus_analytic_dipole_term_gives_the_full_dispersion() -> None:
    """A model holding only NaCl's short-range force constants (what a potential trained without the dipole–dipole
    part learns), evaluated by finite displacements, plus Φ_dd added back and the Gonze–Lee term, reproduces the
    dispersion of the full force constants with NAC; without the add-back the LO–TO physics is lost."""
    phonon, short_range = _nacl_short_range_force_constants()
    reference, primitive = structure_of(phonon.supercell), structure_of(phonon.primitive)

    def short_range_model(structures: list[Structure]) -> np.ndarray:
        forces = []
        for structure in structures:
            index = matching_sites(structure, reference)  # reference site i is structure site index[i]
            shift = structure.frac_coords[index] - reference.frac_coords
            shift = (shift - np.rint(shift)) @ reference.lattice.matrix
            forces.append(harmonic_energy_and_forces(short_range, shift)[1][np.argsort(index)])
        return np.array(forces)

    dielectric = SimpleNamespace(born_charges_e=phonon.nac_params["born"], epsilon_electronic=phonon.nac_params["dielectric"])
    matrix = supercell_matrix_of(reference, primitive)
    q_points = [[0.0, 0.0, 0.0], [0.1, 0.05, 0.0], [0.25, 0.0, 0.25], [0.5, 0.5, 0.0]]
    phonon.run_qpoints(q_points, nac_q_direction=[1, 0, 0])
    expected = phonon.qpoints.frequencies
    rebuilt, _ = supercell_phonons(primitive, matrix, short_range_model, 0.01, dielectric, short_range=True)
    rebuilt.run_qpoints(q_points, nac_q_direction=[1, 0, 0])
    difference = np.abs(rebuilt.qpoints.frequencies - expected)
    assert difference[0, 3:].max() < 0.01 and difference[1:].max() < 0.01  # THz; measured 0.008
    assert difference[0, :3].max() < 0.05  # Γ acoustic: the reference's unsymmetrized force constants give -0.037
    naive, _ = supercell_phonons(primitive, matrix, short_range_model, 0.01, dielectric)
    naive.run_qpoints(q_points, nac_q_direction=[1, 0, 0])
    assert np.abs(naive.qpoints.frequencies - expected).max() > 0.5

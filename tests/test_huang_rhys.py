"""Normal modes, ΔQ and Huang–Rhys factors: harmonic identities and the NV⁻ centre in diamond (real VASP data)."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import NV_DIAMOND
from phonopy import Phonopy
from phonopy.structure.atoms import PhonopyAtoms

from defectscreen.physics.huang_rhys import (
    StructureMismatchError,
    displacement_between,
    huang_rhys_from_displacement,
    huang_rhys_from_forces,
    spectral_density,
)
from defectscreen.physics.normal_modes import enforce_acoustic_sum_rule, gamma_normal_modes
from defectscreen.readers import InputFileError
from defectscreen.readers.phonopy_files import read_force_constants
from defectscreen.readers.structures import read_structure


def _spring_model(n_atoms: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Random isotropic springs between all pairs: Φ satisfies the acoustic sum rule exactly."""
    rng = np.random.default_rng(seed)
    springs = rng.uniform(1.0, 10.0, (n_atoms, n_atoms))
    springs = np.triu(springs, 1) + np.triu(springs, 1).T
    force_constants = -springs[:, :, None, None] * np.eye(3)
    for i in range(n_atoms):
        force_constants[i, i] = springs[i].sum() * np.eye(3)
    return force_constants, rng.uniform(10.0, 60.0, n_atoms)


def test_force_mode_equals_displacement_mode_for_harmonic_surfaces() -> None:
    force_constants, masses = _spring_model(8, seed=3)
    modes = gamma_normal_modes(force_constants, masses)
    displacement = np.random.default_rng(4).normal(0, 0.05, (8, 3))
    by_displacement = huang_rhys_from_displacement(modes, displacement)
    by_forces = huang_rhys_from_forces(modes, force_constants.transpose(0, 2, 1, 3).reshape(24, 24).dot(
        displacement.ravel()).reshape(8, 3))
    assert by_displacement.n_excluded_modes == 3  # the three translations
    np.testing.assert_allclose(by_forces.partial_huang_rhys, by_displacement.partial_huang_rhys, rtol=1e-9, atol=1e-12)


def test_rigid_translation_has_no_huang_rhys_weight() -> None:
    force_constants, masses = _spring_model(6, seed=5)
    modes = gamma_normal_modes(force_constants, masses)
    coupling = huang_rhys_from_displacement(modes, np.tile([0.1, -0.2, 0.05], (6, 1)))
    assert coupling.total < 1e-18


def test_single_oscillator_huang_rhys_is_omega_dq2_over_2hbar() -> None:
    # two equal masses on one spring: the optical mode has ω² = 2k/m and ΔQ² = m |ΔR_rel|²/2
    k, m, stretch = 20.0, 12.0, 0.1
    force_constants = np.zeros((2, 2, 3, 3))
    force_constants[0, 0] = force_constants[1, 1] = k * np.eye(3)
    force_constants[0, 1] = force_constants[1, 0] = -k * np.eye(3)
    modes = gamma_normal_modes(force_constants, np.array([m, m]))
    coupling = huang_rhys_from_displacement(modes, np.array([[-stretch / 2, 0, 0], [stretch / 2, 0, 0]]))
    hbar_omega_meV = 64.65415 * np.sqrt(2 * k / m)  # ħ sqrt(eV/(Å² amu)) = 64.654 meV
    assert modes.frequencies_meV[-1] == pytest.approx(hbar_omega_meV, rel=1e-5)
    expected = hbar_omega_meV * (m * stretch**2 / 2) / (2 * 4.180159)  # ħ²/(amu Å²) = 4.1802 meV
    assert coupling.total == pytest.approx(expected, rel=1e-5)


def test_spectral_density_integrates_to_total_s() -> None:
    grid = np.linspace(0, 200, 4001)
    density = spectral_density(np.array([40.0, 90.0]), np.array([1.0, 0.5]), grid, sigma_meV=2.0)
    assert np.trapezoid(density, grid) == pytest.approx(1.5, rel=1e-9)


def _nv(tag: str):
    cell = read_structure(NV_DIAMOND / f"dfpt_{tag}POSCAR.gz")
    force_constants = enforce_acoustic_sum_rule(read_force_constants(NV_DIAMOND / f"dfpt_{tag}FORCE_CONSTANTS.gz", len(cell)))
    modes = gamma_normal_modes(force_constants, np.array([site.specie.atomic_mass for site in cell]))
    ground = read_structure(NV_DIAMOND / f"gs_{tag}CONTCAR.gz")
    excited = read_structure(NV_DIAMOND / f"zpl_{tag}CONTCAR.gz")
    return cell, force_constants, modes, huang_rhys_from_displacement(modes, displacement_between(ground, excited))


def test_nv_diamond_frequencies_match_phonopy_itself() -> None:
    cell, force_constants, modes, _ = _nv("")
    phonon = Phonopy(PhonopyAtoms(symbols=[s.specie.symbol for s in cell], cell=cell.lattice.matrix,
                                  scaled_positions=cell.frac_coords), supercell_matrix=np.eye(3, dtype=int),
                     primitive_matrix="P")
    phonon.force_constants = force_constants
    phonon.run_qpoints([[0, 0, 0]])
    thz_to_meV = 4.135667696
    np.testing.assert_allclose(np.sort(phonon.qpoints.frequencies[0]) * thz_to_meV,
                               modes.frequencies_meV, atol=1e-4)


def test_nv_diamond_huang_rhys_matches_published_relaxation() -> None:
    """Alkauskas et al., New J. Phys. 16, 073026 (2014), NV⁻ HSE: ΔQ = 0.69 amu^1/2 Å, ΔR = 0.19 Å, and
    S = 3.67 once converged with supercell size (a 215-atom cell gives less)."""
    *_, pbe = _nv("")
    *_, hse = _nv("hse06_")
    assert hse.delta_Q_amu_half_angstrom == pytest.approx(0.69, abs=0.04)
    assert hse.delta_R_angstrom == pytest.approx(0.19, abs=0.015)
    assert 2.9 < hse.total < 3.67
    assert pbe.total < hse.total and pbe.delta_Q_amu_half_angstrom < hse.delta_Q_amu_half_angstrom
    assert hse.n_excluded_modes == 3


def test_mismatched_files_get_clear_errors(tmp_path) -> None:
    cell = read_structure(NV_DIAMOND / "dfpt_POSCAR.gz")
    shorter = cell.copy()
    shorter.remove_sites([0])
    with pytest.raises(StructureMismatchError, match="215 and 214 atoms"):
        displacement_between(cell, shorter)
    swapped = cell.copy()
    swapped.replace(0, "C")
    swapped.replace(1, "N")
    with pytest.raises(StructureMismatchError, match="same order"):
        displacement_between(cell, swapped)
    with pytest.raises(InputFileError, match="full .*force constants"):
        read_force_constants(NV_DIAMOND / "dfpt_FORCE_CONSTANTS.gz", 64)
    with pytest.raises(InputFileError, match="not a phonopy FORCE_CONSTANTS"):
        read_force_constants(NV_DIAMOND / "gs_CONTCAR.gz", 215)
    text = tmp_path / "notes.txt"
    text.write_text("hello\n")
    with pytest.raises(InputFileError, match="not a structure file"):
        read_structure(text)

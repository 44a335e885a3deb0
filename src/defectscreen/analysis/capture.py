"""Nonradiative capture from a user's own calculations (VASP files) as a CaptureDocument."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

import numpy as np
from pymatgen.core import Structure
from scipy import constants

from defectscreen import __version__
from defectscreen.analysis.lineshape import file_record
from defectscreen.defaults import DEFAULT_CAPTURE_SIGMA_MEV, DEFAULT_MIN_PHONON_ENERGY_MEV
from defectscreen.physics.capture import capture_coefficient_unscaled, electron_phonon_coupling, sommerfeld_factor
from defectscreen.physics.ccd import (
    configuration_coordinate,
    fit_harmonic,
    harmonic_crossing_barrier,
    spline_crossing_barrier,
    spline_surface,
)
from defectscreen.physics.huang_rhys import (
    HuangRhys,
    StructureMismatchError,
    delta_Q_total,
    displacement_between,
    huang_rhys_from_displacement,
)
from defectscreen.physics.multimode_capture import (
    capture_coefficient_duschinsky,
    capture_coefficient_multimode,
    duschinsky_matrix,
)
from defectscreen.physics.normal_modes import NormalModes, atomic_masses, enforce_acoustic_sum_rule, gamma_normal_modes
from defectscreen.physics.supercell_scaling import SpheresAroundDefect, charged_supercell_scaling
from defectscreen.readers import InputFileError
from defectscreen.readers.phonopy_files import read_force_constants
from defectscreen.readers.structures import read_structure
from defectscreen.readers.vasp import read_vasprun, read_wavecar_density, read_wswq_overlap
from defectscreen.schemas.optics import (
    CaptureDocument,
    ChargedSupercellScalingRecord,
    CouplingMatrixElement,
    DuschinskySummary,
    InputRecord,
    MultimodeCaptureRecord,
    PotentialEnergySurface,
)

#: |Q − Q_min| below which a calculation counts as the relaxed minimum of its surface (amu^1/2 Å).
MINIMUM_TOLERANCE = 1e-3
#: a harmonic fit whose RMS misfit near the minimum exceeds this fraction of its ħω is not a harmonic surface
ANHARMONIC_RESIDUAL_FRACTION = 0.2
#: a path point this far (meV) below the relaxed structure: the relaxation did not reach the minimum along the path
BELOW_MINIMUM_TOLERANCE_MEV = 5.0


def harmonic_model_flags(surfaces: list[PotentialEnergySurface]) -> list[str]:
    """What makes the 1D harmonic model of these surfaces not physics: a fit near the minimum that misses its points
    by more than ``ANHARMONIC_RESIDUAL_FRACTION`` ħω (RMS), or a path point more than ``BELOW_MINIMUM_TOLERANCE_MEV``
    below the relaxed structure."""
    flags = []
    for surface in surfaces:
        state = surface.state.replace("_", " ")
        if surface.fit_residual_meV is not None and (
                surface.fit_residual_meV > ANHARMONIC_RESIDUAL_FRACTION * surface.hbar_omega_meV):
            flags.append(f"anharmonic: the harmonic fit of the {state} surface misses its points near the minimum by "
                         f"{surface.fit_residual_meV:.1f} meV RMS against ħω = {surface.hbar_omega_meV:.1f} meV; its ħω "
                         "and the 1D harmonic capture factors do not describe this surface")
        if (surface.energy_below_minimum_meV or 0.0) > BELOW_MINIMUM_TOLERANCE_MEV:
            flags.append(f"the {state} relaxed structure lies {surface.energy_below_minimum_meV:.0f} meV above a point "
                         "of the path: it is not the minimum along it (relax tighter)")
    return flags


@dataclass(frozen=True)
class CaptureSettings:
    """The physical parameters of one capture process (units in the names)."""

    delta_E_eV: float
    degeneracy: int = 1
    Z: int = 0
    effective_mass: float | None = None
    dielectric_constant: float | None = None
    charged_supercell_scaling: float = 1.0
    temperatures_K: tuple[float, ...] = tuple(float(t) for t in range(25, 801, 25))
    carrier: Literal["electron", "hole"] = "hole"


def _surface(state: Literal["initial", "final"], points: list[tuple[float, float]], minimum_q: float,
             given_meV: float | None, phonon_meV: float | None) -> tuple[PotentialEnergySurface, float | None]:
    q = np.array([p[0] for p in points])
    energy = np.array([p[1] for p in points])
    if given_meV is not None or not points:
        source = "given" if given_meV is not None else "phonons" if phonon_meV is not None else "equal_to_other_state"
        return PotentialEnergySurface(
            state=state, q_amu_half_angstrom=q.tolist(), energy_eV=energy.tolist(), minimum_q_amu_half_angstrom=minimum_q,
            hbar_omega_meV=given_meV or phonon_meV or 0.0, hbar_omega_source=source, fit_residual_meV=None,
        ), None
    at_minimum = np.abs(q - minimum_q) < MINIMUM_TOLERANCE
    if not np.any(at_minimum):
        raise InputFileError(
            f"the {state}-state calculations do not include its relaxed geometry (Q = {minimum_q:.4f} amu^1/2 Å; "
            f"given Q = {', '.join(f'{x:.4f}' for x in q)}): add the relaxed calculation to --ccd-{state}"
        )
    e0 = float(energy[at_minimum][0])
    fit = fit_harmonic(q, energy, minimum_q, e0)
    return PotentialEnergySurface(
        state=state, q_amu_half_angstrom=q.tolist(), energy_eV=energy.tolist(), minimum_q_amu_half_angstrom=minimum_q,
        hbar_omega_meV=fit.hbar_omega_meV, hbar_omega_source="harmonic_fit", fit_residual_meV=fit.residual_meV,
        energy_below_minimum_meV=1e3 * float(e0 - energy.min()),
    ), e0


@dataclass(frozen=True)
class _StatePhonons:
    modes: NormalModes
    coupling: HuangRhys
    effective_meV: float

    @property
    def delta_Q_k(self) -> np.ndarray:
        return self.coupling.delta_Q_k_amu_half_angstrom


def _state_phonons(path: str | Path, structure: Structure, displacement: np.ndarray) -> _StatePhonons:
    force_constants = enforce_acoustic_sum_rule(read_force_constants(path, len(structure)))
    modes = gamma_normal_modes(force_constants, atomic_masses(structure))
    coupling = huang_rhys_from_displacement(modes, displacement)
    weights = coupling.delta_Q_k_amu_half_angstrom**2
    effective = float(np.sqrt(np.sum(weights * modes.frequencies_meV**2) / np.sum(weights)))
    return _StatePhonons(modes=modes, coupling=coupling, effective_meV=effective)


def _duschinsky(initial: _StatePhonons, final: _StatePhonons) -> DuschinskySummary:
    rotation = duschinsky_matrix(initial.modes.eigenvectors, final.modes.eigenvectors)
    best = np.argmax(rotation**2, axis=0)
    shift = final.modes.frequencies_meV - initial.modes.frequencies_meV[best]
    optical = final.modes.frequencies_meV > 1.0
    return DuschinskySummary(
        mean_mode_mixing=float(np.mean(1.0 - np.max(rotation**2, axis=0)[optical])),
        frequency_shift_rms_meV=float(np.sqrt(np.mean(shift[optical] ** 2))),
    )


def _duschinsky_rate(initial: _StatePhonons, final: _StatePhonons, settings: CaptureSettings, W_if: float,
                     volume: float, sigma_meV: float, sommerfeld: np.ndarray) -> MultimodeCaptureRecord:
    keep_i = initial.modes.frequencies_meV >= DEFAULT_MIN_PHONON_ENERGY_MEV
    keep_f = final.modes.frequencies_meV >= DEFAULT_MIN_PHONON_ENERGY_MEV
    if keep_i.sum() != keep_f.sum():
        raise InputFileError(
            f"the two force-constant sets have {keep_i.sum()} and {keep_f.sum()} optical modes (imaginary or soft modes "
            "differ): the Duschinsky rotation needs the same number; fix the force constants or use one basis"
        )
    rotation = duschinsky_matrix(initial.modes.eigenvectors, final.modes.eigenvectors)[np.ix_(keep_i, keep_f)]
    result = capture_coefficient_duschinsky(
        np.array(settings.temperatures_K), initial.modes.frequencies_meV[keep_i], final.modes.frequencies_meV[keep_f],
        rotation, final.delta_Q_k[keep_f], settings.delta_E_eV, W_if, volume, settings.degeneracy, sigma_meV=sigma_meV,
    )
    return MultimodeCaptureRecord(
        basis="duschinsky", n_modes=result.n_modes,
        huang_rhys_total=final.coupling.total, sigma_meV=result.sigma_meV,
        sigma_sensitivity=result.sigma_sensitivity.tolist(),
        capture_coefficient_unscaled_cm3_s=result.capture_coefficient_unscaled_cm3_s.tolist(),
        capture_coefficient_cm3_s=(sommerfeld * result.capture_coefficient_unscaled_cm3_s
                                   / settings.charged_supercell_scaling).tolist(),
    )


def _q_of(path: Path, structure: Structure, final: Structure, initial: Structure) -> float:
    try:
        return configuration_coordinate(structure, final, initial)
    except StructureMismatchError as error:
        raise InputFileError(f"{path}: not a geometry of this defect supercell: {error}") from None


def _wavecar_scaling(path: str | Path, initial: Structure, bands: list[int], spin: int, kpoint: int,
                     defect_site_frac: tuple[float, float, float] | None,
                     settings: CaptureSettings) -> ChargedSupercellScalingRecord:
    """s of the band-edge bands of the initial state's WAVECAR around the defect site."""
    if defect_site_frac is None:
        raise InputFileError("--scaling-wavecar needs --defect-site (fractional coordinates of the defect)")
    if settings.charged_supercell_scaling != 1.0:
        raise InputFileError("give either --scaling or --scaling-wavecar, not both")
    density, lattice = read_wavecar_density(path, bands, spin, kpoint)
    if not np.allclose(lattice, initial.lattice.matrix, atol=1e-3):
        raise InputFileError(f"{path}: its cell is not the initial state's supercell (give the WAVECAR of the "
                             "relaxed initial state)")
    result = charged_supercell_scaling(density, SpheresAroundDefect.on_grid(np.asarray(defect_site_frac),
                                                                            density.shape, lattice))
    charge = -settings.Z if settings.carrier == "electron" else settings.Z
    return ChargedSupercellScalingRecord.from_scaling(result, charge, list(bands))


def analyze_capture_files(
    initial_path: str | Path, final_path: str | Path, settings: CaptureSettings,
    ccd_initial: list[str | Path] = (), ccd_final: list[str | Path] = (),
    wswq_dirs: list[str | Path] = (), reference_vasprun: str | Path | None = None,
    defect_band: int | None = None, bulk_bands: list[int] = (), spin: int = 1, kpoint: int = 1,
    hbar_omega_i_meV: float | None = None, hbar_omega_f_meV: float | None = None,
    W_if: float | None = None, fc_initial: str | Path | None = None, fc_final: str | Path | None = None,
    multimode_sigma_meV: float = DEFAULT_CAPTURE_SIGMA_MEV, duschinsky: bool = False,
    scaling_wavecar: str | Path | None = None, defect_site_frac: tuple[float, float, float] | None = None,
) -> CaptureDocument:
    """C(T) for capture from the relaxed `initial_path` state into the relaxed `final_path` state.

    ccd_*: vasprun.xml files of single points along the path (the relaxed one included); wswq_dirs: folders
    with WSWQ and vasprun.xml of displaced geometries, overlaps with the orbitals of `reference_vasprun`.
    fc_initial / fc_final: phonopy FORCE_CONSTANTS of each relaxed state — add the multi-mode result in that
    state's basis (both: also the Duschinsky summary) and, without CCD points, the 1D ħω of that state.
    duschinsky (needs both): also the rate with each state's own phonons rotated by J — O(n³) per time step,
    minutes for hundreds of modes.
    scaling_wavecar: WAVECAR of the relaxed initial state (the charged cell holding the free carrier): s from its
    `bulk_bands` around `defect_site_frac` (physics/supercell_scaling.py) replaces settings.charged_supercell_scaling.
    """
    initial, final = read_structure(initial_path), read_structure(final_path)
    profile = None
    if scaling_wavecar is not None:
        profile = _wavecar_scaling(scaling_wavecar, initial, bulk_bands, spin, kpoint, defect_site_frac, settings)
        settings = replace(settings, charged_supercell_scaling=profile.scaling)
    try:
        displacement = displacement_between(final, initial)
    except StructureMismatchError as error:
        raise InputFileError(f"{initial_path} and {final_path}: {error}") from None
    masses = atomic_masses(final)
    delta_Q = delta_Q_total(displacement, masses)
    inputs: list[InputRecord] = [file_record("initial_structure", initial_path), file_record("final_structure", final_path)]

    points: dict[str, list[tuple[float, float]]] = {"initial": [], "final": []}
    for state, paths in (("initial", ccd_initial), ("final", ccd_final)):
        for path in paths:
            calculation = read_vasprun(path)
            points[state].append((_q_of(Path(path), calculation.structure, final, initial), calculation.energy_eV))
            inputs.append(file_record(f"ccd_{state}", path))
    phonons: dict[str, _StatePhonons] = {}
    for state, path, structure in (("initial", fc_initial, initial), ("final", fc_final, final)):
        if path is not None:
            phonons[state] = _state_phonons(path, structure, displacement)
            inputs.append(file_record(f"force_constants_{state}", path))
    if not (points["initial"] or points["final"] or phonons) and hbar_omega_i_meV is None and hbar_omega_f_meV is None:
        raise InputFileError("no phonon energy: give CCD calculations (--ccd-initial/--ccd-final), force constants "
                             "(--fc-initial/--fc-final) or --omega-i-meV/--omega-f-meV")
    surface_i, e0_i = _surface("initial", points["initial"], delta_Q, hbar_omega_i_meV,
                               phonons["initial"].effective_meV if "initial" in phonons else None)
    surface_f, e0_f = _surface("final", points["final"], 0.0, hbar_omega_f_meV,
                               phonons["final"].effective_meV if "final" in phonons else None)
    if surface_i.hbar_omega_source == "equal_to_other_state":
        surface_i = surface_i.model_copy(update={"hbar_omega_meV": surface_f.hbar_omega_meV})
    if surface_f.hbar_omega_source == "equal_to_other_state":
        surface_f = surface_f.model_copy(update={"hbar_omega_meV": surface_i.hbar_omega_meV})

    coupling: list[CouplingMatrixElement] = []
    if W_if is None:
        if not wswq_dirs or reference_vasprun is None or defect_band is None or not bulk_bands:
            raise InputFileError(
                "W_if: give --w-if, or --wswq DIR (with WSWQ and vasprun.xml) plus --reference-vasprun, "
                "--defect-band and --bulk-band"
            )
        reference = read_vasprun(reference_vasprun)
        inputs.append(file_record("wavefunction_reference", reference_vasprun))
        if spin > reference.eigenvalues_eV.shape[0]:
            raise InputFileError(f"{reference_vasprun}: spin {spin} requested, the calculation has "
                                 f"{reference.eigenvalues_eV.shape[0]} spin channel(s)")
        q_values, files = [], []
        for folder in map(Path, wswq_dirs):
            wswq = next((p for p in (folder / "WSWQ", folder / "WSWQ.gz") if p.is_file()), None)
            run = next((p for p in (folder / "vasprun.xml", folder / "vasprun.xml.gz") if p.is_file()), None)
            if wswq is None or run is None:
                raise InputFileError(f"{folder}: needs a WSWQ and a vasprun.xml (gzip allowed) of the displaced geometry")
            q_values.append(_q_of(run, read_vasprun(run).structure, final, initial))
            files.append(wswq)
            inputs.append(file_record("wswq", wswq))
        q_values_array = np.array(q_values)
        for band in bulk_bands:
            overlaps = [np.sign(q) * read_wswq_overlap(path, spin, kpoint, band, defect_band)
                        for q, path in zip(q_values_array, files)]
            difference = float(reference.eigenvalues_eV[spin - 1, kpoint - 1, defect_band - 1]
                               - reference.eigenvalues_eV[spin - 1, kpoint - 1, band - 1])
            coupling.append(CouplingMatrixElement(
                band=band, defect_band=defect_band, spin=spin, eigenvalue_difference_eV=difference,
                q_amu_half_angstrom=q_values_array.tolist(), overlaps=overlaps,
                W_if_eV_per_amu_half_angstrom=electron_phonon_coupling(q_values_array, np.array(overlaps), difference),
            ))
        W_if = float(np.mean([abs(c.W_if_eV_per_amu_half_angstrom) for c in coupling]))

    temperatures = np.array(settings.temperatures_K, dtype=float)
    unscaled = capture_coefficient_unscaled(
        temperatures, delta_Q, settings.delta_E_eV, surface_i.hbar_omega_meV, surface_f.hbar_omega_meV,
        W_if, final.volume, settings.degeneracy,
    )
    if settings.Z != 0 and (settings.effective_mass is None or settings.dielectric_constant is None):
        raise InputFileError(f"Z = {settings.Z}: a charged defect needs --effective-mass and --dielectric for the Sommerfeld factor")
    sommerfeld = sommerfeld_factor(temperatures, settings.Z, settings.effective_mass or 1.0, settings.dielectric_constant or 1.0)
    scaled = sommerfeld * unscaled / settings.charged_supercell_scaling
    cross_section = None
    if settings.effective_mass is not None:
        velocity_cm_s = 1e2 * np.sqrt(3 * constants.k * temperatures / (settings.effective_mass * constants.m_e))
        cross_section = (scaled / velocity_cm_s).tolist()

    multimode = []
    for state, state_phonons in phonons.items():
        result = capture_coefficient_multimode(
            temperatures, state_phonons.modes.frequencies_meV, state_phonons.delta_Q_k, settings.delta_E_eV, W_if,
            final.volume, settings.degeneracy, sigma_meV=multimode_sigma_meV,
        )
        multimode.append(MultimodeCaptureRecord(
            basis=state, n_modes=result.n_modes, huang_rhys_total=state_phonons.coupling.total, sigma_meV=result.sigma_meV,
            sigma_sensitivity=result.sigma_sensitivity.tolist(),
            capture_coefficient_unscaled_cm3_s=result.capture_coefficient_unscaled_cm3_s.tolist(),
            capture_coefficient_cm3_s=(sommerfeld * result.capture_coefficient_unscaled_cm3_s
                                       / settings.charged_supercell_scaling).tolist(),
        ))
    if duschinsky:
        if len(phonons) != 2:
            raise InputFileError("the Duschinsky rate needs the force constants of both states: give --fc-initial and --fc-final")
        multimode.append(_duschinsky_rate(phonons["initial"], phonons["final"], settings, W_if, final.volume,
                                          multimode_sigma_meV, sommerfeld))
    spline_barrier = None
    if len(points["initial"]) >= 4 and len(points["final"]) >= 4:
        q_all = [p[0] for p in points["initial"] + points["final"]]
        spline_barrier = spline_crossing_barrier(
            spline_surface(*zip(*points["initial"])), spline_surface(*zip(*points["final"])),
            min(q_all), max(q_all), e0_i,
        )
    return CaptureDocument(
        carrier=settings.carrier, delta_Q_amu_half_angstrom=delta_Q,
        delta_R_angstrom=float(np.sqrt(np.sum(displacement**2))), delta_E_eV=settings.delta_E_eV,
        hbar_omega_i_meV=surface_i.hbar_omega_meV, hbar_omega_f_meV=surface_f.hbar_omega_meV,
        surfaces=[surface_i, surface_f],
        classical_barrier_harmonic_eV=harmonic_crossing_barrier(
            delta_Q, settings.delta_E_eV, surface_i.hbar_omega_meV, surface_f.hbar_omega_meV),
        classical_barrier_spline_eV=spline_barrier, coupling=coupling, W_if_eV_per_amu_half_angstrom=W_if,
        degeneracy=settings.degeneracy, Z=settings.Z, effective_mass=settings.effective_mass,
        dielectric_constant=settings.dielectric_constant, charged_supercell_scaling=settings.charged_supercell_scaling,
        charged_supercell_scaling_profile=profile,
        supercell_volume_angstrom3=float(final.volume), temperatures_K=temperatures.tolist(),
        sommerfeld_factor=sommerfeld.tolist(), capture_coefficient_unscaled_cm3_s=unscaled.tolist(),
        capture_coefficient_cm3_s=scaled.tolist(), capture_cross_section_cm2=cross_section,
        multimode=multimode,
        duschinsky=_duschinsky(phonons["initial"], phonons["final"]) if len(phonons) == 2 else None,
        flags=harmonic_model_flags([surface_i, surface_f]), inputs=inputs, defectscreen_version=__version__,
    )

"""A crystal's phonon dispersion document from phonopy force constants (users' files, or force constants the
platform computed), with the dipole–dipole correction and its Lyddane–Sachs–Teller check."""

from __future__ import annotations

from importlib.metadata import version
from pathlib import Path

import numpy as np
from phonopy import Phonopy
from pymatgen.core import Structure

import defectscreen
from defectscreen.physics.dielectric import ionic_dielectric_tensor
from defectscreen.physics.dispersion import (
    IMAGINARY_TOLERANCE_MEV,
    band_structure,
    density_of_states,
    dipole_dipole_force_constants,
    gamma_force_constants,
    gamma_frequencies,
    imaginary_modes,
    lyddane_sachs_teller_ratio,
    matching_sites,
    set_dipole_correction,
    supercell_force_constants,
)
from defectscreen.physics.finite_displacement import structure_of
from defectscreen.readers.phonopy_files import load_phonopy
from defectscreen.schemas.dielectric import DielectricDocument
from defectscreen.schemas.phonons import (
    DipoleCorrectionDocument,
    PhononBandSegmentDocument,
    PhononDispersionDocument,
)

#: Γ is approached along Cartesian x for the LO–TO numbers (any direction for a cubic crystal).
GAMMA_DIRECTION = (1.0, 0.0, 0.0)


def supercell_phonons(primitive: Structure, supercell_matrix: np.ndarray, forces_of, displacement_angstrom: float,
                      dielectric: DielectricDocument | None = None, short_range: bool = False) -> tuple[Phonopy, int]:
    """(phonopy object with the force constants of ``supercell_matrix`` × ``primitive`` from ``forces_of``, number
    of force evaluations). With a dielectric document, the Gonze–Lee term of its Z* and ε∞ is set; a
    ``short_range`` model's force constants (trained without the dipole–dipole part) first get Φ_dd of this
    supercell added back, so that the Gonze–Lee subtraction removes only what they hold."""
    phonon, evaluations = supercell_force_constants(primitive, supercell_matrix, forces_of, displacement_angstrom)
    if dielectric is None:
        return phonon, evaluations
    if short_range:
        cell, dipole_dipole = dipole_dipole_force_constants(primitive, supercell_matrix, dielectric.born_charges_e,
                                                            dielectric.epsilon_electronic)
        order = matching_sites(cell, structure_of(phonon.supercell))
        phonon.force_constants = phonon.force_constants + dipole_dipole[np.ix_(order, order)]
    set_dipole_correction(phonon, dielectric.born_charges_e, dielectric.epsilon_electronic)
    return phonon, evaluations


def _dipole_correction(phonon: Phonopy, source: str) -> DipoleCorrectionDocument:
    direction = np.array(GAMMA_DIRECTION)
    transverse, longitudinal = gamma_frequencies(phonon), gamma_frequencies(phonon, direction)
    born, epsilon_inf = phonon.nac_params["born"], phonon.nac_params["dielectric"]
    try:
        response = ionic_dielectric_tensor(born, gamma_force_constants(phonon), phonon.primitive.masses,
                                           phonon.primitive.volume)
    except ValueError:  # an unstable optical mode: no static response (flagged as imaginary modes)
        ratio = None
    else:
        epsilon_static = epsilon_inf + response.epsilon_ionic
        ratio = float(direction @ epsilon_static @ direction / (direction @ epsilon_inf @ direction))
    return DipoleCorrectionDocument(
        method="gonze-lee", source=source, born_charges_e=born.tolist(), epsilon_inf=epsilon_inf.tolist(),
        direction_cartesian=direction.tolist(), transverse_gamma_meV=transverse.tolist(),
        longitudinal_gamma_meV=longitudinal.tolist(),
        lyddane_sachs_teller_ratio=lyddane_sachs_teller_ratio(transverse, longitudinal),
        epsilon_static_ratio=ratio)


def dispersion_document(phonon: Phonopy, force_constants_source: str, dipole_source: str | None,
                        points_per_segment: int = 51, mesh_length_angstrom: float = 40.0) -> PhononDispersionDocument:
    """The dispersion document of ``phonon`` (force constants set; dipole–dipole parameters set when
    ``dipole_source`` names where they came from)."""
    primitive = structure_of(phonon.primitive)
    segments = band_structure(phonon, points_per_segment)
    energies, dos = density_of_states(phonon, mesh_length_angstrom)
    lowest, where = imaginary_modes(segments)
    flags = []
    if where is not None:
        flags.append(f"imaginary modes down to {lowest:.1f} meV at q = {np.round(where, 3).tolist()} (below "
                     f"−{IMAGINARY_TOLERANCE_MEV} meV): the structure is not at a minimum of this energy, or the "
                     "supercell is too small for these force constants")
    if dipole_source is None and len(primitive.composition.elements) > 1:
        flags.append("no dipole–dipole term: LO and TO are not split at Γ; give the Born charges and ε∞ (BORN) of "
                     "a polar crystal")
    return PhononDispersionDocument(
        formula=primitive.composition.reduced_formula, primitive_structure=primitive,
        supercell_matrix=np.asarray(phonon.supercell_matrix, dtype=int).tolist(),
        force_constants_source=force_constants_source,
        segments=[PhononBandSegmentDocument(start=s.start, end=s.end, q_points=s.q_points.tolist(),
                                            distance_inv_angstrom=s.distance_inv_angstrom.tolist(),
                                            frequencies_meV=s.frequencies_meV.tolist()) for s in segments],
        dos_energy_meV=energies.tolist(), dos_states_per_meV=dos.tolist(),
        dos_mesh=[int(n) for n in phonon.mesh.mesh_numbers],
        dipole_correction=None if dipole_source is None else _dipole_correction(phonon, dipole_source),
        lowest_frequency_meV=lowest, flags=flags, phonopy_version=version("phonopy"),
        defectscreen_version=defectscreen.__version__)


def analyze_dispersion_files(phonopy_yaml: str | Path, force_sets: str | Path | None = None,
                             force_constants: str | Path | None = None, born: str | Path | None = None,
                             points_per_segment: int = 51,
                             mesh_length_angstrom: float = 40.0) -> PhononDispersionDocument:
    """The dispersion document of a user's phonopy calculation (files as :func:`load_phonopy` reads them)."""
    phonon = load_phonopy(phonopy_yaml, force_sets, force_constants, born)
    source = ", ".join(str(path) for path in (phonopy_yaml, force_sets, force_constants) if path is not None)
    return dispersion_document(phonon, source, None if born is None else str(born), points_per_segment,
                               mesh_length_angstrom)

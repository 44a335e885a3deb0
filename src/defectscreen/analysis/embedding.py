"""Defect phonons of large supercells: embedding + a spectral method, as EmbeddedSpectrumDocuments.

`DefectPhononSource` gathers what every route needs (the defect cell's force constants and relaxation,
the host cell and its force constants); it is made from a user's files here, and from stored
documents and a per-defect potential by jobs/embedding.py. `embedded_spectrum` computes one
supercell size; `convergence_document` joins several.
"""

from __future__ import annotations

import resource
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
from pymatgen.core import Structure

from defectscreen import __version__
from defectscreen.analysis.lineshape import binned_emission, check_same_cell, file_record
from defectscreen.analysis.potential import model_forces
from defectscreen.defaults import DEFAULT_GAMMA_MEV, DEFAULT_SIGMA_MEV, EMBEDDING_METHODS
from defectscreen.engines.slepc import DEFAULT_SLEPC_TOLERANCE, window_modes
from defectscreen.physics.embedding import (
    EmbeddedCell,
    EmbeddingRadii,
    cell_width_angstrom,
    default_radii,
    embed_force_constants,
    host_force_constants_from_far_field,
)
from defectscreen.physics.finite_displacement import force_constants_by_displacement
from defectscreen.physics.host_lattice import HostCell, host_cell
from defectscreen.physics.huang_rhys import displacement_between, spectral_density
from defectscreen.physics.lineshape import optical_lineshape
from defectscreen.physics.normal_modes import atomic_masses, enforce_acoustic_sum_rule, mass_weighted_dynamical_matrix
from defectscreen.physics.spectral_function import (
    DEFAULT_SPECTRUM_TOLERANCE,
    SpectralFunction,
    chebyshev_spectral_function,
    dense_spectral_function,
    huang_rhys_weights,
    lanczos_spectral_function,
    spectrum_bounds,
)
from defectscreen.physics.units import MEV_PER_SQRT_EIGENVALUE
from defectscreen.readers import InputFileError
from defectscreen.readers.phonopy_files import read_force_constants
from defectscreen.readers.structures import read_structure
from defectscreen.schemas.embedding import (
    EmbeddedSpectrumDocument,
    EmbeddingConvergenceDocument,
    EmbeddingRecord,
    SolverRecord,
)
from defectscreen.schemas.optics import InputRecord

Method = Literal["dense", "lanczos", "chebyshev", "slepc"]
#: Above this many atoms dense diagonalization is refused (≈ 4 GB and minutes at 4000 atoms here).
MAX_DENSE_ATOMS = 4000
SPECTRUM_STEP_MEV = 0.25


@dataclass(frozen=True)
class DefectPhononSource:
    """A defect cell with force constants (ASR enforced) and relaxation ΔR, laid over its host cell."""

    label: str
    defect: Structure
    defect_force_constants: np.ndarray
    displacement_angstrom: np.ndarray
    host: HostCell
    host_force_constants: np.ndarray
    host_force_constants_source: Literal["far_field", "potential", "host_potential", "file"]
    inputs: list[InputRecord]
    parent_uuids: list[str]


def source_from_files(force_constants_path, cell_path, ground_path, excited_path, label: str,
                      host_cell_path=None, host_force_constants_path=None) -> DefectPhononSource:
    """Defect FC (phonopy FORCE_CONSTANTS of ``cell_path``), ΔR = excited − ground; host cell given or recovered
    from the defect cell; host FC from a file or from the defect cell's far field."""
    cell = read_structure(cell_path)
    ground, excited = read_structure(ground_path), read_structure(excited_path)
    check_same_cell(cell, ground, "ground state", Path(ground_path))
    check_same_cell(cell, excited, "excited state", Path(excited_path))
    defect_fc = enforce_acoustic_sum_rule(read_force_constants(force_constants_path, len(cell)))
    inputs = [file_record("force_constants", force_constants_path), file_record("force_constant_cell", cell_path),
              file_record("ground_structure", ground_path), file_record("excited_structure", excited_path)]
    host = host_cell(cell, read_structure(host_cell_path) if host_cell_path else None)
    if host_cell_path:
        inputs.append(file_record("host_cell", host_cell_path))
    if host_force_constants_path:
        if not host_cell_path:
            raise InputFileError("--bulk-fc needs --bulk-cell: host force constants belong to a given host cell")
        host_fc = enforce_acoustic_sum_rule(read_force_constants(host_force_constants_path, len(host.host)))
        inputs.append(file_record("host_force_constants", host_force_constants_path))
        source = "file"
    else:
        host_fc = enforce_acoustic_sum_rule(host_force_constants_from_far_field(host, cell, defect_fc))
        source = "far_field"
    return DefectPhononSource(
        label=label, defect=ground, defect_force_constants=defect_fc,
        displacement_angstrom=displacement_between(ground, excited), host=host, host_force_constants=host_fc,
        host_force_constants_source=source, inputs=inputs, parent_uuids=[],
    )


def source_from_potential(label: str, basis: Structure, other: Structure, basis_force_constants: np.ndarray,
                          host: Structure, model_file: Path, backend: str, parent_uuids: list[str],
                          host_potential: bool = False) -> DefectPhononSource:
    """The platform's route (seed 000 Fig. 3a): the defect cell's force constants from its potential, the host
    cell's force constants from the model ``model_file`` — the same potential, or with ``host_potential`` the host's
    own (trained on perturbed host cells) — and ΔR = other − basis relaxed geometries."""
    cell = host_cell(basis, host)
    host_fc, _ = force_constants_by_displacement(cell.host, model_forces(model_file, backend))
    return DefectPhononSource(
        label=label, defect=basis, defect_force_constants=enforce_acoustic_sum_rule(basis_force_constants),
        displacement_angstrom=displacement_between(basis, other), host=cell,
        host_force_constants=enforce_acoustic_sum_rule(host_fc),
        host_force_constants_source="host_potential" if host_potential else "potential",
        inputs=[], parent_uuids=parent_uuids,
    )


def defect_cell_matrix(source: DefectPhononSource):
    """(D, v) of the defect cell itself: D in eV/(Å² amu) as a dense array, v = M^1/2 ΔR."""
    masses = atomic_masses(source.defect)
    return (mass_weighted_dynamical_matrix(source.defect_force_constants, masses),
            (np.sqrt(masses)[:, None] * source.displacement_angstrom).ravel())


def _solve(method: Method, matrix, vector, grid, sigma_meV, tolerance, window_meV):
    n_atoms = matrix.shape[0] // 3
    if method == "dense":
        if n_atoms > MAX_DENSE_ATOMS:
            raise ValueError(f"method 'dense' on {n_atoms} atoms: dense diagonalization is limited to "
                             f"{MAX_DENSE_ATOMS} atoms here; use 'lanczos' (any size) or 'slepc' (a window)")
        return dense_spectral_function(matrix, vector, grid, sigma_meV), None
    if method == "lanczos":
        return lanczos_spectral_function(matrix, vector, grid, sigma_meV, tolerance), None
    if method == "chebyshev":
        return chebyshev_spectral_function(matrix, vector, grid, sigma_meV, tolerance), None
    if method != "slepc":
        raise ValueError(f"method = {method!r}: choose one of {', '.join(EMBEDDING_METHODS)}")
    if window_meV is None:
        raise ValueError("method 'slepc' needs window_meV (lower, upper): it finds every mode in a window")
    found = window_modes(matrix, vector, window_meV, DEFAULT_SLEPC_TOLERANCE)
    energies, factors = huang_rhys_weights(found.eigenvalues, found.projections**2)
    inside = (grid >= window_meV[0]) & (grid <= window_meV[1])
    spectrum = np.where(inside, spectral_density(energies, factors, grid, sigma_meV), 0.0)
    result = SpectralFunction(
        method="slepc", energy_grid_meV=grid, spectral_function_per_meV=spectrum,
        huang_rhys_total=float(factors.sum()), mode_energies_meV=energies, partial_huang_rhys=factors,
        sigma_meV=sigma_meV, order=len(energies), convergence_change=0.0,
        converged=bool(len(energies) == 0 or found.relative_residuals.max() < 1e-6), matrix_vector_products=0,
    )
    return result, found


def embedded_spectrum(
    source: DefectPhononSource, repetitions: tuple[int, int, int] = (1, 1, 1), method: Method = "lanczos",
    radii: EmbeddingRadii | None = None, sigma_meV: float = DEFAULT_SIGMA_MEV, gamma_meV: float = DEFAULT_GAMMA_MEV,
    zpl_energy_eV: float | None = None, temperature_K: float = 0.0,
    tolerance: float = DEFAULT_SPECTRUM_TOLERANCE, window_meV: tuple[float, float] | None = None,
    max_energy_meV: float | None = None,
) -> EmbeddedSpectrumDocument:
    """S(ħω) of one supercell size, and the PL band where the method gives modes or quadrature nodes (dense,
    Lanczos: the generating function of the nodes); Chebyshev gives S(ħω) only, SLEPc the modes in a window.

    repetitions (1, 1, 1) is the defect cell with its own force constants; larger ones are embedded with
    ``radii`` (default r_d = w/4, r_b = w/2)."""
    start = time.perf_counter()
    embedded: EmbeddedCell | None = None
    if tuple(repetitions) == (1, 1, 1):
        matrix, vector = defect_cell_matrix(source)
        nonzeros = float(np.count_nonzero(matrix)) / len(source.defect)
    else:
        chosen = radii or default_radii(source.defect.lattice)
        embedded = embed_force_constants(source.host, source.defect, source.defect_force_constants,
                                         source.host_force_constants, source.displacement_angstrom,
                                         tuple(repetitions), chosen)
        matrix, vector = embedded.dynamical_matrix, embedded.mass_weighted_displacement
        nonzeros = embedded.dynamical_matrix.nnz / embedded.n_atoms
    built = time.perf_counter()
    top = max_energy_meV or 1.25 * _highest_mode_meV(source)
    grid = np.arange(0.0, top + SPECTRUM_STEP_MEV / 2, SPECTRUM_STEP_MEV)
    result, found = _solve(method, matrix, vector, grid, sigma_meV, tolerance, window_meV)
    solved = time.perf_counter()
    band = None
    if method in ("dense", "lanczos"):
        band = optical_lineshape(result.mode_energies_meV, result.partial_huang_rhys, zpl_energy_eV, sigma_meV,
                                 gamma_meV, temperature_K)
    photon, intensity = (None, None) if band is None else binned_emission(band)
    keep = result.partial_huang_rhys > 0
    return EmbeddedSpectrumDocument(
        label=source.label, n_atoms=matrix.shape[0] // 3, repetitions=list(repetitions),
        embedding=None if embedded is None else EmbeddingRecord(
            defect_radius_angstrom=embedded.radii.defect_radius_angstrom,
            boundary_radius_angstrom=embedded.radii.boundary_radius_angstrom,
            radii_rule=("given" if radii else
                        f"default: r_d = w/4, r_b = w/2 (w = {cell_width_angstrom(source.defect.lattice):.3f} Å)"),
            host_force_constants=source.host_force_constants_source, n_defect_pairs=embedded.n_defect_pairs,
            acoustic_sum_rule_residual_eV_per_angstrom2=embedded.acoustic_sum_rule_residual,
        ),
        solver=SolverRecord(
            method=method, order=result.order,
            tolerance=DEFAULT_SLEPC_TOLERANCE if method == "slepc" else (0.0 if method == "dense" else tolerance),
            convergence_change=result.convergence_change, converged=result.converged,
            matrix_vector_products=result.matrix_vector_products,
            window_meV=None if found is None else list(found.window_meV),
            max_relative_residual=None if found is None or not found.relative_residuals.size
            else float(found.relative_residuals.max()),
        ),
        sigma_meV=sigma_meV, huang_rhys_total=result.huang_rhys_total,
        spectral_density_energy_meV=grid.tolist(), spectral_density_per_meV=result.spectral_function_per_meV.tolist(),
        mode_energies_meV=result.mode_energies_meV[keep].tolist(),
        partial_huang_rhys=result.partial_huang_rhys[keep].tolist(),
        inverse_participation_ratio=None if found is None else found.participation[keep].tolist(),
        zpl_energy_eV=zpl_energy_eV, debye_waller=None if band is None else band.debye_waller,
        temperature_K=temperature_K,
        photon_energy_eV=photon, intensity_per_eV=intensity,
        gamma_meV=gamma_meV, nonzeros_per_atom=nonzeros,
        build_wall_time_s=built - start, solve_wall_time_s=solved - built,
        peak_memory_MiB=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
        inputs=source.inputs, parent_uuids=source.parent_uuids, defectscreen_version=__version__,
    )


def _highest_mode_meV(source: DefectPhononSource) -> float:
    matrix, vector = defect_cell_matrix(source)
    start = np.random.default_rng(0).standard_normal(vector.size)
    return float(MEV_PER_SQRT_EIGENVALUE * np.sqrt(spectrum_bounds(matrix, start)[1]))


def convergence_document(points: list[EmbeddedSpectrumDocument], parent_uuids: list[str] | None = None
                         ) -> EmbeddingConvergenceDocument:
    """Join per-size documents (any order) into the convergence study."""
    ordered = sorted(points, key=lambda point: point.n_atoms)
    last, previous = ordered[-1], ordered[-2] if len(ordered) > 1 else ordered[-1]
    a, b = np.array(last.spectral_density_per_meV), np.array(previous.spectral_density_per_meV)
    n = min(a.size, b.size)
    return EmbeddingConvergenceDocument(
        label=last.label, method=last.solver.method, points=ordered,
        huang_rhys_change_last=last.huang_rhys_total / previous.huang_rhys_total - 1.0,
        spectral_density_change_last=float(np.max(np.abs(a[:n] - b[:n])) / np.max(a)),
        parent_uuids=parent_uuids or [], defectscreen_version=__version__,
    )


def write_spectrum_csv(document: EmbeddedSpectrumDocument, path: Path) -> None:
    """ħω (meV), S(ħω) (1/meV) as CSV."""
    data = np.column_stack([document.spectral_density_energy_meV, document.spectral_density_per_meV])
    np.savetxt(path, data, delimiter=",", header="energy_meV,spectral_density_per_meV", comments="")

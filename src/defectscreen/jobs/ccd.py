"""The 1D configuration-coordinate diagram of a defect between two adjacent charge states."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
from jobflow import Maker, job

import defectscreen
from defectscreen.analysis.capture import harmonic_model_flags
from defectscreen.engines import GpawSettings, XtbSettings, engine_record, parse_engine_settings
from defectscreen.engines.ranks import on_ranks
from defectscreen.jobs.coupling import gpaw_couplings
from defectscreen.jobs.provenance import parent_uuids, provenance, read
from defectscreen.jobs.reference import path_energies
from defectscreen.physics.capture import capture_coefficient_unscaled
from defectscreen.physics.ccd import fit_harmonic, harmonic_crossing_barrier, interpolate_structures
from defectscreen.physics.huang_rhys import delta_Q_total, displacement_between
from defectscreen.physics.normal_modes import atomic_masses
from defectscreen.schemas import ConfigurationCoordinateDocument, EngineRecord, TaskDocument
from defectscreen.schemas.optics import CapturePhononFactor, PotentialEnergySurface

#: Fractions of the path (0: lower charge's minimum, 1: higher charge's) where both charges are evaluated.
DEFAULT_PATH_FRACTIONS = (-0.2, -0.1, 0.1, 0.2, 0.35, 0.5, 0.65, 0.8, 0.9, 1.1, 1.2)
HARMONIC_FIT_WINDOW = 0.2
DEFAULT_DELTA_E_EV = tuple(round(0.1 * i, 1) for i in range(2, 31))
DEFAULT_TEMPERATURES_K = tuple(float(t) for t in range(50, 801, 50))
FINAL_STATE_DEGENERACY = 1
class NotAMinimumError(RuntimeError):
    """A relaxed structure whose energy falls away along the configuration coordinate."""


@dataclass
class ConfigurationCoordinateMaker(Maker):
    """Single points of both charge states along the straight path between their relaxed structures,
    harmonic fits near each minimum, and C̃(T, ΔE)/W_if² for electron and hole capture."""

    name: str = "configuration coordinate"
    engine_settings: dict = field(default_factory=lambda: XtbSettings().model_dump(mode="json"))
    path_fractions: tuple[float, ...] = DEFAULT_PATH_FRACTIONS

    @job(output_schema=ConfigurationCoordinateDocument, config=provenance())
    def make(self, higher: TaskDocument, lower: TaskDocument, campaign_sha256: str) -> ConfigurationCoordinateDocument:
        start = time.perf_counter()
        higher, lower = read(higher, TaskDocument), read(lower, TaskDocument)
        engine = parse_engine_settings(self.engine_settings)
        displacement = displacement_between(lower.structure, higher.structure)
        masses = atomic_masses(lower.structure)
        delta_Q = delta_Q_total(displacement, masses)
        fractions = np.array(self.path_fractions)
        structures = interpolate_structures(lower.structure, higher.structure, fractions)
        surfaces = []
        for task, minimum_fraction in ((lower, 0.0), (higher, 1.0)):
            q = np.concatenate([[minimum_fraction], fractions]) * delta_Q
            energies = np.array([task.energy_eV, *on_ranks(engine, path_energies, structures, task.labels, engine)])
            near = np.abs(q - minimum_fraction * delta_Q) <= HARMONIC_FIT_WINDOW * delta_Q + 1e-12
            try:
                fit = fit_harmonic(q[near], energies[near], minimum_fraction * delta_Q, task.energy_eV)
            except ValueError as error:
                raise NotAMinimumError(
                    f"{task.labels.calculation_id}: its relaxed structure is not a minimum along the path to the other "
                    f"charge state ({error}). Typical of a symmetric saddle (e.g. Jahn–Teller): relax from a distorted "
                    "start or tighten relax.fmax_eV_per_angstrom"
                ) from None
            order = np.argsort(q)
            surfaces.append(PotentialEnergySurface(
                state="lower_charge" if minimum_fraction == 0.0 else "higher_charge", q_amu_half_angstrom=q[order].tolist(),
                energy_eV=energies[order].tolist(), minimum_q_amu_half_angstrom=minimum_fraction * delta_Q,
                hbar_omega_meV=fit.hbar_omega_meV, hbar_omega_source="harmonic_fit", fit_residual_meV=fit.residual_meV,
                energy_below_minimum_meV=1e3 * float(task.energy_eV - energies.min()),
            ))
        omega_lower, omega_higher = surfaces[0].hbar_omega_meV, surfaces[1].hbar_omega_meV
        orbitals = on_ranks(engine, gpaw_couplings, higher, lower, engine, delta_Q) if isinstance(
            engine, GpawSettings) else None
        factors = []
        for carrier, (initial_charge, omega_i), (final_charge, omega_f) in (
            ("electron", (higher.labels.charge, omega_higher), (lower.labels.charge, omega_lower)),
            ("hole", (lower.labels.charge, omega_lower), (higher.labels.charge, omega_higher)),
        ):
            table = [capture_coefficient_unscaled(np.array(DEFAULT_TEMPERATURES_K), delta_Q, delta_E, omega_i, omega_f,
                                                  1.0, lower.structure.volume, FINAL_STATE_DEGENERACY).tolist()
                     for delta_E in DEFAULT_DELTA_E_EV]
            coupled = orbitals.W_if.get(carrier) if orbitals else None
            profile = orbitals.scaling.get(carrier) if orbitals else None
            scaling = profile.scaling if profile else (1.0 if orbitals and initial_charge == 0 else None)
            factors.append(CapturePhononFactor(
                carrier=carrier, initial_charge=initial_charge, final_charge=final_charge, hbar_omega_i_meV=omega_i,
                hbar_omega_f_meV=omega_f, delta_E_eV=list(DEFAULT_DELTA_E_EV), temperatures_K=list(DEFAULT_TEMPERATURES_K),
                capture_coefficient_per_W_if2_cm3_s=table,
                classical_barrier_harmonic_eV=[harmonic_crossing_barrier(delta_Q, e, omega_i, omega_f)
                                               for e in DEFAULT_DELTA_E_EV],
                W_if_eV_per_amu_half_angstrom=coupled,
                capture_coefficient_unscaled_cm3_s=None if coupled is None else (np.array(table) * coupled**2).tolist(),
                charged_supercell_scaling=scaling, charged_supercell_scaling_profile=profile,
            ))
        return ConfigurationCoordinateDocument(
            calculation_id=f"{lower.labels.host}:{lower.labels.defect_name}:{higher.labels.charge}/{lower.labels.charge}",
            host=lower.labels.host, defect_name=lower.labels.defect_name, higher_charge=higher.labels.charge,
            lower_charge=lower.labels.charge, delta_Q_amu_half_angstrom=delta_Q,
            delta_R_angstrom=float(np.sqrt(np.sum(displacement**2))), surfaces=surfaces,
            harmonic_fit_window=HARMONIC_FIT_WINDOW, supercell_volume_angstrom3=lower.structure.volume,
            final_state_degeneracy=FINAL_STATE_DEGENERACY, phonon_factors=factors,
            coupling=orbitals.elements if orbitals else [], defect_orbital_ipr=orbitals.defect_orbital_ipr if orbitals else None,
            defect_orbital_density_ratio=orbitals.defect_orbital_density_ratio if orbitals else None,
            engine=EngineRecord(**engine_record(engine)),
            n_single_points=2 * len(fractions) + (orbitals.n_scf if orbitals else 0),
            wall_time_s=time.perf_counter() - start, campaign_sha256=campaign_sha256, parent_uuids=parent_uuids(),
            flags=harmonic_model_flags(surfaces), defectscreen_version=defectscreen.__version__,
        )

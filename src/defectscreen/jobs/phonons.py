"""Γ-point phonons of a relaxed defect supercell (from its potential or directly from the engine) and the
Huang–Rhys factors between adjacent charge states."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from jobflow import Maker, job

import defectscreen
from defectscreen.analysis.potential import model_file_from, model_forces, phonon_flags, soft_mode_checks
from defectscreen.defaults import DEFAULT_DISPLACEMENT_ANGSTROM, DEFAULT_SIGMA_MEV
from defectscreen.engines import XtbSettings, engine_record, parse_engine_settings
from defectscreen.jobs.provenance import parent_uuids, provenance, read, read_all, uuid_of
from defectscreen.jobs.reference import engine_forces_function
from defectscreen.physics.dispersion import IMAGINARY_TOLERANCE_MEV
from defectscreen.physics.finite_displacement import (
    force_constants_by_displacement,
    largest_residual_force_meV_per_angstrom,
)
from defectscreen.physics.huang_rhys import (
    delta_Q_total,
    displacement_between,
    huang_rhys_from_displacement,
    spectral_density,
)
from defectscreen.physics.mode_comparison import compare_normal_modes
from defectscreen.physics.normal_modes import (
    NormalModes,
    atomic_masses,
    inverse_participation_ratio,
    structure_normal_modes,
)
from defectscreen.schemas import EngineRecord, TaskDocument
from defectscreen.schemas.phonons import (
    HuangRhysDocument,
    HuangRhysRecord,
    PhononComparison,
    PhononDocument,
    PotentialDocument,
    TrainingSetDocument,
)


class PotentialRejectedError(RuntimeError):
    """A flagged potential (validation error above the campaign's threshold) was asked for phonons."""


def require_usable(potential: PotentialDocument) -> None:
    """PotentialRejectedError with the stored reason unless the potential passed its validation threshold."""
    if not potential.usable:
        raise PotentialRejectedError(f"{potential.calculation_id}: potential not used: {potential.flag_reason}")


@dataclass
class GammaPhononMaker(Maker):
    """Γ phonons by ± finite displacements with forces from the defect's potential (``potential`` given; with its
    ``training_set``, each imaginary mode and the softest real one are checked against the curvature the engine's
    perturbed cells give along it) or from the campaign's engine (``potential`` None; then ``compare_with``
    phonons from the potential are compared against these)."""

    name: str = "gamma phonons"
    engine_settings: dict = field(default_factory=lambda: XtbSettings().model_dump(mode="json"))
    displacement_angstrom: float = DEFAULT_DISPLACEMENT_ANGSTROM

    @job(output_schema=PhononDocument, data=["eigenvectors", "force_constants_eV_per_angstrom2"],
         config=provenance())
    def make(self, relaxed: TaskDocument, campaign_sha256: str, potential: PotentialDocument | None = None,
             compare_with: PhononDocument | None = None,
             training_set: TrainingSetDocument | None = None) -> PhononDocument:
        start = time.perf_counter()
        potential_uuid, compare_with_uuid = uuid_of(potential), uuid_of(compare_with)
        relaxed, potential = read(relaxed, TaskDocument), read(potential, PotentialDocument)
        compare_with, training_set = read(compare_with, PhononDocument), read(training_set, TrainingSetDocument)
        engine = parse_engine_settings(self.engine_settings)
        if potential is not None:
            require_usable(potential)
            forces_of = model_forces(model_file_from(potential, Path.cwd() / "model"), potential.backend)
            undisplaced_forces = forces_of([relaxed.structure])[0]
        else:
            forces_of = engine_forces_function(relaxed.labels, engine)
            undisplaced_forces = relaxed.forces_eV_per_angstrom
        force_constants, n_evaluations = force_constants_by_displacement(
            relaxed.structure, forces_of, self.displacement_angstrom
        )
        modes = structure_normal_modes(relaxed.structure, force_constants)
        checks = [] if potential is None or training_set is None else soft_mode_checks(
            modes, force_constants, np.array(training_set.displacements_angstrom),
            np.array(training_set.forces_eV_per_angstrom))
        comparison = None
        if compare_with is not None:
            candidate = NormalModes(np.array(compare_with.frequencies_meV), np.array(compare_with.eigenvectors),
                                    modes.masses_amu)
            comparison = PhononComparison(potential_phonons_uuid=compare_with_uuid,
                                          **vars(compare_normal_modes(modes, candidate)))
        residual_force = largest_residual_force_meV_per_angstrom(undisplaced_forces)
        return PhononDocument(
            calculation_id=relaxed.labels.calculation_id, labels=relaxed.labels,
            force_source="engine" if potential is None else "potential", structure=relaxed.structure,
            displacement_angstrom=self.displacement_angstrom, n_force_evaluations=n_evaluations,
            frequencies_meV=modes.frequencies_meV.tolist(),
            inverse_participation_ratio=inverse_participation_ratio(modes.eigenvectors).tolist(),
            n_imaginary_modes=int(np.count_nonzero(modes.frequencies_meV < -IMAGINARY_TOLERANCE_MEV)),
            largest_residual_force_meV_per_angstrom=residual_force,
            eigenvectors=modes.eigenvectors.tolist(), force_constants_eV_per_angstrom2=force_constants.tolist(),
            comparison=comparison, mode_curvatures=[check.record() for check in checks],
            flags=phonon_flags(modes.frequencies_meV, residual_force, checks, "of its training set",
                               "engine" if potential is None else "potential"),
            engine=EngineRecord(**engine_record(engine)),
            potential_uuid=potential_uuid,
            model_sha256=None if potential is None else potential.model_sha256,
            wall_time_s=time.perf_counter() - start, campaign_sha256=campaign_sha256,
            parent_uuids=parent_uuids(),
            defectscreen_version=defectscreen.__version__,
        )


@dataclass
class HuangRhysMaker(Maker):
    """ΔQ, ΔR and S_k between two adjacent charge states, in each state's phonons (potential and, where
    computed, engine), with S(ħω) of Gaussian width sigma_meV."""

    name: str = "huang-rhys"
    sigma_meV: float = DEFAULT_SIGMA_MEV

    @job(output_schema=HuangRhysDocument, config=provenance())
    def make(self, higher: TaskDocument, lower: TaskDocument, phonons: list[PhononDocument],
             campaign_sha256: str) -> HuangRhysDocument:
        higher, lower = read(higher, TaskDocument), read(lower, TaskDocument)
        displacement = displacement_between(lower.structure, higher.structure)
        masses = atomic_masses(lower.structure)
        records = []
        for document, uuid in zip(read_all(phonons, PhononDocument), [uuid_of(p) for p in phonons]):
            modes = NormalModes(np.array(document.frequencies_meV), np.array(document.eigenvectors), masses)
            result = huang_rhys_from_displacement(modes, displacement)
            grid = np.arange(0.0, max(modes.frequencies_meV.max(), 0.0) + 5 * self.sigma_meV, 0.25)
            records.append(HuangRhysRecord(
                phonon_basis="higher_charge" if document.labels.charge == higher.labels.charge else "lower_charge",
                force_source=document.force_source, phonons_uuid=uuid, huang_rhys_total=result.total,
                mean_phonon_energy_meV=(float(result.partial_huang_rhys @ modes.frequencies_meV / result.total)
                                        if result.total > 0 else None),
                partial_huang_rhys=result.partial_huang_rhys.tolist(), spectral_density_energy_meV=grid.tolist(),
                spectral_density_per_meV=spectral_density(modes.frequencies_meV, result.partial_huang_rhys, grid,
                                                          self.sigma_meV).tolist(),
                n_modes_excluded=result.n_excluded_modes, phonon_flags=document.flags,
            ))
        totals = {(r.phonon_basis, r.force_source): r.huang_rhys_total for r in records}
        comparison = {basis: totals[(basis, "potential")] / totals[(basis, "engine")] - 1.0
                      for basis, source in totals
                      if source == "engine" and (basis, "potential") in totals and totals[(basis, source)] > 0}
        return HuangRhysDocument(
            calculation_id=f"{lower.labels.host}:{lower.labels.defect_name}:{higher.labels.charge}/{lower.labels.charge}",
            host=lower.labels.host, defect_name=lower.labels.defect_name, higher_charge=higher.labels.charge,
            lower_charge=lower.labels.charge, delta_Q_amu_half_angstrom=delta_Q_total(displacement, masses),
            delta_R_angstrom=float(np.sqrt(np.sum(displacement**2))), sigma_meV=self.sigma_meV, records=records,
            potential_vs_engine_huang_rhys=comparison, campaign_sha256=campaign_sha256,
            parent_uuids=parent_uuids(), defectscreen_version=defectscreen.__version__,
        )

"""One defect, one potential: the training set of perturbed supercells and the trained model."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from jobflow import Maker, job
from pymatgen.core import Structure

import defectscreen
from defectscreen.engines import GpawSettings, XtbSettings, engine_record, parse_engine_settings
from defectscreen.engines.ranks import on_ranks
from defectscreen.jobs.provenance import parent_uuids, provenance, read, uuid_of
from defectscreen.jobs.reference import reference_atoms
from defectscreen.mlip.dataset import labelled_frame, perturbed_structures, train_validation_split
from defectscreen.mlip.potential import PotentialRecipe, fit_potential
from defectscreen.physics.dispersion import (
    dipole_dipole_force_constants,
    harmonic_energy_and_forces,
    matching_sites,
    supercell_matrix_of,
)
from defectscreen.schemas import CalculationLabels, EngineRecord, TaskDocument
from defectscreen.schemas.dielectric import DielectricDocument
from defectscreen.schemas.phonons import FrameSource, PotentialDocument, TrainingSetDocument


def engine_frames(structures: list[Structure], labels: CalculationLabels, engine: XtbSettings | GpawSettings) -> list:
    """One single point of the engine per structure (charge and spin of ``labels``), as labelled frames."""
    frames = []
    for structure in structures:
        atoms = reference_atoms(structure, labels, engine)
        frames.append(labelled_frame(structure, atoms.get_potential_energy(), atoms.get_forces()))
    return frames


@dataclass
class TrainingSetMaker(Maker):
    """n_structures perturbed copies of a relaxed supercell, labelled by single points of the campaign's engine."""

    name: str = "training set"
    engine_settings: dict = field(default_factory=lambda: XtbSettings().model_dump(mode="json"))
    recipe: dict = field(default_factory=lambda: PotentialRecipe().model_dump(mode="json"))

    @job(output_schema=TrainingSetDocument, data=["displacements_angstrom", "forces_eV_per_angstrom"],
         config=provenance())
    def make(self, relaxed: TaskDocument, campaign_sha256: str) -> TrainingSetDocument:
        start = time.perf_counter()
        relaxed = read(relaxed, TaskDocument)
        recipe = PotentialRecipe.model_validate(self.recipe)
        engine = parse_engine_settings(self.engine_settings)
        structures = perturbed_structures(relaxed.structure, recipe.n_structures, recipe.r_max_angstrom, recipe.seed)
        frames = on_ranks(engine, engine_frames, structures, relaxed.labels, engine)
        train, validation = train_validation_split(len(structures), recipe.validation_fraction, recipe.seed)
        return TrainingSetDocument(
            calculation_id=relaxed.labels.calculation_id, labels=relaxed.labels, reference_structure=relaxed.structure,
            n_structures=recipe.n_structures, r_max_angstrom=recipe.r_max_angstrom, seed=recipe.seed,
            displacements_angstrom=[(s.cart_coords - relaxed.structure.cart_coords).tolist() for s in structures],
            energies_eV=[float(f.get_potential_energy()) for f in frames],
            forces_eV_per_angstrom=[f.get_forces().tolist() for f in frames], train_indices=train, validation_indices=validation,
            engine=EngineRecord(**engine_record(engine)), wall_time_s=time.perf_counter() - start,
            campaign_sha256=campaign_sha256, parent_uuids=parent_uuids(), defectscreen_version=defectscreen.__version__,
        )


def training_frames(training_set: TrainingSetDocument) -> list:
    """The labelled frames of a stored training set, in its order."""
    reference = training_set.reference_structure.to_ase_atoms()
    frames = []
    for shift, energy, forces in zip(training_set.displacements_angstrom, training_set.energies_eV,
                                     training_set.forces_eV_per_angstrom):
        atoms = reference.copy()
        atoms.positions = reference.positions + np.array(shift)
        frames.append(labelled_frame(atoms, energy, forces))
    return frames


def short_range_frames(training_set: TrainingSetDocument, dielectric: DielectricDocument) -> list:
    """The training frames with the dipole–dipole energy and forces of their periodic supercell subtracted (Z*, ε∞
    of ``dielectric``; harmonic in the displacements from the reference structure): what is left is short-ranged,
    which a model with a cutoff can represent in any supercell."""
    reference, primitive = training_set.reference_structure, dielectric.structure
    cell, force_constants = dipole_dipole_force_constants(
        primitive, supercell_matrix_of(reference, primitive), dielectric.born_charges_e, dielectric.epsilon_electronic)
    order = matching_sites(cell, reference)
    force_constants = force_constants[np.ix_(order, order)]
    frames = []
    for frame, shift in zip(training_frames(training_set), training_set.displacements_angstrom):
        energy, forces = harmonic_energy_and_forces(force_constants, np.array(shift))
        frames.append(labelled_frame(frame, frame.get_potential_energy() - energy, frame.get_forces() - forces))
    return frames


@dataclass
class PotentialMaker(Maker):
    """Train one potential on one training set; the model file goes to the blob store with its checksum. With a
    ``dielectric`` document, on the labels less their dipole–dipole part (:func:`short_range_frames`)."""

    name: str = "potential"
    recipe: dict = field(default_factory=lambda: PotentialRecipe().model_dump(mode="json"))

    @job(output_schema=PotentialDocument, data=["model_base64"], config=provenance())
    def make(self, training_set: TrainingSetDocument, campaign_sha256: str,
             dielectric: DielectricDocument | None = None) -> PotentialDocument:
        frames_uuid, dielectric_uuid = uuid_of(training_set), uuid_of(dielectric)
        training_set, dielectric = read(training_set, TrainingSetDocument), read(dielectric, DielectricDocument)
        frames = training_frames(training_set) if dielectric is None else short_range_frames(training_set, dielectric)
        fields = fit_potential([frames[i] for i in training_set.train_indices],
                               [frames[i] for i in training_set.validation_indices],
                               PotentialRecipe.model_validate(self.recipe), Path.cwd() / "potential")
        return PotentialDocument(
            calculation_id=training_set.calculation_id, labels=training_set.labels,
            frames=FrameSource(uuid=frames_uuid), campaign_sha256=campaign_sha256, parent_uuids=parent_uuids(),
            dipole_dipole_subtracted=dielectric_uuid, **fields,
        )

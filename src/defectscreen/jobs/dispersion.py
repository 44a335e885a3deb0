"""A host's phonon dispersion: from its own fine-tuned potential in a supercell beyond the model's range, or directly
from the engine in the relaxation's supercell (validation), with the LO–TO term of its computed Born charges."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
from jobflow import Maker, job

from defectscreen.analysis.dispersion import dispersion_document, supercell_phonons
from defectscreen.analysis.potential import model_file_from, model_forces
from defectscreen.engines import XtbSettings, engine_record, parse_engine_settings
from defectscreen.jobs.phonons import require_usable
from defectscreen.jobs.provenance import parent_uuids, provenance, read, uuid_of
from defectscreen.jobs.reference import engine_forces_function
from defectscreen.physics.dispersion import (
    BandSegment,
    band_structure,
    cell_widths,
    path_frequency_errors,
    supercell_for_width,
    supercell_matrix_of,
)
from defectscreen.schemas import EngineRecord, TaskDocument
from defectscreen.schemas.dielectric import DielectricDocument
from defectscreen.schemas.phonons import DispersionComparison, PhononDispersionDocument, PotentialDocument


def _segments(document: PhononDispersionDocument) -> list[BandSegment]:
    return [BandSegment(s.start, s.end, np.array(s.q_points), np.array(s.distance_inv_angstrom),
                        np.array(s.frequencies_meV)) for s in document.segments]


@dataclass
class HostDispersionMaker(Maker):
    """The host's dispersion with forces from ``force_source``: 'potential' (its fine-tuned model, supercell at
    least ``min_supercell_width_angstrom`` wide) or 'engine' (the relaxation's supercell, compared with the
    potential's dispersion). Z* and ε∞ of a dielectric document add the LO–TO term; its relaxed primitive cell is
    then the one the force constants are computed for. A potential trained on labels without their dipole–dipole
    part (short-ranged) gets the dipole–dipole force constants of its supercell added back before the Gonze–Lee
    term, so nothing is subtracted that the model does not hold."""

    name: str = "host dispersion"
    engine_settings: dict = field(default_factory=lambda: XtbSettings().model_dump(mode="json"))
    force_source: Literal["potential", "engine"] = "potential"
    min_supercell_width_angstrom: float = 12.0
    displacement_angstrom: float = 0.01
    points_per_segment: int = 51

    @job(output_schema=PhononDispersionDocument, config=provenance())
    def make(self, relaxed: TaskDocument, campaign_sha256: str, potential: PotentialDocument,
             dielectric: DielectricDocument | None = None,
             compare_with: PhononDispersionDocument | None = None) -> PhononDispersionDocument:
        start = time.perf_counter()
        potential_uuid, dielectric_uuid, compare_with_uuid = uuid_of(potential), uuid_of(dielectric), uuid_of(compare_with)
        relaxed, potential = read(relaxed, TaskDocument), read(potential, PotentialDocument)
        dielectric, compare_with = read(dielectric, DielectricDocument), read(compare_with, PhononDispersionDocument)
        require_usable(potential)
        engine = parse_engine_settings(self.engine_settings)
        primitive = dielectric.structure if dielectric is not None else relaxed.structure.get_primitive_structure()
        model = model_forces(model_file_from(potential, Path.cwd() / "model"), potential.backend)

        short_range = potential.dipole_dipole_subtracted is not None
        if self.force_source == "potential":
            matrix = supercell_for_width(primitive.lattice.matrix, self.min_supercell_width_angstrom)
            phonon, evaluations = supercell_phonons(primitive, matrix, model, self.displacement_angstrom, dielectric,
                                                    short_range)
            source = f"potential {potential_uuid} ({potential.backend})"
        else:
            matrix = supercell_matrix_of(relaxed.structure, primitive)
            engine_forces = engine_forces_function(relaxed.labels, engine)
            phonon, evaluations = supercell_phonons(primitive, matrix, engine_forces, self.displacement_angstrom,
                                                    dielectric)
            source = f"engine {engine.name}"
        document = dispersion_document(phonon, source, None if dielectric is None else
                                       f"dielectric document {dielectric_uuid}", self.points_per_segment)
        flags = list(document.flags)
        cutoff = potential.training_settings.get("cutoff_angstrom")
        trained_width = min(cell_widths(relaxed.structure.lattice.matrix))
        if self.force_source == "potential" and cutoff is not None and trained_width < cutoff:
            flags.append(f"the potential was trained on cells {trained_width:.1f} Å wide, narrower than its "
                         f"{cutoff:g} Å cutoff (atoms saw their own images): beyond that cell its force constants "
                         "are extrapolated (diamond/xTB: ~10 meV mean error in 250-atom cells); relax and train on "
                         "a larger supercell before trusting this dispersion")
        comparison = None
        if self.force_source == "engine" and compare_with is not None:
            same_cell, _ = supercell_phonons(primitive, supercell_matrix_of(relaxed.structure, primitive), model,
                                             self.displacement_angstrom, dielectric, short_range)
            engine_path = _segments(document)
            same = path_frequency_errors(band_structure(same_cell, self.points_per_segment), engine_path)
            converged = path_frequency_errors(_segments(compare_with), engine_path)
            comparison = DispersionComparison(
                potential_dispersion_uuid=compare_with_uuid, same_supercell_mean_error_meV=same[0],
                same_supercell_max_error_meV=same[1], mean_error_meV=converged[0], max_error_meV=converged[1])
        return document.model_copy(update={
            "host": relaxed.labels.host, "force_source": self.force_source, "n_force_evaluations": evaluations,
            "flags": flags,
            "comparison": comparison, "engine": EngineRecord(**engine_record(engine)), "potential_uuid": potential_uuid,
            "model_sha256": potential.model_sha256, "dielectric_uuid": dielectric_uuid,
            "wall_time_s": time.perf_counter() - start, "campaign_sha256": campaign_sha256,
            "parent_uuids": parent_uuids()})

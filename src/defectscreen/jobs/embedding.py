"""Large-cell defect phonons of the platform's own defects: one job per supercell size, one that joins them."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from jobflow import Maker, job

from defectscreen.analysis.embedding import (
    Method,
    convergence_document,
    embedded_spectrum,
    source_from_potential,
)
from defectscreen.analysis.potential import model_file_from
from defectscreen.defaults import DEFAULT_SIGMA_MEV
from defectscreen.jobs.phonons import require_usable
from defectscreen.jobs.provenance import parent_uuids, provenance, read, read_all
from defectscreen.schemas import TaskDocument
from defectscreen.schemas.embedding import EmbeddedSpectrumDocument, EmbeddingConvergenceDocument
from defectscreen.schemas.phonons import PhononDocument, PotentialDocument


@dataclass
class EmbeddedSpectrumMaker(Maker):
    """S(ħω), S and the PL band of the defect embedded into ``repetitions`` copies of its cell: defect force
    constants from the basis state's potential phonons, host force constants from the same potential on the
    host cell (or from ``host_potential``, the host's own), ΔR between the two relaxed charge states."""

    name: str = "embedded phonons"
    repetitions: tuple[int, int, int] = (1, 1, 1)
    method: Method = "lanczos"
    sigma_meV: float = DEFAULT_SIGMA_MEV

    @job(output_schema=EmbeddedSpectrumDocument, config=provenance())
    def make(self, basis: TaskDocument, other: TaskDocument, host: TaskDocument, phonons: PhononDocument,
             potential: PotentialDocument, label: str,
             host_potential: PotentialDocument | None = None) -> EmbeddedSpectrumDocument:
        basis, other, host = (read(d, TaskDocument) for d in (basis, other, host))
        phonons, potential = read(phonons, PhononDocument), read(potential, PotentialDocument)
        host_potential = read(host_potential, PotentialDocument)
        require_usable(potential)
        if host_potential is not None:
            require_usable(host_potential)
        host_model = potential if host_potential is None else host_potential
        source = source_from_potential(
            label, basis.structure, other.structure, np.array(phonons.force_constants_eV_per_angstrom2),
            host.structure, model_file_from(host_model, Path.cwd() / "host_model"), host_model.backend,
            parent_uuids(), host_potential=host_potential is not None)
        return embedded_spectrum(source, tuple(self.repetitions), self.method, sigma_meV=self.sigma_meV)


@dataclass
class EmbeddingConvergenceMaker(Maker):
    """The convergence study of one transition: the per-size documents joined, largest-cell changes stated."""

    name: str = "embedding convergence"

    @job(output_schema=EmbeddingConvergenceDocument, config=provenance())
    def make(self, points: list[EmbeddedSpectrumDocument]) -> EmbeddingConvergenceDocument:
        return convergence_document(read_all(points, EmbeddedSpectrumDocument), parent_uuids())

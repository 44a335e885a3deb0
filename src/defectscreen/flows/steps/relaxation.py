"""Fixed-cell relaxation of every cell (bulk, defects, competing phases) with the campaign's engine."""

from __future__ import annotations

from typing import TYPE_CHECKING

from jobflow import OutputReference

from defectscreen.flows.registry import TaskRegistry
from defectscreen.flows.steps.base import HostCells, Step, StepOutputs
from defectscreen.jobs import GlassDefectCellMaker, RelaxMaker

if TYPE_CHECKING:
    from pymatgen.core import Structure

    from defectscreen.flows.defect_set import Calculation

TASK = "relax"


def starting_structure(cells: HostCells, cell: Calculation, registry: TaskRegistry) -> Structure | OutputReference:
    """The cell the engine starts from: as generated, or, for a defect of a glass host, cut from the glass as the
    engine relaxed it (the same network as the glass's own energy)."""
    labels = cell.labels
    if labels.glass_site is None:
        return cell.structure
    glass = relaxation(cells, cells.bulk, registry).structure
    return registry.output(labels.host, labels.calculation_id, "glass_cell", cells.engine_hash,
                           lambda: GlassDefectCellMaker().make(glass, labels))


def relaxation(cells: HostCells, cell: Calculation, registry: TaskRegistry) -> OutputReference:
    """The relaxation of one cell, of this host or another (a surrogate also learns from related hosts' bulk
    cells), with the campaign's engine and relaxation settings."""
    relax = cells.campaign.relax
    maker = RelaxMaker(engine_settings=cells.engine_settings, fmax_eV_per_angstrom=relax.fmax_eV_per_angstrom,
                       max_steps=relax.max_steps)
    labels = cell.labels
    return registry.output(labels.host, labels.calculation_id, TASK, cells.engine_hash,
                           lambda: maker.make(starting_structure(cells, cell, registry), labels, cells.campaign_sha256))


class Relaxation(Step):
    property = "relaxation"

    def add(self, cells: HostCells, registry: TaskRegistry, outputs: StepOutputs) -> None:
        for cell in cells.calculations:
            outputs.relaxed[cell.labels.calculation_id] = relaxation(cells, cell, registry)

"""The defect cell of a glass host, cut from the glass as the engine relaxed it."""

from __future__ import annotations

from dataclasses import dataclass

from jobflow import Maker, job
from pymatgen.core import Structure

from defectscreen.analysis.amorphous import defect_cell_in_glass
from defectscreen.schemas import CalculationLabels


@dataclass
class GlassDefectCellMaker(Maker):
    """The site defect ``labels`` names (``glass_site``; a vacancy, or the element it adds) made in the relaxed
    glass, so the defect's relaxation and energy start from the same network as the glass's energy."""

    name: str = "glass defect cell"

    @job
    def make(self, relaxed_glass: Structure, labels: CalculationLabels) -> Structure:
        dopant = next((element for element, change in labels.element_changes.items() if change > 0), None)
        return defect_cell_in_glass(relaxed_glass, labels.glass_site, dopant)

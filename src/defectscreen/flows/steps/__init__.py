"""The per-host steps, one module per campaign property; a new property is one module plus one line in STEPS.

The campaign's allowed properties and what each needs come from here (``defectscreen.flows.campaign``), and the
host flow runs the campaign's steps in dependency order (:func:`campaign_steps`)."""

from __future__ import annotations

from graphlib import TopologicalSorter

from defectscreen.flows.steps.base import HostCells, Step, StepOutputs
from defectscreen.flows.steps.configuration_coordinate import ConfigurationCoordinate
from defectscreen.flows.steps.dielectric import Dielectric
from defectscreen.flows.steps.embedded_phonons import EmbeddedPhonons
from defectscreen.flows.steps.host_dispersion import HostDispersion
from defectscreen.flows.steps.huang_rhys import HuangRhys
from defectscreen.flows.steps.ml_hamiltonian import MlHamiltonian
from defectscreen.flows.steps.phonons import Phonons
from defectscreen.flows.steps.relaxation import Relaxation
from defectscreen.flows.steps.structure_search import StructureSearch
from defectscreen.flows.steps.unrelaxed_energy import UnrelaxedEnergy

#: campaign property -> its step.
STEPS: dict[str, Step] = {step.property: step for step in (
    Relaxation(), UnrelaxedEnergy(), StructureSearch(), Dielectric(), ConfigurationCoordinate(), Phonons(),
    HuangRhys(), EmbeddedPhonons(), HostDispersion(), MlHamiltonian(),
)}


def campaign_steps(properties: list[str]) -> list[Step]:
    """The steps of these properties, each after the steps whose outputs it reads."""
    graph = {p: {n for n in (*STEPS[p].needs, *STEPS[p].after) if n in properties} for p in properties}
    return [STEPS[p] for p in TopologicalSorter(graph).static_order()]


__all__ = ["STEPS", "HostCells", "Step", "StepOutputs", "campaign_steps"]

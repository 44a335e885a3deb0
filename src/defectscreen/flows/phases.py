"""Competing phases: the elemental and binary references that bound the chemical potentials.

They are computed with the campaign's engine and the hosts' protocol (fixed cell at the experimental lattice,
atoms relaxed), so their energies and the hosts' are on one footing. Built in: the elemental ground states
listed in ``ELEMENT_PHASES`` (molecules in a 10 Å box) and every binary host prototype; the campaign adds its own
structures under ``formation.competing_phases``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from pymatgen.core import Lattice, Molecule, Structure
from pymatgen.symmetry.analyzer import SpacegroupAnalyzer

from defectscreen.flows.campaign import Campaign, CampaignError
from defectscreen.flows.defect_set import Calculation, supercell_matrix
from defectscreen.flows.hosts import PROTOTYPE_NAMES, prototype_structure
from defectscreen.schemas import CalculationLabels

MOLECULE_BOX_ANGSTROM = 10.0
MOLECULES = ("H2", "N2", "O2")

#: element -> (phase name, structure maker, spin multiplicity); experimental structures.
ELEMENT_PHASES = {
    "H": ("H2", lambda: _molecule("H", 0.741), 1),
    "N": ("N2", lambda: _molecule("N", 1.098), 1),
    "O": ("O2", lambda: _molecule("O", 1.208), 3),
    "C": ("diamond", lambda: prototype_structure("diamond-C"), 1),
    "Si": ("diamond", lambda: prototype_structure("diamond-Si"), 1),
    "Mg": ("hcp", lambda: _hcp("Mg", 3.209, 5.211), 1),
    "Zn": ("hcp", lambda: _hcp("Zn", 2.665, 4.947), 1),
    "Al": ("fcc", lambda: Structure(Lattice([[0, 2.025, 2.025], [2.025, 0, 2.025], [2.025, 2.025, 0]]),
                                    ["Al"], [[0, 0, 0]]), 1),
    "Ga": ("alpha", lambda: Structure.from_spacegroup("Cmce", Lattice.orthorhombic(4.5197, 7.6633, 4.5260), ["Ga"],
                                                      [[0.0, 0.1549, 0.0810]]).get_primitive_structure(), 1),
}


def _molecule(element: str, bond_angstrom: float) -> Structure:
    molecule = Molecule([element, element], [[0, 0, 0], [0, 0, bond_angstrom]])
    return molecule.get_boxed_structure(MOLECULE_BOX_ANGSTROM, MOLECULE_BOX_ANGSTROM, MOLECULE_BOX_ANGSTROM)


def _hcp(element: str, a: float, c: float) -> Structure:
    return Structure(Lattice.hexagonal(a, c), [element] * 2, [[1 / 3, 2 / 3, 0.25], [2 / 3, 1 / 3, 0.75]])


def campaign_elements(campaign: Campaign, base_dir: Path) -> dict[str, set[str]]:
    """Host name -> the elements of its chemical system (its own and every dopant of the campaign)."""
    systems = {}
    for host in campaign.hosts:
        own = {element.symbol for element in host.load(base_dir).composition}
        dopants = {d for el, values in campaign.defects.substitutions.items() if el in own for d in values}
        systems[host.name] = own | dopants | set(campaign.defects.interstitials)
    return systems


def _face_widths(structure: Structure) -> np.ndarray:
    lattice = structure.lattice
    return lattice.volume / np.linalg.norm(np.cross(lattice.matrix[[1, 2, 0]], lattice.matrix[[2, 0, 1]]), axis=1)


def periodic_cell(structure: Structure, min_width_angstrom: float) -> Structure:
    """The structure, or its conventional standard cell where that needs fewer atoms (diamond Si under a cubic
    64-site host: 64 instead of 128), repeated along each lattice vector until every face-to-face width is at
    least ``min_width_angstrom``."""
    cells = [structure, SpacegroupAnalyzer(structure).get_conventional_standard_structure()]
    return min((cell * [max(1, int(np.ceil(min_width_angstrom / width - 1e-9))) for width in _face_widths(cell)]
                for cell in cells), key=len)


def phase_calculation_id(name: str, structure: Structure) -> str:
    """'phase:<reduced formula>:<name>' ('phase:O2:O2', 'phase:Si:diamond')."""
    return f"phase:{structure.composition.reduced_formula}:{name}"


def _phase_calculation(campaign: Campaign, name: str, structure: Structure, multiplicity: int) -> Calculation:
    formula = structure.composition.reduced_formula
    labels = CalculationLabels(
        calculation_id=phase_calculation_id(name, structure), campaign=campaign.name, host="phases", defect_name=formula,
        defect_type="competing_phase", defect_elements=sorted(el.symbol for el in structure.composition),
        element_changes={}, charge=0, spin_multiplicity=multiplicity)
    return Calculation(labels=labels, structure=structure)


def competing_phase_calculations(campaign: Campaign, base_dir: Path) -> list[Calculation]:
    """The phases bounding every host's chemical potentials: an elemental reference per element, every binary
    host prototype inside a host's chemical system, and the campaign's own phases, each repeated to the smallest
    face width of the hosts' defect supercells (the same Γ-point sampling quality). Raises CampaignError naming
    the element when one has no reference; none where the campaign gives the phases' energies
    (``formation.phase_entries``)."""
    if campaign.formation.phase_entries:
        return []
    systems = campaign_elements(campaign, base_dir)
    elements = set().union(*systems.values())
    given = [(phase.name, phase.load(base_dir), phase.spin_multiplicity) for phase in campaign.formation.competing_phases]
    covered = {el.symbol for _, structure, _ in given if len(structure.composition) == 1 for el in structure.composition}
    missing = sorted(elements - covered - set(ELEMENT_PHASES))
    if missing:
        raise CampaignError(
            f"formation.competing_phases: no built-in elemental reference for {', '.join(missing)} "
            f"(built in: {', '.join(sorted(ELEMENT_PHASES))}); add its elemental phase as "
            "{name: ..., structure: file} under formation.competing_phases")
    phases = [(ELEMENT_PHASES[el][0], ELEMENT_PHASES[el][1](), ELEMENT_PHASES[el][2])
              for el in sorted(elements - covered)]
    host_formulas = {host.load(base_dir).composition.reduced_formula for host in campaign.hosts}
    for prototype in PROTOTYPE_NAMES:
        structure = prototype_structure(prototype)
        symbols = {el.symbol for el in structure.composition}
        if (len(symbols) > 1 and structure.composition.reduced_formula not in host_formulas
                and any(symbols <= system for system in systems.values())):
            phases.append((prototype.split("-")[0], structure, 1))
    width = min(_face_widths(host.load(base_dir) * supercell_matrix(host.name, host.load(base_dir), campaign.supercell))
                .min() for host in campaign.hosts)
    return [_phase_calculation(campaign, name, structure if name in MOLECULES else periodic_cell(structure, width),
                               multiplicity) for name, structure, multiplicity in phases + given]

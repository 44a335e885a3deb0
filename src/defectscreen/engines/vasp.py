"""VASP through atomate2: its defect Makers with the campaign's settings, run in the job's folder.

A relaxation is atomate2's ``RelaxMaker`` with ``ChargeStateRelaxSetGenerator`` (ISIF 2, one special k-point,
LVHAR), a single point its ``StaticMaker`` with ``ChargeStateStaticSetGenerator``; NELECT follows the structure's
charge, EDIFFG and NSW the campaign's relaxation settings. The Maker's own job body runs inside the platform's job
(one job per calculation): it writes the input set, runs VASP under custodian with atomate2's error handlers and
parses atomate2's task document; the platform then reads the same folder into its own document
(:func:`defectscreen.readers.vasp.read_vasp_directory`).
"""

from __future__ import annotations

from pymatgen.core import Structure

from defectscreen.engines.base import VaspSettings


def vasp_maker(settings: VaspSettings, fmax_eV_per_angstrom: float | None, max_steps: int, spin_multiplicity: int):
    """atomate2's RelaxMaker (``fmax`` given) or StaticMaker (``fmax`` None) for one charged cell."""
    from atomate2.vasp.jobs.core import RelaxMaker, StaticMaker
    from atomate2.vasp.sets.defect import (
        SPECIAL_KPOINT,
        ChargeStateRelaxSetGenerator,
        ChargeStateStaticSetGenerator,
    )

    incar = dict(settings.incar)
    if fmax_eV_per_angstrom is not None:
        incar.update(EDIFFG=-fmax_eV_per_angstrom, NSW=max_steps)
    if settings.fixed_spin_moment:
        incar["NUPDOWN"] = spin_multiplicity - 1
    generator = ChargeStateStaticSetGenerator if fmax_eV_per_angstrom is None else ChargeStateRelaxSetGenerator
    # atomate2 0.1.5's default k-points of these generators is a Kpoints object given as a factory: always pass it
    input_set = generator(user_incar_settings=incar, user_kpoints_settings=settings.kpoints or SPECIAL_KPOINT,
                          user_potcar_settings=dict(settings.potcar), user_potcar_functional=settings.potcar_functional)
    maker = StaticMaker if fmax_eV_per_angstrom is None else RelaxMaker
    return maker(input_set_generator=input_set)


def run_vasp_maker(maker, structure: Structure, charge: int):
    """Run an atomate2 VASP Maker's job body in the current folder on ``structure`` with ``charge``; returns
    atomate2's task document. custodian's errors (a VASP run it could not correct) propagate."""
    charged = structure.copy()
    charged.set_charge(charge)
    response = type(maker).make.original(maker, charged)
    return response.output

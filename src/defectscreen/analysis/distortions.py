"""Structure-search candidates of one defect (seed 002 §IV, "Defect initialisation"): ShakeNBreak bond distortions
of the defect's nearest neighbours, a rattle, the dimer, and for mixed neighbour shells the finer search over every
neighbour pair.

ShakeNBreak chooses how many neighbours to distort from the change in valence electrons (charge and oxidation
states) and rattles every other atom with a standard deviation of 10 % of the bulk nearest-neighbour distance.
"""

from __future__ import annotations

import warnings
from contextlib import redirect_stderr, redirect_stdout
from io import StringIO
from itertools import combinations
from typing import Literal

import numpy as np
from pymatgen.core import Structure
from shakenbreak.distortions import distort_and_rattle
from shakenbreak.input import Distortions

#: the seed's finer search: compressions applied to every unique pair of neighbours (fractions of the bond).
PAIR_DISTORTIONS = (-0.6, -0.5, -0.4, -0.3, -0.2)
#: neighbours closer than the first shell distance times this belong to the first shell.
SHELL_TOLERANCE = 1.1


class CandidateGenerationError(ValueError):
    """ShakeNBreak could not build candidates for this defect; the message says why."""


def _same_order(reference: Structure, other: Structure) -> list[int]:
    """index in ``other`` of each site of ``reference`` (same species, same periodic position)."""
    distances = reference.lattice.get_all_distances(reference.frac_coords, other.frac_coords)
    order = distances.argmin(axis=1)
    same = [reference[i].specie.symbol == other[j].specie.symbol for i, j in enumerate(order)]
    if len(set(order)) != len(reference) or not all(same) or distances.min(axis=1).max() > 1e-3:
        raise CandidateGenerationError("ShakeNBreak rebuilt the defect cell with sites that do not match the "
                                       "campaign's defect cell; the defect site could not be identified")
    return order.tolist()


def _without_oxidation_states(structure: Structure) -> Structure:
    structure.remove_oxidation_states()
    return structure


def first_shell(structure: Structure, site_frac_coords: list[float], exclude_index: int | None) -> list[int]:
    """Indices of the atoms in the first neighbour shell of a site (within SHELL_TOLERANCE of the nearest)."""
    distances = structure.lattice.get_all_distances([site_frac_coords], structure.frac_coords)[0]
    if exclude_index is not None:
        distances[exclude_index] = np.inf
    nearest = distances.min()
    return [int(i) for i in np.flatnonzero(distances < nearest * SHELL_TOLERANCE)]


def defect_site_index(structure: Structure, site_frac_coords: list[float], defect_type: str) -> int | None:
    """Index of the defect atom (None for a vacancy, which has none)."""
    if defect_type == "vacancy":
        return None
    distances = structure.lattice.get_all_distances([site_frac_coords], structure.frac_coords)[0]
    return int(distances.argmin())


def distortion_candidates(
    defect_cell: Structure,
    bulk_cell: Structure,
    site_frac_coords: list[float],
    defect_type: str,
    charge: int,
    distortion_increment: float = 0.1,
    neighbour_pairs: bool | Literal["auto"] = "auto",
    seed: int = 42,
) -> dict[str, Structure]:
    """Candidate starting structures of one (defect, charge), in the campaign's site order.

    Names follow ShakeNBreak: 'Bond_Distortion_-60.0%' … 'Bond_Distortion_60.0%' (0.0 % is the rattle alone),
    'Dimer' (two neighbours pushed to a bond length; vacancies), and, for the neighbour-pair search,
    'Pair_3-7_Bond_Distortion_-40.0%'. ``neighbour_pairs`` 'auto' runs the pair search when the first neighbour
    shell holds more than one element (alloys, mixed-anion hosts). The unperturbed cell is not a candidate: it is
    the campaign's own reference relaxation.
    """
    padding = abs(charge) + 4
    with warnings.catch_warnings(), redirect_stdout(StringIO()), redirect_stderr(StringIO()):
        warnings.simplefilter("ignore")
        generator = Distortions.from_structures([(defect_cell, np.asarray(site_frac_coords))], bulk=bulk_cell,
                                                padding=padding, distortion_increment=distortion_increment,
                                                seed=seed)
        structures, metadata = generator.apply_distortions(verbose=False)
    (name, entry), = structures.items()
    if charge not in entry["charges"]:
        raise CandidateGenerationError(f"ShakeNBreak gave charges {sorted(entry['charges'])} for {name}, not {charge}")
    generated = entry["charges"][charge]["structures"]
    order = _same_order(defect_cell, generated["Unperturbed"])
    candidates = {key: _without_oxidation_states(Structure.from_sites([s[i] for i in order]))
                  for key, s in generated["distortions"].items()}
    site_index = defect_site_index(defect_cell, site_frac_coords, defect_type)
    shell = first_shell(defect_cell, site_frac_coords, site_index)
    mixed = len({defect_cell[i].specie for i in shell}) > 1
    if neighbour_pairs is True or (neighbour_pairs == "auto" and mixed):
        stdev = metadata["defects"][name]["charges"][charge]["distortion_parameters"]["mc_rattle_parameters"]["stdev"]
        candidates |= _pair_candidates(defect_cell, site_frac_coords, site_index, shell, float(stdev), seed)
    return candidates


def _pair_candidates(defect_cell: Structure, site_frac_coords: list[float], site_index: int | None,
                     shell: list[int], stdev: float, seed: int) -> dict[str, Structure]:
    candidates = {}
    for i, j in combinations(shell, 2):
        for factor in PAIR_DISTORTIONS:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                result = distort_and_rattle(
                    defect_cell, 1 + factor, num_nearest_neighbours=2, site_index=site_index,
                    frac_coords=None if site_index is not None else np.asarray(site_frac_coords),
                    distorted_atoms=[i, j], stdev=stdev, seed=seed)
            candidates[f"Pair_{i}-{j}_Bond_Distortion_{100 * factor:.1f}%"] = result["distorted_structure"]
    return candidates

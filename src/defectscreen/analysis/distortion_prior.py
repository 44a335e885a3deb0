"""Which distortions find the reconstructions of a family of related hosts (seed 002: learn on related compositions,
search unseen ones; ShakeNBreak's observation that a few distortions find most ground states).

Each fully searched defect of the family says how much of its reconstruction every candidate recovered when relaxed
with the engine from its distorted structure; candidates ranked by the mean of that fraction are the family's prior
for an unseen host: relaxed with the engine from their distorted structures, they need no surrogate.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class SearchedDefect:
    """One fully searched (defect, charge): the engine's energy after relaxing each candidate (eV; None where the
    relaxation did not converge) and after relaxing the undistorted cell (eV)."""

    candidate_energies_eV: dict[str, float | None]
    unperturbed_energy_eV: float


def reconstruction_fractions(defect: SearchedDefect, tolerance_eV: float) -> dict[str, float] | None:
    """Fraction of the defect's reconstruction energy E_unp − E_gs each candidate recovers,
    (E_unp − E_c) / (E_unp − E_gs) clipped to [0, 1] (0 for an unconverged one); None when no candidate lies more
    than ``tolerance_eV`` below the unperturbed relaxation (nothing to reconstruct: no candidate is better)."""
    reached = {name: e for name, e in defect.candidate_energies_eV.items() if e is not None}
    if not reached:
        return None
    depth = defect.unperturbed_energy_eV - min(reached.values())
    if depth <= tolerance_eV:
        return None
    return {name: min(1.0, max(0.0, (defect.unperturbed_energy_eV - reached[name]) / depth)) if name in reached
            else 0.0 for name in defect.candidate_energies_eV}


def distortion_prior(family: list[SearchedDefect], tolerance_eV: float) -> list[tuple[str, float]]:
    """Candidates with their mean reconstruction fraction over the family's reconstructed defects (a candidate a
    defect lacks counts 0 there), highest first (ties by name); only those that recovered any reconstruction."""
    fractions = [f for f in (reconstruction_fractions(d, tolerance_eV) for d in family) if f is not None]
    names = {name for f in fractions for name in f}
    means = {name: sum(f.get(name, 0.0) for f in fractions) / len(fractions) for name in names}
    return sorted(((name, mean) for name, mean in means.items() if mean > 0), key=lambda item: (-item[1], item[0]))


def prior_candidates(ranked: Iterable[str], candidates: Collection[str], k: int) -> list[str]:
    """The prior's first ``k`` candidates among this defect's own (a neighbour-pair name of another cell is skipped):
    what search.prior_candidates relaxes with the engine."""
    return [name for name in ranked if name in candidates][:k]

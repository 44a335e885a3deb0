"""How far one set of Γ modes (e.g. from a per-defect potential) is from a reference set (e.g. DFT)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from defectscreen.physics.normal_modes import NormalModes, inverse_participation_ratio

#: A mode counts as localized when its IPR exceeds this many times the bulk-like value 1/N.
LOCALIZED_IPR_FACTOR = 10.0
#: Candidate modes within this energy of a reference mode span the space it is projected on (meV).
OVERLAP_WINDOW_MEV = 2.0
N_ACOUSTIC = 3


@dataclass(frozen=True)
class ModeComparison:
    """Frequencies are paired in ascending order, the three acoustic modes left out.

    frequency_mean_abs_error_meV / frequency_max_abs_error_meV: over all optical modes.
    localized_mode_indices: reference modes with IPR > LOCALIZED_IPR_FACTOR / N.
    localized_frequency_errors_meV: candidate minus reference ħω of those modes.
    localized_overlaps: |projection| of each localized reference eigenvector on the candidate modes within
        OVERLAP_WINDOW_MEV of it (1: reproduced; degenerate partners are summed in quadrature).
    """

    frequency_mean_abs_error_meV: float
    frequency_max_abs_error_meV: float
    localized_mode_indices: list[int]
    localized_reference_frequencies_meV: list[float]
    localized_frequency_errors_meV: list[float]
    localized_overlaps: list[float]


def localized_mode_indices(eigenvectors: np.ndarray) -> list[int]:
    """Optical modes whose IPR exceeds LOCALIZED_IPR_FACTOR / N (N atoms)."""
    ipr = inverse_participation_ratio(eigenvectors)
    return [int(k) for k in np.flatnonzero(ipr > LOCALIZED_IPR_FACTOR / eigenvectors.shape[1]) if k >= N_ACOUSTIC]


def compare_normal_modes(reference: NormalModes, candidate: NormalModes) -> ModeComparison:
    """Frequency errors of all optical modes and eigenvector overlaps of the localized ones."""
    if reference.eigenvectors.shape != candidate.eigenvectors.shape:
        raise ValueError(
            f"mode sets of different supercells: {reference.eigenvectors.shape} vs {candidate.eigenvectors.shape}"
        )
    errors = (candidate.frequencies_meV - reference.frequencies_meV)[N_ACOUSTIC:]
    localized = localized_mode_indices(reference.eigenvectors)
    flat_candidate = candidate.eigenvectors.reshape(len(candidate.frequencies_meV), -1)
    overlaps = []
    for k in localized:
        window = np.abs(candidate.frequencies_meV - reference.frequencies_meV[k]) <= OVERLAP_WINDOW_MEV
        window[np.argmin(np.abs(candidate.frequencies_meV - reference.frequencies_meV[k]))] = True
        projections = flat_candidate[window] @ reference.eigenvectors[k].ravel()
        overlaps.append(float(np.sqrt(np.sum(projections**2))))
    return ModeComparison(
        frequency_mean_abs_error_meV=float(np.mean(np.abs(errors))),
        frequency_max_abs_error_meV=float(np.max(np.abs(errors))),
        localized_mode_indices=localized,
        localized_reference_frequencies_meV=[float(reference.frequencies_meV[k]) for k in localized],
        localized_frequency_errors_meV=[float(candidate.frequencies_meV[k] - reference.frequencies_meV[k])
                                        for k in localized],
        localized_overlaps=overlaps,
    )

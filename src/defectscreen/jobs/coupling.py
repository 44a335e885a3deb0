"""Electron–phonon coupling W_if of the platform's own GPAW runs, from all-electron orbitals along Q.

Orbitals are those of the higher charge state (its defect level is empty in the channel that receives
the carrier), at its minimum Q = ΔQ and at Q = ΔQ ± δ on the path: the defect orbital is the first empty
band of the minority channel; the valence (conduction) edge manifold is the highest (lowest) band more than
10 meV below (above) it with its partners within 10 meV (bands degenerate with the defect level are its own).
W_b is stored for every computed band (5 on each side), marked `edge` when it belongs to an edge manifold:
a band of another symmetry than the defect orbital gives W_b = 0 on a symmetric path, so look at the list. W_b = |ε_d − ε_b| ∂⟨ψ_b(ΔQ)|ψ_d(Q)⟩/∂Q (Alkauskas 2014 Eq. 23); the defect orbital is
followed to the displaced geometries by its largest overlap. A carrier's W_if is the RMS over its manifold
(invariant under rotations inside a degenerate edge).
"""

from __future__ import annotations

import numpy as np

from defectscreen.engines import GpawSettings
from defectscreen.engines.gpaw import kohn_sham_orbitals
from defectscreen.jobs.reference import reference_atoms
from defectscreen.physics.capture import electron_phonon_coupling, orbital_inverse_participation_ratio, orbital_overlap
from defectscreen.physics.ccd import interpolate_structures
from defectscreen.schemas import TaskDocument
from defectscreen.schemas.optics import CouplingMatrixElement

COUPLING_STEP = 0.1  # ± this fraction of ΔQ around the higher charge's minimum
DEGENERACY_MEV = 10.0
EDGE_BANDS = 5  # bands computed on each side of the defect band


def gpaw_couplings(higher: TaskDocument, lower: TaskDocument, settings: GpawSettings, delta_Q: float
                   ) -> tuple[list[CouplingMatrixElement], dict[str, float], float]:
    """Per-band couplings, W_if per carrier ('hole': valence edge, 'electron': conduction edge) and the
    defect orbital's inverse participation ratio; delta_Q: path length from the lower to the higher charge's
    relaxed structure (amu^1/2 Å)."""
    labels = higher.labels
    spin = 1 if labels.spin_multiplicity > 1 else 0
    fractions = [1.0 - COUPLING_STEP, 1.0 + COUPLING_STEP]
    displaced = interpolate_structures(lower.structure, higher.structure, np.array(fractions))

    def orbitals(structure, bands=None):
        atoms = reference_atoms(structure, labels, settings)
        return kohn_sham_orbitals(atoms.calc, atoms, spin, bands, edge_bands=EDGE_BANDS)

    reference = orbitals(higher.structure)
    defect = int(np.argmax(reference.occupations < 0.5))
    bands = sorted(reference.orbitals)
    moved = [orbitals(structure, bands) for structure in displaced]
    q = np.array([-COUPLING_STEP, COUPLING_STEP]) * delta_Q
    defect_orbitals = [max(m.orbitals.values(), key=lambda o: orbital_overlap(reference.orbitals[defect], o)) for m in moved]
    eigenvalues = reference.eigenvalues_eV
    gap_meV = (eigenvalues[bands] - eigenvalues[defect]) * 1e3
    below = [b for b, g in zip(bands, gap_meV) if g < -DEGENERACY_MEV]
    above = [b for b, g in zip(bands, gap_meV) if g > DEGENERACY_MEV]
    edges = {
        "valence": [b for b in below if abs(eigenvalues[b] - eigenvalues[below[-1]]) * 1e3 < DEGENERACY_MEV] if below else [],
        "conduction": [b for b in above if abs(eigenvalues[b] - eigenvalues[above[0]]) * 1e3 < DEGENERACY_MEV] if above else [],
    }
    elements, squares = [], {"valence": [], "conduction": []}
    for band in below + above:
        side = "valence" if band < defect else "conduction"
        overlaps = [np.sign(x) * orbital_overlap(reference.orbitals[band], d) for x, d in zip(q, defect_orbitals)]
        difference = float(eigenvalues[defect] - eigenvalues[band])
        coupling = electron_phonon_coupling(q, np.array(overlaps), difference)
        if band in edges[side]:
            squares[side].append(coupling**2)
        elements.append(CouplingMatrixElement(
            band=band + 1, defect_band=defect + 1, spin=spin + 1, eigenvalue_difference_eV=difference,
            q_amu_half_angstrom=(q + delta_Q).tolist(), overlaps=overlaps, W_if_eV_per_amu_half_angstrom=coupling,
            edge=side if band in edges[side] else None,
            inverse_participation_ratio=orbital_inverse_participation_ratio(reference.orbitals[band]),
        ))
    per_carrier = {carrier: float(np.sqrt(np.mean(squares[side])))
                   for side, carrier in (("valence", "hole"), ("conduction", "electron")) if squares[side]}
    defect_ipr = orbital_inverse_participation_ratio(reference.orbitals[defect])
    return elements, per_carrier, defect_ipr

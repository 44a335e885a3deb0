"""Electron–phonon coupling W_if and charged-supercell scaling s of the platform's own GPAW runs, from
all-electron orbitals.

W_if: orbitals of the higher charge state (its defect level is empty in the channel that receives the carrier),
at its minimum Q = ΔQ and at Q = ΔQ ± δ on the path: the defect orbital is the first empty band of the minority
channel; the valence (conduction) edge manifold is the highest (lowest) band more than 10 meV below (above) it
with its partners within 10 meV (bands degenerate with the defect level are its own). W_b is stored for every
computed band (5 on each side), marked `edge` when it belongs to an edge manifold, with two measures of how much
of it sits at the defect (inverse participation ratio; density within 2 Å of the defect site over the cell
average): a band of another symmetry than the defect orbital gives W_b = 0 on a symmetric path, and in a small
cell the edge band can be a defect-hybridized state rather than a free carrier, so look at the list.
W_b = |ε_d − ε_b| ∂⟨ψ_b(ΔQ)|ψ_d(Q)⟩/∂Q (Alkauskas 2014 Eq. 23). A degenerate defect level (its partners within
10 meV: e.g. a t2 or e level) has no preferred orbital — an SCF returns any rotation of it, and the hole's W_if
from one orbital of it changed by 50 % between two runs of the same C_Si cell — so the overlap is taken with the whole manifold: at
each displaced geometry the N_d bands that project most onto the reference manifold span it there, and
⟨ψ_b|ψ_d(Q)⟩² is replaced by the mean over that subspace, Σ_m |⟨ψ_b(ΔQ)|ψ_m(Q)⟩|² / N_d, the RMS of W_bd over the
manifold's orbitals in any basis (the capture rate's final-state degeneracy g is counted apart). A non-degenerate
level is the one-orbital case. A carrier's W_if is the RMS over its edge manifold (invariant under rotations inside
a degenerate edge).

s: the free carrier's edge manifold in the supercell of the charge state it is captured by (the higher charge
for electrons, the lower for holes; one more SCF, at the lower charge's minimum, for a charged lower state, whose
edge is found below its band that projects most onto the higher charge's defect manifold), around the defect site
(physics/supercell_scaling.py). A carrier captured by a neutral defect has s = 1.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from defectscreen.engines import GpawSettings
from defectscreen.engines.gpaw import KohnShamOrbitals, kohn_sham_orbitals
from defectscreen.jobs.reference import reference_atoms
from defectscreen.physics.capture import electron_phonon_coupling, inverse_participation_ratio, orbital_overlap
from defectscreen.physics.ccd import interpolate_structures
from defectscreen.physics.supercell_scaling import SpheresAroundDefect, charged_supercell_scaling
from defectscreen.schemas import TaskDocument
from defectscreen.schemas.optics import ChargedSupercellScalingRecord, CouplingMatrixElement

COUPLING_STEP = 0.1  # ± this fraction of ΔQ around the higher charge's minimum
DEGENERACY_MEV = 10.0
EDGE_BANDS = 5  # bands computed on each side of the defect band
LOCALIZATION_RADIUS_ANGSTROM = 2.0  # the bands' near-defect density ratio s(R) is reported at this R


@dataclass(frozen=True)
class CarrierCoupling:
    """What the orbitals give for capture: per-band W_b, per carrier W_if and s, the number of SCFs run."""

    elements: list[CouplingMatrixElement]
    W_if: dict[str, float]
    scaling: dict[str, ChargedSupercellScalingRecord]  # carriers captured by a charged defect
    defect_orbital_ipr: float  # of the defect manifold's mean density (one orbital's for a non-degenerate level)
    defect_orbital_density_ratio: float  # that density within 2 Å of the defect site over the cell average
    n_scf: int


def bands_beside_level(eigenvalues_eV: np.ndarray, bands: list[int], defect: int) -> tuple[list[int], list[int]]:
    """The bands more than 10 meV below and above the defect level (those within it are the defect's own)."""
    gap_meV = (eigenvalues_eV[bands] - eigenvalues_eV[defect]) * 1e3
    return ([b for b, g in zip(bands, gap_meV) if g < -DEGENERACY_MEV],
            [b for b, g in zip(bands, gap_meV) if g > DEGENERACY_MEV])


def defect_manifold(eigenvalues_eV: np.ndarray, bands: list[int], defect: int) -> list[int]:
    """The defect band and its partners among ``bands`` within 10 meV (a degenerate level's orbitals)."""
    return [b for b in bands if abs(eigenvalues_eV[b] - eigenvalues_eV[defect]) * 1e3 <= DEGENERACY_MEV]


def followed_manifold(manifold: list[np.ndarray], moved: KohnShamOrbitals) -> list[np.ndarray]:
    """The orbitals at a displaced geometry that continue the defect ``manifold``: the len(manifold) bands that
    project most onto it (Σ_d |⟨ψ_d|ψ_m⟩|²)."""
    weight = {band: sum(orbital_overlap(d, orbital) ** 2 for d in manifold) for band, orbital in moved.orbitals.items()}
    return [moved.orbitals[band] for band in sorted(weight, key=weight.get, reverse=True)[:len(manifold)]]


def manifold_overlap(orbital: np.ndarray, manifold: list[np.ndarray]) -> float:
    """(Σ_m |⟨ψ|ψ_m⟩|² / N)^½ over the N orbitals of a (degenerate) manifold: |⟨ψ|ψ_m⟩| for one orbital, and for
    several the RMS overlap with the manifold's orbitals in any orthonormal basis of it."""
    return float(np.sqrt(sum(orbital_overlap(orbital, m) ** 2 for m in manifold) / len(manifold)))


def edge_manifolds(eigenvalues_eV: np.ndarray, bands: list[int], defect: int) -> dict[str, list[int]]:
    """The valence and conduction edge bands among ``bands`` around the defect band (see the module text)."""
    below, above = bands_beside_level(eigenvalues_eV, bands, defect)
    return {
        "valence": [b for b in below if abs(eigenvalues_eV[b] - eigenvalues_eV[below[-1]]) * 1e3 < DEGENERACY_MEV]
        if below else [],
        "conduction": [b for b in above if abs(eigenvalues_eV[b] - eigenvalues_eV[above[0]]) * 1e3 < DEGENERACY_MEV]
        if above else [],
    }


def near_defect_ratios(states: KohnShamOrbitals, spheres: SpheresAroundDefect) -> dict[int, float]:
    """s(2 Å) of every computed band: its density near the defect over its cell average."""
    return {band: spheres.density_ratio_at(np.abs(orbital) ** 2, LOCALIZATION_RADIUS_ANGSTROM)
            for band, orbital in states.orbitals.items()}


def scaling_record(states: KohnShamOrbitals, manifold: list[int], spheres: SpheresAroundDefect,
                   charge: int) -> ChargedSupercellScalingRecord:
    """s of the edge ``manifold`` (summed |ψ|²) of the cell of the defect in ``charge``."""
    result = charged_supercell_scaling(sum(np.abs(states.orbitals[b]) ** 2 for b in manifold), spheres)
    return ChargedSupercellScalingRecord.from_scaling(result, charge, [b + 1 for b in manifold])


def gpaw_couplings(higher: TaskDocument, lower: TaskDocument, settings: GpawSettings,
                   delta_Q: float) -> CarrierCoupling:
    """W_b, W_if and s per carrier ('hole': valence edge, 'electron': conduction edge); delta_Q: path length from
    the lower to the higher charge's relaxed structure (amu^1/2 Å)."""
    spin = 1 if higher.labels.spin_multiplicity > 1 else 0
    fractions = [1.0 - COUPLING_STEP, 1.0 + COUPLING_STEP]
    displaced = interpolate_structures(lower.structure, higher.structure, np.array(fractions))

    def orbitals(structure, task: TaskDocument, channel: int, bands=None) -> KohnShamOrbitals:
        atoms = reference_atoms(structure, task.labels, settings)
        return kohn_sham_orbitals(atoms.calc, atoms, channel, bands, edge_bands=EDGE_BANDS)

    reference = orbitals(higher.structure, higher, spin)
    defect = int(np.argmax(reference.occupations < 0.5))
    bands = sorted(reference.orbitals)
    moved = [orbitals(structure, higher, spin, bands) for structure in displaced]
    q = np.array([-COUPLING_STEP, COUPLING_STEP]) * delta_Q
    eigenvalues = reference.eigenvalues_eV
    manifold = defect_manifold(eigenvalues, bands, defect)
    defect_orbitals = [reference.orbitals[d] for d in manifold]
    followed = [followed_manifold(defect_orbitals, m) for m in moved]
    defect_density = sum(np.abs(reference.orbitals[d]) ** 2 for d in manifold) / len(manifold)
    spheres = SpheresAroundDefect.on_grid(np.asarray(higher.labels.defect_site_frac_coords),
                                          reference.orbitals[defect].shape, higher.structure.lattice.matrix)
    near = near_defect_ratios(reference, spheres)
    edges = edge_manifolds(eigenvalues, bands, defect)
    elements, squares = [], {"valence": [], "conduction": []}
    below, above = bands_beside_level(eigenvalues, bands, defect)
    for band in below + above:
        side = "valence" if band < defect else "conduction"
        overlaps = [np.sign(x) * manifold_overlap(reference.orbitals[band], orbitals_at_q)
                    for x, orbitals_at_q in zip(q, followed)]
        difference = float(eigenvalues[defect] - eigenvalues[band])
        coupling = electron_phonon_coupling(q, np.array(overlaps), difference)
        if band in edges[side]:
            squares[side].append(coupling**2)
        elements.append(CouplingMatrixElement(
            band=band + 1, defect_band=defect + 1, defect_bands=[d + 1 for d in manifold], spin=spin + 1,
            eigenvalue_difference_eV=difference,
            q_amu_half_angstrom=(q + delta_Q).tolist(), overlaps=overlaps, W_if_eV_per_amu_half_angstrom=coupling,
            edge=side if band in edges[side] else None,
            inverse_participation_ratio=inverse_participation_ratio(np.abs(reference.orbitals[band]) ** 2),
            density_ratio_near_defect=near[band],
        ))
    per_carrier = {carrier: float(np.sqrt(np.mean(squares[side])))
                   for side, carrier in (("valence", "hole"), ("conduction", "electron")) if squares[side]}
    scaling, n_scf = {}, 3
    if higher.labels.charge != 0 and edges["conduction"]:
        scaling["electron"] = scaling_record(reference, edges["conduction"], spheres, higher.labels.charge)
    if lower.labels.charge != 0 and edges["valence"]:
        channel = spin if lower.labels.spin_multiplicity > 1 else 0
        captured = orbitals(lower.structure, lower, channel)
        lower_bands = sorted(captured.orbitals)
        lower_defect = max(lower_bands, key=lambda b: manifold_overlap(captured.orbitals[b], defect_orbitals))
        valence = edge_manifolds(captured.eigenvalues_eV, lower_bands, lower_defect)["valence"]
        if valence:
            scaling["hole"] = scaling_record(captured, valence, spheres, lower.labels.charge)
        n_scf += 1
    return CarrierCoupling(
        elements=elements, W_if=per_carrier, scaling=scaling,
        defect_orbital_ipr=inverse_participation_ratio(defect_density),
        defect_orbital_density_ratio=spheres.density_ratio_at(defect_density, LOCALIZATION_RADIUS_ANGSTROM),
        n_scf=n_scf)

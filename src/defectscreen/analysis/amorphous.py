"""Amorphous hosts: a network glass generated from a crystal by bond-switching Monte Carlo (seed 004) or by
melt–quench MD with a universal potential, and the
numbers that say whether a generated structure is the glass — density, radial-distribution peaks, bond-angle
distributions, coordination defects — against experiment.

Experiment for a-SiO2 (neutron and X-ray diffraction: Mozzi & Warren, J. Appl. Cryst. 2, 164 (1969); Grimley,
Wright & Sinclair, J. Non-Cryst. Solids 119, 49 (1990)): density 2.20 g/cm³, Si–O 1.61 Å, O–O 2.63 Å, Si–Si
3.08 Å, O–Si–O 109.5°, Si–O–Si ~144° (spread ~ ±15°), every Si four-fold and every O two-fold.
"""

from __future__ import annotations

import time
from dataclasses import asdict
from typing import Literal

import numpy as np
from ase.build import find_optimal_cell_shape
from pymatgen.core import Element, Lattice, Structure

import defectscreen
from defectscreen.analysis.formation import k_sampling_length
from defectscreen.mlip.melt_quench import MeltQuenchSettings, melt_and_quench
from defectscreen.physics.bond_switching import (
    KeatingParameters,
    Network,
    bond_switching_monte_carlo,
)
from defectscreen.schemas.amorphous import AmorphousHostDocument, GlassStructureMetrics

#: the network glasses this module can build: A (four-fold) and X (two-fold) elements
NETWORK_FORMERS = {"SiO2": ("Si", "O")}
#: experiment for a-SiO2 (module docstring): density g/cm³, first-peak distances Å, mean angles degrees
MEASURED_SILICA = {"density_g_cm3": 2.20, "A-X": 1.61, "X-X": 2.63, "A-A": 3.08, "X-A-X": 109.5, "A-X-A": 144.0}
#: bond length (Å) beyond which an A–X pair is not bonded when coordination is counted from distances
BOND_CUTOFF_ANGSTROM = 2.0
#: how far (Å, degrees, g/cm³) a generated structure's first shells, mean angles and density may lie from
#: experiment unflagged
PEAK_TOLERANCE_ANGSTROM = 0.05
ANGLE_TOLERANCE_DEGREES = 5.0
DENSITY_TOLERANCE_G_CM3 = 0.1
#: above this fraction of the crystal's bridges left in place a generated network is not a glass
MAX_CRYSTAL_BRIDGES_KEPT = 0.5


def _a_neighbours_of_x(structure: Structure, bond_cutoff_angstrom: float) -> tuple[np.ndarray, np.ndarray,
                                                                                   list[np.ndarray]]:
    """Which sites are A, the X sites, and the A atoms within the cutoff of each X."""
    former, _ = _formers(structure)
    is_a = np.array([site.specie.symbol == former for site in structure])
    x_atoms = np.flatnonzero(~is_a)
    distances = structure.distance_matrix
    return is_a, x_atoms, [np.flatnonzero(is_a & (distances[x] < bond_cutoff_angstrom)) for x in x_atoms]


def network_of(structure: Structure, bond_cutoff_angstrom: float = BOND_CUTOFF_ANGSTROM) -> Network:
    """The bond network of an AX2 crystal (every A with four X within the cutoff, every X with two A)."""
    former, bridge = _formers(structure)
    is_a, x_atoms, bridges = _a_neighbours_of_x(structure, bond_cutoff_angstrom)
    if any(len(pair) != 2 for pair in bridges):
        raise ValueError(f"every {bridge} must bond two {former} within {bond_cutoff_angstrom} Å: start from a "
                         f"fully connected {former}{bridge}2 crystal (quartz, cristobalite)")
    return Network(structure.cart_coords, structure.lattice.matrix, is_a, x_atoms, np.array(bridges))


def _formers(structure: Structure) -> tuple[str, str]:
    formula = structure.composition.reduced_formula
    if formula not in NETWORK_FORMERS:
        raise ValueError(f"the glass generators build {', '.join(NETWORK_FORMERS)} glasses; the crystal is {formula}")
    return NETWORK_FORMERS[formula]


def crystal_at_density(crystal: Structure, atoms: int, density_g_cm3: float,
                       supercell: Literal["compact", "diagonal"] = "compact") -> Structure:
    """The supercell of ``crystal`` with ``atoms`` atoms, its lattice scaled isotropically to ``density_g_cm3``.
    'diagonal': multiples of the crystal's cell along its axes, the lengths most equal (72 atoms of 24-atom
    β-cristobalite: 1 × 1 × 3, 7.2 Å wide); 'compact': the widest of that one and the supercell of the primitive cell
    closest to a cube (ASE's ``find_optimal_cell_shape``), by the distance between opposite faces (what a Γ-only cell
    samples, ``analysis.formation.k_sampling_length``) — 72 atoms: 9.9 Å wide, 96 atoms: a rhombohedron 10.1 Å wide;
    the diagonal cell where it is as wide (24 or 192 atoms: cubes)."""
    candidates = []
    if atoms % len(crystal) == 0:
        cells = atoms // len(crystal)
        repeats = [(i, j, cells // (i * j)) for i in range(1, cells + 1) for j in range(1, cells + 1)
                   if cells % (i * j) == 0]
        lengths = np.array(crystal.lattice.abc)
        candidates.append(crystal * min(repeats, key=lambda n: float(np.ptp(np.array(n) * lengths))))
    elif supercell == "diagonal":
        raise ValueError(f"atoms: {atoms} is not a multiple of the crystal cell's {len(crystal)} atoms")
    if supercell == "compact":
        primitive = crystal.get_primitive_structure()
        if atoms % len(primitive):
            raise ValueError(f"atoms: {atoms} is not a multiple of the primitive cell's {len(primitive)} atoms")
        shape = find_optimal_cell_shape(primitive.lattice.matrix, atoms // len(primitive), "sc")
        compact = primitive.copy()
        compact.make_supercell(shape)
        candidates.append(compact)
    widths = [k_sampling_length(cell.lattice, (1, 1, 1)) for cell in candidates]
    chosen = candidates[next(i for i, width in enumerate(widths) if width > max(widths) - 1e-6)]
    scale = (chosen.density / density_g_cm3) ** (1 / 3)
    return Structure(Lattice(chosen.lattice.matrix * scale), chosen.species, chosen.frac_coords)


def bond_switching_glass(crystal: Structure, atoms: int, density_g_cm3: float, seed: int, melting_moves: int,
                         quenching_moves: int, melt_temperature_K: float, final_temperature_K: float,
                         rattle_angstrom: float = 0.05,
                         supercell: Literal["compact", "diagonal"] = "compact") -> AmorphousHostDocument:
    """An AX2 glass from ``crystal``: supercell at the density (:func:`crystal_at_density`), atoms rattled (uniform
    in ±``rattle``, breaks the crystal's symmetric saddles), bond-switching Monte Carlo (seed ``seed``) at the fixed
    lattice, then validated."""
    start = time.perf_counter()
    cell = crystal_at_density(crystal, atoms, density_g_cm3, supercell)
    network = network_of(cell)
    rng = np.random.default_rng(seed)
    rattled = Network(network.positions + rng.uniform(-rattle_angstrom, rattle_angstrom, network.positions.shape),
                      network.cell, network.is_a, network.x_atoms, network.bridges)
    parameters = KeatingParameters()
    run = bond_switching_monte_carlo(rattled, melting_moves, quenching_moves, melt_temperature_K,
                                     final_temperature_K, seed, parameters)
    structure = Structure(Lattice(cell.lattice.matrix), cell.species, run.network.positions, coords_are_cartesian=True)
    metrics = glass_metrics(structure)
    kept = crystal_bridges_kept(network.bridges, run.network.bridges)
    return AmorphousHostDocument(
        formula=structure.composition.formula, n_atoms=len(structure), structure=structure,
        crystal_formula=crystal.composition.formula, supercell=supercell, seed=seed, melting_moves=melting_moves,
        quenching_moves=quenching_moves, melt_temperature_K=melt_temperature_K,
        final_temperature_K=final_temperature_K, keating_parameters=asdict(parameters),
        accepted_melting_moves=run.accepted_melting, accepted_quenching_moves=run.accepted_quenching,
        network_energy_eV_per_atom=run.energy_eV / len(structure),
        metrics=metrics, crystal_bridges_kept_fraction=kept, measured=MEASURED_SILICA,
        flags=glass_flags(metrics, kept),
        wall_time_s=time.perf_counter() - start, defectscreen_version=defectscreen.__version__)


def network_bridges(structure: Structure, bond_cutoff_angstrom: float = BOND_CUTOFF_ANGSTROM) -> np.ndarray:
    """The A–A pairs bridged by an X (its two A within the cutoff) of any AX2 structure; an X with another number of
    A neighbours bridges nothing (a coordination defect, counted by :func:`coordination_defects`)."""
    _, _, pairs = _a_neighbours_of_x(structure, bond_cutoff_angstrom)
    return np.array([pair for pair in pairs if len(pair) == 2], dtype=int).reshape(-1, 2)


def melt_quench_glass(crystal: Structure, atoms: int, density_g_cm3: float, seed: int, settings: MeltQuenchSettings,
                      final_temperature_K: float,
                      supercell: Literal["compact", "diagonal"] = "compact") -> AmorphousHostDocument:
    """An AX2 glass from ``crystal`` by melt–quench MD with a universal potential (:func:`melt_and_quench`): the
    supercell at the density (:func:`crystal_at_density`), melted, quenched and relaxed at that fixed cell, then
    validated like a bond-switching glass."""
    cell = crystal_at_density(crystal, atoms, density_g_cm3, supercell)
    run = melt_and_quench(cell, settings, final_temperature_K, seed)
    metrics = glass_metrics(run.structure)
    kept = crystal_bridges_kept(network_bridges(cell), network_bridges(run.structure))
    return AmorphousHostDocument(
        formula=run.structure.composition.formula, n_atoms=len(run.structure), structure=run.structure,
        crystal_formula=crystal.composition.formula, supercell=supercell, method="melt_quench_md", seed=seed,
        melt_temperature_K=settings.melt_temperature_K, final_temperature_K=final_temperature_K,
        melt_quench=settings.model_dump(mode="json"), potential=run.potential,
        potential_energy_eV_per_atom=run.energy_eV / len(run.structure),
        melt_temperature_mean_K=run.melt_temperature_mean_K, metrics=metrics, crystal_bridges_kept_fraction=kept,
        measured=MEASURED_SILICA, flags=glass_flags(metrics, kept), wall_time_s=run.wall_time_s,
        defectscreen_version=defectscreen.__version__)


def defect_cell_in_glass(glass: Structure, site: int, dopant: str | None) -> Structure:
    """The glass cell with site ``site`` (from 0) removed (``dopant`` None: a vacancy) or taken by ``dopant``; the
    other sites keep their order."""
    cell = glass.copy()
    if dopant is None:
        cell.remove_sites([site])
    else:
        cell.replace(site, dopant)
    return cell


def _pair_distances(structure: Structure, first: str, second: str, reach: float) -> np.ndarray:
    indices = {symbol: [i for i, site in enumerate(structure) if site.specie.symbol == symbol]
               for symbol in (first, second)}
    centres, points, _, distances = structure.get_neighbor_list(reach, sites=[structure[i] for i in indices[first]])
    keep = np.isin(points, indices[second]) & (distances > 1e-6)
    return distances[keep]


def radial_distribution(structure: Structure, first: str, second: str, r_max_angstrom: float = 6.0,
                        bin_angstrom: float = 0.02) -> tuple[np.ndarray, np.ndarray]:
    """Partial radial distribution g_ab(r): (bin centres Å, g), normalised to 1 at large r in a uniform glass."""
    distances = _pair_distances(structure, first, second, r_max_angstrom)
    edges = np.arange(0.0, r_max_angstrom + bin_angstrom, bin_angstrom)
    counts, _ = np.histogram(distances, edges)
    n_first = sum(site.specie.symbol == first for site in structure)
    n_second = sum(site.specie.symbol == second for site in structure)
    shells = 4 / 3 * np.pi * (edges[1:] ** 3 - edges[:-1] ** 3)
    return (edges[1:] + edges[:-1]) / 2, counts / (n_first * shells * n_second / structure.volume)


def first_shell_distance_angstrom(structure: Structure, first: str, second: str, below_angstrom: float) -> float:
    """Mean a–b distance (Å) of the first shell (pairs closer than ``below_angstrom``): the centre of g_ab(r)'s first
    peak, steadier than its highest bin in a cell of ~100 atoms."""
    return float(_pair_distances(structure, first, second, below_angstrom).mean())


def bond_angles_degrees(structure: Structure, centre: str, ends: str,
                        cutoff_angstrom: float = BOND_CUTOFF_ANGSTROM) -> np.ndarray:
    """Every angle end–centre–end (degrees) between bonded neighbours (within the bond cutoff)."""
    angles = []
    for index, site in enumerate(structure):
        if site.specie.symbol != centre:
            continue
        vectors = [neighbour.coords - site.coords for neighbour in structure.get_neighbors(site, cutoff_angstrom)
                   if neighbour.specie.symbol == ends]
        for i in range(len(vectors)):
            for j in range(i + 1, len(vectors)):
                cos = np.dot(vectors[i], vectors[j]) / (np.linalg.norm(vectors[i]) * np.linalg.norm(vectors[j]))
                angles.append(np.degrees(np.arccos(np.clip(cos, -1, 1))))
    return np.array(angles)


def coordination_defects(structure: Structure, cutoff_angstrom: float = BOND_CUTOFF_ANGSTROM) -> dict[str, int]:
    """Counts of A atoms not four-fold and X atoms not two-fold by distance ('Si3', 'Si5', 'O1', 'O3', ...)."""
    former, bridge = _formers(structure)
    expected = {former: (Element(bridge), 4), bridge: (Element(former), 2)}
    counts: dict[str, int] = {}
    for site in structure:
        partner, wanted = expected[site.specie.symbol]
        found = sum(n.specie == partner for n in structure.get_neighbors(site, cutoff_angstrom))
        if found != wanted:
            key = f"{site.specie.symbol}{found}"
            counts[key] = counts.get(key, 0) + 1
    return dict(sorted(counts.items()))


def glass_metrics(structure: Structure) -> GlassStructureMetrics:
    """Density (g/cm³), first-shell distances (Å) of A–X, X–X, A–A, mean and spread of the X–A–X and A–X–A angles
    (degrees), coordination defects."""
    former, bridge = _formers(structure)
    x_a_x, a_x_a = bond_angles_degrees(structure, former, bridge), bond_angles_degrees(structure, bridge, former)
    return GlassStructureMetrics(
        density_g_cm3=float(structure.density),
        first_shell_angstrom={"A-X": first_shell_distance_angstrom(structure, former, bridge, 2.2),
                              "X-X": first_shell_distance_angstrom(structure, bridge, bridge, 3.0),
                              "A-A": first_shell_distance_angstrom(structure, former, former, 3.4)},
        angles_degrees={"X-A-X": [float(x_a_x.mean()), float(x_a_x.std())],
                        "A-X-A": [float(a_x_a.mean()), float(a_x_a.std())]},
        coordination_defects=coordination_defects(structure))


def listed_coordination_defects(defects: dict[str, int]) -> str:
    """'1 Si3-fold, 2 O1-fold': the coordination defects of a glass as its flags and refusals name them."""
    return ", ".join(f"{count} {kind}-fold" for kind, count in defects.items())


def crystal_bridges_kept(start: np.ndarray, end: np.ndarray) -> float:
    """Fraction of the starting network's A–A bridges (pairs of A atoms sharing an X) still bridged at the end."""
    pairs = {tuple(sorted(pair)) for pair in end.tolist()}
    return sum(tuple(sorted(pair)) in pairs for pair in start.tolist()) / len(start)


def glass_flags(metrics: GlassStructureMetrics, crystal_bridges_kept_fraction: float | None = None) -> list[str]:
    """What in a generated a-SiO2 structure is not the glass, in a reader's words (empty when it is);
    ``crystal_bridges_kept_fraction``: of the crystal it was generated from (None: not generated)."""
    flags = []
    if crystal_bridges_kept_fraction is not None and crystal_bridges_kept_fraction > MAX_CRYSTAL_BRIDGES_KEPT:
        flags.append(f"{100 * crystal_bridges_kept_fraction:.0f} % of the crystal's Si–O–Si bridges are still in place: "
                     "mostly the crystal's network, not a glass; melt hotter or longer")
    if metrics.coordination_defects:
        flags.append(f"coordination defects ({listed_coordination_defects(metrics.coordination_defects)}): not a "
                     "defect-free host; its defects would mix with the ones screened")
    if abs(metrics.density_g_cm3 - MEASURED_SILICA["density_g_cm3"]) > DENSITY_TOLERANCE_G_CM3:
        flags.append(f"density {metrics.density_g_cm3:.2f} g/cm³, measured {MEASURED_SILICA['density_g_cm3']:.2f}")
    for pair, distance in metrics.first_shell_angstrom.items():
        if abs(distance - MEASURED_SILICA[pair]) > PEAK_TOLERANCE_ANGSTROM:
            flags.append(f"{pair} first shell at {distance:.2f} Å, measured {MEASURED_SILICA[pair]:.2f} Å")
    for angle, (mean, _) in metrics.angles_degrees.items():
        if abs(mean - MEASURED_SILICA[angle]) > ANGLE_TOLERANCE_DEGREES:
            flags.append(f"mean {angle} angle {mean:.1f}°, measured {MEASURED_SILICA[angle]:.1f}°")
    return flags

"""Bond-switching Monte Carlo of a tetrahedral AX2 network glass (a-SiO2): seed 004's host generator.

The network: every A (Si) bonded to four X (O), every X bridging two A; the topology, not a distance cutoff, says
which atoms are bonded. Its energy is Keating's valence force field in the form Tu & Tersoff used for SiO2
(PRL 84, 4393 (2000)), with a contact repulsion between atoms the topology does not connect::

    E = Σ_AX ½ k_b (|r_AX| − b₀)² + Σ_A Σ_XX' ½ k_t (cos θ_XAX' + 1/3)² + Σ_X ½ k_x (cos φ_AXA + 1)²
        + Σ_unconnected ½ k_c (r − r_c)²  (r < r_c)

(eV, Å). A move is the Wooten–Winer–Weaire bond switch on the A network (PRL 54, 1392 (1985)) carried by the
bridges: with A–X3–B bonded, A–X1–C and B–X2–D become A–X1–D and B–X2–C, X1 and X2 put at their new midpoints;
the trial network is relaxed (L-BFGS) and accepted with the Metropolis probability min(1, exp(−ΔE/k_BT)). The
temperature stays at T_melt for the melting moves, then falls linearly to T_final (seed 004: ~5000 melting moves,
quench over ~13000 from 2000 K to 300 K, fixed lattice).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize

from defectscreen.physics.units import BOLTZMANN_EV_PER_K


@dataclass(frozen=True)
class KeatingParameters:
    """Force constants (eV/Å², eV) and lengths (Å) of the network energy (module docstring)."""

    bond_eV_per_angstrom2: float = 27.0
    bond_length_angstrom: float = 1.6
    tetrahedral_angle_eV: float = 4.32
    bridge_angle_eV: float = 0.75
    contact_eV_per_angstrom2: float = 10.0
    contact_AA_angstrom: float = 3.0
    contact_AX_angstrom: float = 2.5
    contact_XX_angstrom: float = 2.5


@dataclass(frozen=True)
class Network:
    """Atoms (positions Å, rows of ``cell`` the lattice vectors Å), which are A (``is_a``), and for every X atom
    (``x_atoms``) the two A atoms it bridges (``bridges``, atom indices)."""

    positions: np.ndarray
    cell: np.ndarray
    is_a: np.ndarray
    x_atoms: np.ndarray
    bridges: np.ndarray

    def a_neighbours(self) -> np.ndarray:
        """(n_A_atoms_total, 4) X atom indices bonded to each atom that is A (rows in atom order of A atoms)."""
        a_atoms = np.flatnonzero(self.is_a)
        row = {atom: i for i, atom in enumerate(a_atoms)}
        neighbours = [[] for _ in a_atoms]
        for x, (first, second) in zip(self.x_atoms, self.bridges):
            neighbours[row[first]].append(x)
            neighbours[row[second]].append(x)
        counts = {len(n) for n in neighbours}
        if counts != {4}:
            raise ValueError(f"every A atom must bridge to four X atoms; found {sorted(counts)}")
        return np.array(neighbours)


def minimum_image(vectors: np.ndarray, cell: np.ndarray) -> np.ndarray:
    """The shortest periodic images of difference vectors (…, 3) in a cell whose rows are the lattice vectors."""
    fractional = vectors @ np.linalg.inv(cell)
    return (fractional - np.round(fractional)) @ cell


def _angles(positions: np.ndarray, cell: np.ndarray, centre: np.ndarray, first: np.ndarray, second: np.ndarray,
            cos0: float, k: float, gradient: np.ndarray) -> float:
    u = minimum_image(positions[first] - positions[centre], cell)
    v = minimum_image(positions[second] - positions[centre], cell)
    nu, nv = np.linalg.norm(u, axis=1), np.linalg.norm(v, axis=1)
    cos = np.einsum("ij,ij->i", u, v) / (nu * nv)
    slope = (k * (cos - cos0))[:, None]
    gu = slope * (v / (nu * nv)[:, None] - (cos / nu**2)[:, None] * u)
    gv = slope * (u / (nu * nv)[:, None] - (cos / nv**2)[:, None] * v)
    np.add.at(gradient, first, gu)
    np.add.at(gradient, second, gv)
    np.add.at(gradient, centre, -gu - gv)
    return float(0.5 * k * np.sum((cos - cos0) ** 2))


@dataclass(frozen=True)
class _Topology:
    """What the energy needs of a network's bonds, computed once per topology."""

    bond_x: np.ndarray
    bond_a: np.ndarray
    tetrahedral: tuple[np.ndarray, np.ndarray, np.ndarray]
    pair_i: np.ndarray
    pair_j: np.ndarray
    reach: np.ndarray

    @classmethod
    def of(cls, network: Network, p: KeatingParameters) -> _Topology:
        neighbours = network.a_neighbours()
        pairs = np.array([(i, j) for i in range(4) for j in range(i + 1, 4)])
        centres = np.repeat(np.flatnonzero(network.is_a), len(pairs))
        bond_x, bond_a = np.repeat(network.x_atoms, 2), network.bridges.ravel()
        n = len(network.positions)
        connected = np.eye(n, dtype=bool)
        connected[bond_x, bond_a] = connected[bond_a, bond_x] = True
        first, second = network.bridges[:, 0], network.bridges[:, 1]
        connected[first, second] = connected[second, first] = True
        for row in neighbours:
            connected[np.ix_(row, row)] = True
        i, j = np.triu_indices(n, 1)
        keep = ~connected[i, j]
        i, j = i[keep], j[keep]
        a_i, a_j = network.is_a[i], network.is_a[j]
        reach = np.where(a_i & a_j, p.contact_AA_angstrom, np.where(a_i | a_j, p.contact_AX_angstrom,
                                                                    p.contact_XX_angstrom))
        return cls(bond_x, bond_a, (centres, neighbours[:, pairs[:, 0]].ravel(), neighbours[:, pairs[:, 1]].ravel()),
                   i, j, reach)


def network_energy(network: Network, positions: np.ndarray, parameters: KeatingParameters = KeatingParameters(),
                   topology: _Topology | None = None) -> tuple[float, np.ndarray]:
    """Energy (eV) of ``network``'s topology at ``positions`` (N, 3) Å and its gradient (N, 3) eV/Å."""
    p, cell, gradient = parameters, network.cell, np.zeros_like(positions)
    t = topology or _Topology.of(network, p)
    d = minimum_image(positions[t.bond_x] - positions[t.bond_a], cell)
    length = np.linalg.norm(d, axis=1)
    stretch = length - p.bond_length_angstrom
    g = (p.bond_eV_per_angstrom2 * stretch / length)[:, None] * d
    np.add.at(gradient, t.bond_x, g)
    np.add.at(gradient, t.bond_a, -g)
    energy = float(0.5 * p.bond_eV_per_angstrom2 * np.sum(stretch**2))
    energy += _angles(positions, cell, *t.tetrahedral, -1.0 / 3.0, p.tetrahedral_angle_eV, gradient)
    energy += _angles(positions, cell, network.x_atoms, network.bridges[:, 0], network.bridges[:, 1], -1.0,
                      p.bridge_angle_eV, gradient)
    d = minimum_image(positions[t.pair_j] - positions[t.pair_i], cell)
    r = np.linalg.norm(d, axis=1)
    close = r < t.reach
    overlap = r[close] - t.reach[close]
    g = (p.contact_eV_per_angstrom2 * overlap / r[close])[:, None] * d[close]
    np.add.at(gradient, t.pair_j[close], g)
    np.add.at(gradient, t.pair_i[close], -g)
    return energy + float(0.5 * p.contact_eV_per_angstrom2 * np.sum(overlap**2)), gradient


def relax_network(network: Network, parameters: KeatingParameters = KeatingParameters(),
                  max_force_eV_per_angstrom: float = 1e-3) -> tuple[Network, float]:
    """The network with its atoms relaxed (L-BFGS) to the largest force ``max_force``, and its energy (eV)."""
    shape, topology = network.positions.shape, _Topology.of(network, parameters)

    def energy_and_gradient(flat: np.ndarray) -> tuple[float, np.ndarray]:
        energy, gradient = network_energy(network, flat.reshape(shape), parameters, topology)
        return energy, gradient.ravel()

    result = minimize(energy_and_gradient, network.positions.ravel(), jac=True, method="L-BFGS-B",
                      options={"gtol": max_force_eV_per_angstrom, "maxiter": 5000, "maxcor": 30})
    relaxed = Network(result.x.reshape(shape), network.cell, network.is_a, network.x_atoms, network.bridges)
    return relaxed, float(result.fun)


def bond_switch(network: Network, rng: np.random.Generator) -> Network | None:
    """One Wooten–Winer–Weaire switch at a random bridge (module docstring), or None where the drawn atoms allow
    none (it would bond two A atoms twice)."""
    pair_of = {tuple(sorted(pair)) for pair in network.bridges.tolist()}
    k3 = rng.integers(len(network.x_atoms))
    a, b = network.bridges[k3][rng.permutation(2)]
    others_a = [k for k in range(len(network.x_atoms)) if k != k3 and a in network.bridges[k]]
    others_b = [k for k in range(len(network.x_atoms)) if k != k3 and b in network.bridges[k]]
    k1, k2 = rng.choice(others_a), rng.choice(others_b)
    c = int(network.bridges[k1][network.bridges[k1] != a][0])
    d = int(network.bridges[k2][network.bridges[k2] != b][0])
    if len({a, b, c, d}) < 4 or tuple(sorted((a, d))) in pair_of or tuple(sorted((b, c))) in pair_of:
        return None
    bridges = network.bridges.copy()
    bridges[k1], bridges[k2] = (a, d), (b, c)
    positions = network.positions.copy()
    for k, (first, second) in ((k1, (a, d)), (k2, (b, c))):
        half = minimum_image(positions[second] - positions[first], network.cell) / 2
        positions[network.x_atoms[k]] = positions[first] + half
    return Network(positions, network.cell, network.is_a, network.x_atoms, bridges)


@dataclass(frozen=True)
class BondSwitchingRun:
    """The quenched network, its energy (eV) and the moves accepted in each stage."""

    network: Network
    energy_eV: float
    accepted_melting: int
    accepted_quenching: int


def bond_switching_monte_carlo(network: Network, melting_moves: int, quenching_moves: int, melt_temperature_K: float,
                               final_temperature_K: float, seed: int,
                               parameters: KeatingParameters = KeatingParameters()) -> BondSwitchingRun:
    """Melt (``melting_moves`` at ``melt_temperature_K``) and quench (linearly to ``final_temperature_K`` over
    ``quenching_moves``) a network by bond switches, each trial relaxed before the Metropolis test; the result
    relaxed to 10⁻⁴ eV/Å."""
    rng = np.random.default_rng(seed)
    current, energy = relax_network(network, parameters)
    temperatures = np.concatenate([np.full(melting_moves, float(melt_temperature_K)),
                                   np.linspace(melt_temperature_K, final_temperature_K, quenching_moves)])
    accepted = np.zeros(len(temperatures), dtype=bool)
    for move, temperature in enumerate(temperatures):
        trial = bond_switch(current, rng)
        if trial is not None:
            trial, trial_energy = relax_network(trial, parameters)
            change = trial_energy - energy
            if change <= 0 or rng.random() < np.exp(-change / (BOLTZMANN_EV_PER_K * temperature)):
                current, energy, accepted[move] = trial, trial_energy, True
    current, energy = relax_network(current, parameters, max_force_eV_per_angstrom=1e-4)
    return BondSwitchingRun(current, energy, int(accepted[:melting_moves].sum()), int(accepted[melting_moves:].sum()))

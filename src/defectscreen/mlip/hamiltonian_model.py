"""A machine-learned Kohn–Sham Hamiltonian in GPAW's atomic-orbital basis (seeds 001/004), equivariant by construction.

Every block of H between orbital shells is written in the frame of a bond, where a two-centre integral keeps the
bond's cylindrical and mirror symmetry, and rotated back with the real-spherical-harmonic rotation matrices:

    H_{ia,jb}(R) = Σ_k V_{AaBb,k}(r) · M_a E_k M_bᵀ,      V(r) = Σ_n c_n φ_n(r),

with ``E_k`` the (min(l_a, l_b) + 1) bond-frame blocks that keep that symmetry (σ, π, δ), ``M_l`` the rotation of
the real harmonics of degree l that takes the bond to z, and ``φ_n`` Gaussians on a grid up to the pair's reach times
a cosine cutoff (the seeds' Bessel expansion plays this part in HamGNN). The on-site block of atom i is a constant
per shell pair plus the crystal field of its neighbours, the same bond-frame form summed over them:

    H_{ia,ib} = ε_{Aab} δ_{l_a l_b} 1 + Σ_j Σ_k U_{AabB,k}(r_ij) · M_a E_k M_bᵀ.

Γ-point matrices sum each pair's block over its periodic images. Charge transfer moves the levels of a whole
region (an ionic glass, a vacancy's neighbours) through the long-range electrostatic potential, which pair terms
within the orbitals' reach cannot carry; the model adds the self-consistent-charge form of DFTB,

    ΔH_{μν} = ½ S_{μν} (φ_A + φ_B),      φ_i = Σ_j J_ij q_j  (Ewald),      q_j = Σ_p w_p g_p(j),

with site charges linear in a few local descriptors g (per species: a constant and neighbour counts with Gaussian
radial weights), so φ is linear in w as well. Everything is linear in the coefficients, so the fit is one
least-squares problem over all matrix elements of all training cells, with one free constant per cell times S
(H and H + cS have the same eigenvectors, hence the same density and energy: the electrostatic reference of a
periodic cell is arbitrary). It learns H itself or, better, ΔH over the Hamiltonian of the superposed free-atom
densities that GPAW builds without iterations (:class:`~defectscreen.engines.lcao_hamiltonian.LcaoCell`), which
holds every three-centre and PAW term of those densities exactly.

What it is not: HamGNN's message passing. Measured (docs/ml-hamiltonian.md): in ionic MgO it takes the energy of one
non-SCF step from 1 eV/atom above the SCF to 0.06 eV/atom; in a-SiO2 (``benchmarks/ml_hamiltonian.py``) from
~1.05 eV/atom to 14–19 meV/atom on held-out 47–192-atom cells with the energy loss (41–62 with the element loss),
forces ~180–240 meV/Å — stable across sizes, but far from the seeds' ~1 meV/atom and 25 meV/Å; in covalent Si
(16-atom cells at Γ, element loss) it learns only half of ΔH and does not beat that step. A point-like three-centre term (a bump at a
neighbour seen by two orbitals, Y_la ⊗ Y_lb of the two directions) did not help in either (tried, removed). On relaxed
a-SiO2 cells one linear-mixing step after the model's H (:meth:`LcaoCell.energy_of`, the campaign's default) takes the
energy to 2–3.5 meV/atom, forces to 46–86 meV/Å and V_O's E(defect) − E(glass) to 13–31 meV of the SCF.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Literal

import numpy as np
from ase import Atoms
from ase.calculators.calculator import Calculator, all_changes
from ase.neighborlist import neighbor_list
from gpaw.sphere.spherical_harmonics import Yarr
from pymatgen.analysis.ewald import EwaldSummation
from pymatgen.io.ase import AseAtomsAdaptor
from scipy import sparse
from scipy.linalg import eigh

from defectscreen.engines.base import LcaoSettings
from defectscreen.engines.lcao_hamiltonian import LcaoBasis, LcaoCell

#: the energy loss weighs each occupied–empty pair by 2/(ε_a − ε_i): a training cell needs a gap of at least this (eV)
MIN_TRAINING_GAP_EV = 0.1

#: fixed directions on which rotation matrices of real harmonics are solved for (any ≥ 2l+1 generic points do)
_SAMPLE_DIRECTIONS = np.random.default_rng(20261204).normal(size=(32, 3))
_SAMPLE_DIRECTIONS /= np.linalg.norm(_SAMPLE_DIRECTIONS, axis=1)[:, None]


def _harmonics(l: int, directions: np.ndarray) -> np.ndarray:
    """GPAW's real spherical harmonics of degree l at unit vectors (..., 3) -> (..., 2l+1)."""
    return np.moveaxis(Yarr(list(range(l * l, (l + 1) ** 2)), directions), 0, -1)


def harmonic_rotations(l: int, rotations: np.ndarray) -> np.ndarray:
    """M (…, 2l+1, 2l+1) with Y_l(Rᵀ p) = M Y_l(p) for every rotation (or reflection) R (…, 3, 3)."""
    rotated = _harmonics(l, np.einsum("kv,...vw->...kw", _SAMPLE_DIRECTIONS, rotations))
    return np.swapaxes(np.linalg.pinv(_harmonics(l, _SAMPLE_DIRECTIONS)) @ rotated, -1, -2)


@lru_cache(maxsize=None)
def bond_frame_blocks(l1: int, l2: int) -> np.ndarray:
    """The (min(l1, l2) + 1, 2l1+1, 2l2+1) orthonormal blocks of a two-centre integral between real harmonics of
    degrees l1 and l2 with the bond along z: those unchanged by rotations about z and by the mirror y -> -y."""
    angle = 0.7
    about_z = np.array([[np.cos(angle), -np.sin(angle), 0.0], [np.sin(angle), np.cos(angle), 0.0], [0, 0, 1.0]])
    mirror = np.diag([1.0, -1.0, 1.0])
    conditions = []
    for operation in (about_z, mirror):
        first, second = harmonic_rotations(l1, operation), harmonic_rotations(l2, operation)
        conditions.append(np.kron(first, second) - np.eye((2 * l1 + 1) * (2 * l2 + 1)))
    _, singular, vectors_t = np.linalg.svd(np.vstack(conditions))
    count = int(np.sum(singular < 1e-8)) + max(0, vectors_t.shape[0] - len(singular))
    blocks = vectors_t[-count:].reshape(count, 2 * l1 + 1, 2 * l2 + 1)
    if count != min(l1, l2) + 1:
        raise RuntimeError(f"{count} bond-frame blocks for l = {l1}, {l2}; expected {min(l1, l2) + 1}")
    return blocks


def _frames(unit: np.ndarray) -> np.ndarray:
    """Rotations R (n, 3, 3) with R d = z for unit vectors d (n, 3)."""
    helper = np.where(np.abs(unit[:, :1]) < 0.9, np.array([[1.0, 0, 0]]), np.array([[0, 1.0, 0]]))
    first = np.cross(unit, helper)
    first /= np.linalg.norm(first, axis=1)[:, None]
    second = np.cross(unit, first)
    return np.stack([first, second, unit], axis=1)


def bond_blocks(l1: int, l2: int, vectors: np.ndarray) -> np.ndarray:
    """The equivariant blocks (n, k, 2l1+1, 2l2+1) ``M_a E_k M_bᵀ`` of bonds along ``vectors`` (n, 3)."""
    unit = vectors / np.linalg.norm(vectors, axis=1)[:, None]
    to_z = _frames(unit)
    first, second = harmonic_rotations(l1, to_z), harmonic_rotations(l2, to_z)
    return np.einsum("nab,kbc,ndc->nkad", first, bond_frame_blocks(l1, l2), second)


def radial_functions(distances: np.ndarray, reach_angstrom: float, count: int,
                     shortest_angstrom: float) -> np.ndarray:
    """φ_n(r) (len(r), count): Gaussians centred on a grid from ``shortest`` to ``reach`` (width: the spacing) times
    ½(1 + cos πr/reach), zero beyond the reach."""
    centres = np.linspace(shortest_angstrom, reach_angstrom, count)
    width = centres[1] - centres[0]
    cutoff = np.where(distances < reach_angstrom, 0.5 * (1 + np.cos(np.pi * distances / reach_angstrom)), 0.0)
    return np.exp(-(((distances[:, None] - centres[None, :]) / width) ** 2)) * cutoff[:, None]


@dataclass(frozen=True)
class OrbitalLayout:
    """The basis of every species: its shells' l in GPAW's order, and each shell's cutoff radius (Å)."""

    basis: str
    shells: dict[str, tuple[int, ...]]
    cutoffs_angstrom: dict[str, tuple[float, ...]]

    @classmethod
    def of(cls, basis: LcaoBasis) -> OrbitalLayout:
        """The layout of the species of a GPAW LCAO basis."""
        shells, cutoffs = {}, {}
        for symbol, atom_shells, atom_cutoffs in zip(basis.symbols, basis.shells, basis.cutoffs_angstrom):
            shells[symbol] = tuple(l for l, _ in atom_shells)
            cutoffs[symbol] = tuple(atom_cutoffs)
        return cls(basis.name, shells, cutoffs)

    def offsets(self, symbols: list[str]) -> np.ndarray:
        """First orbital of every atom."""
        sizes = [sum(2 * l + 1 for l in self.shells[symbol]) for symbol in symbols]
        return np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(int)

    def n_orbitals(self, symbols: list[str]) -> int:
        return int(sum(2 * l + 1 for symbol in symbols for l in self.shells[symbol]))

    def shell_offsets(self, symbol: str) -> list[int]:
        sizes = [2 * l + 1 for l in self.shells[symbol]]
        return [int(x) for x in np.concatenate([[0], np.cumsum(sizes)[:-1]])]


@dataclass
class _Design:
    """A sparse design matrix over the upper triangle of one cell's H: rows = elements, columns = coefficients."""

    rows: list[np.ndarray] = field(default_factory=list)
    columns: list[np.ndarray] = field(default_factory=list)
    values: list[np.ndarray] = field(default_factory=list)

    def add(self, rows: np.ndarray, columns: np.ndarray, values: np.ndarray) -> None:
        self.rows.append(rows.ravel())
        self.columns.append(columns.ravel())
        self.values.append(values.ravel())


@dataclass
class _Prediction:
    """The same terms as :class:`_Design`, contracted with the coefficients as they come: memory per block, not per
    cell (a 192-atom a-SiO2 design matrix does not fit in 24 GB)."""

    coefficients: np.ndarray
    values: np.ndarray

    def add(self, rows: np.ndarray, columns: np.ndarray, values: np.ndarray) -> None:
        self.values += np.bincount(rows.ravel(), weights=(values * self.coefficients[columns]).ravel(),
                                   minlength=len(self.values))


@dataclass(frozen=True)
class HamiltonianExample:
    """One training cell: its atoms, self-consistent H (eV) and S, GPAW's free-atom-density H (eV; needed when the
    model learns the correction to it) and the number of doubly occupied orbitals (closed shell)."""

    atoms: Atoms
    hamiltonian_eV: np.ndarray
    overlap: np.ndarray
    atomic_density_hamiltonian_eV: np.ndarray | None
    occupied: int


@dataclass
class HamiltonianModel:
    """The coefficients of every term (``terms``: name -> (first column, count)) and the settings that define the
    features and the fit. ``fit`` learns them from :class:`HamiltonianExample` cells; ``predict`` gives a cell's
    target (eV): the correction to GPAW's free-atom-density H when ``over_free_atom_density`` (the default), else H.

    ``loss`` 'energy' (the default) fits what the energy from H sees: the coupling of occupied and empty SCF orbitals
    by the error δH, Σ_ai 2 |⟨a|δH|i⟩|² / (ε_a − ε_i) — the second-order energy error of orbitals that are not the
    SCF's (without the Hartree–xc response), eV — plus ``band_weight_per_eV`` times the squared first-order error of
    the occupied and the lowest empty band energies, Σ_i (⟨i|δH|i⟩ − c)² (eV²; bands, gap and defect levels), plus
    ``element_weight_per_eV`` times the squared error of every matrix element (eV²; it keeps the rest of H in hand),
    with one free shift c (times S) per cell in both; 'elements' fits the elements alone."""

    layout: OrbitalLayout
    radial_count: int = 10
    shortest_angstrom: float = 0.8
    reach_margin_angstrom: float = 0.5
    charge_radial_count: int = 4
    charge_reach_angstrom: float = 4.0
    over_free_atom_density: bool = True
    loss: Literal["energy", "elements"] = "energy"
    element_weight_per_eV: float = 1e-2
    band_weight_per_eV: float = 0.0
    terms: dict[str, tuple[int, int]] = field(default_factory=dict)
    coefficients: np.ndarray | None = None

    def _reach(self, first: str, shell_a: int, second: str, shell_b: int) -> float:
        cutoffs = self.layout.cutoffs_angstrom
        return cutoffs[first][shell_a] + cutoffs[second][shell_b] + self.reach_margin_angstrom

    def _field_reach(self, symbol: str, shell_a: int, shell_b: int, neighbour: str) -> float:
        cutoffs = self.layout.cutoffs_angstrom
        return (max(cutoffs[symbol][shell_a], cutoffs[symbol][shell_b]) + max(cutoffs[neighbour])
                + self.reach_margin_angstrom)

    def _features(self, la: int, lb: int, vectors: np.ndarray, distances: np.ndarray, reach: float) -> np.ndarray:
        """(pairs, k, n, 2la+1, 2lb+1): radial function n times bond-frame block k of every pair."""
        radial = radial_functions(distances, reach, self.radial_count, self.shortest_angstrom)
        return np.einsum("pn,pkxy->pknxy", radial, bond_blocks(la, lb, vectors))

    def _max_reach(self, symbols: set[str]) -> float:
        return 2 * max(max(self.layout.cutoffs_angstrom[s]) for s in symbols) + self.reach_margin_angstrom

    def register_terms(self, symbols: set[str]) -> None:
        """Give every term of these species its columns, in one order: hoppings of each ordered shell pair,
        crystal fields of each shell pair by each neighbour species, levels of each shell pair of one l."""
        for first in sorted(symbols):
            for a, la in enumerate(self.layout.shells[first]):
                for second in sorted(symbols):
                    for b, lb in enumerate(self.layout.shells[second]):
                        size = (min(la, lb) + 1) * self.radial_count
                        if (first, a) <= (second, b):
                            self._new_term(f"hop {first}{a} {second}{b}", size)
                        if a <= b and second == first:
                            for neighbour in sorted(symbols):
                                self._new_term(f"field {first}{a} {first}{b} by {neighbour}", size)
                        if second == first and a <= b and la == lb:
                            self._new_term(f"level {first}{a} {first}{b}", 1)
        if self.charge_radial_count:
            for symbol in sorted(symbols):
                self._new_term(f"charge {symbol}", 1 + len(symbols) * self.charge_radial_count)

    @property
    def width(self) -> int:
        """Coefficients of all registered terms."""
        return sum(size for _, size in self.terms.values())

    def _new_term(self, name: str, size: int) -> None:
        self.terms[name] = (self.width, size)

    def _columns(self, name: str) -> int:
        if name not in self.terms:
            raise ValueError(f"the Hamiltonian model has no term {name}: it was not trained on this species pair "
                             "or shell; retrain it with cells that hold it")
        return self.terms[name][0]

    def design(self, atoms: Atoms, overlap: np.ndarray) -> tuple[sparse.csr_matrix, tuple[np.ndarray, np.ndarray]]:
        """The design matrix of ``atoms`` (upper-triangle elements × coefficients) and those elements' (row,
        column) indices in H; ``overlap``: the cell's S (the electrostatic term is ½ S_μν (φ_A + φ_B))."""
        design = _Design()
        upper = self._terms(atoms, overlap, design)
        matrix = sparse.coo_matrix((np.concatenate(design.values),
                                    (np.concatenate(design.rows), np.concatenate(design.columns))),
                                   shape=(len(upper[0]), self.width)).tocsr()
        return matrix, upper

    def _terms(self, atoms: Atoms, overlap: np.ndarray, design: _Design | _Prediction) -> tuple[np.ndarray, np.ndarray]:
        """Every term of ``atoms`` into ``design``; returns the upper-triangle (row, column) indices of H."""
        symbols = atoms.get_chemical_symbols()
        n = self.layout.n_orbitals(symbols)
        upper = np.triu_indices(n)
        element_of = np.full((n, n), -1, dtype=np.int64)
        element_of[upper] = np.arange(len(upper[0]))
        element_of = np.where(element_of < 0, element_of.T, element_of)
        offsets = self.layout.offsets(symbols)
        first, second, vectors = neighbor_list("ijD", atoms, self._max_reach(set(symbols)))
        distances = np.linalg.norm(vectors, axis=1)
        species = np.array(symbols)
        for a_symbol in sorted(set(symbols)):
            shells_a, starts_a = self.layout.shells[a_symbol], self.layout.shell_offsets(a_symbol)
            for b_symbol in sorted(set(symbols)):
                shells_b, starts_b = self.layout.shells[b_symbol], self.layout.shell_offsets(b_symbol)
                pair = (species[first] == a_symbol) & (species[second] == b_symbol)
                for a, la in enumerate(shells_a):
                    rows_a = offsets[first][:, None] + starts_a[a] + np.arange(2 * la + 1)[None, :]
                    for b, lb in enumerate(shells_b):
                        if (a_symbol, a) > (b_symbol, b):
                            continue
                        reach = self._reach(a_symbol, a, b_symbol, b)
                        near = pair & (distances < reach) & (((a_symbol, a) != (b_symbol, b)) | (first <= second))
                        cols_b = offsets[second][:, None] + starts_b[b] + np.arange(2 * lb + 1)[None, :]
                        self._add(design, element_of, rows_a[near], cols_b[near],
                                  self._features(la, lb, vectors[near], distances[near], reach),
                                  self._columns(f"hop {a_symbol}{a} {b_symbol}{b}"))
                    for b, lb in enumerate(shells_a):
                        if b < a:
                            continue
                        reach = self._field_reach(a_symbol, a, b, b_symbol)
                        near = pair & (distances < reach)
                        cols_a = offsets[first][:, None] + starts_a[b] + np.arange(2 * lb + 1)[None, :]
                        self._add(design, element_of, rows_a[near], cols_a[near],
                                  self._features(la, lb, vectors[near], distances[near], reach),
                                  self._columns(f"field {a_symbol}{a} {a_symbol}{b} by {b_symbol}"))
            atoms_a = np.flatnonzero(species == a_symbol)
            for a, la in enumerate(shells_a):
                for b, lb in enumerate(shells_a):
                    if b < a or la != lb:
                        continue
                    m = np.arange(2 * la + 1)
                    rows = offsets[atoms_a][:, None] + starts_a[a] + m[None, :]
                    cols = offsets[atoms_a][:, None] + starts_a[b] + m[None, :]
                    start = self._columns(f"level {a_symbol}{a} {a_symbol}{b}")
                    design.add(element_of[rows, cols], np.full(rows.shape, start), np.ones(rows.shape))
        if self.charge_radial_count:
            self._add_electrostatics(design, atoms, overlap, upper)
        return upper

    def charge_descriptors(self, atoms: Atoms) -> np.ndarray:
        """(atoms, columns): the features a site's charge is linear in — per species, a constant and its
        neighbours of each species counted with Gaussian radial weights up to ``charge_reach_angstrom``."""
        symbols = atoms.get_chemical_symbols()
        species = sorted(set(symbols))
        descriptors = np.zeros((len(atoms), self.width))
        first, second, distances = neighbor_list("ijd", atoms, self.charge_reach_angstrom)
        radial = radial_functions(distances, self.charge_reach_angstrom, self.charge_radial_count,
                                  self.shortest_angstrom)
        for index, symbol in enumerate(symbols):
            start = self._columns(f"charge {symbol}")
            descriptors[index, start] = 1.0
            for position, neighbour in enumerate(species):
                mine = (first == index) & (np.array(symbols)[second] == neighbour)
                columns = start + 1 + position * self.charge_radial_count + np.arange(self.charge_radial_count)
                descriptors[index, columns] = radial[mine].sum(axis=0)
        return descriptors

    def _add_electrostatics(self, design: _Design | _Prediction, atoms: Atoms, overlap: np.ndarray,
                            upper: tuple[np.ndarray, np.ndarray]) -> None:
        """½ S_μν (φ_A + φ_B) per charge feature: φ = the Ewald potential (eV per e) of site charges equal to that
        feature, φ_i = ∂E/∂q_i = 2 Σ_j M_ij q_j with pymatgen's Ewald energy matrix M of unit charges."""
        structure = AseAtomsAdaptor.get_structure(atoms)
        structure.add_site_property("charge", [1.0] * len(structure))
        potentials = 2.0 * EwaldSummation(structure).total_energy_matrix @ self.charge_descriptors(atoms)
        columns = np.flatnonzero(np.abs(potentials).sum(axis=0))
        atom_of = np.repeat(np.arange(len(atoms)), [sum(2 * l + 1 for l in self.layout.shells[symbol])
                                                   for symbol in atoms.get_chemical_symbols()])
        elements = np.flatnonzero(np.abs(overlap[upper]) > 1e-10)
        rows, cols = upper[0][elements], upper[1][elements]
        values = 0.5 * overlap[rows, cols][:, None] * (potentials[atom_of[rows]][:, columns]
                                                       + potentials[atom_of[cols]][:, columns])
        design.add(np.repeat(elements[:, None], len(columns), axis=1), np.broadcast_to(columns, values.shape),
                   values)

    @staticmethod
    def _add(design: _Design | _Prediction, element_of: np.ndarray, rows: np.ndarray, cols: np.ndarray, features: np.ndarray,
             start: int) -> None:
        """Features (p, k, n, x, y) of blocks at H[rows (p, x), cols (p, y)] into columns start + (k, n); a block
        on one atom's one shell (rows = cols) adds its upper triangle only, as H_ii sums the block over ±R."""
        p, k, n, x, y = features.shape
        elements = element_of[rows[:, :, None], cols[:, None, :]]
        same_orbitals = (rows[:, 0] == cols[:, 0])[:, None, None]
        features = features * ~(same_orbitals & (rows[:, :, None] > cols[:, None, :]))[:, None, None]
        design.add(np.broadcast_to(elements[:, None, None], features.shape),
                   np.broadcast_to(start + np.arange(k * n).reshape(1, k, n, 1, 1), features.shape), features)

    def fit(self, examples: list[HamiltonianExample], ridge: float = 1e-8) -> list[float]:
        """Learn the coefficients from the examples by linear least squares on ``loss``; returns each cell's free
        shift c (eV)."""
        self.terms = {}
        self.register_terms({symbol for example in examples for symbol in example.atoms.get_chemical_symbols()})
        width, cells = self.width, len(examples)
        normal = np.zeros((width + cells, width + cells))
        right = np.zeros(width + cells)
        element_weight = 1.0 if self.loss == "elements" else self.element_weight_per_eV
        for index, example in enumerate(examples):
            target = self.target(example)
            matrix, upper = self.design(example.atoms, example.overlap)
            shifted = sparse.hstack([matrix, self._shift_columns(example.overlap[upper], index, cells)]).tocsr()
            normal += element_weight * (shifted.T @ shifted).toarray()
            right += element_weight * (shifted.T @ target[upper])
            if self.loss == "energy":
                coupling_normal, coupling_right, bands, band_target = self._occupied_empty_coupling(
                    matrix, upper, example, target)
                normal[:width, :width] += coupling_normal
                right[:width] += coupling_right
                bands = np.vstack([bands, np.zeros((cells, bands.shape[1]))])
                bands[width + index] = 1.0
                normal += self.band_weight_per_eV * bands @ bands.T
                right += self.band_weight_per_eV * bands @ band_target
        scale = np.maximum(np.diag(normal), 1e-12)
        solution = np.linalg.solve(normal + ridge * np.diag(scale), right)
        self.coefficients = solution[:width]
        return [float(x) for x in solution[width:]]

    def target(self, example: HamiltonianExample) -> np.ndarray:
        """What the model learns of an example (eV): ΔH over the free-atom-density H, or H."""
        if not self.over_free_atom_density:
            return example.hamiltonian_eV
        if example.atomic_density_hamiltonian_eV is None:
            raise ValueError("the model learns the correction to the free-atom-density H: give each training cell "
                             "its atomic_density_hamiltonian_eV (LcaoCell or lcao_ground_state computes it)")
        return example.hamiltonian_eV - example.atomic_density_hamiltonian_eV

    def _occupied_empty_coupling(self, matrix: sparse.csr_matrix, upper: tuple[np.ndarray, np.ndarray],
                                 example: HamiltonianExample, target: np.ndarray,
                                 block_bytes: float = 5e8) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Normal-equation terms of Σ_ai w_ai² (⟨a|Σ_k c_k D_k − T|i⟩)², w_ai² = 2 / (ε_a − ε_i), over the SCF
        orbitals of ``example`` (occupied i, empty a): every coefficient's matrix D_k (symmetric, from the design
        matrix's upper triangle) is applied to the occupied orbitals and the lowest empty one once, then projected on
        blocks of empty ones. Also returns the first-order band energies of those orbitals, ⟨i|D_k|i⟩ (width, bands),
        and the target's, ⟨i|T|i⟩."""
        energies, orbitals = eigh(example.hamiltonian_eV, example.overlap)
        occupied, empty = orbitals[:, :example.occupied], orbitals[:, example.occupied:]
        gaps = energies[example.occupied:, None] - energies[None, :example.occupied]
        if gaps.min() < MIN_TRAINING_GAP_EV:
            raise ValueError(f"a training cell's gap is {gaps.min():.3f} eV: the energy loss needs occupied and empty "
                             "orbitals apart (a closed shell with a gap); use loss 'elements' for it")
        weights = np.sqrt(2.0 / gaps)
        n, width = len(example.overlap), self.width
        coo = matrix.tocoo()
        rows, columns = upper[0][coo.row], upper[1][coo.row]
        apart = rows != columns
        spread = sparse.csr_matrix((np.concatenate([coo.data, coo.data[apart]]),
                                    (np.concatenate([coo.col * n + rows, coo.col[apart] * n + columns[apart]]),
                                     np.concatenate([columns, rows[apart]]))), shape=(width * n, n))
        on_bands = (spread @ orbitals[:, :example.occupied + 1]).reshape(width, n, example.occupied + 1)
        bands = np.einsum("mi,kmi->ki", orbitals[:, :example.occupied + 1], on_bands)
        band_target = np.einsum("mi,mi->i", orbitals[:, :example.occupied + 1],
                                target @ orbitals[:, :example.occupied + 1])
        on_occupied = on_bands[:, :, :example.occupied]
        normal, right = np.zeros((width, width)), np.zeros(width)
        blocks = int(np.ceil(width * empty.shape[1] * example.occupied * 8 / block_bytes))
        for block in np.array_split(np.arange(empty.shape[1]), blocks):
            projected = (np.matmul(empty[:, block].T, on_occupied) * weights[block]).reshape(width, -1)
            normal += projected @ projected.T
            right += projected @ ((empty[:, block].T @ target @ occupied) * weights[block]).ravel()
        return normal, right, bands, band_target

    @staticmethod
    def _shift_columns(overlap_elements: np.ndarray, index: int, cells: int) -> sparse.csr_matrix:
        rows = np.arange(len(overlap_elements))
        return sparse.csr_matrix((overlap_elements, (rows, np.full(len(rows), index))),
                                 shape=(len(overlap_elements), cells))

    def predict(self, atoms: Atoms, overlap: np.ndarray) -> np.ndarray:
        """The Γ-point Hamiltonian (eV) of ``atoms`` in the layout's basis; ``overlap``: its S."""
        if self.coefficients is None:
            raise ValueError("the Hamiltonian model is not trained: fit it first")
        n = self.layout.n_orbitals(atoms.get_chemical_symbols())
        prediction = _Prediction(self.coefficients, np.zeros(n * (n + 1) // 2))
        upper = self._terms(atoms, overlap, prediction)
        hamiltonian = np.zeros((n, n))
        hamiltonian[upper] = prediction.values
        return hamiltonian + np.triu(hamiltonian, 1).T

    def hamiltonian_of(self, cell: LcaoCell) -> np.ndarray:
        """The model's Γ-point H (eV) of an LCAO cell: its prediction, over the cell's free-atom-density H where the
        model learned ΔH."""
        predicted = self.predict(cell.atoms, cell.overlap)
        return predicted + cell.atomic_density_hamiltonian_eV if self.over_free_atom_density else predicted

    def to_dict(self) -> dict:
        return {"layout": {"basis": self.layout.basis, "shells": self.layout.shells,
                           "cutoffs_angstrom": self.layout.cutoffs_angstrom},
                "radial_count": self.radial_count, "shortest_angstrom": self.shortest_angstrom,
                "reach_margin_angstrom": self.reach_margin_angstrom, "charge_radial_count": self.charge_radial_count,
                "charge_reach_angstrom": self.charge_reach_angstrom,
                "over_free_atom_density": self.over_free_atom_density, "loss": self.loss,
                "element_weight_per_eV": self.element_weight_per_eV, "band_weight_per_eV": self.band_weight_per_eV,
                "terms": self.terms,
                "coefficients": None if self.coefficients is None else self.coefficients.tolist()}

    @classmethod
    def from_dict(cls, data: dict) -> HamiltonianModel:
        layout = data["layout"]
        return cls(OrbitalLayout(layout["basis"], {k: tuple(v) for k, v in layout["shells"].items()},
                                 {k: tuple(v) for k, v in layout["cutoffs_angstrom"].items()}),
                   data["radial_count"], data["shortest_angstrom"], data["reach_margin_angstrom"],
                   data["charge_radial_count"], data["charge_reach_angstrom"], data["over_free_atom_density"],
                   data["loss"], data["element_weight_per_eV"], data["band_weight_per_eV"],
                   {k: tuple(v) for k, v in data["terms"].items()},
                   None if data["coefficients"] is None else np.array(data["coefficients"]))

    def sha256(self) -> str:
        return hashlib.sha256(json.dumps(self.to_dict(), sort_keys=True).encode()).hexdigest()


class MlHamiltonianCalculator(Calculator):
    """ASE calculator on a learned Hamiltonian (seeds 001/004): at each geometry GPAW's LCAO set-up (S and the
    free-atom-density H), the model's ΔH, and the energy and forces of that H's density through GPAW's functional
    (:meth:`~defectscreen.engines.lcao_hamiltonian.LcaoCell.energy_of`) — no SCF iterations, or the first
    ``len(mixing)`` of them with those linear-mixing fractions."""

    implemented_properties = ["energy", "free_energy", "forces"]

    def __init__(self, model: HamiltonianModel, settings: LcaoSettings, workdir: Path, overlap_floor: float = 1e-2,
                 charge: int = 0, mixing: tuple[float, ...] = ()) -> None:
        super().__init__()
        if model.layout.basis != settings.basis:
            raise ValueError(f"the model was trained in the {model.layout.basis} basis and the settings ask for "
                             f"{settings.basis}: give settings with basis {model.layout.basis}")
        self.model, self.lcao_settings, self.workdir = model, settings, workdir
        self.overlap_floor, self.charge, self.mixing = overlap_floor, charge, mixing

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes) -> None:
        super().calculate(atoms, properties, system_changes)
        cell = LcaoCell(self.atoms, self.lcao_settings, self.workdir, self.charge)
        result = cell.energy_of(self.model.hamiltonian_of(cell), self.overlap_floor, self.mixing)
        self.results = {"energy": result.energy_eV, "free_energy": result.energy_eV,
                        "forces": result.forces_eV_per_angstrom}

"""GPAW LCAO: the Kohn–Sham Hamiltonian in an atomic-orbital basis, and the total energy and forces of a given one.

Seeds 001/004 (Sec. II.2): in a basis of pseudo-atomic orbitals the Kohn–Sham equations are the generalised eigenvalue
problem ``H c = ε S c`` (their eq. 2). :func:`lcao_ground_state` runs GPAW's self-consistent LCAO calculation at Γ and
returns H and S (eV; the matrices a machine-learned Hamiltonian learns), the Hamiltonian of the superposed free-atom
densities GPAW starts from, the basis, the energy and the forces. :meth:`LcaoCell.energy_of` is the seeds' step
without SCF iterations: the eigenvectors of a given H (S from GPAW's two-centre integrals), their occupations at the
calculation's Fermi–Dirac width, the density they make (eq. 6), and the total energy of that density through GPAW's
functional, once (eqs. 7–8): kinetic energy as ``Tr ρ H[n] − ∫ v n``, electrostatic and exchange–correlation
energies of ``n``. For the SCF eigenvectors it returns the SCF energy (a test, to 1e-6 eV); for any other orthonormal
orbitals in the basis it is higher (the Kohn–Sham functional is minimal at the ground state), by an amount second
order in their error. The forces are GPAW's LCAO forces at that density, with the energy-weighted density matrix from
the orbitals' expectation values of ``H[n]``: exact for the SCF orbitals, first order in the orbitals' error otherwise
(not the derivative of that energy). Cost: one grid update of density and potential and one dense diagonalisation,
where the SCF takes ~13–25 of each (measured: 13 iterations for 47–96-atom a-SiO2 cells).

The closest honest step beyond the seeds' (``mixing``): a learned H whose density is off by δn gives an energy too
high by O(δn²), always; one linear-mixing step, ``H ← H + α (H[n] − H)``, the first iteration of an SCF started from
the learned H, removes most of it for one more diagonalisation and grid update (measured on a-SiO2, α = 0.45: the
energy error of 47-atom cells ÷ 3–4). Too large a fraction for a cell's screening overshoots (charge sloshing: in an
8-atom Si cell α = 0.45 raises the energy, 0.2 lowers it; in MgO 0.45 takes a free-atom start from 8.3 eV to
0.19 eV above the SCF in one step), so a step that raises the energy is retried with half the fraction.

Only Γ (one k-point, real matrices), one spin channel (closed shells; a cell with an odd electron count is refused),
and GPAW's classic calculator on one rank.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from ase import Atoms
from ase.units import Bohr, Ha
from gpaw import KohnShamConvergenceError
from gpaw.calculator import GPAW
from gpaw.old.forces import calculate_forces
from scipy.linalg import eigh

from defectscreen.engines.base import LcaoSettings
from defectscreen.engines.guard import ScfNotConvergedError

#: a linear-mixing step that raises the energy is retried at half its fraction at most this many times
MIXING_HALVINGS = 3


@dataclass(frozen=True)
class LcaoBasis:
    """The atomic orbitals in GPAW's order: for every atom its radial functions (shells), each with 2l+1 orbitals
    (GPAW's real spherical harmonics, m = -l..l: p = (y, z, x); d = (xy, yz, 3z²-r², xz, x²-y²)).

    shells: per atom, ``(l, label)`` of each radial function (label: GPAW's, e.g. ``3p-dz split-valence wave``);
    cutoffs_angstrom: per atom, each radial function's cutoff radius."""

    symbols: tuple[str, ...]
    shells: tuple[tuple[tuple[int, str], ...], ...]
    cutoffs_angstrom: tuple[tuple[float, ...], ...]
    name: str


@dataclass(frozen=True)
class LcaoGroundState:
    """A converged Γ-point LCAO calculation: H and S (eV, dimensionless; orbitals of :attr:`basis`), the total
    energy (eV, GPAW's reference of isolated atoms), forces (eV/Å), electrons, SCF iterations and wall time (s)."""

    hamiltonian_eV: np.ndarray
    atomic_density_hamiltonian_eV: np.ndarray
    overlap: np.ndarray
    basis: LcaoBasis
    energy_eV: float
    forces_eV_per_angstrom: np.ndarray
    n_electrons: float
    scf_iterations: int
    wall_time_s: float


@dataclass(frozen=True)
class EnergyFromHamiltonian:
    """Total energy (eV; extrapolated to zero smearing, as GPAW's ``energy``) and forces (eV/Å) of the density of a
    given Hamiltonian's occupied orbitals (after any mixing steps; ``energies_eV``: before the first and after each),
    the band energies (eV) of the given Hamiltonian, and the time of each part (s): setting up the basis, S and the
    free-atom H, diagonalising, and density + functional + forces."""

    energy_eV: float
    energies_eV: tuple[float, ...]
    forces_eV_per_angstrom: np.ndarray
    band_energies_eV: np.ndarray
    setup_s: float
    diagonalisation_s: float
    functional_s: float


def _calculator(settings: LcaoSettings, charge: int, workdir: Path) -> GPAW:
    return GPAW(mode="lcao", basis=settings.basis, xc=settings.xc, h=settings.grid_spacing_angstrom, kpts=(1, 1, 1),
                charge=charge, occupations={"name": "fermi-dirac", "width": settings.smearing_eV},
                convergence={"energy": settings.energy_convergence_eV_per_electron,
                             "density": settings.density_convergence},
                maxiter=settings.max_scf_iterations, txt=str(workdir / "gpaw-lcao.txt"))


def _basis(calculator: GPAW, atoms: Atoms, settings: LcaoSettings) -> LcaoBasis:
    setups = calculator.wfs.setups
    return LcaoBasis(
        symbols=tuple(atoms.get_chemical_symbols()),
        shells=tuple(tuple((bf.l, bf.type) for bf in setup.basis.bf_j) for setup in setups),
        cutoffs_angstrom=tuple(tuple(float(bf.rc) * Bohr for bf in setup.basis.bf_j) for setup in setups),
        name=settings.basis)


def _refuse_open_shells(calculator: GPAW) -> None:
    electrons = calculator.wfs.nvalence
    if round(electrons) % 2:
        raise ValueError(f"the LCAO Hamiltonian route handles closed shells (one spin channel); this cell has "
                         f"{electrons:g} electrons: give a charge state with an even count")


def _hamiltonian_matrix(calculator: GPAW) -> np.ndarray:
    kpt = calculator.wfs.kpt_u[0]
    matrix = calculator.wfs.eigensolver.calculate_hamiltonian_matrix(calculator.hamiltonian, calculator.wfs, kpt)
    lower = np.tril(matrix)
    return (lower + np.tril(lower, -1).T) * Ha


def lcao_ground_state(atoms: Atoms, settings: LcaoSettings, workdir: Path, charge: int = 0) -> LcaoGroundState:
    """Self-consistent GPAW LCAO at Γ of ``atoms``, from :class:`LcaoCell`'s set-up; H(Γ) and S(Γ) of the converged
    density (H in eV)."""
    start = time.perf_counter()
    cell = LcaoCell(atoms, settings, workdir, charge)
    cell.atoms.calc = cell.calculator
    try:
        energy = cell.atoms.get_potential_energy()
    except KohnShamConvergenceError as error:
        raise ScfNotConvergedError(f"GPAW LCAO: {error}") from None
    return LcaoGroundState(
        hamiltonian_eV=_hamiltonian_matrix(cell.calculator),
        atomic_density_hamiltonian_eV=cell.atomic_density_hamiltonian_eV, overlap=cell.overlap, basis=cell.basis,
        energy_eV=float(energy), forces_eV_per_angstrom=cell.atoms.get_forces(),
        n_electrons=float(cell.calculator.wfs.nvalence), scf_iterations=int(cell.calculator.scf.niter),
        wall_time_s=time.perf_counter() - start)


def fermi_dirac_occupations(eigenvalues_eV: np.ndarray, n_electrons: float, width_eV: float) -> np.ndarray:
    """Occupations 0..2 (one spin channel, two electrons per orbital) at the Fermi level that holds ``n_electrons``
    (bisection)."""
    low, high = eigenvalues_eV.min() - 50 * width_eV, eigenvalues_eV.max() + 50 * width_eV

    def occupations(mu: float) -> np.ndarray:
        return 2.0 / (1.0 + np.exp(np.clip((eigenvalues_eV - mu) / width_eV, -200, 200)))

    for _ in range(200):
        mu = 0.5 * (low + high)
        if occupations(mu).sum() < n_electrons:
            low = mu
        else:
            high = mu
    return occupations(0.5 * (low + high))


def corrected_eigenpairs(base_eV: np.ndarray, correction_eV: np.ndarray, overlap: np.ndarray,
                         overlap_floor: float) -> tuple[np.ndarray, np.ndarray]:
    """Eigenpairs of ``(H_0 + ΔH) c = ε S c`` with ΔH acting only in the span of the overlap's eigenvectors with
    eigenvalue above ``overlap_floor`` (0: everywhere); H_0 acts in the full basis.

    A split-valence basis with polarisation functions in a dense solid is nearly linearly dependent (smallest
    eigenvalue of S: 3.6e-5 in Si, 2.5e-4 in a-SiO2 with dzp). In S-orthonormal coordinates a direction of S
    eigenvalue s scales matrix elements by 1/s, so an error δ of a learned ΔH there becomes ~δ/s: ghost states in the
    gap or far below the bands. The functions along those directions are nearly zero, so the true ΔH there is
    nearly zero too and H_0 (exact) carries them. Eigenvectors (columns) are S-orthonormal, one per basis function."""
    values, vectors = eigh(overlap)
    orthonormal = vectors / np.sqrt(values)
    kept = (values > overlap_floor).astype(float)
    reduced = orthonormal.T @ base_eV @ orthonormal + kept[:, None] * (orthonormal.T @ correction_eV @ orthonormal) \
        * kept[None, :]
    energies, coefficients = eigh(reduced)
    return energies, orthonormal @ coefficients


class LcaoCell:
    """GPAW's LCAO set-up of one cell, without SCF iterations: the overlap S, the Hamiltonian of the superposition of
    free-atom densities (GPAW's starting density; all its three-centre and PAW terms exact), and
    :meth:`energy_of` — the total energy and forces of the density of any Hamiltonian's occupied orbitals
    (``occupied_orbitals`` of them, doubly occupied)."""

    def __init__(self, atoms: Atoms, settings: LcaoSettings, workdir: Path, charge: int = 0) -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        start = time.perf_counter()
        self.settings = settings
        self.calculator = _calculator(settings, charge, workdir)
        self.atoms = atoms.copy()
        self.calculator.initialize(self.atoms)
        _refuse_open_shells(self.calculator)
        self.occupied_orbitals = int(round(self.calculator.wfs.nvalence)) // 2
        self.calculator.set_positions(self.atoms)
        self.overlap = self.calculator.wfs.S_qMM[0].copy()
        self.basis = _basis(self.calculator, self.atoms, settings)
        self.atomic_density_hamiltonian_eV = _hamiltonian_matrix(self.calculator)
        self.setup_s = time.perf_counter() - start

    def eigenpairs(self, hamiltonian_eV: np.ndarray, overlap_floor: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
        """Band energies (eV) and S-orthonormal eigenvectors of ``hamiltonian_eV`` as :meth:`energy_of` uses them."""
        base = self.atomic_density_hamiltonian_eV
        return corrected_eigenpairs(base, hamiltonian_eV - base, self.overlap, overlap_floor)

    def energy_of(self, hamiltonian_eV: np.ndarray, overlap_floor: float = 0.0,
                  mixing: tuple[float, ...] = ()) -> EnergyFromHamiltonian:
        """Total energy and forces from the Γ-point Hamiltonian ``hamiltonian_eV`` (orbitals in GPAW's order):
        its occupied eigenvectors → density → GPAW's functional, once. Its difference from the free-atom-density H
        acts only where S's eigenvalues exceed ``overlap_floor`` (:func:`corrected_eigenpairs`).

        ``mixing``: fractions α_k of linear-mixing steps taken after that (none: the seeds' step). Each moves the
        Hamiltonian towards that of the density it made, ``H ← H + α (H[n(H)] − H)``, and rebuilds the density — the
        first iterations of an SCF that starts from the given H. The energy is that of a density of orthonormal
        orbitals, above the SCF's, so a step that raises it overshot (charge sloshing: a fraction too large for the
        cell's screening): it is retried at half the fraction, up to :data:`MIXING_HALVINGS` times, and otherwise the
        steps stop where the energy was lowest. ``energies_eV``: before the first step and after each taken."""
        if hamiltonian_eV.shape != self.overlap.shape:
            raise ValueError(f"hamiltonian_eV: {hamiltonian_eV.shape} for {self.overlap.shape[0]} orbitals of the "
                             f"{self.settings.basis} basis of this cell; give the Hamiltonian in that basis")
        start = time.perf_counter()
        band_energies, at_density, diagonalisation_s = self._density_of(hamiltonian_eV, overlap_floor)
        energies = [self._energy(at_density)]
        current = hamiltonian_eV
        for fraction in mixing:
            for _ in range(MIXING_HALVINGS + 1):
                trial = current + fraction * (at_density - current)
                _, trial_at_density, seconds = self._density_of(trial, overlap_floor)
                diagonalisation_s += seconds
                energy = self._energy(trial_at_density)
                if energy <= energies[-1]:
                    current, at_density = trial, trial_at_density
                    energies.append(energy)
                    break
                fraction /= 2
            else:  # no fraction lowered the energy: back to the last accepted density, its band energies for the forces
                _, at_density, seconds = self._density_of(current, overlap_floor)
                self._energy(at_density)
                diagonalisation_s += seconds
                break
        calculator = self.calculator
        forces = calculate_forces(calculator.wfs, calculator.density, calculator.hamiltonian)
        return EnergyFromHamiltonian(
            energy_eV=energies[-1], energies_eV=tuple(energies), forces_eV_per_angstrom=forces * Ha / Bohr,
            band_energies_eV=band_energies, setup_s=self.setup_s, diagonalisation_s=diagonalisation_s,
            functional_s=time.perf_counter() - start - diagonalisation_s)

    def _density_of(self, hamiltonian_eV: np.ndarray, overlap_floor: float) -> tuple[np.ndarray, np.ndarray, float]:
        """Put the occupied eigenvectors of ``hamiltonian_eV`` in GPAW's wave functions and update its density and
        potential to theirs; returns the band energies (eV), the Hamiltonian matrix of that density, H[n] (eV), and the
        diagonalisation's time (s)."""
        calculator, wfs = self.calculator, self.calculator.wfs
        start = time.perf_counter()
        eigenvalues, vectors = self.eigenpairs(hamiltonian_eV, overlap_floor)
        diagonalisation_s = time.perf_counter() - start
        kpt = wfs.kpt_u[0]
        bands = wfs.bd.nbands
        kpt.C_nM = np.ascontiguousarray(vectors[:, :bands].T)
        wfs.atomic_correction.calculate_projections(wfs, kpt)
        kpt.f_n = fermi_dirac_occupations(eigenvalues[:bands], wfs.nvalence, self.settings.smearing_eV) \
            * kpt.weight / 2.0
        calculator.density.mixer.reset()
        calculator.density.update(wfs)
        calculator.hamiltonian.update(calculator.density)
        return eigenvalues, _hamiltonian_matrix(calculator), diagonalisation_s

    def _energy(self, at_density_eV: np.ndarray) -> float:
        """GPAW's total energy (eV, extrapolated to zero width) of the density :meth:`_density_of` set, its kinetic
        part from the orbitals' expectation values of H[n]."""
        calculator, kpt = self.calculator, self.calculator.wfs.kpt_u[0]
        kpt.eps_n = np.einsum("nm,mk,nk->n", kpt.C_nM, at_density_eV, kpt.C_nM) / Ha
        minus_ts = _minus_temperature_times_entropy(kpt.f_n / kpt.weight, self.settings.smearing_eV / Ha)
        calculator.hamiltonian.get_energy(minus_ts, calculator.wfs, kin_en_using_band=True)
        return float(calculator.hamiltonian.e_total_extrapolated * Ha)


def _minus_temperature_times_entropy(occupation_fraction: np.ndarray, width_Ha: float) -> float:
    """-T S of Fermi–Dirac occupations (Ha), two electrons per orbital: 2 kT Σ [f ln f + (1-f) ln(1-f)]."""
    f = np.clip(occupation_fraction, 1e-300, 1 - 1e-16)
    return float(2.0 * width_Ha * np.sum(f * np.log(f) + (1 - f) * np.log(np.clip(1 - f, 1e-300, None))))

"""Formation energies from stored task documents: finite-size corrections, chemical-potential limits,
transition levels and the charge-neutral Fermi level.

E_f(X^q; E_F, μ) = E[X^q] + E_corr − E[bulk] − Σ_i n_i (E_i^ref + μ_i) + q (E_VBM + E_F)
(n_i atoms of element i added; μ_i relative to the element's reference phase). The library parts are
pymatgen's: Freysoldt's and Kumagai–Oba's corrections (pymatgen-analysis-defects; the latter through pydefect),
the phase diagram and chemical-potential diagram, and the lower envelope of the formation-energy lines.
"""

from __future__ import annotations

import hashlib
import json
from functools import lru_cache
from itertools import accumulate

import numpy as np
from pymatgen.analysis.chempot_diagram import ChemicalPotentialDiagram
from pymatgen.analysis.defects.corrections.freysoldt import (
    perform_es_corr,
    perform_pot_corr,
)
from pymatgen.analysis.defects.corrections.kumagai import get_efnv_correction
from pymatgen.analysis.defects.thermo import (
    ensure_stable_bulk,
    get_lower_envelope,
    get_transitions,
)
from pymatgen.analysis.defects.utils import QModel
from pymatgen.analysis.phase_diagram import PhaseDiagram
from pymatgen.core import Composition, Lattice, Structure
from pymatgen.entries.computed_entries import ComputedEntry

from defectscreen.analysis.measured_band_gaps import FAR_BELOW_FRACTION, measured_band_gap
from defectscreen.physics.fermi_level import (
    CUBIC_ANGSTROM_PER_CUBIC_CM,
    DefectLines,
    HostLevels,
    charge_neutral_fermi_level,
)
from defectscreen.schemas.formation import (
    ChargeStateFormation,
    ChemicalPotentialLimit,
    DefectFormation,
    FermiLevelSolution,
    FiniteSizeCorrection,
    FormationLines,
    SitePotential,
    TransitionLevel,
)

ZERO_MU_TOLERANCE_EV = 1e-3


def freysoldt_lattice_energy_eV(lattice: Lattice, charge: int, dielectric: float | list, gaussian_width_bohr: float
                                ) -> float:
    """E_iso − E_per of a Gaussian charge (width β) in a periodic lattice with neutralizing background, screened by ε
    (Freysoldt, Neugebauer & Van de Walle, PRL 102, 016402 (2009), Eq. 5): the correction without alignment.
    It is q² times the unit-charge value (:func:`unit_charge_lattice_energy_eV`)."""
    return charge**2 * unit_charge_lattice_energy_eV(lattice, dielectric, gaussian_width_bohr)


def unit_charge_lattice_energy_eV(lattice: Lattice, dielectric: float | list, gaussian_width_bohr: float) -> float:
    """E_iso − E_per (eV) of a unit Gaussian charge in ``lattice`` screened by ε: pymatgen-analysis-defects'
    ``perform_es_corr`` (520 eV cut-off, 10^-4 Ha tolerance), 70 ms in an 8 Å cubic cell; computed once per
    process for each (lattice, ε, β), and stored by the builders under :func:`lattice_energy_key`."""
    return _unit_lattice_energy_eV(*_lattice_energy_parameters(lattice.matrix, dielectric, gaussian_width_bohr))


def lattice_energy_key(lattice_matrix_angstrom: list | np.ndarray, dielectric: float | list,
                       gaussian_width_bohr: float) -> str:
    """SHA-256 of the (lattice matrix rounded to 10^-8 Å, ε, β) a unit-charge lattice energy is computed from."""
    return hashlib.sha256(json.dumps(_lattice_energy_parameters(lattice_matrix_angstrom, dielectric,
                                                                gaussian_width_bohr)).encode()).hexdigest()


def _lattice_energy_parameters(lattice_matrix_angstrom: list | np.ndarray, dielectric: float | list,
                               gaussian_width_bohr: float) -> tuple[tuple[float, ...], str, float]:
    return (tuple(np.round(np.asarray(lattice_matrix_angstrom, dtype=float), 8).ravel().tolist()),
            json.dumps(dielectric), float(gaussian_width_bohr))


@lru_cache(maxsize=1024)
def _unit_lattice_energy_eV(matrix: tuple[float, ...], dielectric: str, gaussian_width_bohr: float) -> float:
    lattice = Lattice(np.reshape(matrix, (3, 3)))
    return perform_es_corr(lattice, 1, json.loads(dielectric), QModel(beta=gaussian_width_bohr))


def finite_size_correction(charge: int, lattice: Lattice, defect_frac_coords: list[float] | None,
                           dielectric: float | list | None, gaussian_width_bohr: float,
                           defect_potential_eV: list[list[float]] | None,
                           bulk_potential_eV: list[list[float]] | None,
                           unit_lattice_energy_eV: float | None = None) -> FiniteSizeCorrection:
    """Freysoldt correction of one charged cell: lattice energy q² E_lat(1) plus, where both cells have
    planar-averaged potentials (same grid), the alignment q ΔV averaged over the three axes
    (pymatgen-analysis-defects' ``perform_pot_corr``, as its ``get_freysoldt_correction`` composes them); the
    lattice energy alone otherwise (and 'none' for q = 0). E_lat(1) is ``unit_lattice_energy_eV`` where given (a
    stored :func:`unit_charge_lattice_energy_eV` of this lattice, ε and β), else computed."""
    common = {"dielectric_constant": dielectric, "gaussian_width_bohr": gaussian_width_bohr}
    if charge == 0:
        return FiniteSizeCorrection(method="none", correction_eV=0.0, lattice_energy_eV=0.0, alignment_eV=0.0,
                                    **common)
    if defect_potential_eV is not None and bulk_potential_eV is not None and (
            [len(p) for p in defect_potential_eV] != [len(p) for p in bulk_potential_eV]):
        raise ValueError("defect and bulk planar-averaged potentials are on different grids; compute both with the "
                         "same engine settings and cell")
    unit = (unit_charge_lattice_energy_eV(lattice, dielectric, gaussian_width_bohr)
            if unit_lattice_energy_eV is None else unit_lattice_energy_eV)
    energy = charge**2 * unit
    if defect_potential_eV is None or bulk_potential_eV is None:
        return FiniteSizeCorrection(method="freysoldt_lattice_only", correction_eV=energy, lattice_energy_eV=energy,
                                    alignment_eV=None, **common)
    model = QModel(beta=gaussian_width_bohr)
    per_axis = [float(perform_pot_corr(
        axis_grid=np.linspace(0, lattice.abc[axis], len(defect_potential_eV[axis])),
        pureavg=np.asarray(bulk_potential_eV[axis]), defavg=np.asarray(defect_potential_eV[axis]), lattice=lattice,
        q=charge, defect_frac_coords=defect_frac_coords, axis=axis, dielectric=dielectric, q_model=model)[0])
        for axis in range(3)]
    alignment = charge * float(np.mean(per_axis))
    return FiniteSizeCorrection(method="freysoldt", correction_eV=energy + alignment, lattice_energy_eV=energy,
                                alignment_eV=alignment, alignment_per_axis_eV=per_axis, **common)


def kumagai_oba_correction(charge: int, defect: Structure, defect_site_potential_eV: list[float], bulk: Structure,
                           bulk_site_potential_eV: list[float], dielectric: float | list,
                           defect_frac_coords: list[float] | None) -> FiniteSizeCorrection:
    """Kumagai–Oba (extended FNV) correction of one charged cell (Kumagai & Oba, PRB 89, 195205 (2014)):

    E_corr = E_PC − q ⟨φ_defect − φ_bulk − φ_PC⟩_far,

    E_PC the lattice energy of a point charge q screened by the dielectric tensor ε (anisotropic Ewald sum; for a
    scalar ε in a cubic cell q²α_M/(2εL)), φ the electrostatic potential at the atomic sites (V; φ = −V_e of the
    engine's potential energy of an electron at each site, eV), φ_PC the point charge's potential there, averaged
    over the sites outside the sphere whose radius is half the largest distance between opposite cell faces
    (pydefect's defect region). Sites are matched between the cells by pydefect; ``defect_frac_coords`` is the
    defect's position (found from the structures when None). ε scalar or 3x3."""
    common = {"dielectric_constant": dielectric, "gaussian_width_bohr": None}
    if charge == 0:
        return FiniteSizeCorrection(method="none", correction_eV=0.0, lattice_energy_eV=0.0, alignment_eV=0.0,
                                    **common)
    if len(defect_site_potential_eV) != len(defect) or len(bulk_site_potential_eV) != len(bulk):
        raise ValueError("atomic-site potentials must give one value per site of the defect and of the bulk cell")
    tensor = np.eye(3) * dielectric if np.ndim(dielectric) == 0 else np.asarray(dielectric, dtype=float)
    kwargs = {} if defect_frac_coords is None else {"defect_coords": tuple(defect_frac_coords)}
    result = get_efnv_correction(
        charge,
        defect.copy(site_properties={"potential": [-v for v in defect_site_potential_eV]}),
        bulk.copy(site_properties={"potential": [-v for v in bulk_site_potential_eV]}),
        tensor, **kwargs)
    efnv = result.metadata["efnv_corr"]
    return FiniteSizeCorrection(
        method="kumagai", correction_eV=float(efnv.correction_energy),
        lattice_energy_eV=float(efnv.point_charge_correction), alignment_eV=float(efnv.alignment_correction),
        sampling_radius_angstrom=float(efnv.defect_region_radius),
        site_potentials=[SitePotential(element=site.specie, distance_angstrom=float(site.distance),
                                       defect_minus_bulk_V=float(site.potential),
                                       point_charge_V=None if site.pc_potential is None else float(site.pc_potential))
                         for site in efnv.sites],
        **common)


def _limit_name(mu: dict[str, float], host_elements: list[str], used: set[str]) -> str:
    rich = [el for el in host_elements if abs(mu[el]) < ZERO_MU_TOLERANCE_EV] or ["intermediate"]
    name = "-".join(rich) + "-rich"
    suffix = 2
    while name in used:
        name, suffix = f"{'-'.join(rich)}-rich-{suffix}", suffix + 1
    return name


def chemical_potential_limits(host_entry: ComputedEntry, phase_entries: list[ComputedEntry],
                              user_limits: dict[str, dict[str, float]]) -> dict:
    """The host's stability region from the phase diagram of its own and the competing phases' energies.

    Returns elemental reference energies (eV/atom; the lowest elemental phase), the formation enthalpy of every
    phase and of the host (eV/atom), the host's energy above the hull (when positive, the host is put 1 meV
    per cell below the hull, as pymatgen-analysis-defects' ``ensure_stable_bulk`` does; its ``FormationEnergyDiagram``
    does so for a stable host too, which moves the limits by 1 meV per cell over the formula units) and the limits:
    the vertices of the host's domain in the chemical-potential diagram (unbounded directions dropped; to 10⁻⁹ eV),
    or the user's limits where they name every element of the system.
    """
    elements = sorted({el.symbol for entry in [host_entry, *phase_entries] for el in entry.composition})
    missing = [el for el in elements if not any(entry.composition.is_element and entry.composition.elements[0].symbol == el
                                                 for entry in phase_entries)]
    if missing:
        raise ValueError(f"no elemental reference phase for {', '.join(missing)}; the campaign's competing phases "
                         "(computed, or its formation.phase_entries) must include one per element")
    diagram = PhaseDiagram([*phase_entries, host_entry])
    above_hull = float(diagram.get_e_above_hull(host_entry, allow_negative=True))
    if above_hull > 0:
        diagram = ensure_stable_bulk(diagram, host_entry)
    references = {el.symbol: float(diagram.el_refs[el].energy_per_atom) for el in diagram.elements}
    enthalpies = {entry.entry_id: float(diagram.get_form_energy_per_atom(entry)) for entry in phase_entries}
    host_enthalpy = float(PhaseDiagram([*phase_entries, host_entry]).get_form_energy_per_atom(host_entry))
    host_elements = [el.symbol for el in host_entry.composition.elements]
    limits: list[ChemicalPotentialLimit] = []
    for name, mu in user_limits.items():
        if set(elements) <= set(mu):
            limits.append(ChemicalPotentialLimit(name=name, mu_eV={el: mu[el] for el in elements}, source="campaign"))
    if not limits and len(elements) == 1:  # an elemental host: its own element at its reference is the only limit
        limits.append(ChemicalPotentialLimit(name=f"{elements[0]}-rich", mu_eV={elements[0]: 0.0},
                                             source="phase diagram"))
    if not limits:
        formation = [ComputedEntry(entry.composition, diagram.get_form_energy(entry), entry_id=entry.entry_id)
                     for entry in diagram.stable_entries]
        cpd = ChemicalPotentialDiagram(formation)
        domain = cpd.domains[host_entry.composition.reduced_formula]
        vertices = domain[~np.any(domain == cpd.default_min_limit, axis=1)]
        used: set[str] = set()
        _, distinct = np.unique(np.round(vertices, 6), axis=0, return_index=True)
        for vertex in np.round(vertices[distinct], 9) + 0.0:
            mu = {el.symbol: float(value) for el, value in zip(cpd.elements, vertex)}
            name = _limit_name(mu, host_elements, used)
            used.add(name)
            limits.append(ChemicalPotentialLimit(name=name, mu_eV=mu, source="phase diagram"))
    return {"references": references, "phase_enthalpies": enthalpies, "host_enthalpy": host_enthalpy,
            "host_above_hull": above_hull, "limits": limits}


def formation_energy_at_vbm(corrected_energy_eV: float, bulk_energy_eV: float, element_changes: dict[str, int],
                            charge: int, vbm_eV: float, references: dict[str, float], mu_eV: dict[str, float]) -> float:
    """E_f at E_F = VBM (eV): the equation in the module docstring."""
    exchanged = sum(n * (references[el] + mu_eV[el]) for el, n in element_changes.items())
    return corrected_energy_eV - bulk_energy_eV - exchanged + charge * vbm_eV


def _charge(charge: float) -> str:
    """'+1', '0', '-2'."""
    return f"{int(charge):+d}" if charge else "0"


def transition_levels(charges: list[int], energies_at_vbm_eV: list[float], band_gap_eV: float) -> list[TransitionLevel]:
    """Kinks of the lower envelope of the lines E = b_q + q E_F strictly inside (0, gap)."""
    lines = get_lower_envelope([(float(q), float(b)) for q, b in zip(charges, energies_at_vbm_eV)])
    points = get_transitions(lines, 0.0, band_gap_eV)
    slopes = [q for q, _ in sorted(lines, key=lambda line: -line[0])]
    levels = []
    for (level, _), higher, lower in zip(points[1:-1], slopes, slopes[1:]):
        levels.append(TransitionLevel(charges=f"{_charge(higher)}/{_charge(lower)}", level_eV=float(level)))
    return levels


def defect_formation(defect_name: str, defect_type: str, states: list[dict], limits: list[ChemicalPotentialLimit],
                     references: dict[str, float], vbm_eV: float, band_gap_eV: float) -> DefectFormation:
    """Formation energies of one defect's charge states at every limit and its transition levels; ``states`` are
    DefectChargeDocument dicts of one defect."""
    charge_states = []
    for state in sorted(states, key=lambda s: -s["labels"]["charge"]):
        labels = state["labels"]
        charge_states.append(ChargeStateFormation(
            charge=labels["charge"], correction_eV=state["correction"]["correction_eV"], defect_uuid=state["task_uuid"],
            formation_energy_at_vbm_eV={
                limit.name: formation_energy_at_vbm(state["corrected_energy_eV"], state["bulk_energy_eV"],
                                                    labels["element_changes"], labels["charge"], vbm_eV, references,
                                                    limit.mu_eV) for limit in limits}))
    any_limit = limits[0].name
    levels = transition_levels([s.charge for s in charge_states],
                               [s.formation_energy_at_vbm_eV[any_limit] for s in charge_states], band_gap_eV)
    return DefectFormation(defect_name=defect_name, defect_type=defect_type, charge_states=charge_states,
                           transition_levels=levels, equivalent_sites=states[0]["labels"].get("equivalent_sites"))


def fermi_levels(defects: FormationLines, limits: list[ChemicalPotentialLimit], bulk_levels: dict,
                 bulk_volume_angstrom3: float, temperature_K: float) -> list[FermiLevelSolution]:
    """Charge-neutral Fermi level and concentrations at every limit, from the bulk cell's one-electron levels and
    the defects' formation-energy lines; defects without a site count (documents made before it was stored) are
    left out of the balance (their concentrations None)."""
    vbm, cbm = bulk_levels["highest_occupied_eV"], bulk_levels["lowest_unoccupied_eV"]
    eigenvalues = np.asarray(bulk_levels["eigenvalues_eV"], dtype=float)
    weights = np.broadcast_to(np.asarray(bulk_levels["k_weights"])[None, :, None] * bulk_levels["spin_degeneracy"],
                              eigenvalues.shape)
    host = HostLevels.from_levels(eigenvalues, weights, vbm, cbm, bulk_volume_angstrom3)
    counted = [i for i, sites in enumerate(defects.equivalent_sites) if sites]
    sizes = [len(defects.charges[i]) for i in counted]
    starts = [0, *accumulate(sizes)]
    charges = np.array([q for i in counted for q in defects.charges[i]], dtype=float)
    sites_per_cm3 = np.repeat(np.array([defects.equivalent_sites[i] for i in counted], dtype=float), sizes) * (
        CUBIC_ANGSTROM_PER_CUBIC_CM / bulk_volume_angstrom3)
    solutions = []
    for limit in limits:
        at_vbm = defects.formation_energy_at_vbm_eV[limit.name]
        lines = DefectLines(charges, np.array([b for i in counted for b in at_vbm[i]], dtype=float), sites_per_cm3)
        level = charge_neutral_fermi_level([lines], host, temperature_K, cbm - vbm)
        electrons, holes = host.carriers_cm3(level, temperature_K)
        states = lines.concentrations_cm3(level, temperature_K).tolist()
        concentrations: list[list[float] | None] = [None] * len(defects.defect_names)
        for i, start, end in zip(counted, starts, starts[1:]):
            concentrations[i] = states[start:end]
        solutions.append(FermiLevelSolution(limit=limit.name, temperature_K=temperature_K, fermi_level_eV=level,
                                            electrons_cm3=electrons, holes_cm3=holes, concentrations_cm3=concentrations))
    return solutions


#: Below this one-electron gap (eV) a host counts as metallic at the engine's level of theory.
METALLIC_GAP_EV = 0.1
#: Engines whose one-electron levels of a periodic solid are not a band gap (parametrised for molecules).
ENGINES_WITHOUT_BAND_GAP = {"xtb": "GFN-xTB"}


#: Below this k-point sampling length (Å) a cell's total energies are not converged. Measured: 16-atom MgO at Γ
#: alone (4.9 Å) is 7.1 eV off in total energy and puts E_f(F⁰) 4.3 eV low; with 2x2x2 k (9.7 Å) it is within
#: 0.4 eV of extrapolated PBE (docs/quickstart.md). VASP's guide asks 10 Å for large-gap insulators.
MIN_K_SAMPLING_LENGTH_ANGSTROM = 8.0


def k_sampling_length(lattice: Lattice, kpts: tuple[int, int, int] | list[int]) -> float:
    """The shortest n_i · w_i (Å) of a cell's k-grid: n_i k-points along reciprocal vector b_i, w_i = 2π/|b_i| the
    cell's face-to-face width; the real-space extent the grid samples (VASP's R_k)."""
    return float(np.min(np.asarray(kpts) * 2 * np.pi / np.asarray(lattice.reciprocal_lattice.abc)))


def formation_flags(engine_name: str, formula: str, band_gap_eV: float, solutions: list[FermiLevelSolution],
                    k_sampling_length_angstrom: float | None = None, edges_at_one_special_kpoint: bool = False
                    ) -> list[str]:
    """What in the formation-energy document of the host ``formula`` is not physics, in a reader's words (empty
    when all is). ``k_sampling_length_angstrom``: of the host cell's k-grid (None: an engine without k-points);
    ``edges_at_one_special_kpoint``: the bulk cell's band edges come from one k-point off Γ (atomate2's defect sets)."""
    flags = []
    if edges_at_one_special_kpoint:
        flags.append("the VBM and CBM are the bulk supercell's levels at one special k-point (atomate2's (1/4, 1/4, "
                     "1/4)), not the host's band edges: the gap, every level and E_F are referred to shifted edges; "
                     "give engine.kpoints a grid through Γ (e.g. {reciprocal_density: 100}) or take the edges from a "
                     "band-structure calculation of the host")
    if k_sampling_length_angstrom is not None and k_sampling_length_angstrom < MIN_K_SAMPLING_LENGTH_ANGSTROM:
        flags.append(f"the k-points sample only {k_sampling_length_angstrom:.1f} Å of this cell (below "
                     f"{MIN_K_SAMPLING_LENGTH_ANGSTROM:g} Å): total energies are not converged, so formation energies "
                     "and levels can be off by eV (16-atom MgO at Γ: E_f(F⁰) 4.3 eV low); use engine.kpts or a "
                     "larger supercell")
    if engine_name in ENGINES_WITHOUT_BAND_GAP:
        flags.append(f"{ENGINES_WITHOUT_BAND_GAP[engine_name]} is parametrised for molecules: its one-electron gap of "
                     f"a periodic solid ({band_gap_eV:.2f} eV) is not the band gap, so transition levels, Fermi levels "
                     "and concentrations are qualitative only; use engine gpaw for numbers")
    if band_gap_eV < METALLIC_GAP_EV:
        flags.append(f"gap {band_gap_eV:.3f} eV: metallic or nearly so at this level of theory; levels in the gap "
                     "and the charge-neutral Fermi level have no meaning")
    measured = measured_band_gap(formula)
    if measured is not None and band_gap_eV < FAR_BELOW_FRACTION * measured[0]:
        flags.append(f"gap {band_gap_eV:.2f} eV is far below the measured {measured[0]:.2f} eV of "
                     f"{Composition(formula).reduced_formula} ({measured[1]}); semilocal DFT gives about half of it, "
                     "so the structure, the cell or the engine is wrong for levels in the gap")
    for solution in solutions:
        if not 0.0 <= solution.fermi_level_eV <= band_gap_eV:
            flags.append(f"{solution.limit}: charge-neutral E_F = {solution.fermi_level_eV:.2f} eV lies outside the "
                         f"gap (0 to {band_gap_eV:.2f} eV); the gap is too small for these defects' levels")
    return flags


def phase_entry(task: dict) -> ComputedEntry:
    """ComputedEntry of a relaxed competing phase or bulk task document (dict form)."""
    return ComputedEntry(Composition(task["formula"]), task["energy_eV"], entry_id=task["labels"]["calculation_id"])

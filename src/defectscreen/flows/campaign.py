"""The campaign file: hosts, defect kinds, charge states, supercell rule, engine, properties.

Everything a campaign can get wrong is caught here or in :func:`build_defect_set`, before
anything is submitted, as one :class:`CampaignError` naming the field and the fix.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Literal

import numpy as np
import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PositiveInt,
    ValidationError,
    field_validator,
    model_validator,
)
from pymatgen.core import Element, Structure

from defectscreen.defaults import (
    DEFAULT_DISPLACEMENT_ANGSTROM,
    DEFAULT_GLASS_TEMPERATURE_K,
    DEFAULT_MELT_TEMPERATURE_K,
    DEFAULT_MELTING_MOVES,
    DEFAULT_QUENCHING_MOVES,
    DEFAULT_SIGMA_MEV,
)
from defectscreen.engines import EngineSettings, GpawSettings, VaspSettings, XtbSettings, parse_engine_settings
from defectscreen.engines.base import LcaoSettings
from defectscreen.flows.hosts import PROTOTYPE_NAMES, prototype_structure
from defectscreen.flows.steps import STEPS
from defectscreen.jobs.dielectric import DEFAULT_KPOINT_DENSITY
from defectscreen.jobs.search import SearchSettings
from defectscreen.mlip.mace import MaceSettings
from defectscreen.mlip.melt_quench import MeltQuenchSettings
from defectscreen.mlip.nequip_backend import NequipSettings
from defectscreen.mlip.potential import PotentialRecipe, route_for_labels
from defectscreen.mlip.sevennet_backend import SevennetSettings
from defectscreen.mlip.surrogate import SurrogateSettings
from defectscreen.schemas.amorphous import glass_host_name

PROPERTIES = tuple(STEPS)
#: what a campaign with engine vasp can compute: relaxations and single points through atomate2's Makers.
VASP_PROPERTIES = ("relaxation", "unrelaxed_energy", "formation_energy")
#: what only a crystal host has: periodic host phonons (embedding, dispersion), a structure-search host family.
PROPERTIES_OF_CRYSTALS = ("structure_search", "embedded_phonons", "host_dispersion")


class CampaignError(ValueError):
    """A campaign that cannot run; the message names each bad field and how to fix it."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _check_element(symbol: str) -> str:
    if not Element.is_valid_symbol(symbol):
        raise ValueError(f"'{symbol}' is not a chemical element symbol (e.g. 'C', 'Mg', 'Ga')")
    return symbol


def _valid_dielectric(epsilon: float | list[list[float]]) -> bool:
    tensor = np.asarray(epsilon, dtype=float)
    if tensor.ndim == 0:
        return bool(tensor >= 1)
    return tensor.shape == (3, 3) and np.allclose(tensor, tensor.T) and bool(np.linalg.eigvalsh(tensor).min() >= 1)


def _load_structure(path: Path, field: str) -> Structure:
    """A crystal structure file, or CampaignError naming ``field`` and the fix."""
    if not path.is_file():
        raise CampaignError(
            f"{field}: file '{path}' does not exist; "
            "give a CIF, POSCAR or pymatgen Structure JSON path relative to the campaign file"
        )
    try:
        structure = Structure.from_file(path)
    except Exception as error:  # pymatgen raises many types for unreadable files
        raise CampaignError(
            f"{field}: '{path}' is not a readable crystal structure "
            f"({error}); give a CIF, POSCAR/CONTCAR or pymatgen Structure JSON"
        ) from error
    unknown = sorted({symbol for symbol in (getattr(species, "symbol", str(species)) for species in
                                            structure.composition) if not Element.is_valid_symbol(symbol)})
    if unknown:
        raise CampaignError(f"{field}: '{path}' holds {', '.join(unknown)}, not chemical elements; name each site's "
                            "element (POSCAR: the element line above the counts)")
    if not structure.is_ordered:
        raise CampaignError(f"{field}: '{path}' has partial occupancies; defects need an ordered cell: choose one "
                            "ordering (e.g. pymatgen's OrderDisorderedStructureTransformation) and give that file")
    if len(structure) > 1 and (closest := structure.distance_matrix[np.triu_indices(len(structure), 1)].min()) < 0.5:
        raise CampaignError(f"{field}: '{path}' has atoms {closest:.2f} Å apart (closer than 0.5 Å); remove the "
                            "duplicated sites")
    return structure


class AmorphousSpec(_Strict):
    """Glass structures generated from the host's crystal by bond-switching Monte Carlo (seed 004) or melt–quench MD
    with a universal potential, one per seed: each is a host of its own, named '<name>#<seed>' ('a-SiO2#1'), its cell
    the defect cell (no supercell). The moves and melt temperature are bond switching's; melt_quench holds the MD
    protocol."""

    method: Literal["bond_switching", "melt_quench"] = Field(
        "bond_switching", description="'bond_switching': Wooten–Winer–Weaire switches on a Keating network; "
        "'melt_quench': Langevin MD with CHGNet 0.3.0 (AX2 network glasses: SiO2)")
    melt_quench: MeltQuenchSettings = Field(default_factory=MeltQuenchSettings)
    atoms: PositiveInt = Field(96, description="atoms of each glass cell (a multiple of the crystal's primitive cell; "
                               "of its conventional cell with supercell: diagonal)")
    supercell: Literal["compact", "diagonal"] = Field(
        "compact", description="'compact': the widest cell, by the distance between opposite faces (96 atoms of "
        "β-cristobalite: a rhombohedron 10.1 Å wide; 72 atoms: 9.9 Å); 'diagonal': multiples of the conventional cell "
        "(72 atoms: 1 × 1 × 3, 7.2 Å wide, below the 8 Å of a Γ-only cell's flag)")
    density_g_cm3: float = Field(2.2, gt=0, description="a-SiO2: 2.20 g/cm³ measured")
    seeds: list[int] = Field([1, 2, 3], min_length=1, description="one independent structure per seed")
    melting_moves: int = Field(DEFAULT_MELTING_MOVES, ge=0)
    quenching_moves: PositiveInt = DEFAULT_QUENCHING_MOVES
    melt_temperature_K: float = Field(DEFAULT_MELT_TEMPERATURE_K, gt=0)
    final_temperature_K: float = Field(DEFAULT_GLASS_TEMPERATURE_K, gt=0)

    @field_validator("seeds")
    @classmethod
    def _distinct_seeds(cls, seeds: list[int]) -> list[int]:
        if len(set(seeds)) != len(seeds):
            raise ValueError("each seed once: the same seed makes the same structure")
        return seeds


class HostSpec(_Strict):
    """One host crystal: a built-in prototype or a structure file (CIF, POSCAR, Structure JSON); with ``amorphous``,
    the crystal its glass structures are generated from."""

    name: str = Field(pattern=r"^[A-Za-z0-9_.+-]+$", description="label used in every id")
    prototype: str | None = None
    structure: str | None = Field(None, description="path, relative to the campaign file")
    dielectric_constant: float | list[list[float]] | str | None = Field(
        None, description="static dielectric constant (ionic + electronic), scalar or 3x3 tensor, or 'computed' "
        "(engine gpaw: ε∞ + ionic part of the primitive cell, see formation.dielectric); needed by "
        "formation_energy for the finite-size correction of charged defects")
    effective_mass_electron: float | None = Field(
        None, gt=0, description="conduction-band effective mass (electron masses) for the Sommerfeld factor of "
        "electron capture by a charged defect; without it that capture coefficient C is left out (C̃ is kept)")
    effective_mass_hole: float | None = Field(
        None, gt=0, description="valence-band effective mass (electron masses), the same for hole capture")
    amorphous: AmorphousSpec | None = None

    @property
    def cell_hosts(self) -> list[str]:
        """The host names its cells carry: its own, or one per glass structure ('a-SiO2#1', 'a-SiO2#2')."""
        if self.amorphous is None:
            return [self.name]
        return [glass_host_name(self.name, seed) for seed in self.amorphous.seeds]

    @model_validator(mode="after")
    def _one_source(self) -> HostSpec:
        if (self.prototype is None) == (self.structure is None):
            raise ValueError(
                "give exactly one of 'prototype' (built-in) or 'structure' (a file path)"
            )
        epsilon = self.dielectric_constant
        if epsilon not in (None, "computed") and (isinstance(epsilon, str) or not _valid_dielectric(epsilon)):
            raise ValueError("dielectric_constant must be a number >= 1, a symmetric positive-definite 3x3 tensor "
                             "or 'computed', e.g. 9.5 or [[9.3,0,0],[0,9.3,0],[0,0,10.4]]")
        if self.prototype is not None and self.prototype not in PROTOTYPE_NAMES:
            raise ValueError(
                f"unknown prototype '{self.prototype}'; built-in: {', '.join(PROTOTYPE_NAMES)}"
            )
        return self

    def load(self, base_dir: Path) -> Structure:
        if self.prototype is not None:
            return prototype_structure(self.prototype)
        return _load_structure((base_dir / self.structure).resolve(), f"hosts[{self.name}].structure")


class SiteSample(_Strict):
    """``sample`` sites of each element a defect replaces, drawn with ``seed`` in every glass structure."""

    sample: PositiveInt
    seed: int = 1


class DefectKinds(_Strict):
    """Which point defects to generate in every host: in a crystal at its symmetry-distinct sites, in a glass at
    ``sites`` (every site of the element, or a sample), each site a defect of its own ('v_O@17')."""

    vacancies: bool | list[str] = Field(True, description="True: every element; or a list")
    substitutions: dict[str, list[str]] = Field(
        default_factory=dict, description="host element -> dopants, e.g. {N: [C], Ga: [Mg]}"
    )
    antisites: bool = False
    interstitials: list[str] = Field(default_factory=list, description="interstitial elements")
    sites: Literal["all"] | SiteSample = Field(
        "all", description="amorphous hosts: 'all' sites of each element, or {sample: 20, seed: 1}")

    @field_validator("vacancies")
    @classmethod
    def _vacancy_elements(cls, value: bool | list[str]) -> bool | list[str]:
        if isinstance(value, list):
            for symbol in value:
                _check_element(symbol)
        return value

    @field_validator("substitutions")
    @classmethod
    def _substitution_elements(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        for host_element, dopants in value.items():
            _check_element(host_element)
            for dopant in dopants:
                _check_element(dopant)
        return value

    @field_validator("interstitials")
    @classmethod
    def _interstitial_elements(cls, value: list[str]) -> list[str]:
        for symbol in value:
            _check_element(symbol)
        return value


#: Larger defect cells are refused: a relaxation of 1000 atoms takes days with DFT and hours with xTB here.
MAX_SUPERCELL_ATOMS = 1000


class SupercellRule(_Strict):
    """Defect supercell: an explicit matrix, or the most cubic cell with images at least
    ``min_length_angstrom`` apart holding ``min_atoms``..``max_atoms`` atoms."""

    min_length_angstrom: float = Field(10.0, gt=0, le=50.0)
    min_atoms: int = Field(1, ge=1)
    max_atoms: int = Field(240, ge=1, le=MAX_SUPERCELL_ATOMS)
    matrix: list[list[int]] | None = None

    @model_validator(mode="after")
    def _consistent(self) -> SupercellRule:
        if self.min_atoms > self.max_atoms:
            raise ValueError(
                f"min_atoms ({self.min_atoms}) exceeds max_atoms ({self.max_atoms}); "
                "lower min_atoms or raise max_atoms"
            )
        if self.matrix is not None:
            matrix = np.array(self.matrix)
            if matrix.shape != (3, 3) or round(np.linalg.det(matrix)) <= 0:
                raise ValueError(
                    "matrix must be 3x3 integers with a positive determinant, "
                    "e.g. [[2,0,0],[0,2,0],[0,0,2]]"
                )
        return self


class RelaxSettings(_Strict):
    """Fixed-cell BFGS relaxation: stop when every force is below ``fmax_eV_per_angstrom``."""

    fmax_eV_per_angstrom: float = Field(0.05, gt=0)
    max_steps: int = Field(200, gt=0)


class PhononSettings(_Strict):
    """Γ phonons of every relaxed defect supercell from its own potential; for the defects chosen by
    ``validate_defects`` (defect names such as 'C_N' or ids such as 'GaN:C_N:-1') and a stable pseudo-random
    ``validate_fraction`` of the others, also directly from the engine, stored with the comparison."""

    displacement_angstrom: float = Field(DEFAULT_DISPLACEMENT_ANGSTROM, gt=0, le=0.1)
    sigma_meV: float = Field(DEFAULT_SIGMA_MEV, gt=0, description="Gaussian width of S(ħω)")
    validate_defects: list[str] = Field(default_factory=list)
    validate_fraction: float = Field(0.0, ge=0, le=1)
    embedding_atoms: list[PositiveInt] = Field(
        default_factory=lambda: [1000, 10000],
        description="embedded_phonons: target sizes of the large cells (the defect cell is always the first point)")
    embedding_method: Literal["lanczos", "chebyshev", "dense"] = Field(
        "lanczos", description="embedded_phonons: spectral method (dense only up to 4000 atoms)")
    embedding_basis: Literal["higher_charge", "lower_charge"] = Field(
        "higher_charge", description="embedded_phonons: whose phonons (the final state of the emission by default)")
    embedding_host_force_constants: Literal["defect_potential", "host_potential"] = Field(
        "defect_potential", description="embedded_phonons: the host cell's force constants from the defect's own "
        "potential, or from the host's potential (trained on perturbed host cells, as for host_dispersion)")

    def validated(self, calculation_id: str, defect_name: str) -> bool:
        """Whether this cell's phonons are also computed with the engine (same answer on every machine)."""
        if calculation_id in self.validate_defects or defect_name in self.validate_defects:
            return True
        draw = int(hashlib.sha256(calculation_id.encode()).hexdigest()[:8], 16) / 16**8
        return draw < self.validate_fraction


class DispersionSettings(_Strict):
    """host_dispersion: each host's phonon dispersion from a potential fine-tuned on its own perturbed supercells,
    with the LO–TO term of its computed Born charges and ε∞ (engine gpaw, compounds); ``validate``: also directly
    from the engine in the relaxation's supercell, stored with the comparison."""

    min_supercell_width_angstrom: float = Field(
        12.0, gt=0, le=40.0, description="the potential's force constants are computed in the smallest diagonal "
        "supercell of the primitive cell whose three widths reach this (beyond the model's interaction range)")
    displacement_angstrom: float = Field(0.01, gt=0, le=0.05)
    points_per_segment: int = Field(51, ge=2, le=500, description="q-points on each segment of the path")
    validate_with_engine: bool = Field(False, description="also the engine's own dispersion (costly with DFT)")


class MlHamiltonianSettings(_Strict):
    """ml_hamiltonian (seeds 001/004): each host's machine-learned Kohn–Sham Hamiltonian in GPAW's LCAO basis,
    fitted on the self-consistent Hamiltonians of ``rattled_copies`` rattled copies of its relaxed defect cells (the
    seeds train on defect cells only; ``train_on_host`` adds the bulk), and judged on every cell's relaxed geometry,
    which it never sees: energies, forces, bands and E(defect) − E(bulk) against the SCF, the energies after
    ``mixing_steps`` linear-mixing steps from the model's H (the first steps of an SCF). Defect cells named in
    ``held_out_defects`` (names such as 'v_O' or ids such as 'a-SiO2#1:v_O@17:0') and a stable pseudo-random
    ``held_out_fraction`` of the others get no training frames at all. Closed shells only: cells with an odd electron
    count are left out."""

    lcao: LcaoSettings = Field(default_factory=LcaoSettings)
    rattled_copies: int = Field(3, ge=1, le=50)
    rattle_angstrom: float = Field(0.05, gt=0, le=0.3)
    train_on_host: bool = False
    held_out_defects: list[str] = Field(default_factory=list)
    held_out_fraction: float = Field(0.0, ge=0, lt=1)
    training_hosts: list[str] = Field(default_factory=list, description="hosts (or glasses, 'a-SiO2#1') whose "
                                      "training frames fit every host's model; empty: each host its own")
    radial_count: int = Field(10, ge=2, le=40, description="radial functions per bond-frame block")
    charge_radial_count: int = Field(4, ge=0, le=20, description="features of the site charges (0: no "
                                     "electrostatic term)")
    loss: Literal["energy", "elements"] = "energy"
    element_weight_per_eV: float = Field(1e-2, ge=0)
    band_weight_per_eV: float = Field(0.0, ge=0)
    overlap_floor: float = Field(1e-3, ge=0, lt=0.5, description="the learned correction acts where S's "
                                 "eigenvalues exceed this")
    mixing_steps: int = Field(1, ge=0, le=10, description="linear-mixing steps H ← H + α (H[n] − H) after the "
                              "model's H before energies and forces (0: the seeds' step alone)")
    mixing_fraction: float = Field(0.45, gt=0, lt=1, description="α of those steps (1 overshoots)")
    max_defect_energy_mae_eV: float = Field(0.05, gt=0, description="above it the model is flagged: its "
                                            "energies are not results")

    def held_out(self, calculation_id: str, defect_name: str) -> bool:
        """Whether this defect cell gets no training frames (same answer on every machine)."""
        if calculation_id in self.held_out_defects or defect_name in self.held_out_defects:
            return True
        draw = int(hashlib.sha256(f"held-out|{calculation_id}".encode()).hexdigest()[:8], 16) / 16**8
        return draw < self.held_out_fraction

    def model_settings(self) -> dict:
        """The HamiltonianModel's keyword arguments."""
        return self.model_dump(include={"radial_count", "charge_radial_count", "loss", "element_weight_per_eV",
                                        "band_weight_per_eV"})


class CompetingPhaseSpec(_Strict):
    """A competing phase the campaign adds to the built-in references (computed like the hosts)."""

    name: str = Field(pattern=r"^[A-Za-z0-9_.+-]+$", description="polymorph label, e.g. 'graphite'")
    structure: str = Field(description="path, relative to the campaign file")
    spin_multiplicity: int = Field(1, ge=1)

    def load(self, base_dir: Path) -> Structure:
        structure = _load_structure((base_dir / self.structure).resolve(),
                                    f"formation.competing_phases[{self.name}].structure")
        structure.remove_oxidation_states()
        return structure


class DielectricSettings(_Strict):
    """How a host's dielectric constant is computed where the campaign says 'computed' (engine gpaw): the
    primitive cell's atoms relaxed at the fixed lattice, ε∞ by the RPA response with local fields, Born charges
    from Berry-phase polarizations and Γ force constants from the same ± displacements."""

    kpoint_density: float = Field(DEFAULT_KPOINT_DENSITY, gt=0, description="k-points per Å⁻¹ of the primitive "
                                  "cell's Monkhorst–Pack grid (ASE's kptdensity)")
    response_ecut_eV: float = Field(100.0, gt=0, description="plane-wave cutoff of the response function")
    displacement_angstrom: float = Field(0.01, gt=0, le=0.05)
    fmax_eV_per_angstrom: float = Field(0.01, gt=0, description="relaxation of the primitive cell's atoms")


def _computed_entry(entry: object, where: str):
    """A pymatgen ComputedEntry from its dict, or ValueError naming ``where``."""
    from monty.json import MontyDecoder
    from pymatgen.entries.computed_entries import ComputedEntry

    try:
        decoded = MontyDecoder().process_decoded(entry)
    except Exception as error:  # noqa: BLE001 - decoding raises KeyError, TypeError or ValueError on foreign dicts
        decoded = error
    if not isinstance(decoded, ComputedEntry):
        raise ValueError(f"{where} is not a pymatgen ComputedEntry ({decoded!r:.80}); give what monty's dumpfn "
                         "writes of a list of ComputedEntry objects")
    return decoded


def read_phase_entries(path: Path) -> list[dict]:
    """The ComputedEntry dicts of a JSON file (``formation.phase_entries``), or CampaignError naming the field."""
    field = f"formation.phase_entries: '{path}'"
    if not path.is_file():
        raise CampaignError(f"{field} does not exist; give a JSON file of pymatgen ComputedEntry objects relative to "
                            "the campaign file")
    try:
        entries = json.loads(path.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise CampaignError(f"{field} is not JSON ({error})") from None
    if not isinstance(entries, list) or not entries:
        raise CampaignError(f"{field} holds no list of entries; give a JSON list of ComputedEntry objects")
    try:
        return [_computed_entry(entry, f"entry {index}").as_dict() for index, entry in enumerate(entries)]
    except ValueError as error:
        raise CampaignError(f"{field}: {error}") from None


class FormationSettings(_Strict):
    """Formation energies: competing phases, the finite-size correction of charged cells, the temperature of the
    charge-neutral Fermi level, and optional chemical-potential limits fixed by the user."""

    competing_phases: list[CompetingPhaseSpec] = Field(default_factory=list)
    chemical_potentials: dict[str, dict[str, float]] = Field(
        default_factory=dict, description="limit name -> element -> μ (eV, relative to the element's reference "
        "phase); replaces the phase-diagram limits of every host whose elements it names")
    correction: Literal["freysoldt", "kumagai"] = Field(
        "freysoldt", description="finite-size correction of charged cells: 'freysoldt' (Gaussian model charge, "
        "alignment of planar-averaged potentials) or 'kumagai' (Kumagai–Oba: point charge screened by the dielectric "
        "tensor, alignment of atomic-site potentials; needs engine gpaw or vasp)")
    gaussian_width_bohr: float = Field(1.0, gt=0, description="Freysoldt model charge: Gaussian width β")
    phase_entries: str | list[dict] | None = Field(
        None, description="the competing phases' energies computed elsewhere with the hosts' functional and POTCARs: "
        "a JSON file of pymatgen ComputedEntry objects (path relative to the campaign file, e.g. Materials Project "
        "entries; read into the campaign when it is loaded), used instead of computing the competing phases")
    dielectric: DielectricSettings = Field(default_factory=DielectricSettings)
    temperature_K: float = Field(300.0, gt=0, description="temperature of the charge-neutral Fermi level")

    @field_validator("phase_entries")
    @classmethod
    def _computed_entries(cls, entries: str | list[dict] | None) -> str | list[dict] | None:
        if isinstance(entries, list):
            for index, entry in enumerate(entries):
                _computed_entry(entry, f"entry {index}")
        return entries

    @field_validator("chemical_potentials")
    @classmethod
    def _elements(cls, limits: dict[str, dict[str, float]]) -> dict[str, dict[str, float]]:
        for values in limits.values():
            for symbol in values:
                _check_element(symbol)
        return limits


class Campaign(_Strict):
    """A screening campaign as written in the YAML file."""

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    hosts: list[HostSpec] = Field(min_length=1)
    defects: DefectKinds = Field(default_factory=DefectKinds)
    charges: Literal["auto"] | dict[str, list[int]] = Field(
        "auto",
        description="'auto' (oxidation-state rule) or defect name / 'default' -> charge list",
    )
    supercell: SupercellRule = Field(default_factory=SupercellRule)
    engine: EngineSettings = Field(default_factory=XtbSettings)
    relax: RelaxSettings = Field(default_factory=RelaxSettings)
    properties: list[Literal[PROPERTIES]] = Field(["relaxation"], min_length=1)  # type: ignore[valid-type]
    potential: PotentialRecipe = Field(default_factory=PotentialRecipe)
    phonons: PhononSettings = Field(default_factory=PhononSettings)
    dispersion: DispersionSettings = Field(default_factory=DispersionSettings)
    ml_hamiltonian: MlHamiltonianSettings = Field(default_factory=MlHamiltonianSettings)
    formation: FormationSettings = Field(default_factory=FormationSettings)
    search: SearchSettings = Field(default_factory=SearchSettings)

    @model_validator(mode="before")
    @classmethod
    def _training_route_for_the_labels(cls, data):
        """potential.training, where not given, follows the engine's functional (:func:`route_for_labels`): GPAW PBE
        labels fine-tune SevenNet-0 on 12 cells, other labels train MACE from scratch on 24."""
        if not isinstance(data, dict) or not isinstance(data.get("potential", {}), dict):
            return data
        potential = data.get("potential", {})
        if "training" in potential:
            return data
        try:
            engine = parse_engine_settings(data.get("engine", XtbSettings()))
        except ValidationError:
            return data  # the engine's own validation names the field
        functional = engine.xc if isinstance(engine, GpawSettings) else None
        return {**data, "potential": route_for_labels(functional) | potential}

    @field_validator("charges")
    @classmethod
    def _charge_lists(cls, charges: str | dict[str, list[int]]) -> str | dict[str, list[int]]:
        if isinstance(charges, dict):
            for name, values in charges.items():
                if not values:
                    raise ValueError(f"{name}: an empty list computes nothing; give charges, e.g. [0, -1], "
                                     "or remove the key")
        return charges

    @model_validator(mode="after")
    def _dielectric_for_formation(self) -> Campaign:
        if "formation_energy" in self.properties:
            missing = [host.name for host in self.hosts if host.dielectric_constant is None]
            if missing:
                raise ValueError(
                    f"formation_energy corrects charged defects with the host's dielectric constant: give "
                    f"dielectric_constant for host(s) {', '.join(missing)} (e.g. dielectric_constant: 9.5)")
        return self

    @model_validator(mode="after")
    def _engine_for_computed_dielectric(self) -> Campaign:
        computed = [host.name for host in self.hosts if host.dielectric_constant == "computed"]
        if computed and (self.engine.name != "gpaw" or self.engine.mode != "pw"):
            engine = self.engine.name + (f" in mode {self.engine.mode}" if self.engine.name == "gpaw" else "")
            raise ValueError(f"hosts[{computed[0]}].dielectric_constant: 'computed' needs Born charges and the "
                             f"electronic response, which engine '{engine}' does not compute: use engine: "
                             "{name: gpaw} (plane waves) or give the value (e.g. dielectric_constant: 9.5)")
        return self

    @model_validator(mode="after")
    def _site_potentials_for_kumagai(self) -> Campaign:
        if self.formation.correction == "kumagai" and self.engine.name == "xtb":
            raise ValueError(f"formation.correction: 'kumagai' aligns atomic-site electrostatic potentials, which "
                             f"engine '{self.engine.name}' does not compute: use engine: {{name: gpaw}} or {{name: vasp}}, "
                             "or formation.correction: freysoldt")
        return self

    @model_validator(mode="after")
    def _properties_through_atomate2(self) -> Campaign:
        other = [p for p in self.properties if p not in VASP_PROPERTIES]
        if self.engine.name == "vasp" and other:
            raise ValueError(f"properties: engine vasp computes {', '.join(VASP_PROPERTIES)} (atomate2's relaxations "
                             f"and single points); {', '.join(other)} need(s) the engine as a calculator: use engine "
                             "gpaw or xtb for them, or remove them")
        return self

    @model_validator(mode="after")
    def _search_frames_of_one_functional(self) -> Campaign:
        if "structure_search" in self.properties and getattr(self.engine, "relax_xc", None) is not None:
            raise ValueError(f"properties: structure_search trains its surrogate on relaxation frames, and with "
                             f"engine.relax_xc the relaxations are {self.engine.relax_xc} while the energies are "
                             f"{self.engine.xc}: remove engine.relax_xc (search with one functional), or the search")
        return self

    @model_validator(mode="after")
    def _what_glasses_compute(self) -> Campaign:
        glasses = [host.name for host in self.hosts if host.amorphous is not None]
        if not glasses:
            if self.defects.sites != "all":
                raise ValueError("defects.sites: picks the sites of amorphous hosts, and no host is amorphous (a "
                                 "crystal's defects are its symmetry-distinct sites): remove it")
            return self
        crystal_only = [p for p in self.properties if p in PROPERTIES_OF_CRYSTALS]
        if crystal_only:
            raise ValueError(f"properties: {', '.join(crystal_only)} need(s) a crystal (periodic host phonons, the "
                             f"primitive cell, or the host family of the search), and host(s) {', '.join(glasses)} "
                             "are amorphous: remove them or the amorphous hosts")
        computed = [host.name for host in self.hosts if host.amorphous and host.dielectric_constant == "computed"]
        if computed:
            raise ValueError(f"hosts[{computed[0]}].dielectric_constant: 'computed' works on the primitive cell of a "
                             "crystal; give the glass's measured value (a-SiO2: 3.9)")
        if self.defects.antisites or self.defects.interstitials:
            raise ValueError(f"defects: host(s) {', '.join(glasses)} are amorphous, where defects are vacancies and "
                             "substitutions at sampled sites: remove antisites and interstitials, or the amorphous "
                             "hosts")
        return self

    @model_validator(mode="after")
    def _training_hosts(self) -> Campaign:
        if self.search.training_campaign == self.name:
            raise ValueError("search.training_campaign names this campaign: name an earlier campaign whose training "
                             "hosts were searched fully, or list this campaign's own in search.training_hosts")
        training, names = self.search.training_hosts, [host.name for host in self.hosts]
        if self.search.prior_candidates and not training and self.search.training_campaign is None:
            raise ValueError("search.prior_candidates ranks distortions by the related hosts' full searches, and this "
                             "campaign has none: list search.training_hosts or name a search.training_campaign, or "
                             "set search.prior_candidates: 0")
        if training == "all_others":
            if not self.search.benchmark or len(names) < 2:
                raise ValueError("search.training_hosts: 'all_others' trains each host's surrogate on the other hosts' "
                                 "full searches, which only benchmark mode runs for every host: set "
                                 "search.benchmark: true (and give two or more hosts), or list training hosts")
            return self
        unknown = [h for h in training if h not in names]
        if unknown:
            raise ValueError(f"search.training_hosts: {', '.join(unknown)} not among the hosts ({', '.join(names)})")
        if training and set(names) <= set(training):
            raise ValueError("search.training_hosts names every host, so no host is left to search with the "
                             "surrogate: leave out the hosts to search")
        return self

    @model_validator(mode="after")
    def _hamiltonian_training_hosts(self) -> Campaign:
        unknown = [h for h in self.ml_hamiltonian.training_hosts if h not in self.cell_hosts]
        if unknown:
            raise ValueError(f"ml_hamiltonian.training_hosts: {', '.join(unknown)} not among the hosts' cells "
                             f"({', '.join(self.cell_hosts)}); name hosts of this campaign (a glass as 'a-SiO2#1')")
        return self

    @field_validator("properties")
    @classmethod
    def _required_properties(cls, properties: list[str]) -> list[str]:
        for prop in properties:
            for needed in STEPS[prop].needs:
                if needed not in properties:
                    raise ValueError(f"{prop} is computed from {needed}: add '{needed}' to properties")
        return properties

    @field_validator("hosts")
    @classmethod
    def _unique_hosts(cls, hosts: list[HostSpec]) -> list[HostSpec]:
        names = [name for host in hosts for name in {host.name, *host.cell_hosts}]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise ValueError(f"host names must be unique; repeated: {', '.join(duplicates)}")
        return hosts

    @property
    def cell_hosts(self) -> list[str]:
        """Every host name the campaign's cells carry (one per glass structure of an amorphous host)."""
        return [name for host in self.hosts for name in host.cell_hosts]

    def sha256(self) -> str:
        """Hash of the validated campaign (defaults included)."""
        canonical = json.dumps(self.model_dump(mode="json"), sort_keys=True)
        return hashlib.sha256(canonical.encode()).hexdigest()


def _hint(error: dict) -> str:
    if error["type"] == "extra_forbidden":
        return "unknown setting; remove it or check its spelling"
    if error["type"] == "literal_error":
        return error["msg"].replace("Input should be", "use one of")
    if error["type"] == "union_tag_invalid" and "training" in error["loc"]:
        return ("unknown training backend; use backend: mace, backend: nequip (with model: nequip or allegro), or "
                "backend: sevennet (fine-tuning a SevenNet foundation model)")
    if error["type"] == "union_tag_invalid":
        return "unknown engine; use name: xtb, name: gpaw or name: vasp"
    return error["msg"].removeprefix("Value error, ")


def _known_fields(location: tuple) -> str:
    """Field names allowed where an unknown one was given, for the error hint."""
    parent = tuple(part for part in location[:-1] if not isinstance(part, int))
    model = {
        (): Campaign,
        ("hosts",): HostSpec,
        ("defects",): DefectKinds,
        ("supercell",): SupercellRule,
        ("relax",): RelaxSettings,
        ("potential",): PotentialRecipe,
        ("potential", "training", "mace"): MaceSettings,
        ("potential", "training", "nequip"): NequipSettings,
        ("potential", "training", "sevennet"): SevennetSettings,
        ("phonons",): PhononSettings,
        ("formation",): FormationSettings,
        ("formation", "competing_phases"): CompetingPhaseSpec,
        ("search",): SearchSettings,
        ("search", "surrogate"): SurrogateSettings,
        ("engine", "xtb"): XtbSettings,
        ("engine", "gpaw"): GpawSettings,
        ("engine", "vasp"): VaspSettings,
    }.get(parent)
    return ", ".join(model.model_fields) if model else ""


def parse_campaign(data: dict, source: str = "campaign") -> Campaign:
    """Validate a campaign mapping; raise CampaignError listing every bad field with its fix."""
    if not isinstance(data, dict):
        raise CampaignError(f"{source}: expected a mapping of campaign fields at the top level")
    try:
        return Campaign.model_validate(data)
    except ValidationError as error:
        lines = []
        for item in error.errors():
            location = tuple(item["loc"])
            field = ".".join(str(part) for part in location) or "(top level)"
            hint = _hint(item)
            if item["type"] == "extra_forbidden":
                known = _known_fields(location)
                hint += f" (known here: {known})" if known else ""
            lines.append(f"  {field}: {hint}")
        raise CampaignError(f"{source} is invalid:\n" + "\n".join(lines)) from None


class _UniqueKeyLoader(yaml.SafeLoader):
    """YAML's safe loader, refusing a key given twice in one mapping (YAML itself keeps the last one silently)."""


def _mapping_without_repeated_keys(loader: _UniqueKeyLoader, node: yaml.MappingNode) -> dict:
    seen = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node)
        if key in seen:
            raise yaml.constructor.ConstructorError(None, None, f"key '{key}' is given twice; keep one",
                                                    key_node.start_mark)
        seen.add(key)
    return loader.construct_mapping(node, deep=True)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping_without_repeated_keys)


def load_campaign(path: str | Path) -> tuple[Campaign, Path]:
    """Read and validate a YAML campaign; returns it with the directory host paths are relative to."""
    path = Path(path)
    if not path.is_file():
        raise CampaignError(f"campaign file '{path}' does not exist")
    try:
        data = yaml.load(path.read_text(), Loader=_UniqueKeyLoader)  # noqa: S506 - a safe loader
    except UnicodeDecodeError:
        raise CampaignError(f"{path}: not a text file; a campaign is a YAML file (see flows/quickstart.yaml)") from None
    except yaml.YAMLError as error:
        raise CampaignError(f"{path}: not valid YAML: {error}") from None
    campaign, base_dir = parse_campaign(data, source=str(path)), path.parent.resolve()
    entries = campaign.formation.phase_entries
    if isinstance(entries, str):
        formation = campaign.formation.model_copy(update={"phase_entries": read_phase_entries(base_dir / entries)})
        campaign = campaign.model_copy(update={"formation": formation})
    return campaign, base_dir

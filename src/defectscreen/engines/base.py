"""Engine settings (validated, hashable) and the calculators they make.

Every engine is an ASE calculator; what differs is how it is configured, whether it is DFT,
which code versions made a number, and how an unconverged SCF is reported. One settings model
per engine, selected by ``name``; unknown settings are rejected with the list of known ones.
"""

from __future__ import annotations

import hashlib
import json
from importlib.metadata import version
from pathlib import Path
from typing import Annotated, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, PositiveInt, TypeAdapter, field_validator, model_validator

from defectscreen.engines.guard import ScfGuard


class _Settings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    def settings_hash(self) -> str:
        """SHA-256 of the canonical JSON of the settings: two calculations with the same hash
        are the same calculation."""
        canonical = json.dumps(self.model_dump(mode="json", exclude=self._unset_later_fields()), sort_keys=True)
        return hashlib.sha256(canonical.encode()).hexdigest()

    def _unset_later_fields(self) -> set[str]:
        """Fields added after settings were first stored, left out of the hash while unset: settings written before
        they existed keep their hash, and a store its results."""
        return set()


class XtbSettings(_Settings):
    """tblite extended tight binding: fast, periodic, charged cells; not DFT."""

    name: Literal["xtb"] = "xtb"
    method: Literal["GFN1-xTB", "GFN2-xTB"] = "GFN1-xTB"
    electronic_temperature_K: float = Field(300.0, gt=0)
    max_scf_iterations: int = Field(250, gt=0)
    accuracy: float = Field(1.0, gt=0)


#: hybrid functionals GPAW computes self-consistently in plane-wave mode (with forces and k-points) when asked for
#: its plane-wave implementation; by name alone PBE0 reaches its real-space one, which fails in PW mode
PLANE_WAVE_HYBRIDS = {"EXX", "PBE0", "HSE03", "HSE06", "B3LYP"}


class GpawSettings(_Settings):
    """GPAW plane-wave DFT at the Gamma point by default; ``kpts`` a Γ-centred grid unless ``gamma_centered`` is false.

    ``ecut_eV`` below 500 eV is rejected: 300-350 eV is far from converged for first-row
    anions such as N and O (measured, DESIGN.md). ``mode: lcao`` expands the states in GPAW's numerical atomic
    orbitals (``basis``) on a real-space grid instead: the kind of basis seed 004's OpenMX calculations use (Si and O
    2s2p1d, GPAW's dzp), several times cheaper per SCF for a 72-atom glass (docs/amorphous-hosts.md); semi-local
    functionals only.
    """

    name: Literal["gpaw"] = "gpaw"
    xc: str = "PBE"
    mode: Literal["pw", "lcao"] = Field("pw", description="pw: plane waves up to ecut_eV; lcao: numerical atomic "
                                        "orbitals (basis) on a grid of spacing grid_spacing_angstrom")
    ecut_eV: float = Field(500.0, ge=500.0, description="plane-wave cutoff (mode pw)")
    basis: Literal["dzp", "szp(dzp)", "sz(dzp)"] = Field("dzp", description="atomic-orbital basis (mode lcao); dzp: "
                                                       "double zeta with polarisation, Si and O 2s2p1d")
    grid_spacing_angstrom: float = Field(0.2, gt=0, le=0.3, description="real-space grid of the density and "
                                         "potential (mode lcao)")
    kpts: tuple[PositiveInt, PositiveInt, PositiveInt] = (1, 1, 1)
    gamma_centered: bool = Field(True, description="k-point grid through Γ, where the band edges of most hosts lie "
                                 "(an even Monkhorst–Pack grid misses it and with it the gap); false: Monkhorst–Pack's")
    smearing_eV: float = Field(0.01, gt=0)
    max_scf_iterations: int = Field(300, gt=0)
    energy_convergence_eV_per_electron: float = Field(5e-4, gt=0)
    setups: str = "paw"
    relax_xc: str | None = Field(
        None, description="functional of the relaxations: each relaxation then ends with one single point with "
        "``xc`` at its relaxed geometry, and that gives the document's energy, forces, levels and potentials (xc "
        "HSE06, relax_xc PBE: hybrid energies at semi-local geometries, 'HSE06//PBE'); None: relax with ``xc``")

    def _unset_later_fields(self) -> set[str]:
        later = {"relax_xc"} if self.relax_xc is None else set()
        return later | ({"mode", "basis", "grid_spacing_angstrom"} if self.mode == "pw" else set())

    @model_validator(mode="after")
    def _hybrids_in_plane_waves(self) -> GpawSettings:
        for field, xc in (("xc", self.xc), ("relax_xc", self.relax_xc)):
            if self.mode == "lcao" and xc in PLANE_WAVE_HYBRIDS:
                raise ValueError(f"engine.{field}: GPAW computes the hybrid {xc} in plane waves only; with mode: lcao "
                                 "use a semi-local functional (PBE), or mode: pw")
        return self

    @field_validator("xc", "relax_xc")
    @classmethod
    def _known_to_gpaw(cls, xc: str | None) -> str | None:
        """Checked when the campaign is read, not when every job fails on it."""
        if xc is None:
            return xc
        import warnings

        from gpaw.xc import XC

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                XC(xc)
            except Exception as error:  # noqa: BLE001 - GPAW raises NameError, KeyError or ValueError
                raise ValueError(f"GPAW does not know the functional {xc!r} ({error}); give e.g. PBE, PBEsol, RPBE, "
                                 "LDA, SCAN, PBE0 or HSE06") from None
        return xc


class LcaoSettings(_Settings):
    """GPAW LCAO at Γ for Hamiltonian learning (:mod:`defectscreen.engines.lcao_hamiltonian`): ``basis`` one of
    GPAW's (dzp: Si and O 2s2p1d, the seeds' 13 orbitals per atom), real-space grid spacing, tight convergence so that
    H and S are of the converged density."""

    name: Literal["gpaw-lcao"] = "gpaw-lcao"
    xc: str = "PBE"
    basis: Literal["sz(dzp)", "szp(dzp)", "dzp"] = "dzp"
    grid_spacing_angstrom: float = Field(0.2, gt=0, le=0.3)
    smearing_eV: float = Field(0.01, gt=0)
    max_scf_iterations: int = Field(300, gt=0)
    energy_convergence_eV_per_electron: float = Field(1e-6, gt=0)
    density_convergence: float = Field(1e-6, gt=0)


#: INCAR tags the platform sets from the calculation itself, with where each comes from.
VASP_TAGS_FROM_THE_CALCULATION = {
    "NELECT": "the charge state (atomate2 counts the POTCARs' valence electrons and removes q)",
    "EDIFFG": "relax.fmax_eV_per_angstrom (EDIFFG = -fmax)",
    "NSW": "relax.max_steps (0 for a single point)",
    "NUPDOWN": "engine.fixed_spin_moment and the cell's spin multiplicity",
}


class VaspSettings(_Settings):
    """VASP through atomate2: its defect input sets (``ChargeStateRelaxSetGenerator`` for relaxations,
    ``ChargeStateStaticSetGenerator`` for single points; PBEsol, 500 eV, spin-polarised, LVHAR) with these changes,
    run under custodian with the command of atomate2's settings (``VASP_CMD`` in ~/.atomate2.yaml or the
    ``ATOMATE2_VASP_CMD`` environment variable, e.g. ``srun vasp_std``) on POTCARs from pymatgen's
    ``PMG_VASP_PSP_DIR``."""

    name: Literal["vasp"] = "vasp"
    incar: dict[str, str | int | float | bool | list] = Field(
        default_factory=dict, description="INCAR tags over atomate2's defect sets, e.g. {ENAUG: 1360, LVHAR: false}; "
        "a hybrid: {LHFCALC: true, HFSCREEN: 0.2, GGA: PE, ALGO: Normal}")
    kpoints: dict | None = Field(None, description="pymatgen user_kpoints_settings, e.g. {reciprocal_density: 100}; "
                                 "None: atomate2's one special k-point (1/4, 1/4, 1/4) of a defect supercell")
    potcar: dict[str, str] = Field(default_factory=dict, description="element -> POTCAR symbol over atomate2's "
                                   "choice, e.g. {Ga: Ga_d}")
    potcar_functional: Literal["PBE", "PBE_52", "PBE_54", "PBE_64"] = "PBE_54"
    fixed_spin_moment: bool = Field(False, description="NUPDOWN = 2S of the cell's spin multiplicity; false: the "
                                    "moment relaxes from atomate2's starting MAGMOM")

    @field_validator("incar")
    @classmethod
    def _incar_tags(cls, incar: dict) -> dict:
        import re

        for tag in incar:
            if tag in VASP_TAGS_FROM_THE_CALCULATION:
                raise ValueError(f"{tag} is set from {VASP_TAGS_FROM_THE_CALCULATION[tag]}; remove it from engine.incar")
            if not re.fullmatch(r"[A-Z][A-Z0-9_]*", tag):
                raise ValueError(f"{tag!r} is not an INCAR tag; write tags in capitals, e.g. ENCUT, LVHAR")
        return incar


EngineSettings = Annotated[Union[XtbSettings, GpawSettings, VaspSettings], Field(discriminator="name")]


def parse_engine_settings(settings: dict) -> XtbSettings | GpawSettings | VaspSettings:
    """Engine settings from their JSON form (as stored in job specs and documents)."""
    return TypeAdapter(EngineSettings).validate_python(settings)


def spin_multiplicity(atomic_numbers: list[int], charge: int) -> int:
    """Lowest spin multiplicity 2S+1 compatible with the electron count.

    Core shells hold even numbers of electrons, so the parity of sum(Z) - q equals the parity of
    the valence electron count of any pseudopotential or tight-binding basis: odd -> doublet.
    """
    return 1 + (sum(atomic_numbers) - charge) % 2


def make_calculator(
    settings: XtbSettings | GpawSettings, charge: int, multiplicity: int, workdir: Path
) -> ScfGuard:
    """The ASE calculator for one (structure, charge, spin) with these settings.

    Spin-polarised exactly when ``multiplicity > 1``; the magnetic moment is then fixed to
    ``multiplicity - 1`` Bohr magnetons.
    """
    if isinstance(settings, VaspSettings):
        raise ValueError("engine vasp runs each calculation through atomate2's Makers (defectscreen.engines.vasp), "
                         "not as an ASE calculator")
    if isinstance(settings, XtbSettings):
        from defectscreen.engines.xtb import xtb_calculator

        return xtb_calculator(settings, charge, multiplicity)
    from defectscreen.engines.gpaw import gpaw_calculator

    return gpaw_calculator(settings, charge, multiplicity, workdir)


def engine_record(settings: XtbSettings | GpawSettings | VaspSettings | LcaoSettings) -> dict:
    """Provenance of a number: engine, full settings, their hash, DFT or not, code versions (VASP's own version is
    added from its vasprun.xml by the job that ran it)."""
    packages = {"xtb": ["tblite", "ase"], "gpaw": ["gpaw", "gpaw-data", "ase"], "gpaw-lcao": ["gpaw", "gpaw-data", "ase"],
                "vasp": ["atomate2", "custodian", "pymatgen"]}[settings.name]
    return {
        "name": settings.name,
        "settings": settings.model_dump(mode="json"),
        "settings_hash": settings.settings_hash(),
        "is_dft": settings.name in ("gpaw", "gpaw-lcao", "vasp"),
        "code_versions": {package: version(package) for package in packages},
    }

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

from pydantic import BaseModel, ConfigDict, Field, PositiveInt, TypeAdapter, field_validator

from defectscreen.engines.guard import ScfGuard


class _Settings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    def settings_hash(self) -> str:
        """SHA-256 of the canonical JSON of the settings: two calculations with the same hash
        are the same calculation."""
        canonical = json.dumps(self.model_dump(mode="json"), sort_keys=True)
        return hashlib.sha256(canonical.encode()).hexdigest()


class XtbSettings(_Settings):
    """tblite extended tight binding: fast, periodic, charged cells; not DFT."""

    name: Literal["xtb"] = "xtb"
    method: Literal["GFN1-xTB", "GFN2-xTB"] = "GFN1-xTB"
    electronic_temperature_K: float = Field(300.0, gt=0)
    max_scf_iterations: int = Field(250, gt=0)
    accuracy: float = Field(1.0, gt=0)


class GpawSettings(_Settings):
    """GPAW plane-wave DFT at the Gamma point by default; ``kpts`` a Γ-centred grid unless ``gamma_centered`` is false.

    ``ecut_eV`` below 500 eV is rejected: 300-350 eV is far from converged for first-row
    anions such as N and O (measured, DESIGN.md).
    """

    name: Literal["gpaw"] = "gpaw"
    xc: str = "PBE"
    ecut_eV: float = Field(500.0, ge=500.0)
    kpts: tuple[PositiveInt, PositiveInt, PositiveInt] = (1, 1, 1)
    gamma_centered: bool = Field(True, description="k-point grid through Γ, where the band edges of most hosts lie "
                                 "(an even Monkhorst–Pack grid misses it and with it the gap); false: Monkhorst–Pack's")
    smearing_eV: float = Field(0.01, gt=0)
    max_scf_iterations: int = Field(300, gt=0)
    energy_convergence_eV_per_electron: float = Field(5e-4, gt=0)
    setups: str = "paw"

    @field_validator("xc")
    @classmethod
    def _known_to_gpaw(cls, xc: str) -> str:
        """Checked when the campaign is read, not when every job fails on it."""
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


EngineSettings = Annotated[Union[XtbSettings, GpawSettings], Field(discriminator="name")]


def parse_engine_settings(settings: dict) -> XtbSettings | GpawSettings:
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
    if isinstance(settings, XtbSettings):
        from defectscreen.engines.xtb import xtb_calculator

        return xtb_calculator(settings, charge, multiplicity)
    from defectscreen.engines.gpaw import gpaw_calculator

    return gpaw_calculator(settings, charge, multiplicity, workdir)


def engine_record(settings: XtbSettings | GpawSettings) -> dict:
    """Provenance of a number: engine, full settings, their hash, DFT or not, code versions."""
    packages = {"xtb": ["tblite", "ase"], "gpaw": ["gpaw", "gpaw-data", "ase"]}[settings.name]
    return {
        "name": settings.name,
        "settings": settings.model_dump(mode="json"),
        "settings_hash": settings.settings_hash(),
        "is_dft": settings.name == "gpaw",
        "code_versions": {package: version(package) for package in packages},
    }

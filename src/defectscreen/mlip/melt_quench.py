"""Melt–quench molecular dynamics with a universal potential whose weights ship in its wheel (CHGNet 0.3.0): the
other route to a glass beside bond-switching Monte Carlo (seed 004 builds a-SiO2 both ways in the literature it
cites). Langevin dynamics at a fixed cell: a melt held at one temperature, a linear quench to the final temperature,
then the structure relaxed to its nearest minimum of the same potential."""

from __future__ import annotations

import time
from dataclasses import dataclass
from importlib.metadata import version

import numpy as np
from pydantic import BaseModel, ConfigDict, Field
from pymatgen.core import Structure

from defectscreen.mlip.surrogate import SHIPPED_MODEL, load_chgnet


class MeltQuenchSettings(BaseModel):
    """The melt–quench protocol: Langevin MD at a fixed cell with the shipped universal potential."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    potential: str = Field(SHIPPED_MODEL, description="'chgnet-0.3.0' (weights in the chgnet wheel) or the path of a "
                           "CHGNet model file")
    melt_temperature_K: float = Field(5000.0, gt=0, description="K of the melt (a-SiO2 melts near 2000 K; MD "
                                      "melts a 100-atom cell in ps only well above it)")
    melt_ps: float = Field(3.0, gt=0, description="ps held at the melt temperature")
    quench_ps: float = Field(6.0, gt=0, description="ps of the linear ramp to the final temperature (quench rate "
                             "(T_melt − T_final) / quench_ps; slower makes fewer coordination defects)")
    timestep_fs: float = Field(1.0, gt=0, le=2.0)
    friction_per_fs: float = Field(0.02, gt=0, description="Langevin friction")
    fmax_eV_per_angstrom: float = Field(0.05, gt=0, description="final relaxation with the potential")


@dataclass(frozen=True)
class MeltQuenchRun:
    """The quenched and relaxed structure, its potential energy (eV), the kinetic temperature held during the melt
    (mean, K), the potential's record and the wall time (s)."""

    structure: Structure
    energy_eV: float
    melt_temperature_mean_K: float
    potential: dict
    wall_time_s: float


def melt_and_quench(start: Structure, settings: MeltQuenchSettings, final_temperature_K: float,
                    seed: int) -> MeltQuenchRun:
    """Langevin MD of ``start`` at its fixed cell: Maxwell–Boltzmann velocities (seed ``seed``) at the melt
    temperature, ``melt_ps`` there, a linear ramp to ``final_temperature_K`` over ``quench_ps`` (set by
    :func:`quench_schedule`), then FIRE to ``fmax_eV_per_angstrom``. Cost: (melt_ps + quench_ps) / timestep steps,
    each one force call (~0.3 s for 96 atoms with CHGNet on one core)."""
    from ase import units
    from ase.constraints import FixCom
    from ase.md.langevin import Langevin
    from ase.md.velocitydistribution import MaxwellBoltzmannDistribution, Stationary
    from ase.optimize import FIRE
    from chgnet.model.dynamics import CHGNetCalculator
    from pymatgen.io.ase import AseAtomsAdaptor

    begin = time.perf_counter()
    model = load_chgnet(settings.potential, "hosts[].amorphous.melt_quench.potential")
    atoms = AseAtomsAdaptor.get_atoms(start)
    atoms.calc = CHGNetCalculator(model=model, use_device="cpu")
    rng = np.random.default_rng(seed)
    MaxwellBoltzmannDistribution(atoms, temperature_K=settings.melt_temperature_K, rng=rng)
    Stationary(atoms)
    atoms.set_constraint(FixCom())
    dynamics = Langevin(atoms, settings.timestep_fs * units.fs, temperature_K=settings.melt_temperature_K,
                        friction=settings.friction_per_fs / units.fs, fixcm=False, rng=rng)
    temperatures = []
    melt_steps = round(settings.melt_ps * 1000 / settings.timestep_fs)
    for _ in range(melt_steps):
        dynamics.run(1)
        temperatures.append(atoms.get_temperature())
    for temperature in quench_schedule(settings.melt_temperature_K, final_temperature_K,
                                       round(settings.quench_ps * 1000 / settings.timestep_fs)):
        dynamics.set_temperature(temperature_K=temperature)
        dynamics.run(1)
    atoms.set_velocities(np.zeros((len(atoms), 3)))
    FIRE(atoms, logfile=None).run(fmax=settings.fmax_eV_per_angstrom, steps=2000)
    relaxed = Structure(start.lattice, start.species, atoms.get_positions(), coords_are_cartesian=True)
    record = {"name": settings.potential, "code_versions": {"chgnet": version("chgnet"), "torch": version("torch")}}
    return MeltQuenchRun(relaxed, float(atoms.get_potential_energy()),
                         float(np.mean(temperatures[len(temperatures) // 2:])), record, time.perf_counter() - begin)


def quench_schedule(melt_temperature_K: float, final_temperature_K: float, steps: int) -> np.ndarray:
    """Thermostat temperature (K) of each quench step: a linear ramp from the melt to the final temperature."""
    return np.linspace(melt_temperature_K, final_temperature_K, steps + 1)[1:]

"""One failure type for every engine's unconverged SCF."""

from __future__ import annotations

from ase.calculators.calculator import Calculator, all_changes


class ScfNotConvergedError(RuntimeError):
    """The engine's self-consistent field did not converge within its iteration limit."""


class ScfGuard(Calculator):
    """Delegates to an engine's ASE calculator and turns its own SCF failure into
    :class:`ScfNotConvergedError`, so jobs record one reason whatever the engine."""

    implemented_properties = ("energy", "free_energy", "forces")

    def __init__(self, inner, scf_failures: tuple[type[Exception], ...], engine: str) -> None:
        super().__init__()
        self.inner = inner
        self.scf_failures = scf_failures
        self.engine = engine

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes) -> None:
        super().calculate(atoms, properties, system_changes)
        try:
            for name in properties:
                self.results[name] = self.inner.get_property(name, self.atoms)
        except self.scf_failures as error:
            raise ScfNotConvergedError(f"{self.engine} SCF did not converge: {error}") from error

"""``defectscreen hamiltonian``: the hosts' machine-learned Hamiltonians (ml_hamiltonian), their errors, and the
energy and forces of a structure from one of them."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import click

from defectscreen.cli.options import FILE, console, output_path, storage_settings


@click.group()
def hamiltonian() -> None:
    """Machine-learned Kohn–Sham Hamiltonians of the campaigns' hosts (seeds 001/004): list them with their errors
    against the SCF, or take the energy and forces of a structure from one."""


@hamiltonian.command(name="list")
@click.option("--host", help="host label, e.g. a-SiO2#1 (default: every host)")
@click.option("--json", "as_json", is_flag=True, help="print the rows as JSON")
@click.option("--plot", "plot_path", type=click.Path(dir_okay=False), callback=output_path,
              help="write the figure: E(defect) − E(bulk) model vs SCF, energy error per atom vs cell size")
def list_models(host: str | None, as_json: bool, plot_path: str | None) -> None:
    """Hosts judged with a Hamiltonian model: its training hosts and frames, mean errors on the host's relaxed cells
    (energy per atom, forces, occupied bands), the error of E(defect) − E(bulk) after the mixing steps and from the
    model's H alone, SCF and model wall times, flags."""
    from rich.table import Table

    from defectscreen.storage.query import ml_hamiltonian_rows

    store = storage_settings().job_store()
    store.connect()
    rows = ml_hamiltonian_rows(store, host)
    if not rows:
        raise click.ClickException("no Hamiltonian models stored; add ml_hamiltonian to a campaign's properties "
                                   "(engine gpaw or xtb relaxations; labels from GPAW LCAO) and run its jobs")
    if plot_path:
        from defectscreen.reports.plots import plot_hamiltonian_errors
        from defectscreen.schemas.hamiltonian import MlHamiltonianDocument

        documents = [MlHamiltonianDocument.model_validate(store.query_one({"uuid": row["uuid"]},
                                                                          properties=["output"])["output"])
                     for row in rows]
        plot_hamiltonian_errors(documents, plot_path, title="learned Hamiltonians against the SCF")
    if as_json:
        click.echo(json.dumps(rows, indent=2, ensure_ascii=False))
        return
    table = Table(title="machine-learned Hamiltonians against the SCF on relaxed cells (means of |error|)")
    for column in ("campaign", "host", "trained on", "frames", "cells", "mixing", "E (meV/atom)", "F (meV/Å)",
                   "bands (meV)", "E(D)−E(bulk) (meV)", "model H alone", "unseen defects (meV)", "SCF / model (s)",
                   "usable"):
        table.add_column(column)
    for row in rows:
        defect, alone, unseen = (("–" if row[key] is None else f"{1000 * row[key]:.0f}") for key in (
            "defect_energy_mae_eV", "defect_energy_mae_before_mixing_eV", "held_out_defect_energy_mae_eV"))
        mixing = f"{row['mixing_steps']} × {row['mixing_fraction']:g}" if row["mixing_steps"] else "none"
        table.add_row(row["campaign"], row["host"], ", ".join(row["training_hosts"]), str(row["n_training_frames"]),
                      str(row["cells"]), mixing,
                      f"{row['energy_mae_meV_per_atom']:.1f}", f"{row['force_mae_meV_per_angstrom']:.0f}",
                      f"{row['occupied_band_mae_meV']:.0f}", defect, alone, unseen,
                      f"{row['scf_wall_time_s']:.0f} / {row['model_wall_time_s']:.0f}", "yes" if row["usable"] else "no")
    console().print(table)
    for row in rows:
        if row["flag_reason"]:
            click.echo(f"{row['host']}: {row['flag_reason']}")
    if plot_path:
        click.echo(f"figure: {plot_path}")


@hamiltonian.command()
@click.option("--host", required=True, help="host whose newest model to use, e.g. MgO")
@click.option("--structure", "structure_path", required=True, type=FILE, help="POSCAR, CIF or pymatgen JSON")
@click.option("--charge", type=int, default=0, show_default=True, help="charge state of the cell (closed shells)")
@click.option("--json", "as_json", is_flag=True, help="print energy and forces as JSON")
def energy(host: str, structure_path: str, charge: int, as_json: bool) -> None:
    """Total energy and forces of a structure from the host's learned Hamiltonian: GPAW's LCAO set-up, the model's
    H, one diagonalisation, and the energy of that density through the functional (no SCF iterations)."""
    from pymatgen.io.ase import AseAtomsAdaptor

    from defectscreen.engines.base import LcaoSettings
    from defectscreen.jobs.hamiltonian import stored_model
    from defectscreen.mlip.hamiltonian_model import MlHamiltonianCalculator
    from defectscreen.readers import InputFileError
    from defectscreen.readers.structures import read_structure
    from defectscreen.schemas.hamiltonian import HamiltonianModelDocument, MlHamiltonianDocument
    from defectscreen.storage.query import ml_hamiltonian_rows

    store = storage_settings().job_store()
    store.connect()
    rows = ml_hamiltonian_rows(store, host)
    if not rows:
        raise click.ClickException(f"no Hamiltonian model of host {host}; `defectscreen hamiltonian list` shows the "
                                   "hosts that have one")
    document, fit = (schema.model_validate(store.query_one({"uuid": uuid}, properties=["output"], load=True)["output"])
                     for schema, uuid in ((MlHamiltonianDocument, rows[-1]["uuid"]),
                                          (HamiltonianModelDocument, rows[-1]["model_uuid"])))
    try:
        structure = read_structure(structure_path)
        model = stored_model(fit)
        unknown = sorted({site.specie.symbol for site in structure} - set(model.layout.shells))
        if unknown:
            raise ValueError(f"--structure: {', '.join(unknown)} not in the model of {host} (it knows "
                             f"{', '.join(sorted(model.layout.shells))}); give a structure of the host's elements")
        atoms = AseAtomsAdaptor.get_atoms(structure)
        settings = LcaoSettings.model_validate(document.engine.settings)
        with tempfile.TemporaryDirectory() as workdir:
            atoms.calc = MlHamiltonianCalculator(model, settings, Path(workdir), document.overlap_floor, charge,
                                                (document.mixing_fraction,) * document.mixing_steps)
            energy_eV, forces = float(atoms.get_potential_energy()), atoms.get_forces()
    except (InputFileError, ValueError) as error:
        raise click.ClickException(str(error)) from None
    result = {"host": host, "structure": structure_path, "charge": charge, "energy_eV": energy_eV,
              "max_force_eV_per_angstrom": float(abs(forces).max()), "forces_eV_per_angstrom": forces.tolist(),
              "mixing_steps": document.mixing_steps, "mixing_fraction": document.mixing_fraction,
              "model_sha256": document.model_sha256, "model_uuid": rows[-1]["uuid"], "usable": document.usable,
              "flag_reason": document.flag_reason}
    if as_json:
        click.echo(json.dumps(result, indent=1, ensure_ascii=False))
        return
    click.echo(f"{host} model {document.model_sha256[:12]}: E = {energy_eV:.4f} eV, max |F| = "
               f"{result['max_force_eV_per_angstrom']:.3f} eV/Å ({len(atoms)} atoms, q = {charge})")
    if not document.usable:
        click.echo(f"not a result: {document.flag_reason}")

"""``defectscreen amorphous``: glasses from a crystal (bond-switching Monte Carlo or melt–quench MD), validated."""

from __future__ import annotations

import json
from pathlib import Path

import click

from defectscreen.cli.options import FILE, POSITIVE, output_folder
from defectscreen.defaults import (
    DEFAULT_GLASS_TEMPERATURE_K,
    DEFAULT_MELT_TEMPERATURE_K,
    DEFAULT_MELTING_MOVES,
    DEFAULT_QUENCHING_MOVES,
)


def _seeds(ctx: click.Context, param: click.Parameter, value: str) -> list[int]:
    try:
        seeds = [int(part) for part in value.split(",")]
    except ValueError:
        raise click.BadParameter("give integers separated by commas, e.g. 1,2,3") from None
    if len(set(seeds)) != len(seeds):
        raise click.BadParameter("each seed once: the same seed makes the same structure")
    return seeds


@click.command()
@click.argument("crystal", type=FILE)
@click.option("--atoms", type=click.IntRange(min=6), default=96, show_default=True,
              help="atoms of the glass cell (a multiple of the crystal's primitive cell; of CRYSTAL's cell with "
              "--supercell diagonal)")
@click.option("--supercell", type=click.Choice(["compact", "diagonal"]), default="compact", show_default=True,
              help="compact: the widest cell (by the distance between opposite faces) of CRYSTAL's diagonal supercells "
              "and the near-cubic supercell of its primitive cell; diagonal: multiples of CRYSTAL's cell")
@click.option("--density", "density_g_cm3", type=POSITIVE, default=2.2, show_default=True, help="g/cm³ (a-SiO2: 2.20)")
@click.option("--seeds", type=str, default="1", show_default=True, callback=_seeds,
              help="one independent structure per seed, e.g. 1,2,3")
@click.option("--melting-moves", type=click.IntRange(min=0), default=DEFAULT_MELTING_MOVES, show_default=True,
              help="Metropolis bond switches at the melt temperature")
@click.option("--quenching-moves", type=click.IntRange(min=1), default=DEFAULT_QUENCHING_MOVES, show_default=True,
              help="Metropolis bond switches while the temperature falls linearly")
@click.option("--method", type=click.Choice(["bond_switching", "melt_quench"]), default="bond_switching",
              show_default=True, help="bond-switching Monte Carlo (seed 004), or melt–quench MD with CHGNet 0.3.0")
@click.option("--melt-temperature", "melt_temperature_K", type=POSITIVE, default=None,
              help=f"K of the melt, where the quench starts; bond switching {DEFAULT_MELT_TEMPERATURE_K:g} K (a switch "
              "costs ~1-3 eV on the Keating network: it accepts a few per cent), melt–quench 5000 K")
@click.option("--melt-ps", type=POSITIVE, default=3.0, show_default=True, help="melt–quench: ps held at the melt")
@click.option("--quench-ps", type=POSITIVE, default=6.0, show_default=True,
              help="melt–quench: ps of the linear ramp to the final temperature")
@click.option("--final-temperature", "final_temperature_K", type=POSITIVE, default=DEFAULT_GLASS_TEMPERATURE_K,
              show_default=True, help="K")
@click.option("--out", "out_dir", required=True, callback=output_folder, type=click.Path(file_okay=False),
              help="folder for <formula>_seed<k>.vasp, amorphous_hosts.json and (with --plot) the figures")
@click.option("--plot", is_flag=True, help="also <formula>_seed<k>.png: g(r) and bond angles against experiment")
def amorphous(crystal, atoms, supercell, density_g_cm3, seeds, melting_moves, quenching_moves, method,
              melt_temperature_K, melt_ps, quench_ps, final_temperature_K, out_dir, plot) -> None:
    """Glass structures of an AX2 network former (a-SiO2) from CRYSTAL (quartz, cristobalite; CIF or POSCAR) by
    bond-switching Monte Carlo (seed 004) or melt–quench MD with CHGNet at a fixed lattice, each validated against
    experiment (density, g(r) first peaks, bond angles, coordination) and flagged where it is not the glass. Use a
    structure as a campaign host (hosts: [{name: a-SiO2-1, structure: <file>}])."""
    from monty.json import jsanitize
    from pymatgen.core import Structure

    from defectscreen.analysis.amorphous import bond_switching_glass, melt_quench_glass
    from defectscreen.mlip.melt_quench import MeltQuenchSettings
    from defectscreen.reports.plots import plot_glass

    def generate(seed: int):
        if method == "melt_quench":
            protocol = MeltQuenchSettings(melt_ps=melt_ps, quench_ps=quench_ps, **(
                {} if melt_temperature_K is None else {"melt_temperature_K": melt_temperature_K}))
            return melt_quench_glass(start, atoms, density_g_cm3, seed, protocol, final_temperature_K, supercell)
        return bond_switching_glass(start, atoms, density_g_cm3, seed, melting_moves, quenching_moves,
                                    melt_temperature_K or DEFAULT_MELT_TEMPERATURE_K, final_temperature_K,
                                    supercell=supercell)

    try:
        start = Structure.from_file(crystal)
    except Exception as error:  # noqa: BLE001 - pymatgen raises many types for unreadable files
        raise click.ClickException(f"{crystal}: not a readable crystal structure ({error})") from None
    documents = []
    for seed in seeds:
        try:
            document = generate(seed)
        except ValueError as error:
            raise click.ClickException(str(error)) from None
        stem = Path(out_dir) / f"{document.structure.composition.reduced_formula}_seed{seed}"
        document.structure.to(filename=f"{stem}.vasp", fmt="poscar")
        if plot:
            plot_glass(document, f"{stem}.png")
        documents.append(document)
        shells, angles = document.metrics.first_shell_angstrom, document.metrics.angles_degrees
        click.echo(f"seed {seed}: {stem}.vasp  {document.n_atoms} atoms, {document.metrics.density_g_cm3:.2f} g/cm³, "
                   f"A-X {shells['A-X']:.3f} Å, X-X {shells['X-X']:.3f} Å, A-A {shells['A-A']:.3f} Å, "
                   f"X-A-X {angles['X-A-X'][0]:.1f}±{angles['X-A-X'][1]:.1f}°, "
                   f"A-X-A {angles['A-X-A'][0]:.1f}±{angles['A-X-A'][1]:.1f}°, "
                   + (f"melt at {document.melt_temperature_mean_K:.0f} K, " if method == "melt_quench" else
                      f"accepted {document.accepted_melting_moves}+{document.accepted_quenching_moves} moves, ")
                   + f"{document.wall_time_s:.0f} s")
        for flag in document.flags:
            click.echo(f"  not the glass: {flag}")
    path = Path(out_dir) / "amorphous_hosts.json"
    path.write_text(json.dumps([jsanitize(document.model_dump(), strict=True, enum_values=True)
                                for document in documents], indent=1))
    click.echo(f"wrote {path}")

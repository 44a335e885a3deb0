"""a-SiO2 hosts from β-cristobalite at 2.20 g/cm³, one per seed, each run in its own process side by side, by
bond-switching Monte Carlo (seed 004's generator) or by melt–quench MD with CHGNet 0.3.0, with their validation
against experiment and the cost.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/amorphous_silica.py                      # 3 seeds, 96 atoms
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/amorphous_silica.py --melting-moves 5000 --quenching-moves 13000
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/amorphous_silica.py --method melt_quench --seeds 1 2 \\
        --melt-ps 3 --quench-ps 6

Cost: bond switching relaxes every trial switch (L-BFGS on the Keating energy, all atoms), so a move costs ∝ N
(pairs for the contact term ∝ N², negligible below ~500 atoms); the run is moves × that. The seed's protocol is
18,000 moves. Melt–quench costs (melt_ps + quench_ps) / timestep force calls of the potential, ∝ N.
"""

from __future__ import annotations

import argparse
from concurrent.futures import ProcessPoolExecutor

from pymatgen.core import Lattice, Structure

from defectscreen.analysis.amorphous import MEASURED_SILICA, bond_switching_glass, melt_quench_glass
from defectscreen.mlip.melt_quench import MeltQuenchSettings


def beta_cristobalite() -> Structure:
    return Structure.from_spacegroup("Fd-3m", Lattice.cubic(7.16), ["Si", "O"], [[0, 0, 0], [0.125, 0.125, 0.125]])


def generate(arguments: tuple) -> dict:
    options, seed = arguments
    if options.method == "melt_quench":
        settings = MeltQuenchSettings(melt_temperature_K=options.melt_temperature, melt_ps=options.melt_ps,
                                      quench_ps=options.quench_ps, timestep_fs=options.timestep_fs)
        document = melt_quench_glass(beta_cristobalite(), options.atoms, options.density, seed, settings, 300.0,
                                     options.supercell)
    else:
        document = bond_switching_glass(beta_cristobalite(), options.atoms, options.density, seed,
                                        options.melting_moves, options.quenching_moves, options.melt_temperature,
                                        300.0, supercell=options.supercell)
    return {"seed": seed, "document": document}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--method", choices=["bond_switching", "melt_quench"], default="bond_switching")
    parser.add_argument("--atoms", type=int, default=96)
    parser.add_argument("--supercell", choices=["compact", "diagonal"], default="diagonal",
                        help="how the cell is cut from the crystal (analysis.amorphous.crystal_at_density); the "
                        "documented runs: diagonal")
    parser.add_argument("--density", type=float, default=2.20)
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--melting-moves", type=int, default=2000)
    parser.add_argument("--quenching-moves", type=int, default=6000)
    parser.add_argument("--melt-temperature", type=float, default=None,
                        help="K (default 10000 for bond switching, 5000 for melt–quench)")
    parser.add_argument("--melt-ps", type=float, default=3.0)
    parser.add_argument("--quench-ps", type=float, default=6.0)
    parser.add_argument("--timestep-fs", type=float, default=1.0)
    parser.add_argument("--processes", type=int, default=2)
    options = parser.parse_args()
    if options.melt_temperature is None:
        options.melt_temperature = 5000.0 if options.method == "melt_quench" else 10000.0
    with ProcessPoolExecutor(options.processes) as pool:
        results = list(pool.map(generate, [(options, seed) for seed in options.seeds]))
    if options.method == "melt_quench":
        steps = round((options.melt_ps + options.quench_ps) * 1000 / options.timestep_fs)
        print(f"{options.atoms}-atom a-SiO2 from β-cristobalite at {options.density} g/cm³, melt–quench with "
              f"CHGNet 0.3.0: {options.melt_ps} ps at {options.melt_temperature:g} K + {options.quench_ps} ps to 300 K "
              f"({(options.melt_temperature - 300) / options.quench_ps:.0f} K/ps), {options.timestep_fs} fs steps")
        work = "T melt (K) | E_CHGNet eV/atom"
    else:
        steps = options.melting_moves + options.quenching_moves
        print(f"{options.atoms}-atom a-SiO2 from β-cristobalite at {options.density} g/cm³, bond switching: "
              f"{options.melting_moves} melting moves at {options.melt_temperature:g} K + {options.quenching_moves} "
              "quenching to 300 K")
        work = "accepted (melt+quench) | E_Keating meV/atom"
    print(f"| seed | Si–O Å | O–O Å | Si–Si Å | O–Si–O ° | Si–O–Si ° | coord. defects | {work} | crystal bridges kept | "
          "wall s | ms/step | flags |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for result in results:
        doc = result["document"]
        shells, angles = doc.metrics.first_shell_angstrom, doc.metrics.angles_degrees
        if options.method == "melt_quench":
            done = f"{doc.melt_temperature_mean_K:.0f} | {doc.potential_energy_eV_per_atom:.3f}"
        else:
            done = (f"{doc.accepted_melting_moves}+{doc.accepted_quenching_moves} | "
                    f"{1e3 * doc.network_energy_eV_per_atom:.1f}")
        print(f"| {doc.seed} | {shells['A-X']:.3f} | {shells['X-X']:.3f} | {shells['A-A']:.3f} | "
              f"{angles['X-A-X'][0]:.1f} ± {angles['X-A-X'][1]:.1f} | {angles['A-X-A'][0]:.1f} ± {angles['A-X-A'][1]:.1f}"
              f" | {sum(doc.metrics.coordination_defects.values())} | {done} | "
              f"{doc.crystal_bridges_kept_fraction:.2f} | {doc.wall_time_s:.0f} | "
              f"{1e3 * doc.wall_time_s / steps:.1f} | {len(doc.flags)} |")
    print(f"| measured | {MEASURED_SILICA['A-X']} | {MEASURED_SILICA['X-X']} | {MEASURED_SILICA['A-A']} | "
          f"{MEASURED_SILICA['X-A-X']} | ~{MEASURED_SILICA['A-X-A']:.0f} | 0 | | | | | | |")
    for result in results:
        for flag in result["document"].flags:
            print(f"seed {result['seed']}: {flag}")


if __name__ == "__main__":
    main()

"""GPAW single point of a 63-atom Si vacancy cell on 1 and 2 MPI ranks, side by side, through the platform's path.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/gpaw_ranks.py [--ranks 1 2] [--ecut 500]

Each run is what a job does under ``defectscreen worker --ranks N``: ``on_ranks(engine, run_reference, ...)``, the
calculation in ``mpiexec -n N`` and the same fields back (energy, forces, one-electron levels, electrostatic
potentials). Prints the wall time of each, the speed-up over the first, and the differences of the energy and
forces from the first.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np
from pymatgen.core import Lattice, Structure

from defectscreen.engines import GpawSettings
from defectscreen.engines.ranks import RANKS_VARIABLE, on_ranks
from defectscreen.jobs.reference import run_reference
from defectscreen.schemas import CalculationLabels


def vacancy_cell() -> Structure:
    """2x2x2 conventional diamond Si (a = 5.43 Å) without one atom, its neighbours left in place."""
    cell = Structure.from_spacegroup("Fd-3m", Lattice.cubic(5.43), ["Si"], [[0, 0, 0]])
    cell.make_supercell([2, 2, 2])
    cell.remove_sites([0])
    return cell


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ranks", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--ecut", type=float, default=500.0, help="plane-wave cutoff (eV)")
    args = parser.parse_args()
    structure = vacancy_cell()
    labels = CalculationLabels(calculation_id="Si:v_Si:0", campaign="benchmark", host="Si", defect_name="v_Si",
                               defect_type="vacancy", defect_elements=["Si"], element_changes={"Si": -1}, charge=0,
                               spin_multiplicity=1)
    engine = GpawSettings(ecut_eV=args.ecut)
    print(f"{len(structure)}-atom Si vacancy cell, GPAW PW {args.ecut:g} eV, Γ, {engine.xc}")
    first = None
    for ranks in args.ranks:
        with tempfile.TemporaryDirectory() as folder:
            os.chdir(folder)
            os.environ[RANKS_VARIABLE] = str(ranks)
            start = time.perf_counter()
            fields = on_ranks(engine, run_reference, structure, labels, engine, None, 0)
            seconds = time.perf_counter() - start
            log = next(Path(folder).glob("gpaw.txt")).read_text()
        energy, forces = fields["energy_eV"], np.array(fields["forces_eV_per_angstrom"])
        first = first or (seconds, energy, forces)
        print(f"  {ranks} rank(s): {seconds:7.1f} s  speed-up {first[0] / seconds:4.2f}x  E {energy:.6f} eV  "
              f"dE {energy - first[1]:+.1e} eV  max |dF| {np.abs(forces - first[2]).max():.1e} eV/Å  "
              f"({[line.strip() for line in log.splitlines() if line.startswith('Domain decomposition')] or 'serial'})")


if __name__ == "__main__":
    main()

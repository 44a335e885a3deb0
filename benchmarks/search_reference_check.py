"""Are a structure-search benchmark's reference reconstructions those of DFT? A full search's minima recomputed with
another engine (GPAW PBE by default) at the reference's geometries, or relaxed with it from there.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/search_reference_check.py --data-dir DIR --defect ZnS:v_Zn:-1 \
        [--candidates Unperturbed Bond_Distortion_-60.0%] [--engine '{"name": "gpaw", "mode": "lcao"}'] [--relax]

DIR is a ``benchmarks/structure_search.py`` run. The unperturbed relaxation and the named candidates' reference
relaxations (default: the unperturbed cell and the full search's ground state) are evaluated as single points with
``--engine`` (JSON, parsed as a campaign's ``engine``; default GPAW LCAO dzp PBE at Γ, like the cells' own Γ-only
GFN1-xTB), or with ``--relax`` relaxed with it at fixed lattice (BFGS, ``--fmax``). Prints each minimum's energy
relative to the unperturbed cell with both engines: a reconstruction the reference finds and DFT does not is one no
surrogate pretrained on DFT (CHGNet, SevenNet: MPtrj, PBE) starts out knowing. Nothing is stored. Cost: one SCF per
minimum (or a relaxation), printed per minimum.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import tempfile
import time
from pathlib import Path

from defectscreen.engines import parse_engine_settings
from defectscreen.jobs.reference import run_reference
from defectscreen.jobs.search import UNPERTURBED
from defectscreen.storage import StorageSettings
from defectscreen.storage.query import full_search_minima

DEFAULT_ENGINE = {"name": "gpaw", "mode": "lcao", "basis": "dzp", "xc": "PBE"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--defect", required=True, help="calculation id with a finished full search, e.g. ZnS:v_Zn:-1")
    parser.add_argument("--candidates", nargs="+", help="candidate names (default: Unperturbed and the ground state)")
    parser.add_argument("--engine", default=json.dumps(DEFAULT_ENGINE), help="JSON engine settings")
    parser.add_argument("--relax", action="store_true", help="relax with the engine instead of single points")
    parser.add_argument("--fmax", type=float, default=0.1, help="eV/Å, with --relax")
    args = parser.parse_args()
    store = StorageSettings(data_dir=args.data_dir.resolve()).job_store()
    store.connect()
    minima = full_search_minima(store, args.defect).get(args.defect)
    if minima is None:
        raise SystemExit(f"--defect: no finished full search of {args.defect} in {args.data_dir}")
    ground = min(minima, key=lambda name: minima[name].energy_eV)
    names = args.candidates or list(dict.fromkeys([UNPERTURBED, ground]))
    unknown = [name for name in names if name not in minima]
    if unknown:
        raise SystemExit(f"--candidates: {', '.join(unknown)} not among the converged minima ({', '.join(minima)})")
    engine = parse_engine_settings(json.loads(args.engine))
    reference = minima[UNPERTURBED].engine
    print(f"{args.defect}: reference {reference.name} {json.dumps(reference.settings)}"
          f"\nother engine: {json.dumps(engine.model_dump(mode='json'))}{' (relaxed)' if args.relax else ''}")
    energies = {}
    for name in names:
        task = minima[name]
        start = time.perf_counter()
        with tempfile.TemporaryDirectory() as workdir, contextlib.chdir(workdir):
            result = run_reference(task.structure, task.labels, engine, args.fmax if args.relax else None, 300,
                                   allow_unconverged=True)
        energies[name] = result["energy_eV"]
        print(f"{name}: {len(task.structure)} atoms, E = {energies[name]:.3f} eV ({task.engine.name}: "
              f"{task.energy_eV:.3f} eV){', converged' if result['converged'] else ', not converged'}, "
              f"{time.perf_counter() - start:.0f} s", flush=True)
    print("\n| minimum | reference E − E_unperturbed (eV) | other engine E − E_unperturbed (eV) |\n|---|---|---|")
    for name in names:
        print(f"| {name} | {minima[name].energy_eV - minima[UNPERTURBED].energy_eV:+.3f} | "
              f"{energies[name] - energies.get(UNPERTURBED, energies[names[0]]):+.3f} |")


if __name__ == "__main__":
    main()

"""How much another basis or k-point grid moves a campaign's formation energies: the stored relaxed cells of neutral
defects, their host and the elemental phases recomputed as single points with other engine settings, at the same
geometries, and the formation energy at the rich limit of every exchanged element compared with the stored one.

    DEFECTSCREEN_DATA_DIR=DIR OMP_NUM_THREADS=1 .venv/bin/python benchmarks/engine_cross_check.py \\
        --defects 'a-SiO2#1:v_O@57:0' 'a-SiO2#1:v_O@66:0' --engine '{"mode": "pw"}'      # LCAO campaign vs plane waves
    ... --defects 'a-SiO2#1:v_O@57:0' --engine '{"kpts": [2, 2, 2]}'                    # Γ vs a 2×2×2 grid

E_f = E(defect) − E(host) − Σ_i n_i μ_i with μ_i the energy per atom of element i's stored elemental phase (n_i atoms
added, < 0 removed): the formation energy at the i-rich limit (O-rich for V_O), where no compound enters. ``--engine``
is JSON merged over the campaign's stored engine settings. Neutral cells only (a charged one would need the
correction and the band edges recomputed too). Cost: one SCF per cell with the new settings, printed per cell.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import tempfile
import time

from pymatgen.core import Structure

from defectscreen.engines import parse_engine_settings
from defectscreen.flows.phases import ELEMENT_PHASES, phase_calculation_id
from defectscreen.jobs.reference import run_reference
from defectscreen.schemas import CalculationLabels
from defectscreen.storage import StorageSettings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--defects", nargs="+", required=True, help="calculation ids of neutral defect cells")
    parser.add_argument("--engine", required=True, help="JSON merged over the stored engine settings")
    args = parser.parse_args()
    tasks = StorageSettings.from_environment().job_store()
    tasks.connect()
    relaxed = {doc["output"]["labels"]["calculation_id"]: doc["output"]
               for doc in tasks.query({"output.task_label": "relax"}, properties=["output"])}
    for defect in args.defects:
        if defect not in relaxed:
            raise SystemExit(f"--defects: no relaxed cell {defect!r} in this store")
        if relaxed[defect]["labels"]["charge"] != 0:
            raise SystemExit(f"--defects: {defect} is charged; this check compares neutral cells only")
    changes = {defect: relaxed[defect]["labels"]["element_changes"] for defect in args.defects}
    phases = {element: phase_calculation_id(ELEMENT_PHASES[element][0], ELEMENT_PHASES[element][1]())
              for change in changes.values() for element in change}
    hosts = {defect: f"{relaxed[defect]['labels']['host']}:bulk" for defect in args.defects}
    cells = [*sorted(set(phases.values())), *sorted(set(hosts.values())), *args.defects]
    missing = [cell for cell in cells if cell not in relaxed]
    if missing:
        raise SystemExit(f"not in this store yet: {', '.join(missing)} (run its workers until they finish)")
    stored_engine = relaxed[args.defects[0]]["engine"]["settings"]
    engine = parse_engine_settings({**stored_engine, **json.loads(args.engine)})
    print(f"stored engine: {json.dumps(stored_engine)}\nother engine:  {json.dumps(engine.model_dump(mode='json'))}")
    energies = {}
    for cell in cells:
        task = relaxed[cell]
        start = time.perf_counter()
        with tempfile.TemporaryDirectory() as workdir, contextlib.chdir(workdir):
            energies[cell] = run_reference(Structure.from_dict(task["structure"]), CalculationLabels(**task["labels"]),
                                           engine, None, 0)["energy_eV"]
        print(f"{cell}: {task['n_atoms']} atoms, stored {task['energy_eV']:.3f} eV, other {energies[cell]:.3f} eV "
              f"({time.perf_counter() - start:.0f} s)", flush=True)

    def formation(defect: str, energy: dict[str, float]) -> float:
        return energy[defect] - energy[hosts[defect]] - sum(
            n * energy[phases[element]] / relaxed[phases[element]]["n_atoms"] for element, n in changes[defect].items())

    stored = {cell: relaxed[cell]["energy_eV"] for cell in cells}
    print("\n| defect | E_f stored | E_f other settings | other − stored |\n|---|---|---|---|")
    for defect in args.defects:
        before, after = formation(defect, stored), formation(defect, energies)
        print(f"| {defect} | {before:.3f} eV | {after:.3f} eV | {after - before:+.3f} eV |")


if __name__ == "__main__":
    main()

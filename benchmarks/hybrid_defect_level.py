"""A defect level from PBE and from HSE06 at the PBE geometries (HSE06//PBE), side by side, with what each costs:
C_Si (0/−) in 32-atom Si (the bcc-shaped supercell), GPAW PW 500 eV at Γ, Freysoldt correction with ε = 11.7.

    export DEFECTSCREEN_DATA_DIR=hybrid-level OMP_NUM_THREADS=1
    .venv/bin/defectscreen submit flows/gpaw_si_carbon_hse06.yaml
    .venv/bin/defectscreen submit flows/gpaw_si_carbon_pbe.yaml
    .venv/bin/defectscreen worker & .venv/bin/defectscreen worker; wait      # ~40 min on 2 cores
    .venv/bin/defectscreen build
    .venv/bin/python benchmarks/hybrid_defect_level.py

For each campaign: the bulk cell's Γ gap (the VBM is at Γ; the CBM near X is not folded onto Γ exactly, so the
Γ gap is above the indirect one), the corrected charge-state energies of the defect documents the builder made, the level
ε(0/−) = E_f(−1) − E_f(0) at E_F = VBM (the chemical potentials cancel), where it lies against the gap, and the wall
time of every calculation (a HSE06//PBE relaxation: its PBE part and its HSE06 single point).
"""

from __future__ import annotations

from defectscreen.builders.chain import COLLECTIONS
from defectscreen.schemas.formation import DefectChargeDocument
from defectscreen.schemas.tasks import TaskDocument
from defectscreen.storage.settings import StorageSettings

CAMPAIGNS = ("gpaw-si-carbon-pbe", "gpaw-si-carbon-hse06")


def main() -> None:
    settings = StorageSettings.from_environment()
    tasks = settings.job_store()
    defects = settings.collection("defects", COLLECTIONS["defects"])
    print(f"{'campaign':22s} {'energy':8s} {'Γ gap eV':>8s} {'ε(0/−) eV':>10s}  where  "
          f"{'q=-1 correction eV':>18s}  wall time per cell (s)")
    for campaign in CAMPAIGNS:
        found = [TaskDocument(**doc["output"]) for doc in tasks.query(
            {"output.labels.campaign": campaign, "output.task_label": "relax"}, properties=["output"])]
        if not found:
            print(f"{campaign}: no relaxations in this store (run the campaign first)")
            continue
        bulk = next((task for task in found if task.labels.defect_type == "bulk"), None)
        states = {doc["labels"]["charge"]: DefectChargeDocument(**doc) for doc in defects.query(
            {"labels.campaign": campaign, "labels.defect_name": "C_Si"})}
        if bulk is None or set(states) != {0, -1}:
            print(f"{campaign}: bulk or a charge state missing (done: {sorted(t.labels.calculation_id for t in found)});"
                  " run `defectscreen build` after the campaign")
            continue
        vbm, cbm = bulk.levels.highest_occupied_eV, bulk.levels.lowest_unoccupied_eV
        at_vbm = {q: state.corrected_energy_eV - state.bulk_energy_eV + q * vbm for q, state in states.items()}
        level = at_vbm[-1] - at_vbm[0]
        where = "in the gap" if 0 < level < cbm - vbm else ("above the CBM" if level >= cbm - vbm else "below the VBM")
        energy = bulk.engine.settings["xc"] + (f"//{bulk.geometry.xc}" if bulk.geometry else "")
        costs = ", ".join(f"{t.labels.calculation_id.split(':', 1)[1]} {t.wall_time_s:.0f}"
                          + (f" (relax {t.geometry.wall_time_s:.0f} + single point "
                             f"{t.wall_time_s - t.geometry.wall_time_s:.0f})" if t.geometry else "")
                          for t in sorted(found, key=lambda t: t.labels.calculation_id))
        print(f"{campaign:22s} {energy:8s} {cbm - vbm:8.3f} {level:10.3f}  {where:13s} "
              f"{states[-1].correction.correction_eV:10.3f}  {costs}")


if __name__ == "__main__":
    main()

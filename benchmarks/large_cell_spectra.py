"""Wall time, peak memory and accuracy of the large-cell spectral methods, side by side.

NV⁻ in diamond (../shared/reference-data/nv-diamond, 215-atom PBE force constants, host force constants
from the far field) embedded into ~10³ … 10⁶-atom cells; S(ħω) (σ = 2 meV) by dense diagonalization,
Lanczos, Chebyshev moments and SLEPc (the modes in a window). Every case runs in its own process, so
the peak resident memory printed is that case's. Accuracy is against dense where dense runs.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/large_cell_spectra.py [--atoms 1000 10000 100000 1000000]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

NV = Path(os.environ.get("DEFECTSCREEN_REFERENCE_DATA", Path(__file__).resolve().parents[2] / "shared"
                          / "reference-data")) / "nv-diamond"
SIGMA_MEV = 2.0
GRID = np.arange(0.0, 200.0, 0.25)
#: SLEPc window: 100 meV upwards, narrowed ∝ 1/N so that every size has ~40 modes in it (1727 atoms: 4 meV).
SLEPC_WINDOW_START_MEV, SLEPC_WINDOW_WIDTH_MEV_ATOMS = 100.0, 4.0 * 1727


def slepc_window(n_atoms: int) -> tuple[float, float]:
    return SLEPC_WINDOW_START_MEV, SLEPC_WINDOW_START_MEV + SLEPC_WINDOW_WIDTH_MEV_ATOMS / n_atoms


def run_case(method: str, repetitions: tuple[int, int, int], folder: Path) -> None:
    """One method on one size, in this process; writes a JSON record and the spectrum."""
    from defectscreen.analysis.embedding import source_from_files
    from defectscreen.engines.slepc import window_modes
    from defectscreen.physics.embedding import default_radii, embed_force_constants
    from defectscreen.physics.spectral_function import (
        chebyshev_spectral_function,
        dense_spectral_function,
        huang_rhys_weights,
        lanczos_spectral_function,
    )

    source = source_from_files(NV / "dfpt_FORCE_CONSTANTS.gz", NV / "dfpt_POSCAR.gz", NV / "gs_CONTCAR.gz",
                               NV / "zpl_CONTCAR.gz", "NV- diamond (PBE)")
    start = time.perf_counter()
    cell = embed_force_constants(source.host, source.defect, source.defect_force_constants,
                                 source.host_force_constants, source.displacement_angstrom, repetitions,
                                 default_radii(source.defect.lattice))
    built = time.perf_counter()
    matrix, vector = cell.dynamical_matrix, cell.mass_weighted_displacement
    record = {"method": method, "n_atoms": cell.n_atoms, "nonzeros_per_atom": matrix.nnz / cell.n_atoms}
    if method == "slepc":
        window = slepc_window(cell.n_atoms)
        found = window_modes(matrix, vector, window)
        energies, factors = huang_rhys_weights(found.eigenvalues, found.projections**2)
        record.update(order=len(energies), window_S=float(factors.sum()),
                      max_residual=float(found.relative_residuals.max()) if len(energies) else 0.0)
    else:
        solve = {"dense": dense_spectral_function, "lanczos": lanczos_spectral_function,
                 "chebyshev": chebyshev_spectral_function}[method]
        result = solve(matrix, vector, GRID, SIGMA_MEV)
        record.update(order=result.order, S=result.huang_rhys_total, change=result.convergence_change)
        np.save(folder / f"{method}_{cell.n_atoms}.npy", result.spectral_function_per_meV)
        if method == "dense":
            lower, upper = slepc_window(cell.n_atoms)
            inside = (result.mode_energies_meV > lower) & (result.mode_energies_meV < upper)
            record["window_S"] = float(result.partial_huang_rhys[inside].sum())
    solved = time.perf_counter()
    record.update(build_s=built - start, solve_s=solved - built,
                  peak_MiB=max(resource.getrusage(who).ru_maxrss for who in (resource.RUSAGE_SELF,
                                                                              resource.RUSAGE_CHILDREN)) / 1024)
    (folder / f"{method}_{cell.n_atoms}.json").write_text(json.dumps(record))


def _growth(records: list[dict], key: str) -> str:
    if len(records) < 2:
        return "-"
    n = np.log([r["n_atoms"] for r in records])
    t = np.log([max(r[key], 1e-6) for r in records])
    return f"N^{np.polyfit(n, t, 1)[0]:.2f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--atoms", type=int, nargs="+", default=[1000, 10000, 100000, 1000000])
    parser.add_argument("--dense-max", type=int, default=6000, help="largest cell diagonalized densely")
    parser.add_argument("--slepc-max", type=int, default=20000, help="largest cell given to SLEPc")
    parser.add_argument("--chebyshev-max", type=int, default=200000, help="largest cell for Chebyshev moments")
    parser.add_argument("--methods", nargs="+", default=["dense", "lanczos", "chebyshev", "slepc"])
    parser.add_argument("--case", nargs=5, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.case:
        method, n1, n2, n3, folder = args.case
        run_case(method, (int(n1), int(n2), int(n3)), Path(folder))
        return
    from defectscreen.analysis.embedding import source_from_files
    from defectscreen.physics.embedding import repetitions_for

    source = source_from_files(NV / "dfpt_FORCE_CONSTANTS.gz", NV / "dfpt_POSCAR.gz", NV / "gs_CONTCAR.gz",
                               NV / "zpl_CONTCAR.gz", "NV")
    folder = Path(tempfile.mkdtemp(prefix="large-cell-"))
    records: dict[str, list[dict]] = {"dense": [], "lanczos": [], "chebyshev": [], "slepc": []}
    print(f"{'method':10s} {'atoms':>8s} {'nnz/atom':>8s} {'build s':>8s} {'solve s':>9s} {'peak MiB':>9s} "
          f"{'order':>6s} {'S':>9s}")
    for target in args.atoms:
        reps = repetitions_for(source.defect.lattice, len(source.host.host), target)
        n_atoms = int(np.prod(reps)) * len(source.host.host) - 1
        for method, limit in (("dense", args.dense_max), ("lanczos", None), ("chebyshev", args.chebyshev_max),
                              ("slepc", args.slepc_max)):
            if method not in args.methods or (limit is not None and n_atoms > limit):
                continue
            run = subprocess.run([sys.executable, __file__, "--case", method, *map(str, reps), str(folder)],
                                 capture_output=True, text=True)
            if run.returncode != 0:
                print(f"{method:10s} {n_atoms:8d} failed: {(run.stderr.strip().splitlines() or ['?'])[-1]}")
                continue
            record = json.loads((folder / f"{method}_{n_atoms}.json").read_text())
            records[method].append(record)
            total = record.get("S", record.get("window_S"))
            print(f"{method:10s} {n_atoms:8d} {record['nonzeros_per_atom']:8.0f} {record['build_s']:8.2f} "
                  f"{record['solve_s']:9.2f} {record['peak_MiB']:9.0f} {record['order']:6d} {total:9.5f}", flush=True)
    print("\naccuracy against dense (same σ, same grid):")
    for reference in records["dense"]:
        n = reference["n_atoms"]
        exact = np.load(folder / f"dense_{n}.npy")
        for method in ("lanczos", "chebyshev"):
            path = folder / f"{method}_{n}.npy"
            if path.exists():
                other = json.loads((folder / f"{method}_{n}.json").read_text())
                difference = np.max(np.abs(np.load(path) - exact)) / np.max(exact)
                print(f"  {n:7d} atoms {method:10s} |ΔS|/S = {abs(other['S'] / reference['S'] - 1):.2e}, "
                      f"max|ΔS(ħω)|/max S(ħω) = {difference:.2e}, order {other['order']}")
        slepc = folder / f"slepc_{n}.json"
        if slepc.exists():
            other = json.loads(slepc.read_text())
            print(f"  {n:7d} atoms slepc      window {slepc_window(n)[0]:.0f}–{slepc_window(n)[1]:.2f} meV: "
                  f"{other['order']} modes, "
                  f"S_window {other['window_S']:.6e} vs dense {reference['window_S']:.6e}, "
                  f"max relative residual {other['max_residual']:.1e}")
    print("\ngrowth with atoms (fit over the sizes run):")
    for method, found in records.items():
        print(f"  {method:10s} build {_growth(found, 'build_s')}, solve {_growth(found, 'solve_s')}, "
              f"memory {_growth(found, 'peak_MiB')}")


if __name__ == "__main__":
    main()

"""Capture at a transition level: C̃/W² evaluated exactly (what defect summaries do) against a log-linear
interpolation of the configuration-coordinate job's (ΔE, T) grid (what they did before), at 300 K, and the cost of
one exact evaluation.

    .venv/bin/python benchmarks/capture_at_level.py

Sets: the GaN C_N 0/-1 documentation run (docs/vibronic-properties.md: ΔQ 0.737 amu^1/2 Å, ħω 41.6 meV for C_N⁻
and 34.4 meV for C_N⁰, levels giving ΔE 0.64 eV for the hole and 1.22 eV for the electron, 36-atom cell) and three
typical (ΔQ, ħω_i, ħω_f) sets scanned over ΔE between the grid points.
"""

from __future__ import annotations

import time

import numpy as np

from defectscreen.jobs.ccd import DEFAULT_DELTA_E_EV, DEFAULT_TEMPERATURES_K
from defectscreen.physics.capture import capture_coefficient_unscaled

VOLUME_ANGSTROM3 = 410.99  # 36-atom wurtzite GaN at the prototype lattice
TEMPERATURE_K = 300.0
#: C̃/W² below this (cm³/s per (eV/(amu^1/2 Å))²) is no measurable rate; the deep tail is left out of the statistics.
MEASURABLE_CM3_S = 1e-25


def exact(delta_Q: float, delta_E: float, omega_i: float, omega_f: float) -> float:
    return float(capture_coefficient_unscaled(np.array([TEMPERATURE_K]), delta_Q, delta_E, omega_i, omega_f, 1.0,
                                              VOLUME_ANGSTROM3, 1)[0])


def grid_interpolated(delta_Q: float, delta_E: float, omega_i: float, omega_f: float) -> float:
    grid, temperatures = np.array(DEFAULT_DELTA_E_EV), np.array(DEFAULT_TEMPERATURES_K)
    column = int(np.argmin(np.abs(temperatures - TEMPERATURE_K)))
    table = np.array([capture_coefficient_unscaled(temperatures, delta_Q, e, omega_i, omega_f, 1.0,
                                                   VOLUME_ANGSTROM3, 1)[column] for e in grid])
    return float(np.exp(np.interp(delta_E, grid, np.log(np.maximum(table, 1e-300)))))


def main() -> None:
    print("GaN C_N 0/-1 (documentation run), 300 K")
    for carrier, delta_E, omega_i, omega_f in (("hole", 0.64, 41.6, 34.4), ("electron", 1.22, 34.4, 41.6)):
        old, new = grid_interpolated(0.737, delta_E, omega_i, omega_f), exact(0.737, delta_E, omega_i, omega_f)
        print(f"  {carrier:8s} ΔE {delta_E:.2f} eV: grid {old:.4e}, exact {new:.4e} cm³/s per W², "
              f"exact/grid − 1 = {100 * (new / old - 1):+.1f} %")
    print("typical sets, ΔE 0.25–2.95 eV between grid points: exact/grid − 1")
    scan = np.arange(0.25, 3.0, 0.1)
    for delta_Q, omega_i, omega_f in ((0.7, 35.0, 30.0), (1.5, 30.0, 25.0), (3.0, 20.0, 20.0)):
        pairs = [(exact(delta_Q, e, omega_i, omega_f), grid_interpolated(delta_Q, e, omega_i, omega_f)) for e in scan]
        ratios = np.array([new / old - 1 for new, old in pairs if new > MEASURABLE_CM3_S])
        print(f"  ΔQ {delta_Q} amu^1/2 Å, ħω {omega_i}/{omega_f} meV, {ratios.size} midpoints with C̃/W² > "
              f"{MEASURABLE_CM3_S:g} cm³/s: {100 * ratios.min():+.1f} % to {100 * ratios.max():+.1f} % "
              f"(median {100 * np.median(ratios):+.1f} %)")
    start = time.perf_counter()
    for delta_E in scan:
        exact(1.5, delta_E, 30.0, 25.0)
    print(f"one exact evaluation: {1e3 * (time.perf_counter() - start) / scan.size:.0f} ms")


if __name__ == "__main__":
    main()

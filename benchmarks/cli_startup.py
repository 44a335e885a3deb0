"""How long a command takes to answer: `--help`, a refused option, and `status` on an empty store, beside a bare
Python start-up.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/cli_startup.py [--repeat 5]

Each command runs ``--repeat`` times in a fresh process; the median wall time is printed with its ratio to the
bare interpreter. `--help` and a wrong option import only click; `status` imports FireWorks and the store.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

COMMANDS = {
    "python -c pass (baseline)": [sys.executable, "-c", "pass"],
    "defectscreen --help": [sys.executable, "-m", "defectscreen.cli", "--help"],
    "defectscreen analyze capture --help": [sys.executable, "-m", "defectscreen.cli", "analyze", "capture", "--help"],
    "defectscreen worker --max-jobs -1 (refused)": [sys.executable, "-m", "defectscreen.cli", "worker", "--max-jobs",
                                                    "-1"],
    "defectscreen status (empty store)": [sys.executable, "-m", "defectscreen.cli", "status"],
}


def median_seconds(command: list[str], repeat: int, environment: dict) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run(command, capture_output=True, env=environment, check=False)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    arguments = parser.parse_args()
    with tempfile.TemporaryDirectory() as data_dir:
        environment = {**os.environ, "DEFECTSCREEN_DATA_DIR": data_dir, "OMP_NUM_THREADS": "1"}
        environment.pop("DEFECTSCREEN_MONGO_URI", None)
        baseline = None
        print(f"{'command':48s} {'median s':>9s} {'× python':>9s}")
        for name, command in COMMANDS.items():
            seconds = median_seconds(command, arguments.repeat, environment)
            baseline = baseline or seconds
            print(f"{name:48s} {seconds:9.3f} {seconds / baseline:9.1f}")


if __name__ == "__main__":
    main()

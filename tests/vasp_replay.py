"""Stands in for the VASP executable when replaying real VASP runs (atomate2's VASP_CMD set to
``python vasp_replay.py REFERENCE_ROOT``): custodian starts it in the job's folder like VASP.

It finds the reference calculation whose starting cell (POSCAR.orig) and electron count (NELECT of INCAR.orig) are
the job's, checks that the job wrote the inputs that run had — every INCAR tag and value, the k-points, the cell,
the POTCAR symbols — and copies that run's outputs (vasprun.xml, OUTCAR, CONTCAR; an OSZICAR written from vasprun.xml's
electronic steps, which custodian's validators and handlers read). Any difference is printed to stderr and the exit
code is 1, so custodian stops and the job fails saying why.
"""

from __future__ import annotations

import gzip
import sys
import warnings
from pathlib import Path

import numpy as np
from monty.os.path import zpath
from pymatgen.io.vasp import Incar, Kpoints, Poscar, Vasprun

OUTPUTS = ("vasprun.xml", "OUTCAR", "CONTCAR")


def _text(path: Path) -> str:
    path = Path(zpath(str(path)))
    return (gzip.open(path, "rt") if path.suffix == ".gz" else path.open()).read()


def _same_cell(job: Poscar, reference: Poscar) -> bool:
    a, b = job.structure, reference.structure
    return (job.site_symbols == reference.site_symbols and job.natoms == reference.natoms
            and np.allclose(a.lattice.matrix, b.lattice.matrix, atol=1e-6)
            and np.allclose((a.frac_coords - b.frac_coords + 0.5) % 1 - 0.5, 0, atol=1e-6))


def _incar_differences(job: Incar, reference: Incar) -> list[str]:
    differences = []
    for tag in sorted(set(job) | set(reference)):
        mine, theirs = job.get(tag), reference.get(tag)
        if isinstance(mine, float | int) and isinstance(theirs, float | int) and not isinstance(mine, bool):
            same = abs(float(mine) - float(theirs)) <= 1e-8 * max(1.0, abs(float(theirs)))
        elif isinstance(mine, str) and isinstance(theirs, str):
            same = mine.lower() == theirs.lower()
        else:
            same = mine == theirs
        if not same:
            differences.append(f"INCAR {tag}: job {mine!r}, reference run {theirs!r}")
    return differences


def _kpoints_differences(job: Kpoints, reference: Kpoints) -> list[str]:
    mine = (job.style.name, np.round(job.kpts, 8).tolist(), list(job.kpts_shift), list(job.kpts_weights or []))
    theirs = (reference.style.name, np.round(reference.kpts, 8).tolist(), list(reference.kpts_shift),
              list(reference.kpts_weights or []))
    return [] if mine == theirs else [f"KPOINTS: job {mine}, reference run {theirs}"]


def _potcar_symbols(text: str, marker: str) -> list[str]:
    return [line.split()[2] for line in text.splitlines() if line.strip().startswith(marker)]


def _oszicar(run: Vasprun) -> str:
    lines = ["       N       E                     dE             d eps       ncg     rms          rms(c)"]
    previous = 0.0
    for number, step in enumerate(run.ionic_steps, start=1):
        energy = previous
        for index, electronic in enumerate(step["electronic_steps"], start=1):
            change, energy = electronic["e_fr_energy"] - energy, electronic["e_fr_energy"]
            lines.append(f"RMM: {index:3d}   {energy: .12E}   {change: .5E}   {0.0: .5E}   100   {0.0:.3E}")
        lines.append(f"{number:4d} F= {step['e_fr_energy']: .8E} E0= {step['e_0_energy']: .8E}  d E ="
                     f"{step['e_fr_energy'] - previous: .6E}")
        previous = step["e_fr_energy"]
    return "\n".join(lines) + "\n"


def replay(root: Path, folder: Path) -> list[str]:
    """Copy the matching reference run's outputs into ``folder``; the differences found instead, if any."""
    job_poscar, job_incar = Poscar.from_file(folder / "POSCAR"), Incar.from_file(folder / "INCAR")
    candidates = [d for d in sorted(root.iterdir()) if Path(zpath(str(d / "INCAR.orig"))).is_file()]
    same_cell = [d for d in candidates if _same_cell(job_poscar, Poscar.from_str(_text(d / "POSCAR.orig")))]
    if not same_cell:
        return [f"POSCAR: no reference run under {root} starts from this cell ({job_poscar.structure.formula})"]
    matches = [d for d in same_cell
               if Incar.from_str(_text(d / "INCAR.orig")).get("NELECT") == job_incar.get("NELECT")]
    if len(matches) != 1:
        return [f"INCAR NELECT {job_incar.get('NELECT')}: {len(matches)} reference runs of this cell have it "
                f"({', '.join(d.name for d in same_cell)} start from it)"]
    (reference,) = matches
    differences = _incar_differences(job_incar, Incar.from_str(_text(reference / "INCAR.orig")))
    differences += _kpoints_differences(Kpoints.from_file(folder / "KPOINTS"),
                                        Kpoints.from_str(_text(reference / "KPOINTS.orig")))
    job_potcars = _potcar_symbols((folder / "POTCAR").read_text(), "TITEL")
    reference_potcars = _potcar_symbols(_text(reference / "OUTCAR"), "TITEL")
    if job_potcars != reference_potcars:
        differences.append(f"POTCAR: job {job_potcars}, reference run {reference_potcars}")
    if differences:
        return [f"{reference.name}: {difference}" for difference in differences]
    for name in OUTPUTS:
        (folder / name).write_text(_text(reference / name))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        run = Vasprun(folder / "vasprun.xml", parse_potcar_file=False, parse_dos=False, parse_eigen=False)
    (folder / "OSZICAR").write_text(_oszicar(run))
    (folder / "REPLAYED_FROM").write_text(f"{reference}\n")
    return []


if __name__ == "__main__":
    problems = replay(Path(sys.argv[1]), Path.cwd())
    for problem in problems:
        print(problem, file=sys.stderr)
    print("replayed" if not problems else "inputs differ from the reference run")
    sys.exit(1 if problems else 0)

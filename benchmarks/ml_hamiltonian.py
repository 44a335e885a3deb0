"""Seeds 001/004 on this platform: a machine-learned Hamiltonian for V_O in a-SiO2, trained on defect cells of one
size, against self-consistent GPAW LCAO (PBE, dzp = the seeds' Si/O 2s2p1d) on held-out hosts and defects of that
size and of twice the atoms.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/ml_hamiltonian.py label      # glasses + GPAW LCAO SCFs (resumable)
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/ml_hamiltonian.py evaluate   # fit, predict, energies, forces, cost

``label`` builds bond-switching glasses from β-cristobalite at 2.20 g/cm³ (``--atoms``, twice and with
``--four-times`` four times that), removes
oxygens (neutral V_O: a closed shell), rattles every cell (σ ``--rattle`` Å, the seeds' relaxation-trajectory frames
stand-in) and runs one self-consistent LCAO calculation per cell, ``--processes`` side by side, each cell's H, S,
energy and forces saved to ``--out`` (a rerun skips what is there). ``evaluate`` fits the model on the training
glasses' defect cells only (as the seeds train on V_O cells only; ``--learn delta``: ΔH over GPAW's free-atom-density
H, ``full``: H itself), then for every cell: H error (after the best c·S), occupied-band and gap errors, total energy
and forces from the predicted H (:meth:`LcaoCell.energy_of`, the correction confined above ``--overlap-floor``,
after ``--mixing-steps`` linear-mixing steps)
against the SCF, beside what the floor costs the SCF's own H and what the free-atom H alone gives; ΔE = E(V_O) −
E(host) (the formation energy less μ_O) against the SCF's; the wall time of each step. ``--mlip`` also trains the
per-defect MACE potential (the platform's defaults) on the same training cells and evaluates it side by side.

Cost: an SCF is ~13–25 iterations, each a grid update (∝ N) and a dense diagonalisation (∝ N³, small prefactor
below ~10³ orbitals); the MLH energy is one set-up, one grid update, one diagonalisation and the model (∝ N pairs).
"""

from __future__ import annotations

import argparse
import json
import time
import zlib
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
from ase import Atoms
from pymatgen.core import Lattice, Structure
from pymatgen.io.ase import AseAtomsAdaptor

from defectscreen.analysis.amorphous import bond_switching_glass, defect_cell_in_glass
from defectscreen.engines.base import LcaoSettings
from defectscreen.engines.lcao_hamiltonian import LcaoCell, lcao_ground_state
from defectscreen.mlip.dataset import labelled_frame
from defectscreen.mlip.hamiltonian_model import HamiltonianExample, HamiltonianModel, OrbitalLayout
from defectscreen.mlip.mace import MaceSettings
from defectscreen.mlip.potential import potential_predictor, train_potential


def beta_cristobalite() -> Structure:
    return Structure.from_spacegroup("Fd-3m", Lattice.cubic(7.16), ["Si", "O"], [[0, 0, 0], [0.125, 0.125, 0.125]])


def cells(options) -> list[dict]:
    """Every cell of the experiment: name, role (train / test), glass, removed oxygen (its ordinal among the
    glass's oxygens; None: the host)."""
    plan = []
    glasses = {"train-1": (options.atoms, 1), "train-2": (options.atoms, 2), "test-1": (options.atoms, 3),
               "large-1": (2 * options.atoms, 4)}
    if options.four_times:
        glasses["large-4x"] = (4 * options.atoms, 5)
    rng = np.random.default_rng(0)
    for glass, (atoms, seed) in glasses.items():
        role = "train" if glass.startswith("train") else "test"
        sites = rng.choice(2 * atoms // 3, size=options.defects_per_glass if role == "train" else options.test_defects,
                           replace=False)
        if role == "test":
            plan.append({"name": f"{glass}-host", "glass": glass, "atoms": atoms, "seed": seed, "site": None,
                         "role": role})
        plan += [{"name": f"{glass}-vO{site}", "glass": glass, "atoms": atoms, "seed": seed, "site": int(site),
                  "role": role} for site in sites]
    return plan


def glass(options, atoms: int, seed: int) -> Structure:
    path = options.out / f"glass-{atoms}-{seed}.json"
    if not path.exists():
        document = bond_switching_glass(beta_cristobalite(), atoms, 2.2, seed, options.melting_moves,
                                        options.quenching_moves, 10000.0, 300.0, supercell=options.supercell)
        path.write_text(document.structure.to_json())
    return Structure.from_str(path.read_text(), fmt="json")


def structure_of(options, cell: dict) -> Structure:
    host = glass(options, cell["atoms"], cell["seed"])
    oxygens = [i for i, site in enumerate(host) if site.specie.symbol == "O"]
    structure = host if cell["site"] is None else defect_cell_in_glass(host, oxygens[cell["site"]], None)
    rng = np.random.default_rng(zlib.crc32(cell["name"].encode()))
    return Structure(structure.lattice, structure.species,
                     structure.cart_coords + rng.normal(0, options.rattle, (len(structure), 3)),
                     coords_are_cartesian=True)


def label(arguments: tuple) -> str:
    options, cell = arguments
    path = options.out / f"{cell['name']}.npz"
    if path.exists():
        return f"{cell['name']}: there"
    atoms = AseAtomsAdaptor.get_atoms(structure_of(options, cell))
    state = lcao_ground_state(atoms, LcaoSettings(), options.out / "work" / cell["name"])
    np.savez_compressed(path, hamiltonian_eV=state.hamiltonian_eV, overlap=state.overlap, energy_eV=state.energy_eV,
                        forces=state.forces_eV_per_angstrom, positions=atoms.positions, cell=atoms.cell.array,
                        numbers=atoms.numbers, scf_iterations=state.scf_iterations, wall_time_s=state.wall_time_s)
    return f"{cell['name']}: {len(atoms)} atoms, E {state.energy_eV:.4f} eV, {state.scf_iterations} it, " \
           f"{state.wall_time_s:.0f} s"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("stage", choices=["label", "evaluate"])
    parser.add_argument("--atoms", type=int, default=48, help="training cell (a multiple of 24)")
    parser.add_argument("--supercell", choices=["compact", "diagonal"], default="diagonal",
                        help="how the glass cells are cut from the crystal (analysis.amorphous.crystal_at_density); "
                        "the documented runs: diagonal")
    parser.add_argument("--defects-per-glass", type=int, default=6)
    parser.add_argument("--test-defects", type=int, default=2)
    parser.add_argument("--rattle", type=float, default=0.05)
    parser.add_argument("--melting-moves", type=int, default=1000)
    parser.add_argument("--quenching-moves", type=int, default=3000)
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--radial-count", type=int, default=10)
    parser.add_argument("--overlap-floor", type=float, default=1e-3,
                        help="the learned correction acts where S's eigenvalues exceed this (corrected_eigenpairs)")
    parser.add_argument("--charge-radial-count", type=int, default=4,
                        help="features of the learned site charges behind the electrostatic term (0: none)")
    parser.add_argument("--four-times", action="store_true",
                        help="also a host and --test-defects V_O cells of a glass with four times the atoms")
    parser.add_argument("--glasses", nargs="*", help="evaluate only these glasses' cells (e.g. large-4x); the fit "
                        "always uses every training cell")
    parser.add_argument("--mlip", action="store_true",
                        help="also train the per-defect MACE potential on the same cells, side by side")
    parser.add_argument("--learn", choices=["delta", "full", "both"], default="delta",
                        help="ΔH over the free-atom-density H, H itself, or both side by side")
    parser.add_argument("--loss", choices=["energy", "elements"], default="energy",
                        help="fit the occupied–empty coupling the energy sees (plus --element-weight × elements), or "
                        "the matrix elements alone")
    parser.add_argument("--element-weight", type=float, default=1e-2,
                        help="weight (1/eV) of the element term beside the energy loss")
    parser.add_argument("--band-weight", type=float, default=0.0,
                        help="weight (1/eV) of the occupied and lowest empty band energies beside the energy loss")
    parser.add_argument("--mixing-steps", type=int, default=0,
                        help="linear-mixing steps after the predicted H (LcaoCell.energy_of; 0: the seeds' step)")
    parser.add_argument("--mixing-fraction", type=float, default=0.45)
    parser.add_argument("--out", type=Path, default=Path("ml-hamiltonian-data"))
    options = parser.parse_args()
    options.out.mkdir(parents=True, exist_ok=True)
    plan = cells(options)
    if options.stage == "label":
        for atoms, seed in sorted({(cell["atoms"], cell["seed"]) for cell in plan}):
            start = time.perf_counter()
            glass(options, atoms, seed)
            print(f"glass {atoms} atoms seed {seed}: {time.perf_counter() - start:.0f} s", flush=True)
        with ProcessPoolExecutor(options.processes) as pool:
            for line in pool.map(label, [(options, cell) for cell in sorted(plan, key=lambda c: c["atoms"])]):
                print(line, flush=True)
        return
    evaluate(options, plan)


def _cell(options, cell: dict) -> tuple[Atoms, dict]:
    data = np.load(options.out / f"{cell['name']}.npz")
    atoms = Atoms(numbers=data["numbers"], positions=data["positions"], cell=data["cell"], pbc=True)
    return atoms, {key: data[key] for key in data.files}


def evaluate(options, plan: list[dict]) -> None:
    settings = LcaoSettings()
    missing = [cell["name"] for cell in plan if not (options.out / f"{cell['name']}.npz").exists()]
    if missing:
        print(f"not labelled yet, left out: {', '.join(missing)} (run the label stage)")
    plan = [cell for cell in plan if cell["name"] not in missing]
    start = time.perf_counter()
    prepared = {}
    for cell in plan:
        atoms, data = _cell(options, cell)
        lcao = LcaoCell(atoms, settings, options.out / "work" / "mlh")
        prepared[cell["name"]] = (atoms, data, lcao)
    print(f"set-up of {len(plan)} cells (S and the free-atom-density H): {time.perf_counter() - start:.0f} s")
    basis = next(iter(prepared.values()))[2].basis
    layout = OrbitalLayout.of(basis)
    role = {cell["name"]: cell["role"] for cell in plan}
    rows, references = [], {}
    for baseline in {"delta": (True,), "full": (False,), "both": (True, False)}[options.learn]:
        model = HamiltonianModel(layout, radial_count=options.radial_count,
                                 charge_radial_count=options.charge_radial_count, over_free_atom_density=baseline,
                                 loss=options.loss, element_weight_per_eV=options.element_weight,
                                 band_weight_per_eV=options.band_weight)
        training = [HamiltonianExample(atoms, data["hamiltonian_eV"], lcao.overlap, lcao.atomic_density_hamiltonian_eV,
                                       lcao.occupied_orbitals)
                    for name, (atoms, data, lcao) in prepared.items() if role[name] == "train"]
        start = time.perf_counter()
        model.fit(training)
        print(f"fit on {len(training)} cells ({'ΔH over the free-atom-density H' if baseline else 'H'}, loss "
              f"{options.loss}): {time.perf_counter() - start:.0f} s, {len(model.coefficients)} coefficients",
              flush=True)
        for cell in [c for c in plan if not options.glasses or c["glass"] in options.glasses]:
            atoms, data, lcao = prepared[cell["name"]]
            start = time.perf_counter()
            predicted = model.hamiltonian_of(lcao)
            model_s = time.perf_counter() - start
            reference, overlap = data["hamiltonian_eV"], lcao.overlap
            shift = np.sum((reference - predicted) * overlap) / np.sum(overlap**2)
            error = np.abs(reference - predicted - shift * overlap)
            result = lcao.energy_of(predicted, options.overlap_floor, (options.mixing_fraction,) * options.mixing_steps)
            if cell["name"] not in references:
                references[cell["name"]] = (lcao.energy_of(reference, options.overlap_floor),
                                            lcao.energy_of(lcao.atomic_density_hamiltonian_eV, options.overlap_floor))
            exact, free_atoms = references[cell["name"]]
            occupied = lcao.occupied_orbitals
            bands = exact.band_energies_eV
            bands_predicted, _ = lcao.eigenpairs(predicted + shift * overlap, options.overlap_floor)
            rows.append({"model": "H0 + ΔH" if baseline else "H", "cell": cell["name"], "role": cell["role"],
                         "atoms": len(atoms), "glass_atoms": cell["atoms"], "H_MAE_meV": 1000 * error.mean(),
                         "H_max_meV": 1000 * error.max(),
                         "dE_meV": 1000 * (result.energy_eV - float(data["energy_eV"])),
                         "floor_cost_meV": 1000 * (exact.energy_eV - float(data["energy_eV"])),
                         "free_atom_start_dE_meV": 1000 * (free_atoms.energy_eV - float(data["energy_eV"])),
                         "occupied_band_MAE_meV": 1000 * np.abs(bands[:occupied] - bands_predicted[:occupied]).mean(),
                         "gap_eV": float(bands[occupied] - bands[occupied - 1]),
                         "gap_predicted_eV": float(bands_predicted[occupied] - bands_predicted[occupied - 1]),
                         "force_MAE_meV_per_A": 1000 * np.abs(result.forces_eV_per_angstrom - data["forces"]).mean(),
                         "E_eV": result.energy_eV, "E_scf_eV": float(data["energy_eV"]),
                         "model_s": model_s, "diagonalisation_s": result.diagonalisation_s,
                         "functional_s": result.functional_s, "setup_s": result.setup_s,
                         "scf_s": float(data["wall_time_s"])})
            row = rows[-1]
            print(f"{row['model']:8s} {row['cell']:16s} {row['role']:5s} {row['atoms']:3d} atoms  H MAE "
                  f"{row['H_MAE_meV']:6.2f} meV (max {row['H_max_meV']:6.0f})  ΔE {row['dE_meV']:9.1f} meV "
                  f"({row['dE_meV'] / row['atoms']:7.2f} meV/atom; exact H {row['floor_cost_meV']:5.0f}, free-atom H "
                  f"{row['free_atom_start_dE_meV']:6.0f})  "
                  f"F MAE {row['force_MAE_meV_per_A']:6.0f} meV/Å  bands {row['occupied_band_MAE_meV']:5.0f} meV  "
                  f"gap {row['gap_predicted_eV']:5.2f} ({row['gap_eV']:5.2f}) eV  "
                  f"MLH {row['setup_s'] + model_s + row['diagonalisation_s'] + row['functional_s']:5.1f} s "
                  f"vs SCF {row['scf_s']:5.0f} s", flush=True)
    for model in ("H0 + ΔH", "H"):
        for glass in sorted({cell["glass"] for cell in plan if cell["role"] == "test"}):
            host = next((r for r in rows if r["model"] == model and r["cell"] == f"{glass}-host"), None)
            if host is None:
                continue
            for row in rows:
                if row["model"] == model and row["cell"].startswith(glass) and row is not host:
                    mlh = row["E_eV"] - host["E_eV"]
                    scf = row["E_scf_eV"] - host["E_scf_eV"]
                    print(f"{model:8s} {row['cell']:16s} E(V_O) - E(host): MLH {mlh:8.3f} eV, SCF {scf:8.3f} eV, "
                          f"error {1000 * (mlh - scf):8.1f} meV")
    print_cost(rows)
    if options.mlip:
        rows += mlip_side_by_side(options, plan)
    (options.out / "evaluation.json").write_text(json.dumps(rows, indent=1))


def print_cost(rows: list[dict]) -> None:
    """Mean wall time of the SCF and of the MLH energy per glass size (host and V_O cells), and the growth exponents
    between sizes."""
    sizes = sorted({row["glass_atoms"] for row in rows})
    scf = [np.mean([r["scf_s"] for r in rows if r["glass_atoms"] == n]) for n in sizes]
    mlh = [np.mean([r["setup_s"] + r["model_s"] + r["diagonalisation_s"] + r["functional_s"] for r in rows
                    if r["glass_atoms"] == n]) for n in sizes]
    for index, atoms in enumerate(sizes):
        line = f"cost {atoms:4d} atoms: SCF {scf[index]:7.1f} s, MLH {mlh[index]:6.1f} s, ratio " \
               f"{scf[index] / mlh[index]:4.1f}"
        if index:
            growth = np.log(sizes[index] / sizes[index - 1])
            line += (f"; exponents since {sizes[index - 1]}: SCF {np.log(scf[index] / scf[index - 1]) / growth:4.2f}, "
                     f"MLH {np.log(mlh[index] / mlh[index - 1]) / growth:4.2f}")
        print(line)


def mlip_side_by_side(options, plan: list[dict]) -> list[dict]:
    """The seeds' comparison: a per-defect MACE potential (the platform's default settings, from scratch) trained on
    the same training cells' SCF energies and forces (the last two for validation), on the same test cells."""
    frames = {cell["name"]: labelled_frame(atoms, float(data["energy_eV"]), data["forces"])
              for cell in plan for atoms, data in [_cell(options, cell)]}
    training = [frames[cell["name"]] for cell in plan if cell["role"] == "train"]
    start = time.perf_counter()
    model = train_potential(training[:-2], training[-2:], MaceSettings(), options.out / "work" / "mace")
    print(f"MACE trained on {len(training) - 2} cells (+2 validation): {time.perf_counter() - start:.0f} s")
    predict = potential_predictor(model, "mace")
    energies, forces = predict(list(frames.values()))
    rows = []
    for (name, frame), energy, force in zip(frames.items(), energies, forces):
        cell = next(c for c in plan if c["name"] == name)
        rows.append({"model": "MACE", "cell": name, "role": cell["role"], "atoms": len(frame),
                     "dE_meV": 1000 * (energy - frame.get_potential_energy()), "E_eV": float(energy),
                     "E_scf_eV": frame.get_potential_energy(),
                     "force_MAE_meV_per_A": 1000 * np.abs(force - frame.get_forces()).mean()})
        row = rows[-1]
        print(f"MACE     {name:16s} {row['role']:5s} {row['atoms']:3d} atoms  ΔE {row['dE_meV']:9.1f} meV "
              f"({row['dE_meV'] / row['atoms']:7.2f} meV/atom)  F MAE {row['force_MAE_meV_per_A']:6.0f} meV/Å")
    for glass in sorted({cell["glass"] for cell in plan if cell["role"] == "test"}):
        host = next((r for r in rows if r["cell"] == f"{glass}-host"), None)
        for row in rows:
            if host is not None and row["cell"].startswith(glass) and row is not host:
                error = (row["E_eV"] - host["E_eV"]) - (row["E_scf_eV"] - host["E_scf_eV"])
                print(f"MACE     {row['cell']:16s} E(V_O) - E(host) error {1000 * error:8.1f} meV")
    return rows


if __name__ == "__main__":
    main()

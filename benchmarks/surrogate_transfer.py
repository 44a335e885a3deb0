"""What a structure-search surrogate learns: retrain one surrogate of a benchmark run with other training settings and
redo one defect's surrogate search.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/surrogate_transfer.py --data-dir DIR --defect CdTe:v_Cd:0 \
        [--frames-per-relaxation 10] [--epochs 20] [--starting-model 7net-0] [--with-own-full-search]

DIR is a finished ``benchmarks/structure_search.py`` run. The surrogate serving the defect's host and charge state is
fine-tuned again (``SurrogateMaker``) on the same stored reference relaxations (its own host's bulk and unperturbed
cells, the related hosts' bulk cells and full searches), with the frames, epochs and starting model given (CHGNet
0.3.0, or SevenNet-0 / SevenNet-l3i5: the lever of a stronger pretrained start); ``--with-own-full-search``
also gives it the defect's own full search (a leak the benchmark never allows: an upper bound, which separates "the
model cannot hold the reconstruction" from "it does not transfer from the related hosts"). The defect's candidates
are then relaxed with it and clustered as in a campaign (``surrogate_minima``) and printed beside the GFN1-xTB
energies of the full search. Nothing is written to the store and no reference relaxation is run: the last line says
whether the surrogate gives the full search's ground-state candidate a minimum of its own (which a campaign sends to
the reference) or puts it in the unperturbed cell's cluster, and which unique minimum it puts lowest.
"""

from __future__ import annotations

import argparse
import tempfile
from contextlib import chdir
from pathlib import Path

from defectscreen.flows.campaign import load_campaign
from defectscreen.flows.steps.structure_search import surrogate_id
from defectscreen.jobs.search import UNPERTURBED, SurrogateMaker, surrogate_minima
from defectscreen.mlip.surrogate import stored_surrogate
from defectscreen.schemas import TaskDocument
from defectscreen.schemas.search import FullSearchDocument, StructureSearchDocument, SurrogateDocument
from defectscreen.storage import StorageSettings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--defect", required=True, help="calculation id, e.g. CdTe:v_Cd:0")
    parser.add_argument("--frames-per-relaxation", type=int, default=10)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--starting-model", default="chgnet-0.3.0", help="search.surrogate.starting_model: "
                        "chgnet-0.3.0, 7net-0, 7net-l3i5 or a model file")
    parser.add_argument("--with-own-full-search", action="store_true")
    args = parser.parse_args()
    campaign, _ = load_campaign(args.data_dir / "campaign.yaml")
    store = StorageSettings(data_dir=args.data_dir.resolve()).job_store()
    store.connect()

    def stored(cls, criteria: dict) -> tuple[str, dict]:
        document = store.query_one({"output.@class": cls.__name__, **criteria}, properties=["uuid", "output"])
        if document is None:
            raise SystemExit(f"--data-dir: no {cls.__name__} with {criteria} in {args.data_dir}; run "
                             f"benchmarks/structure_search.py there first")
        return document["uuid"], document["output"]

    search = StructureSearchDocument.model_validate(stored(StructureSearchDocument,
                                                           {"output.calculation_id": args.defect})[1])
    labels = search.labels
    sid = surrogate_id(labels.host, labels.charge)
    old = stored(SurrogateDocument, {"output.surrogate_id": sid})[1]  # its model stays in the blob store
    parents = list(dict.fromkeys(source["uuid"] for source in old["training_sources"]))
    outputs = [store.get_output(uuid, which="last", load=True) for uuid in parents]  # a search's comes deserialized
    searches = [o for o in outputs if isinstance(o, FullSearchDocument)]
    tasks = [TaskDocument.model_validate(o) for o in outputs if not isinstance(o, FullSearchDocument)]
    bulks = [t for t in tasks if t.labels.defect_type == "bulk"]
    own_bulk = next(t for t in bulks if t.labels.host == labels.host)
    full_uuid, full = stored(FullSearchDocument, {"output.calculation_id": args.defect})
    full = FullSearchDocument.model_validate(full)
    if args.with_own_full_search:
        parents.append(full_uuid)
        searches.append(full)
    settings = old["settings"] | {"frames_per_relaxation": args.frames_per_relaxation, "epochs": args.epochs,
                                  "starting_model": args.starting_model}
    with tempfile.TemporaryDirectory() as workdir, chdir(workdir):
        surrogate = SurrogateMaker.make.original(
            SurrogateMaker(settings=settings), own_bulk, [t for t in tasks if t.labels.defect_type != "bulk"],
            parents, sid, old["campaign_sha256"], related_bulks=[b for b in bulks if b is not own_bulk],
            related_searches=searches)
        model = stored_surrogate(surrogate.model_base64, args.starting_model, Path(workdir) / "surrogate")
        unperturbed = TaskDocument.model_validate(store.get_output(search.unperturbed_uuid, which="last", load=True))
        relaxed, distances, minimum_of = surrogate_minima(model, unperturbed.input_structure,
                                                          own_bulk.input_structure, labels, campaign.search)
    print(f"{sid}: {args.starting_model}, {surrogate.n_training_frames} training frames ({args.frames_per_relaxation} "
          f"per relaxation), {args.epochs} epochs, {surrogate.wall_time_s:.0f} s; held-out errors starting model "
          f"{_errors(surrogate.validation_errors_starting_model)}, fine-tuned {_errors(surrogate.validation_errors)}"
          f"{' (own full search included)' if args.with_own_full_search else ''}")
    reference = {UNPERTURBED: unperturbed.energy_eV} | {t.search_candidate: t.energy_eV for t in full.relaxations
                                                       if t.converged}
    names = list(relaxed)
    print(f"{'candidate':28s} {'E_surr − E_unp (eV)':>19s} {'unique minimum':>24s} {'cosine dist.':>12s} "
          f"{'E_xTB − E_unp (eV), full search':>31s}")
    for i, name in enumerate(names):
        xtb = "(not converged)" if name not in reference else f"{reference[name] - unperturbed.energy_eV:.3f}"
        print(f"{name:28s} {relaxed[name][1] - relaxed[UNPERTURBED][1]:19.3f} {names[minimum_of[i]]:>24s} "
              f"{distances[i, minimum_of[i]]:12.1e} {xtb:>31s}")
    ground = min(reference, key=reference.get)
    g, u = names.index(ground), names.index(UNPERTURBED)
    apart = minimum_of[g] != minimum_of[u]
    print(f"full-search ground state {ground} ({reference[ground] - unperturbed.energy_eV:.3f} eV); with the surrogate "
          f"it ends {distances[g, u]:.1e} (cosine distance) from the unperturbed cell, "
          f"{relaxed[ground][1] - relaxed[UNPERTURBED][1]:+.3f} eV: "
          f"{'a minimum of its own' if apart else 'in the unperturbed cell’s cluster'} (threshold "
          f"{campaign.search.cosine_distance_threshold:g}); "
          f"{len(set(minimum_of))} unique minima, lowest {names[min(minimum_of, key=lambda i: relaxed[names[i]][1])]}")


def _errors(errors: dict[str, float]) -> str:
    return f"{errors['energy_mae_meV_per_atom']:.1f} meV/atom, {errors['force_mae_meV_per_angstrom']:.0f} meV/Å"


if __name__ == "__main__":
    main()

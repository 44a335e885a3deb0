"""``defectscreen potential``: train a per-defect potential on your own DFT frames and take Γ phonons with it."""

from __future__ import annotations

import json
from pathlib import Path

import click

from defectscreen.cli.options import FILE, POSITIVE, output_folder, output_path, storage_settings
from defectscreen.defaults import (
    DEFAULT_BATCH_SIZE,
    DEFAULT_DISPLACEMENT_ANGSTROM,
    DEFAULT_FINE_TUNING_BATCH_SIZE,
    DEFAULT_FINE_TUNING_HUBER_DELTA_EV,
    DEFAULT_FINE_TUNING_LEARNING_RATE,
    DEFAULT_FINE_TUNING_STEPS,
    DEFAULT_LEARNING_RATE,
    DEFAULT_MAX_EPOCHS,
    DEFAULT_MAX_VALIDATION_FORCE_RMSE_MEV_PER_ANGSTROM,
)

SUMMARY_FIELDS = (
    "n_train", "n_validation", "train_force_rmse_meV_per_angstrom", "validation_force_rmse_meV_per_angstrom",
    "validation_energy_mae_meV_per_atom", "validation_reference_force_rms_meV_per_angstrom", "usable", "flag_reason",
    "model_sha256", "training_wall_time_s", "foundation_model",
)


@click.group()
def potential() -> None:
    """Per-defect machine-learned potentials: train on your own DFT frames, take Γ phonons with them, and list or
    plot the campaigns' potentials."""


@potential.command(name="list")
@click.option("--host", help="host label, e.g. GaN")
@click.option("--json", "as_json", is_flag=True, help="print the rows as JSON")
def list_potentials(host, as_json) -> None:
    """Stored per-defect potentials of the campaigns: errors, and phonon errors where validated."""
    from defectscreen.storage.query import POTENTIAL_FIELDS, potential_rows

    store = storage_settings().job_store()
    store.connect()
    rows = potential_rows(store, host)
    if as_json:
        click.echo(json.dumps(rows, indent=1))
        return
    click.echo("\t".join(POTENTIAL_FIELDS[:-1]))
    for row in rows:
        click.echo("\t".join(f"{row[f]:.3g}" if isinstance(row[f], float) else str(row[f]) for f in POTENTIAL_FIELDS[:-1]))


@potential.command()
@click.argument("calculation_id")
@click.option("--out", "path", type=click.Path(dir_okay=False), default="phonons.png", show_default=True,
              callback=output_path, help="figure file (png/svg/pdf)")
def plot(calculation_id, path) -> None:
    """Figure of a validated defect cell (e.g. GaN:C_N:0): the potential's Γ frequencies against the engine's and
    S(ħω) from both."""
    from defectscreen.reports.plots import plot_phonon_validation
    from defectscreen.schemas.phonons import HuangRhysDocument, PhononDocument
    from defectscreen.storage.query import phonon_validation

    store = storage_settings().job_store()
    store.connect()
    try:
        engine, learned, huang_rhys = phonon_validation(store, calculation_id)
    except LookupError as error:
        raise click.ClickException(str(error)) from None
    written = plot_phonon_validation(PhononDocument.model_validate(engine), PhononDocument.model_validate(learned),
                                     None if huang_rhys is None else HuangRhysDocument.model_validate(huang_rhys), path)
    click.echo(f"wrote {written}")


@potential.command()
@click.argument("frames", type=FILE)
@click.option("--out", "out_dir", type=click.Path(file_okay=False), default="potential", show_default=True,
              callback=output_folder, help="folder for the model, the training log and potential.json")
@click.option("--backend", type=click.Choice(["mace", "nequip", "allegro", "sevennet"]),
              help="[default: by --functional: sevennet for PBE labels, mace otherwise] sevennet fine-tunes a SevenNet "
                   "foundation model (7net-0 unless --foundation-model says otherwise); mace trains from scratch")
@click.option("--functional", help="functional of the frames' energies and forces (PBE, HSE06, …): with no "
              "--backend, PBE labels (the foundation model's own functional) fine-tune SevenNet-0, any other or none "
              "stated train MACE from scratch")
@click.option("--validation-fraction", type=click.FloatRange(0.0, 1.0, min_open=True, max_open=True), default=0.15,
              show_default=True, help="share of the frames held out to measure the errors")
@click.option("--max-epochs", type=click.IntRange(min=1),
              help=f"[default: {DEFAULT_MAX_EPOCHS}; fine-tuning (sevennet): the epochs that make "
                   f"{DEFAULT_FINE_TUNING_STEPS} steps]")
@click.option("--batch-size", type=click.IntRange(min=1),
              help=f"frames per optimiser step [default: {DEFAULT_BATCH_SIZE}; fine-tuning (sevennet): "
                   f"{DEFAULT_FINE_TUNING_BATCH_SIZE}]")
@click.option("--learning-rate", type=POSITIVE,
              help=f"Adam's initial learning rate [default: {DEFAULT_LEARNING_RATE}; fine-tuning (sevennet): "
                   f"{DEFAULT_FINE_TUNING_LEARNING_RATE}; a lower one keeps more of the foundation model]")
@click.option("--huber-delta-eV", "huber_delta", type=POSITIVE,
              help="fine-tuning (sevennet) only: δ of the Huber loss (eV; eV/Å for forces) [default: "
                   f"{DEFAULT_FINE_TUNING_HUBER_DELTA_EV}]; errors above it count linearly, so 1.0 makes the loss "
                   "squared (what brought the NV⁻ S within 5 % on its HSE frames: docs/per-defect-potentials.md)")
@click.option("--seed", type=int, default=0, show_default=True, help="seed of the train/validation split")
@click.option("--threshold-meV", "threshold", type=POSITIVE,
              default=DEFAULT_MAX_VALIDATION_FORCE_RMSE_MEV_PER_ANGSTROM, show_default=True,
              help="validation force RMSE (meV/Å) above which the model is flagged")
@click.option("--relative-threshold", type=POSITIVE,
              help="also flag a model whose validation force RMSE exceeds this fraction of the RMS reference force")
@click.option("--foundation-model", help="model file (MACE), checkpoint (NequIP, SevenNet) or shipped SevenNet model "
              "(7net-0, 7net-l3i5) to fine-tune from")
@click.option("--json", "as_json", is_flag=True, help="print one JSON summary object")
def train(frames, out_dir, backend, functional, validation_fraction, max_epochs, batch_size, learning_rate,
          huber_delta, seed, threshold, relative_threshold, foundation_model, as_json) -> None:
    """Train on FRAMES (extended XYZ with energies and forces, gzip accepted), hold out a validation set,
    and report the errors measured on it."""
    from defectscreen.analysis.potential import train_on_frames_file
    from defectscreen.mlip.mace import MaceSettings
    from defectscreen.mlip.nequip_backend import NequipSettings
    from defectscreen.mlip.potential import PotentialRecipe, route_for_labels
    from defectscreen.mlip.sevennet_backend import SevennetSettings
    from defectscreen.readers import InputFileError

    given = {name: value for name, value in (("max_epochs", max_epochs), ("batch_size", batch_size),
                                             ("learning_rate", learning_rate), ("foundation_model", foundation_model),
                                             ("huber_delta_eV", huber_delta))
             if value is not None}
    if backend is None:
        backend = PotentialRecipe(**route_for_labels(functional and functional.upper())).training.backend
    if huber_delta is not None and backend != "sevennet":
        raise click.UsageError(f"--huber-delta-eV: only fine-tuning (--backend sevennet) has a Huber loss; {backend} "
                               "trains on a squared loss — leave it out or add --backend sevennet")
    training = (MaceSettings(**given) if backend == "mace" else SevennetSettings(**given) if backend == "sevennet"
                else NequipSettings(model=backend, **given))
    recipe = PotentialRecipe(validation_fraction=validation_fraction, seed=seed,
                             max_validation_force_rmse_meV_per_angstrom=threshold,
                             max_validation_relative_force_rmse=relative_threshold, training=training)
    try:
        document = train_on_frames_file(Path(frames), recipe, Path(out_dir), Path(frames).name)
    except (InputFileError, ValueError, FileNotFoundError) as error:
        raise click.ClickException(str(error)) from None
    model = next(Path(out_dir).rglob(document.model_file_name))
    (Path(out_dir) / "potential.json").write_text(document.model_dump_json(indent=1, exclude={"model_base64"}))
    summary = {"model": str(model), **document.model_dump(mode="json", include=set(SUMMARY_FIELDS))}
    if as_json:
        click.echo(json.dumps(summary))
        return
    click.echo(f"model {model} (sha256 {document.model_sha256[:12]}…), {document.n_train} training / "
               f"{document.n_validation} validation frames, {document.training_wall_time_s:.0f} s")
    click.echo(f"force RMSE: train {document.train_force_rmse_meV_per_angstrom:.1f} meV/Å, validation "
               f"{document.validation_force_rmse_meV_per_angstrom:.1f} meV/Å (RMS reference force "
               f"{document.validation_reference_force_rms_meV_per_angstrom:.1f}); energy MAE (validation) "
               f"{document.validation_energy_mae_meV_per_atom:.2f} meV/atom")
    if document.foundation_model is not None:
        click.echo(f"fine-tuned from {document.foundation_model.name} ({document.foundation_model.source}, sha256 "
                   f"{document.foundation_model.sha256[:12]}…)")
    if not document.usable:
        click.echo(f"FLAGGED: {document.flag_reason}")


@potential.command()
@click.option("--model", "model_file", type=FILE, required=True, help="model file from `defectscreen potential train`")
@click.option("--backend", type=click.Choice(["mace", "nequip", "sevennet"]), default="mace", show_default=True,
              help="nequip also for Allegro checkpoints")
@click.option("--structure", type=FILE, required=True, help="relaxed supercell (POSCAR/CONTCAR/CIF) matching the model")
@click.option("--displacement", type=click.FloatRange(0.001, 0.1), default=DEFAULT_DISPLACEMENT_ANGSTROM,
              show_default=True, help="finite-displacement amplitude in Å (0.001 to 0.1)")
@click.option("--out", "--fc-out", "fc_out", type=click.Path(dir_okay=False), default="FORCE_CONSTANTS", show_default=True,
              callback=output_path, help="phonopy FORCE_CONSTANTS, readable by `defectscreen analyze lineshape --fc`")
@click.option("--reference-frames", type=FILE,
              help="labelled frames (extended XYZ) near STRUCTURE, e.g. DFT cells displaced by ≤ 0.05 Å: each "
                   "imaginary mode and the softest real one are checked against the curvature they give along it")
@click.option("--reference-within", type=click.FloatRange(0.001, 0.5), default=0.06, show_default=True,
              help="Å; frames with an atom farther than this from STRUCTURE are left out of the check")
@click.option("--json", "as_json", is_flag=True, help="print one JSON object: frequencies and localized modes")
def phonons(model_file, backend, structure, displacement, fc_out, reference_frames, reference_within, as_json) -> None:
    """Γ phonons of STRUCTURE with forces from the model (± displacements, acoustic sum rule enforced).

    With --reference-frames, the curvature along each imaginary mode and along the softest real mode is fitted to
    the reference cells near the structure (force along the mode against displacement along it): an imaginary mode
    where it is positive, or a real mode whose curvature it contradicts (too soft or too stiff), is the model's
    error; negative along an imaginary mode, the structure is not a minimum of the reference either."""
    from phonopy.file_IO import write_FORCE_CONSTANTS

    from defectscreen.analysis.potential import check_soft_modes, phonon_flags, phonons_from_model
    from defectscreen.physics.mode_comparison import LOCALIZED_IPR_FACTOR, localized_mode_indices
    from defectscreen.physics.normal_modes import inverse_participation_ratio, optical_mode_indices
    from defectscreen.readers import InputFileError

    try:
        model_phonons = phonons_from_model(Path(model_file), backend, Path(structure), displacement)
    except (InputFileError, ValueError, FileNotFoundError) as error:
        raise click.ClickException(str(error)) from None
    cell, force_constants, modes, n_evaluations, residual_force = model_phonons
    write_FORCE_CONSTANTS(force_constants, filename=fc_out)
    try:
        checks = (check_soft_modes(model_phonons, Path(reference_frames), reference_within)
                  if reference_frames else [])
    except (InputFileError, ValueError) as error:
        raise click.ClickException(f"{error} (the force constants are written: {fc_out})") from None
    ipr = inverse_participation_ratio(modes.eigenvectors)
    localized = localized_mode_indices(modes.eigenvectors)
    result = {
        "n_atoms": len(cell), "n_force_evaluations": n_evaluations, "force_constants": fc_out,
        "largest_residual_force_meV_per_angstrom": round(residual_force, 2),
        "frequencies_meV": [round(float(f), 4) for f in modes.frequencies_meV],
        "localized_modes": [{"index": k, "frequency_meV": round(float(modes.frequencies_meV[k]), 3),
                             "ipr": round(float(ipr[k]), 4)} for k in localized],
    }
    result["flags"] = phonon_flags(modes.frequencies_meV, residual_force, checks, f"within {reference_within} Å")
    if checks:
        result["mode_curvatures"] = [check.record().model_dump(mode="json") for check in checks]
    if as_json:
        click.echo(json.dumps(result))
        return
    click.echo(f"{len(cell)} atoms, {n_evaluations} force evaluations; force constants in {fc_out}; the model's "
               f"largest force on the structure {residual_force:.1f} meV/Å (0 at its minimum)")
    optical = modes.frequencies_meV[optical_mode_indices(modes.frequencies_meV)]
    click.echo(f"optical ħω {optical[0]:.2f} … {optical[-1]:.2f} meV; localized modes "
               f"(IPR > {LOCALIZED_IPR_FACTOR:g}/N): " + ", ".join(f"{m['frequency_meV']:.1f} meV" for m in result["localized_modes"]))
    for flag in result["flags"]:
        click.echo(f"not physics: {flag}")


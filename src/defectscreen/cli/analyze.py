"""``defectscreen analyze``: lineshapes, capture coefficients and phonon dispersions from a user's own phonopy/VASP
files."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import click

from defectscreen.cli.options import FILE, NON_NEGATIVE, POSITIVE, console, ordered_pair, output_path
from defectscreen.defaults import (
    DEFAULT_CAPTURE_SIGMA_MEV,
    DEFAULT_GAMMA_MEV,
    DEFAULT_MIN_PHONON_ENERGY_MEV,
    DEFAULT_SIGMA_MEV,
    EMBEDDING_METHODS,
)


@click.group()
def analyze() -> None:
    """Analyse files from your own calculations (gzip accepted) without a campaign."""


def _write_rows(path: Path, header: list[str], columns: list[list[float]]) -> None:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(zip(*columns))


def _echo_summary(summary: dict, key_width: int) -> None:
    """A summary as 'key value' lines, its flags (why a number is not physics) as one line each after them."""
    for key, value in summary.items():
        if key != "flags":
            click.echo(f"{key:{key_width}s} {value}")
    for flag in summary.get("flags", []):
        console().print(f"[yellow]not physics:[/] {flag}", soft_wrap=True)


@analyze.command()
@click.option("--fc", "force_constants", type=FILE, required=True, help="phonopy FORCE_CONSTANTS (full) of the ground state")
@click.option("--cell", type=FILE, required=True, help="POSCAR of the supercell the force constants belong to")
@click.option("--ground", type=FILE, required=True, help="relaxed ground-state structure (CONTCAR)")
@click.option("--excited", type=FILE, help="relaxed excited-state structure (CONTCAR): displacement mode")
@click.option("--excited-forces", type=FILE, help="vasprun.xml of the excited state at the ground geometry: force mode")
@click.option("--zpl", "zpl_eV", type=POSITIVE, help="zero-phonon-line energy in eV (needed for I(ħω))")
@click.option("--sigma-meV", "sigma_meV", type=POSITIVE, default=DEFAULT_SIGMA_MEV, show_default=True, help="Gaussian width of each phonon δ")
@click.option("--gamma-meV", "gamma_meV", type=NON_NEGATIVE, default=DEFAULT_GAMMA_MEV, show_default=True, help="Lorentzian half width of the ZPL")
@click.option("--temperature", "temperature_K", type=NON_NEGATIVE, default=0.0, show_default=True, help="temperature in K")
@click.option("--kind", type=click.Choice(["emission", "absorption"]), default="emission", show_default=True)
@click.option("--min-phonon-meV", "min_phonon_meV", type=NON_NEGATIVE, default=DEFAULT_MIN_PHONON_ENERGY_MEV, show_default=True, help="modes below this carry no S_k")
@click.option("--out", "--output", "prefix", default="lineshape", show_default=True, callback=output_path, metavar="PREFIX",
              help="writes PREFIX.json (document) and PREFIX_spectrum.csv (--output: the old name)")
@click.option("--json", "as_json", is_flag=True, help="print one JSON summary object")
@click.option("--plot", "plot_path", type=click.Path(dir_okay=False), callback=output_path, help="write a figure (png/svg/pdf)")
def lineshape(force_constants, cell, ground, excited, excited_forces, zpl_eV, sigma_meV, gamma_meV, temperature_K, kind,
              min_phonon_meV, prefix, as_json, plot_path) -> None:
    """Huang–Rhys factors and the PL/absorption lineshape (generating-function method of Alkauskas et al.,
    New J. Phys. 16, 073026 (2014))."""
    from defectscreen.analysis.lineshape import analyze_lineshape_files
    from defectscreen.readers import InputFileError
    from defectscreen.reports.plots import plot_lineshape

    try:
        document = analyze_lineshape_files(force_constants, cell, ground, excited, excited_forces, zpl_energy_eV=zpl_eV,
                                           sigma_meV=sigma_meV, gamma_meV=gamma_meV, temperature_K=temperature_K,
                                           kind=kind, min_phonon_energy_meV=min_phonon_meV)
    except (InputFileError, ValueError) as error:
        raise click.ClickException(str(error)) from None
    document_path, spectrum_path = Path(f"{prefix}.json"), Path(f"{prefix}_spectrum.csv")
    document_path.write_text(document.model_dump_json(indent=1))
    if document.photon_energy_eV is not None:
        _write_rows(spectrum_path, ["photon_energy_eV", "intensity_per_eV"], [document.photon_energy_eV, document.intensity_per_eV])
    else:
        _write_rows(spectrum_path, ["phonon_energy_meV", "spectral_function_per_meV"],
                    [document.phonon_energy_meV, document.spectral_function_per_meV])
    if plot_path:
        plot_lineshape(document, plot_path, title=Path(ground).name + " → " + Path(excited or excited_forces).name)
    summary = document.model_dump(include={
        "kind", "temperature_K", "zpl_energy_eV", "sigma_meV", "gamma_meV", "huang_rhys_total", "huang_rhys_thermal",
        "debye_waller", "delta_Q_amu_half_angstrom", "delta_R_angstrom", "coupling_source", "n_atoms", "n_modes_excluded",
        "numerics"})
    summary.update(document=str(document_path), spectrum=str(spectrum_path), plot=plot_path)
    if as_json:
        click.echo(json.dumps(summary))
    else:
        for key, value in summary.items():
            click.echo(f"{key:28s} {value}")


def _temperatures(spec: str) -> tuple[float, ...]:
    try:
        if ":" in spec:
            start, stop, step = (float(x) for x in spec.split(":"))
            if step <= 0 or stop < start or (stop - start) / step > 10_000:
                raise ValueError
            values = tuple(start + i * step for i in range(int(round((stop - start) / step)) + 1))
        else:
            values = tuple(float(x) for x in spec.split(","))
        if min(values) <= 0:
            raise ValueError
    except ValueError:
        raise click.BadParameter(f"{spec!r}: temperatures in K above 0, as start:stop:step with a positive step "
                                 "(e.g. 25:800:25) or a comma list (100,300)", param_hint="--temperatures") from None
    return values


def _defect_site(text: str | None) -> tuple[float, float, float] | None:
    if text is None:
        return None
    try:
        x, y, z = (float(v) for v in text.split(","))
    except ValueError:
        raise click.BadParameter(f"{text!r}: give three fractional coordinates, e.g. 0.5,0.5,0.5",
                                 param_hint="--defect-site") from None
    return x, y, z


@analyze.command()
@click.option("--initial", type=FILE, required=True, help="relaxed structure of the state before capture")
@click.option("--final", type=FILE, required=True, help="relaxed structure of the state after capture")
@click.option("--ccd-initial", multiple=True, type=FILE, help="vasprun.xml of initial-state points on the path (repeat)")
@click.option("--ccd-final", multiple=True, type=FILE, help="vasprun.xml of final-state points on the path (repeat)")
@click.option("--omega-i-meV", "omega_i_meV", type=POSITIVE, help="ħω_i when no initial-state CCD points are given")
@click.option("--omega-f-meV", "omega_f_meV", type=POSITIVE, help="ħω_f when no final-state CCD points are given")
@click.option("--wswq", "wswq_dirs", multiple=True, type=click.Path(exists=True, file_okay=False), help="folder with WSWQ + vasprun.xml of a displaced geometry (repeat)")
@click.option("--reference-vasprun", type=FILE, help="vasprun.xml whose orbitals the WSWQ overlaps use (Q of its geometry)")
@click.option("--defect-band", type=click.IntRange(min=1), help="defect orbital band index (1-based)")
@click.option("--bulk-band", "bulk_bands", multiple=True, type=click.IntRange(min=1), help="band-edge band index (1-based, repeat)")
@click.option("--spin", type=click.IntRange(1, 2), default=1, show_default=True, help="spin channel, 1 up, 2 down")
@click.option("--kpoint", type=click.IntRange(min=1), default=1, show_default=True, help="k-point index (1-based)")
@click.option("--w-if", "W_if", type=float, help="electron–phonon coupling in eV/(amu^1/2 Å), instead of WSWQ files")
@click.option("--fc-initial", type=FILE, help="phonopy FORCE_CONSTANTS of the relaxed initial state: multi-mode C(T)")
@click.option("--fc-final", type=FILE, help="phonopy FORCE_CONSTANTS of the relaxed final state: multi-mode C(T)")
@click.option("--multimode-sigma-meV", "multimode_sigma_meV", type=POSITIVE, default=DEFAULT_CAPTURE_SIGMA_MEV, show_default=True,
              help="Gaussian width of the energy δ in the multi-mode sum")
@click.option("--duschinsky", is_flag=True, help="also the rate with both states' phonons and the Duschinsky rotation (slow: minutes)")
@click.option("--delta-e", "delta_E_eV", type=POSITIVE, required=True, help="transition energy ΔE in eV")
@click.option("--degeneracy", "-g", type=click.IntRange(min=1), default=1, show_default=True, help="degeneracy factor g of the final state")
@click.option("--Z", "Z", type=int, default=0, show_default=True, help="defect charge / carrier charge (< 0 attractive)")
@click.option("--effective-mass", type=POSITIVE, help="carrier effective mass m*/m_e")
@click.option("--dielectric", type=click.FloatRange(min=1.0), help="static dielectric constant ε (≥ 1)")
@click.option("--scaling", type=POSITIVE, default=1.0, show_default=True, help="charged-supercell scaling s (C = f C̃ / s)")
@click.option("--scaling-wavecar", type=FILE, help="WAVECAR of the relaxed initial state: s from its --bulk-band densities")
@click.option("--defect-site", help="fractional coordinates x,y,z of the defect (with --scaling-wavecar)")
@click.option("--carrier", type=click.Choice(["electron", "hole"]), default="hole", show_default=True)
@click.option("--temperatures", default="25:800:25", show_default=True, help="K: start:stop:step or a comma list")
@click.option("--out", "--output", "prefix", default="capture", show_default=True, callback=output_path, metavar="PREFIX",
              help="writes PREFIX.json (document) (--output: the old name)")
@click.option("--json", "as_json", is_flag=True, help="print one JSON summary object")
@click.option("--plot", "plot_path", type=click.Path(dir_okay=False), callback=output_path, help="write the CCD and C(T) figure")
def capture(initial, final, ccd_initial, ccd_final, omega_i_meV, omega_f_meV, wswq_dirs, reference_vasprun,
            defect_band, bulk_bands, spin, kpoint, W_if, fc_initial, fc_final, multimode_sigma_meV, duschinsky, delta_E_eV, degeneracy, Z, effective_mass, dielectric,
            scaling, scaling_wavecar, defect_site, carrier, temperatures, prefix, as_json, plot_path) -> None:
    """Nonradiative capture coefficient C(T), 1D static-coupling model (Alkauskas et al. 2014)."""
    from defectscreen.analysis.capture import CaptureSettings, analyze_capture_files
    from defectscreen.readers import InputFileError
    from defectscreen.reports.plots import plot_capture

    try:
        settings = CaptureSettings(delta_E_eV=delta_E_eV, degeneracy=degeneracy, Z=Z, effective_mass=effective_mass,
                                   dielectric_constant=dielectric, charged_supercell_scaling=scaling,
                                   temperatures_K=_temperatures(temperatures), carrier=carrier)
        document = analyze_capture_files(
            initial, final, settings, ccd_initial=list(ccd_initial), ccd_final=list(ccd_final),
            wswq_dirs=list(wswq_dirs), reference_vasprun=reference_vasprun, defect_band=defect_band,
            bulk_bands=list(bulk_bands), spin=spin, kpoint=kpoint, hbar_omega_i_meV=omega_i_meV,
            hbar_omega_f_meV=omega_f_meV, W_if=W_if, fc_initial=fc_initial, fc_final=fc_final,
            multimode_sigma_meV=multimode_sigma_meV, duschinsky=duschinsky, scaling_wavecar=scaling_wavecar,
            defect_site_frac=_defect_site(defect_site),
        )
    except (InputFileError, ValueError) as error:
        raise click.ClickException(str(error)) from None
    document_path = Path(f"{prefix}.json")
    document_path.write_text(document.model_dump_json(indent=1))
    if plot_path:
        plot_capture(document, plot_path, title=f"{Path(initial).name} → {Path(final).name}")
    summary = document.model_dump(include={
        "carrier", "delta_Q_amu_half_angstrom", "delta_R_angstrom", "delta_E_eV", "hbar_omega_i_meV", "hbar_omega_f_meV",
        "classical_barrier_harmonic_eV", "W_if_eV_per_amu_half_angstrom", "degeneracy", "Z", "temperatures_K",
        "charged_supercell_scaling", "sommerfeld_factor", "capture_coefficient_cm3_s", "flags"})
    summary["W_if_per_band"] = {c.band: c.W_if_eV_per_amu_half_angstrom for c in document.coupling}
    for record in document.multimode:
        summary[f"multimode_{record.basis}_basis_capture_coefficient_cm3_s"] = record.capture_coefficient_cm3_s
    if document.duschinsky is not None:
        summary["duschinsky"] = document.duschinsky.model_dump()
    summary.update(document=str(document_path), plot=plot_path)
    if as_json:
        click.echo(json.dumps(summary))
    else:
        _echo_summary(summary, 32)


@analyze.command()
@click.option("--fc", "force_constants", type=FILE, required=True, help="phonopy FORCE_CONSTANTS (full) of the defect cell")
@click.option("--cell", type=FILE, required=True, help="POSCAR of the supercell the force constants belong to")
@click.option("--ground", type=FILE, required=True, help="relaxed ground-state structure (CONTCAR)")
@click.option("--excited", type=FILE, required=True, help="relaxed excited-state structure (CONTCAR)")
@click.option("--bulk-cell", type=FILE, help="ideal host supercell with the defect cell's lattice (default: recovered from --cell)")
@click.option("--bulk-fc", type=FILE, help="phonopy FORCE_CONSTANTS of --bulk-cell (default: the defect cell's far field)")
@click.option("--atoms", "target_atoms", default="1000,10000", show_default=True,
              help="comma-separated target sizes; the defect cell is always the first point")
@click.option("--method", type=click.Choice(EMBEDDING_METHODS), default="lanczos", show_default=True,
              help="dense (≤ 4000 atoms), lanczos, chebyshev (S(ħω) only), slepc (modes in --window-meV)")
@click.option("--window-meV", "window_meV", nargs=2, type=NON_NEGATIVE, callback=ordered_pair, help="slepc: lower upper ħω in meV")
@click.option("--r-d", "r_d", type=POSITIVE, help="defect radius r_d in Å (default: a quarter of the defect cell's width)")
@click.option("--r-b", "r_b", type=POSITIVE, help="boundary radius r_b in Å (default: half the defect cell's width)")
@click.option("--zpl", "zpl_eV", type=POSITIVE, help="zero-phonon-line energy in eV (needed for I(ħω))")
@click.option("--sigma-meV", "sigma_meV", type=POSITIVE, default=DEFAULT_SIGMA_MEV, show_default=True, help="Gaussian width of each phonon δ")
@click.option("--gamma-meV", "gamma_meV", type=NON_NEGATIVE, default=DEFAULT_GAMMA_MEV, show_default=True, help="Lorentzian half width of the ZPL")
@click.option("--temperature", "temperature_K", type=NON_NEGATIVE, default=0.0, show_default=True, help="temperature in K")
@click.option("--label", default="defect", show_default=True, help="name stored in the documents")
@click.option("--out", "--output", "prefix", default="embedding", show_default=True, callback=output_path, metavar="PREFIX",
              help="writes PREFIX.json (convergence document) (--output: the old name)")
@click.option("--json", "as_json", is_flag=True, help="print one JSON summary object")
@click.option("--plot", "plot_path", type=click.Path(dir_okay=False), callback=output_path, help="write the convergence figure (png/svg/pdf)")
def embed(force_constants, cell, ground, excited, bulk_cell, bulk_fc, target_atoms, method, window_meV, r_d, r_b, zpl_eV,
          sigma_meV, gamma_meV, temperature_K, label, prefix, as_json, plot_path) -> None:
    """S(ħω), S and the PL band versus supercell size: the defect's force constants embedded in ever larger host
    supercells, solved with a sparse method."""
    from defectscreen.analysis.embedding import convergence_document, embedded_spectrum, source_from_files
    from defectscreen.physics.embedding import EmbeddingRadii, default_radii, repetitions_series
    from defectscreen.readers import InputFileError
    from defectscreen.reports.plots import plot_embedding_convergence

    try:
        sizes = [int(size) for size in target_atoms.split(",") if size.strip()]
        if not sizes or min(sizes) < 1:
            raise ValueError
    except ValueError:
        raise click.BadParameter(f"{target_atoms!r}: give comma-separated positive atom counts, e.g. 1000,10000",
                                 param_hint="--atoms") from None
    try:
        source = source_from_files(force_constants, cell, ground, excited, label, bulk_cell, bulk_fc)
        radii = None
        if r_d is not None or r_b is not None:
            default = default_radii(source.defect.lattice)
            radii = EmbeddingRadii(r_d if r_d is not None else default.defect_radius_angstrom,
                                   r_b if r_b is not None else default.boundary_radius_angstrom)
        points = [embedded_spectrum(source, repetitions, method, radii, sigma_meV, gamma_meV, zpl_eV, temperature_K,
                                    window_meV=tuple(window_meV) if window_meV else None)
                  for repetitions in repetitions_series(source.defect.lattice, len(source.host.host), sizes)]
    except (InputFileError, ValueError, RuntimeError) as error:
        raise click.ClickException(str(error)) from None
    document = convergence_document(points)
    document_path = Path(f"{prefix}.json")
    document_path.write_text(document.model_dump_json(indent=1))
    if plot_path:
        plot_embedding_convergence(document, plot_path)
    summary = {
        "label": label, "method": method,
        "points": [{"n_atoms": p.n_atoms, "repetitions": p.repetitions, "huang_rhys_total": p.huang_rhys_total,
                    "debye_waller": p.debye_waller, "order": p.solver.order,
                    "convergence_change": p.solver.convergence_change, "converged": p.solver.converged,
                    "build_s": round(p.build_wall_time_s, 3), "solve_s": round(p.solve_wall_time_s, 3),
                    **({"r_d_angstrom": p.embedding.defect_radius_angstrom,
                        "r_b_angstrom": p.embedding.boundary_radius_angstrom,
                        "host_force_constants": p.embedding.host_force_constants} if p.embedding else {})}
                   for p in document.points],
        "huang_rhys_change_last": document.huang_rhys_change_last,
        "spectral_density_change_last": document.spectral_density_change_last,
        "document": str(document_path), "plot": plot_path,
    }
    if as_json:
        click.echo(json.dumps(summary))
    else:
        for point in summary["points"]:
            click.echo(json.dumps(point))
        click.echo(f"S(largest)/S(next) - 1 = {document.huang_rhys_change_last:+.4f}; document {document_path}")


@analyze.command()
@click.argument("phonopy_yaml", type=FILE)
@click.option("--force-sets", type=FILE, help="phonopy FORCE_SETS computed from PHONOPY_YAML's displacements")
@click.option("--force-constants", type=FILE, help="phonopy FORCE_CONSTANTS (full or compact) instead of FORCE_SETS")
@click.option("--born", type=FILE, help="phonopy BORN file (ε∞, Born charges): adds the LO–TO splitting")
@click.option("--points", "points_per_segment", type=click.IntRange(min=2, max=2000), default=51, show_default=True,
              help="q-points on each segment of the path, ends included")
@click.option("--dos-mesh-length", "mesh_length_angstrom", type=click.FloatRange(min=1.0, max=500.0), default=40.0,
              show_default=True, help="DOS mesh: about this length (Å) divided by the lattice constant points per axis")
@click.option("--out", "--output", "prefix", default="dispersion", show_default=True, callback=output_path,
              metavar="PREFIX", help="writes PREFIX.json (the document) and PREFIX.png (bands and DOS)")
@click.option("--json", "as_json", is_flag=True, help="print one JSON summary object")
def dispersion(phonopy_yaml, force_sets, force_constants, born, points_per_segment, mesh_length_angstrom, prefix,
               as_json) -> None:
    """Phonon band structure along the standard path and density of states from phonopy files, with the
    dipole–dipole (LO–TO) correction of Gonze and Lee when a BORN file is given."""
    from monty.json import jsanitize

    from defectscreen.analysis.dispersion import analyze_dispersion_files
    from defectscreen.readers import InputFileError
    from defectscreen.reports.plots import plot_phonon_dispersion

    try:
        document = analyze_dispersion_files(phonopy_yaml, force_sets, force_constants, born, points_per_segment,
                                            mesh_length_angstrom)
    except (InputFileError, ValueError) as error:
        raise click.ClickException(str(error)) from None
    document_path, plot_path = Path(f"{prefix}.json"), Path(f"{prefix}.png")
    document_path.write_text(json.dumps(jsanitize(document.model_dump(), strict=True), indent=1, ensure_ascii=False))
    plot_phonon_dispersion(document, plot_path)
    correction = document.dipole_correction
    summary = {
        "formula": document.formula, "path": " ".join(f"{s.start}-{s.end}" for s in document.segments),
        "highest_frequency_meV": round(max(max(map(max, s.frequencies_meV)) for s in document.segments), 3),
        "lowest_frequency_meV": round(document.lowest_frequency_meV, 3),
        "gamma_TO_meV": None if correction is None else [round(f, 3) for f in correction.transverse_gamma_meV[3:]],
        "gamma_LO_meV": None if correction is None else [round(f, 3) for f in correction.longitudinal_gamma_meV[3:]],
        "lyddane_sachs_teller": None if correction is None else
        f"Π(ω_LO/ω_TO)² = {correction.lyddane_sachs_teller_ratio:.4f}, ε⁰/ε∞ = "
        + ("n/a (unstable)" if correction.epsilon_static_ratio is None else f"{correction.epsilon_static_ratio:.4f}"),
        "flags": document.flags, "document": str(document_path), "plot": str(plot_path)}
    if as_json:
        click.echo(json.dumps(summary, ensure_ascii=False))
    else:
        _echo_summary(summary, 24)

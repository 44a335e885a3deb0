"""Matplotlib figures of the stored documents (PNG/SVG/PDF by the file suffix)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from defectscreen.physics.supercell_scaling import DEFAULT_MINIMUM_RADIUS_ANGSTROM  # noqa: E402
from defectscreen.physics.units import MEV_PER_SQRT_EIGENVALUE  # noqa: E402
from defectscreen.schemas.amorphous import AmorphousHostDocument, SiteEnsembleSummary, glass_of_site  # noqa: E402
from defectscreen.schemas.embedding import EmbeddingConvergenceDocument  # noqa: E402
from defectscreen.schemas.formation import (  # noqa: E402
    DefectChargeDocument,
    DefectFormation,
    FormationEnergyDocument,
    PhotoluminescenceBand,
)
from defectscreen.schemas.hamiltonian import MlHamiltonianDocument  # noqa: E402
from defectscreen.schemas.optics import (  # noqa: E402
    CaptureDocument,
    ConfigurationCoordinateDocument,
    LineshapeDocument,
    PotentialEnergySurface,
)
from defectscreen.schemas.phonons import HuangRhysDocument, PhononDispersionDocument, PhononDocument  # noqa: E402

#: characters per inch of figure width in a footnote's 7-pt lines
FOOTNOTE_CHARACTERS_PER_INCH = 16


def _save(figure, path: str | Path, title: str = "", footnote: list[str] = ()) -> Path:
    """Title, layout and file; ``footnote``: lines printed under the axes (why the numbers are not physics)."""
    figure.suptitle(title)
    width = int(FOOTNOTE_CHARACTERS_PER_INCH * figure.get_figwidth())
    lines = [line for text in footnote for line in textwrap.wrap(text, width)]
    if lines:
        height = 0.12 * len(lines) / figure.get_figheight()  # 7-pt lines, figure fraction
        figure.text(0.01, 0.01, "\n".join(lines), fontsize=7, color="C3", va="bottom")
        figure.tight_layout(rect=(0, height + 0.01, 1, 1))
    else:
        figure.tight_layout()
    path = Path(path)
    figure.savefig(path, dpi=150)
    plt.close(figure)
    return path


def _draw_surface(axis, q: np.ndarray, surface: PotentialEnergySurface, offset_eV: float, color: str, label: str,
                  with_points: bool) -> None:
    """The harmonic fit of one surface and, if asked, its computed points relative to its minimum."""
    curvature = (surface.hbar_omega_meV / MEV_PER_SQRT_EIGENVALUE) ** 2
    axis.plot(q, offset_eV + 0.5 * curvature * (q - surface.minimum_q_amu_half_angstrom) ** 2, color=color, label=label)
    if with_points:
        energies = np.array(surface.energy_eV)
        minimum = energies[np.argmin(np.abs(np.array(surface.q_amu_half_angstrom) - surface.minimum_q_amu_half_angstrom))]
        axis.plot(surface.q_amu_half_angstrom, offset_eV + energies - minimum, "o", color=color)


def plot_lineshape(document: LineshapeDocument, path: str | Path, title: str = "") -> Path:
    """Left: S_k and S(ħω) against ħω; right: the normalized band I(ħω) (or A(ε) without a ZPL energy)."""
    figure, (modes_axis, band_axis) = plt.subplots(1, 2, figsize=(11, 4.2))
    frequencies = np.array(document.frequencies_meV)
    factors = np.array(document.partial_huang_rhys)
    modes_axis.vlines(frequencies, 0, factors, color="tab:blue", lw=1.0, label="$S_k$")
    modes_axis.set_xlabel("phonon energy ħω (meV)")
    modes_axis.set_ylabel("partial Huang–Rhys factor $S_k$")
    density_axis = modes_axis.twinx()
    density_axis.plot(document.spectral_density_energy_meV, document.spectral_density_per_meV, color="k", lw=1.2)
    density_axis.set_ylabel(f"S(ħω) (1/meV), σ = {document.sigma_meV:g} meV")
    modes_axis.set_title(f"S = {document.huang_rhys_total:.3f}, ΔQ = {document.delta_Q_amu_half_angstrom:.3f} amu$^{{1/2}}$Å")
    if document.photon_energy_eV is not None:
        band_axis.plot(document.photon_energy_eV, np.array(document.intensity_per_eV) / max(document.intensity_per_eV), color="tab:red")
        band_axis.set_xlabel("photon energy (eV)")
        band_axis.set_ylabel(f"{document.kind} intensity (normalized)")
        band_axis.axvline(document.zpl_energy_eV, color="grey", ls=":", lw=0.8)
    else:
        band_axis.plot(document.phonon_energy_meV, document.spectral_function_per_meV, color="tab:red")
        band_axis.set_xlabel("energy given to phonons ε (meV)")
        band_axis.set_ylabel("spectral function A(ε) (1/meV)")
    band_axis.set_title(f"T = {document.temperature_K:g} K, DW = {document.debye_waller:.3f}, γ = {document.gamma_meV:g} meV")
    return _save(figure, path, title)


def plot_capture(document: CaptureDocument, path: str | Path, title: str = "") -> Path:
    """Left: the 1D configuration-coordinate diagram (points and harmonic surfaces); right: C(T)."""
    figure, (ccd_axis, rate_axis) = plt.subplots(1, 2, figsize=(11, 4.2))
    delta_Q = document.delta_Q_amu_half_angstrom
    q = np.linspace(-0.6 * delta_Q, 1.6 * delta_Q, 300)
    for surface, offset, color in ((document.surfaces[0], document.delta_E_eV, "tab:red"),
                                   (document.surfaces[1], 0.0, "tab:blue")):
        _draw_surface(ccd_axis, q, surface, offset, color,
                      f"{surface.state}: ħω = {surface.hbar_omega_meV:.1f} meV ({surface.hbar_omega_source})",
                      with_points=bool(surface.q_amu_half_angstrom) and surface.hbar_omega_source == "harmonic_fit")
    ccd_axis.set_ylim(-0.1 * document.delta_E_eV, 2.2 * document.delta_E_eV)
    ccd_axis.set_xlabel("Q (amu$^{1/2}$ Å)")
    ccd_axis.set_ylabel("energy (eV)")
    ccd_axis.legend(fontsize=8)
    ccd_axis.set_title(f"ΔQ = {delta_Q:.3f}, ΔE = {document.delta_E_eV:g} eV, W$_{{if}}$ = {document.W_if_eV_per_amu_half_angstrom:.3g}")
    temperatures = np.array(document.temperatures_K)
    rate_axis.semilogy(1000.0 / temperatures, document.capture_coefficient_cm3_s, "k-", label="C(T) = f C̃ / s")
    rate_axis.semilogy(1000.0 / temperatures, document.capture_coefficient_unscaled_cm3_s, "k--", lw=0.8, label="C̃(T) (no Sommerfeld)")
    rate_axis.set_xlabel("1000 / T (1/K)")
    rate_axis.set_ylabel(f"{document.carrier} capture coefficient (cm³/s)")
    rate_axis.legend(fontsize=8)
    return _save(figure, path, title)


def plot_configuration_coordinate(document: ConfigurationCoordinateDocument, path: str | Path,
                                  display_delta_E_eV: float | None = None) -> Path:
    """Left: both computed surfaces (points, harmonic fits), the higher charge drawn display_delta_E_eV above the
    lower (the true offset depends on the Fermi level; default: the lower surface's range); middle: C̃/W_if²
    against T for three ΔE (values below 1e-40 cm³/s are not drawn); right, where the orbitals gave them: the
    charged-supercell profiles s(R) with the window averaged into s shaded."""
    if display_delta_E_eV is None:
        lower = np.array(document.surfaces[0].energy_eV)
        display_delta_E_eV = float(lower.max() - lower.min())
    profiles = [f for f in document.phonon_factors if f.charged_supercell_scaling_profile is not None]
    figure, axes = plt.subplots(1, 3 if profiles else 2, figsize=(16.5 if profiles else 11, 4.2))
    ccd_axis, rate_axis = axes[:2]
    delta_Q = document.delta_Q_amu_half_angstrom
    q = np.linspace(-0.4 * delta_Q, 1.4 * delta_Q, 300)
    for surface, offset, color in ((document.surfaces[0], 0.0, "tab:blue"),
                                   (document.surfaces[1], display_delta_E_eV, "tab:red")):
        charge = document.lower_charge if surface.state == "lower_charge" else document.higher_charge
        _draw_surface(ccd_axis, q, surface, offset, color, f"q = {charge:+d}: ħω = {surface.hbar_omega_meV:.1f} meV",
                      with_points=True)
    ccd_axis.set_xlabel("Q (amu$^{1/2}$ Å)")
    ccd_axis.set_ylabel("energy (eV)")
    ccd_axis.set_title(f"{document.calculation_id} ({document.engine.name}), ΔQ = {delta_Q:.3f}")
    ccd_axis.legend(fontsize=8)
    for factor, style in zip(document.phonon_factors, ("-", "--")):
        table = np.array(factor.capture_coefficient_per_W_if2_cm3_s)
        for index in np.linspace(0, len(factor.delta_E_eV) - 1, 4).astype(int)[:3]:
            values = table[index]
            if np.any(values > 0):
                rate_axis.semilogy(factor.temperatures_K, np.where(values > 1e-40, values, np.nan), style,
                                   label=f"{factor.carrier}, ΔE = {factor.delta_E_eV[index]:g} eV")
    rate_axis.set_xlabel("T (K)")
    rate_axis.set_ylabel("C̃ / W$_{if}^2$ (cm³/s per (eV/amu$^{1/2}$Å)²)")
    rate_axis.legend(fontsize=7)
    for factor in profiles:
        profile = factor.charged_supercell_scaling_profile
        (line,) = axes[2].plot(profile.radii_angstrom, profile.density_ratio,
                               label=f"{factor.carrier} captured by q = {profile.captured_by_charge:+d}: "
                               f"s = {profile.scaling:.2f}" + ("" if profile.plateau_found else " (no plateau)"))
        axes[2].axvspan(*profile.plateau_radii_angstrom, color=line.get_color(), alpha=0.15)
    if profiles:
        beyond_bonds = [r for f in profiles for R, r in zip(f.charged_supercell_scaling_profile.radii_angstrom,
                                                               f.charged_supercell_scaling_profile.density_ratio)
                        if R >= DEFAULT_MINIMUM_RADIUS_ANGSTROM]
        axes[2].set_ylim(0.0, min(10.0, 1.2 * max(beyond_bonds)))
        axes[2].axhline(1.0, color="0.6", lw=0.8, ls=":")
        axes[2].set_xlabel("R from the defect site (Å)")
        axes[2].set_ylabel("s(R): band-edge density within R / cell average")
        axes[2].legend(fontsize=7)
    return _save(figure, path)


def plot_phonon_validation(engine: PhononDocument, potential: PhononDocument, huang_rhys: HuangRhysDocument | None,
                           path: str | Path, title: str = "") -> Path:
    """Left: Γ frequencies from the potential against the engine's (seed 000 Fig. 2a), localized modes marked.
    Right (with a Huang–Rhys document): S(ħω) in this state's phonons from both."""
    panels = 2 if huang_rhys is not None else 1
    figure, axes = plt.subplots(1, panels, figsize=(5.2 * panels, 4.4), squeeze=False)
    axis = axes[0, 0]
    reference, learned = np.array(engine.frequencies_meV), np.array(potential.frequencies_meV)
    top = 1.05 * max(reference.max(), learned.max())
    axis.plot([0, top], [0, top], "--", color="0.6", lw=1)
    axis.plot(reference[3:], learned[3:], ".", color="tab:blue", ms=4, label="all optical modes")
    comparison = engine.comparison
    if comparison is not None and comparison.localized_mode_indices:
        axis.plot(reference[comparison.localized_mode_indices], learned[comparison.localized_mode_indices], "o",
                  mfc="none", color="tab:red", label="localized modes")
        axis.set_title(f"mean |Δħω| {comparison.frequency_mean_abs_error_meV:.2f} meV, "
                       f"max {comparison.frequency_max_abs_error_meV:.2f} meV", fontsize=9)
    axis.set(xlabel=f"ħω {engine.engine.name} (meV)", ylabel="ħω potential (meV)", xlim=(0, top), ylim=(0, top))
    axis.legend(fontsize=8)
    if huang_rhys is not None:
        axis = axes[0, 1]
        basis = "higher_charge" if engine.labels.charge == huang_rhys.higher_charge else "lower_charge"
        for record in huang_rhys.records:
            if record.phonon_basis == basis:
                axis.plot(record.spectral_density_energy_meV, record.spectral_density_per_meV,
                          label=f"{record.force_source}: S = {record.huang_rhys_total:.3f}")
        axis.set(xlabel="ħω (meV)", ylabel="S(ħω) (1/meV)",
                 title=f"{huang_rhys.calculation_id}, {engine.calculation_id} phonons, σ = {huang_rhys.sigma_meV:g} meV")
        axis.title.set_fontsize(9)
        axis.legend(fontsize=8)
    return _save(figure, path, title or engine.calculation_id)


def plot_embedding_convergence(document: EmbeddingConvergenceDocument, path: str | Path, title: str = "") -> Path:
    """Left: S(ħω) per supercell size (seed 000 Fig. 3b); middle: S vs atoms; right: the PL band per size (Fig. 3c)."""
    figure, (density_axis, total_axis, band_axis) = plt.subplots(1, 3, figsize=(15, 4.2))
    colors = plt.cm.viridis(np.linspace(0.0, 0.85, len(document.points)))
    sideband_top = 0.0
    for point, color in zip(document.points, colors):
        label = f"{point.n_atoms} atoms" + (" (defect cell)" if point.embedding is None else "")
        density_axis.plot(point.spectral_density_energy_meV, point.spectral_density_per_meV, color=color, lw=1.1,
                          label=label)
        if point.photon_energy_eV is not None:
            photon, intensity = np.array(point.photon_energy_eV), np.array(point.intensity_per_eV)
            sideband_top = max(sideband_top, intensity[photon < point.zpl_energy_eV - 0.01].max())
            band_axis.plot(photon, intensity, color=color, lw=1.1, label=label)
    density_axis.set_xlabel("phonon energy ħω (meV)")
    density_axis.set_ylabel(f"S(ħω) (1/meV), σ = {document.points[0].sigma_meV:g} meV")
    density_axis.legend(fontsize=8)
    atoms = [point.n_atoms for point in document.points]
    total_axis.semilogx(atoms, [point.huang_rhys_total for point in document.points], "o-", color="k")
    total_axis.set_xlabel("atoms in the supercell")
    total_axis.set_ylabel("Huang–Rhys factor S")
    total_axis.set_title(f"{document.method}: S(largest)/S(next) − 1 = {document.huang_rhys_change_last:+.2%}")
    if band_axis.lines:
        band_axis.set_xlabel("photon energy (eV)")
        band_axis.set_ylabel("PL intensity I(ħω) (1/eV, unit area)")
        band_axis.set_ylim(0, 1.5 * sideband_top)
        band_axis.set_title(f"ZPL at {document.points[0].zpl_energy_eV:g} eV (clipped), γ = "
                            f"{document.points[0].gamma_meV:g} meV")
        band_axis.legend(fontsize=8)
    else:
        band_axis.set_axis_off()
    return _save(figure, path, title or document.label)


def plot_formation_energies(document: FormationEnergyDocument, defects: list[DefectFormation], path: str | Path,
                            title: str = "") -> Path:
    """Formation energy vs Fermi level (lower envelope of each of the host's ``defects``' charge states) in the
    gap, one panel per chemical-potential limit; transition levels as dots and the charge-neutral Fermi level as a
    dashed line."""
    limits = document.chemical_potential_limits
    figure, axes = plt.subplots(1, len(limits), figsize=(4.2 * len(limits), 3.8), sharey=True, squeeze=False)
    fermi = np.linspace(0.0, document.band_gap_eV, 400)
    solutions = {solution.limit: solution for solution in document.fermi_levels}
    for axis, limit in zip(axes[0], limits):
        for index, defect in enumerate(defects):
            color = f"C{index % 10}"
            lines = np.array([[s.formation_energy_at_vbm_eV[limit.name] + s.charge * e for e in fermi]
                              for s in defect.charge_states])
            axis.plot(fermi, lines.min(axis=0), color=color, label=defect.defect_name)
            for level in defect.transition_levels:
                at = [s.formation_energy_at_vbm_eV[limit.name] + s.charge * level.level_eV for s in defect.charge_states]
                axis.plot(level.level_eV, min(at), "o", color=color, markersize=4)
        if limit.name in solutions:
            axis.axvline(solutions[limit.name].fermi_level_eV, color="0.4", linestyle="--", linewidth=1)
        axis.set_xlim(0.0, document.band_gap_eV)
        axis.set_xlabel("Fermi level above VBM (eV)")
        axis.set_title(limit.name, fontsize=10)
    axes[0][0].set_ylabel("formation energy (eV)")
    axes[0][-1].legend(fontsize=8, loc="best")
    return _save(figure, path, title or f"{document.host} ({document.engine.name})")


def plot_site_potentials(document: DefectChargeDocument, path: str | Path, title: str = "") -> Path:
    """Kumagai–Oba check: φ_defect − φ_bulk at each atomic site against its distance from the defect, the point
    charge's φ_PC and their difference at the sites outside the sampling radius (averaged into the alignment)."""
    correction = document.correction
    if correction.site_potentials is None:
        raise ValueError(f"{document.defect_id}: correction '{correction.method}' has no site potentials; only "
                         "formation.correction: kumagai stores them")
    figure, axis = plt.subplots(figsize=(6.0, 3.8))
    for index, element in enumerate(sorted({site.element for site in correction.site_potentials})):
        sites = [site for site in correction.site_potentials if site.element == element]
        axis.plot([s.distance_angstrom for s in sites], [s.defect_minus_bulk_V for s in sites], "o", color=f"C{index}",
                  markersize=4, label=f"φ_def − φ_bulk ({element})")
    far = sorted((s for s in correction.site_potentials if s.point_charge_V is not None),
                 key=lambda s: s.distance_angstrom)
    distance = [s.distance_angstrom for s in far]
    axis.plot(distance, [s.point_charge_V for s in far], "x", color="0.3", label="φ_PC (point charge)")
    axis.plot(distance, [s.defect_minus_bulk_V - s.point_charge_V for s in far], "s", color="tab:red", markersize=3,
              label="difference")
    axis.axhline(-correction.alignment_eV / document.labels.charge, color="tab:red", lw=0.8, ls="--",
                 label=f"ΔV = {-correction.alignment_eV / document.labels.charge:.3f} V")
    axis.axvline(correction.sampling_radius_angstrom, color="0.5", lw=0.8, ls=":")
    axis.set_xlabel("distance from the defect (Å)")
    axis.set_ylabel("potential (V)")
    axis.legend(fontsize=7)
    return _save(figure, path, title or f"{document.labels.calculation_id}: Kumagai–Oba "
                 f"{correction.correction_eV:.3f} eV")


def plot_photoluminescence(bands: list[PhotoluminescenceBand], path: str | Path, title: str = "") -> Path:
    """The pair's photoluminescence bands (unit area) against photon energy, ZPL marked; a band whose phonons are
    flagged is dashed and labelled not physics."""
    figure, axis = plt.subplots(figsize=(6.5, 3.8))
    for band, color in zip(bands, ("tab:blue", "tab:red")):
        axis.plot(band.photon_energy_eV, band.intensity_per_eV, color=color, ls="--" if band.flags else "-",
                  label=f"{band.carrier} capture: ZPL {band.zpl_energy_eV:.2f} eV, S = {band.huang_rhys_total:.2f}"
                  + (" (not physics: its phonons are flagged)" if band.flags else ""))
        axis.axvline(band.zpl_energy_eV, color=color, ls=":", lw=0.8)
    axis.set_xlabel("photon energy (eV)")
    axis.set_ylabel("PL intensity (1/eV, unit area)")
    axis.legend(fontsize=8)
    return _save(figure, path, title)


def shown_dispersions(documents: dict[str, PhononDispersionDocument]
                      ) -> tuple[PhononDispersionDocument, PhononDispersionDocument | None]:
    """Of a host's newest dispersions by force source: (the one shown — the potential's, else the engine's —, the
    engine's, drawn dashed beneath the potential's where both exist)."""
    if "potential" in documents:
        return documents["potential"], documents.get("engine")
    return documents["engine"], None


def plot_host_dispersion(documents: dict[str, PhononDispersionDocument], path: str | Path, title: str) -> Path:
    """A host's dispersion figure from its newest dispersions by force source (:func:`shown_dispersions`)."""
    shown, reference = shown_dispersions(documents)
    return plot_phonon_dispersion(shown, path, title=title, reference=reference,
                                  reference_label="engine, relaxation cell")


def plot_phonon_dispersion(document: PhononDispersionDocument, path: str | Path, title: str = "",
                           reference: PhononDispersionDocument | None = None, reference_label: str = "reference") -> Path:
    """Bands along the path (distances joined where the path jumps) and the density of states beside them;
    ``reference`` (same path) drawn dashed under them."""
    figure, (bands, dos) = plt.subplots(1, 2, figsize=(8, 4.5), sharey=True, gridspec_kw={"width_ratios": [4, 1]})
    ticks, labels, offset = [0.0], [document.segments[0].start], 0.0
    for index, segment in enumerate(document.segments):
        start = segment.distance_inv_angstrom[0]
        x = offset + np.array(segment.distance_inv_angstrom) - start
        if reference is not None:
            dashed = bands.plot(x, reference.segments[index].frequencies_meV, "--", color="0.6", lw=1)
            if index == 0:
                dashed[0].set_label(reference_label)
        lines = bands.plot(x, segment.frequencies_meV, color="C0", lw=1.2)
        if index == 0:
            lines[0].set_label(document.force_source if reference is not None else None)
        offset = x[-1]
        if labels[-1] != segment.start:
            labels[-1] = f"{labels[-1]}|{segment.start}"
        ticks.append(offset)
        labels.append(segment.end)
    for tick in ticks:
        bands.axvline(tick, color="0.8", lw=0.8)
    bands.axhline(0.0, color="0.5", lw=0.6)
    bands.set_xticks(ticks, labels)
    bands.set_xlim(0.0, offset)
    bands.set_ylabel("ħω (meV)")
    if reference is not None:
        bands.legend(loc="lower right", fontsize=8)
    correction = document.dipole_correction
    bands.set_title("with LO–TO (Gonze–Lee)" if correction else "no dipole–dipole term", fontsize=9)
    dos.plot(document.dos_states_per_meV, document.dos_energy_meV, color="C0")
    dos.set_xlabel("DOS (1/meV)")
    dos.set_xlim(left=0.0)
    return _save(figure, path, title or document.formula)


def plot_glass(document: AmorphousHostDocument, path: str | Path, title: str = "") -> Path:
    """Partial radial distributions and bond-angle distributions of a generated glass, the measured first peaks and
    mean angles marked."""
    from defectscreen.analysis.amorphous import NETWORK_FORMERS, bond_angles_degrees, radial_distribution

    former, bridge = NETWORK_FORMERS[document.structure.composition.reduced_formula]
    figure, (rdf, angles) = plt.subplots(1, 2, figsize=(10, 4))
    for (first, second), key, color in (((former, bridge), "A-X", "C0"), ((bridge, bridge), "X-X", "C1"),
                                        ((former, former), "A-A", "C2")):
        r, g = radial_distribution(document.structure, first, second, bin_angstrom=0.05)
        rdf.plot(r, g, color=color, label=f"{first}–{second}")
        rdf.axvline(document.measured[key], color=color, linestyle=":", linewidth=1)
    rdf.set(xlabel="r (Å)", ylabel="g(r)", xlim=(0, 6))
    rdf.legend(title="dotted: measured first peak")
    for (centre, ends), key, color in (((former, bridge), "X-A-X", "C0"), ((bridge, former), "A-X-A", "C3")):
        values = bond_angles_degrees(document.structure, centre, ends)
        angles.hist(values, bins=np.arange(60, 182, 4), density=True, alpha=0.6, color=color,
                    label=f"{ends}–{centre}–{ends}")
        angles.axvline(document.measured[key], color=color, linestyle=":", linewidth=1)
    angles.set(xlabel="bond angle (degrees)", ylabel="distribution (1/degree)")
    angles.legend(title="dotted: measured mean")
    return _save(figure, path, title or f"{document.formula} glass, seed {document.seed}")


def plot_site_ensemble(summary: SiteEnsembleSummary, path: str | Path, title: str = "") -> Path:
    """The formation-energy histogram of a defect over the sites of amorphous hosts and, where a descriptor was
    measured, formation energy against it."""
    from matplotlib.ticker import MaxNLocator

    from defectscreen.flows.defect_set import charge_label

    with_descriptor = summary.descriptor_values is not None
    figure, axes = plt.subplots(1, 2 if with_descriptor else 1, figsize=(10 if with_descriptor else 5, 4))
    histogram = axes[0] if with_descriptor else axes
    edges = np.array(summary.histogram_edges_eV)
    histogram.bar(edges[:-1], summary.histogram_counts, width=np.diff(edges), align="edge", edgecolor="k")
    histogram.axvline(summary.mean_eV, color="C3", linestyle="--",
                      label=f"mean {summary.mean_eV:.2f} eV, σ {summary.standard_deviation_eV:.2f} eV")
    histogram.set(xlabel=f"formation energy, q = {charge_label(summary.charge)}, {summary.limit} (eV)", ylabel="sites")
    histogram.yaxis.set_major_locator(MaxNLocator(integer=True))
    histogram.legend()
    if with_descriptor:
        glass_of = [glass_of_site(site) for site in summary.sites]
        for glass in sorted(set(glass_of)):
            mine = [i for i, g in enumerate(glass_of) if g == glass]
            axes[1].scatter(np.array(summary.descriptor_values)[mine], np.array(summary.formation_energy_eV)[mine],
                            label=glass)
        r = "" if summary.pearson_r is None else f" (r = {summary.pearson_r:.2f})"
        axes[1].set(xlabel=summary.descriptor, ylabel="formation energy (eV)", title=f"{len(summary.sites)} sites{r}")
        axes[1].legend(title="glass")
    return _save(figure, path, title or f"{summary.defect} over the sites of {summary.host}",
                 footnote=[f"not physics: {flag}" for flag in summary.flags])


def plot_hamiltonian_errors(documents: list[MlHamiltonianDocument], path: str | Path, title: str = "") -> Path:
    """Hosts judged with learned Hamiltonians: E(defect) − E(bulk) from the model against the SCF (open marks: cells
    with training frames; filled: never seen), and each cell's total-energy error per atom against its atoms (crosses:
    from the model's H alone, before the mixing steps)."""
    figure, (parity, per_atom) = plt.subplots(1, 2, figsize=(9, 4))
    values = []
    for index, document in enumerate(documents):
        color = f"C{index % 10}"
        for trained in (True, False):
            shown = [d for d in document.defect_energies if d.trained_on_this_cell == trained]
            if shown:
                parity.scatter([d.scf_eV for d in shown], [d.model_eV for d in shown], s=30, color=color,
                               facecolors="none" if trained else color,
                               label=f"{document.host}" + (" (trained cells)" if trained else ""))
                values += [v for d in shown for v in (d.scf_eV, d.model_eV)]
        per_atom.scatter([c.n_atoms for c in document.held_out], [c.energy_error_meV_per_atom for c in document.held_out],
                         color=color, s=25, label=document.host + (f" ({document.mixing_steps} mixing step(s))"
                                                                    if document.mixing_steps else ""))
        if document.mixing_steps:
            per_atom.scatter([c.n_atoms for c in document.held_out],
                             [c.energy_error_before_mixing_meV_per_atom for c in document.held_out], color=color, s=25,
                             marker="x", label=f"{document.host}, model H alone")
    if values:
        low, high = min(values), max(values)
        margin = 0.05 * (high - low or 1.0)
        parity.plot([low - margin, high + margin], [low - margin, high + margin], color="0.6", lw=0.8)
    parity.set_xlabel("E(defect) − E(bulk), SCF (eV)")
    parity.set_ylabel("E(defect) − E(bulk), learned H (eV)")
    parity.legend(fontsize=7)
    per_atom.axhline(0.0, color="0.6", lw=0.8)
    per_atom.legend(fontsize=7)
    per_atom.set_xlabel("atoms in the cell")
    per_atom.set_ylabel("E(learned H) − E(SCF) (meV/atom)")
    return _save(figure, path, title)

"""The screening report: one self-contained HTML page (figures inlined as PNG) from the built collections.

Per host: the dielectric constant that screened its charged defects (and what a computed one is made of), a
sortable table of its defects (click a header), the formation-energy diagram at every
chemical-potential limit, the site potentials of every Kumagai–Oba-corrected charge state, the
configuration-coordinate diagram and C̃/W_if²(T) of every charge pair, its PL bands and the embedded-cell S and
PL convergence where computed; then the accuracy record of every per-defect potential.
"""

from __future__ import annotations

import base64
import html
import tempfile
from collections.abc import Callable
from itertools import groupby
from pathlib import Path

import defectscreen
from defectscreen.flows.defect_set import charge_label
from defectscreen.reports.plots import (
    plot_configuration_coordinate,
    plot_embedding_convergence,
    plot_formation_energies,
    plot_host_dispersion,
    plot_photoluminescence,
    plot_site_ensemble,
    plot_site_potentials,
    shown_dispersions,
)
from defectscreen.schemas import (
    ConfigurationCoordinateDocument,
    DefectChargeDocument,
    DielectricDocument,
    EmbeddingConvergenceDocument,
    FormationEnergyDocument,
)
from defectscreen.schemas.amorphous import SiteEnsembleSummary
from defectscreen.schemas.formation import DefectFormation, PhotoluminescenceBand
from defectscreen.schemas.phonons import PhononDispersionDocument, supercell_atoms

TABLE_COLUMNS = (("defect", "defect_name"), ("type", "defect_type"), ("charges", "charges"),
                 ("levels (eV above VBM)", "transition_levels"), ("deepest level (eV)", "deepest_level_depth_eV"),
                 ("max S", "huang_rhys_total_max"), ("max C/W² 300 K (cm³/s)", "capture_coefficient_per_W_if2_max_cm3_s"),
                 ("max C 300 K (cm³/s)", "capture_coefficient_max_cm3_s"))
SITE_ENSEMBLE_COLUMNS = (("limit", "limit"), ("sites", "sites"), ("mean (eV)", "mean_eV"),
                         ("σ (eV)", "standard_deviation_eV"), ("lowest (eV)", "lowest_eV"),
                         ("highest (eV)", "highest_eV"), ("lowest site", "lowest_site"), ("r", "pearson_r"))

SORT_SCRIPT = """
document.querySelectorAll("table.sortable th").forEach((header, column) => header.addEventListener("click", () => {
  const body = header.closest("table").tBodies[0];
  const ascending = header.dataset.order !== "ascending";
  header.dataset.order = ascending ? "ascending" : "descending";
  const key = row => { const text = row.cells[column].dataset.value ?? row.cells[column].textContent;
                       const number = parseFloat(text); return isNaN(number) ? text : number; };
  [...body.rows].sort((a, b) => (key(a) > key(b) ? 1 : key(a) < key(b) ? -1 : 0) * (ascending ? 1 : -1))
    .forEach(row => body.appendChild(row));
}));
window.addEventListener("load", () => {
  const images = [...document.images];
  document.body.dataset.imagesLoaded = images.filter(i => i.complete && i.naturalWidth > 0).length + "/" + images.length;
});
"""

STYLE = """
body { font-family: sans-serif; margin: 2em; color: #222; }
table { border-collapse: collapse; margin: 1em 0; font-size: 0.9em; }
th, td { border: 1px solid #bbb; padding: 0.3em 0.6em; text-align: right; }
th { background: #e8eef6; cursor: pointer; }
td:first-child, th:first-child { text-align: left; }
img { max-width: 100%; border: 1px solid #ddd; margin: 0.5em 0; }
.note { color: #666; font-size: 0.85em; }
.flagged { color: #8a4b00; font-style: italic; }
.flag { color: #8a4b00; background: #fff4e0; border-left: 4px solid #e08a00; padding: 4px 8px; font-size: 0.9em; }
"""


def _figure(draw: Callable[[Path], Path]) -> str:
    """An <img> with the PNG ``draw`` writes, inlined as base64."""
    with tempfile.TemporaryDirectory() as folder:
        data = draw(Path(folder) / "figure.png").read_bytes()
    return f'<img alt="figure" src="data:image/png;base64,{base64.b64encode(data).decode()}">'


#: Columns whose numbers depend on the host's gap: marked, not printed as results, when its formation document is
#: flagged.
GAP_COLUMNS = ("transition_levels", "deepest_level_depth_eV")


def _cell(key: str, value: object, flagged: bool = False) -> str:
    if value is None:
        return '<td data-value="-1e300">–</td>'
    if flagged and key in GAP_COLUMNS:
        return '<td class="flagged" data-value="-1e300">not physics (flag above)</td>'
    if key == "transition_levels":
        text = ", ".join(f"ε({t['charges']}) {t['level_eV']:.2f}" for t in value) or "none in gap"
        sort = value[0]["level_eV"] if value else -1e300
        return f'<td data-value="{sort}">{html.escape(text)}</td>'
    if isinstance(value, float):
        return f'<td data-value="{value}">{value:.3g}</td>'
    if isinstance(value, list):
        return f"<td>{html.escape(', '.join(f'{v:+d}' if v else '0' for v in value))}</td>"
    return f"<td>{html.escape(str(value))}</td>"


def _table(rows: list[dict], columns: tuple[tuple[str, str], ...], table_id: str) -> str:
    head = "".join(f"<th>{html.escape(title)}</th>" for title, _ in columns)
    body = "".join("<tr>" + "".join(_cell(key, row.get(key), bool(row.get("flags"))) for _, key in columns) + "</tr>"
                   for row in rows)
    return f'<table class="sortable" id="{table_id}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def _tensor(tensor: float | list[list[float]]) -> str:
    """A dielectric constant as written in the report: the number, or the diagonal (and the largest off-diagonal
    element where one is not negligible)."""
    if not isinstance(tensor, list):
        return f"{tensor:.2f}"
    off_diagonal = max(abs(tensor[i][j]) for i in range(3) for j in range(3) if i != j)
    diagonal = f"diag({', '.join(f'{tensor[i][i]:.2f}' for i in range(3))})"
    return diagonal if off_diagonal < 5e-3 else f"{diagonal}, off-diagonal up to {off_diagonal:.2f}"


def _screening_note(epsilon: float | list[list[float]], dielectric: dict | None) -> str:
    """Which ε⁰ screened the host's charged defects and, when computed, what it is made of."""
    if dielectric is None:
        return f'<p class="note">Charged defects screened by ε⁰ = {html.escape(_tensor(epsilon))} (campaign).</p>'
    document = DielectricDocument(**dielectric)
    charges = ", ".join(f"{site.specie.symbol} {document.born_charges_e[i][0][0]:+.2f}"
                        for i, site in enumerate(document.structure))
    modes = ", ".join(f"{mode.frequency_meV:.1f}" for mode in document.infrared_modes)
    return (f'<p class="note">Charged defects screened by ε⁰ = {html.escape(_tensor(epsilon))}, computed with '
            f"{html.escape(document.engine.name)} on the primitive cell (k {'x'.join(map(str, document.kpts))}): "
            f"ε∞ = {html.escape(_tensor(document.epsilon_electronic))}, ε_ion = "
            f"{html.escape(_tensor(document.epsilon_ionic))}; Born charges Z*_xx {html.escape(charges)}; "
            f"infrared-active TO modes {modes} meV.</p>")


def _not_physics(flags: list[str]) -> str:
    """One highlighted paragraph per flag."""
    return "".join(f'<p class="flag">Not physics: {html.escape(flag)}</p>' for flag in flags)


CAPTURE_TERMS = (("C̃/W_if²", "capture_coefficient_per_W_if2_cm3_s", ".2e"),
                 ("C̃", "capture_coefficient_unscaled_cm3_s", ".2e"), ("f", "sommerfeld_factor", ".2f"),
                 ("s", "charged_supercell_scaling", ".2f"), ("C", "capture_coefficient_cm3_s", ".2e"))


def _capture_note(pair: dict) -> str:
    """One line per capture direction at the pair's level: the factors of C = f C̃ / s that are known (cm³/s)."""
    lines = [", ".join([f"{c['carrier']} capture (Z = {c.get('Z', '?')}) at ΔE = {c['delta_E_eV']:.2f} eV, "
                        f"{c['temperature_K']:g} K",
                        *(f"{label} = {c[key]:{form}}" for label, key, form in CAPTURE_TERMS
                          if c.get(key) is not None),
                        *(["s(R) has no plateau in this cell: use a larger supercell before trusting C"]
                          if c.get("scaling_plateau_found") is False else [])])
             for c in pair["capture"]]
    return f'<p class="note">{html.escape("; ".join(lines))} (cm³/s, g = 1)</p>' if lines else ""


def _dispersion_sections(dispersions: list[dict]) -> list[str]:
    """Per host: its potential's dispersion (the engine's dashed beneath where computed), Γ TO/LO and the
    Lyddane–Sachs–Teller check, the engine-vs-potential errors, the flags."""
    newest: dict[str, dict[str, PhononDispersionDocument]] = {}
    for output in dispersions:
        document = PhononDispersionDocument(**output)
        newest.setdefault(document.host, {})[document.force_source] = document
    parts = []
    for host, documents in sorted(newest.items()):
        main, _ = shown_dispersions(documents)
        notes = [f"Forces from {main.force_constants_source}, supercell of "
                 f"{supercell_atoms(main.supercell_matrix, len(main.primitive_structure))} atoms."]
        correction = main.dipole_correction
        if correction is not None:
            notes.append(f"LO–TO from Z* and ε∞ ({correction.source}): Γ TO "
                         f"{', '.join(f'{f:.1f}' for f in correction.transverse_gamma_meV[3:])} meV, LO (q̂ = x) "
                         f"{', '.join(f'{f:.1f}' for f in correction.longitudinal_gamma_meV[3:])} meV; "
                         f"Π(ω_LO/ω_TO)² = {correction.lyddane_sachs_teller_ratio:.3f}" + (
                             "" if correction.epsilon_static_ratio is None
                             else f" vs ε⁰/ε∞ = {correction.epsilon_static_ratio:.3f}") + ".")
        comparison = documents["engine"].comparison if "engine" in documents else None
        if comparison is not None:
            notes.append(f"Engine ({documents['engine'].engine.name}, relaxation cell) vs potential: "
                         f"{comparison.same_supercell_mean_error_meV:.2f} / {comparison.same_supercell_max_error_meV:.2f}"
                         f" meV mean / max in the same supercell, {comparison.mean_error_meV:.2f} / "
                         f"{comparison.max_error_meV:.2f} meV against the potential's larger supercell.")
        parts += [f"<h2>{html.escape(host)}: phonon dispersion</h2>",
                  f'<p class="note">{html.escape(" ".join(notes))}</p>',
                  _not_physics(main.flags),
                  _figure(lambda path, d=documents, h=host: plot_host_dispersion(d, path, title=h))]
    return parts


def _site_ensemble_sections(ensembles: list[dict]) -> list[str]:
    """Per amorphous host, defect and charge state (``ensembles``: its SiteEnsembleDocuments, one per
    chemical-potential limit, in order): its formation energy over the glass sites at the VBM in each limit (mean,
    spread, range, lowest site, correlation with the vacancy descriptor), the histogram of the first limit, the
    sites' flags."""
    parts = []
    for (host, defect, charge), group in groupby(ensembles, key=lambda d: (d["host"], d["defect"], d["charge"])):
        summaries = [SiteEnsembleSummary.model_validate(document) for document in group]
        rows = [{"limit": summary.limit, "sites": len(summary.sites), "mean_eV": summary.mean_eV,
                 "standard_deviation_eV": summary.standard_deviation_eV,
                 "lowest_eV": min(summary.formation_energy_eV), "highest_eV": max(summary.formation_energy_eV),
                 "lowest_site": summary.lowest_sites[0], "pearson_r": summary.pearson_r} for summary in summaries]
        label = f"{host}: {defect} (q = {charge_label(charge)})"
        descriptor = summaries[0].descriptor
        parts += [f"<h2>{html.escape(label)} over the glass sites</h2>",
                  '<p class="note">Formation energies at E_F = the VBM of each glass (eV)'
                  + (f"; r: correlation with the {html.escape(descriptor)}" if descriptor else "") + ". Per glass ("
                  + html.escape(summaries[0].limit) + "): " + html.escape(", ".join(
                      f"{glass.glass} {glass.mean_eV:.3f} ± {glass.standard_deviation_eV:.3f} ({glass.sites} sites)"
                      for glass in summaries[0].per_glass)) + ".</p>",
                  _not_physics(summaries[0].flags),
                  _table(rows, SITE_ENSEMBLE_COLUMNS, f"sites-{host}-{defect}-{charge}"),
                  _figure(lambda path, summary=summaries[0]: plot_site_ensemble(summary, path, title=label))]
    return parts


def render_report(title: str, formation_documents: list[dict], defect_formations: dict[str, list[DefectFormation]],
                  summaries: list[dict], vibronic: dict[str, dict], potentials: list[dict], kumagai_defects: list[dict],
                  screening: dict[str, tuple[float | list[list[float]], dict | None]],
                  dispersions: list[dict], site_ensembles: list[dict]) -> str:
    """The report page. ``defect_formations`` maps a host_id to its defects' formation energies; ``vibronic`` maps
    a JobStore uuid to the configuration-coordinate or embedding-convergence document a summary links to;
    ``potentials`` are the rows of ``storage.query.potential_rows``;
    ``kumagai_defects`` the defect documents corrected by Kumagai–Oba; ``screening`` maps a host to the dielectric
    constant its charged defects were corrected with and the dielectric document it was computed in (or None);
    ``dispersions`` the hosts' PhononDispersionDocuments (potential and engine), oldest first; ``site_ensembles``
    the SiteEnsembleDocuments of the amorphous hosts, ordered by host, defect, charge and limit."""
    parts = [f"<h1>{html.escape(title)}</h1>",
             (f'<p class="note">defectscreen {defectscreen.__version__}; {len(summaries)} defects in '
              f"{len(formation_documents)} host(s). Energies in eV, levels above the VBM of each host's engine.</p>")]
    for formation in formation_documents:
        document = FormationEnergyDocument(**{k: v for k, v in formation.items() if k != "_id"})
        host_rows = sorted((s for s in summaries if s["formation_energies_uuid"] == document.host_id),
                           key=lambda s: s["defect_name"])
        limits = ", ".join(f"{limit.name}: " + ", ".join(f"μ_{el} = {mu:.2f}" for el, mu in limit.mu_eV.items())
                           for limit in document.chemical_potential_limits)
        fermi = "; ".join(f"{s.limit}: E_F = {s.fermi_level_eV:.2f} eV" for s in document.fermi_levels)
        parts += [(f'<h2 id="host-{html.escape(document.host)}">{html.escape(document.host)} '
                   f"({html.escape(document.engine.name)}, gap {document.band_gap_eV:.2f} eV)</h2>"),
                  (f'<p class="note">ΔH_f {document.host_formation_enthalpy_eV_per_atom:.3f} eV/atom; limits: '
                   f"{html.escape(limits)}. Charge-neutral Fermi level at {document.fermi_levels[0].temperature_K:g} K: "
                   f"{html.escape(fermi)}.</p>") if document.fermi_levels else "",
                  _screening_note(*screening[document.host]) if document.host in screening else "",
                  _not_physics(document.flags),
                  _table(host_rows, TABLE_COLUMNS, f"defects-{document.host}"),
                  _figure(lambda path, d=document: plot_formation_energies(d, defect_formations[d.host_id], path))]
        host_states = {state.defect_uuid for defect in defect_formations[document.host_id]
                       for state in defect.charge_states}
        for corrected in sorted((d for d in kumagai_defects if d["task_uuid"] in host_states),
                                key=lambda d: d["defect_id"]):
            charged = DefectChargeDocument(**{k: v for k, v in corrected.items() if k != "_id"})
            parts += [f"<h3>{html.escape(charged.labels.calculation_id)}: Kumagai–Oba site potentials</h3>",
                      _figure(lambda path, d=charged: plot_site_potentials(d, path))]
        for summary in host_rows:
            for pair in summary["pairs"]:
                uuid = pair["source_uuids"].get("configuration_coordinate")
                if uuid in vibronic:
                    ccd = ConfigurationCoordinateDocument(**vibronic[uuid])
                    parts += [f"<h3>{html.escape(ccd.calculation_id)}</h3>",
                              _figure(lambda path, d=ccd: plot_configuration_coordinate(d, path)),
                              _capture_note(pair),
                              _not_physics(ccd.flags)]
                if pair["photoluminescence"]:
                    bands = [PhotoluminescenceBand(**band) for band in pair["photoluminescence"]]
                    label = f"{summary['host']}:{summary['defect_name']}:{pair['charges']}"
                    parts += [f"<h3>{html.escape(label)}: photoluminescence</h3>",
                              _figure(lambda path, b=bands: plot_photoluminescence(b, path)),
                              _not_physics([f"{band.carrier} capture: {flag}" for band in bands for flag in band.flags])]
                uuid = pair["source_uuids"].get("embedding_convergence")
                if uuid in vibronic:
                    convergence = EmbeddingConvergenceDocument(**vibronic[uuid])
                    parts += [f"<h3>{html.escape(convergence.label)}: embedded phonons and PL</h3>",
                              _figure(lambda path, d=convergence: plot_embedding_convergence(d, path))]
    parts += _site_ensemble_sections(site_ensembles)
    parts += _dispersion_sections(dispersions)
    if potentials:
        columns = tuple((key.replace("_", " "), key) for key in potentials[0] if key != "uuid")
        parts += ["<h2>Per-defect potentials: accuracy record</h2>", _table(potentials, columns, "potentials")]
    return (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
            f"<style>{STYLE}</style></head><body>{''.join(parts)}<script>{SORT_SCRIPT}</script></body></html>")

"""A defect over the sites of amorphous hosts: the distribution of its formation energy and a local descriptor."""

from __future__ import annotations

import numpy as np
from pymatgen.core import Structure

from defectscreen.analysis.amorphous import NETWORK_FORMERS
from defectscreen.schemas.amorphous import GlassSites, SiteEnsembleSummary, glass_of_site

#: sites listed as the lowest of an ensemble
LOWEST_SITES = 5


def vacancy_neighbour_distance_angstrom(relaxed: Structure, site_frac_coords: list[float], neighbour: str) -> float:
    """Distance (Å) between the two ``neighbour`` atoms nearest the vacant site in the relaxed defect cell: for the
    oxygen vacancy in a-SiO2 the Si–Si distance across it (3.1 Å bridged by O; ~2.3–2.5 Å when the neutral
    vacancy forms an Si–Si bond, longer where a charged one puckers)."""
    candidates = [i for i, site in enumerate(relaxed) if site.specie.symbol == neighbour]
    if len(candidates) < 2:
        raise ValueError(f"the cell has fewer than two {neighbour} atoms")
    lattice = relaxed.lattice
    to_site = lattice.get_all_distances(relaxed.frac_coords[candidates], [site_frac_coords])[:, 0]
    first, second = (candidates[i] for i in np.argsort(to_site)[:2])
    return float(relaxed.get_distance(first, second))


def vacancy_descriptor(defect: str, relaxed_cells: dict[str, tuple[Structure, list[float]]],
                       ) -> tuple[str | None, dict[str, float] | None]:
    """For a vacancy of a network glass ('v_O' in a-SiO2): the descriptor's name and, per site id, the distance
    between the two former atoms nearest the vacant site (``relaxed_cells``: site id -> (relaxed defect cell, the
    site's fractional coordinates)); (None, None) for any other defect."""
    elements = {element.symbol for cell, _ in relaxed_cells.values() for element in cell.composition}
    formers = next((pair for pair in NETWORK_FORMERS.values() if set(pair) <= elements), None)
    if not defect.startswith("v_") or formers is None:
        return None, None
    former = formers[0]
    return (f"{former}–{former} distance across the vacancy after relaxation (Å)",
            {site: vacancy_neighbour_distance_angstrom(cell, coords, former)
             for site, (cell, coords) in relaxed_cells.items()})


def site_ensemble(host: str, defect: str, charge: int, limit: str, fermi_level_eV: float,
                  formation_energy_eV: dict[str, float], descriptor: str | None = None,
                  descriptor_values: dict[str, float] | None = None, bins: int = 10,
                  flags: tuple[str, ...] = ()) -> SiteEnsembleSummary:
    """The summary of ``formation_energy_eV`` (site id 'a-SiO2#1:v_O@17' -> E_f at ``fermi_level_eV`` and ``limit``,
    eV), over all sites and glass by glass, and, where given, its Pearson correlation with ``descriptor_values``
    (site id -> value); ``flags``: why the energies are not physics."""
    sites = sorted(formation_energy_eV)
    energies = np.array([formation_energy_eV[s] for s in sites])
    glass_of = np.array([glass_of_site(site) for site in sites])
    per_glass = [GlassSites(glass=glass, sites=int((glass_of == glass).sum()),
                            mean_eV=float(energies[glass_of == glass].mean()),
                            standard_deviation_eV=float(energies[glass_of == glass].std(ddof=1))
                            if (glass_of == glass).sum() > 1 else 0.0)
                 for glass in sorted(set(glass_of))]
    counts, edges = np.histogram(energies, bins=bins)
    values = None if descriptor_values is None else [descriptor_values[s] for s in sites]
    r = None
    if values is not None and len(sites) >= 3 and np.ptp(values) > 0 and np.ptp(energies) > 0:
        r = float(np.corrcoef(energies, values)[0, 1])
    return SiteEnsembleSummary(
        host=host, defect=defect, charge=charge, limit=limit, fermi_level_eV=fermi_level_eV, sites=sites,
        formation_energy_eV=energies.tolist(), mean_eV=float(energies.mean()),
        standard_deviation_eV=float(energies.std(ddof=1)) if len(sites) > 1 else 0.0,
        lowest_sites=[sites[i] for i in np.argsort(energies)[:LOWEST_SITES]], histogram_counts=counts.tolist(),
        histogram_edges_eV=edges.tolist(), descriptor=descriptor if values is not None else None,
        descriptor_values=values, pearson_r=r, flags=list(flags), per_glass=per_glass)


def site_ensemble_of_states(host: str, defect: str, charge: int, limit: str, states: list[dict]) -> SiteEnsembleSummary:
    """The summary of ``states`` (rows of ``storage.query.site_states_of``: each site's formation energy at the VBM
    per limit, its relaxed cell and where the defect sits) at ``limit`` and E_F = the VBM of each glass, with the
    vacancy descriptor where the defect has one and the sites' flags."""
    energies = {row["site"]: row["formation_energy_at_vbm_eV"][limit] for row in states}
    descriptor, values = vacancy_descriptor(defect, {row["site"]: (Structure.from_dict(row["structure"]),
                                                                   row["site_frac_coords"]) for row in states})
    return site_ensemble(host, defect, charge, limit, 0.0, energies, descriptor, values,
                         flags=tuple(sorted({flag for row in states for flag in row["flags"]})))


def site_ensemble_at_fermi_level(summary: SiteEnsembleSummary, fermi_level_eV: float) -> SiteEnsembleSummary:
    """``summary`` at E_F = VBM + ``fermi_level_eV`` (eV, the same above the VBM of each glass): every formation
    energy, the means and the histogram move by q ΔE_F (E_f(E_F) = E_f(VBM) + q E_F); the spreads, the order of the
    sites and the correlation stay."""
    shift = summary.charge * (fermi_level_eV - summary.fermi_level_eV)
    return summary.model_copy(update={
        "fermi_level_eV": fermi_level_eV, "mean_eV": summary.mean_eV + shift,
        "formation_energy_eV": [value + shift for value in summary.formation_energy_eV],
        "histogram_edges_eV": [edge + shift for edge in summary.histogram_edges_eV],
        "per_glass": [glass.model_copy(update={"mean_eV": glass.mean_eV + shift}) for glass in summary.per_glass]})

"""Structure search (seed 002) as jobs: the surrogate of a host and charge state, the search of one (defect,
charge) that sends its unique surrogate minima to the engine, the ground state, and the benchmark record."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
from jobflow import CURRENT_JOB, Flow, Job, Maker, OnMissing, Response, job
from jobflow.core.reference import ResolvedReference
from pydantic import BaseModel, ConfigDict, Field, model_validator
from pymatgen.core import Structure

import defectscreen
from defectscreen.analysis.defect_fingerprints import cosine_distances, defect_site_fingerprints, unique_minima
from defectscreen.analysis.distortion_prior import SearchedDefect, distortion_prior, prior_candidates
from defectscreen.analysis.distortions import defect_site_index, distortion_candidates
from defectscreen.engines import XtbSettings
from defectscreen.jobs.provenance import made_by, parent_uuids, provenance, read, read_all, uuid_of
from defectscreen.jobs.reference import RelaxMaker
from defectscreen.mlip.surrogate import Frame, SurrogateSettings, fine_tune, select_frames, stored_surrogate
from defectscreen.schemas import CalculationLabels, TaskDocument
from defectscreen.schemas.search import (
    CandidateStartRoute,
    FullSearchDocument,
    SearchBenchmarkDocument,
    SearchCandidate,
    StructureSearchDocument,
    SurrogateDocument,
    TrainingSource,
)

UNPERTURBED = "Unperturbed"
#: metadata (and FireWorks spec) key of a search candidate's reference relaxation: its name, route ('full',
#: 'surrogate' or 'prior') and settings hash prefix
SEARCH_CANDIDATE = "search_candidate"


class SearchSettings(BaseModel):
    """Structure search (seed 002) before each defect's ground state is fixed: ShakeNBreak candidates relaxed with a
    fine-tuned surrogate, unique minima by the SOAP fingerprint of the defect site, those minima relaxed with the
    engine; the lowest reference energy (unperturbed relaxation included) is the ground state every later step
    uses. ``benchmark`` also relaxes every candidate with the engine and records what the surrogate saved."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    distortion_increment: float = Field(0.1, gt=0, le=0.6, description="bond distortions from −60 % to +60 %")
    neighbour_pairs: bool | Literal["auto"] = Field(
        "auto", description="also compress every pair of first-shell neighbours (−60 … −20 %); 'auto': when the "
        "shell holds more than one element")
    cosine_distance_threshold: float = Field(1e-3, gt=0, lt=1, description="SOAP cosine distance below which two "
                                             "minima are the same")
    soap_r_cut_angstrom: float = Field(5.0, gt=0)
    soap_n_max: int = Field(10, ge=1)
    soap_l_max: int = Field(10, ge=0)
    soap_sigma_angstrom: float = Field(1.0, gt=0)
    surrogate: SurrogateSettings = Field(default_factory=SurrogateSettings)
    max_sent: int | None = Field(None, ge=0, description="send at most this many unique minima, the lowest by "
                                 "surrogate energy (None: every one; 0: no surrogate is trained or run, the family "
                                 "prior's candidates alone are relaxed with the engine)")
    send_within_eV: float | None = Field(None, gt=0, description="send only unique minima whose surrogate energy is "
                                         "within this of the lowest (None: every one)")
    training_campaign: str | None = Field(
        None, description="an earlier campaign on this store whose training hosts' full searches (finished) also "
        "train this campaign's surrogates, reused as stored: a family of related hosts searched once with the engine "
        "serves every later campaign with the same engine, relaxation and candidate settings")
    training_hosts: list[str] | Literal["all_others"] = Field(
        default_factory=list, description="hosts whose every candidate is relaxed with the engine (a full search, "
        "which fixes their ground states); their relaxations and bulk frames also train the other hosts' surrogates "
        "(seed 002: learn on related compositions, search unseen ones). 'all_others' (benchmark only): each host's "
        "surrogate learns from the full searches of all the other hosts")
    prior_candidates: int = Field(
        0, ge=0, description="also relax with the engine, from their distorted structures, the k candidates that "
        "recovered most of the reconstructions in the related hosts' full searches (every charge state; "
        "analysis.distortion_prior): the family's prior, which needs search.training_hosts or "
        "search.training_campaign (0: none)")
    benchmark: bool = False
    ground_state_tolerance_eV: float = Field(
        0.01, gt=0, description="a ground state is found (benchmark) within this of the full search's, and a related "
        "defect counts as reconstructed (prior_candidates) when more than this below its unperturbed relaxation")

    @model_validator(mode="after")
    def _something_sent(self) -> SearchSettings:
        if self.max_sent == 0 and not self.prior_candidates:
            raise ValueError("search.max_sent: 0 sends no surrogate minimum and search.prior_candidates is 0, so the "
                             "search would relax nothing but the unperturbed cell: raise max_sent (or leave it out), "
                             "or set prior_candidates")
        return self


def minima_to_send(minima: list[str], energies_eV: dict[str, float], max_sent: int | None = None,
                   within_eV: float | None = None) -> list[str]:
    """The unique surrogate minima (candidate names) sent to the reference engine, lowest surrogate energy first:
    every one but the unperturbed cell's (its reference relaxation exists), only those within ``within_eV`` of the
    lowest minimum (the unperturbed one included), at most ``max_sent`` of them; none without a surrogate."""
    if not minima:
        return []
    lowest = min(energies_eV[name] for name in minima)
    ordered = sorted((name for name in minima if name != UNPERTURBED), key=lambda name: energies_eV[name])
    kept = [name for name in ordered if within_eV is None or energies_eV[name] - lowest <= within_eV]
    return kept if max_sent is None else kept[:max_sent]


def relaxation_frames(task: TaskDocument) -> list[Frame]:
    """The labelled frames a relaxation kept (lattice and species of its input structure)."""
    lattice, species = task.input_structure.lattice, task.input_structure.species
    return [Frame(Structure(lattice, species, f.positions_angstrom, coords_are_cartesian=True), f.energy_eV,
                  np.array(f.forces_eV_per_angstrom), task.labels.calculation_id) for f in task.relaxation_frames]


def family_prior(searches: list[FullSearchDocument], unperturbed: list[TaskDocument],
                 tolerance_eV: float) -> dict[str, float]:
    """Candidate -> mean fraction of the reconstruction it recovered over the related hosts' full searches (each
    with its cell's unperturbed relaxation), highest first (analysis.distortion_prior)."""
    defects = [SearchedDefect({name: None for name in search.candidates}
                              | {t.search_candidate: t.energy_eV for t in _converged(search.relaxations)},
                              relaxed.energy_eV) for search, relaxed in zip(searches, unperturbed)]
    return dict(distortion_prior(defects, tolerance_eV))


def surrogate_minima(model, starts: dict[str, Structure], structure: Structure, labels: CalculationLabels,
                     settings: SearchSettings) -> tuple[dict[str, tuple[Structure, float, int, bool]], np.ndarray,
                                                        list[int]]:
    """The unperturbed cell ``structure`` and every ShakeNBreak candidate (``starts``) relaxed with the surrogate
    (name -> structure, energy in eV, steps, converged), the SOAP cosine distances of their defect sites, and each
    one's unique minimum (index)."""
    relaxed = model.relax({UNPERTURBED: structure} | starts, settings.surrogate.fmax_eV_per_angstrom,
                          settings.surrogate.max_steps)
    site = defect_site_index(structure, labels.defect_site_frac_coords, labels.defect_type)
    centres = [r[0].cart_coords[site] if site is not None
               else structure.lattice.get_cartesian_coords(labels.defect_site_frac_coords) for r in relaxed.values()]
    fingerprints = defect_site_fingerprints([r[0] for r in relaxed.values()], centres, settings.soap_r_cut_angstrom,
                                            settings.soap_n_max, settings.soap_l_max, settings.soap_sigma_angstrom)
    distances = cosine_distances(fingerprints)
    return relaxed, distances, unique_minima([r[1] for r in relaxed.values()], distances,
                                             settings.cosine_distance_threshold)


@dataclass
class SurrogateMaker(Maker):
    """Fine-tune the surrogate of one host and charge state on its bulk and defect reference relaxations, and on the
    full searches and bulk relaxations of related hosts when the campaign names training hosts."""

    name: str = "surrogate"
    settings: dict = field(default_factory=lambda: SurrogateSettings().model_dump(mode="json"))

    @job(data=["model_base64"], config=provenance())
    def make(self, bulk: TaskDocument, defects: list[TaskDocument], surrogate_id: str, campaign_sha256: str,
             related_bulks: list[TaskDocument] = (), related_searches: list[FullSearchDocument] = (),
             training_campaign: str | None = None) -> SurrogateDocument:
        """``training_campaign``: the earlier campaign some of the related relaxations were taken from, as stored."""
        settings = SurrogateSettings.model_validate(self.settings)
        relaxations = [*((uuid_of(task), read(task, TaskDocument)) for task in [bulk, *defects, *related_bulks]),
                       *((uuid_of(search), task) for search in related_searches
                         for task in read(search, FullSearchDocument).relaxations)]
        bulks = read_all([bulk, *related_bulks], TaskDocument)
        defects = read_all(defects, TaskDocument)
        kept = [select_frames(relaxation_frames(task), settings.bulk_frames if task.labels.defect_type == "bulk"
                              else settings.frames_per_relaxation, settings.max_energy_above_lowest_eV)
                for _, task in relaxations]
        is_bulk = [task.labels.defect_type == "bulk" for _, task in relaxations]
        fields = fine_tune([f for frames, b in zip(kept, is_bulk) if not b for f in frames],
                           [f for frames, b in zip(kept, is_bulk) if b for f in frames], settings,
                           Path.cwd() / "surrogate")
        sources = [TrainingSource(uuid=uuid, calculation_id=task.labels.calculation_id, campaign=task.labels.campaign,
                                  candidate=task.search_candidate, n_frames=len(frames))
                   for (uuid, task), frames in zip(relaxations, kept)]
        return SurrogateDocument(
            surrogate_id=surrogate_id, host=bulks[0].labels.host, charge=defects[0].labels.charge,
            settings=settings.model_dump(mode="json"), training_sources=sources,
            related_hosts=sorted({b.labels.host for b in bulks[1:]}), training_campaign=training_campaign,
            n_defects_served=len(defects),
            engine=bulks[0].engine, campaign_sha256=campaign_sha256, parent_uuids=parent_uuids(),
            defectscreen_version=defectscreen.__version__, **fields)


def _candidate_relaxation(relax: RelaxMaker, labels: CalculationLabels, name: str, structure: Structure,
                          route: str, settings_hash: str, parent_uuid: str, campaign_sha256: str) -> Job:
    """Reference relaxation of one search candidate, made by the running search ``parent_uuid``; its FireWorks spec
    names the candidate, the route that sent it and its settings (:data:`SEARCH_CANDIDATE`; the task key it carries
    is its search's)."""
    new = made_by(relax.make(structure, labels, campaign_sha256, search_candidate=name), parent_uuid)
    new.name = f"relax_candidate {labels.calculation_id} {name} ({route})"
    new.update_metadata({SEARCH_CANDIDATE: {"name": name, "route": route, "settings_hash": settings_hash[:16]}})
    return new


@dataclass
class FullSearchMaker(Maker):
    """Every candidate of one (defect, charge) relaxed with the engine (seed 002's reference search): the benchmark's
    comparison, and training data for the surrogates of related hosts. The job is replaced by those relaxations and
    their collection, so its output is a FullSearchDocument. A candidate the engine already relaxed from the same
    start with the same settings (another grid's full search of the cell: ShakeNBreak names a distortion by its
    size, so the 10 % grid holds the 20 % grid's candidates) is read, not relaxed again."""

    name: str = "full search"
    engine_settings: dict = field(default_factory=lambda: XtbSettings().model_dump(mode="json"))
    fmax_eV_per_angstrom: float = 0.05
    max_steps: int = 200
    search: dict = field(default_factory=dict)
    candidate_settings_hash: str = ""  # recorded with the relaxations it adds: engine and relaxation settings

    @job(config=provenance(on_missing_references=OnMissing.NONE, pass_manager_config=False))
    def make(self, structure: Structure, bulk_structure: Structure, labels: CalculationLabels,
             campaign_sha256: str, relaxed_earlier: dict[str, TaskDocument] | None = None) -> Response:
        """``relaxed_earlier``: candidate name -> its finished reference relaxation under the same engine and
        relaxation settings (read where its start is this search's start of that name)."""
        settings = SearchSettings.model_validate(self.search)
        starts = distortion_candidates(structure, bulk_structure, labels.defect_site_frac_coords, labels.defect_type,
                                       labels.charge, settings.distortion_increment, settings.neighbour_pairs)
        earlier = {name: relaxation for name, relaxation in (relaxed_earlier or {}).items()
                   if name in starts and relaxed_from(read(relaxation, TaskDocument), starts[name])}
        relax = RelaxMaker(engine_settings=self.engine_settings, fmax_eV_per_angstrom=self.fmax_eV_per_angstrom,
                           max_steps=self.max_steps, task_label="relax_candidate")
        search_uuid = CURRENT_JOB.job.uuid
        jobs = {name: _candidate_relaxation(relax, labels, name, start, "full", self.candidate_settings_hash,
                                            search_uuid, campaign_sha256)
                for name, start in starts.items() if name not in earlier}
        relaxations = [earlier[name] if name in earlier else jobs[name].output for name in starts]
        collect = made_by(FullSearchCollectionMaker().make(labels, list(starts), relaxations,
                                                           settings.distortion_increment, campaign_sha256), search_uuid)
        return Response(replace=Flow([*jobs.values(), collect], output=collect.output))


def full_search_relaxations(full_search: Any, starts: dict[str, Structure]) -> dict[str, ResolvedReference]:
    """Candidate name -> its relaxation in the full search of the same cell (benchmark mode: the prior's candidates
    are the full search's, relaxed from the same starts), as a resolved reference to that document's entry."""
    full = read(full_search, FullSearchDocument)
    if full is None:
        return {}
    return {task.search_candidate: ResolvedReference(uuid=uuid_of(full_search),
                                                     attributes=(("a", "relaxations"), ("i", index)), value=task)
            for index, task in enumerate(full.relaxations)
            if task.search_candidate in starts and relaxed_from(task, starts[task.search_candidate])}


def relaxed_from(relaxation: TaskDocument | None, start: Structure, tolerance_angstrom: float = 1e-6) -> bool:
    """Whether a finished relaxation started from ``start`` (same lattice, species and positions)."""
    if relaxation is None:
        return False
    initial = relaxation.input_structure
    return (initial.species == start.species
            and np.allclose(initial.lattice.matrix, start.lattice.matrix, atol=tolerance_angstrom)
            and np.allclose(initial.cart_coords, start.cart_coords, atol=tolerance_angstrom))


@dataclass
class FullSearchCollectionMaker(Maker):
    """Gather the reference relaxations of a full search (a failed one is listed as not finished)."""

    name: str = "full search collection"

    @job(config=provenance(on_missing_references=OnMissing.NONE))
    def make(self, labels: CalculationLabels, candidates: list[str], relaxations: list[TaskDocument | None],
             distortion_increment: float, campaign_sha256: str) -> FullSearchDocument:
        finished = _finished(relaxations)
        done = {t.search_candidate for t in finished}
        return FullSearchDocument(
            calculation_id=labels.calculation_id, labels=labels, candidates=candidates, relaxations=finished,
            not_finished=[c for c in candidates if c not in done], distortion_increment=distortion_increment,
            wall_time_s=sum(t.wall_time_s for t in finished), campaign_sha256=campaign_sha256,
            parent_uuids=parent_uuids(), defectscreen_version=defectscreen.__version__)


@dataclass
class StructureSearchMaker(Maker):
    """Search one (defect, charge): candidates relaxed with the surrogate, unique minima sent to the engine; the job
    is replaced by those reference relaxations and the ground-state selection, so its output (read by later steps)
    is the ground-state task document. The search document itself is kept as the job's first output."""

    name: str = "structure search"
    engine_settings: dict = field(default_factory=lambda: XtbSettings().model_dump(mode="json"))
    fmax_eV_per_angstrom: float = 0.05
    max_steps: int = 200
    search: dict = field(default_factory=dict)
    settings_hash: str = ""  # search settings hash: recorded with the relaxations it adds

    @job(config=provenance(pass_manager_config=False))
    def make(self, structure: Structure, bulk_structure: Structure, labels: CalculationLabels,
             unperturbed: TaskDocument, surrogate: SurrogateDocument | None, campaign_sha256: str,
             full_search: FullSearchDocument | None = None, related_searches: list[FullSearchDocument] = (),
             related_unperturbed: list[TaskDocument] = ()) -> Response:
        """``full_search``: the FullSearchMaker output of the same cell, compared with in benchmark mode;
        ``related_searches``: the related hosts' full searches (every charge state) and ``related_unperturbed``
        their cells' unperturbed relaxations, whose prior search.prior_candidates reads; ``surrogate`` None
        (search.max_sent 0): the prior's candidates alone are relaxed with the engine."""
        start = time.perf_counter()
        settings = SearchSettings.model_validate(self.search)
        unperturbed_input, unperturbed_uuid, surrogate_uuid = unperturbed, uuid_of(unperturbed), uuid_of(surrogate)
        unperturbed, surrogate = read(unperturbed, TaskDocument), read(surrogate, SurrogateDocument)
        prior = family_prior(read_all(related_searches, FullSearchDocument),
                             read_all(related_unperturbed, TaskDocument), settings.ground_state_tolerance_eV)
        starts = distortion_candidates(structure, bulk_structure, labels.defect_site_frac_coords, labels.defect_type,
                                       labels.charge, settings.distortion_increment, settings.neighbour_pairs)
        relaxed, distances, minimum_of = {}, np.zeros((0, 0)), []
        if surrogate is not None:
            model = stored_surrogate(surrogate.model_base64, surrogate.settings["starting_model"],
                                     Path.cwd() / "surrogate")
            relaxed, distances, minimum_of = surrogate_minima(model, starts, structure, labels, settings)
        names, energies = list(relaxed), [r[1] for r in relaxed.values()]
        minima = [names[i] for i in sorted(set(minimum_of), key=lambda i: energies[i])]
        from_prior = prior_candidates(prior, starts, settings.prior_candidates)
        sent = [name for name in minima_to_send(minima, dict(zip(names, energies)), settings.max_sent,
                                                settings.send_within_eV) if name not in from_prior]
        candidates = [SearchCandidate(name=n, surrogate_energy_eV=relaxed[n][1], surrogate_steps=relaxed[n][2],
                                      surrogate_converged=relaxed[n][3], minimum=names[minimum_of[i]],
                                      cosine_distance_to_minimum=float(distances[i, minimum_of[i]]),
                                      sent_to_reference=n in sent, sent_from_prior=n in from_prior)
                      for i, n in enumerate(names)]
        document = StructureSearchDocument(
            calculation_id=labels.calculation_id, labels=labels, candidates=candidates, unique_minima=minima,
            sent_to_reference=sent, family_prior=prior, sent_from_prior=from_prior,
            fingerprint={"r_cut_angstrom": settings.soap_r_cut_angstrom, "n_max": settings.soap_n_max,
                         "l_max": settings.soap_l_max, "sigma_angstrom": settings.soap_sigma_angstrom,
                         "cosine_distance_threshold": settings.cosine_distance_threshold},
            selection={"max_sent": settings.max_sent, "send_within_eV": settings.send_within_eV},
            distortion_increment=settings.distortion_increment,
            neighbour_pairs=any(n.startswith("Pair_") for n in starts), benchmark=settings.benchmark,
            surrogate_uuid=surrogate_uuid, unperturbed_uuid=unperturbed_uuid,
            wall_time_s=time.perf_counter() - start, campaign_sha256=campaign_sha256,
            parent_uuids=parent_uuids(), defectscreen_version=defectscreen.__version__)
        relax = RelaxMaker(engine_settings=self.engine_settings, fmax_eV_per_angstrom=self.fmax_eV_per_angstrom,
                           max_steps=self.max_steps, task_label="relax_candidate")
        search_uuid = CURRENT_JOB.job.uuid
        read_from_full = full_search_relaxations(full_search, {n: starts[n] for n in from_prior})
        minima_relaxed = [*(_candidate_relaxation(relax, labels, n, relaxed[n][0], "surrogate", self.settings_hash,
                                                  search_uuid, campaign_sha256) for n in sent),
                          *(_candidate_relaxation(relax, labels, n, starts[n], "prior", self.settings_hash,
                                                  search_uuid, campaign_sha256)
                            for n in from_prior if n not in read_from_full)]
        reference = [*(j.output for j in minima_relaxed), *read_from_full.values()]
        ground = made_by(GroundStateMaker().make(unperturbed_input, reference), search_uuid)
        jobs = [*minima_relaxed, ground]
        if settings.benchmark:
            if full_search is None:
                raise ValueError("search.benchmark needs the full search of the same cell (full_search)")
            jobs.append(made_by(SearchBenchmarkMaker(tolerance_eV=settings.ground_state_tolerance_eV).make(
                document, unperturbed_input, full_search, reference,
                surrogate.wall_time_s / surrogate.n_defects_served if surrogate is not None else 0.0), search_uuid))
        return Response(output=document, replace=Flow(jobs, output=ground.output))


def _lowest(tasks: list[TaskDocument]) -> TaskDocument:
    return min(tasks, key=lambda t: t.energy_eV)


def _finished(outputs: Any) -> list[TaskDocument]:
    """The relaxations that produced a document (a failed job's output, or a failed search's list, is None)."""
    return [t for t in read_all(outputs, TaskDocument) if t is not None]


def _converged(tasks: list[TaskDocument]) -> list[TaskDocument]:
    return [t for t in tasks if t.converged]


@dataclass
class GroundStateMaker(Maker):
    """The lowest converged reference relaxation of a search (unperturbed included), as the defect's 'relax'
    document; a candidate relaxation that failed is left out."""

    name: str = "ground state"

    @job(config=provenance(on_missing_references=OnMissing.NONE))
    def make(self, unperturbed: TaskDocument, candidates: list[TaskDocument | None] | None) -> TaskDocument:
        unperturbed = read(unperturbed, TaskDocument)
        lowest = _lowest([unperturbed, *_converged(_finished(candidates))])
        return lowest.model_copy(update={"task_label": "relax", "parent_uuids": parent_uuids(),
                                         "search_candidate": lowest.search_candidate or UNPERTURBED})


@dataclass
class SearchBenchmarkMaker(Maker):
    """Compare the surrogate route with the full reference search of the same candidates."""

    name: str = "search benchmark"
    tolerance_eV: float = 0.01

    @job(config=provenance(on_missing_references=OnMissing.NONE))
    def make(self, search: StructureSearchDocument, unperturbed: TaskDocument, full: FullSearchDocument | None,
             minima: list[TaskDocument | None], training_share_s: float) -> SearchBenchmarkDocument:
        search, full = read(search, StructureSearchDocument), read(full, FullSearchDocument)
        if full is None:
            raise ValueError(f"the full search of {search.calculation_id} left no document: see its relaxations' "
                             "errors")
        unperturbed = read(unperturbed, TaskDocument)
        full_best = _lowest([unperturbed, *_converged(full.relaxations)])

        def route(relaxations: list[TaskDocument]) -> tuple[TaskDocument, float, float]:
            """A route's ground state (unperturbed included), its energy above the full search's (eV) and its wall
            time: unperturbed + these reference relaxations + surrogate search + this defect's share of training."""
            best = _lowest([unperturbed, *_converged(relaxations)])
            wall = (unperturbed.wall_time_s + search.wall_time_s + training_share_s
                    + sum(t.wall_time_s for t in relaxations))
            return best, best.energy_eV - full_best.energy_eV, wall

        surrogate_best, difference, wall_surrogate = route(_finished(minima))
        candidate_best, candidate_difference, wall_candidates = route(
            [t for t in full.relaxations if t.search_candidate in {*search.sent_to_reference, *search.sent_from_prior}])
        energies = {UNPERTURBED: unperturbed.energy_eV} | {name: None for name in full.candidates}
        energies |= {t.search_candidate: t.energy_eV for t in _converged(full.relaxations)}
        n_full = 1 + len(full.candidates)
        n_surrogate = 1 + len(search.sent_to_reference) + len(search.sent_from_prior)
        wall_full = unperturbed.wall_time_s + full.wall_time_s
        candidate_start = CandidateStartRoute(
            ground_state=candidate_best.search_candidate or UNPERTURBED,
            ground_state_energy_eV=candidate_best.energy_eV, energy_difference_eV=candidate_difference,
            ground_state_found=candidate_difference <= self.tolerance_eV,
            wall_time_s=wall_candidates, speedup=wall_full / wall_candidates)
        return SearchBenchmarkDocument(
            calculation_id=search.calculation_id, labels=search.labels, n_reference_relaxations_full=n_full,
            n_reference_relaxations_surrogate=n_surrogate,
            reference_relaxations_saved_percent=100.0 * (n_full - n_surrogate) / n_full,
            full_ground_state=full_best.search_candidate or UNPERTURBED, full_ground_state_energy_eV=full_best.energy_eV,
            surrogate_ground_state=surrogate_best.search_candidate or UNPERTURBED,
            surrogate_ground_state_energy_eV=surrogate_best.energy_eV, energy_difference_eV=difference,
            ground_state_found=difference <= self.tolerance_eV, ground_state_tolerance_eV=self.tolerance_eV,
            reconstruction_energy_eV=full_best.energy_eV - unperturbed.energy_eV, full_reference_energies_eV=energies,
            wall_time_full_s=wall_full, wall_time_surrogate_s=wall_surrogate, speedup=wall_full / wall_surrogate,
            candidate_start=candidate_start,
            campaign_sha256=search.campaign_sha256, parent_uuids=parent_uuids(),
            defectscreen_version=defectscreen.__version__)

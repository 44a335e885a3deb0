"""A training family reused across campaigns (seed 002: search a family of related hosts fully once, then search
every new composition with a surrogate that learned from it): the finished full searches and bulk relaxations of an
earlier campaign's training hosts, found on the LaunchPad under this campaign's full-search settings."""

from __future__ import annotations

from collections import defaultdict

from fireworks import LaunchPad
from maggma.core import Store

from defectscreen.flows.campaign import Campaign, CampaignError, parse_campaign
from defectscreen.flows.steps.structure_search import (
    StoredSearch,
    TrainingFamily,
    full_search_hash,
)
from defectscreen.jobs.tagging import split_task_key

FIELD = "search.training_campaign"


def _earlier_campaign(name: str, campaigns: Store) -> Campaign:
    campaigns.connect()
    stored = campaigns.query_one({"name": name})
    if stored is None:
        known = sorted(d["name"] for d in campaigns.query({}, properties=["name"]))
        raise CampaignError(f"{FIELD}: no campaign '{name}' was submitted to this store (campaigns here: "
                            f"{', '.join(known) or 'none'}); submit it first, or correct the name")
    return parse_campaign(stored["campaign"], source=f"the stored campaign '{name}'")


def _differing_settings(campaign: Campaign, earlier: Campaign) -> list[str]:
    """The full-search settings in which ``campaign`` differs from ``earlier``."""
    pairs = {"engine": (campaign.engine.settings_hash(), earlier.engine.settings_hash()),
             "relax": (campaign.relax, earlier.relax),
             "search.distortion_increment": (campaign.search.distortion_increment,
                                             earlier.search.distortion_increment),
             "search.neighbour_pairs": (campaign.search.neighbour_pairs, earlier.search.neighbour_pairs)}
    return [name for name, (mine, theirs) in pairs.items() if mine != theirs]


def stored_training_family(campaign: Campaign, launchpad: LaunchPad, campaigns: Store | None) -> TrainingFamily | None:
    """The family ``search.training_campaign`` names, every full search of its training hosts finished; None
    where the campaign names none. A missing campaign, other full-search settings or an unfinished search is a
    CampaignError naming the fix: nothing of the family is ever recomputed by a later campaign."""
    name = campaign.search.training_campaign
    if name is None or "structure_search" not in campaign.properties:
        return None
    if campaigns is None:
        raise ValueError(f"{FIELD} is read from the campaigns collection: submit with it")
    earlier = _earlier_campaign(name, campaigns)
    differing = _differing_settings(campaign, earlier)
    if differing:
        raise CampaignError(f"{FIELD}: campaign '{name}' searched with other {', '.join(differing)} settings, so its "
                            f"full searches are not this campaign's reference: use the same settings, or leave out "
                            f"{FIELD}")
    training = earlier.search.training_hosts
    hosts = [h.name for h in earlier.hosts] if training == "all_others" else list(training)
    if not hosts or "structure_search" not in earlier.properties:
        raise CampaignError(f"{FIELD}: campaign '{name}' searched no host fully (it names no search.training_hosts "
                            "with the structure_search property): name a campaign that did")
    suffix = full_search_hash(earlier)[:16]
    relax_suffix = earlier.engine.settings_hash()[:16]
    states, searched, relaxed = defaultdict(list), {}, {}
    for fw in launchpad.fireworks.find({"spec.defectscreen.host": {"$in": hosts}},
                                       {"name": 1, "spec.defectscreen": 1, "state": 1, "spec._tasks.job.uuid": 1}):
        tags, uuid = fw["spec"]["defectscreen"], fw["spec"]["_tasks"][0]["job"]["uuid"]
        cell, task, settings = split_task_key(tags["key"])
        if task == "full_search" and settings == suffix:  # the search and the relaxations it added (same key)
            states[cell].append(fw["state"])
            if fw["name"] == f"full_search {cell}":
                searched[cell] = uuid
        elif task == "relax" and settings == relax_suffix and fw["state"] == "COMPLETED":
            relaxed[cell] = uuid
    planned = sorted(searched)
    unfinished = [f"{host}:bulk relaxation" for host in sorted({c.split(":")[0] for c in planned})
                  if f"{host}:bulk" not in relaxed]
    for cell in planned:
        pending = [*sorted({s for s in states[cell] if s != "COMPLETED"}),
                   *([] if cell in relaxed else ["unperturbed relaxation not finished"])]
        if pending:
            unfinished.append(f"{cell} ({', '.join(pending)})")
    if not planned:
        raise CampaignError(f"{FIELD}: the LaunchPad holds no full search of campaign '{name}' ({', '.join(hosts)}): "
                            "submit that campaign here and run its workers first")
    if unfinished:
        listed = ", ".join(unfinished[:4]) + (", …" if len(unfinished) > 4 else "")
        raise CampaignError(f"{FIELD}: {len(unfinished)} part(s) of campaign '{name}''s full searches have not finished "
                            f"({listed}): run its workers until they finish (or `defectscreen recover` a failed one), "
                            "then submit this campaign")
    searches = tuple(StoredSearch(cell.split(":")[0], int(cell.rsplit(":", 1)[1]), searched[cell], relaxed[cell])
                     for cell in planned)
    return TrainingFamily(name, {h: relaxed[f"{h}:bulk"] for h in sorted({s.host for s in searches})}, searches)

"""Casework views: the triage review queue, decisions, seller clusters, and takedown status.

Plain data for the pages and their JSON twins, like `crawler.portal.views`, over the query
modules of `crawler.triage` and `crawler.takedown` (this module re-implements no query: it only
restricts their answers to the cases granted to the user). Deciding and takedown actions need
the investigator or admin role; each writes its store record and custody entry with the portal
user (`portal:NAME`) as actor.
"""

from __future__ import annotations

import dataclasses
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from starlette.exceptions import HTTPException

from crawler.exceptions import ConfigError
from crawler.portal import queries, views
from crawler.portal.access import actor_of
from crawler.portal.users import User
from crawler.takedown import notices
from crawler.takedown import queries as takedown_queries
from crawler.takedown.status import ALLOWED, REPORTED, transition
from crawler.triage import clusters as triage_clusters
from crawler.triage import decisions
from crawler.triage import queries as triage_queries

QUEUE_LIMIT = 500
MAX_SELECTION = 1000
NOTICE_STATUSES = ("found", "reported", "reappeared", "rejected")
"""A selection for a notice may hold listings in any status but removed."""


def may_act(user: User) -> None:
    """Deciding and takedown actions: investigators and admins only (viewers read)."""
    if not user.can_export:
        raise HTTPException(403, "this needs the investigator or admin role")


# -- the review queue -------------------------------------------------------------------------

def queue(portal: Any, user: User, params: Mapping[str, str]) -> dict[str, Any]:
    """Listings ranked by triage score, with the top reasons of each score; only granted cases
    (no `case` filter: every granted case)."""
    case = views._text(params, "case")
    min_score = views._number(params, "min_score")
    base = triage_queries.QueueQuery(
        brand=views._text(params, "brand"),
        min_score=None if min_score is None else int(min_score),
        undecided=params.get("undecided") in ("1", "on", "true"), limit=QUEUE_LIMIT)
    allowed = user.allowed_cases()
    if case is not None:
        views._case_allowed(user, case)
        cases: Sequence[str | None] = [case]
    else:
        cases = [None] if allowed is None else list(allowed)
    rows: list[dict[str, Any]] = []
    for one in cases:
        rows += triage_queries.queue(portal.catalog, dataclasses.replace(base, case=one))
    rows = [r for r in rows if user.may_see(queries.case_of(r))]
    rows.sort(key=lambda r: -r["score"])  # stable: each case's own order within a score
    filters = {"case": case, "brand": base.brand, "min_score": base.min_score,
               "undecided": base.undecided}
    return {"filters": filters, "rows": rows[:QUEUE_LIMIT],
            "cases": list(allowed) if allowed is not None else None}


# -- deciding ---------------------------------------------------------------------------------

def triage_of(portal: Any, row: dict[str, Any]) -> dict[str, Any]:
    """A capture's score (with its top reasons) and the decisions on it and its listing."""
    score = triage_queries.score_of(portal.catalog, row["capture_id"])
    if score is not None:
        score["reasons"] = triage_queries.top_reasons(score["signals"], n=5)
    latest = triage_queries.listing_decision(portal.catalog, row["marketplace"],
                                             row["listing_id"], row["capture_id"])
    return {"score": score, "decision": latest,
            "decisions": triage_queries.decisions(portal.catalog, row["capture_id"]),
            "verdicts": list(triage_queries.VERDICTS)}


def decide(portal: Any, user: User, capture_id: str, verdict: str,
           note: str | None) -> dict[str, Any]:
    """Record the user's verdict on a capture of a granted case (store record, custody)."""
    may_act(user)
    row = views.visible_capture(portal, user, capture_id)
    if row["kind"] != "listing":
        raise HTTPException(400, "only listing captures are decided")
    try:
        return decisions.decide(portal.store, portal.catalog, capture_id, verdict,
                                actor=actor_of(user.name), clock=portal.config.clock,
                                note=(note or "").strip() or None)
    except ConfigError as exc:
        raise HTTPException(400, str(exc)) from exc


# -- seller clusters --------------------------------------------------------------------------

def seller_clusters(portal: Any, user: User) -> dict[str, Any]:
    """Seller clusters with the evidence of each link, cut down to the granted cases: a seller
    shows with its granted listings only, a link only between two shown sellers, and its
    evidence only names granted listings."""
    allowed = user.allowed_cases()
    rows = (takedown_queries.listings(portal.catalog) if allowed is None else
            [r for case in allowed for r in takedown_queries.listings(portal.catalog, case)])
    visible = {f"{r['marketplace']}:{r['listing_id']}" for r in rows
               if user.may_see(queries.case_of(r))}
    out = []
    for cluster in triage_clusters.clusters(portal.catalog):
        data = cluster.to_json()
        sellers = []
        for seller in data["sellers"]:
            seller["listings"] = [lid for lid in seller["listings"]
                                  if f"{seller['marketplace']}:{lid}" in visible]
            if seller["listings"]:
                sellers.append(seller)
        shown = {(s["marketplace"], s["seller_name"]) for s in sellers}
        links = []
        for link in data["links"]:
            if tuple(link["a"]) not in shown or tuple(link["b"]) not in shown:
                continue
            if "listings" in link:
                link = {**link, "listings": [x for x in link["listings"] if x in visible]}
            links.append(link)
        if len(sellers) >= 2 and links:
            out.append({"sellers": sellers, "links": links})
    return {"clusters": out}


# -- takedown ---------------------------------------------------------------------------------

def takedown_of(portal: Any, case: str, marketplace: str, listing_id: str) -> dict[str, Any]:
    """The listing's status in the case, its history, and its re-check timeline (observations,
    change records, transitions) as `crawler.takedown.queries` answers them."""
    items = [i for i in takedown_queries.timeline(portal.catalog, marketplace, listing_id)
             if (i.get("case_ref") or i.get("case") or case) == case]
    return {"status": takedown_queries.current_status(portal.catalog, case, marketplace,
                                                      listing_id),
            "history": takedown_queries.status_history(portal.catalog, case, marketplace,
                                                       listing_id),
            "events": items}


def _selected(portal: Any, user: User, capture_ids: Sequence[str]
              ) -> list[tuple[str, str, str]]:
    """(case, marketplace, listing_id) of each selected listing capture, once each."""
    if not capture_ids or len(capture_ids) > MAX_SELECTION:
        raise HTTPException(400, f"select 1 to {MAX_SELECTION} listing captures")
    out: dict[tuple[str, str, str], None] = {}
    for cid in capture_ids:
        row = views.visible_capture(portal, user, cid)
        if row["kind"] == "listing" and row["listing_id"]:
            out[(queries.case_of(row), row["marketplace"], row["listing_id"])] = None
    if not out:
        raise HTTPException(400, "the selection holds no listing capture")
    return list(out)


def mark_sent(portal: Any, user: User, capture_ids: Sequence[str],
              reference: str | None) -> list[dict[str, Any]]:
    """Mark the selected listings reported (`markwatch takedown mark-sent`), by the user."""
    may_act(user)
    selected = _selected(portal, user, capture_ids)
    for case, marketplace, listing_id in selected:  # all or nothing: refuse before writing
        now = takedown_queries.current_status(portal.catalog, case, marketplace, listing_id)
        if now not in ALLOWED[REPORTED]:
            raise HTTPException(409, f"{marketplace}:{listing_id} in case {case} is {now}; "
                                     "it cannot be marked reported")
    records = []
    for case, marketplace, listing_id in selected:
        live = takedown_queries.last_live_capture(portal.catalog, marketplace, listing_id)
        try:
            records.append(transition(
                portal.store, portal.catalog, portal.config.clock, case=case,
                marketplace=marketplace, listing_id=listing_id, status=REPORTED,
                actor=actor_of(user.name), reference=(reference or "").strip() or None,
                capture_id=live["capture_id"] if live else None))
        except ConfigError as exc:
            raise HTTPException(409, str(exc)) from exc
    return records


def prepare_notice(portal: Any, user: User, capture_ids: Sequence[str], fmt: str | None,
                   notifier_name: str | None, notifier_email: str | None) -> tuple[Path, str]:
    """A notice package (`crawler.takedown.notices`) for the selected listings of one case on
    one marketplace, written to a temporary .zip: (its path, a download name). The evidence
    bundle inside records the `exported` custody event with the user as actor."""
    may_act(user)
    selected = _selected(portal, user, capture_ids)
    if len({(c, m) for c, m, _ in selected}) != 1:
        raise HTTPException(400, "select listings of one case on one marketplace")
    case, marketplace = selected[0][0], selected[0][1]
    if fmt and fmt not in notices.FORMATS:
        raise HTTPException(400, f"format: one of {', '.join(notices.FORMATS)}")
    try:
        notifier = notices.Notifier.from_options(notifier_name or None, notifier_email or None)
    except ConfigError as exc:
        raise HTTPException(400, str(exc)) from exc
    folder = Path(tempfile.mkdtemp(prefix="markwatch-portal-notice-"))
    name = f"notice-{views_slug(case)}-{views_slug(marketplace)}.zip"
    config = dataclasses.replace(portal.config.seal_config, actor=actor_of(user.name))
    try:
        notices.prepare_package(
            portal.store, portal.catalog, case=case, marketplace=marketplace, fmt=fmt or None,
            statuses=NOTICE_STATUSES, notifier=notifier, output=folder / name,
            template_dir=None, seal_config=config, clock=portal.config.clock, pdf=False,
            listing_ids={lid for _, _, lid in selected})
    except ConfigError as exc:
        shutil.rmtree(folder, ignore_errors=True)
        raise HTTPException(409, f"cannot prepare the notice: {exc}") from exc
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    return folder / name, name


def views_slug(text: str) -> str:
    return "".join(c for c in text if c.isalnum() or c in "-_")[:60] or "x"

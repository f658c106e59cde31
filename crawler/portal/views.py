"""What each portal view shows, as plain data: the HTML page and its JSON twin render the same.

Every function takes the signed-in `User` and refuses (404, not 403, so a case's existence is
not revealed) anything outside the cases granted to them. Views of a capture and downloads are
appended to the custody log before anything is shown.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Mapping
from typing import Any

from starlette.exceptions import HTTPException

from crawler.clock import isoformat, parse_utc
from crawler.evidence.screenshot import screenshot_entry
from crawler.fields.search_index import shown_results
from crawler.portal import access, queries
from crawler.portal.users import User
from crawler.portal.verdicts import capture_verdicts

PAGE_SIZE = 50
KINDS = ("listing", "search", "blocked", "gone")


def not_found() -> HTTPException:
    return HTTPException(404, "not found")


def cases(portal: Any, user: User) -> dict[str, Any]:
    return {"cases": queries.cases(portal.catalog, user.allowed_cases())}


def _case_allowed(user: User, case: str) -> None:
    if not user.may_see(case):
        raise not_found()


def _text(params: Mapping[str, str], name: str, limit: int = 200) -> str | None:
    value = (params.get(name) or "").strip()
    if len(value) > limit:
        raise HTTPException(400, f"{name}: at most {limit} characters")
    return value or None


def _number(params: Mapping[str, str], name: str) -> float | None:
    value = _text(params, name, 40)
    if value is None:
        return None
    try:
        return float(value)
    except ValueError as exc:
        raise HTTPException(400, f"{name}: not a number") from exc


def _date(params: Mapping[str, str], name: str) -> str | None:
    value = _text(params, name, 40)
    if value is None:
        return None
    try:
        return isoformat(parse_utc(value))
    except ValueError as exc:
        raise HTTPException(400, f"{name}: not an ISO 8601 date or time") from exc


def listing_query(params: Mapping[str, str], case: str, limit: int | None) -> queries.ListingQuery:
    """A `ListingQuery` from a page's or API call's query string; 400 for bad values."""
    kind = _text(params, "kind")
    if kind is not None and kind not in KINDS:
        raise HTTPException(400, f"kind: one of {', '.join(KINDS)}")
    sort = _text(params, "sort") or "time"
    if sort not in queries.SORTS:
        raise HTTPException(400, f"sort: one of {', '.join(queries.SORTS)}")
    status = _number(params, "status")
    try:
        offset = max(int(params.get("offset") or 0), 0)
    except ValueError as exc:
        raise HTTPException(400, "offset: not a number") from exc
    return queries.ListingQuery(
        case=case, brand=_text(params, "brand"), term=_text(params, "term"),
        marketplace=_text(params, "marketplace"), seller=_text(params, "seller"),
        kind=kind, since=_date(params, "since"), until=_date(params, "until"),
        currency=_text(params, "currency", 10), price_min=_number(params, "price_min"),
        price_max=_number(params, "price_max"), status=None if status is None else int(status),
        suspicious=params.get("suspicious") in ("1", "on", "true"), sort=sort,
        descending=params.get("order", "desc") != "asc", offset=offset, limit=limit)


def listings(portal: Any, user: User, case: str, params: Mapping[str, str],
             limit: int | None = PAGE_SIZE) -> dict[str, Any]:
    _case_allowed(user, case)
    query = listing_query(params, case, limit)
    page = queries.search(portal.catalog, query, user.allowed_cases())
    return {"case": case, "query": query, "filters": query.filters(), "rows": page.rows,
            "offset": page.offset, "limit": page.limit, "has_more": page.has_more}


def timeline(portal: Any, user: User, case: str, marketplace: str,
             listing_id: str) -> dict[str, Any]:
    _case_allowed(user, case)
    rows = [r for r in queries.timeline(portal.catalog, marketplace, listing_id)
            if queries.case_of(r) == case]
    if not rows:
        raise not_found()
    return {"case": case, "marketplace": marketplace, "listing_id": listing_id, "rows": rows}


def visible_capture(portal: Any, user: User, capture_id: str) -> dict[str, Any]:
    """The catalog row of a capture the user may see; 404 otherwise."""
    if len(capture_id) > 64:
        raise not_found()
    row = queries.capture(portal.catalog, capture_id)
    if row is None or not user.may_see(queries.case_of(row)):
        raise not_found()
    return row


def capture(portal: Any, user: User, capture_id: str, via: str) -> dict[str, Any]:
    """Everything about one capture, checked now; the view goes into the custody log."""
    row = visible_capture(portal, user, capture_id)
    try:
        data = portal.store.read_document(row["manifest_key"])
    except KeyError as exc:
        raise HTTPException(409, "the manifest is missing from the store: the catalog is "
                                 "out of date (`markwatch catalog rebuild`)") from exc
    manifest = json.loads(data)
    verdicts = capture_verdicts(portal.store, portal.catalog, portal.config.seal_config,
                                capture_id)
    access.record(portal.store, portal.config.clock, "viewed", user.name, [capture_id],
                  {"view": via, "manifest_sha256": hashlib.sha256(data).hexdigest(),
                   "verdicts": {v.name: v.status for v in verdicts}})
    events = [{"seq": e.seq, "time": e.time, "event": e.event, "actor": e.actor,
               "details": dict(e.details)}
              for e in portal.custody.entries_for(capture_id)]
    screenshot = screenshot_entry(row["artifacts"])
    warc = next((a for a in row["artifacts"] if a["name"].endswith(".warc.gz")), None)
    # a search page's newest results (its own, or its newest re-parse's), as `evidence show`
    results = shown_results(portal.catalog, manifest) if row["kind"] == "search" else []
    return {"case": queries.case_of(row), "row": row, "manifest": manifest,
            "verdicts": verdicts, "custody": events, "screenshot": screenshot, "warc": warc,
            "results": results}


def artifact(portal: Any, user: User, capture_id: str, name: str,
             via: str | None) -> tuple[dict[str, Any], Iterator[bytes]]:
    """An artifact's catalog entry and its bytes; a download (`via` given) goes into the
    custody log (the screenshot shown on the capture page is part of the logged view)."""
    row = visible_capture(portal, user, capture_id)
    entry = next((a for a in row["artifacts"] if a["name"] == name), None)
    if entry is None:
        raise not_found()
    if via is not None:
        access.record(portal.store, portal.config.clock, "downloaded", user.name,
                      [capture_id], {"artifact": name, "sha256": entry["sha256"], "via": via})
    return entry, portal.store.iter_blob(entry["sha256"])

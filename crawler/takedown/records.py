"""The takedown lifecycle's store records and their catalog index.

- change records (`takedown/changes/<capture_id>.json`): how a capture of a known listing
  differs from the listing's previous (conclusive) capture, naming both; deterministic, so
  writing one again is a no-op;
- relisting records (`takedown/relistings/<capture_id>.json`): a new listing id by the seller
  of a removed listing, showing the same photos, with the photo matches;
- status records (`takedown/status/<event_id>.json`): one transition of a listing's status in
  a case (found -> reported -> removed / reappeared / rejected).

Observations (`takedown_observations`: is the listing live, removed - and proven how - or was
the marketplace refusing) are derived from the captures' manifests alone. `rebuild` re-indexes
all of it from the store (called by `Catalog.rebuild`, after the captures).
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit

from crawler.evidence.manifest import canonical_json
from crawler.takedown.schema import takedown_changes, takedown_observations, takedown_status
from storage.base import Store
from storage.layout import (
    TAKEDOWN_CHANGES,
    TAKEDOWN_RELISTINGS,
    TAKEDOWN_STATUS,
    takedown_change_key,
    takedown_relisting_key,
    takedown_status_key,
)

MEDIA_TYPE = "application/json"
CHANGE_SCHEMA = "markwatch/takedown-change/1"
RELISTING_SCHEMA = "markwatch/takedown-relisting/1"
STATUS_SCHEMA = "markwatch/takedown-status/1"

LIVE, REMOVED, REFUSED = "live", "removed", "refused"


# -- observations (from the captures' manifests) ------------------------------------------------

def classify(row: dict[str, Any]) -> tuple[str, str | None]:
    """(availability, proof) of one listing capture row of the catalog.

    Removed only with a capture that shows it: HTTP 404/410, an "item unavailable" page its page
    object recognised (kind `gone` with HTTP 200), or a redirect to the search or home page. A
    bot wall, captcha, login wall, 429 or 503 (kind `blocked`) is a refusal, never a removal.
    """
    kind, status = row["kind"], row.get("status")
    if kind == "blocked":
        return REFUSED, f"{row.get('block_kind') or 'blocked'} (HTTP {status})"
    if kind == "gone":
        if status in (404, 410):
            return REMOVED, f"HTTP {status}"
        return REMOVED, f"item unavailable page (HTTP {status})"
    if kind == "listing":
        target = redirect_target(row["url"], row.get("final_url"))
        if target:
            return REMOVED, f"redirect to the {target} page ({row.get('final_url')})"
        if status is not None and status >= 400:
            return REFUSED, f"HTTP {status}"
        return LIVE, None
    return REFUSED, kind


def redirect_target(url: str, final_url: str | None) -> str | None:
    """`search` or `home` when a listing URL ended on the marketplace's search or home page."""
    if not final_url or final_url == url:
        return None
    a, b = urlsplit(url), urlsplit(final_url)
    if a.path == b.path:
        return None
    path = b.path.rstrip("/").lower()
    if path in ("", "/index.html", "/index.htm"):
        return "home"
    last = path.rsplit("/", 1)[-1]
    if last in ("search", "s", "wholesale", "sch", "list", "catalog", "w") or "search" in last:
        return "search"
    return None


def index_observations(catalog: Any, rows: list[dict[str, Any]]) -> int:
    """Index the listing captures among `rows` (captures rows of the catalog)."""
    out = []
    for row in rows:
        if row["kind"] not in ("listing", "gone", "blocked"):
            continue
        listing_id = row.get("listing_id") if row["kind"] == "listing" else None
        availability, proof = classify(row)
        if availability == REMOVED or not listing_id:
            listing_id = listing_for_url(catalog, row["marketplace"], row["url"]) or listing_id
        if not listing_id:
            continue
        out.append((row["capture_id"], row.get("case_ref"), row["marketplace"], listing_id,
                    row["url"], availability, proof, row["started_at"]))
    catalog.upsert(takedown_observations, out)
    return len(out)


def listing_for_url(catalog: Any, marketplace: str, url: str) -> str | None:
    """The listing id a URL was last seen as (its last live capture, by request URL)."""
    from storage.tables import URL_PREFIX

    # each URL column through its prefix index (captures_url, captures_final_url: 200 is their
    # URL_PREFIX), not every capture of the marketplace; `|| ''` keeps SQLite from putting the
    # URL itself in place of the column in `substr(...)`, which no index would then match
    rows = catalog.query(
        "SELECT capture_id, listing_id, url, final_url, started_at FROM captures "
        "WHERE marketplace = ? AND substr(url, 1, 200) = ? AND url || '' = ? "
        "AND kind = 'listing' AND listing_id IS NOT NULL "
        "UNION SELECT capture_id, listing_id, url, final_url, started_at FROM captures "
        "WHERE marketplace = ? AND substr(final_url, 1, 200) = ? AND final_url || '' = ? "
        "AND kind = 'listing' AND listing_id IS NOT NULL",
        (marketplace, url[:URL_PREFIX], url, marketplace, url[:URL_PREFIX], url))
    # newest first, sorted here: an ORDER BY ... LIMIT would lead SQLite to walk the
    # marketplace's captures in time order instead (the captures of one URL are few)
    rows.sort(key=lambda r: (r["started_at"], r["capture_id"]), reverse=True)
    for row in rows[:50]:  # a listing page, not a redirect to the search or home page
        if redirect_target(row["url"], row["final_url"]) is None:
            return str(row["listing_id"])
    return None


# -- change and relisting records -------------------------------------------------------------

def put_change(store: Store, catalog: Any, record: dict[str, Any]) -> str:
    key = takedown_change_key(record["capture_id"])
    store.put_document(key, canonical_json(record), MEDIA_TYPE)
    index_change(catalog, record, key)
    return key


def index_change(catalog: Any, record: dict[str, Any], key: str) -> None:
    catalog.upsert(takedown_changes, [(
        record["capture_id"], record["event"], record.get("previous_capture_id"),
        record.get("case"), record["marketplace"], record["listing_id"],
        json.dumps(record.get("changes", []), sort_keys=True), record.get("proof"),
        record["at"], key)])


def put_relisting(store: Store, catalog: Any, record: dict[str, Any]) -> str:
    key = takedown_relisting_key(record["capture_id"])
    store.put_document(key, canonical_json(record), MEDIA_TYPE)
    index_relisting(catalog, record, key)
    return key


def index_relisting(catalog: Any, record: dict[str, Any], key: str) -> None:
    catalog.upsert(takedown_changes, [(
        record["capture_id"], "relisted", record["of"]["capture_id"], record.get("case"),
        record["marketplace"], record["listing_id"],
        json.dumps({"of": record["of"], "photo_matches": record["photo_matches"]},
                   sort_keys=True),
        None, record["at"], key)])


# -- status records ---------------------------------------------------------------------------

def put_status(store: Store, catalog: Any, record: dict[str, Any]) -> str:
    key = takedown_status_key(record["event_id"])
    store.put_document(key, canonical_json(record), MEDIA_TYPE)
    index_status(catalog, record, key)
    return key


def index_status(catalog: Any, record: dict[str, Any], key: str) -> None:
    catalog.upsert(takedown_status, [(
        record["event_id"], record["case"], record["marketplace"], record["listing_id"],
        record["status"], record.get("previous"), record["at"], record.get("capture_id"),
        record.get("reference"), record["actor"], key)])


def rebuild(catalog: Any, store: Store) -> dict[str, int]:
    """Re-index observations (from the captures) and every takedown record from the store."""
    catalog.write("DELETE FROM takedown_observations", [()])
    catalog.write("DELETE FROM takedown_changes", [()])
    catalog.write("DELETE FROM takedown_status", [()])
    rows = catalog.query("SELECT * FROM captures ORDER BY started_at, capture_id")
    counts = {"observations": index_observations(catalog, rows)}
    for name, prefix, index in (("changes", TAKEDOWN_CHANGES, index_change),
                                ("relistings", TAKEDOWN_RELISTINGS, index_relisting),
                                ("status", TAKEDOWN_STATUS, index_status)):
        counts[name] = 0
        for key in store.list_documents(prefix):
            index(catalog, json.loads(store.read_document(key)), key)
            counts[name] += 1
    return counts

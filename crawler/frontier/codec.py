"""A spider's requests as JSON for the frontier, and back (no pickle: Redis holds data only).

A request is its page kind, URL, watch (brand, term), search page number and the watch's
progress (pages, listings, URLs seen) that the next search page needs. A listing carries a
`claim` (its URL): the shared dupefilter and the run's claim set are keyed by it.
"""

from __future__ import annotations

from typing import Any

from scrapy.http import Request

from crawler.exceptions import ConfigError
from spiders.backoff import RETRY_AFTER_META

LEASE_META = "markwatch_lease"
"""The lease id of the frontier request a Scrapy request was made from."""
PAYLOAD_META = "markwatch_frontier_payload"


def encode(request: Request) -> dict[str, Any] | None:
    """The JSON form of a spider's search or listing request; None for other requests."""
    kind = request.meta.get("page_kind")
    state = request.meta.get("watch_state")
    if kind not in ("search", "listing") or state is None:
        return None
    payload: dict[str, Any] = {
        "kind": kind, "url": request.url, "watch": [state.watch.brand, state.watch.term],
        "pages": state.pages, "listings": state.listings, "seen": sorted(state.seen),
        "retry_after": int(request.meta.get(RETRY_AFTER_META, 0)),
    }
    if kind == "search":
        payload["page"] = int(request.meta.get("search_page", 1))
    else:
        payload["claim"] = request.url
    return payload


def seed_payload(brand: str, term: str) -> dict[str, Any]:
    """The first search page of a watch; the worker's spider makes its URL."""
    return {"kind": "search", "url": None, "watch": [brand, term], "page": None, "pages": 0,
            "listings": 0, "seen": [], "retry_after": 0}


def decode(spider: Any, payload: dict[str, Any], lease: str) -> Request:
    """The spider's own request for a frontier payload, with a copy of the watch's progress."""
    from spiders.base import WatchState

    brand, term = payload["watch"]
    found = [s for s in spider.states if (s.watch.brand, s.watch.term) == (brand, term)]
    if not found:
        raise ConfigError(f"frontier request for a watch this worker does not have: "
                          f"{brand!r} / {term!r} on {spider.name}")
    base = found[0]
    state = WatchState(base.watch, base.msrp, base.exclude_terms, int(payload["pages"]),
                       int(payload["listings"]), set(payload["seen"]))
    if payload["kind"] == "search":
        page = payload.get("page") or spider.first_page
        url = payload.get("url") or spider.search_url(term, page)
        request = spider._search_request(state, page, url)
    else:
        request = spider._listing_request(state, payload["url"])
    request.meta[LEASE_META] = lease
    request.meta[PAYLOAD_META] = payload
    if payload.get("retry_after"):
        request.meta[RETRY_AFTER_META] = int(payload["retry_after"])
    return request

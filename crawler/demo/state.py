"""The demo marketplace's "next state": listings taken down, changed, relisted, and refusal modes.

Test marketplaces have an admin endpoint that moves them on; the demo's is
``POST /__admin/advance`` (loopback clients only). Each advance applies one `Step`: listings
that answer 410 (`gone`), that show an "item unavailable" page with HTTP 200 (`unavailable`,
a soft 404), that redirect to the search page (`redirected`), whose price or title changes,
that a seller relists with the same photos under a new id (`relist`), and removed listings
that come back (`restore`). A step not given explicitly is drawn from the catalog's seed and
the step number, so the same catalog always moves the same way. ``POST /__admin/mode`` with
``normal``, ``botwall`` (a captcha page with HTTP 200) or ``503`` switches refusals on for
testing that a refusal is never taken for a removal. ``GET /__admin/state`` shows the truth.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any

from crawler.demo.data import Catalog, DemoListing, format_price

MODES = ("normal", "botwall", "503")
KINDS = ("gone", "unavailable", "redirected", "price", "title", "relist", "restore")
MAX_IDS = 500
"""Listing ids one step may name, per kind (the request body is hostile input)."""


@dataclass
class MarketState:
    """What has happened to the catalog since the server started."""

    step: int = 0
    mode: str = "normal"
    gone: set[str] = field(default_factory=set)
    unavailable: set[str] = field(default_factory=set)
    redirected: set[str] = field(default_factory=set)
    changed: dict[str, DemoListing] = field(default_factory=dict)
    relists: dict[str, str] = field(default_factory=dict)
    """New listing id -> the id it relists."""
    history: list[dict[str, list[str]]] = field(default_factory=list)

    def removed(self, listing_id: str) -> str | None:
        """How a listing is taken down (`gone`, `unavailable`, `redirected`), or None."""
        for kind in ("gone", "unavailable", "redirected"):
            if listing_id in getattr(self, kind):
                return kind
        return None

    def advance(self, base: Catalog, step: dict[str, Any] | None = None) -> dict[str, list[str]]:
        """Apply one step (explicit, or drawn from the seed); returns what it did."""
        applied = _checked(step) if step else self._drawn(base)
        known = {item.listing_id for item in base.listings} | set(self.relists)
        for kind, ids in applied.items():
            unknown = [i for i in ids if i not in known]
            if unknown:
                raise ValueError(f"{kind}: unknown listing ids {unknown[:5]}")
        self.step += 1
        for listing_id in applied.get("restore", []):
            for kind in ("gone", "unavailable", "redirected"):
                getattr(self, kind).discard(listing_id)
        for kind in ("gone", "unavailable", "redirected"):
            getattr(self, kind).update(applied.get(kind, []))
        current = self.catalog(base)
        for listing_id in applied.get("price", []):
            item = current.get(listing_id)
            assert item is not None
            price = _new_price(item)
            self.changed[listing_id] = replace(item, price=price,
                                               price_text=format_price(price, item.currency))
        for listing_id in applied.get("title", []):
            item = self.changed.get(listing_id) or current.get(listing_id)
            assert item is not None
            self.changed[listing_id] = replace(item, title=f"{item.title} - NEW STOCK")
        for listing_id in applied.get("relist", []):
            self.relists[f"{listing_id}R{self.step}"] = listing_id
        applied = {k: list(v) for k, v in applied.items() if v}
        self.history.append(applied)
        return applied

    def _drawn(self, base: Catalog) -> dict[str, list[str]]:
        rng = random.Random(base.seed * 7919 + self.step)  # noqa: S311 - reproducible test data
        live = [item.listing_id for item in base.listings if self.removed(item.listing_id) is None]
        out: dict[str, list[str]] = {kind: [] for kind in KINDS}
        for listing_id in live:
            roll = rng.random()
            for kind, bound in (("gone", 0.06), ("unavailable", 0.12), ("redirected", 0.15),
                                ("price", 0.21), ("title", 0.24), ("relist", 0.28)):
                if roll < bound:
                    out[kind].append(listing_id)
                    break
        removed = sorted(self.gone | self.unavailable | self.redirected)
        out["restore"] = [i for i in removed if rng.random() < 0.3]
        return out

    def catalog(self, base: Catalog) -> Catalog:
        """The catalog as the marketplace now shows it (removed listings left out)."""
        items = [self.changed.get(item.listing_id, item) for item in base.listings
                 if self.removed(item.listing_id) is None]
        by_id = {item.listing_id: item for item in base.listings}
        for new_id, old_id in sorted(self.relists.items()):
            if self.removed(new_id) is None:
                items.append(replace(by_id[old_id], listing_id=new_id, sponsored=False))
        items.sort(key=lambda item: item.listing_id)
        return Catalog(tuple(items), base.sellers, base.images, base.seed)

    def removed_item(self, base: Catalog, listing_id: str) -> DemoListing | None:
        """A removed listing's last state (for its unavailable page's title)."""
        if self.removed(listing_id) is None:
            return None
        return self.changed.get(listing_id) or base.get(listing_id)

    def to_json(self) -> dict[str, Any]:
        return {
            "step": self.step, "mode": self.mode, "gone": sorted(self.gone),
            "unavailable": sorted(self.unavailable), "redirected": sorted(self.redirected),
            "changed": {k: {"title": v.title, "price": str(v.price), "currency": v.currency}
                        for k, v in sorted(self.changed.items())},
            "relists": dict(sorted(self.relists.items())), "history": self.history,
        }


def _checked(step: dict[str, Any]) -> dict[str, list[str]]:
    if not isinstance(step, dict):
        raise ValueError("the step must be a JSON object")
    extra = set(step) - set(KINDS)
    if extra:
        raise ValueError(f"unknown keys {sorted(extra)}; expected some of {list(KINDS)}")
    out: dict[str, list[str]] = {}
    for kind in KINDS:
        ids = step.get(kind, [])
        if not isinstance(ids, list) or len(ids) > MAX_IDS or not all(
                isinstance(i, str) and 0 < len(i) <= 32 for i in ids):
            raise ValueError(f"{kind}: expected a list of at most {MAX_IDS} listing ids")
        out[kind] = list(dict.fromkeys(ids))
    return out


def _new_price(item: DemoListing) -> Decimal:
    if item.currency == "JPY":
        return item.price * 2
    return (item.price * Decimal("1.25")).quantize(Decimal("0.01"))

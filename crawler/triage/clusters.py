"""Seller clusters across marketplaces: sellers linked by shared photos, normalised names and
contacts or shop links in their pages, each link with its evidence.

Official brand photos (matching a watchlist reference image) link nobody: every honest
reseller may use them. A photo used by more than `max_photo_sellers` sellers is a stock
picture and links nobody either.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from crawler.triage.images import hamming
from crawler.triage.sellers import seller_key

Seller = tuple[str, str]
"""(marketplace, seller name)."""


@dataclass
class Cluster:
    """Sellers that belong together, and why."""

    sellers: list[Seller]
    listings: dict[Seller, list[str]]
    links: list[dict[str, Any]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "sellers": [{"marketplace": m, "seller_name": n,
                         "listings": self.listings.get((m, n), [])} for m, n in self.sellers],
            "links": self.links,
        }


class _Union:
    def __init__(self) -> None:
        self.parent: dict[Seller, Seller] = {}

    def find(self, x: Seller) -> Seller:
        self.parent.setdefault(x, x)
        while self.parent[x] != x:
            self.parent[x] = self.parent[self.parent[x]]
            x = self.parent[x]
        return x

    def union(self, a: Seller, b: Seller) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)


def clusters(catalog: Any, references: list[str] = (), hamming_max: int = 12,  # type: ignore[assignment]
             max_photo_sellers: int = 8) -> list[Cluster]:
    """Clusters of two sellers or more, largest first."""
    rows = catalog.query(
        "SELECT DISTINCT marketplace, seller_name, listing_id FROM captures "
        "WHERE kind = 'listing' AND seller_name IS NOT NULL")
    listings: dict[Seller, list[str]] = {}
    for r in rows:
        listings.setdefault((r["marketplace"], r["seller_name"]), []).append(r["listing_id"])
    union = _Union()
    links: list[tuple[Seller, Seller, dict[str, Any]]] = []
    _photo_links(catalog, references, hamming_max, max_photo_sellers, links)
    _name_links(listings, links)
    _contact_links(catalog, links)
    for a, b, _ in links:
        union.union(a, b)
    groups: dict[Seller, list[Seller]] = {}
    for seller in listings:
        groups.setdefault(union.find(seller), []).append(seller)
    out = []
    for members in groups.values():
        if len(members) < 2:
            continue
        keep = set(members)
        out.append(Cluster(
            sorted(members), {m: sorted(set(listings[m])) for m in members},
            [{"a": list(a), "b": list(b), **ev} for a, b, ev in links if a in keep]))
    return sorted(out, key=lambda c: (-len(c.sellers), c.sellers))


def _photo_links(catalog: Any, references: list[str], hamming_max: int, max_sellers: int,
                 links: list[tuple[Seller, Seller, dict[str, Any]]]) -> None:
    rows = catalog.query(
        "SELECT i.phash, i.name, c.marketplace, c.seller_name, c.listing_id "
        "FROM triage_images i JOIN captures c ON c.capture_id = i.capture_id "
        "WHERE c.kind = 'listing' AND c.seller_name IS NOT NULL")
    by_hash: dict[str, dict[Seller, list[str]]] = {}
    for r in rows:
        if any(hamming(r["phash"], ref) <= hamming_max for ref in references):
            continue
        by_hash.setdefault(r["phash"], {}).setdefault(
            (r["marketplace"], r["seller_name"]), []).append(r["listing_id"])
    for digest, sellers in sorted(by_hash.items()):
        if not 2 <= len(sellers) <= max_sellers:
            continue
        ordered = sorted(sellers)
        for other in ordered[1:]:
            links.append((ordered[0], other, {
                "kind": "photo", "phash": digest,
                "listings": sorted({f"{m}:{lid}" for (m, _), ids in sellers.items()
                                    for lid in ids})}))


def _name_links(listings: dict[Seller, list[str]],
                links: list[tuple[Seller, Seller, dict[str, Any]]]) -> None:
    by_key: dict[str, list[Seller]] = {}
    for seller in listings:
        key = seller_key(seller[1])
        if len(key) >= 4:
            by_key.setdefault(key, []).append(seller)
    for key, sellers in sorted(by_key.items()):
        ordered = sorted(sellers)
        for other in ordered[1:]:
            links.append((ordered[0], other, {"kind": "name", "normalised": key,
                                              "names": [ordered[0][1], other[1]]}))


def _contact_links(catalog: Any, links: list[tuple[Seller, Seller, dict[str, Any]]]) -> None:
    rows = catalog.query(
        "SELECT t.kind, t.value, c.marketplace, c.seller_name, c.listing_id "
        "FROM triage_contacts t JOIN captures c ON c.capture_id = t.capture_id "
        "WHERE c.kind = 'listing' AND c.seller_name IS NOT NULL")
    by_contact: dict[tuple[str, str], dict[Seller, list[str]]] = {}
    for r in rows:
        by_contact.setdefault((r["kind"], r["value"]), {}).setdefault(
            (r["marketplace"], r["seller_name"]), []).append(r["listing_id"])
    for (kind, value), sellers in sorted(by_contact.items()):
        if len(sellers) < 2:
            continue
        ordered = sorted(sellers)
        for other in ordered[1:]:
            links.append((ordered[0], other, {
                "kind": "contact", "contact": kind, "value": value,
                "listings": sorted({f"{m}:{lid}" for (m, _), ids in sellers.items()
                                    for lid in ids})}))

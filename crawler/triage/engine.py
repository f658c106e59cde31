"""Triage of stored captures: the page record and score of each listing capture.

The evidence pipeline calls `Triage.collect` before it lets go of a capture's bytes (image
hashes are computed there, in the pipeline's storage thread, off the crawl's event loop) and
`Triage.after_store` once the manifest is stored and indexed. `rescore` does the same later
from the store alone (the DOM and photos are read back from their blobs).
"""

from __future__ import annotations

import json
import logging
import threading
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from crawler.clock import Clock, SystemClock, isoformat
from crawler.ids import new_ulid
from crawler.triage import features as feat
from crawler.triage import records
from crawler.triage.config import TriageConfig
from crawler.triage.images import hamming, phash
from crawler.triage.rates import RateBook
from crawler.triage.score import compute
from crawler.triage.score import record as score_record
from crawler.triage.sellers import marketplaces_selling_as, seller_key
from crawler.triage.text import page_text
from crawler.triage.vocabulary import Vocabulary
from storage.base import Store

logger = logging.getLogger(__name__)
PHASH_CACHE = 4096
"""Photos whose perceptual hash is remembered by SHA-256 (64 hex digits each: about 0.6 MiB)."""
PHASHES_PER_QUERY = 200
"""Photo hashes asked about in one statement (well under SQLite's and PostgreSQL's limits)."""

@dataclass
class Pending:
    """What `collect` took from a capture before its bytes were let go."""

    capture_id: str
    images: list[dict[str, Any]]
    text: str


class Triage:
    """Scores listing captures against the watchlist's brands."""

    def __init__(self, store: Store, catalog: Any, brands: Iterable[feat.BrandInfo],
                 config: TriageConfig | None = None, rates: RateBook | None = None,
                 vocabulary: Vocabulary | None = None, clock: Clock | None = None) -> None:
        self.store = store
        self.catalog = catalog
        self.config = config or TriageConfig()
        self.brands = {b.name.casefold(): b for b in brands}
        self.rates = rates or RateBook.load(store)
        self.vocabulary = vocabulary or Vocabulary.load(self.config.vocabulary_dir)
        self.clock = clock or SystemClock()
        self._phashes: OrderedDict[str, str | None] = OrderedDict()
        self._phash_lock = threading.Lock()

    @classmethod
    def from_watchlist(cls, watchlist: Any, store: Store, catalog: Any,
                       config: TriageConfig | None = None,
                       clock: Clock | None = None) -> Triage:
        return cls(store, catalog, brand_infos(watchlist), config, clock=clock)

    # -- at capture time -------------------------------------------------------------------

    def collect(self, capture_id: str, artifacts: list[tuple[Any, Any]]) -> Pending:
        """Hash the photos and read the page text of a capture: (Artifact, StoredArtifact)."""
        images, text = [], ""
        for artifact, stored in artifacts:
            if artifact.name.startswith("image-"):
                digest = self._phash(stored.sha256, artifact.data)
                if digest is not None:
                    images.append({"name": artifact.name, "sha256": stored.sha256,
                                   "phash": digest, "source_url": artifact.source_url})
            elif artifact.name == "dom.html":
                data = artifact.data
                text = page_text(data if isinstance(data, bytes) else Path(data).read_bytes())
        return Pending(capture_id, images, text)

    def _phash(self, sha256: str, data: Any) -> str | None:
        """`phash` of a photo, remembered by its SHA-256: a seller's photo shown again on
        other listings and re-checks is decoded once (at most `PHASH_CACHE` remembered)."""
        with self._phash_lock:  # captures are stored by several threads
            if sha256 in self._phashes:
                self._phashes.move_to_end(sha256)
                return self._phashes[sha256]
        digest = phash(data)
        with self._phash_lock:
            self._phashes[sha256] = digest
            while len(self._phashes) > PHASH_CACHE:
                self._phashes.popitem(last=False)
        return digest

    def after_store(self, manifest: dict[str, Any], pending: Pending) -> int | None:
        """Write the page record and the score of a stored listing capture; its score."""
        if manifest.get("kind") != "listing":
            return None
        self._put_page(pending)
        row = self.catalog.get(manifest["capture_id"])
        return self.score_row(row, pending.text) if row else None

    # -- scoring ---------------------------------------------------------------------------

    def score_row(self, row: dict[str, Any], text: str) -> int | None:
        """Score one catalog row; a new record only when the result changed. Its score."""
        brand = self.brands.get(str(row["brand"]).casefold()) or feat.BrandInfo(row["brand"])
        with self.catalog.transaction(write=False):  # the reads below share one transaction
            context = self.context(row, brand)
            previous = self.catalog.query(
                "SELECT score, version, signals FROM triage_scores WHERE capture_id = ?",
                (row["capture_id"],))
        features = feat.build(row, text, brand, self.rates, self.vocabulary, context)
        score = compute(features, self.config)
        signals = json.dumps([s.to_json() for s in score.signals], ensure_ascii=False,
                             sort_keys=True)
        if previous and (previous[0]["score"], previous[0]["version"], previous[0]["signals"]) \
                == (score.score, self.config.version, signals):
            return score.score
        now = self.clock.now()
        rec = score_record(row, score, features, self.config, isoformat(now), new_ulid(now))
        records.put_score(self.store, self.catalog, rec)
        return score.score

    def context(self, row: dict[str, Any], brand: feat.BrandInfo) -> feat.Context:
        ctx = feat.Context()
        cid, seller, market = row["capture_id"], row.get("seller_name"), row["marketplace"]
        if seller:
            ctx.seller_listings = self.catalog.query(
                "SELECT COUNT(DISTINCT listing_id) AS n FROM captures WHERE kind = 'listing' "
                "AND marketplace = ? AND seller_name = ?", (market, seller))[0]["n"]
            ctx.seller_marketplaces = self._seller_marketplaces(cid, seller)
        mine = self.catalog.query(
            "SELECT name, phash FROM triage_images WHERE capture_id = ?", (cid,))
        shared = []
        for image in mine:
            official = [
                {"image": image["name"], "reference": Path(path).name, "distance": d}
                for path, ref in brand.references
                if (d := hamming(image["phash"], ref)) <= self.config.weights.image_hamming]
            if official:  # the brand's own photo: a signal of its own, not a shared photo
                ctx.official_images += official
            else:
                shared.append(image)
        others = self._other_sellers({i["phash"] for i in shared}, market, seller or "")
        for image in shared:
            if others.get(image["phash"]):
                ctx.shared_images.append({
                    "image": image["name"], "phash": image["phash"],
                    "sellers": sorted(others[image["phash"]])})
        return ctx

    def _other_sellers(self, phashes: set[str], market: str,
                       seller: str) -> dict[str, list[str]]:
        """`marketplace:seller` of the other sellers' captures showing each photo hash (one
        statement for a capture's photos rather than one a photo)."""
        out: dict[str, list[str]] = {}
        ordered = sorted(phashes)
        for start in range(0, len(ordered), PHASHES_PER_QUERY):
            chunk = ordered[start:start + PHASHES_PER_QUERY]
            marks = ", ".join("?" * len(chunk))
            sql = ("SELECT DISTINCT i.phash, c.marketplace, c.seller_name "  # noqa: S608
                   "FROM triage_images i JOIN captures c ON c.capture_id = i.capture_id "
                   f"WHERE i.phash IN ({marks}) AND c.seller_name IS NOT NULL "
                   "AND NOT (c.marketplace = ? AND c.seller_name = ?)")
            for o in self.catalog.query(sql, (*chunk, market, seller)):
                out.setdefault(o["phash"], []).append(f"{o['marketplace']}:{o['seller_name']}")
        return out

    def _seller_marketplaces(self, capture_id: str, seller: str) -> list[str]:
        markets = marketplaces_selling_as(self.catalog, seller_key(seller))
        for r in self.catalog.query(
                "SELECT DISTINCT c.marketplace FROM triage_contacts a "
                "JOIN triage_contacts b ON a.kind = b.kind AND a.value = b.value "
                "JOIN captures c ON c.capture_id = b.capture_id WHERE a.capture_id = ?",
                (capture_id,)):
            markets.add(r["marketplace"])
        return sorted(markets)

    def _put_page(self, pending: Pending) -> None:
        record = {
            "schema": records.PAGE_SCHEMA,
            "capture_id": pending.capture_id,
            "images": pending.images,
            "contacts": [{"kind": k, "value": v} for k, v in feat.page_contacts(pending.text)],
            "seller_rating": feat.seller_rating(pending.text),
        }
        records.put_page(self.store, self.catalog, record)

    # -- later, from the store alone ---------------------------------------------------------

    def rescore(self, capture_ids: Iterable[str] | None = None) -> dict[str, int]:
        """Score listing captures again (all of them by default) from the stored bytes."""
        ids = list(capture_ids) if capture_ids is not None else [
            r["capture_id"] for r in self.catalog.query(
                "SELECT capture_id FROM captures WHERE kind = 'listing' "
                "ORDER BY started_at, capture_id")]
        counts = {"scored": 0, "changed": 0}
        for cid in ids:
            row = self.catalog.get(cid)
            if row is None or row["kind"] != "listing":
                continue
            before = self.catalog.query(
                "SELECT score_id FROM triage_scores WHERE capture_id = ?", (cid,))
            text = self._text_and_page(row)
            self.score_row(row, text)
            after = self.catalog.query(
                "SELECT score_id FROM triage_scores WHERE capture_id = ?", (cid,))
            counts["scored"] += 1
            counts["changed"] += before != after
        return counts

    def _text_and_page(self, row: dict[str, Any]) -> str:
        artifacts = {a["name"]: a for a in row["artifacts"]}
        text = ""
        if "dom.html" in artifacts:
            with self.store.open_blob(artifacts["dom.html"]["sha256"]) as fh:
                text = page_text(fh.read(4 * 1024 * 1024))
        has_page = self.catalog.query("SELECT 1 FROM triage_pages WHERE capture_id = ?",
                                      (row["capture_id"],))
        if not has_page:
            images = []
            for name, a in sorted(artifacts.items()):
                if name.startswith("image-"):
                    with self.store.open_blob(a["sha256"]) as fh:
                        digest = phash(fh.read(20 * 1024 * 1024 + 1))
                    if digest:
                        images.append({"name": name, "sha256": a["sha256"], "phash": digest,
                                       "source_url": None})
            self._put_page(Pending(row["capture_id"], images, text))
        return text


def brand_infos(watchlist: Any) -> list[feat.BrandInfo]:
    """The brands of a loaded watchlist, with their reference photos hashed."""
    out = []
    for brand in watchlist.brands:
        msrp = None
        if brand.msrp is not None:
            msrp = {"currency": brand.msrp.currency,
                    "min": None if brand.msrp.min is None else str(brand.msrp.min),
                    "max": None if brand.msrp.max is None else str(brand.msrp.max)}
        refs = []
        for path in getattr(brand, "reference_images", ()):
            digest = phash(Path(path))
            if digest is None:
                logger.warning("reference image %s of %s is not a readable image", path,
                               brand.name)
                continue
            refs.append((path, digest))
        out.append(feat.BrandInfo(brand.name, msrp, tuple(refs)))
    return out

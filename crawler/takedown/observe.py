"""After a run: each capture of a known listing compared with the listing's previous one.

For every listing capture of the run (live, removed or refused; `records.classify`):

- both live: a `changed` record when the price (exact decimal and currency), title, seller or
  product photos (perceptual hash, `crawler.triage.images`) differ;
- live then removed: `removed`, naming the capture that proves it; the listing's status in its
  case becomes `removed` (`crawler.takedown.status`);
- removed then live: `reappeared` (status `reappeared` when it was `removed`);
- a refusal (bot wall, captcha, 503) is compared with nothing and changes nothing.

A new listing id whose seller had a listing removed, and whose every photo matches a photo of
that listing, is recorded as a probable relisting with the photo matches.
"""

from __future__ import annotations

import logging
from typing import Any

from crawler.clock import Clock
from crawler.seal.config import SealConfig
from crawler.takedown import queries
from crawler.takedown.records import (
    CHANGE_SCHEMA,
    LIVE,
    RELISTING_SCHEMA,
    REMOVED,
    index_observations,
    put_change,
    put_relisting,
)
from storage.base import Store

logger = logging.getLogger(__name__)

PHOTO_HAMMING = 12
"""Bits of 256 two photos' perceptual hashes may differ by and still be the same picture."""
MAX_PHOTOS = 12
COMPARED = ("price", "currency", "title", "seller_name")


def observe_run(report: Any, clock: Clock) -> None:
    """Record the changes of a finished run's captures; never fails the run."""
    from storage.catalog import Catalog
    from storage.uri import open_store

    try:
        store = open_store(report.store)
        with Catalog(report.catalog) as catalog:
            Observer(store, catalog, clock, SealConfig().actor).run(report.run_id)
        store.close()
    except Exception:  # a boundary: the evidence is stored; changes can be recomputed
        logger.exception("takedown: could not compare the captures of run %s", report.run_id)
        report.errors.append("takedown: could not compare this run's captures with earlier "
                             "ones; see the log")


class Observer:
    """Compares captures with earlier ones and records what changed."""

    def __init__(self, store: Store, catalog: Any, clock: Clock, actor: str) -> None:
        self.store, self.catalog, self.clock, self.actor = store, catalog, clock, actor
        self._hashes: dict[str, list[str]] = {}

    def run(self, run_id: str) -> dict[str, int]:
        rows = self.catalog.find_run(run_id)
        index_observations(self.catalog, rows)
        counts = {"changed": 0, "removed": 0, "reappeared": 0, "relisted": 0}
        observed = self.catalog.query(
            "SELECT o.* FROM takedown_observations o JOIN captures c USING (capture_id) "
            "WHERE c.run_id = ? ORDER BY o.started_at, o.capture_id", (run_id,))
        for obs in observed:
            event = self.compare(obs)
            if event:
                counts[event] += 1
        for obs in observed:
            if obs["availability"] == LIVE and self.relisting(obs):
                counts["relisted"] += 1
        return counts

    # -- one listing -------------------------------------------------------------------------

    def compare(self, obs: dict[str, Any]) -> str | None:
        if obs["availability"] not in (LIVE, REMOVED):
            return None  # a refusal proves nothing either way
        prev = queries.previous_observation(self.catalog, obs["marketplace"], obs["listing_id"],
                                            obs["started_at"])
        if prev is None:
            return None
        diffs: list[dict[str, Any]] = []
        if obs["availability"] == LIVE and prev["availability"] == LIVE:
            event = "changed"
            diffs = self.differences(prev["capture_id"], obs["capture_id"])
            if not diffs:
                return None
        elif obs["availability"] == REMOVED and prev["availability"] == LIVE:
            event = "removed"
        elif obs["availability"] == LIVE and prev["availability"] == REMOVED:
            event = "reappeared"
        else:
            return None
        record = {
            "schema": CHANGE_SCHEMA,
            "capture_id": obs["capture_id"],
            "previous_capture_id": prev["capture_id"],
            "event": event,
            "case": obs["case_ref"],
            "marketplace": obs["marketplace"],
            "listing_id": obs["listing_id"],
            "url": obs["url"],
            "at": obs["started_at"],
            "previous_at": prev["started_at"],
            "availability": {"before": prev["availability"], "after": obs["availability"]},
            "proof": obs["proof"] if event == "removed" else None,
            "changes": diffs,
        }
        put_change(self.store, self.catalog, record)
        self.update_status(obs, event)
        return event

    def differences(self, before_id: str, after_id: str) -> list[dict[str, Any]]:
        before, after = self.catalog.get(before_id), self.catalog.get(after_id)
        out = []
        for name in COMPARED:
            if before.get(name) != after.get(name):
                out.append({"field": name, "before": before.get(name), "after": after.get(name)})
        photos_before, photos_after = self.photos(before_id), self.photos(after_id)
        unmatched_after = [h for h in photos_after if not _matches(h, photos_before)]
        unmatched_before = [h for h in photos_before if not _matches(h, photos_after)]
        if unmatched_after or unmatched_before:
            out.append({"field": "photos", "before": len(photos_before),
                        "after": len(photos_after), "removed": unmatched_before,
                        "added": unmatched_after})
        return out

    def update_status(self, obs: dict[str, Any], event: str) -> None:
        from crawler.takedown import status

        case = obs["case_ref"] or ""
        current = queries.current_status(self.catalog, case, obs["marketplace"],
                                         obs["listing_id"])
        wanted = {"removed": status.REMOVED, "reappeared": status.REAPPEARED}.get(event)
        if wanted and current in status.ALLOWED[wanted]:
            status.transition(self.store, self.catalog, self.clock, case=case,
                              marketplace=obs["marketplace"], listing_id=obs["listing_id"],
                              status=wanted, actor=self.actor, capture_id=obs["capture_id"],
                              reason=obs["proof"] if event == "removed" else "live again")

    # -- relistings --------------------------------------------------------------------------

    def relisting(self, obs: dict[str, Any]) -> bool:
        earlier = self.catalog.query(
            "SELECT COUNT(*) AS n FROM takedown_observations WHERE marketplace = ? AND "
            "listing_id = ? AND started_at < ?",
            (obs["marketplace"], obs["listing_id"], obs["started_at"]))
        if earlier[0]["n"]:
            return False  # not a new id
        row = self.catalog.get(obs["capture_id"])
        if not row or not row.get("seller_name"):
            return False
        photos = self.photos(obs["capture_id"])
        if not photos:
            return False
        # removed listings of this marketplace ever sold by this seller (a listing's last live
        # capture, compared below, is one of its captures): read through the seller's index,
        # not every removal of the marketplace for each new listing
        removed = self.catalog.query(
            "SELECT o.listing_id, o.capture_id AS removal_capture_id, o.started_at "
            "FROM takedown_observations o WHERE o.marketplace = ? AND o.availability = 'removed' "
            "AND o.listing_id != ? AND o.started_at <= ? AND o.listing_id IN ("
            "SELECT c.listing_id FROM captures c WHERE c.seller_name = ? AND c.kind = 'listing' "
            "AND c.marketplace = ?) ORDER BY o.started_at",
            (obs["marketplace"], obs["listing_id"], obs["started_at"], row["seller_name"],
             obs["marketplace"]))
        for gone in removed:
            live = queries.last_live_capture(self.catalog, obs["marketplace"], gone["listing_id"])
            if live is None or live.get("seller_name") != row["seller_name"]:
                continue
            old = self.photos(live["capture_id"])
            matches = [{"photo": h, "matches": m, "distance": _distance(h, m)}
                       for h in photos for m in old if _distance(h, m) <= PHOTO_HAMMING]
            if len({m["photo"] for m in matches}) < len(photos) or len(photos) < 2:
                continue  # every photo must be one of the removed listing's
            put_relisting(self.store, self.catalog, {
                "schema": RELISTING_SCHEMA,
                "capture_id": obs["capture_id"],
                "case": obs["case_ref"],
                "marketplace": obs["marketplace"],
                "listing_id": obs["listing_id"],
                "url": obs["url"],
                "seller_name": row["seller_name"],
                "at": obs["started_at"],
                "of": {"listing_id": gone["listing_id"], "capture_id": live["capture_id"],
                       "removal_capture_id": gone["removal_capture_id"]},
                "photo_matches": matches,
            })
            return True
        return False

    def photos(self, capture_id: str) -> list[str]:
        """Perceptual hashes of a capture's product photos (triage's, else computed)."""
        if capture_id in self._hashes:
            return self._hashes[capture_id]
        rows = self.catalog.query("SELECT phash FROM triage_images WHERE capture_id = ? "
                                  "ORDER BY name", (capture_id,))
        hashes = [r["phash"] for r in rows]
        if not hashes:
            from crawler.triage.images import MAX_IMAGE_BYTES, phash

            row = self.catalog.get(capture_id) or {"artifacts": []}
            for artifact in row["artifacts"][:MAX_PHOTOS + 5]:
                if not artifact["name"].startswith("image-"):
                    continue
                if artifact["size"] > MAX_IMAGE_BYTES:
                    continue
                with self.store.open_blob(artifact["sha256"]) as fh:
                    value = phash(fh.read(MAX_IMAGE_BYTES + 1))
                if value:
                    hashes.append(value)
        self._hashes[capture_id] = hashes[:MAX_PHOTOS]
        return self._hashes[capture_id]


def _distance(a: str, b: str) -> int:
    from crawler.triage.images import hamming

    return hamming(a, b)


def _matches(value: str, others: list[str]) -> bool:
    return any(_distance(value, other) <= PHOTO_HAMMING for other in others)



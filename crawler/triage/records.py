"""Triage's store records (write-once documents naming the capture) and their catalog index.

- page records (`triage/pages/<capture_id>.json`): image hashes, contacts, seller rating;
  deterministic, so writing one again is a no-op;
- score records (`triage/scores/<capture_id>/<score_id>.json`): one per scoring that changed
  the result; the newest is the capture's score;
- decision records (`triage/decisions/<capture_id>/<decision_id>.json`): reviewers' verdicts.

`rebuild` re-indexes all three from the store alone (called by `Catalog.rebuild`).
"""

from __future__ import annotations

import json
from typing import Any

from crawler.evidence.manifest import canonical_json
from crawler.triage.schema import (
    triage_contacts,
    triage_decisions,
    triage_images,
    triage_pages,
    triage_scores,
)
from storage.base import Store
from storage.layout import TRIAGE_DECISIONS as DECISIONS_PREFIX
from storage.layout import TRIAGE_PAGES as PAGES_PREFIX
from storage.layout import TRIAGE_SCORES as SCORES_PREFIX
from storage.layout import triage_decision_key as decision_key
from storage.layout import triage_page_key as page_key
from storage.layout import triage_score_key as score_key

PAGE_SCHEMA = "markwatch/triage-page/1"
DECISION_SCHEMA = "markwatch/triage-decision/1"
MEDIA_TYPE = "application/json"


def put_page(store: Store, catalog: Any, record: dict[str, Any]) -> str:
    key = page_key(record["capture_id"])
    store.put_document(key, canonical_json(record), MEDIA_TYPE)
    index_page(catalog, record, key)
    return key


def put_score(store: Store, catalog: Any, record: dict[str, Any]) -> str:
    key = score_key(record["capture_id"], record["score_id"])
    store.put_document(key, canonical_json(record), MEDIA_TYPE)
    index_score(catalog, record, key)
    return key


def put_decision(store: Store, catalog: Any, record: dict[str, Any]) -> str:
    key = decision_key(record["capture_id"], record["decision_id"])
    store.put_document(key, canonical_json(record), MEDIA_TYPE)
    index_decision(catalog, record, key)
    return key


def index_page(catalog: Any, record: dict[str, Any], key: str) -> None:
    cid = record["capture_id"]
    with catalog.transaction():
        catalog.upsert(triage_pages, [(cid, record.get("seller_rating"), key)])
        catalog.upsert(triage_images, [(cid, i["name"], i["sha256"], i["phash"],
                                        i.get("source_url")) for i in record.get("images", [])])
        catalog.upsert(triage_contacts,
                       [(cid, c["kind"], c["value"]) for c in record.get("contacts", [])])


def index_score(catalog: Any, record: dict[str, Any], key: str) -> None:
    """Index a score unless a newer one of the same capture is indexed already (one atomic
    upsert: concurrent scorers never put an older score over a newer one); the capture's
    `suspicious` follows the score that stands."""
    with catalog.transaction():
        catalog.upsert(triage_scores, [(
            record["capture_id"], record["score_id"], record["scorer"]["version"],
            record["score"], 1 if record["suspicious"] else 0,
            json.dumps(record["signals"], ensure_ascii=False, sort_keys=True),
            record["computed_at"], key)], unless_newer="score_id")
        catalog.write("UPDATE captures SET suspicious = (SELECT suspicious FROM triage_scores "
                      "t WHERE t.capture_id = captures.capture_id) WHERE capture_id = ?",
                      [(record["capture_id"],)])


def index_decision(catalog: Any, record: dict[str, Any], key: str) -> None:
    catalog.upsert(triage_decisions, [(
        record["decision_id"], record["capture_id"], record.get("marketplace"),
        record.get("listing_id"), record["verdict"], record.get("note"), record["actor"],
        record["decided_at"], key)])


def latest_score(store: Store, capture_id: str) -> dict[str, Any] | None:
    keys = sorted(store.list_documents(f"{SCORES_PREFIX}{capture_id}/"))
    return json.loads(store.read_document(keys[-1])) if keys else None


def rebuild(catalog: Any, store: Store) -> dict[str, int]:
    """Re-index every triage record in the store; counts by kind."""
    for table in ("triage_scores", "triage_images", "triage_contacts", "triage_pages",
                  "triage_decisions"):
        catalog.write(f"DELETE FROM {table}", [()])  # noqa: S608 - fixed names
    counts = {"pages": 0, "scores": 0, "decisions": 0}
    for key in store.list_documents(PAGES_PREFIX):
        index_page(catalog, json.loads(store.read_document(key)), key)
        counts["pages"] += 1
    for key in sorted(store.list_documents(SCORES_PREFIX)):
        index_score(catalog, json.loads(store.read_document(key)), key)
        counts["scores"] += 1
    for key in store.list_documents(DECISIONS_PREFIX):
        index_decision(catalog, json.loads(store.read_document(key)), key)
        counts["decisions"] += 1
    return counts

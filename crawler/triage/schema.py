"""The catalog tables triage adds (an index of its store records, rebuilt from them)."""

from __future__ import annotations

from sqlalchemy import REAL, Column, Index, Integer, Table, Text

from storage.db import METADATA

triage_scores = Table(
    "triage_scores", METADATA,
    Column("capture_id", Text, primary_key=True),
    Column("score_id", Text, nullable=False),
    Column("version", Text, nullable=False),
    Column("score", Integer, nullable=False),
    Column("suspicious", Integer, nullable=False),
    Column("signals", Text, nullable=False),
    Column("computed_at", Text, nullable=False),
    Column("key", Text, nullable=False),
)
Index("triage_scores_score", triage_scores.c.score)

triage_images = Table(
    "triage_images", METADATA,
    Column("capture_id", Text, primary_key=True),
    Column("name", Text, primary_key=True),
    Column("sha256", Text, nullable=False),
    Column("phash", Text, nullable=False),
    Column("source_url", Text),
)
Index("triage_images_phash", triage_images.c.phash)

triage_contacts = Table(
    "triage_contacts", METADATA,
    Column("capture_id", Text, primary_key=True),
    Column("kind", Text, primary_key=True),
    Column("value", Text, primary_key=True),
)
Index("triage_contacts_value", triage_contacts.c.kind, triage_contacts.c.value)

triage_pages = Table(
    "triage_pages", METADATA,
    Column("capture_id", Text, primary_key=True),
    Column("seller_rating", REAL),
    Column("key", Text, nullable=False),
)

triage_decisions = Table(
    "triage_decisions", METADATA,
    Column("decision_id", Text, primary_key=True),
    Column("capture_id", Text, nullable=False),
    Column("marketplace", Text),
    Column("listing_id", Text),
    Column("verdict", Text, nullable=False),
    Column("note", Text),
    Column("actor", Text, nullable=False),
    Column("decided_at", Text, nullable=False),
    Column("key", Text, nullable=False),
)
Index("triage_decisions_listing", triage_decisions.c.marketplace, triage_decisions.c.listing_id,
      triage_decisions.c.decided_at)

TABLES = (triage_scores, triage_images, triage_contacts, triage_pages, triage_decisions)

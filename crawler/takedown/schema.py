"""The catalog tables of the takedown lifecycle (an index of its store records and of the
captures' manifests, rebuilt from the store by `crawler.takedown.records.rebuild`)."""

from __future__ import annotations

from sqlalchemy import Column, Index, Table, Text

from storage.db import METADATA

takedown_observations = Table(
    "takedown_observations", METADATA,
    Column("capture_id", Text, primary_key=True),
    Column("case_ref", Text),
    Column("marketplace", Text, nullable=False),
    Column("listing_id", Text, nullable=False),
    Column("url", Text, nullable=False),
    Column("availability", Text, nullable=False),
    Column("proof", Text),
    Column("started_at", Text, nullable=False),
)
Index("takedown_observations_listing", takedown_observations.c.marketplace,
      takedown_observations.c.listing_id, takedown_observations.c.started_at)

takedown_changes = Table(
    "takedown_changes", METADATA,
    Column("capture_id", Text, primary_key=True),
    Column("kind", Text, primary_key=True),
    Column("previous_capture_id", Text),
    Column("case_ref", Text),
    Column("marketplace", Text, nullable=False),
    Column("listing_id", Text, nullable=False),
    Column("fields", Text, nullable=False),
    Column("proof", Text),
    Column("at", Text, nullable=False),
    Column("key", Text, nullable=False),
)
Index("takedown_changes_listing", takedown_changes.c.marketplace,
      takedown_changes.c.listing_id, takedown_changes.c.at)

takedown_status = Table(
    "takedown_status", METADATA,
    Column("event_id", Text, primary_key=True),
    Column("case_ref", Text, nullable=False),
    Column("marketplace", Text, nullable=False),
    Column("listing_id", Text, nullable=False),
    Column("status", Text, nullable=False),
    Column("previous", Text),
    Column("at", Text, nullable=False),
    Column("capture_id", Text),
    Column("reference", Text),
    Column("actor", Text, nullable=False),
    Column("key", Text, nullable=False),
)
Index("takedown_status_listing", takedown_status.c.case_ref, takedown_status.c.marketplace,
      takedown_status.c.listing_id, takedown_status.c.at)


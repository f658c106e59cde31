"""The catalog tables of the takedown lifecycle (an index of its store records and of the
captures' manifests, rebuilt from the store by `crawler.takedown.records.rebuild`)."""

from __future__ import annotations

SCHEMA = """
CREATE TABLE IF NOT EXISTS takedown_observations (
    capture_id TEXT PRIMARY KEY,
    case_ref TEXT,
    marketplace TEXT NOT NULL,
    listing_id TEXT NOT NULL,
    url TEXT NOT NULL,
    availability TEXT NOT NULL,
    proof TEXT,
    started_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS takedown_observations_listing
    ON takedown_observations (marketplace, listing_id, started_at);
CREATE TABLE IF NOT EXISTS takedown_changes (
    capture_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    previous_capture_id TEXT,
    case_ref TEXT,
    marketplace TEXT NOT NULL,
    listing_id TEXT NOT NULL,
    fields TEXT NOT NULL,
    proof TEXT,
    at TEXT NOT NULL,
    key TEXT NOT NULL,
    PRIMARY KEY (capture_id, kind)
);
CREATE INDEX IF NOT EXISTS takedown_changes_listing
    ON takedown_changes (marketplace, listing_id, at);
CREATE TABLE IF NOT EXISTS takedown_status (
    event_id TEXT PRIMARY KEY,
    case_ref TEXT NOT NULL,
    marketplace TEXT NOT NULL,
    listing_id TEXT NOT NULL,
    status TEXT NOT NULL,
    previous TEXT,
    at TEXT NOT NULL,
    capture_id TEXT,
    reference TEXT,
    actor TEXT NOT NULL,
    key TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS takedown_status_listing
    ON takedown_status (case_ref, marketplace, listing_id, at);
"""

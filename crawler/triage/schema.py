"""The catalog tables triage adds (an index of its store records, rebuilt from them)."""

from __future__ import annotations

SCHEMA = """
CREATE TABLE IF NOT EXISTS triage_scores (
    capture_id TEXT PRIMARY KEY,
    score_id TEXT NOT NULL,
    version TEXT NOT NULL,
    score INTEGER NOT NULL,
    suspicious INTEGER NOT NULL,
    signals TEXT NOT NULL,
    computed_at TEXT NOT NULL,
    key TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS triage_scores_score ON triage_scores (score);
CREATE TABLE IF NOT EXISTS triage_images (
    capture_id TEXT NOT NULL,
    name TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    phash TEXT NOT NULL,
    source_url TEXT,
    PRIMARY KEY (capture_id, name)
);
CREATE INDEX IF NOT EXISTS triage_images_phash ON triage_images (phash);
CREATE TABLE IF NOT EXISTS triage_contacts (
    capture_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (capture_id, kind, value)
);
CREATE INDEX IF NOT EXISTS triage_contacts_value ON triage_contacts (kind, value);
CREATE TABLE IF NOT EXISTS triage_pages (
    capture_id TEXT PRIMARY KEY,
    seller_rating REAL,
    key TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS triage_decisions (
    decision_id TEXT PRIMARY KEY,
    capture_id TEXT NOT NULL,
    marketplace TEXT,
    listing_id TEXT,
    verdict TEXT NOT NULL,
    note TEXT,
    actor TEXT NOT NULL,
    decided_at TEXT NOT NULL,
    key TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS triage_decisions_listing
    ON triage_decisions (marketplace, listing_id, decided_at);
"""

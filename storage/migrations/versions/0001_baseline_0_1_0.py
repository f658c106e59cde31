"""The schema of markwatch 0.1.0, the first release (the catalog was not versioned then).

Every statement is `IF NOT EXISTS`, so a catalog made by 0.1.0 (recognised by its tables and
no `alembic_version`) is brought to this revision by running it: what 0.1.0 made is kept, what
it made only on first use (`schedule_runs`) is added. The DDL is 0.1.0's, frozen here; on
PostgreSQL (which 0.1.0 did not support) `COLLATE NOCASE` is left out and the scheduler's
AUTOINCREMENT key is a SERIAL.

Revision ID: 0001_baseline_0_1_0
"""

from __future__ import annotations

from alembic import op

revision = "0001_baseline_0_1_0"
down_revision = None
branch_labels = None
depends_on = None

DDL_0_1_0 = """
CREATE TABLE IF NOT EXISTS captures (
    capture_id TEXT PRIMARY KEY,
    run_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    marketplace TEXT NOT NULL,
    brand TEXT NOT NULL,
    term TEXT NOT NULL,
    case_ref TEXT,
    listing_id TEXT,
    title TEXT,
    price TEXT,
    currency TEXT,
    seller_name TEXT,
    seller_url TEXT,
    url TEXT NOT NULL,
    final_url TEXT,
    status INTEGER,
    started_at TEXT NOT NULL,
    finished_at TEXT NOT NULL,
    suspicious INTEGER NOT NULL DEFAULT 0,
    block_kind TEXT,
    manifest_key TEXT NOT NULL,
    manifest_sha256 TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS captures_brand ON captures (brand, started_at);
CREATE INDEX IF NOT EXISTS captures_term ON captures (term, started_at);
CREATE INDEX IF NOT EXISTS captures_marketplace ON captures (marketplace, started_at);
CREATE INDEX IF NOT EXISTS captures_listing ON captures (marketplace, listing_id, started_at);
CREATE INDEX IF NOT EXISTS captures_seller ON captures (seller_name, started_at);
CREATE INDEX IF NOT EXISTS captures_time ON captures (started_at);
CREATE INDEX IF NOT EXISTS captures_run ON captures (run_id);
CREATE TABLE IF NOT EXISTS artifacts (
    capture_id TEXT NOT NULL REFERENCES captures (capture_id),
    name TEXT NOT NULL,
    media_type TEXT NOT NULL,
    size INTEGER NOT NULL,
    sha256 TEXT NOT NULL,
    key TEXT NOT NULL,
    version_id TEXT,
    PRIMARY KEY (capture_id, name)
);
CREATE INDEX IF NOT EXISTS artifacts_sha ON artifacts (sha256);
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT NOT NULL,
    marketplace TEXT NOT NULL,
    started_at TEXT NOT NULL,
    finished_at TEXT NOT NULL,
    status TEXT NOT NULL,
    captures INTEGER NOT NULL,
    failures INTEGER NOT NULL,
    record_key TEXT NOT NULL,
    record_sha256 TEXT NOT NULL,
    PRIMARY KEY (run_id, marketplace)
);
CREATE TABLE IF NOT EXISTS alert_events (
    event_id TEXT PRIMARY KEY,
    type TEXT NOT NULL,
    occurred_at TEXT NOT NULL,
    run_id TEXT,
    case_ref TEXT,
    brand TEXT,
    marketplace TEXT,
    listing_url TEXT,
    capture_ids TEXT NOT NULL,
    summary TEXT NOT NULL,
    record_key TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS alert_events_time ON alert_events (occurred_at);
CREATE TABLE IF NOT EXISTS alert_deliveries (
    record_id TEXT PRIMARY KEY,
    event_id TEXT NOT NULL,
    channel TEXT NOT NULL,
    batch_id TEXT,
    outcome TEXT NOT NULL,
    at TEXT NOT NULL,
    attempts INTEGER NOT NULL,
    status INTEGER,
    error TEXT,
    record_key TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS alert_deliveries_event ON alert_deliveries (event_id, channel);
CREATE INDEX IF NOT EXISTS captures_case ON captures (COALESCE(case_ref, '_none'), started_at);
CREATE INDEX IF NOT EXISTS captures_case_listing
    ON captures (COALESCE(case_ref, '_none'), marketplace, listing_id);
CREATE INDEX IF NOT EXISTS captures_case_seller
    ON captures (COALESCE(case_ref, '_none'), seller_name COLLATE NOCASE, started_at);
CREATE INDEX IF NOT EXISTS captures_case_brand
    ON captures (COALESCE(case_ref, '_none'), brand COLLATE NOCASE, started_at);
CREATE INDEX IF NOT EXISTS captures_case_price
    ON captures (COALESCE(case_ref, '_none'), CAST(price AS REAL));
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
CREATE TABLE IF NOT EXISTS listing_fields (
    capture_id TEXT NOT NULL,
    origin TEXT NOT NULL,
    parsed_at TEXT NOT NULL,
    parser_version TEXT,
    listing_id TEXT,
    title TEXT,
    price TEXT,
    currency TEXT,
    seller_name TEXT,
    seller_url TEXT,
    images INTEGER,
    sponsored INTEGER NOT NULL DEFAULT 0,
    field_sources TEXT NOT NULL,
    results INTEGER,
    PRIMARY KEY (capture_id, origin)
);
CREATE INDEX IF NOT EXISTS listing_fields_time ON listing_fields (capture_id, parsed_at);
CREATE TABLE IF NOT EXISTS schedule_runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    job TEXT NOT NULL,
    watchlist TEXT NOT NULL,
    brands TEXT NOT NULL,
    scheduled_for TEXT NOT NULL,
    trigger TEXT NOT NULL,
    status TEXT NOT NULL,
    reason TEXT,
    run_id TEXT,
    pid INTEGER,
    started_at TEXT,
    finished_at TEXT,
    exit_code INTEGER,
    counts TEXT
);
CREATE INDEX IF NOT EXISTS schedule_runs_job ON schedule_runs (watchlist, job, scheduled_for);
CREATE INDEX IF NOT EXISTS schedule_runs_run ON schedule_runs (run_id);
"""

TABLES = ("artifacts", "captures", "runs", "alert_events", "alert_deliveries",
          "triage_scores", "triage_images", "triage_contacts", "triage_pages",
          "triage_decisions", "takedown_observations", "takedown_changes", "takedown_status",
          "listing_fields", "schedule_runs")


def statements(dialect: str) -> list[str]:
    """0.1.0's DDL, one statement each, for `dialect`."""
    text = DDL_0_1_0
    if dialect == "postgresql":
        text = (text.replace(" COLLATE NOCASE", "")
                .replace("INTEGER PRIMARY KEY AUTOINCREMENT", "SERIAL PRIMARY KEY"))
    return [s.strip() for s in text.split(";") if s.strip()]


def upgrade() -> None:
    for statement in statements(op.get_bind().dialect.name):
        op.execute(statement)


def downgrade() -> None:
    for table in TABLES:
        op.execute(f"DROP TABLE IF EXISTS {table}")

"""The per-case summaries behind the portal's cases page (`storage.case_summary`): a case's
capture and listing counts and latest time, its distinct brands and its distinct listing ids,
made and filled from `captures` (the page then reads a row per case, not every capture).

Revision ID: 0003_case_summary
Revises: 0002_lower_indexes
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_case_summary"
down_revision = "0002_lower_indexes"
branch_labels = None
depends_on = None

BACKFILL = (  # frozen here: storage.case_summary.BACKFILL as of this revision
    "INSERT INTO case_summary (case_name, captures, listings, last) SELECT "
    "COALESCE(case_ref, '_none'), COUNT(*), COUNT(DISTINCT listing_id), MAX(started_at) "
    "FROM captures GROUP BY COALESCE(case_ref, '_none')",
    "INSERT INTO case_brands (case_name, brand) SELECT DISTINCT COALESCE(case_ref, '_none'), "
    "brand FROM captures",
    "INSERT INTO case_listings (case_name, listing_id) SELECT DISTINCT "
    "COALESCE(case_ref, '_none'), listing_id FROM captures WHERE listing_id IS NOT NULL",
)


def upgrade() -> None:
    op.create_table("case_summary",
                    sa.Column("case_name", sa.Text, primary_key=True),
                    sa.Column("captures", sa.Integer, nullable=False),
                    sa.Column("listings", sa.Integer, nullable=False),
                    sa.Column("last", sa.Text, nullable=False))
    op.create_table("case_brands",
                    sa.Column("case_name", sa.Text, primary_key=True),
                    sa.Column("brand", sa.Text, primary_key=True))
    op.create_table("case_listings",
                    sa.Column("case_name", sa.Text, primary_key=True),
                    sa.Column("listing_id", sa.Text, primary_key=True))
    for sql in BACKFILL:
        op.execute(sql)


def downgrade() -> None:
    for table in ("case_listings", "case_brands", "case_summary"):
        op.drop_table(table)

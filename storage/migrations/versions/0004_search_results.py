"""The search results side table (`crawler.fields.search_index`): each search capture's
results as captured and after each re-parse, the newest version flagged. A catalog migrated
from an earlier revision holds no rows for its existing search captures until
`markwatch catalog rebuild` (their results are still in their manifests).

Revision ID: 0004_search_results
Revises: 0003_case_summary
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004_search_results"
down_revision = "0003_case_summary"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table("search_results",
                    sa.Column("capture_id", sa.Text, primary_key=True),
                    sa.Column("origin", sa.Text, primary_key=True),
                    sa.Column("seq", sa.Integer, primary_key=True),
                    sa.Column("position", sa.Integer, nullable=False),
                    sa.Column("newest", sa.Integer, nullable=False, server_default="1"),
                    sa.Column("url", sa.Text, nullable=False),
                    sa.Column("listing_id", sa.Text),
                    sa.Column("title", sa.Text),
                    sa.Column("price", sa.Text),
                    sa.Column("currency", sa.Text),
                    sa.Column("seller_name", sa.Text),
                    sa.Column("image_url", sa.Text),
                    sa.Column("sponsored", sa.Integer, nullable=False, server_default="0"),
                    sa.Column("placeholder", sa.Integer, nullable=False, server_default="0"),
                    sa.Column("organic_position", sa.Integer),
                    sa.Column("strategy", sa.Text))
    op.create_index("search_results_url", "search_results", ["url", "newest"])


def downgrade() -> None:
    op.drop_index("search_results_url", table_name="search_results")
    op.drop_table("search_results")

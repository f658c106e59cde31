"""Seller names by normalised key (`crawler.triage.sellers`), so that triage's
cross-marketplace signal reads the captures of the matching names through an index instead of
every seller name of the catalog for each score. The keys of the sellers already in the
catalog are computed here, a batch at a time. And an index of runs by marketplace and start
(a run's field coverage is compared with the marketplace's previous runs), and of captures by
the first 200 characters of each URL (takedown finds the listing a URL was).

Revision ID: 0005_seller_keys
Revises: 0004_search_results
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005_seller_keys"
down_revision = "0004_search_results"
branch_labels = None
depends_on = None

BATCH = 1000


def upgrade() -> None:
    from crawler.triage.sellers import key_rows

    table = op.create_table("seller_keys",
                            sa.Column("seller_name", sa.Text, primary_key=True),
                            sa.Column("seller_key", sa.Text, nullable=False))
    op.create_index("seller_keys_key", "seller_keys", ["seller_key"])
    op.create_index("captures_seller_name", "captures", ["seller_name", "kind", "marketplace"])
    op.create_index("runs_marketplace", "runs", ["marketplace", "started_at"])
    for name, column in (("captures_url", "url"), ("captures_final_url", "final_url")):
        op.execute(f"CREATE INDEX {name} ON captures (substr({column}, 1, 200))")
    conn = op.get_bind()
    page = sa.text("SELECT DISTINCT seller_name FROM captures WHERE kind = 'listing' "
                   "AND seller_name IS NOT NULL AND seller_name > :after "
                   "ORDER BY seller_name LIMIT :n")
    after = ""
    while names := [row[0] for row in conn.execute(page, {"after": after, "n": BATCH})]:
        after = names[-1]
        rows = key_rows(names)
        if rows:
            conn.execute(table.insert(), [{"seller_name": n, "seller_key": k} for n, k in rows])


def downgrade() -> None:
    op.drop_index("runs_marketplace", table_name="runs")
    op.drop_index("captures_final_url", table_name="captures")
    op.drop_index("captures_url", table_name="captures")
    op.drop_index("captures_seller_name", table_name="captures")
    op.drop_index("seller_keys_key", table_name="seller_keys")
    op.drop_table("seller_keys")

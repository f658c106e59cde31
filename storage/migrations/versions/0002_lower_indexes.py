"""Case-insensitive matches through `lower()` on both engines (0.1.0 used SQLite's
`COLLATE NOCASE`), with matching expression indexes; prices as numbers through the engine's
guarded cast (PostgreSQL refuses to cast a price that is not a number).

Revision ID: 0002_lower_indexes
Revises: 0001_baseline_0_1_0
"""

from __future__ import annotations

from alembic import op

revision = "0002_lower_indexes"
down_revision = "0001_baseline_0_1_0"
branch_labels = None
depends_on = None

CASE = "COALESCE(case_ref, '_none')"
PRICE = {
    "sqlite": "CAST(price AS REAL)",
    "postgresql": "(CASE WHEN price ~ '^-?[0-9]+([.][0-9]+)?$' "
                  "THEN CAST(price AS DOUBLE PRECISION) END)",
}

NEW = {
    "captures_brand": "lower(brand), started_at",
    "captures_term": "lower(term), started_at",
    "captures_seller": "lower(seller_name), started_at",
    "captures_case_seller": f"{CASE}, lower(seller_name), started_at",
    "captures_case_brand": f"{CASE}, lower(brand), started_at",
    "captures_case_price": f"{CASE}, {{price}}",
}


def _old(dialect: str) -> dict[str, str]:
    nocase = " COLLATE NOCASE" if dialect == "sqlite" else ""
    return {
        "captures_brand": "brand, started_at",
        "captures_term": "term, started_at",
        "captures_seller": "seller_name, started_at",
        "captures_case_seller": f"{CASE}, seller_name{nocase}, started_at",
        "captures_case_brand": f"{CASE}, brand{nocase}, started_at",
        "captures_case_price": f"{CASE}, CAST(price AS REAL)",
    }


def _swap(indexes: dict[str, str]) -> None:
    price = PRICE[op.get_bind().dialect.name]
    for name, columns in indexes.items():
        op.execute(f"DROP INDEX IF EXISTS {name}")
        op.execute(f"CREATE INDEX {name} ON captures ({columns.format(price=price)})")


def upgrade() -> None:
    _swap(NEW)


def downgrade() -> None:
    _swap(_old(op.get_bind().dialect.name))

"""Indexes the portal's queries need on the catalog (declared on `storage.db.METADATA`).

The cases and listings pages filter on the case (expression indexes, matched exactly by
`crawler.portal.queries`) and order by time; seller and brand are matched ignoring case
(`lower()` expression indexes), prices as numbers (an index on the engine's PRICE_NUMBER).
"""

from __future__ import annotations

from sqlalchemy import ColumnElement, Index, func, literal_column

from storage.tables import CASE, PRICE_NUMBER, captures

_case: ColumnElement[str] = literal_column(CASE)
Index("captures_case", _case, captures.c.started_at)
Index("captures_case_listing", _case, captures.c.marketplace, captures.c.listing_id)
Index("captures_case_seller", _case, func.lower(captures.c.seller_name), captures.c.started_at)
Index("captures_case_brand", _case, func.lower(captures.c.brand), captures.c.started_at)
for _dialect, _expr in PRICE_NUMBER.items():
    Index("captures_case_price", _case, literal_column(_expr)).ddl_if(dialect=_dialect)


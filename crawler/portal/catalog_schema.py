"""Indexes the portal's queries need on the catalog (executed by `storage.catalog.Catalog`).

Only a string: the catalog imports it without importing the portal. The cases and listings
pages filter on the case (expression indexes, matched exactly by `crawler.portal.queries`)
and order by time; seller and brand are matched ignoring case (NOCASE indexes), prices as
numbers (an index on the CAST).
"""

from __future__ import annotations

PORTAL_INDEXES = """
CREATE INDEX IF NOT EXISTS captures_case ON captures (COALESCE(case_ref, '_none'), started_at);
CREATE INDEX IF NOT EXISTS captures_case_listing
    ON captures (COALESCE(case_ref, '_none'), marketplace, listing_id);
CREATE INDEX IF NOT EXISTS captures_case_seller
    ON captures (COALESCE(case_ref, '_none'), seller_name COLLATE NOCASE, started_at);
CREATE INDEX IF NOT EXISTS captures_case_brand
    ON captures (COALESCE(case_ref, '_none'), brand COLLATE NOCASE, started_at);
CREATE INDEX IF NOT EXISTS captures_case_price
    ON captures (COALESCE(case_ref, '_none'), CAST(price AS REAL));
"""

"""Indexes the portal's queries need on the catalog (executed by `storage.catalog.Catalog`).

Only a string: the catalog imports it without importing the portal. The cases and listings
pages filter on the case (an expression index, matched exactly by `crawler.portal.queries`)
and order by time.
"""

from __future__ import annotations

PORTAL_INDEXES = """
CREATE INDEX IF NOT EXISTS captures_case ON captures (COALESCE(case_ref, '_none'), started_at);
CREATE INDEX IF NOT EXISTS captures_case_listing
    ON captures (COALESCE(case_ref, '_none'), marketplace, listing_id);
"""

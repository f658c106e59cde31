"""A listing reached from a sponsored search result says so on its own capture.

The search page's result marks the request (`SPONSORED_META`), the listing capture carries
`Listing.sponsored = True` (listing.json, the manifest's listing, the catalog's side table and
`markwatch evidence list`): a seller paying to promote a counterfeit is evidence too.
"""

from __future__ import annotations

SPONSORED_META = "markwatch_from_sponsored"
"""Request meta key: True when the listing was followed from a sponsored search result."""

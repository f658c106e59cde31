"""Layered extraction of listing fields, the same for every marketplace.

Layer 1 is the marketplace's page object (`spiders.pages.<site>`: embedded state, stable
attributes); layer 2 is structured data (`structured`: JSON-LD, microdata, OpenGraph and
`product:` meta); layer 3 is generic heuristics on the DOM (`heuristic`). `pipeline` merges
them field by field and records each field's strategy in `Listing.field_sources`.
"""

from __future__ import annotations

from spiders.extract.found import FIELDS, LAYER_OF, Found
from spiders.extract.pipeline import PARSER_VERSION, Extraction, extract_listing

__all__ = ["FIELDS", "LAYER_OF", "PARSER_VERSION", "Extraction", "Found", "extract_listing"]

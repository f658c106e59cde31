"""Every catalog table in one `MetaData`: importing the modules that declare them."""

from __future__ import annotations

import importlib

from sqlalchemy import MetaData

MODULES = ("storage.tables", "crawler.portal.catalog_schema", "crawler.alerts.records",
           "storage.case_summary", "crawler.triage.schema", "crawler.takedown.schema",
           "crawler.fields.index", "crawler.schedule.records", "crawler.fields.search_index",
           "crawler.triage.sellers")
"""The modules that declare catalog tables (each its own)."""


def load_metadata() -> MetaData:
    """The catalog's metadata with every module's tables declared."""
    for name in MODULES:
        importlib.import_module(name)
    from storage.db import METADATA

    return METADATA

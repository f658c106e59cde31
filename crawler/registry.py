"""Which marketplaces have a dedicated spider (the generic recipe spider is not one)."""

from __future__ import annotations

from scrapy.settings import BaseSettings
from scrapy.spiderloader import SpiderLoader

GENERIC_SPIDERS = frozenset({"recipe"})
"""Spiders that crawl marketplaces defined elsewhere (recipes), not a marketplace of their own."""


def known_marketplaces(settings: BaseSettings) -> list[str]:
    """Names of every dedicated spider in the project."""
    names = SpiderLoader.from_settings(settings).list()
    return sorted(name for name in names if name not in GENERIC_SPIDERS)

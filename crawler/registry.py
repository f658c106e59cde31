"""Which marketplaces have a dedicated spider."""

from __future__ import annotations

from scrapy.settings import BaseSettings
from scrapy.spiderloader import SpiderLoader


def known_marketplaces(settings: BaseSettings) -> list[str]:
    """Names of every dedicated spider in the project."""
    return sorted(SpiderLoader.from_settings(settings).list())

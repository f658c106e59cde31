"""Exporting evidence for third parties: the formats `markwatch evidence export --format` knows.

`EXPORTERS` maps each format name to its function; the CLI offers exactly these names, so a
new format (WACZ, from the WARC/WACZ work) is one entry here and one module next to
`bundle.py`, with the same signature as `export_bundle`.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

from crawler.clock import Clock
from crawler.seal.config import SealConfig
from storage.base import Store
from storage.catalog import Catalog

__all__ = ["DEFAULT_FORMAT", "EXPORTERS", "Exporter", "get_exporter"]

DEFAULT_FORMAT = "bundle"


class Exporter(Protocol):
    """Writes `capture_ids` from `store` to `output`; MarkwatchError if it cannot."""

    def __call__(self, store: Store, catalog: Catalog | None, capture_ids: Sequence[str],
                 output: Path, *, seal_config: SealConfig, clock: Clock,
                 pdf: bool = True) -> object: ...


def _bundle() -> Exporter:
    from crawler.export.bundle import export_bundle

    return export_bundle


def _wacz() -> Exporter:
    from crawler.export.wacz import export_wacz

    return export_wacz


# format name -> loader of its exporter (imported lazily: PDF printing pulls in Playwright).
# Hook for WACZ: add `"wacz": _wacz` with a loader returning e.g. crawler.export.wacz.export_wacz.
EXPORTERS = {
    "bundle": _bundle,
    "wacz": _wacz,
}


def get_exporter(fmt: str) -> Exporter:
    """The exporter of a format name (one of `EXPORTERS`)."""
    return EXPORTERS[fmt]()

"""Exports from the portal: a bundle or WACZ of one capture, a listing's timeline or a selection.

The exporter of `crawler.export` builds the file (verifying every capture first, refusing
evidence that does not verify, and appending the `exported` custody event with the portal
user as actor) in a temporary folder; the response streams it in chunks and deletes it.
"""

from __future__ import annotations

import dataclasses
import re
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from crawler.export import EXPORTERS, get_exporter
from crawler.portal.access import actor_of
from crawler.portal.users import User

MAX_CAPTURES = 1000
CHUNK = 256 * 1024
_SUFFIX = {"bundle": ".zip", "wacz": ".wacz"}


def formats() -> list[str]:
    return sorted(EXPORTERS)


def build(portal: Any, user: User, capture_ids: Sequence[str], fmt: str) -> tuple[Path, str]:
    """Write the export to a temporary file: (its path, a download name)."""
    folder = Path(tempfile.mkdtemp(prefix="markwatch-portal-export-"))
    name = f"markwatch-{_slug(capture_ids[0])}-{len(capture_ids)}{_SUFFIX.get(fmt, '.zip')}"
    config = dataclasses.replace(portal.config.seal_config, actor=actor_of(user.name))
    try:
        get_exporter(fmt)(portal.store, portal.catalog, list(capture_ids), folder / name,
                          seal_config=config, clock=portal.config.clock, pdf=False)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    return folder / name, name


def stream(path: Path) -> Iterator[bytes]:
    """The file's bytes in chunks; the temporary folder is removed when done."""
    try:
        with path.open("rb") as fh:
            while chunk := fh.read(CHUNK):
                yield chunk
    finally:
        shutil.rmtree(path.parent, ignore_errors=True)


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]", "", text)[:32] or "export"

"""Bytes a local evidence store holds per capture, by artifact kind.

Each blob is counted once (the store holds it once), under the kind of the first artifact that
names it; blobs no manifest names are the response payloads deduplicated WARCs refer to
(`crawler/recording/dedup.py`). Manifests, run records and seals are `records`.
"""

from __future__ import annotations

import json
from pathlib import Path

KINDS = ("warc", "payloads", "screenshot", "dom", "fields", "images", "records")


def kind_of(name: str) -> str:
    if name == "page.warc.gz":
        return "warc"
    if name in ("screenshot.png", "screenshot.webp"):
        return "screenshot"
    if name == "dom.html":
        return "dom"
    if name.startswith("image-"):
        return "images"
    return "fields"


def stored_by_kind(store: Path) -> tuple[dict[str, int], int]:
    """({kind: bytes}, captures) of the local store at `store`."""
    sizes = {p.name: p.stat().st_size for p in (store / "blobs").rglob("*") if p.is_file()}
    out = dict.fromkeys(KINDS, 0)
    seen: set[str] = set()
    captures = 0
    for path in sorted((store / "captures").rglob("*.json")):
        out["records"] += path.stat().st_size
        captures += 1
        for artifact in json.loads(path.read_bytes()).get("artifacts", []):
            sha = artifact["sha256"]
            if sha in seen or sha not in sizes:
                continue
            seen.add(sha)
            out[kind_of(artifact["name"])] += sizes[sha]
    out["payloads"] = sum(size for sha, size in sizes.items() if sha not in seen)
    for folder in ("runs", "seals"):
        if (store / folder).exists():
            out["records"] += sum(p.stat().st_size for p in (store / folder).rglob("*")
                                  if p.is_file())
    return out, captures


def per_capture(store: Path) -> dict[str, float]:
    """`stored_by_kind` divided by the number of captures (empty if there are none)."""
    totals, captures = stored_by_kind(store)
    if not captures:
        return {}
    return {kind: size / captures for kind, size in totals.items()}

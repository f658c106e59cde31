"""Bytes a local evidence store holds per capture, by artifact kind.

Each blob is counted once (the store holds it once), under the kind of the first artifact that
names it; blobs no manifest names are the response payloads deduplicated WARCs refer to
(`crawler/recording/dedup.py`). Manifests, run records and seals are `records`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

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


def print_bytes(rows: Any, before: Any = None) -> None:
    """The bytes table: per artifact kind, `before` (a markwatch run storing as before) against
    each markwatch run, and each run's total against the bare loop's PNG and HTML (the plain
    baseline row at the same concurrency). `rows` are `bench.run.Row`s."""
    runs = [r for r in rows if r.row == "markwatch" and r.stored_by_kind]
    if runs and before is not None and before.stored_by_kind:
        _kinds_table(runs, before)
    for r in runs:
        bare = next((b.stored_bytes_per_capture for b in rows
                     if b.row == "baseline" and b.concurrency == r.concurrency), None)
        if bare and r.stored_bytes_per_capture:
            print(f"concurrency {r.concurrency}: markwatch's store holds "
                  f"{r.stored_bytes_per_capture:,.0f} B/capture, "
                  f"{r.stored_bytes_per_capture / bare:.2f} x the bare loop's PNG and HTML "
                  f"({bare:,.0f})")


def _kinds_table(runs: Any, before: Any) -> None:
    print("\nstored B/capture by kind: before (dedup off, PNG screenshots) and after, with "
          "after/before")
    print(f"{'kind':12} {'before':>10} " + " ".join(f"{'c=' + str(r.concurrency):>10} {'ratio':>6}"
                                                   for r in runs))
    for kind in (*KINDS, "total"):
        old = _kind(before.stored_by_kind, kind)
        cells = []
        for r in runs:
            new = _kind(r.stored_by_kind, kind)
            cells.append(f"{new:>10,.0f} {(f'{new / old:.2f}' if old else ''):>6}")
        print(f"{kind:12} {old:>10,.0f} " + " ".join(cells))


def _kind(kinds: dict[str, float], kind: str) -> float:
    return sum(kinds.values()) if kind == "total" else kinds.get(kind, 0.0)

"""Page objects against saved real pages: one folder per case under tests/pages/<site>/<case>/.

Each folder holds `page.html.gz` (the page, gzip), `case.json` (`kind`: search | listing |
blocked, `url`, `source`, optional `status` and `headers`) and `expected.json`, written by
hand from reading the page. Only the keys present in `expected.json` are compared:

- search: `count` (results that are not placeholders), `first` (the first results that are
  not placeholders, each compared on its own keys; `price` as a string) and optionally
  `sponsored_count`;
- listing: any `Listing` field, decimals as strings, read through every extraction layer
  (`spiders.extract`); `without_state` holds the values expected once the page's embedded
  state scripts are removed, where they differ, and `generic_layers` the fields that
  structured data and heuristics alone read right (tests/test_extract_layers.py);
- blocked: `kind` (and optionally a substring of the `reason`).

Every non-blocked page must also give `block() is None`.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import pytest

from spiders.extract import FIELDS, LAYER_OF, extract_listing
from spiders.pages import page_class
from spiders.pages.base import ListingPage, Page, SearchPage

ROOT = Path(__file__).parent / "pages"
CASES = sorted(p.parent for p in ROOT.glob("*/*/case.json"))


def _load(case: Path) -> tuple[dict[str, Any], dict[str, Any], str]:
    meta = json.loads((case / "case.json").read_text(encoding="utf-8"))
    expected = json.loads((case / "expected.json").read_text(encoding="utf-8"))
    html = gzip.decompress((case / "page.html.gz").read_bytes()).decode("utf-8", "replace")
    return meta, expected, html


def _build(case: Path, meta: dict[str, Any], html: str, kind: str) -> Page:
    cls = page_class(case.parent.name, kind) if kind in ("search", "listing") else Page
    return cls(meta["url"], html, meta.get("status", 200), meta.get("headers") or {})


def _as_json(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))


def _subset(actual: dict[str, Any], expected: dict[str, Any], where: str) -> None:
    for key, want in expected.items():
        assert key in actual, f"{where}: no field {key!r}"
        assert _as_json(actual[key]) == want, f"{where}: {key}"


@pytest.mark.parametrize("case", CASES, ids=[f"{c.parent.name}/{c.name}" for c in CASES])
def test_page_case(case: Path) -> None:
    meta, expected, html = _load(case)
    kind = meta["kind"]
    if kind == "blocked":
        block = _build(case, meta, html, kind).block()
        assert block is not None, "block page not recognised"
        assert block.kind == expected["kind"]
        assert expected.get("reason_contains", "") in block.reason
        return
    page = _build(case, meta, html, kind)
    assert page.block() is None, f"real page flagged as {page.block()}"
    if kind == "listing":
        assert isinstance(page, ListingPage)
        listing = extract_listing(page).listing
        assert set(listing.field_sources) <= set(FIELDS)
        assert set(listing.field_sources.values()) <= set(LAYER_OF)
        _subset(listing.to_json(), {k: v for k, v in expected.items()
                                    if k not in ("without_state", "generic_layers")},
                case.name)
        return
    assert isinstance(page, SearchPage)
    results = [r for r in page.results() if not r.placeholder]
    if "count" in expected:
        assert len(results) == expected["count"]
    if "sponsored_count" in expected:
        assert sum(r.sponsored for r in results) == expected["sponsored_count"]
    for i, want in enumerate(expected.get("first", [])):
        got = dict(vars(results[i]))
        got["price"] = None if got["price"] is None else str(got["price"])
        _subset(got, want, f"{case.name} result {i + 1}")


def test_cases_found() -> None:
    assert CASES, f"no cases under {ROOT}"

"""The takedown lifecycle end to end: the demo marketplace's next state, re-checks, changes,
proven removals, reappearances, relistings, no false removal under a bot wall or a 503,
statuses, notice packages and figures (real Chromium, real HTTP, real SQLite)."""

from __future__ import annotations

import hashlib
import json
import urllib.error
import urllib.request
import zipfile
from pathlib import Path
from typing import Any

import pytest

from crawler.demo import DemoMarketplace
from crawler.demo.data import build_catalog
from crawler.takedown.notices import FORMATS
from crawler.takedown.records import classify, redirect_target
from crawler.takedown.stats import percentile
from storage.catalog import Catalog
from tests.helpers import CliResult, run_markwatch

WATCHLIST = """\
version: 1
case: "CASE-TD"
settings:
  max_pages: 1
  max_listings: 6
  egress: {allow: [127.0.0.1]}
brands:
  - name: Lumara
    terms: ["lumara handbag"]
    exclude_terms: ["case for"]
    marketplaces: [demo]
"""


def admin(market: DemoMarketplace, path: str, body: Any = None) -> tuple[int, Any]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(market.base_url + path, data=data,
                                     method="GET" if body is None else "POST")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")


def fetch(market: DemoMarketplace, path: str) -> tuple[int, str, str]:
    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args: Any, **kwargs: Any) -> None:
            return None

    opener = urllib.request.build_opener(NoRedirect)
    try:
        with opener.open(market.base_url + path, timeout=10) as response:
            return response.status, response.read().decode(), response.headers.get("Location", "")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode(), exc.headers.get("Location", "")


# -- the demo marketplace's next state ----------------------------------------------------------

def test_advance_moves_listings_and_is_deterministic() -> None:
    with DemoMarketplace(build_catalog(80, 3)) as market:
        ids = [item.listing_id for item in market.catalog.listings]
        status, body = admin(market, "/__admin/advance", {
            "gone": [ids[0]], "unavailable": [ids[1]], "redirected": [ids[2]],
            "price": [ids[3]], "title": [ids[4]], "relist": [ids[5]], "restore": []})
        assert status == 200 and body["step"] == 1
        assert fetch(market, f"/item/{ids[0]}")[0] == 410
        code, html, _ = fetch(market, f"/item/{ids[1]}")
        assert code == 200 and "no longer available" in html
        code, _, location = fetch(market, f"/item/{ids[2]}")
        assert code == 302 and location.startswith("/search")
        old = build_catalog(80, 3).get(ids[3])
        assert old is not None and old.price_text not in fetch(market, f"/item/{ids[3]}")[1]
        assert "NEW STOCK" in fetch(market, f"/item/{ids[4]}")[1]
        code, html, _ = fetch(market, f"/item/{ids[5]}R1")
        assert code == 200 and f"/img/{ids[5]}-1.png" in html
        assert admin(market, "/__admin/advance", {"restore": [ids[0]]})[0] == 200
        assert fetch(market, f"/item/{ids[0]}")[0] == 200
        assert admin(market, "/__admin/advance", {"gone": ["nope"]})[0] == 400
        assert admin(market, "/__admin/advance", {"explode": []})[0] == 400
        for mode, expected in (("503", 503), ("botwall", 200)):
            assert admin(market, "/__admin/mode", {"mode": mode})[0] == 200
            code, html, _ = fetch(market, f"/item/{ids[6]}")
            assert code == expected and ("robot" in html or code == 503)
        assert admin(market, "/__admin/mode", {"mode": "nonsense"})[0] == 400
    with DemoMarketplace(build_catalog(80, 3)) as a, DemoMarketplace(build_catalog(80, 3)) as b:
        assert admin(a, "/__admin/advance", {})[1] == admin(b, "/__admin/advance", {})[1]


def test_removal_needs_proof() -> None:
    base = {"url": "http://m/item/1", "final_url": "http://m/item/1", "block_kind": None}
    assert classify({**base, "kind": "gone", "status": 410})[0] == "removed"
    assert classify({**base, "kind": "gone", "status": 200})[0] == "removed"
    assert classify({**base, "kind": "blocked", "status": 503})[0] == "refused"
    assert classify({**base, "kind": "blocked", "status": 200})[0] == "refused"
    assert classify({**base, "kind": "listing", "status": 503})[0] == "refused"
    assert classify({**base, "kind": "listing", "status": 200})[0] == "live"
    moved = {**base, "kind": "listing", "status": 200, "final_url": "http://m/search?q="}
    assert classify(moved) == ("removed", "redirect to the search page (http://m/search?q=)")
    assert redirect_target("http://m/item/1", "http://m/") == "home"
    assert redirect_target("http://m/item/1", "http://m/item/1?x=1") is None
    assert redirect_target("http://m/item/1", "http://m/item/2") is None
    assert percentile([1.0, 2.0, 3.0, 4.0], 0.5) == 2.5
    assert percentile([float(n) for n in range(1, 11)], 0.9) == 9.0


# -- the lifecycle, end to end ------------------------------------------------------------------

class Case:
    def __init__(self, root: Path, market: DemoMarketplace) -> None:
        self.root, self.market = root, market
        self.store = root / "store"
        (root / "watchlist.yaml").write_text(WATCHLIST, encoding="utf-8")

    def cli(self, *args: str) -> CliResult:
        return run_markwatch(list(args), cwd=self.root, env={
            "MARKWATCH_STORE": f"file://{self.store}", "MARKWATCH_DEMO_URL": self.market.base_url,
            "MARKWATCH_NOTIFIER_NAME": "Ana Brandt (Lumara SA)",
            "MARKWATCH_NOTIFIER_EMAIL": "ip@lumara.example"})

    def ok(self, *args: str) -> CliResult:
        result = self.cli(*args)
        assert result.code == 0, (args, result.out, result.err)
        return result

    def catalog(self) -> Catalog:
        return Catalog(self.store / "catalog.db")

    def changes(self, kind: str) -> list[dict[str, Any]]:
        return json.loads(self.ok("takedown", "changes", "--kind", kind, "--format",
                                  "json").out)

    def status(self) -> dict[str, str]:
        rows = json.loads(self.ok("takedown", "status", "--format", "json").out)
        return {r["listing_id"]: r["status"] for r in rows}


@pytest.fixture(scope="module")
def lifecycle(tmp_path_factory: pytest.TempPathFactory, chromium: str) -> Any:
    with DemoMarketplace() as market:
        case = Case(tmp_path_factory.mktemp("takedown"), market)
        case.ok("crawl", "-w", "watchlist.yaml", "--log-level", "WARNING")
        with case.catalog() as cat:
            ids = sorted({r["listing_id"] for r in cat.query(
                "SELECT listing_id FROM captures WHERE kind = 'listing'")})
        assert len(ids) == 6
        case.ok("takedown", "mark-sent", *[f"demo:{i}" for i in ids], "--reference", "T-1")
        a, b, c, d, e, f = ids
        admin(market, "/__admin/advance", {"gone": [a, f], "unavailable": [b],
                                           "redirected": [c], "price": [d], "title": [e],
                                           "relist": [f]})
        refusals = {}
        for mode in ("botwall", "503"):
            admin(market, "/__admin/mode", {"mode": mode})
            refusals[mode] = case.cli("recheck", "-w", "watchlist.yaml", "--status", "any",
                                      "--log-level", "WARNING")
            refusals[mode + "-removed"] = case.changes("removed")
            refusals[mode + "-status"] = case.status()
        admin(market, "/__admin/mode", {"mode": "normal"})
        case.ok("recheck", "-w", "watchlist.yaml", "--log-level", "WARNING")
        case.ok("crawl", "-w", "watchlist.yaml", "--log-level", "WARNING")  # finds the relisting
        admin(market, "/__admin/advance", {"restore": [a]})
        case.ok("recheck", "-w", "watchlist.yaml", "--status", "any", "--log-level", "WARNING")
        yield case, ids, refusals


@pytest.mark.browser
def test_no_false_removal_under_bot_wall_or_503(lifecycle: Any) -> None:
    case, _ids, refusals = lifecycle
    for mode in ("botwall", "503"):
        assert refusals[mode + "-removed"] == []
        assert set(refusals[mode + "-status"].values()) == {"reported"}
    with case.catalog() as cat:
        blocked = cat.query("SELECT COUNT(*) AS n FROM takedown_observations "
                            "WHERE availability = 'refused'")[0]["n"]
    assert blocked >= 6  # the refusals were captured (as evidence), and proved nothing


@pytest.mark.browser
def test_every_removal_change_reappearance_and_relisting(lifecycle: Any) -> None:
    case, ids, _ = lifecycle
    a, b, c, d, e, f = ids
    removed = {r["listing_id"]: r for r in case.changes("removed")}
    assert set(removed) == {a, b, c, f}
    assert removed[a]["proof"] == "HTTP 410" and removed[f]["proof"] == "HTTP 410"
    assert removed[b]["proof"] == "item unavailable page (HTTP 200)"
    assert removed[c]["proof"].startswith("redirect to the search page")
    with case.catalog() as cat:
        for listing_id, row in removed.items():
            proving = cat.get(row["capture_id"])
            assert proving is not None and proving["kind"] in ("gone", "listing")
            assert (proving["status"] == 410) == (listing_id in (a, f))
            before = cat.get(row["previous_capture_id"])
            assert before is not None and before["listing_id"] == listing_id
    changed = {r["listing_id"]: [x["field"] for x in r["fields"]] for r in case.changes("changed")}
    assert changed == {d: ["price"], e: ["title"]}
    price = next(r for r in case.changes("changed") if r["listing_id"] == d)["fields"][0]
    truth = case.market.catalog.get(d)
    assert truth is not None and price["after"] == str(truth.price)
    reappeared = case.changes("reappeared")
    assert [r["listing_id"] for r in reappeared] == [a]
    relisted = case.changes("relisted")
    assert [(r["listing_id"], r["fields"]["of"]["listing_id"]) for r in relisted] == [
        (f"{f}R1", f)]
    assert len(relisted[0]["fields"]["photo_matches"]) >= 2
    status = case.status()
    assert {k: status[k] for k in ids} == {a: "reappeared", b: "removed", c: "removed",
                                          d: "reported", e: "reported", f: "removed"}


@pytest.mark.browser
def test_transitions_are_store_records_custody_entries_and_survive_rebuild(
        lifecycle: Any) -> None:
    case, ids, _ = lifecycle
    with case.catalog() as cat:
        before = {t: cat.query(f"SELECT * FROM {t} ORDER BY 1, 2")
                  for t in ("takedown_status", "takedown_changes", "takedown_observations")}
    statuses = list((case.store / "takedown" / "status").glob("*.json"))
    assert len(statuses) == len(before["takedown_status"]) == 6 + 4 + 1
    custody = [json.loads(p.read_text()) for p in sorted((case.store / "custody").glob("*.json"))]
    logged = [c for c in custody if c["event"] == "takedown"]
    assert len(logged) == len(statuses)
    assert all(c["capture_ids"] for c in logged)  # the reported capture, or the proof
    (case.store / "catalog.db").unlink()
    case.ok("catalog", "rebuild")
    with case.catalog() as cat:
        after = {t: cat.query(f"SELECT * FROM {t} ORDER BY 1, 2")
                 for t in before}
    assert after == before
    bad = case.cli("takedown", "mark-rejected", f"demo:{ids[1]}")
    assert bad.code == 2 and "cannot become rejected" in bad.err


@pytest.mark.browser
@pytest.mark.parametrize("fmt", FORMATS)
def test_notice_package_hashes_match_the_store(lifecycle: Any, fmt: str) -> None:
    case, ids, _ = lifecycle
    out = case.root / f"notice-{fmt}.zip"
    case.ok("takedown", "prepare", "--case", "CASE-TD", "--marketplace", "demo", "--format", fmt,
            "--no-pdf", "-o", str(out))
    with zipfile.ZipFile(out) as zf:
        notice = zf.read("notice.txt").decode()
        lines = json.loads(zf.read("listings.json"))["listings"]
        csv_text = zf.read("listings.csv").decode()
        bundle = zf.read("evidence.zip")
    assert {ids[0], ids[3], ids[4]} <= {line["listing_id"] for line in lines}
    with case.catalog() as cat:
        for line in lines:
            row = cat.get(line["capture_id"])
            assert row is not None
            manifest = (case.store / row["manifest_key"]).read_bytes()
            assert hashlib.sha256(manifest).hexdigest() == line["manifest_sha256"]
            shot = json.loads(manifest)["artifacts"]
            stored = next(a for a in shot if a["name"] == "screenshot.webp")
            blob = (case.store / stored["key"]).read_bytes()
            assert hashlib.sha256(blob).hexdigest() == line["screenshot_sha256"]
            for value in (line["listing_url"], line["capture_id"], line["captured_at"],
                          line["manifest_sha256"], line["screenshot_sha256"]):
                assert value in notice and value in csv_text
    with zipfile.ZipFile(__import__("io").BytesIO(bundle)) as zf:
        names = zf.namelist()
    assert all(any(line["capture_id"] in n for n in names) for line in lines)
    if fmt == "eu-dsa":
        for element in ("Explanation of the reasons", "Exact electronic location",
                        "Ana Brandt (Lumara SA)", "ip@lumara.example", "bona fide belief",
                        "accurate and complete", "Lumara"):
            assert element in notice


@pytest.mark.browser
def test_stats(lifecycle: Any) -> None:
    case, _ids, _ = lifecycle
    rows = json.loads(case.ok("takedown", "stats", "--format", "json").out)
    row = next(r for r in rows if r["marketplace"] == "demo")
    assert (row["reported"], row["removed"], row["reappeared"]) == (6, 4, 1)
    assert row["found"] >= 7 and row["reappearance_rate"] == 0.25
    assert row["median_removal_s"] > 0 and row["p90_removal_s"] >= row["median_removal_s"]


@pytest.mark.browser
def test_capture_on_demand(lifecycle: Any) -> None:
    case, ids, _ = lifecycle
    url = f"{case.market.base_url}/item/{ids[3]}"
    case.ok("capture", url, "-w", "watchlist.yaml", "--case", "CASE-HAND", "--log-level",
            "WARNING")
    with case.catalog() as cat:
        rows = cat.query("SELECT * FROM captures WHERE case_ref = 'CASE-HAND'")
    assert [(r["kind"], r["listing_id"], r["url"]) for r in rows] == [("listing", ids[3], url)]
    bad = case.cli("capture", "https://unknown.example/x", "-w", "watchlist.yaml")
    assert bad.code == 2 and "no marketplace is known" in bad.err


def test_notice_text_is_escaped_and_templates_overridable(tmp_path: Path) -> None:
    from crawler.takedown.notices import _csv, load_template, render_lines

    line = {"listing_url": "http://m/item/1", "listing_id": "1", "capture_id": "C1",
            "captured_at": "2026-01-01T00:00:00.000000Z", "manifest_sha256": "a" * 64,
            "screenshot_sha256": "b" * 64, "title": "=HYPERLINK(\"http://evil\")\x1b[31m $case",
            "price": "1.00", "currency": "EUR", "seller": "+cmd|' /C calc'!A0",
            "status": "reported", "marketplace": "demo"}
    text = render_lines([line])
    assert "\x1b" not in text and "\\x1b" in text
    rendered = load_template("eu-dsa").safe_substitute(listing_lines=text, case="X")
    assert "$case" in rendered  # a `$` from a page is never substituted
    csv_text = _csv([line])
    assert "'=HYPERLINK" in csv_text and "'+cmd" in csv_text
    (tmp_path / "ebay-vero.txt").write_text("mine: $case", encoding="utf-8")
    assert load_template("ebay-vero", tmp_path).safe_substitute(case="K") == "mine: K"
    assert "VeRO" in load_template("ebay-vero", tmp_path / "none").template
    with pytest.raises(Exception, match="unknown notice format"):
        load_template("../../etc/passwd")


def test_durations_and_empty_recheck(tmp_path: Path) -> None:
    import datetime as dt

    from crawler.exceptions import ConfigError
    from crawler.takedown.recheck import parse_duration

    assert parse_duration("6h") == dt.timedelta(hours=6)
    assert parse_duration("2w") == dt.timedelta(days=14)
    for bad in ("6", "h", "-1d", "1y", "1e9d"):
        with pytest.raises(ConfigError):
            parse_duration(bad)
    (tmp_path / "watchlist.yaml").write_text(WATCHLIST, encoding="utf-8")
    out = run_markwatch(["recheck", "-w", "watchlist.yaml", "--older-than", "1d"], cwd=tmp_path,
                        env={"MARKWATCH_STORE": f"file://{tmp_path / 'store'}"})
    assert out.code == 0 and "nothing to re-check" in out.out
    bad_age = run_markwatch(["recheck", "-w", "watchlist.yaml", "--older-than", "soon"],
                            cwd=tmp_path, env={"MARKWATCH_STORE": f"file://{tmp_path / 's'}"})
    assert bad_age.code == 2 and "not a duration" in bad_age.err

"""`--format table|json|csv` on every command that lists things (spec section 6).

The commands run in-process (click's runner on `crawler.cli.main:cli`) against a real store and
SQLite catalog seeded without a browser: demo listing pages parsed by the demo page object and
stored through the real evidence pipeline (`crawler.triage.offline`), run records, the takedown
observer, status transitions, the scheduler's log, imported rates and the portal's users.

For each command: the CSV parses to the rows of the JSON (lists joined with " | ", nested
records as JSON text), hostile page text is neutralised as `csv_cell` does, the takedown
commands' `text` and `table` are one output, and the default output is what it always was.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import json
import os
from dataclasses import dataclass, replace
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from crawler.cli.main import cli
from crawler.cli.text import csv_cell
from crawler.clock import FrozenClock
from crawler.demo.data import DemoListing, build_catalog
from crawler.demo.pages import item_page
from crawler.evidence.manifest import Artifact, CaptureItem, WatchRef, canonical_json
from crawler.ids import new_ulid
from crawler.pipelines.evidence import EvidencePipeline
from crawler.portal.users import UserDB
from crawler.runs.ledger import CaptureEntry
from crawler.schedule.records import ScheduleLog
from crawler.takedown.observe import Observer
from crawler.takedown.status import transition
from crawler.triage.config import TriageConfig
from crawler.triage.engine import Triage
from crawler.triage.offline import offline_pipeline, store_page
from crawler.triage.rates import import_rates
from crawler.watchlist import load_watchlist
from spiders.pages.demo import DemoListingPage
from storage.catalog import Catalog
from storage.layout import run_record_key
from storage.local import LocalStore

BASE = "http://demo.test"
T0 = dt.datetime(2026, 12, 4, 10, 0, tzinfo=dt.UTC)
CASE = "CASE-FMT"
CATALOG = build_catalog()
HOSTILE_SELLER = '=HYPERLINK("http://x")'
HOSTILE_TITLE = "<script>alert(1)</script> Lumara \x1b[31mhandbag"
HOSTILE_CASE = "@SUM(1+1)"
ECB_XML = b"""<?xml version="1.0" encoding="UTF-8"?>
<gesmes:Envelope xmlns:gesmes="http://www.gesmes.org/xml/2002-08-01"
 xmlns="http://www.ecb.int/vocabulary/2002-08-01/eurofxref">
<Cube><Cube time='2026-12-04'><Cube currency='USD' rate='1.0900'/>
<Cube currency='JPY' rate='157.00'/><Cube currency='GBP' rate='0.8400'/></Cube></Cube>
</gesmes:Envelope>"""
WATCHLIST = f"""version: 1
case: {CASE}
brands:
  - name: Lumara
    terms: [lumara]
    msrp: {{currency: EUR, min: 900}}
    marketplaces: [demo]
"""


@dataclass
class World:
    """A seeded store, catalog, scheduler log and users database, and what is in them."""

    root: Path
    args: list[str]
    """`--store ... --catalog ...` for the commands."""
    users_db: Path
    hostile_seller_id: str
    token: str
    run_ids: tuple[str, str]

    def run(self, *argv: str, where: bool = True) -> str:
        """The command's standard output (it must succeed), with no MARKWATCH_* settings of
        the caller's environment."""
        runner = CliRunner(env={k: None for k in os.environ if k.startswith("MARKWATCH_")})
        result = runner.invoke(cli, [*argv, *(self.args if where else [])],
                               catch_exceptions=False)
        assert result.exit_code == 0, (argv, result.output)
        return result.stdout


def _item(listing_id: str, seller: Any, images: tuple[str, ...], **changes: Any) -> DemoListing:
    base = next(i for i in CATALOG.listings
                if i.brand == "Lumara" and "Handbag" in i.title and i.label == "counterfeit")
    return replace(base, listing_id=listing_id, seller=seller, images=images, **changes)


def _own(index: int) -> str:
    """The first own photo of the catalog's listing number `index` (used by no other)."""
    return f"{CATALOG.listings[index].listing_id}-1"


class _Run:
    """One offline run: captures stored by the real pipeline, then its run record."""

    def __init__(self, store: LocalStore, catalog: Catalog, triage: Triage,
                 clock: FrozenClock) -> None:
        self.store, self.catalog, self.clock = store, catalog, clock
        self.pipeline: EvidencePipeline = offline_pipeline(store, catalog, triage, clock)
        self.pipeline.ledger.case = CASE  # type: ignore[union-attr]

    def listing(self, item: DemoListing, when: dt.datetime) -> str:
        html = item_page(item, BASE, consented=True).encode()
        images = {BASE + url: CATALOG.images[url[5:-4]] for url in item.image_urls}
        return store_page(self.pipeline, DemoListingPage, html, BASE + item.url, images,
                          WatchRef("Lumara", "lumara", "demo", CASE), when)

    def gone(self, item: DemoListing, when: dt.datetime) -> str:
        """A capture of the listing's page answering HTTP 410 (a proven removal)."""
        capture_id = new_ulid(when)
        self.pipeline._store_capture(CaptureItem(
            capture_id=capture_id, kind="gone", watch=WatchRef("Lumara", "lumara", "demo", CASE),
            request_url=BASE + item.url, final_url=BASE + item.url, status=410,
            started_at=when, finished_at=when, browser={"name": "none"},
            artifacts=[Artifact("dom.html", "text/html; charset=utf-8", b"<h1>Gone</h1>")]))
        return capture_id

    def finish(self) -> str:
        """Write and index the run record, as the pipeline does when the spider closes."""
        ledger = self.pipeline.ledger
        assert ledger is not None
        for row in self.catalog.find_run(ledger.run_id):
            ledger.captures.append(CaptureEntry(row["capture_id"], row["kind"], row["url"],
                                                row["manifest_key"], row["manifest_sha256"]))
        record = ledger.record(self.clock.now(), "finished")
        key = run_record_key(ledger.run_id, ledger.marketplace)
        doc = self.store.put_document(key, canonical_json(record), "application/json")
        self.catalog.index_run(record, key, doc.sha256)
        ledger.close()
        Observer(self.store, self.catalog, self.clock, "tester").run(ledger.run_id)
        return ledger.run_id


def build_world(root: Path) -> World:
    """Two runs of three listings (a hostile seller and title among them), a price change, a
    proven removal, a report, two scheduler firings, imported rates and three portal users."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "watchlist.yaml").write_text(WATCHLIST, encoding="utf-8")
    store = LocalStore(root / "store")
    catalog = Catalog(root / "catalog.db")
    clock = FrozenClock(T0, step=1.0)
    triage = Triage.from_watchlist(load_watchlist(root / "watchlist.yaml", ["demo"]), store,
                                   catalog, TriageConfig(), clock)
    hostile = replace(CATALOG.sellers[5], name=HOSTILE_SELLER)
    stock = CATALOG.sellers[5].stock_images[1]
    first = _item("DM930001", hostile, (stock, _own(20)))
    second = _item("DM930002", CATALOG.sellers[6], (stock, _own(30)))
    third = _item("DM930003", CATALOG.sellers[7], (_own(40),), title=HOSTILE_TITLE)

    one = _Run(store, catalog, triage, clock)
    for n, item in enumerate((first, second, third)):
        one.listing(item, T0 + dt.timedelta(minutes=n))
    run_one = one.finish()
    transition(store, catalog, clock, case=CASE, marketplace="demo", listing_id="DM930003",
               status="reported", actor="tester", reference="TICKET-1")
    transition(store, catalog, clock, case=CASE, marketplace="demo", listing_id="DM930002",
               status="reported", actor="tester")

    two = _Run(store, catalog, triage, clock)
    day = T0 + dt.timedelta(days=1)
    two.listing(replace(first, price=Decimal(40), price_text="40,00 €"), day)
    two.gone(third, day + dt.timedelta(minutes=1))
    run_two = two.finish()

    import_rates(store, ECB_XML, "eurofxref-daily.xml")
    catalog.close()
    store.close()

    with ScheduleLog(root / "catalog.db") as log:
        fired = log.add("nightly", str(root / "watchlist.yaml"), ("Lumara",), T0, "cron",
                        "scheduled")
        log.started(fired, 4242, T0)
        log.ended(fired, "finished", T0 + dt.timedelta(minutes=3), exit_code=0, run_id=run_one,
                  counts={"captures": 3, "failures": 0})
        log.add("nightly", str(root / "watchlist.yaml"), ("Lumara",), day, "cron", "skipped",
                reason="the previous run was still going")

    users_db = root / "portal.db"
    with UserDB(users_db) as db:
        db.add("alice", "admin", "correct horse battery")
        db.add("-mallory", "viewer", "another long secret")
        db.add("bob", "investigator", "yet another secret!")
        db.grant("bob", CASE)
        db.grant("bob", HOSTILE_CASE)
        token = db.new_token("alice")
        db.disable("-mallory")
    return World(root, ["--store", f"file://{root / 'store'}",
                        "--catalog", f"sqlite:///{root / 'catalog.db'}"],
                 users_db, hostile.seller_id, token, (run_one, run_two))


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    return build_world(tmp_path_factory.mktemp("formats"))


# -- checking the formats against each other -------------------------------------------------

def _csv(text: str) -> tuple[list[str], list[dict[str, str]]]:
    """The header and the rows of a command's CSV, read by Python's csv module."""
    reader = csv.DictReader(io.StringIO(text, newline=""))
    rows = list(reader)
    return list(reader.fieldnames or []), rows


def _assert_same_rows(csv_out: str, json_rows: list[dict[str, Any]],
                      columns: list[str] | None = None,
                      json_columns: tuple[str, ...] = ()) -> list[dict[str, str]]:
    """The CSV has one row per JSON row with the same fields: plain values as text, lists of
    them joined with " | ", nested values (and `json_columns`) as JSON text; every cell as
    `csv_cell` makes it."""
    header, rows = _csv(csv_out)
    assert header == (columns if columns is not None else list(json_rows[0]))
    assert len(rows) == len(json_rows)
    for row, expected in zip(rows, json_rows, strict=True):
        for name in header:
            value = expected[name]
            if name in json_columns or isinstance(value, dict) or (
                    isinstance(value, list) and value
                                           and isinstance(value[0], dict | list)):
                assert json.loads(row[name]) == value, name
            elif isinstance(value, list):
                assert row[name] == csv_cell(" | ".join(str(v) for v in value)), name
            else:
                assert row[name] == csv_cell("" if value is None else str(value)), name
    return rows


def _assert_json_layout(out: str, **dumps: Any) -> Any:
    """The JSON, checked to be printed as before (indentation, escaping)."""
    value = json.loads(out)
    assert out == json.dumps(value, **dumps) + "\n"
    return value


def test_every_listing_command_offers_table_json_and_csv(world: World) -> None:
    for argv in (["users", "list"], ["sellers", "show"], ["rates", "show"], ["runs", "list"],
                 ["sellers", "clusters"], ["triage", "photos"], ["triage", "list"],
                 ["evidence", "list"], ["alerts", "list"], ["alerts", "pending"],
                 ["takedown", "status"], ["takedown", "changes"], ["takedown", "stats"]):
        shown = world.run(*argv, "--help", where=False)
        assert "--format [table|json|csv" in shown, argv


# -- users -------------------------------------------------------------------------------------

def test_users_list_formats_and_never_a_secret(world: World) -> None:
    where = ("--users-db", str(world.users_db))
    table = world.run("users", "list", *where, where=False)
    assert table == world.run("users", "list", "--format", "table", *where, where=False)
    assert table == (f"{'-mallory':24} {'viewer':12} {'disabled':8} cases: -\n"
                     f"{'alice':24} {'admin':12} {'active':8} cases: -\n"
                     f"{'bob':24} {'investigator':12} {'active':8} cases: "
                     f"{HOSTILE_CASE}, {CASE}\n")
    out = world.run("users", "list", "--format", "json", *where, where=False)
    rows = _assert_json_layout(out, indent=2, ensure_ascii=False)
    assert [(r["name"], r["role"], r["disabled"], r["cases"]) for r in rows] == [
        ("-mallory", "viewer", True, []), ("alice", "admin", False, []),
        ("bob", "investigator", False, [HOSTILE_CASE, CASE])]
    assert all(set(r) == {"name", "role", "disabled", "created_at", "cases"} for r in rows)
    csv_out = world.run("users", "list", "--format", "csv", *where, where=False)
    got = _assert_same_rows(csv_out, rows)
    assert got[0]["name"] == "'-mallory"  # a leading '-' is a formula to a spreadsheet
    assert got[2]["cases"] == f"'{HOSTILE_CASE} | {CASE}"
    with UserDB(world.users_db) as db:
        stored = db._rows("SELECT password FROM users") + db._rows("SELECT sha256 FROM tokens")
    secrets = [world.token, hashlib.sha256(world.token.encode()).hexdigest(), "argon2",
               "correct horse battery"] + [next(iter(r.values())) for r in stored]
    for shown in (table, out, csv_out):
        assert not [s for s in secrets if s in shown]


# -- sellers, photos, clusters, rates ----------------------------------------------------------

def test_sellers_show_formats(world: World) -> None:
    table = world.run("sellers", "show", world.hostile_seller_id)
    assert table == world.run("sellers", "show", world.hostile_seller_id, "--format", "table")
    shown = _assert_json_layout(world.run("sellers", "show", world.hostile_seller_id,
                                          "--format", "json"), indent=2, ensure_ascii=False)
    assert shown["sellers"] == [{"marketplace": "demo", "seller_name": HOSTILE_SELLER}]
    listings = shown["listings"]
    assert [(r["listing_id"], r["price"]) for r in listings] == [("DM930001", "40"),
                                                                   ("DM930001", "134.99")]
    clusters = json.loads(world.run("sellers", "clusters", "--format", "json"))
    assert shown["clusters"] == clusters and len(clusters) == 1
    # by name (any case) it is the same seller
    assert json.loads(world.run("sellers", "show", HOSTILE_SELLER.lower(), "--format",
                                "json")) == shown
    rows = _assert_same_rows(world.run("sellers", "show", world.hostile_seller_id,
                                       "--format", "csv"), listings)
    assert {r["seller_name"] for r in rows} == {"'" + HOSTILE_SELLER}
    # the text is what it was: the seller, its listings, then its cluster as `clusters` shows
    lines = [f"seller {HOSTILE_SELLER} on demo"] + [
        f"  {r['score']:>3}  {r['capture_id']}  {r['listing_id']}  {r['price']} "
        f"{r['currency']}  {r['title']}" for r in listings]
    clusters_table = world.run("sellers", "clusters")
    assert clusters_table.endswith("\n1 clusters\n")
    assert table == "\n".join(lines) + "\n" + clusters_table[:-len("1 clusters\n")]
    # page text shown in a CSV cell is escaped like everywhere else
    other = world.run("sellers", "show", CATALOG.sellers[7].seller_id, "--format", "csv")
    _, (row,) = _csv(other)
    assert row["title"] == "<script>alert(1)</script> Lumara \\x1b[31mhandbag"
    assert "\x1b" not in other


def test_sellers_clusters_formats(world: World) -> None:
    table = world.run("sellers", "clusters")
    assert table == world.run("sellers", "clusters", "--format", "table")
    found = _assert_json_layout(world.run("sellers", "clusters", "--format", "json"),
                                indent=2, ensure_ascii=False)
    (cluster,) = found
    (link,) = cluster["links"]
    assert link["kind"] == "photo"
    other = "mega-bargains-uk"
    assert [(s["seller_name"], s["listings"]) for s in cluster["sellers"]] == [
        (HOSTILE_SELLER, ["DM930001"]), (other, ["DM930002"])]
    assert table == (f"cluster of 2 sellers\n"
                     f"  demo:{HOSTILE_SELLER}  (1 listings: DM930001)\n"
                     f"  demo:{other}  (1 listings: DM930002)\n"
                     f"    link {HOSTILE_SELLER} <-> {other}: shared photo {link['phash']}\n"
                     f"1 clusters\n")
    header, rows = _csv(world.run("sellers", "clusters", "--format", "csv"))
    assert header == ["cluster", "marketplace", "seller_name", "listings", "links"]
    assert rows == [
        {"cluster": "1", "marketplace": "demo", "seller_name": "'" + HOSTILE_SELLER,
         "listings": "DM930001", "links": f"shared photo {link['phash']} with demo:{other}"},
        {"cluster": "1", "marketplace": "demo", "seller_name": other, "listings": "DM930002",
         "links": f"shared photo {link['phash']} with demo:{HOSTILE_SELLER}"}]


def test_triage_photos_formats(world: World) -> None:
    table = world.run("triage", "photos")
    assert table == world.run("triage", "photos", "--format", "table")
    rows = _assert_json_layout(world.run("triage", "photos", "--format", "json"),
                               indent=2, ensure_ascii=False)
    (photo,) = rows
    assert photo["sellers"] == [f"demo:{HOSTILE_SELLER}", "demo:mega-bargains-uk"]
    assert photo["listings"] == ["demo:DM930001", "demo:DM930002"]
    assert len(photo["captures"]) == 3
    assert table == (f"photo {photo['phash']}: 2 sellers\n"
                     f"  sellers:  demo:{HOSTILE_SELLER}, demo:mega-bargains-uk\n"
                     f"  listings: demo:DM930001, demo:DM930002\n"
                     f"1 shared photos\n")
    got = _assert_same_rows(world.run("triage", "photos", "--format", "csv"), rows)
    assert got[0]["sellers"] == f"demo:{HOSTILE_SELLER} | demo:mega-bargains-uk"


def test_rates_show_formats(world: World) -> None:
    store = ("--store", world.args[1])
    table = world.run("rates", "show", *store, where=False)
    assert table == world.run("rates", "show", "--format", "table", *store, where=False)
    assert table == ("2026-12-04 from rates/ecb/2026-12-04.json (units per 1 EUR)\n"
                     "  EUR 1\n  GBP 0.8400\n  JPY 157.00\n  USD 1.0900\n")
    shown = _assert_json_layout(world.run("rates", "show", "--format", "json", *store,
                                          where=False), indent=2, ensure_ascii=False)
    assert shown == {"date": "2026-12-04", "source": "rates/ecb/2026-12-04.json",
                     "base": "EUR", "rates": {"EUR": "1", "GBP": "0.8400", "JPY": "157.00",
                                              "USD": "1.0900"}}
    _assert_same_rows(world.run("rates", "show", "--format", "csv", *store, where=False),
                      [{"date": shown["date"], "source": shown["source"], "base": "EUR",
                        "currency": code, "rate": rate}
                       for code, rate in shown["rates"].items()])
    older = world.run("rates", "show", "--date", "2026-12-01", "--format", "csv", *store,
                      where=False)
    _, rows = _csv(older)
    assert {r["source"] for r in rows} == {"bundled:eurofxref-daily.xml"} and len(rows) > 20


# -- runs --------------------------------------------------------------------------------------

RUN_COLUMNS = ["run_id", "started_at", "finished_at", "status", "marketplaces", "captures",
               "failures", "duration_s", "job", "exit_code", "trigger"]
FIRING_COLUMNS = ["id", "job", "watchlist", "brands", "scheduled_for", "trigger", "status",
                  "reason", "run_id", "pid", "started_at", "finished_at", "exit_code", "counts",
                  "duration_s"]


@pytest.mark.parametrize(("scheduled", "columns", "table_columns"), [
    ((), RUN_COLUMNS, ["run_id", "started_at", "status", "captures", "failures", "duration_s",
                       "exit_code", "job", "marketplaces"]),
    (("--scheduled",), FIRING_COLUMNS, ["id", "job", "scheduled_for", "trigger", "status",
                                        "exit_code", "run_id", "duration_s", "reason"])])
def test_runs_list_formats(world: World, scheduled: tuple[str, ...], columns: list[str],
                           table_columns: list[str]) -> None:
    rows = _assert_json_layout(world.run("runs", "list", *scheduled, "--format", "json"),
                               indent=2, ensure_ascii=False)
    assert len(rows) == 2 and all(set(r) == set(columns) for r in rows)
    if not scheduled:
        assert [r["run_id"] for r in rows] == sorted(world.run_ids, reverse=True)
        assert [(r["captures"], r["job"]) for r in rows] == [(2, None), (3, "nightly")]
    else:
        assert rows[1]["counts"] == {"captures": 3, "failures": 0}
    _assert_same_rows(world.run("runs", "list", *scheduled, "--format", "csv"), rows, columns)
    table = world.run("runs", "list", *scheduled)
    assert table == world.run("runs", "list", *scheduled, "--format", "table")
    header, *lines = table.splitlines()
    assert header.split() == table_columns
    for line, row in zip(lines, rows, strict=True):
        assert line.split(maxsplit=len(table_columns) - 1) == [
            "-" if row[c] is None else ",".join(row[c]) if isinstance(row[c], list)
            else str(row[c]) for c in table_columns]


# -- takedown ----------------------------------------------------------------------------------

def _takedown_table(command: str, rows: list[dict[str, Any]]) -> str:
    """The text the takedown commands have always printed."""
    if command == "status":
        lines = [f"{r['case_ref']}  {r['marketplace']}:{r['listing_id']}  {r['status']:<10}  "
                 f"found {r['found_at']}  {r['url']}" for r in rows]
    elif command == "changes":
        lines = [f"{r['at']}  {r['kind']:<10} {r['marketplace']}:{r['listing_id']}  "
                 f"{r['proof'] or ', '.join(f['field'] for f in r['fields'])}  "
                 f"(capture {r['capture_id']}, before {r['previous_capture_id']})"
                 for r in rows]
    else:
        lines = ["case  marketplace  found  reported  removed  median_h  p90_h  reappeared"]
        lines += [f"{r['case']}  {r['marketplace']}  {r['found']}  {r['reported']}  "
                  f"{r['removed']}  {r['median_removal_s'] / 3600:.1f}  "
                  f"{r['p90_removal_s'] / 3600:.1f}  {r['reappearance_rate']:.0%}"
                  for r in rows]
    return "".join(line + "\n" for line in lines)


@pytest.mark.parametrize("command", ["status", "changes", "stats"])
def test_takedown_formats(world: World, command: str) -> None:
    rows = _assert_json_layout(world.run("takedown", command, "--format", "json"), indent=1)
    if command == "status":
        assert [(r["listing_id"], r["status"]) for r in rows] == [
            ("DM930001", "found"), ("DM930002", "reported"), ("DM930003", "removed")]
    elif command == "changes":
        assert [(r["kind"], r["listing_id"]) for r in rows] == [("changed", "DM930001"),
                                                                ("removed", "DM930003")]
        assert rows[0]["fields"] == [{"field": "price", "before": "134.99", "after": "40"}]
    else:
        assert [(r["found"], r["reported"], r["removed"]) for r in rows] == [(3, 2, 1)]
    default = world.run("takedown", command)
    assert default == _takedown_table(command, rows) and default
    assert world.run("takedown", command, "--format", "text") == default
    assert world.run("takedown", command, "--format", "table") == default
    got = _assert_same_rows(world.run("takedown", command, "--format", "csv"), rows,
                            json_columns=("fields",) if command == "changes" else ())
    if command == "changes":  # the fields are JSON text in every row, even when empty
        assert got[1]["fields"] == "[]"

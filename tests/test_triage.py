# ruff: noqa: RUF001, RUF003 - look-alike letters are what these tests are about
"""Triage: rates, the explainable score, brand variants, vocabulary, photos, clusters and
decisions, on real demo pages stored through the real evidence pipeline (no browser)."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import replace
from decimal import Decimal
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest

from crawler.clock import FrozenClock
from crawler.demo.data import DemoListing, build_catalog, format_price
from crawler.demo.pages import item_page
from crawler.evidence.manifest import WatchRef
from crawler.exceptions import ArtifactConflict, ConfigError, WatchlistError
from crawler.seal import custody
from crawler.triage import clusters as clusters_mod
from crawler.triage import queries
from crawler.triage.brands import find_brand
from crawler.triage.config import TriageConfig
from crawler.triage.decisions import decide
from crawler.triage.engine import Triage, brand_infos
from crawler.triage.offline import offline_pipeline, store_page
from crawler.triage.rates import RateBook, RatesError, import_rates, parse_rates
from crawler.triage.text import contacts
from crawler.triage.vocabulary import LANGUAGES, Vocabulary
from crawler.watchlist import load_watchlist
from spiders.pages.demo import DemoListingPage
from storage.catalog import CaptureQuery, Catalog
from storage.local import LocalStore
from tests.helpers import run_markwatch, send, serving

pytest_plugins = ["tests.servers"]  # catalog_uri: SQLite, then a real PostgreSQL

BASE = "http://demo.test"
T0 = dt.datetime(2026, 12, 4, 10, 0, tzinfo=dt.UTC)
CATALOG = build_catalog()


def _watchlist(tmp_path: Path, reference: bytes | None = None) -> Path:
    refs = ""
    if reference is not None:
        (tmp_path / "lumara-official.png").write_bytes(reference)
        refs = "\n    reference_images: [lumara-official.png]"
    path = tmp_path / "watchlist.yaml"
    path.write_text(f"""version: 1
case: CASE-23
brands:
  - name: Lumara
    terms: [lumara]
    msrp: {{currency: EUR, min: 900}}
    marketplaces: [demo]{refs}
  - name: Corvane
    terms: [corvane watch]
    msrp: {{currency: EUR, min: 1200}}
    marketplaces: [demo]
""", encoding="utf-8")
    return path


class Bench:
    """A store, a catalog, a triage engine and an offline pipeline in a temporary folder."""

    def __init__(self, tmp_path: Path, reference: bytes | None = None,
                 catalog: str | None = None) -> None:
        self.store = LocalStore(tmp_path / "store")
        self.catalog = Catalog(catalog or tmp_path / "catalog.db")
        self.clock = FrozenClock(T0, step=1.0)
        watchlist = load_watchlist(_watchlist(tmp_path, reference), ["demo"])
        self.triage = Triage.from_watchlist(watchlist, self.store, self.catalog,
                                            TriageConfig(), self.clock)
        self.pipeline = offline_pipeline(self.store, self.catalog, self.triage, self.clock)

    def capture(self, item: DemoListing, brand: str, when: dt.datetime = T0,
                marketplace: str = "demo") -> str:
        html = item_page(item, BASE, consented=True).encode()
        images = {BASE + url: CATALOG.images[url[5:-4]] for url in item.image_urls}
        return store_page(self.pipeline, DemoListingPage, html, BASE + item.url, images,
                          WatchRef(brand, brand.lower(), marketplace, "CASE-23"), when)

    def score(self, capture_id: str) -> dict:
        found = queries.score_of(self.catalog, capture_id)
        assert found is not None
        return found


def _item(brand: str, word: str, label: str = "counterfeit") -> DemoListing:
    return next(i for i in CATALOG.listings
                if i.brand == brand and word in i.title and i.label == label)


def _signals(score: dict) -> dict[str, dict]:
    return {s["name"]: s for s in score["signals"]}


# -- money in one currency ---------------------------------------------------------------------

def test_jpy_handbag_is_scored_against_the_eur_floor_with_the_rate(tmp_path: Path) -> None:
    bench = Bench(tmp_path)
    item = replace(_item("Lumara", "Handbag"), price=Decimal(7849), currency="JPY",
                   price_text=format_price(Decimal(7849), "JPY"))
    cid = bench.capture(item, "Lumara")
    score = bench.score(cid)
    price = _signals(score)["price_below_msrp"]
    converted = price["evidence"]["converted"]
    assert price["evidence"]["price"] == "7849" and price["evidence"]["currency"] == "JPY"
    assert converted["currency"] == "EUR" and converted["rate_date"] == "2026-12-03"
    assert converted["source"] == "bundled:eurofxref-daily.xml"
    assert Decimal(converted["amount"]) == pytest.approx(Decimal("48.59"), abs=Decimal("0.01"))
    assert price["evidence"]["msrp_min"] == "900"
    assert "2026-12-03" in price["reason"]
    assert score["suspicious"] == 1
    # the old flag now follows the score: `evidence list --suspicious` finds it
    assert [r["capture_id"] for r in bench.catalog.find(CaptureQuery(suspicious=True))] == [cid]


ECB_XML = b"""<?xml version="1.0" encoding="UTF-8"?>
<gesmes:Envelope xmlns:gesmes="http://www.gesmes.org/xml/2002-08-01"
 xmlns="http://www.ecb.int/vocabulary/2002-08-01/eurofxref">
<Cube><Cube time='2026-12-04'><Cube currency='USD' rate='1.0900'/>
<Cube currency='JPY' rate='157.00'/><Cube currency='GBP' rate='0.8400'/></Cube></Cube>
</gesmes:Envelope>"""
ECB_CSV = b"Date, USD, JPY, GBP, \n04 December 2026, 1.0900, 157.00, 0.8400, \n"


def test_rates_files_parse_and_import_write_once(tmp_path: Path) -> None:
    xml_day, = parse_rates(ECB_XML, "x.xml")
    csv_day, = parse_rates(ECB_CSV, "x.csv")
    assert xml_day.date == csv_day.date == "2026-12-04"
    assert xml_day.rates["JPY"] == csv_day.rates["JPY"] == Decimal("157.00")
    store = LocalStore(tmp_path / "s")
    assert [created for _, created in import_rates(store, ECB_XML, "x.xml")] == [True]
    assert [created for _, created in import_rates(store, ECB_CSV, "x.csv")] == [False]
    with pytest.raises(ArtifactConflict):
        import_rates(store, ECB_CSV.replace(b"157.00", b"150.00"), "changed.csv")
    book = RateBook.load(store)
    conv = book.convert(Decimal(7849), "JPY", "EUR", "2026-12-04T12:00:00Z")
    assert conv is not None and conv.rate_date == "2026-12-04"
    assert conv.source == "rates/ecb/2026-12-04.json"
    # a capture from before the imported day uses the bundled day before it
    older = book.convert(Decimal(1), "USD", "EUR", "2026-12-03T23:00:00Z")
    assert older is not None and older.rate_date == "2026-12-03"
    for bad in (b"<!DOCTYPE x [<!ENTITY a 'b'>]><x/>", b"Date,USD\nyesterday,1\n",
                b"<x><Cube time='2026-12-04'><Cube currency='USD' rate='-1'/></Cube></x>",
                b"x" * (3 * 1024 * 1024)):
        with pytest.raises(RatesError):
            parse_rates(bad, "bad")


class _Rates(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path == "/eurofxref-daily.xml":
            send(self, 200, ECB_XML, {"Content-Type": "text/xml"})
        else:
            send(self, 302, b"", {"Location": "http://127.0.0.1:1/elsewhere"})

    def log_message(self, *args: object) -> None:
        pass


def test_rates_import_command_from_file_and_url(tmp_path: Path) -> None:
    store = f"file://{tmp_path / 'store'}"
    (tmp_path / "rates.csv").write_bytes(ECB_CSV)
    result = run_markwatch(["rates", "import", str(tmp_path / "rates.csv"), "--store", store],
                           cwd=tmp_path)
    assert result.code == 0, result.err
    assert "2026-12-04: 3 currencies, stored" in result.out
    with serving(_Rates) as host:
        again = run_markwatch(["rates", "import", f"http://{host}/eurofxref-daily.xml",
                               "--store", store], cwd=tmp_path)
        assert again.code == 0, again.err
        assert "already stored" in again.out  # same day, same rates
        moved = run_markwatch(["rates", "import", f"http://{host}/moved", "--store", store],
                              cwd=tmp_path)
        assert moved.code != 0 and "redirected" in moved.err
    plain = run_markwatch(["rates", "import", "http://example.com/r.xml", "--store", store],
                          cwd=tmp_path)
    assert plain.code != 0 and "only https://" in plain.err
    shown = run_markwatch(["rates", "show", "--store", store], cwd=tmp_path)
    assert "2026-12-04 from rates/ecb/2026-12-04.json" in shown.out


# -- the score and its signals -----------------------------------------------------------------

def test_strap_for_the_brand_is_an_accessory_not_a_suspicious_watch(tmp_path: Path) -> None:
    bench = Bench(tmp_path)
    strap = _item("Corvane", "strap for", "accessory")
    cid = bench.capture(strap, "Corvane")
    score = bench.score(cid)
    names = _signals(score)
    assert names["accessory"]["points"] < 0 and "strap for" in names["accessory"]["reason"]
    assert "price_below_msrp" not in names  # an accessory's price says nothing about fakes
    assert score["suspicious"] == 0
    assert bench.catalog.find(CaptureQuery(suspicious=True)) == []


@pytest.mark.parametrize(("title", "kind"), [
    ("Lumаra Handbag Leather", "homoglyph"),          # Cyrillic а
    ("Lυmara Tote Bag", "homoglyph"),                 # Greek upsilon
    ("ＬＵＭＡＲＡ Shoulder Bag", "homoglyph"),          # fullwidth
    ("Lum4ra Crossbody Bag", "homoglyph"),            # digit for a letter
    ("L u m a r a Wallet", "spaced"),
    ("Lu-mara Handbag", "spaced"),
    ("Lumora Handbag Black", "misspelled"),
    ("Lumarra Tote", "misspelled"),
])
def test_brand_variants_are_caught(title: str, kind: str) -> None:
    match = find_brand(title, "Lumara")
    assert match is not None and match.kind == kind
    assert find_brand("Lumara Handbag", "Lumara").kind == "exact"  # type: ignore[union-attr]
    assert find_brand("Leather handbag women", "Lumara") is None
    assert find_brand("Korvane Diver Watch", "Corvane").kind == "misspelled"  # type: ignore[union-attr]


def test_homoglyph_listing_scores_higher_with_the_reason(tmp_path: Path) -> None:
    bench = Bench(tmp_path)
    plain = _item("Lumara", "Handbag")
    sneaky = replace(plain, listing_id="DM999001", title=plain.title.replace("Lumara", "Lumаra"))
    a, b = bench.capture(plain, "Lumara"), bench.capture(sneaky, "Lumara")
    assert "brand_homoglyph" in _signals(bench.score(b))
    assert bench.score(b)["score"] > bench.score(a)["score"]


def test_counterfeit_vocabulary_in_every_language() -> None:
    vocab = Vocabulary.load()
    samples = {"en": "AAA+ replica mirror quality", "zh": "高仿 包 原单", "es": "réplica bolso",
               "pt": "bolsa réplica primeira linha", "ru": "реплика сумки",
               "fr": "sac réplique qualité miroir", "de": "Tasche Replik",
               "it": "borsa qualità specchio",
               "tr": "replika çanta birebir", "ja": "スーパーコピー バッグ", "ko": "레플리카 가방"}
    assert set(samples) == set(LANGUAGES)
    for lang, text in samples.items():
        assert any(h.language == lang for h in vocab.find(text, "counterfeit")), lang
    assert vocab.find("Genuine leather handbag, boxed", "counterfeit") == []
    assert [h.term for h in vocab.find("ＲＥＰＬＩＣＡ", "counterfeit")] == ["replica"]


def test_user_vocabulary_extends_the_bundled_files(tmp_path: Path) -> None:
    (tmp_path / "extra.yaml").write_text("language: nl\ncounterfeit: [namaak]\n", "utf-8")
    assert Vocabulary.load(tmp_path).find("namaak tas", "counterfeit")[0].language == "nl"
    (tmp_path / "bad.yaml").write_text("language: nl\ncounterfit: [x]\n", "utf-8")
    with pytest.raises(ConfigError, match="unknown key 'counterfit'"):
        Vocabulary.load(tmp_path)


def test_contacts_in_page_text() -> None:
    text = ("Order on WhatsApp: +86 138 0013 8000 or wechat: luxbags88, mail sales@lux-bags.cn "
            "telegram @luxbags_shop, shop https://luxbags.example/store")
    found = contacts(text)
    assert ("email", "sales@lux-bags.cn") in found
    assert ("phone", "+8613800138000") in found
    assert ("whatsapp", "+8613800138000") in found
    assert ("wechat", "luxbags88") in found and ("telegram", "luxbags_shop") in found
    assert ("shop", "https://luxbags.example/store") in found


def test_reference_images_are_checked_with_file_line_and_field(tmp_path: Path) -> None:
    path = _watchlist(tmp_path)
    path.write_text(path.read_text("utf-8").replace(
        "marketplaces: [demo]\n  - name: Corvane",
        "marketplaces: [demo]\n    reference_images: [missing.png]\n  - name: Corvane"), "utf-8")
    with pytest.raises(WatchlistError) as err:
        load_watchlist(path, ["demo"])
    assert err.value.line == 8 and err.value.field == "brands[0].reference_images[0]"


# -- photos, sellers, clusters -----------------------------------------------------------------

def _own(index: int) -> str:
    """The first own photo of the catalog's listing number `index` (used by no other)."""
    return f"{CATALOG.listings[index].listing_id}-1"


def _with(item: DemoListing, listing_id: str, seller_index: int, images: tuple[str, ...],
          description: tuple[str, ...] | None = None) -> DemoListing:
    return replace(item, listing_id=listing_id, seller=CATALOG.sellers[seller_index],
                   images=images, description=description or item.description)


def test_reused_official_photo_and_photo_shared_by_three_sellers(tmp_path: Path) -> None:
    bench = Bench(tmp_path, reference=CATALOG.images["brand-lumara"])
    base = _item("Lumara", "Handbag")
    stock = CATALOG.sellers[0].stock_images[0]
    official = bench.capture(_with(base, "DM900001", 1, ("brand-lumara", _own(1))),
                             "Lumara")
    ids = [bench.capture(_with(base, f"DM90001{n}", 2 + n, (stock, _own(10 + n))), "Lumara")
           for n in range(3)]
    reused = _signals(bench.score(official))["image_official"]
    assert reused["evidence"]["images"][0]["reference"] == "lumara-official.png"
    assert reused["evidence"]["images"][0]["distance"] == 0
    # scores are made when stored: the third seller's capture sees the two before it
    shared = _signals(bench.score(ids[2]))["image_shared"]
    assert len(shared["evidence"]["images"][0]["sellers"]) == 2
    photos = queries.shared_photos(bench.catalog, min_sellers=3)
    assert len(photos) == 1 and len(photos[0]["sellers"]) == 3
    assert photos[0]["listings"] == ["demo:DM900010", "demo:DM900011", "demo:DM900012"]
    # rescoring from the store alone: the first two now see the third as well
    counts = bench.triage.rescore()
    assert counts == {"scored": 4, "changed": 2}
    assert "image_shared" in _signals(bench.score(ids[0]))
    assert bench.triage.rescore() == {"scored": 4, "changed": 0}  # nothing new: no new record


def test_shops_sharing_photos_and_contacts_form_a_cluster_with_evidence(tmp_path: Path) -> None:
    bench = Bench(tmp_path, reference=CATALOG.images["brand-lumara"])
    base = _item("Lumara", "Handbag")
    shared = CATALOG.sellers[5].stock_images[1]
    contact = ("Wholesale and custom orders: WhatsApp +86 138 0013 8000.",)
    bench.capture(_with(base, "DM910001", 5, (shared, "brand-lumara")), "Lumara")
    bench.capture(_with(base, "DM910002", 6, (shared, _own(20))), "Lumara")
    bench.capture(_with(base, "DM910003", 7, (_own(30),), base.description + contact),
                  "Lumara")
    bench.capture(_with(base, "DM910004", 6, (_own(40),), base.description + contact),
                  "Lumara")
    # unrelated sellers using only the brand's official photo are not linked by it
    bench.capture(_with(base, "DM910005", 8, ("brand-lumara", _own(50))), "Lumara")
    bench.capture(_with(base, "DM910006", 9, ("brand-lumara", _own(60))), "Lumara")
    # the same shop on another marketplace, its name written differently
    other = replace(CATALOG.sellers[7], name=CATALOG.sellers[7].name.upper() + " Official")
    elsewhere = bench.capture(replace(_with(base, "XB1", 7, (_own(70),)), seller=other),
                              "Lumara", marketplace="bazaar")
    assert _signals(bench.score(elsewhere))["seller_marketplaces"]["evidence"] == {
        "marketplaces": ["bazaar", "demo"]}
    refs = [d for b in brand_infos(load_watchlist(tmp_path / "watchlist.yaml", ["demo"]))
            for _, d in b.references]
    found = clusters_mod.clusters(bench.catalog, refs)
    assert len(found) == 1
    names = {CATALOG.sellers[i].name for i in (5, 6, 7)}
    assert {name for _, name in found[0].sellers} == names | {other.name}
    assert ("bazaar", other.name) in found[0].sellers
    kinds = {link["kind"] for link in found[0].links}
    assert kinds == {"photo", "contact", "name"}
    contact_link = next(x for x in found[0].links if x["kind"] == "contact")
    assert contact_link["contact"] == "phone" and contact_link["value"] == "+8613800138000"
    assert contact_link["listings"] == ["demo:DM910003", "demo:DM910004"]
    photo_link = next(x for x in found[0].links if x["kind"] == "photo")
    assert photo_link["listings"] == ["demo:DM910001", "demo:DM910002"]
    shown = run_markwatch(["sellers", "clusters", "--store", f"file://{tmp_path / 'store'}",
                           "--catalog", f"sqlite:///{tmp_path / 'catalog.db'}",
                           "-w", str(tmp_path / "watchlist.yaml")], cwd=tmp_path)
    assert shown.code == 0, shown.err
    assert "cluster of 4 sellers" in shown.out and "same phone +8613800138000" in shown.out
    seller = run_markwatch(["sellers", "show", CATALOG.sellers[6].seller_id, "-w",
                            str(tmp_path / "watchlist.yaml"),
                            "--store", f"file://{tmp_path / 'store'}",
                            "--catalog", f"sqlite:///{tmp_path / 'catalog.db'}"], cwd=tmp_path)
    assert seller.code == 0, seller.err
    assert "DM910002" in seller.out and "DM910004" in seller.out
    assert "cluster of 4 sellers" in seller.out


# -- decisions and the review queue ------------------------------------------------------------

def test_decisions_reach_custody_carry_over_and_survive_a_rebuild(tmp_path: Path,
                                                                  catalog_uri: str) -> None:
    bench = Bench(tmp_path, catalog=catalog_uri)  # on SQLite, then on PostgreSQL
    item = _item("Lumara", "Handbag")
    first = bench.capture(item, "Lumara")
    entry = decide(bench.store, bench.catalog, first, "counterfeit", actor="alice@case-team",
                   clock=bench.clock, note="logo <b>wrong</b>")
    later = bench.capture(item, "Lumara", T0 + dt.timedelta(days=1))
    log = custody.read_log(bench.store)
    decided = [e for e in log if e.event == "decided"]
    assert len(decided) == 1 and decided[0].actor == "alice@case-team"
    assert decided[0].capture_ids == (first,) and decided[0].details["verdict"] == "counterfeit"
    assert custody.verify_log(bench.store) == []
    row, = queries.queue(bench.catalog, queries.QueueQuery())
    assert row["capture_id"] == later and row["verdict"] == "counterfeit"  # carried over
    with pytest.raises(ConfigError):
        decide(bench.store, bench.catalog, first, "fake", actor="alice", clock=bench.clock)
    before = {t: bench.catalog.query(f"SELECT * FROM {t} ORDER BY 1") for t in
              ("triage_scores", "triage_images", "triage_decisions", "triage_pages")}
    bench.catalog.rebuild(bench.store)
    after = {t: bench.catalog.query(f"SELECT * FROM {t} ORDER BY 1") for t in before}
    assert after == before and after["triage_decisions"][0]["key"] == entry["key"]
    assert len(bench.catalog.find(CaptureQuery(suspicious=True))) == 2


def test_review_queue_command_ranks_with_escaped_reasons(tmp_path: Path) -> None:
    bench = Bench(tmp_path)
    genuine = replace(_item("Lumara", "Handbag"), listing_id="DM920001", price=Decimal(1450),
                      currency="EUR", price_text="1 450,00 €", title="Lumara Handbag Leather")
    fake = replace(_item("Lumara", "Handbag"), listing_id="DM920002",
                   title="Lumara replica \x1b[31mhandbag\x1b[0m AAA+")
    g, f = bench.capture(genuine, "Lumara"), bench.capture(fake, "Lumara")
    args = ["--store", f"file://{tmp_path / 'store'}",
            "--catalog", f"sqlite:///{tmp_path / 'catalog.db'}"]
    table = run_markwatch(["triage", "list", *args], cwd=tmp_path)
    assert table.code == 0, table.err
    assert "\x1b" not in table.out and "\\x1b[31mhandbag" in table.out
    assert table.out.index(f) < table.out.index(g)
    rows = json.loads(run_markwatch(["triage", "list", "--format", "json", "--min-score", "50",
                                     *args], cwd=tmp_path).out)
    assert [r["capture_id"] for r in rows] == [f]
    assert any("replica" in reason for reason in rows[0]["reasons"])
    decided = run_markwatch(["triage", "decide", g, "--verdict", "genuine", "--note", "boxed",
                             "--actor", "bob", *args], cwd=tmp_path)
    assert decided.code == 0, decided.err and "custody log entry written" in decided.out
    listed = run_markwatch(["evidence", "list", "--min-score", "50", "--sort", "score",
                            "--format", "json", *args], cwd=tmp_path)
    assert listed.code == 0, listed.err
    assert [r["capture_id"] for r in json.loads(listed.out)] == [f]
    csv_out = run_markwatch(["triage", "list", "--format", "csv", *args], cwd=tmp_path).out
    assert csv_out.splitlines()[0].startswith("score,verdict,capture_id")
    rescored = run_markwatch(["triage", "rescore", "-w", str(tmp_path / "watchlist.yaml"),
                              *args], cwd=tmp_path)
    assert rescored.code == 0, rescored.err
    assert "2 listing captures scored, 0 changed" in rescored.out  # same weights, same facts
    shown = run_markwatch(["triage", "show", f, *args], cwd=tmp_path)
    assert "counterfeit_vocabulary" in shown.out and "price_below_msrp" in shown.out

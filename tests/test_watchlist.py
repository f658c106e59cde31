"""Watchlist and recipe loading: the spec's example loads; every kind of mistake is located."""

from __future__ import annotations

import os
import textwrap
from decimal import Decimal
from pathlib import Path

import pytest

from crawler.exceptions import ConfigError, WatchlistError
from crawler.recipe import GoneRule, Recipe, Render
from crawler.selectors import extract_first
from crawler.watchlist import (
    Brand,
    Msrp,
    Watch,
    Watchlist,
    WatchSettings,
    load_watchlist,
    parse_watchlist,
)

DATA = Path(__file__).parent / "data" / "watchlists"
SPIDERS = ("aliexpress", "ebay", "amazon")

MINIMAL = """\
version: 1
brands:
  - name: Lumara
    terms: [lumara]
    marketplaces: [ebay]
"""

RECIPE = """\
version: 1
brands:
  - name: Lumara
    terms: [lumara]
    marketplaces: [bazaar]
marketplaces:
  bazaar:
    base_url: "https://market.example"
    search_url: "{base_url}/s?k={term}&page={page}"
    search:
      result: "#results .result"
      link: "a.result-link::attr(href)"
    listing:
      fields:
        title: "h1::text"
        price: ".price::text"
"""


def parse(text: str) -> Watchlist:
    return parse_watchlist(textwrap.dedent(text), "w.yaml", SPIDERS)


def error(text: str) -> WatchlistError:
    with pytest.raises(WatchlistError) as info:
        parse(text)
    err = info.value
    assert str(err).startswith(f"w.yaml:{err.line}: {err.field}: ") or err.line is None
    return err


def assert_error(text: str, line: int | None, field: str, *words: str) -> WatchlistError:
    err = error(text)
    assert (err.line, err.field) == (line, field), str(err)
    for word in words:
        assert word in err.reason, str(err)
    assert "Traceback" not in err.reason and "Node" not in err.reason
    return err


def recipe_with(old: str, new: str) -> str:
    assert old in RECIPE
    return RECIPE.replace(old, new)


# --- the valid example --------------------------------------------------------------------


def test_spec_example_loads() -> None:
    w = load_watchlist(DATA / "full.yaml", SPIDERS)
    assert w.version == 1
    assert w.case == "CASE-2026-014"
    assert w.settings == WatchSettings(
        store="file://./markwatch-data",
        catalog="sqlite:///./markwatch-data/catalog.db",
        max_pages=3,
        max_listings=100,
        obey_robots=True,
        schedule="0 */6 * * *",
    )
    assert w.brands == (
        Brand(
            name="Lumara",
            terms=("lumara", "lumara handbag"),
            exclude_terms=("case for",),
            msrp=Msrp("EUR", Decimal("900"), None),
            marketplaces=("aliexpress", "ebay", "bazaar"),
            schedule="30 2 * * *",
            line=11,
        ),
        Brand("Orvane", ("orvane",), (), None, ("bazaar",), None, line=17),
    )
    assert list(w.recipes) == ["bazaar"]


def test_spec_example_recipe() -> None:
    bazaar = load_watchlist(DATA / "full.yaml", SPIDERS).recipes["bazaar"]
    assert isinstance(bazaar, Recipe)
    assert (bazaar.name, bazaar.line, bazaar.first_page) == ("bazaar", 22, 1)
    assert bazaar.base_url == "https://market.example"
    assert bazaar.render == Render(search=True, listing=False)
    assert bazaar.search_page_url("lumara handbag") == (
        "https://market.example/s?k=lumara+handbag&page=1"
    )
    assert bazaar.search_page_url("ä&b", 3) == "https://market.example/s?k=%C3%A4%26b&page=3"
    assert [s.source for s in bazaar.search.result] == ["#results .result"]
    assert [s.source for s in bazaar.search.link] == ["a.result-link::attr(href)"]
    assert [s.source for s in bazaar.consent_click] == ["button#consent-accept"]
    assert bazaar.search.infinite_scroll is False
    fields = bazaar.listing.fields
    assert [s.kind for s in fields.price] == ["jsonld", "css", "css"]
    assert [s.source for s in fields.title] == ["h1::text", "jsonld:name"]
    assert fields.rating == ()
    assert bazaar.listing.listing_id("https://market.example/item/AB12?x=1") == "AB12"
    assert bazaar.listing.listing_id("https://market.example/about") is None
    assert bazaar.listing.gone_if[1] == GoneRule(status=410)


def test_recipe_gone_if_and_fields_evaluate() -> None:
    from parsel import Selector

    listing = load_watchlist(DATA / "full.yaml", SPIDERS).recipes["bazaar"].listing
    gone = Selector(text="<p>This item is no longer   available.</p>")
    live = Selector(text='<h1> Lumara bag </h1><span class="price">€ 12</span>')
    assert listing.is_gone(gone, 200)
    assert listing.is_gone(live, 410)
    assert not listing.is_gone(live, 200)
    assert extract_first(live, listing.fields.title) == "Lumara bag"
    assert extract_first(live, listing.fields.price) == "€ 12"


def test_watches_order_and_filters() -> None:
    w = load_watchlist(DATA / "full.yaml", SPIDERS)
    watches = w.watches()
    assert len(watches) == 7
    assert watches[:3] == [
        Watch("Lumara", "lumara", m, "CASE-2026-014", ("case for",))
        for m in ("aliexpress", "ebay", "bazaar")
    ]
    assert watches[-1] == Watch("Orvane", "orvane", "bazaar", "CASE-2026-014", ())
    assert len(set(watches)) == 7
    assert [(x.brand, x.term) for x in w.watches(marketplaces=["bazaar"])] == [
        ("Lumara", "lumara"),
        ("Lumara", "lumara handbag"),
        ("Orvane", "orvane"),
    ]
    assert {x.brand for x in w.watches(brands=["ORVANE"])} == {"Orvane"}
    assert w.watches(marketplaces=["ebay"], brands=["orvane"]) == []


def test_watches_filter_naming_nothing_is_an_error() -> None:
    w = load_watchlist(DATA / "full.yaml", SPIDERS)
    with pytest.raises(ConfigError, match=r"no brand named 'lumra'.*'Lumara'"):
        w.watches(brands=["lumra"])
    with pytest.raises(ConfigError, match="no marketplace named 'amazon'"):
        w.watches(marketplaces=["amazon"])


def test_schedules_brand_override_or_global() -> None:
    w = load_watchlist(DATA / "full.yaml", SPIDERS)
    assert w.schedules() == {"Lumara": "30 2 * * *", "Orvane": "0 */6 * * *"}
    assert parse(MINIMAL).schedules() == {}


def test_minimal_defaults() -> None:
    w = parse(MINIMAL)
    assert w.case is None
    assert w.settings == WatchSettings()
    assert w.recipes == {}
    assert w.brands[0].exclude_terms == ()


def test_anchors_aliases_and_merge_keys() -> None:
    w = load_watchlist(DATA / "anchors.yaml", SPIDERS)
    assert w.brands[0].terms == w.brands[1].terms == ("lumara", "lumara bag")
    shop_a, shop_b = w.recipes["shop-a"], w.recipes["shop-b"]
    assert shop_a.search == shop_b.search
    assert shop_a.base_url == "https://a.example"
    assert shop_b.base_url == "https://b.example"
    assert shop_b.search_page_url("x") == "https://b.example/find?q=x"


def test_utf8_bom_and_numbers_as_terms(tmp_path: Path) -> None:
    path = tmp_path / "w.yaml"
    path.write_bytes(b"\xef\xbb\xbf" + MINIMAL.replace("[lumara]", "[501, lumara]").encode())
    assert load_watchlist(path, SPIDERS).brands[0].terms == ("501", "lumara")


# --- unreadable files ---------------------------------------------------------------------


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(WatchlistError) as info:
        load_watchlist(tmp_path / "nope.yaml", SPIDERS)
    assert (info.value.line, info.value.field) == (None, "file")
    assert "does not exist" in str(info.value)
    assert str(tmp_path / "nope.yaml") in str(info.value)


def test_directory(tmp_path: Path) -> None:
    with pytest.raises(WatchlistError, match="is a folder"):
        load_watchlist(tmp_path, SPIDERS)


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root reads anything")
def test_permission_denied(tmp_path: Path) -> None:
    path = tmp_path / "w.yaml"
    path.write_text(MINIMAL)
    path.chmod(0)
    with pytest.raises(WatchlistError, match="permission denied"):
        load_watchlist(path, SPIDERS)


def test_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "w.yaml"
    path.write_bytes(MINIMAL.replace("Lumara", "Lum\xe4ra").encode("latin-1"))
    with pytest.raises(WatchlistError) as info:
        load_watchlist(path, SPIDERS)
    assert (info.value.line, info.value.field) == (None, "file")
    assert "not UTF-8" in info.value.reason


# --- structure ----------------------------------------------------------------------------


def test_yaml_syntax_error() -> None:
    text = MINIMAL.replace("terms: [lumara]", "terms: [lumara")
    assert_error(text, 5, "syntax", "not valid YAML", "expected ',' or ']'")


def test_tab_indentation() -> None:
    assert_error("version: 1\nbrands:\n\t- name: x\n", 3, "syntax", "'\\t'")


def test_empty_file() -> None:
    assert_error("# nothing yet\n", 1, "(top level)", "empty")


def test_top_level_not_a_mapping() -> None:
    assert_error("- version: 1\n", 1, "(top level)", "expected", "got a list")


def test_missing_version() -> None:
    assert_error(MINIMAL.replace("version: 1\n", "case: X\n"), 1, "version", "version: 1")


@pytest.mark.parametrize("value", ["2", "1.5", "'one'"])
def test_unknown_version(value: str) -> None:
    text = MINIMAL.replace("version: 1", f"version: {value}") + "future_key: true\n"
    assert_error(text, 1, "version", "unknown watchlist version", "reads version 1")


def test_unknown_top_level_key() -> None:
    text = MINIMAL.replace("brands:", "brand:")
    assert_error(text, 2, "brand", "unknown key 'brand'", "Did you mean 'brands'?")


def test_unknown_settings_key() -> None:
    text = MINIMAL + "settings:\n  max_pages: 2\n  max_listing: 50\n"
    assert_error(text, 8, "settings.max_listing", "Did you mean 'max_listings'?")


def test_unknown_brand_key() -> None:
    text = MINIMAL.replace("    terms:", "    term: [x]\n    terms:")
    assert_error(text, 4, "brands[0].term", "Did you mean 'terms'?", "Expected one of: name")


@pytest.mark.parametrize(
    ("removed", "field"),
    [
        ("  - name: Lumara\n    terms", "  - terms"),
        ("    terms: [lumara]\n", ""),
        ("    marketplaces: [ebay]\n", ""),
    ],
)
def test_missing_brand_field(removed: str, field: str) -> None:
    text = MINIMAL.replace(removed, field)
    missing = {"  - terms": "name"}.get(field) or removed.split(":")[0].strip()
    assert_error(text, 3, f"brands[0].{missing}", f"needs '{missing}'")


def test_missing_brands() -> None:
    assert_error("version: 1\ncase: X\n", 1, "brands", "needs 'brands'")


def test_empty_value_of_required_field() -> None:
    assert_error(MINIMAL.replace("name: Lumara", "name:"), 3, "brands[0].name", "needs 'name'")


# --- types and ranges ---------------------------------------------------------------------


def test_terms_given_as_text() -> None:
    text = MINIMAL.replace("[lumara]", '"lumara"')
    assert_error(text, 4, "brands[0].terms", "expected a list", '["lumara"]')


def test_brands_given_as_mapping() -> None:
    text = "version: 1\nbrands:\n  name: Lumara\n"
    assert_error(text, 3, "brands", "expected a list", "got a set of 'key: value' lines")


def test_quoted_number() -> None:
    text = MINIMAL + 'settings:\n  max_pages: "3"\n'
    assert_error(text, 7, "settings.max_pages", "whole number (without quotes)", '"3"')


def test_boolean_given_as_number() -> None:
    text = MINIMAL + "settings:\n  obey_robots: 1\n"
    assert_error(text, 7, "settings.obey_robots", "expected true or false", "got 1")


def test_yes_read_as_boolean_where_text_expected() -> None:
    text = MINIMAL.replace("name: Lumara", "name: yes")
    assert_error(text, 3, "brands[0].name", "read as yes/no", "quotes")


@pytest.mark.parametrize(
    ("setting", "limit"),
    [("max_pages: 0", "1 and 1000"), ("max_pages: 1001", "1 and 1000"),
     ("max_listings: 100001", "1 and 100000"), ("max_listings: -1", "1 and 100000")],
)  # fmt: skip
def test_out_of_range(setting: str, limit: str) -> None:
    text = MINIMAL + f"settings:\n  {setting}\n"
    name = setting.split(":")[0]
    assert_error(text, 7, f"settings.{name}", f"must be between {limit}")


def test_empty_terms_list() -> None:
    text = MINIMAL.replace("[lumara]", "[]")
    assert_error(text, 4, "brands[0].terms", "list is empty", "search terms")


def test_blank_term() -> None:
    text = MINIMAL.replace("[lumara]", '\n      - lumara\n      - "  "')
    assert_error(text, 6, "brands[0].terms[1]", "blank")


def test_null_term() -> None:
    text = MINIMAL.replace("[lumara]", "\n      - lumara\n      -")
    assert_error(text, 6, "brands[0].terms[1]", "empty")


def test_duplicate_term() -> None:
    text = MINIMAL.replace("[lumara]", "[lumara, Lumara]")
    assert_error(text, 4, "brands[0].terms[1]", "listed twice", "terms[0]")


def test_duplicate_brand_names() -> None:
    text = MINIMAL + "  - name: LUMARA\n    terms: [x]\n    marketplaces: [ebay]\n"
    assert_error(text, 6, "brands[1].name", "listed twice", "line 3")


def test_unknown_marketplace_with_suggestion() -> None:
    text = MINIMAL.replace("[ebay]", "[ebay, aliexpres]")
    err = assert_error(text, 5, "brands[0].marketplaces[1]", "unknown marketplace 'aliexpres'")
    assert "Did you mean 'aliexpress'?" in err.reason
    assert "add a recipe under 'marketplaces:'" in err.reason


def test_recipe_marketplace_is_known() -> None:
    assert parse(RECIPE).brands[0].marketplaces == ("bazaar",)
    text = RECIPE.replace("[bazaar]", "[bazar]")
    assert_error(text, 5, "brands[0].marketplaces[0]", "Did you mean 'bazaar'?")


@pytest.mark.parametrize(
    ("cron", "words"),
    [("0 */6 * *", "expected 5 fields"), ("0 0 * * * *", "got 6"), ("61 * * * *", "not a valid"),
     ("@daily", "expected 5 fields"), ("every day", "expected 5 fields")],
)  # fmt: skip
def test_bad_global_cron(cron: str, words: str) -> None:
    text = MINIMAL + f'settings:\n  schedule: "{cron}"\n'
    assert_error(text, 7, "settings.schedule", words)


def test_bad_brand_cron() -> None:
    text = MINIMAL + '    schedule: "30 25 * * *"\n'
    assert_error(text, 6, "brands[0].schedule", "not a valid cron schedule", "minute hour")


@pytest.mark.parametrize(
    ("currency", "words"),
    [("eur", "Did you mean 'EUR'?"), ("EURO", "three capital letters"), ("€", "ISO 4217")],
)
def test_bad_currency(currency: str, words: str) -> None:
    text = MINIMAL + f"    msrp: {{currency: {currency}, min: 900}}\n"
    assert_error(text, 6, "brands[0].msrp.currency", words)


def test_msrp_amounts() -> None:
    text = MINIMAL + "    msrp: {currency: USD, min: 899.99, max: '1200'}\n"
    assert parse(text).brands[0].msrp == Msrp("USD", Decimal("899.99"), Decimal("1200"))
    bad = MINIMAL + "    msrp: {currency: USD, min: 900, max: 100}\n"
    assert_error(bad, 6, "brands[0].msrp.max", "below min")
    bad = MINIMAL + "    msrp: {currency: USD, min: lots}\n"
    assert_error(bad, 6, "brands[0].msrp.min", "expected an amount")
    assert_error(MINIMAL + "    msrp: {currency: USD}\n", 6, "brands[0].msrp", "'min', 'max'")


def test_bad_store_uri() -> None:
    text = MINIMAL + "settings:\n  store: ./data\n"
    assert_error(text, 7, "settings.store", "file:// or s3://")


# --- duplicate keys -----------------------------------------------------------------------


def test_duplicate_top_level_key() -> None:
    text = MINIMAL + "version: 1\n"
    assert_error(text, 6, "version", "given twice", "first on line 1")


def test_duplicate_nested_key() -> None:
    text = MINIMAL.replace(
        "    marketplaces: [ebay]\n", "    terms: [x]\n    marketplaces: [ebay]\n"
    )
    assert_error(text, 5, "brands[0].terms", "given twice", "line 4")


def test_duplicate_key_in_flow_mapping() -> None:
    text = MINIMAL + "    msrp: {currency: EUR, min: 1, currency: USD}\n"
    assert_error(text, 6, "brands[0].msrp.currency", "given twice")


# --- recipes ------------------------------------------------------------------------------


def test_recipe_shadowing_a_spider() -> None:
    text = RECIPE.replace("bazaar", "ebay")
    assert_error(text, 7, "marketplaces.ebay", "built-in marketplace")


def test_recipe_bad_name() -> None:
    text = RECIPE.replace("bazaar", "Big Bazaar")
    assert_error(text, 7, "marketplaces.Big Bazaar", "lowercase letters")


def test_recipe_missing_required() -> None:
    text = recipe_with('      link: "a.result-link::attr(href)"\n', "")
    assert_error(text, 11, "marketplaces.bazaar.search.link", "needs 'link'")
    text = recipe_with('        price: ".price::text"\n', "")
    assert_error(text, 15, "marketplaces.bazaar.listing.fields.price", "needs 'price'")
    text = recipe_with('    base_url: "https://market.example"\n', "")
    assert_error(text, 8, "marketplaces.bazaar.base_url", "needs 'base_url'")


def test_recipe_unknown_key() -> None:
    text = recipe_with("      fields:", "      feilds: {}\n      fields:")
    assert_error(text, 14, "marketplaces.bazaar.listing.feilds", "Did you mean 'fields'?")
    text = recipe_with("        price:", "        prize: x\n        price:")
    assert_error(text, 16, "marketplaces.bazaar.listing.fields.prize", "Did you mean 'price'?")


def test_recipe_bad_css_selector() -> None:
    text = recipe_with('price: ".price::text"', 'price: ["jsonld:offers.price", ".price["]')
    assert_error(
        text, 16, "marketplaces.bazaar.listing.fields.price[1]", "bad selector '.price['", "CSS"
    )


def test_recipe_bad_xpath_selector() -> None:
    text = recipe_with('title: "h1::text"', 'title: "xpath://h1["')
    assert_error(text, 15, "marketplaces.bazaar.listing.fields.title", "XPath")


def test_recipe_text_selector_cannot_give_a_value() -> None:
    text = recipe_with('title: "h1::text"', 'title: "text:Lumara"')
    assert_error(text, 15, "marketplaces.bazaar.listing.fields.title", "cannot give a value")


def test_recipe_element_slot_refuses_values() -> None:
    text = recipe_with('result: "#results .result"', 'result: "#results a::attr(href)"')
    assert_error(text, 11, "marketplaces.bazaar.search.result", "does not pick elements")


def test_recipe_search_url_needs_term() -> None:
    text = recipe_with("k={term}&", "k=x&")
    assert_error(text, 9, "marketplaces.bazaar.search_url", "must contain {term}")
    text = recipe_with("{page}", "{pgae}")
    assert_error(text, 9, "marketplaces.bazaar.search_url", "unknown placeholder {pgae}")
    text = recipe_with("{page}", "{page")
    assert_error(text, 9, "marketplaces.bazaar.search_url", "unbalanced")


def test_recipe_relative_search_url() -> None:
    recipe = parse(recipe_with("{base_url}/s?", "/s?")).recipes["bazaar"]
    assert recipe.search_page_url("a b", 2) == "https://market.example/s?k=a+b&page=2"


def test_recipe_base_url_must_be_http() -> None:
    text = recipe_with("https://market.example", "ftp://market.example")
    assert_error(text, 8, "marketplaces.bazaar.base_url", "https://")


def test_recipe_id_from_url() -> None:
    text = recipe_with("    listing:\n", '    listing:\n      id_from_url: "/item/([0-9]+)"\n')
    assert_error(text, 14, "marketplaces.bazaar.listing.id_from_url", "(?P<id>")
    text = recipe_with("    listing:\n", '    listing:\n      id_from_url: "/item/(?P<id>[0-9+"\n')
    assert_error(text, 14, "marketplaces.bazaar.listing.id_from_url", "regular expression")


def test_recipe_gone_if_status() -> None:
    text = recipe_with(
        "    listing:\n", '    listing:\n      gone_if: ["text:gone", "status:41"]\n'
    )
    assert_error(text, 14, "marketplaces.bazaar.listing.gone_if[1]", "status:410")


def test_recipe_render_must_be_booleans() -> None:
    text = recipe_with("    search:\n", '    render: {search: "no"}\n    search:\n')
    assert_error(text, 10, "marketplaces.bazaar.render.search", "true or false")
    recipe = parse(recipe_with("    search:\n", "    render: false\n    search:\n"))
    assert recipe.recipes["bazaar"].render == Render(False, False)


def test_recipe_first_page() -> None:
    recipe = parse(recipe_with("    search:\n", "    first_page: 0\n    search:\n"))
    assert recipe.recipes["bazaar"].search_page_url("x") == "https://market.example/s?k=x&page=0"
    text = recipe_with("    search:\n", "    first_page: one\n    search:\n")
    assert_error(text, 10, "marketplaces.bazaar.first_page", "whole number")

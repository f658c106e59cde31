"""The watchlist (spec section 2): loading, validation and the watches it asks for.

`load_watchlist()` reads a YAML file and returns a frozen `Watchlist`, or raises
`WatchlistError` naming the file, the 1-based line and the dotted field (`brands[1].terms[0]`,
`settings.schedule`, `marketplaces.bazaar.search.link`) with a plain-words reason. The YAML is
composed into nodes (never constructed into Python objects first) so every value keeps its line,
and duplicate keys, which YAML would silently accept, are refused.

Overrides from the command line and `MARKWATCH_*` variables are applied by the caller.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from types import MappingProxyType

import yaml
from croniter import croniter

from crawler.alerts.config import AlertsConfig, parse_alerts
from crawler.egress import parse_allow
from crawler.exceptions import ConfigError, WatchlistError
from crawler.recipe import Recipe, parse_recipe
from crawler.yaml_nodes import Entries, NodeReader, close_matches, is_null

SUPPORTED_VERSIONS = (1,)
STORE_SCHEMES = ("file://", "s3://")
CATALOG_SCHEMES = ("sqlite:///", "postgresql://", "postgres://")
CRON_FIELDS = "minute hour day-of-month month day-of-week"
MAX_WATCHLIST_BYTES = 4 * 1024 * 1024
"""The largest watchlist file read (a watchlist is a few kilobytes)."""

_TOP_KEYS = ("version", "case", "settings", "brands", "marketplaces", "alerts")
_SETTINGS_KEYS = ("store", "catalog", "max_pages", "max_listings", "obey_robots", "schedule",
                  "recheck", "egress")
_EGRESS_KEYS = ("allow",)
_BRAND_KEYS = ("name", "terms", "exclude_terms", "msrp", "marketplaces", "schedule",
               "recheck", "reference_images")
_MSRP_KEYS = ("currency", "min", "max")
_RECIPE_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]*$")
_CURRENCY = re.compile(r"^[A-Z]{3}$")


@dataclass(frozen=True)
class Msrp:
    """The brand's retail price range, for price-based triage."""

    currency: str
    """ISO 4217 code (three capital letters)."""
    min: Decimal | None = None
    max: Decimal | None = None


@dataclass(frozen=True)
class WatchSettings:
    """The watchlist's `settings:`; the command line and environment win over these."""

    store: str | None = None
    catalog: str | None = None
    max_pages: int = 3
    """Search result pages per term and marketplace."""
    max_listings: int = 100
    """Listing captures per term and marketplace per run."""
    obey_robots: bool = True
    schedule: str | None = None
    """Cron expression (5 fields, UTC) for brands with no schedule of their own."""
    egress_allow: tuple[str, ...] = ()
    """`egress.allow`: destinations allowed beyond the public internet (`crawler.egress`)."""
    recheck: str | None = None
    """Cron expression (5 fields, UTC) of `markwatch recheck` runs (crawler/takedown), for
    brands with no recheck of their own."""


@dataclass(frozen=True)
class Brand:
    """One brand to watch."""

    name: str
    terms: tuple[str, ...]
    exclude_terms: tuple[str, ...] = ()
    msrp: Msrp | None = None
    marketplaces: tuple[str, ...] = ()
    schedule: str | None = None
    line: int = 0
    """Line of the brand's entry in the watchlist."""
    reference_images: tuple[str, ...] = ()
    """Official product photos (paths, resolved against the watchlist's folder), for triage."""
    recheck: str | None = None
    """Cron expression (5 fields, UTC) of this brand's re-checks; overrides settings.recheck."""


@dataclass(frozen=True)
class Watch:
    """One search to run: a term of a brand on a marketplace."""

    brand: str
    term: str
    marketplace: str
    case: str | None = None
    exclude_terms: tuple[str, ...] = ()


@dataclass(frozen=True)
class Watchlist:
    """A loaded, valid watchlist."""

    path: str
    version: int
    case: str | None
    settings: WatchSettings
    brands: tuple[Brand, ...]
    recipes: Mapping[str, Recipe]
    """Recipes by marketplace name, as written under `marketplaces:`."""
    alerts: AlertsConfig | None = None
    """The `alerts:` section (crawler.alerts.config); None when there is none."""

    def watches(
        self, marketplaces: Collection[str] = (), brands: Collection[str] = ()
    ) -> list[Watch]:
        """The watches, optionally only for some marketplaces and brands (empty: all).

        Brand names match case-insensitively. Order: brand, term, marketplace as written.
        `ConfigError` when a name asked for appears nowhere in the watchlist.
        """
        wanted_brands = {b.casefold() for b in brands}
        wanted_markets = set(marketplaces)
        self._check_filter("brand", brands, [b.name for b in self.brands], str.casefold)
        used = [m for b in self.brands for m in b.marketplaces]
        self._check_filter("marketplace", marketplaces, used, str)
        return [
            Watch(brand.name, term, market, self.case, brand.exclude_terms)
            for brand in self.brands
            if not wanted_brands or brand.name.casefold() in wanted_brands
            for term in brand.terms
            for market in brand.marketplaces
            if not wanted_markets or market in wanted_markets
        ]

    def schedules(self) -> dict[str, str]:
        """Brand name -> its cron schedule (its own, else the global one); unscheduled left out."""
        out: dict[str, str] = {}
        for brand in self.brands:
            schedule = brand.schedule or self.settings.schedule
            if schedule:
                out[brand.name] = schedule
        return out

    def recheck_schedules(self) -> dict[str, str]:
        """Brand name -> its re-check cron (its own, else `settings.recheck`); brands with
        neither left out."""
        out: dict[str, str] = {}
        for brand in self.brands:
            recheck = brand.recheck or self.settings.recheck
            if recheck:
                out[brand.name] = recheck
        return out

    def _check_filter(
        self, what: str, wanted: Collection[str], known: list[str], key: Callable[[str], str]
    ) -> None:
        keys = {key(k) for k in known}
        for name in wanted:
            if key(name) not in keys:
                names = sorted(set(known))
                raise ConfigError(
                    f"{self.path}: no {what} named '{name}' in this watchlist."
                    f"{close_matches(name, names)} Known: {', '.join(names)}"
                )


def load_watchlist(path: str | Path, known_marketplaces: Collection[str]) -> Watchlist:
    """Read and validate the watchlist file at `path`.

    `known_marketplaces` are the names of the dedicated spiders; a brand may also name a
    recipe defined under `marketplaces:`.
    """
    name = str(path)
    try:
        size = Path(path).stat().st_size
        if size > MAX_WATCHLIST_BYTES:
            raise WatchlistError(name, None, "file", f"is {size} bytes, over the limit of "
                                 f"{MAX_WATCHLIST_BYTES}: refused")
        data = Path(path).read_bytes()
    except FileNotFoundError as exc:
        raise WatchlistError(name, None, "file", "the file does not exist") from exc
    except IsADirectoryError as exc:
        raise WatchlistError(name, None, "file", "is a folder, not a watchlist file") from exc
    except PermissionError as exc:
        raise WatchlistError(name, None, "file", "permission denied: cannot read it") from exc
    except OSError as exc:
        raise WatchlistError(name, None, "file", f"cannot be read ({exc.strerror})") from exc
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise WatchlistError(
            name,
            None,
            "file",
            f"is not UTF-8 text (bad byte at offset {exc.start}); save it as UTF-8",
        ) from exc
    return parse_watchlist(text, name, known_marketplaces)


def parse_watchlist(text: str, path: str, known_marketplaces: Collection[str]) -> Watchlist:
    """Validate watchlist YAML `text`; `path` is only used to name the file in errors."""
    if len(text) > MAX_WATCHLIST_BYTES:
        raise WatchlistError(path, None, "file", f"is over the limit of {MAX_WATCHLIST_BYTES} "
                             f"characters: refused")
    root = _compose(text, path)
    r = NodeReader(path)
    version = _version(r, root, r.entries(root, "", what="the watchlist"))
    e = r.mapping(root, "", _TOP_KEYS, what="the watchlist")
    known = frozenset(known_marketplaces)
    recipes = _recipes(r, _value(e, "marketplaces"), known)
    if "brands" not in e or is_null(e["brands"][1]):
        node = e["brands"][1] if "brands" in e else root
        raise r.error(node, "brands", "the watchlist needs 'brands', a list of brands to watch")
    return Watchlist(
        path=path,
        version=version,
        case=r.optional_text(_value(e, "case"), "case"),
        settings=_settings(r, _value(e, "settings")),
        brands=_brands(r, e["brands"][1], known | recipes.keys()),
        recipes=MappingProxyType(recipes),
        alerts=parse_alerts(r, _value(e, "alerts")),
    )


def _compose(text: str, path: str) -> yaml.Node:
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        where = f" (column {mark.column + 1})" if mark is not None else ""
        reason = "; ".join(p for p in (exc.context, exc.problem) if p)
        raise WatchlistError(path, line, "syntax", f"not valid YAML: {reason}{where}") from exc
    except yaml.YAMLError as exc:
        raise WatchlistError(path, None, "syntax", f"not valid YAML: {exc}") from exc
    if root is None:
        raise WatchlistError(path, 1, "(top level)", "the file is empty; expected 'version: 1'")
    return root


def _value(e: Entries, key: str) -> yaml.Node | None:
    return e[key][1] if key in e and not is_null(e[key][1]) else None


def _version(r: NodeReader, root: yaml.Node, e: Entries) -> int:
    node = _value(e, "version")
    if node is None:
        where = e["version"][1] if "version" in e else root
        raise r.error(where, "version", "missing; the first line should be 'version: 1'")
    supported = ", ".join(map(str, SUPPORTED_VERSIONS))
    given = node.value if isinstance(node, yaml.ScalarNode) else "a list or mapping"
    if given.strip() not in map(str, SUPPORTED_VERSIONS):
        raise r.error(
            node,
            "version",
            f"unknown watchlist version '{given}'; this markwatch reads version {supported}",
        )
    return int(node.value)


def _settings(r: NodeReader, node: yaml.Node | None) -> WatchSettings:
    if node is None:
        return WatchSettings()
    e = r.mapping(node, "settings", _SETTINGS_KEYS, what="settings")
    values: dict[str, object] = {}
    for key, schemes in (("store", STORE_SCHEMES), ("catalog", CATALOG_SCHEMES)):
        value = r.optional_text(_value(e, key), f"settings.{key}")
        if value is not None and not value.startswith(schemes):
            raise r.error(
                e[key][1],
                f"settings.{key}",
                f"expected an address starting with {' or '.join(schemes)}",
            )
        values[key] = value
    for key, high in (("max_pages", 1000), ("max_listings", 100_000)):
        if (int_node := _value(e, key)) is not None:
            values[key] = r.integer(int_node, f"settings.{key}", 1, high)
    if (bool_node := _value(e, "obey_robots")) is not None:
        values["obey_robots"] = r.boolean(bool_node, "settings.obey_robots")
    values["schedule"] = _cron(r, _value(e, "schedule"), "settings.schedule")
    if (egress := _value(e, "egress")) is not None:
        values["egress_allow"] = _egress_allow(r, egress)
    values["recheck"] = _cron(r, _value(e, "recheck"), "settings.recheck")
    return WatchSettings(**values)  # type: ignore[arg-type]


def _egress_allow(r: NodeReader, node: yaml.Node) -> tuple[str, ...]:
    e = r.mapping(node, "settings.egress", _EGRESS_KEYS, what="settings.egress")
    allow = _value(e, "allow")
    if allow is None:
        return ()
    entries = r.text_list(allow, "settings.egress.allow", "CIDRs or host names",
                          allow_empty=True)
    for index, entry in enumerate(entries):
        try:
            parse_allow([entry])
        except ConfigError as exc:
            raise r.error(allow.value[index], f"settings.egress.allow[{index}]",
                          str(exc)) from exc
    return entries


def _cron(r: NodeReader, node: yaml.Node | None, field: str) -> str | None:
    if node is None:
        return None
    expr = " ".join(r.text(node, field).split())
    count = len(expr.split())
    if count != 5:
        raise r.error(
            node,
            field,
            f"'{expr}' is not a cron schedule: expected 5 fields ({CRON_FIELDS}), "
            f'such as "0 */6 * * *", got {count}',
        )
    if not croniter.is_valid(expr):
        raise r.error(
            node,
            field,
            f"'{expr}' is not a valid cron schedule ({CRON_FIELDS}); "
            'for example "30 2 * * *" is every day at 02:30 UTC',
        )
    return expr


def _recipes(r: NodeReader, node: yaml.Node | None, spiders: frozenset[str]) -> dict[str, Recipe]:
    if node is None or is_null(node):
        return {}
    recipes: dict[str, Recipe] = {}
    for name, (key, value) in r.entries(node, "marketplaces", "marketplaces").items():
        field = f"marketplaces.{name}"
        if name in spiders:
            raise r.error(
                key, field, f"'{name}' is a built-in marketplace; give this recipe another name"
            )
        if not _RECIPE_NAME.match(name):
            raise r.error(
                key, field, "a marketplace name uses only lowercase letters, digits, '-' and '_'"
            )
        recipes[name] = parse_recipe(value, r.path, field, name)
    return recipes


def _brands(r: NodeReader, node: yaml.Node, marketplaces: Collection[str]) -> tuple[Brand, ...]:
    items = r.sequence(node, "brands", "brands")
    if not items:
        raise r.error(node, "brands", "the list is empty; give at least one brand")
    seen: dict[str, int] = {}
    brands = []
    for index, item in enumerate(items):
        brand = _brand(r, item, f"brands[{index}]", marketplaces)
        folded = brand.name.casefold()
        if folded in seen:
            raise r.error(
                item,
                f"brands[{index}].name",
                f"the brand '{brand.name}' is listed twice (first at line {seen[folded]})",
            )
        seen[folded] = brand.line
        brands.append(brand)
    return tuple(brands)


def _brand(r: NodeReader, node: yaml.Node, field: str, marketplaces: Collection[str]) -> Brand:
    e = r.mapping(node, field, _BRAND_KEYS, ("name", "terms", "marketplaces"), what="a brand")
    markets = r.text_list(e["marketplaces"][1], f"{field}.marketplaces", "marketplaces")
    market_nodes = e["marketplaces"][1].value
    for index, market in enumerate(markets):
        if market not in marketplaces:
            raise r.error(
                market_nodes[index],
                f"{field}.marketplaces[{index}]",
                f"unknown marketplace '{market}'.{close_matches(market, marketplaces)} "
                f"Known: {', '.join(sorted(marketplaces))} (or add a recipe under 'marketplaces:')",
            )
    exclude = _value(e, "exclude_terms")
    return Brand(
        name=" ".join(r.text(e["name"][1], f"{field}.name").split()),
        terms=r.text_list(e["terms"][1], f"{field}.terms", "search terms"),
        exclude_terms=r.text_list(exclude, f"{field}.exclude_terms", "terms", allow_empty=True)
        if exclude is not None
        else (),
        msrp=_msrp(r, _value(e, "msrp"), f"{field}.msrp"),
        marketplaces=markets,
        schedule=_cron(r, _value(e, "schedule"), f"{field}.schedule"),
        recheck=_cron(r, _value(e, "recheck"), f"{field}.recheck"),
        line=node.start_mark.line + 1,
        reference_images=_references(r, _value(e, "reference_images"),
                                     f"{field}.reference_images"),
    )


def _references(r: NodeReader, node: yaml.Node | None, field: str) -> tuple[str, ...]:
    """Reference image paths, relative to the watchlist's folder; each must be a file."""
    if node is None:
        return ()
    paths = r.text_list(node, field, "image paths", allow_empty=True)
    base = Path(r.path).parent
    out = []
    for index, (text, item) in enumerate(zip(paths, node.value, strict=True)):
        if "://" in text:
            raise r.error(item, f"{field}[{index}]", "expected a file path (relative to the "
                          "watchlist's folder), not a URL; download the photo first")
        path = (base / text).resolve()
        if not path.is_file():
            raise r.error(item, f"{field}[{index}]", f"no such image file: {path}")
        out.append(str(path))
    return tuple(out)


def _msrp(r: NodeReader, node: yaml.Node | None, field: str) -> Msrp | None:
    if node is None:
        return None
    e = r.mapping(node, field, _MSRP_KEYS, ("currency",), what="msrp")
    currency = r.text(e["currency"][1], f"{field}.currency").strip()
    if not _CURRENCY.match(currency):
        hint = f" Did you mean '{currency.upper()}'?" if _CURRENCY.match(currency.upper()) else ""
        raise r.error(
            e["currency"][1],
            f"{field}.currency",
            f"'{currency}' is not a currency code; expected three capital letters "
            f"(ISO 4217) such as EUR or USD.{hint}",
        )
    low = _amount(r, _value(e, "min"), f"{field}.min")
    high = _amount(r, _value(e, "max"), f"{field}.max")
    if low is None and high is None:
        raise r.error(node, field, "give 'min', 'max' or both")
    if low is not None and high is not None and low > high:
        raise r.error(e["max"][1], f"{field}.max", f"is below min ({high} < {low})")
    return Msrp(currency, low, high)


def _amount(r: NodeReader, node: yaml.Node | None, field: str) -> Decimal | None:
    if node is None:
        return None
    raw = r.text(node, field).strip().replace("_", "")
    try:
        value = Decimal(raw)
    except InvalidOperation as exc:
        raise r.error(
            node, field, f"expected an amount such as 900 or 899.99, got '{raw}'"
        ) from exc
    if not value.is_finite() or value < 0:
        raise r.error(node, field, f"expected an amount of 0 or more, got '{raw}'")
    return value


__all__ = [
    "Brand",
    "Msrp",
    "Watch",
    "WatchSettings",
    "Watchlist",
    "load_watchlist",
    "parse_watchlist",
]

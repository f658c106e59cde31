"""Listings to capture directly, without a search: re-checks and captures on demand.

A run given targets (`CrawlOptions.targets`, the `MARKWATCH_TARGETS` setting naming a JSON
file) makes each marketplace spider request the targets' URLs as listing pages instead of
searching; everything else (evidence, seal, catalog, run record) is a crawl's.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from urllib.parse import urlsplit

from crawler.exceptions import ConfigError

MAX_URL = 4096

MARKETPLACE_HOSTS = {
    "alibaba.com": "alibaba", "aliexpress.com": "aliexpress", "aliexpress.us": "aliexpress",
    "amazon.com": "amazon", "amazon.de": "amazon", "amazon.co.uk": "amazon",
    "amazon.fr": "amazon", "amazon.it": "amazon", "amazon.es": "amazon",
    "dhgate.com": "dhgate", "ebay.com": "ebay", "ebay.de": "ebay", "ebay.co.uk": "ebay",
    "ebay.fr": "ebay", "etsy.com": "etsy", "jd.com": "jd", "lazada.com": "lazada",
    "1688.com": "m1688", "mercadolibre.com": "mercadolibre", "mercadolibre.com.mx": "mercadolibre",
    "mercadolibre.com.ar": "mercadolibre", "mercadolivre.com.br": "mercadolibre",
    "rakuten.co.jp": "rakuten", "taobao.com": "taobao", "tmall.com": "tmall",
    "walmart.com": "walmart",
}
"""Registered domain -> marketplace (spider) name, for URLs captured on demand."""


@dataclass(frozen=True)
class Target:
    """One page to capture as a listing, and the watch its capture is filed under."""

    marketplace: str
    url: str
    brand: str
    term: str
    case: str | None = None
    listing_id: str | None = None


def marketplace_of(url: str, demo_base_url: str | None = None) -> str:
    """The marketplace a URL belongs to, from its host; ConfigError when none is known."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname or len(url) > MAX_URL:
        raise ConfigError(f"not an http(s) URL: {url[:200]!r}")
    host = parts.hostname.lower()
    if demo_base_url:
        demo = urlsplit(demo_base_url)
        if (demo.hostname, demo.port) == (parts.hostname, parts.port):
            return "demo"
    labels = host.split(".")
    for n in range(len(labels) - 1):
        name = MARKETPLACE_HOSTS.get(".".join(labels[n:]))
        if name:
            return name
    raise ConfigError(f"no marketplace is known for host {host!r} ({url[:200]})")


def write_targets(path: Path, targets: Iterable[Target]) -> int:
    rows = [asdict(t) for t in targets]
    path.write_text(json.dumps(rows, indent=1), encoding="utf-8")
    return len(rows)


def read_targets(path: str | Path, marketplace: str | None = None) -> list[Target]:
    """The targets in a file (of one marketplace when given)."""
    try:
        rows = json.loads(Path(path).read_text(encoding="utf-8"))
        targets = [Target(**row) for row in rows]
    except (OSError, ValueError, TypeError) as exc:
        raise ConfigError(f"{path}: not a targets file ({exc})") from exc
    return [t for t in targets if marketplace is None or t.marketplace == marketplace]

"""Notice packages: what a marketplace's IP-complaint process asks for, tied to the evidence.

A package (a new folder, or a .zip) holds:

- `notice.txt`: the notice, from an editable `string.Template` (`templates/<format>.txt`,
  overridable by a file of the same name in a user folder): Alibaba IPP (Alibaba.com,
  AliExpress, Taobao, Tmall, 1688), eBay VeRO, Amazon Brand Registry, DHgate, Mercado Libre
  BPP, or a generic EU DSA Art. 16 notice;
- `listings.csv` and `listings.json`: per listing its URL, the capture id and time, and the
  SHA-256 of the capture's manifest and screenshot (CSV cells escaped against formulas);
- `evidence.zip`: the evidence bundle of those captures (`crawler.export.bundle`).

Everything taken from pages (titles, sellers) is hostile: control characters are made
visible, nothing is interpreted as markup, and template substitution is `safe_substitute` of
values only (a `$` in a title stays text).
"""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import string
import tempfile
import zipfile
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from crawler.cli.text import csv_cell, safe
from crawler.clock import Clock, isoformat
from crawler.evidence.screenshot import screenshot_entry
from crawler.exceptions import ConfigError
from crawler.seal.config import SealConfig
from crawler.takedown import queries
from storage.base import Store

FORMATS = ("alibaba-ipp", "ebay-vero", "amazon-brand-registry", "dhgate", "mercadolibre-bpp",
           "eu-dsa")
DEFAULT_FORMAT = {
    "alibaba": "alibaba-ipp", "aliexpress": "alibaba-ipp", "taobao": "alibaba-ipp",
    "tmall": "alibaba-ipp", "m1688": "alibaba-ipp", "ebay": "ebay-vero",
    "amazon": "amazon-brand-registry", "dhgate": "dhgate", "mercadolibre": "mercadolibre-bpp",
}
"""Marketplace -> its own notice format; any other marketplace gets the EU DSA notice."""
PLATFORMS = {"alibaba": "Alibaba.com", "aliexpress": "AliExpress", "taobao": "Taobao",
             "tmall": "Tmall", "m1688": "1688.com", "ebay": "eBay", "amazon": "Amazon",
             "dhgate": "DHgate", "mercadolibre": "Mercado Libre"}
MAX_FIELD = 300
CSV_COLUMNS = ("listing_url", "marketplace", "listing_id", "capture_id", "captured_at",
               "manifest_sha256", "screenshot_sha256", "title", "price", "currency", "seller",
               "status")


@dataclass(frozen=True)
class Notifier:
    """Who sends the notice (DSA Art. 16(2)(c): name and email)."""

    name: str
    email: str

    @classmethod
    def from_options(cls, name: str | None, email: str | None) -> Notifier:
        name = name or os.environ.get("MARKWATCH_NOTIFIER_NAME")
        email = email or os.environ.get("MARKWATCH_NOTIFIER_EMAIL")
        if not name or not email or "@" not in email:
            raise ConfigError("a notice needs the notifier's name and email "
                              "(--notifier-name/--notifier-email or MARKWATCH_NOTIFIER_NAME/"
                              "MARKWATCH_NOTIFIER_EMAIL)")
        if len(name) > MAX_FIELD or len(email) > MAX_FIELD or not (name + email).isprintable():
            raise ConfigError("the notifier's name and email must be short printable text")
        return cls(name.strip(), email.strip())


@dataclass
class PackageResult:
    output: Path
    fmt: str
    listings: list[dict[str, Any]]
    warnings: list[str] = field(default_factory=list)


def load_template(fmt: str, template_dir: Path | None = None) -> string.Template:
    """The template of a format: the user's (`template_dir/<fmt>.txt`) if there, else bundled."""
    if fmt not in FORMATS:
        raise ConfigError(f"unknown notice format {fmt!r}; one of {', '.join(FORMATS)}")
    if template_dir is not None and (template_dir / f"{fmt}.txt").is_file():
        text = (template_dir / f"{fmt}.txt").read_text(encoding="utf-8")
    else:
        text = (resources.files("crawler.takedown") / "templates" / f"{fmt}.txt").read_text(
            encoding="utf-8")
    return string.Template(text)


def package_listings(store: Store, catalog: Any, case: str, marketplace: str,
                     statuses: Sequence[str],
                     listing_ids: Collection[str] | None = None) -> list[dict[str, Any]]:
    """One line per listing: URL, its last live capture, and the hashes to check it by
    (only the listings `listing_ids` names, when given: a selection made in the portal)."""
    out = []
    for row in queries.listings(catalog, case, marketplace):
        if row["status"] not in statuses or not row["capture_id"]:
            continue
        if listing_ids is not None and row["listing_id"] not in listing_ids:
            continue
        capture = catalog.get(row["capture_id"])
        shot = screenshot_entry(capture["artifacts"])
        screenshot = shot["sha256"] if shot else None
        out.append({
            "listing_url": capture["url"], "marketplace": marketplace,
            "listing_id": row["listing_id"], "capture_id": capture["capture_id"],
            "captured_at": capture["started_at"], "manifest_sha256": capture["manifest_sha256"],
            "screenshot_sha256": screenshot, "title": capture.get("title"),
            "price": capture.get("price"), "currency": capture.get("currency"),
            "seller": capture.get("seller_name"), "status": row["status"],
            "brand": row["brand"], "manifest_key": capture["manifest_key"],
        })
    return out


def reasons(lines: list[dict[str, Any]], notifier: Notifier) -> str:
    brands = sorted({line["brand"] for line in lines if line.get("brand")})
    names = ", ".join(safe(b) for b in brands) or "the brand"
    return (f"The listings below offer goods bearing the trade mark(s) {names}, registered to "
            f"the rights holder that {safe(notifier.name)} represents, without its consent. The "
            "goods are not genuine: they are offered by sellers that are not authorised "
            "distributors, under titles and photos that use the trade mark, often at prices far "
            "below the genuine products' (see each listing's captured price). Offering "
            "counterfeit goods infringes the rights holder's trade mark rights (Regulation (EU) "
            "2017/1001, Art. 9) and is illegal content. Each listing was captured, hashed and "
            "sealed; the enclosed evidence bundle lets you verify every capture offline.")


def render_lines(lines: list[dict[str, Any]]) -> str:
    out = []
    for n, line in enumerate(lines, start=1):
        out.append(
            f"{n}. {safe(line['listing_url'])}\n"
            f"   listing id: {safe(line['listing_id'])}; title: {safe(line['title'])[:MAX_FIELD]}"
            f"\n   price: {safe(line['price'])} {safe(line['currency'])}; seller: "
            f"{safe(line['seller'])[:MAX_FIELD]}\n"
            f"   capture {line['capture_id']} at {line['captured_at']}\n"
            f"   manifest SHA-256 {line['manifest_sha256']}\n"
            f"   screenshot SHA-256 {line['screenshot_sha256'] or 'none (no screenshot)'}")
    return "\n".join(out)


def prepare_package(store: Store, catalog: Any, *, case: str, marketplace: str,
                    fmt: str | None, statuses: Sequence[str], notifier: Notifier, output: Path,
                    template_dir: Path | None, seal_config: SealConfig, clock: Clock,
                    pdf: bool = True,
                    listing_ids: Collection[str] | None = None) -> PackageResult:
    """Write a notice package to `output` (a new folder, or a .zip)."""
    from crawler.export.bundle import export_bundle

    if output.exists():
        raise ConfigError(f"{output} already exists; not overwriting it")
    fmt = fmt or DEFAULT_FORMAT.get(marketplace, "eu-dsa")
    template = load_template(fmt, template_dir)
    lines = package_listings(store, catalog, case, marketplace, statuses, listing_ids)
    if not lines:
        raise ConfigError(f"no listing of case {case!r} on {marketplace!r} in status "
                          f"{', '.join(statuses)}")
    values = {
        "platform": PLATFORMS.get(marketplace, marketplace), "marketplace": marketplace,
        "case": safe(case), "date": isoformat(clock.now()), "notifier_name": notifier.name,
        "notifier_email": notifier.email, "listing_count": str(len(lines)),
        "listing_lines": render_lines(lines), "reasons": reasons(lines, notifier),
    }
    notice = template.safe_substitute(values)
    result = PackageResult(output, fmt, lines)
    with tempfile.TemporaryDirectory(prefix="markwatch-notice-") as tmp:
        root = Path(tmp) / "package"
        root.mkdir()
        (root / "notice.txt").write_text(notice, encoding="utf-8")
        (root / "listings.csv").write_text(_csv(lines), encoding="utf-8")
        (root / "listings.json").write_text(json.dumps(
            {"case": case, "marketplace": marketplace, "format": fmt, "listings": lines},
            indent=1, ensure_ascii=False), encoding="utf-8")
        bundle = export_bundle(store, catalog, [line["capture_id"] for line in lines],
                               root / "evidence.zip", seal_config=seal_config, clock=clock,
                               pdf=pdf)
        result.warnings += bundle.warnings
        if output.suffix.lower() == ".zip":
            _zip(root, output)
        else:
            shutil.copytree(root, output)
    return result


def _csv(lines: list[dict[str, Any]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for line in lines:
        writer.writerow([csv_cell(line[c]) for c in CSV_COLUMNS])
    return buffer.getvalue()


def _zip(root: Path, output: Path) -> None:
    partial = output.with_name(output.name + ".partial")
    with zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in sorted(root.rglob("*")):
            if path.is_file():
                zf.write(path, path.relative_to(root).as_posix())
    partial.rename(output)

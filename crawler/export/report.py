"""The human-readable report of one capture (HTML, printed to PDF by `crawler.export.pdf`).

Everything taken from a page (URLs, title, seller, price text, search results) is data: it is
HTML-escaped, never made into a link or markup, and the report carries a Content-Security-
Policy that forbids scripts and any network fetch. The first printed page holds the facts,
every hash and the top of the screenshot; the full screenshot follows.
"""

from __future__ import annotations

import html
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

__all__ = ["ReportSeal", "render_report"]

CSP = ("default-src 'none'; img-src 'self' file: data:; style-src 'unsafe-inline'; "
       "script-src 'none'; base-uri 'none'; form-action 'none'")

STYLE = """
@page { size: A4; margin: 11mm 10mm; }
body { font: 9pt/1.35 "DejaVu Sans", Arial, sans-serif; color: #111; margin: 0; }
h1 { font-size: 13pt; margin: 0 0 2mm; }
h2 { font-size: 10pt; margin: 3mm 0 1mm; border-bottom: 0.3mm solid #999; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; vertical-align: top; padding: 0.4mm 1.5mm 0.4mm 0; }
th { white-space: nowrap; font-weight: 600; width: 30mm; }
.hash, code { font: 6.6pt "DejaVu Sans Mono", monospace; white-space: nowrap; }
.wrap { overflow-wrap: anywhere; }
.note { color: #444; font-size: 7.5pt; }
.bad { color: #a00; font-weight: 600; }
.top { display: flex; gap: 4mm; align-items: flex-start; }
.top table { flex: 1; }
.shot { width: 64mm; flex: none; margin: 0; }
.preview { display: block; width: 64mm; height: 96mm; object-fit: cover;
           object-position: top; border: 0.3mm solid #999; }
figcaption { font-size: 7pt; color: #444; }
.full { display: block; width: 100%; break-before: page; }
"""


@dataclass
class ReportSeal:
    """What the seal proved about the capture, for the report."""

    key: str | None = None
    status: str = "not sealed (no signature or timestamp configured)"
    root: str | None = None
    seal_sha256: str | None = None
    signer: str | None = None
    timestamps: list[tuple[str, str]] = field(default_factory=list)
    """(TSA, genTime UTC) pairs."""
    problems: list[str] = field(default_factory=list)
    verdicts: list[tuple[str, str, str]] = field(default_factory=list)
    """(integrity|origin|time, PROVEN|NOT PROVEN|NOT ATTESTED|FAILED, reasons), as checked
    against the exporter's own anchors; the recipient's verify.py checks against theirs."""


def _e(value: Any) -> str:
    return "" if value is None else html.escape(str(value), quote=True)


def _rows(pairs: Iterable[tuple[str, Any]], cls: str = "wrap") -> str:
    return "".join(
        f'<tr><th>{_e(k)}</th><td class="{cls}">{_e(v)}</td></tr>'
        for k, v in pairs if v not in (None, "")
    )


def render_report(manifest: dict[str, Any], manifest_sha256: str, seal: ReportSeal,
                  screenshot_src: str | None, generated_at: str) -> str:
    """The report as an HTML document; `screenshot_src` is a relative URL or None."""
    listing = manifest.get("listing") or {}
    watch = manifest.get("watch") or {}
    browser = manifest.get("browser") or {}
    price = " ".join(str(x) for x in (listing.get("price"), listing.get("currency")) if x)
    facts = [
        ("Capture", f"{manifest.get('capture_id')} ({manifest.get('kind')})"),
        ("Requested URL", manifest.get("request_url")),
        ("Final URL", f"{manifest.get('final_url')} (HTTP {manifest.get('status')})"),
        ("Captured (UTC)", f"{manifest.get('started_at')} to {manifest.get('finished_at')}"),
        ("Watch", f"brand {watch.get('brand')}, term \u201c{watch.get('term')}\u201d, "
                  f"marketplace {watch.get('marketplace')}"),
        ("Case", watch.get("case")),
        ("Run", manifest.get("run_id")),
        ("Title", listing.get("title")),
        ("Price", price + (f" (shown as \u201c{listing['price_text']}\u201d)"
                           if listing.get("price_text") else "")),
        ("Seller", " ".join(str(x) for x in (listing.get("seller_name"),
                                              listing.get("seller_url")) if x)),
        ("Listing id", listing.get("listing_id")),
        ("Blocked", (manifest.get("block") or {}).get("reason")),
        ("Browser", f"{browser.get('name', '')} {browser.get('version', '')}".strip()),
        ("User agent", browser.get("user_agent")),
        ("Software", f"markwatch {(manifest.get('software') or {}).get('version')}"),
    ]
    search = manifest.get("search")
    if search:
        facts.append(("Search page", f"page {search.get('page')}, "
                                     f"{len(search.get('results') or [])} results"))
    seal_rows: list[tuple[str, str | None]] = [
        (name.capitalize(), f"{status}: {why}" if why else status)
        for name, status, why in seal.verdicts]
    seal_rows += [("Status", seal.status), ("Seal", seal.key)]
    seal_rows += [(f"Time ({tsa})", f"{when} (RFC 3161 genTime, UTC)")
                  for tsa, when in seal.timestamps]
    seal_rows += [("Signer", seal.signer)]
    hashes = [("Manifest", manifest_sha256), ("Merkle root", seal.root),
              ("Seal document", seal.seal_sha256)]
    artifacts = "".join(
        f"<tr><td>{_e(a.get('name'))}</td><td>{_e(a.get('media_type'))}</td>"
        f"<td>{_e(a.get('size'))}</td><td class=\"hash\">{_e(a.get('sha256'))}</td></tr>"
        for a in manifest.get("artifacts", [])
    )
    problems = "".join(f'<p class="bad">{_e(p)}</p>' for p in seal.problems)
    preview = full = ""
    if screenshot_src:
        src = _e(screenshot_src)
        preview = (f'<figure class="shot"><img class="preview" src="{src}" alt="screenshot">'
                   '<figcaption>Screenshot (top of the page; the full page follows)'
                   '</figcaption></figure>')
        full = f'<img class="full" src="{src}" alt="full-page screenshot">'
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{_e(CSP)}">
<title>Evidence capture {_e(manifest.get('capture_id'))}</title>
<style>{STYLE}</style></head><body>
<h1>Evidence capture {_e(manifest.get('capture_id'))}</h1>
<div class="top"><table>{_rows(facts)}</table>{preview}</div>
<h2>Seal</h2>{problems}
<table>{_rows(seal_rows)}</table>
<h2>Hashes (SHA-256)</h2>
<table>{_rows(hashes, "hash")}</table>
<table><tr><th>Artifact</th><th>Media type</th><th>Bytes</th><th>SHA-256</th></tr>
{artifacts}</table>
<p class="note">Report generated {_e(generated_at)} by markwatch. Text from the page is shown
as data. Check this evidence with verify.py in the bundle (see README.txt).</p>
{full}
</body></html>
"""

"""What a webhook receives and what an e-mail says.

A webhook body is the event as JSON (`Event.to_json`), or for a digest a JSON object holding a
list of events. Page text (titles, URLs, seller names) is plain data in JSON strings; nothing
in a payload is markup to be rendered. An e-mail has a plain-text part and an HTML part; every
value in the HTML part is escaped (`html.escape`), links are only http(s) addresses, and header
values lose control characters and line breaks.
"""

from __future__ import annotations

import datetime as dt
import html
import json
import re
from collections.abc import Sequence
from email.message import EmailMessage
from email.utils import format_datetime
from typing import Any
from urllib.parse import urlsplit

from crawler.alerts.events import Event, EventType
from crawler.alerts.signing import EVENT_ID_HEADER

DIGEST_SCHEMA = "markwatch.alert-digest/1"
_HEADER_UNSAFE = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]+")
_TEXT_UNSAFE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")

LABELS = {
    EventType.SUSPICIOUS_LISTING: "Suspicious listings",
    EventType.LISTING_REMOVED: "Listings removed",
    EventType.LISTING_RELISTED: "Listings back online",
    EventType.RUN_FAILED: "Runs failed",
    EventType.SEAL_FAILED: "Seals failed",
    EventType.SPOOL_STALE: "Captures waiting in the spool",
    EventType.MARKETPLACE_BLOCKED: "Marketplaces stopped by blocks",
    EventType.COVERAGE_DROP: "Coverage drops",
    EventType.TEST: "Test messages",
}

_NOUNS = {
    EventType.SUSPICIOUS_LISTING: "suspicious listing",
    EventType.LISTING_REMOVED: "removed listing",
    EventType.LISTING_RELISTED: "relisted listing",
    EventType.RUN_FAILED: "failed run",
    EventType.SEAL_FAILED: "failed seal",
    EventType.SPOOL_STALE: "stale spool warning",
    EventType.MARKETPLACE_BLOCKED: "blocked marketplace",
    EventType.COVERAGE_DROP: "coverage drop",
    EventType.TEST: "test message",
}


def webhook_body(batch_id: str, events: Sequence[Event], digest: bool) -> bytes:
    """The JSON body: the event itself, or a digest of several."""
    if not digest and len(events) == 1:
        data: dict[str, Any] = events[0].to_json()
    else:
        data = {"schema": DIGEST_SCHEMA, "digest_id": batch_id,
                "events": [e.to_json() for e in events]}
    return json.dumps(data, ensure_ascii=False, sort_keys=True).encode("utf-8")


def email_message(batch_id: str, events: Sequence[Event], *, sender: str,
                  recipients: Sequence[str], digest: str | None, now: dt.datetime) -> EmailMessage:
    """One e-mail for `events` (one event, a run's events, or a daily digest)."""
    msg = EmailMessage()
    msg["Subject"] = header_text(_subject(events, digest))
    msg["From"] = sender
    msg["To"] = ", ".join(recipients)
    msg["Date"] = format_datetime(now)
    msg["Message-ID"] = f"<{batch_id}@markwatch.invalid>"
    msg[EVENT_ID_HEADER] = batch_id
    msg.set_content(text_body(events, digest))
    msg.add_alternative(html_body(events, digest), subtype="html")
    return msg


def header_text(value: str, width: int = 150) -> str:
    """A header value: no control characters or line breaks, clipped."""
    text = " ".join(_HEADER_UNSAFE.sub(" ", value).split())
    return text if len(text) <= width else text[: width - 1] + "…"


def plain(value: Any) -> str:
    """Text from a page for a plain-text body: control characters made visible."""
    if value is None:
        return ""
    return _TEXT_UNSAFE.sub(lambda m: f"\\x{ord(m.group()):02x}", str(value))


def _subject(events: Sequence[Event], digest: str | None) -> str:
    if digest:
        return f"[markwatch] daily digest: {_count_line(events)}"
    if len(events) == 1:
        return f"[markwatch] {events[0].summary}"
    return f"[markwatch] {_count_line(events)}"


def _count_line(events: Sequence[Event]) -> str:
    counts: dict[EventType, int] = {}
    for event in events:
        counts[event.type] = counts.get(event.type, 0) + 1
    return ", ".join(f"{n} {_NOUNS[kind]}{'s' * (n != 1)}" for kind, n in counts.items())


def _groups(events: Sequence[Event]) -> list[tuple[EventType, list[Event]]]:
    out: dict[EventType, list[Event]] = {}
    for event in events:
        out.setdefault(event.type, []).append(event)
    return [(kind, out[kind]) for kind in EventType if kind in out]


def _facts(event: Event) -> list[tuple[str, str]]:
    facts = [("case", event.case), ("brand", event.brand), ("marketplace", event.marketplace),
             ("title", event.title),
             ("price", f"{event.price} {event.currency or ''}".strip() if event.price else None),
             ("score", None if event.score is None else f"{event.score:g}"),
             ("listing", event.listing_url), ("run", event.run_id),
             ("captures", ", ".join(event.capture_ids) or None),
             ("portal", event.portal_url), ("at", event.occurred_at)]
    return [(k, str(v)) for k, v in facts if v]


def text_body(events: Sequence[Event], digest: str | None) -> str:
    """The plain-text part."""
    lines = [f"markwatch {'daily digest' if digest else 'alert'}: {_count_line(events)}", ""]
    for kind, group in _groups(events):
        lines += [f"== {LABELS[kind]} ({len(group)}) ==", ""]
        for event in group:
            lines.append(f"* {plain(event.summary)}")
            lines += [f"    {name}: {plain(value)}" for name, value in _facts(event)]
            lines.append(f"    event id: {event.event_id}")
            lines.append("")
    lines.append("-- sent by markwatch; page text above is quoted as captured.")
    return "\n".join(lines) + "\n"


def html_body(events: Sequence[Event], digest: str | None) -> str:
    """The HTML part: every value escaped, links only to http(s) addresses."""
    esc = html.escape
    title = f"markwatch {'daily digest' if digest else 'alert'}: {_count_line(events)}"
    parts = ["<!DOCTYPE html>", '<html><head><meta charset="utf-8">',
             f"<title>{esc(title)}</title></head><body>", f"<h1>{esc(title)}</h1>"]
    for kind, group in _groups(events):
        parts.append(f"<h2>{esc(LABELS[kind])} ({len(group)})</h2><ul>")
        for event in group:
            parts.append(f"<li><p><strong>{esc(event.summary)}</strong></p><table>")
            for name, value in _facts(event):
                cell = _link(value) if name in ("listing", "portal") else esc(value)
                parts.append(f"<tr><th align=\"left\">{esc(name)}</th><td>{cell}</td></tr>")
            parts.append(f"<tr><th align=\"left\">event id</th><td>{esc(event.event_id)}</td>"
                         "</tr></table></li>")
        parts.append("</ul>")
    parts.append("<p><small>Sent by markwatch; page text above is quoted as captured."
                 "</small></p></body></html>")
    return "\n".join(parts) + "\n"


def _link(url: str) -> str:
    if urlsplit(url).scheme in ("http", "https"):
        return f'<a href="{html.escape(url, quote=True)}">{html.escape(url)}</a>'
    return html.escape(url)

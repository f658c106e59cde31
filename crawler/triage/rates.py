"""Reference exchange rates in the ECB's daily euro format, and conversions that say which rate.

The European Central Bank publishes euro reference rates as XML (`eurofxref-daily.xml`,
`eurofxref-hist.xml`) and CSV (`eurofxref.csv`): one EUR is worth `rate` units of each
currency on a given day. markwatch ships one such file (`data/eurofxref-daily.xml`) and
`markwatch rates import FILE|URL` adds others to the store, write-once under
`rates/ecb/<date>.json`. A comparison uses the newest day on or before the capture (else the
oldest known day) and records the rate, its date and its source, so it can be replayed.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import logging
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from importlib import resources
from typing import Any

from crawler.evidence.manifest import canonical_json
from crawler.exceptions import ArtifactConflict, ConfigError, StoreUnavailable
from storage.base import Store
from storage.layout import RATES as RATES_PREFIX
from storage.layout import rates_key

logger = logging.getLogger(__name__)

MAX_RATES_BYTES = 2 * 1024 * 1024
"""Largest rates file read (the ECB's full history XML is ~1.5 MB zipped; daily is ~2 KB)."""
SCHEMA = "markwatch/rates/1"
BUNDLED = "eurofxref-daily.xml"
_CODE = re.compile(r"^[A-Z]{3}$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


@dataclass(frozen=True)
class RateDay:
    """The euro reference rates of one day."""

    date: str
    """ISO date (YYYY-MM-DD) the rates are for."""
    rates: dict[str, Decimal]
    """Currency -> units of it per 1 EUR (EUR itself is 1)."""
    source: str
    """Where the rates came from: `bundled:eurofxref-daily.xml` or the store key."""

    def to_json(self) -> dict[str, Any]:
        return {"schema": SCHEMA, "base": "EUR", "date": self.date,
                "rates": {k: str(v) for k, v in sorted(self.rates.items())}}


@dataclass(frozen=True)
class Conversion:
    """An amount converted, with the rate used (so the comparison can be replayed)."""

    amount: Decimal
    currency: str
    rate: Decimal
    """Units of `currency` per unit of the source currency."""
    rate_date: str
    source: str

    def to_json(self) -> dict[str, Any]:
        return {"amount": f"{self.amount:.2f}", "currency": self.currency,
                "rate": f"{self.rate:.8g}", "rate_date": self.rate_date, "source": self.source}


class RatesError(ConfigError):
    """A rates file cannot be read as ECB euro reference rates."""


def parse_rates(data: bytes, source: str) -> list[RateDay]:
    """Every day in an ECB rates file (XML or CSV), newest first. RatesError if not one."""
    if len(data) > MAX_RATES_BYTES:
        raise RatesError(f"{source}: larger than {MAX_RATES_BYTES} bytes; not a rates file")
    head = data.lstrip()[:5]
    days = _parse_xml(data, source) if head.startswith(b"<") else _parse_csv(data, source)
    if not days:
        raise RatesError(f"{source}: no rates found (expected ECB eurofxref XML or CSV)")
    return sorted(days, key=lambda d: d.date, reverse=True)


def _parse_xml(data: bytes, source: str) -> list[RateDay]:
    if b"<!DOCTYPE" in data.upper() or b"<!ENTITY" in data.upper():
        raise RatesError(f"{source}: XML with a DTD or entities is refused")
    try:
        root = ET.fromstring(data)  # noqa: S314 - bounded, no DTD
    except ET.ParseError as exc:
        raise RatesError(f"{source}: not well-formed XML ({exc})") from exc
    days = []
    for cube in root.iter():
        if cube.tag.endswith("Cube") and "time" in cube.attrib:
            rates = {}
            for child in cube:
                code, rate = child.attrib.get("currency", ""), child.attrib.get("rate", "")
                rates[_code(code, source)] = _rate(rate, code, source)
            days.append(_day(cube.attrib["time"], rates, source))
    return days


def _parse_csv(data: bytes, source: str) -> list[RateDay]:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise RatesError(f"{source}: not UTF-8 text") from exc
    rows = [[c.strip() for c in row] for row in csv.reader(io.StringIO(text)) if any(row)]
    if len(rows) < 2 or rows[0][0].lower() != "date":
        raise RatesError(f"{source}: expected a CSV whose first column is 'Date'")
    header = rows[0]
    days = []
    for row in rows[1:]:
        rates = {}
        for code, value in zip(header[1:], row[1:], strict=False):
            if code and value and value.upper() != "N/A":
                rates[_code(code, source)] = _rate(value, code, source)
        days.append(_day(_csv_date(row[0], source), rates, source))
    return days


def _csv_date(text: str, source: str) -> str:
    for fmt in ("%d %B %Y", "%Y-%m-%d"):
        try:
            return dt.datetime.strptime(text, fmt).date().isoformat()
        except ValueError:
            continue
    raise RatesError(f"{source}: {text!r} is not a date such as '03 December 2026'")


def _code(code: str, source: str) -> str:
    if not _CODE.match(code):
        raise RatesError(f"{source}: {code[:20]!r} is not a currency code")
    return code


def _rate(text: str, code: str, source: str) -> Decimal:
    try:
        value = Decimal(text)
    except InvalidOperation as exc:
        raise RatesError(f"{source}: rate {text[:20]!r} of {code} is not a number") from exc
    if not value.is_finite() or value <= 0:
        raise RatesError(f"{source}: rate of {code} must be above 0")
    return value


def _day(date: str, rates: dict[str, Decimal], source: str) -> RateDay:
    if not _DATE.match(date):
        raise RatesError(f"{source}: {date[:20]!r} is not a YYYY-MM-DD date")
    rates["EUR"] = Decimal(1)
    return RateDay(date, rates, source)


def bundled_rates() -> RateDay:
    """The rates file shipped with markwatch."""
    data = resources.files("crawler.triage").joinpath("data", BUNDLED).read_bytes()
    return parse_rates(data, f"bundled:{BUNDLED}")[0]


def import_rates(store: Store, data: bytes, source: str) -> list[tuple[RateDay, bool]]:
    """Store every day of a rates file write-once; (day, newly stored) per day.

    A day already stored with other rates raises `ArtifactConflict` (nothing is changed).
    """
    out = []
    for day in parse_rates(data, source):
        doc = store.put_document(rates_key(day.date), canonical_json(day.to_json()),
                                 "application/json")
        out.append((day, doc.created))
    return out


class RateBook:
    """The rates known: the store's imported days plus the bundled file."""

    def __init__(self, days: list[RateDay]) -> None:
        self.days = sorted(days, key=lambda d: d.date)
        if not self.days:
            raise RatesError("no exchange rates known")

    @classmethod
    def load(cls, store: Store | None = None) -> RateBook:
        days = [bundled_rates()]
        if store is not None:
            try:
                for key in store.list_documents(RATES_PREFIX):
                    doc = json.loads(store.read_document(key))
                    rates = {k: Decimal(v) for k, v in doc["rates"].items()}
                    days.append(RateDay(doc["date"], rates, key))
            except StoreUnavailable as exc:
                # the crawl goes on (captures spool); each score names the rate day it used,
                # and `markwatch triage rescore` redoes them once the archive is back
                logger.warning("triage: imported exchange rates unreadable (%s); using the "
                               "bundled rates", exc)
        by_date = {d.date: d for d in days}  # an imported day wins over the bundled one
        return cls(list(by_date.values()))

    def day_for(self, when: str | None) -> RateDay:
        """The newest day on or before `when` (ISO date or time), else the oldest day."""
        if when:
            earlier = [d for d in self.days if d.date <= when[:10]]
            if earlier:
                return earlier[-1]
            return self.days[0]
        return self.days[-1]

    def convert(self, amount: Decimal, currency: str, to: str,
                when: str | None = None) -> Conversion | None:
        """`amount` of `currency` in `to`, or None when a rate is missing."""
        day = self.day_for(when)
        if currency not in day.rates or to not in day.rates:
            return None
        rate = day.rates[to] / day.rates[currency]
        return Conversion(amount * rate, to, rate, day.date, day.source)


def check_import(store: Store, data: bytes, source: str) -> list[str]:
    """Import and describe each day, as lines for the CLI."""
    lines = []
    try:
        results = import_rates(store, data, source)
    except ArtifactConflict as exc:
        raise RatesError(f"{source}: the store already holds other rates for a day in it "
                         f"({exc}); stored rates are never replaced") from exc
    for day, created in results:
        state = "stored" if created else "already stored"
        lines.append(f"{day.date}: {len(day.rates) - 1} currencies, {state} "
                     f"({rates_key(day.date)})")
    return lines

"""Prices from localised text: an exact `Decimal` amount and an ISO 4217 currency.

`parse_price("1 234,56 €")` gives `Money(Decimal("1234.56"), "EUR")`.

Currency comes from the text itself (a symbol or code) and, only when the text is ambiguous
or silent, from `currency_hint`, which the caller takes from the page's structured data
(JSON-LD `priceCurrency`, a `currencyCode` field, the page language for `¥`...). It is never
guessed from a domain name. Ambiguous symbols:

- `$` alone is USD, CAD, AUD, MXN, ARS, COP, ... : it needs a hint among the dollar/peso
  currencies (`US $`, `C $`, `AU $`, `MX$`, `R$` ... are unambiguous);
- `¥`/`￥` alone is JPY or CNY: it needs a hint (`CN¥`, `RMB`, `元` are CNY; `JP¥`, `円` JPY);
- `kr` is SEK, NOK, DKK or ISK; `Rs` is INR, PKR, LKR or NPR.

With an ambiguous symbol and a hint that does not fit it, the currency is unknown and
`parse_price` returns None (use `parse_amount` for the bare number). An unambiguous symbol in
the text wins over the hint: the page shows what the buyer is charged.

Separators, decided by rule rather than by locale:

- spaces (incl. NBSP U+00A0, U+202F, U+2009) and apostrophes always group thousands;
- with both `.` and `,`, the last one is the decimal separator;
- one kind repeated (`1.234.567`) groups thousands;
- one single separator followed by exactly three digits groups thousands (`12,345`, `$ 71.492`
  in COP), unless the integer part is `0` or the currency has three decimals (KWD, BHD...);
- otherwise it is the decimal separator (`10,79`, `4.36`).
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

from crawler.items import Money

__all__ = [
    "AMBIGUOUS",
    "THREE_DECIMAL",
    "ZERO_DECIMAL",
    "detect_currency",
    "parse_amount",
    "parse_price",
    "parse_price_range",
]

DOLLARS = frozenset(
    {"USD", "CAD", "AUD", "NZD", "MXN", "ARS", "CLP", "COP", "UYU", "HKD", "SGD", "TWD",
     "DOP", "BRL", "FJD", "JMD", "TTD", "BSD", "BBD", "BZD", "LRD", "NAD", "SBD", "XCD"}
)
AMBIGUOUS: dict[str, frozenset[str]] = {
    "$": DOLLARS,
    "¥": frozenset({"JPY", "CNY"}),
    "kr": frozenset({"SEK", "NOK", "DKK", "ISK"}),
    "Rs": frozenset({"INR", "PKR", "LKR", "NPR"}),
}
"""Symbols that name a family of currencies: the hint must pick one of them."""

ZERO_DECIMAL = frozenset(
    {"JPY", "KRW", "VND", "CLP", "ISK", "PYG", "UGX", "XAF", "XOF", "XPF", "RWF", "KMF", "GNF",
     "DJF", "VUV", "BIF"}
)
"""Currencies without minor units (a trailing `,000` / `.000` is always grouping)."""

THREE_DECIMAL = frozenset({"KWD", "BHD", "OMR", "JOD", "TND", "LYD", "IQD"})
"""Currencies with three decimals (`KWD 1.250` is one and a quarter dinars)."""

_ISO = frozenset(
    {"USD", "EUR", "GBP", "JPY", "CNY", "RMB", "HKD", "TWD", "KRW", "SGD", "MYR", "THB", "PHP",
     "IDR", "VND", "INR", "PKR", "LKR", "BDT", "NPR", "AUD", "NZD", "CAD", "MXN", "BRL", "ARS",
     "CLP", "COP", "PEN", "UYU", "BOB", "PYG", "CHF", "SEK", "NOK", "DKK", "ISK", "PLN", "CZK",
     "HUF", "RON", "BGN", "HRK", "RSD", "UAH", "RUB", "BYN", "KZT", "TRY", "ILS", "AED", "SAR",
     "QAR", "KWD", "BHD", "OMR", "JOD", "EGP", "MAD", "TND", "NGN", "GHS", "KES", "ZAR", "DOP",
     "GEL", "AZN", "AMD", "UZS", "MNT", "LAK", "KHR", "MMK"}
)

# Unambiguous symbols and words. Longer ones first so that `US $` wins over `$`.
_SYMBOLS: list[tuple[str, str]] = [
    ("GH₵", "GHS"), ("GH¢", "GHS"), ("₵", "GHS"),
    ("CN¥", "CNY"), ("CN￥", "CNY"), ("JP¥", "JPY"), ("JP￥", "JPY"),
    ("元", "CNY"), ("円", "JPY"), ("원", "KRW"),
    ("€", "EUR"), ("£", "GBP"), ("₱", "PHP"), ("₩", "KRW"), ("₹", "INR"), ("₽", "RUB"),
    ("₺", "TRY"), ("₫", "VND"), ("₦", "NGN"), ("฿", "THB"), ("₪", "ILS"), ("₴", "UAH"),
    ("₸", "KZT"), ("₾", "GEL"), ("₼", "AZN"), ("₭", "LAK"), ("₮", "MNT"), ("₲", "PYG"),
]
_WORDS: dict[str, str] = {
    "zł": "PLN", "kč": "CZK", "ft": "HUF", "lei": "RON", "\u0440\u0443\u0431": "RUB", "грн": "UAH",
    "rm": "MYR", "rp": "IDR", "chf": "CHF", "tl": "TRY", "лв": "BGN",
}
_DOLLAR_PREFIX: dict[str, str] = {
    "US": "USD", "U.S.": "USD", "C": "CAD", "CA": "CAD", "CAN": "CAD", "AU": "AUD", "A": "AUD",
    "NZ": "NZD", "MX": "MXN", "MEX": "MXN", "HK": "HKD", "S": "SGD", "SG": "SGD", "NT": "TWD",
    "R": "BRL", "RD": "DOP", "AR": "ARS", "CL": "CLP", "CLP": "CLP", "COL": "COP", "CO": "COP",
    "UY": "UYU",
}

_DOLLAR_RE = re.compile(
    r"(?<![A-Za-z])(?P<prefix>U\.S\.|[A-Z]{1,3})?\s?[$\uff04]",
)
_ISO_RE = re.compile(r"(?<![A-Za-z])(?P<code>[A-Z]{3})(?![A-Za-z])")
_WORD_RE = re.compile(
    r"(?<![^\W\d_])(?P<word>zł|kč|ft|lei|\u0440\u0443\u0431|грн|rm|rp|chf|tl|лв|kr|rs)\.?(?![^\W\d_])",
    re.IGNORECASE,
)
_YEN_RE = re.compile(r"[¥￥]")
_CODE_RE = re.compile(r"^[A-Z]{3}$")

_SPACES = " \u00a0\u202f\u2009\u2007"
_NUMBER_RE = re.compile(
    rf"\d+(?:(?:[.,'\u2019]|[{_SPACES}](?=\d{{3}}(?!\d)))\d+)*"
)
MAX_PRICE_TEXT = 500
"""Characters of a price text read (a price is a few words; a page may put anything there)."""
MAX_NUMBER_DIGITS = 40
"""Longest number token taken as an amount; a longer one is not a price."""
_RANGE_SEP_RE = re.compile(r"^\s*(?:-|\u2013|—|~|〜|to|a|bis|à|até|至)\s*$", re.IGNORECASE)


def _find_markers(text: str) -> list[tuple[int, int, str | None, str]]:
    """Currency markers in text: (start, end, ISO code or None if ambiguous, symbol)."""
    found: list[tuple[int, int, str | None, str]] = []
    taken: list[tuple[int, int]] = []

    def add(start: int, end: int, code: str | None, symbol: str) -> None:
        if any(s < end and start < e for s, e in taken):
            return
        taken.append((start, end))
        found.append((start, end, code, symbol))

    for symbol, code in _SYMBOLS:
        for m in re.finditer(re.escape(symbol), text):
            add(m.start(), m.end(), code, symbol)
    for m in _DOLLAR_RE.finditer(text):
        prefix = m.group("prefix")
        if prefix and prefix in _DOLLAR_PREFIX:
            add(m.start(), m.end(), _DOLLAR_PREFIX[prefix], m.group(0))
        elif prefix and prefix in _ISO:
            add(m.start(), m.end(), "CNY" if prefix == "RMB" else prefix, m.group(0))
        else:
            start = m.end() - 1
            add(start, m.end(), None, "$")
    for m in _ISO_RE.finditer(text):
        if m.group("code") in _ISO:
            code = m.group("code")
            add(m.start(), m.end(), "CNY" if code == "RMB" else code, code)
    for m in _YEN_RE.finditer(text):
        add(m.start(), m.end(), None, "¥")
    for m in _WORD_RE.finditer(text):
        word = m.group("word").lower()
        if word in _WORDS:
            add(m.start(), m.end(), _WORDS[word], word)
        else:
            add(m.start(), m.end(), None, "kr" if word == "kr" else "Rs")
    found.sort()
    return found


def _resolve(marker: tuple[int, int, str | None, str], hint: str | None) -> str | None:
    code, symbol = marker[2], marker[3]
    if code is not None:
        return code
    if hint and hint.upper() in AMBIGUOUS[symbol]:
        return hint.upper()
    return None


def detect_currency(text: str, currency_hint: str | None = None) -> str | None:
    """The ISO 4217 code the text names, using the hint only for ambiguous or absent symbols."""
    markers = _find_markers(text[:MAX_PRICE_TEXT])
    definite = [m for m in markers if m[2] is not None]
    if definite:
        return definite[0][2]
    if markers:
        return _resolve(markers[0], currency_hint)
    hint = (currency_hint or "").strip().upper()
    return hint if _CODE_RE.match(hint) else None  # a page's hint: only a 3-letter code


def _to_decimal(token: str, currency: str | None = None) -> Decimal | None:
    """One number token (digits and separators) as a Decimal, separators decided by rule."""
    if len(token) > MAX_NUMBER_DIGITS:
        return None
    for ch in _SPACES + "'\u2019":
        token = token.replace(ch, "")
    seps = [ch for ch in token if ch in ".,"]
    if not seps:
        normalised = token
    elif len(set(seps)) == 2:
        decimal_sep = seps[-1]
        group_sep = "," if decimal_sep == "." else "."
        if token.count(decimal_sep) > 1:
            return None
        normalised = token.replace(group_sep, "").replace(decimal_sep, ".")
    elif len(seps) > 1:
        normalised = token.replace(seps[0], "")
    else:
        sep = seps[0]
        whole, frac = token.split(sep)
        grouping = len(frac) == 3 and whole != "0" and currency not in THREE_DECIMAL
        normalised = whole + frac if grouping else f"{whole}.{frac}"
    try:
        return Decimal(normalised)
    except InvalidOperation:
        return None


def _numbers(text: str) -> list[re.Match[str]]:
    return list(_NUMBER_RE.finditer(text[:MAX_PRICE_TEXT]))


def _pick(numbers: list[re.Match[str]], markers: list[tuple[int, int, str | None, str]]) -> int:
    """Index of the number that belongs to the currency marker (the first one otherwise)."""
    for marker in markers:
        for i, num in enumerate(numbers):
            before = 0 <= marker[0] - num.end() <= 2
            after = 0 <= num.start() - marker[1] <= 2
            if before or after:
                return i
    return 0


def parse_amount(text: str, currency: str | None = None) -> Decimal | None:
    """The first amount in text (the one next to a currency sign if any), without a currency."""
    text = text[:MAX_PRICE_TEXT]
    numbers = _numbers(text)
    if not numbers:
        return None
    index = _pick(numbers, _find_markers(text))
    return _to_decimal(numbers[index].group(0), currency)


def parse_price(text: str, currency_hint: str | None = None) -> Money | None:
    """The price in text as Money; None without an amount or without a known currency.

    For a range (`€ 97,39 - 128,72`) this is the lower bound.
    """
    if not text:
        return None
    text = text[:MAX_PRICE_TEXT]
    currency = detect_currency(text, currency_hint)
    if currency is None:
        return None
    amount = parse_amount(text, currency)
    if amount is None:
        return None
    return Money(amount, currency)


def parse_price_range(
    text: str, currency_hint: str | None = None
) -> tuple[Money, Money | None] | None:
    """(low, high) for a range such as `149.00 - 159.00` or `US $1.00 - US $2.50`.

    A single price gives (price, None); no amount or no currency gives None.
    """
    if not text:
        return None
    text = text[:MAX_PRICE_TEXT]
    currency = detect_currency(text, currency_hint)
    numbers = _numbers(text)
    if currency is None or not numbers:
        return None
    first = _pick(numbers, _find_markers(text))
    low = _to_decimal(numbers[first].group(0), currency)
    if low is None:
        return None
    high: Money | None = None
    if first + 1 < len(numbers):
        nxt = numbers[first + 1]
        between = text[numbers[first].end() : nxt.start()]
        for marker in _find_markers(between):
            between = between.replace(marker[3], "")
        if _RANGE_SEP_RE.match(between):
            amount = _to_decimal(nxt.group(0), currency)
            if amount is not None:
                high = Money(amount, currency)
    return Money(low, currency), high

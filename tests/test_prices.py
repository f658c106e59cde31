"""crawler.prices: real-world price strings to exact Decimal amounts and ISO 4217 codes."""

from __future__ import annotations

from decimal import Decimal

import pytest

from crawler.items import Money
from crawler.prices import detect_currency, parse_amount, parse_price, parse_price_range

# (text as printed, currency hint from structured data, expected amount, expected currency)
CASES: list[tuple[str, str | None, str, str]] = [
    ("US $1,234.56", None, "1234.56", "USD"),
    ("US $349.99", None, "349.99", "USD"),
    ("$5.99", "USD", "5.99", "USD"),
    ("$259.99", "USD", "259.99", "USD"),
    ("from $29.99", "USD", "29.99", "USD"),
    ("1 234,56 €", None, "1234.56", "EUR"),
    ("1\u00a0234,56\u00a0€", None, "1234.56", "EUR"),
    ("1\u202f234,56 €", None, "1234.56", "EUR"),
    ("1.234,56 €", None, "1234.56", "EUR"),
    ("€149,00", None, "149.00", "EUR"),
    ("EUR 3,500.00", None, "3500.00", "EUR"),
    ("EUR 10,79", None, "10.79", "EUR"),
    ("€ 97,39", None, "97.39", "EUR"),
    ("£1,234.56", None, "1234.56", "GBP"),
    ("£4.99", None, "4.99", "GBP"),
    ("CN¥1,234.00", None, "1234.00", "CNY"),
    ("CN¥ 12.50 - 30.00", None, "12.50", "CNY"),
    ("RMB 88", None, "88", "CNY"),
    ("25元", None, "25", "CNY"),
    ("¥ 2288.00", "CNY", "2288.00", "CNY"),
    ("¥12,345", "JPY", "12345", "JPY"),
    ("￥12,345", "JPY", "12345", "JPY"),
    ("1.299 円", None, "1299", "JPY"),
    ("3,980円", None, "3980", "JPY"),
    ("R$ 1.234,56", None, "1234.56", "BRL"),
    ("R$ 159,99", None, "159.99", "BRL"),
    ("₱1,234", None, "1234", "PHP"),
    ("₱ 1,099.00", None, "1099.00", "PHP"),
    ("GH₵ 12.50", None, "12.50", "GHS"),
    ("GH₵1,234.60", None, "1234.60", "GHS"),
    ("₩1,234,567", None, "1234567", "KRW"),
    ("₹1,23,456.00", None, "123456.00", "INR"),
    ("1 234 ₽", None, "1234", "RUB"),
    ("12,99 zł", None, "12.99", "PLN"),
    ("1 299 kr", "SEK", "1299", "SEK"),
    ("499,- kr", "NOK", "499", "NOK"),
    ("CHF 1'234.50", None, "1234.50", "CHF"),
    ("CHF 49.90", None, "49.90", "CHF"),
    ("MX$ 1,299.00", None, "1299.00", "MXN"),
    ("C $19.99", None, "19.99", "CAD"),
    ("AU $25.00", None, "25.00", "AUD"),
    ("$ 71.492", "COP", "71492", "COP"),
    ("ARS$ 4.302,15", None, "4302.15", "ARS"),
    ("KWD 1.250", None, "1.250", "KWD"),
    ("0,99 €", None, "0.99", "EUR"),
    ("4.36", "USD", "4.36", "USD"),
    ("USD 84.88", None, "84.88", "USD"),
    ("149.00 - 159.00", "CNY", "149.00", "CNY"),
    ("1.234.567 ₫", None, "1234567", "VND"),
    ("Rp 15.000", None, "15000", "IDR"),
    ("RM 12.90", None, "12.90", "MYR"),
    ("฿1,290", None, "1290", "THB"),
    ("₺249,90", None, "249.90", "TRY"),
]


@pytest.mark.parametrize(("text", "hint", "amount", "currency"), CASES)
def test_parse_price(text: str, hint: str | None, amount: str, currency: str) -> None:
    assert parse_price(text, hint) == Money(Decimal(amount), currency)


def test_amount_is_exact_decimal() -> None:
    money = parse_price("US $0.10")
    assert money is not None
    assert money.amount == Decimal("0.10")
    assert isinstance(money.amount, Decimal)


@pytest.mark.parametrize("text", ["$5.99", "¥12,345", "￥ 300", "199 kr", "Rs 499"])
def test_ambiguous_symbol_without_hint_gives_none(text: str) -> None:
    assert parse_price(text) is None
    assert parse_amount(text) is not None


def test_ambiguous_symbol_with_unfitting_hint_gives_none() -> None:
    assert parse_price("$5.99", "EUR") is None
    assert parse_price("¥300", "USD") is None


def test_symbol_in_text_wins_over_hint() -> None:
    assert detect_currency("€ 12,00", "USD") == "EUR"
    assert detect_currency("12.00", "usd") == "USD"


@pytest.mark.parametrize("text", ["", "Free shipping", "—"])
def test_no_amount(text: str) -> None:
    assert parse_price(text, "USD") is None


RANGES: list[tuple[str, str | None, str, str | None, str]] = [
    ("€ 97,39 - 128,72", None, "97.39", "128.72", "EUR"),
    ("149.00 - 159.00", "CNY", "149.00", "159.00", "CNY"),
    ("5499.00-6799.00", "CNY", "5499.00", "6799.00", "CNY"),
    ("US $1.00 - US $2.50", None, "1.00", "2.50", "USD"),
    ("CN¥1.50\u20133.20", None, "1.50", "3.20", "CNY"),
    ("$10 to $20", "USD", "10", "20", "USD"),
    ("£12.99", None, "12.99", None, "GBP"),
    ("from $29.99", "USD", "29.99", None, "USD"),
]


@pytest.mark.parametrize(("text", "hint", "low", "high", "currency"), RANGES)
def test_parse_price_range(
    text: str, hint: str | None, low: str, high: str | None, currency: str
) -> None:
    result = parse_price_range(text, hint)
    assert result is not None
    assert result[0] == Money(Decimal(low), currency)
    assert result[1] == (Money(Decimal(high), currency) if high else None)


def test_range_without_currency() -> None:
    assert parse_price_range("149.00 - 159.00") is None

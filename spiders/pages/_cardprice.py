"""The price shown on a result card, read from the card's text nodes in page order.

Cards print the price as `$12.90`, or draw the currency sign in its own element (`$` then
`58.32` on Shopee, `₩` then `16,592` on Temu); a sign alone is joined to the number after it.
The first price-shaped text wins (the struck-through old price comes after the current one on
these cards). Bounded: only the first `MAX_TEXTS` text nodes of a card are looked at.
"""

from __future__ import annotations

import re

from crawler.prices import Money, parse_price

SIGN = re.compile(r"[$₫฿₱¥€£₩₹]|RM|Rp|NT\$?|R\$|US\s?\$")
MAX_TEXTS = 80


def card_price(texts: list[str], hint: str | None = None) -> Money | None:
    """The first price in `texts` (a card's cleaned, non-empty text nodes)."""
    texts = texts[:MAX_TEXTS]
    for i, text in enumerate(texts):
        if SIGN.fullmatch(text) and i + 1 < len(texts) and re.match(r"\d", texts[i + 1]):
            text = f"{text}{texts[i + 1]}"
        if re.search(r"\d", text) and SIGN.search(text):
            money = parse_price(text, hint)
            if money is not None:
                return money
    return None

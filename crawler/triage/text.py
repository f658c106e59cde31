"""Page text for triage: what a listing page says, bounded, normalised, and the contacts in it.

Everything here reads hostile input: the DOM is capped before parsing, the text after it, and
nothing found is ever executed or shown unescaped by this module's callers.
"""

from __future__ import annotations

import re
import unicodedata

from parsel import Selector

MAX_DOM_BYTES = 4 * 1024 * 1024
MAX_TEXT_CHARS = 50_000
MAX_CONTACTS = 50

_TEXT_XPATH = ("//body//text()[not(ancestor::script) and not(ancestor::style) "
               "and not(ancestor::noscript) and not(ancestor::footer)]")


def page_text(dom: bytes) -> str:
    """The visible text of a page (without scripts, styles, footer), at most MAX_TEXT_CHARS."""
    html = dom[:MAX_DOM_BYTES].decode("utf-8", "replace")
    try:
        parts = Selector(text=html).xpath(_TEXT_XPATH).getall()
    except ValueError:
        return ""
    text = " ".join(" ".join(parts).split())
    return text[:MAX_TEXT_CHARS]


def fold(text: str) -> str:
    """NFKC (fullwidth forms to ASCII), case-folded, runs of space made one."""
    return " ".join(unicodedata.normalize("NFKC", text).casefold().split())


_EMAIL = re.compile(r"(?<![\w.+-])[\w.+-]{1,64}@[A-Za-z0-9-]{1,63}(?:\.[A-Za-z0-9-]{1,63})+")
_PHONE = re.compile(r"(?<![\w+])\+\d[\d \-().]{7,18}\d")
_HANDLE = re.compile(
    r"(?P<kind>whats\s?app|wechat|weixin|微信|telegram|tg|line|viber|signal)"
    r"\s*(?:id|号)?\s*[:：]?\s*(?P<value>\+?\d[\d \-().]{5,20}\d|@?[A-Za-z0-9_.+\-]{3,40})",
    re.IGNORECASE,
)
_SHOP = re.compile(
    r"https?://[A-Za-z0-9.-]{1,100}\.[a-z]{2,12}(?::\d{1,5})?(?:/[\w./%~-]{0,120})?",
    re.IGNORECASE,
)
_KINDS = {"whatsapp": "whatsapp", "whats app": "whatsapp", "wechat": "wechat",
          "weixin": "wechat", "微信": "wechat", "telegram": "telegram", "tg": "telegram",
          "line": "line", "viber": "viber", "signal": "signal"}


def contacts(text: str) -> list[tuple[str, str]]:
    """(kind, normalised value) pairs: email, phone, whatsapp/wechat/telegram... handles and
    shop links, in order of appearance, without repeats, at most MAX_CONTACTS."""
    found: list[tuple[int, str, str]] = []
    for m in _EMAIL.finditer(text):
        found.append((m.start(), "email", m.group(0).lower()))
    for m in _PHONE.finditer(text):
        found.append((m.start(), "phone", "+" + re.sub(r"\D", "", m.group(0))))
    for m in _HANDLE.finditer(text):
        kind = _KINDS.get(m.group("kind").lower().replace("  ", " "), "handle")
        value = m.group("value").lstrip("@").lower()
        if re.fullmatch(r"\+?\d[\d \-().]+", value):  # a number, however written
            value = "+" + re.sub(r"\D", "", value)
        found.append((m.start(), kind, value))
    for m in _SHOP.finditer(text):
        found.append((m.start(), "shop", m.group(0).rstrip("./").lower()))
    out: list[tuple[str, str]] = []
    for _, kind, value in sorted(found):
        if (kind, value) not in out:
            out.append((kind, value))
    return out[:MAX_CONTACTS]

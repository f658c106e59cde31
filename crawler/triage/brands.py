"""Brand names as sellers write them to slip past filters: homoglyphs, spacing, misspellings.

`find_brand(text, "Lumara")` says how the text names the brand:

- `exact`: the name as such (any case);
- `homoglyph`: letters from another script that look the same (Cyrillic `Lumаra` with U+0430,
  Greek `Lυmara`, digits `Lum4ra`/`C0rvane`), fullwidth forms (`ＬＵＭＡＲＡ`), accents added
  (`Lumára`);
- `spaced`: the name broken by spaces, dots, dashes or stars (`L u m a r a`, `Lu-mara`);
- `misspelled`: one edit away (two for names of 8 letters or more: Damerau-Levenshtein),
  such as `Lumora`, `Korvane`, `Nordhavn`;
- None: the brand is not named.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

from crawler.triage.text import fold

# Letters of other scripts (and digits) that pass for Latin letters.
CONFUSABLES = {
    # Cyrillic
    "а": "a", "в": "b", "е": "e", "ё": "e", "к": "k", "м": "m", "н": "h", "о": "o", "р": "p",
    "с": "c", "т": "t", "у": "y", "х": "x", "і": "i", "ї": "i", "ј": "j", "ѕ": "s", "ԁ": "d",
    "ԛ": "q", "ԝ": "w", "һ": "h", "ӏ": "l", "ɡ": "g",
    # Greek
    "α": "a", "β": "b", "γ": "y", "ε": "e", "η": "n", "ι": "i", "κ": "k", "ν": "v", "ο": "o",
    "ρ": "p", "τ": "t", "υ": "u", "χ": "x", "ω": "w", "ϲ": "c", "ζ": "z",
    # Latin look-alikes and digits used as letters
    "ı": "i", "ł": "l", "ø": "o", "0": "o", "1": "l", "3": "e", "4": "a", "5": "s", "7": "t",
    "$": "s", "@": "a", "|": "l",
}
_SEPARATORS = re.compile(r"[\s.\-_*·•'’]+")
_WORD = re.compile(r"[^\W_]+|[$@|]", re.UNICODE)


@dataclass(frozen=True)
class BrandMatch:
    """How a text names a brand."""

    kind: str
    """`exact`, `homoglyph`, `spaced` or `misspelled`."""
    found: str
    """The words as written in the text."""
    distance: int = 0
    """Edits from the brand name (misspellings)."""


def _strip_marks(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


SKELETON_CACHE = 16_384
"""Short texts whose skeleton is remembered (words of listing pages and seller names repeat
from one capture to the next; `find_brand` asks for each word of a page)."""
SKELETON_CACHED_CHARS = 64
"""Longer texts are not remembered (the cache's keys stay small)."""


def skeleton(text: str) -> str:
    """Folded text with look-alike letters mapped to Latin and accents removed."""
    if len(text) <= SKELETON_CACHED_CHARS:
        return _cached_skeleton(text)
    return _skeleton(text)


@lru_cache(maxsize=SKELETON_CACHE)
def _cached_skeleton(text: str) -> str:
    return _skeleton(text)


def _skeleton(text: str) -> str:
    folded = fold(text)
    return _strip_marks("".join(CONFUSABLES.get(ch, ch) for ch in folded))


def distance(a: str, b: str, limit: int = 3) -> int:
    """Damerau-Levenshtein (optimal string alignment) distance, capped at `limit`."""
    if abs(len(a) - len(b)) >= limit:
        return limit
    prev2: list[int] = []
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i] + [0] * len(b)
        for j, cb in enumerate(b, 1):
            cost = 0 if ca == cb else 1
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost)
            if i > 1 and j > 1 and ca == b[j - 2] and a[i - 2] == cb:
                cur[j] = min(cur[j], prev2[j - 2] + 1)
        prev2, prev = prev, cur
    return min(prev[-1], limit)


def _words(text: str) -> list[str]:
    return _WORD.findall(text)


def find_brand(text: str, brand: str) -> BrandMatch | None:
    """How `text` names `brand` (the strongest evasion found first), or None."""
    name = fold(brand)
    name_words = name.split()
    target = "".join(name_words)
    folded = fold(text)
    raw_words = _words(" ".join(text.casefold().split()))  # no NFKC: fullwidth is an evasion
    n = len(name_words)
    exact = any(raw_words[i:i + n] == name_words for i in range(len(raw_words)))
    skel_words = [skeleton(w) for w in raw_words]
    for i in range(len(raw_words) - n + 1):
        if "".join(skel_words[i:i + n]) == target and raw_words[i:i + n] != name_words:
            return BrandMatch("homoglyph", " ".join(raw_words[i:i + n]))
    if exact:
        return BrandMatch("exact", brand)
    spaced = _spaced(folded, target)
    if spaced:
        return BrandMatch("spaced", spaced)
    return _misspelled(raw_words, skel_words, target, len(name_words))


def _spaced(folded: str, target: str) -> str | None:
    """The brand written with separators between its letters (`l u m a r a`, `lu-mara`)."""
    pieces = [p for p in _SEPARATORS.split(folded) if p]
    for i in range(len(pieces)):
        joined = ""
        for j in range(i, min(len(pieces), i + len(target))):
            joined += skeleton(pieces[j])
            if joined == target and j > i:
                return " ".join(pieces[i:j + 1])
            if not target.startswith(joined):
                break
    return None


def _misspelled(raw: list[str], skel: list[str], target: str, n: int) -> BrandMatch | None:
    if len(target) < 5:
        return None
    allowed = 2 if len(target) >= 8 else 1
    for i in range(len(skel) - n + 1):
        candidate = "".join(skel[i:i + n])
        d = distance(candidate, target, allowed + 1)
        if 0 < d <= allowed:
            return BrandMatch("misspelled", " ".join(raw[i:i + n]), d)
    return None

"""Counterfeit and accessory vocabulary: data files per language that users extend.

The package ships `data/vocabulary/<lang>.yaml` (en, zh, es, pt, ru, fr, de, it, tr, ja, ko),
each with a `counterfeit` list (words sellers of fakes use: replica, 高仿, реплика...) and an
`accessory` list (phrases naming a product made *for* the brand: "strap for", 表带...). Files
in the folder named by `TRIAGE_VOCABULARY_DIR` (or `MARKWATCH_TRIAGE_VOCABULARY`) add terms.

A term with letters of an alphabet matches at word boundaries; a term in a script written
without spaces (Chinese, Japanese) matches anywhere. Matching is on folded text (NFKC,
case-folded), so fullwidth `ＲＥＰＬＩＣＡ` is `replica`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import yaml

from crawler.exceptions import ConfigError
from crawler.triage.text import fold

LANGUAGES = ("en", "zh", "es", "pt", "ru", "fr", "de", "it", "tr", "ja", "ko")
MAX_FILE_BYTES = 256 * 1024
MAX_TERMS = 5000
_KINDS = ("counterfeit", "accessory")


@dataclass(frozen=True)
class Term:
    """One vocabulary term."""

    text: str
    kind: str
    """`counterfeit` or `accessory`."""
    language: str
    pattern: re.Pattern[str]


@dataclass(frozen=True)
class Hit:
    """A term found in a text."""

    term: str
    kind: str
    language: str


def _pattern(term: str) -> re.Pattern[str]:
    folded = fold(term)
    body = r"\s+".join(re.escape(word) for word in folded.split())
    spaced = any(unicodedata_is_spaced(ch) for ch in folded)
    if not spaced:
        return re.compile(body)
    return re.compile(rf"(?<![\w]){body}(?![\w+])")


def unicodedata_is_spaced(ch: str) -> bool:
    """True for letters of scripts written with spaces between words (not CJK, kana)."""
    code = ord(ch)
    if 0x2E80 <= code <= 0x9FFF or 0xF900 <= code <= 0xFAFF or 0x3040 <= code <= 0x30FF:
        return False
    if 0xAC00 <= code <= 0xD7AF:  # Hangul: particles attach to words
        return False
    return ch.isalnum()


def parse_file(text: str, source: str) -> list[Term]:
    """The terms of one vocabulary YAML file; ConfigError naming the file and field."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{source}: not valid YAML ({exc})") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: expected a mapping with 'language', 'counterfeit', "
                          "'accessory'")
    unknown = set(data) - {"language", *_KINDS}
    if unknown:
        raise ConfigError(f"{source}: unknown key {sorted(unknown)[0]!r}; expected language, "
                          "counterfeit, accessory")
    language = str(data.get("language") or Path(source).stem)
    terms = []
    for kind in _KINDS:
        values = data.get(kind) or []
        if not isinstance(values, list):
            raise ConfigError(f"{source}: {kind}: expected a list of terms")
        for index, value in enumerate(values):
            if not isinstance(value, str | int | float) or not str(value).strip():
                raise ConfigError(f"{source}: {kind}[{index}]: expected a word or phrase")
            if len(str(value)) > 100:
                raise ConfigError(f"{source}: {kind}[{index}]: longer than 100 characters")
            terms.append(Term(str(value).strip(), kind, language, _pattern(str(value))))
    return terms


class Vocabulary:
    """Every term known, bundled and user-supplied."""

    def __init__(self, terms: list[Term]) -> None:
        if len(terms) > MAX_TERMS:
            raise ConfigError(f"vocabulary: more than {MAX_TERMS} terms")
        self.terms = terms
        # folded once here, not for every text searched; a term's pattern can match only where
        # its first folded word is a substring, so that cheap test runs before the regex
        self._by_kind: dict[str, list[tuple[str, str, Term]]] = {}
        for term in terms:
            key = fold(term.text)
            first = key.split()[0] if key.split() else key
            self._by_kind.setdefault(term.kind, []).append((key, first, term))

    @classmethod
    def load(cls, user_dir: str | Path | None = None) -> Vocabulary:
        terms: list[Term] = []
        folder = resources.files("crawler.triage").joinpath("data", "vocabulary")
        for lang in LANGUAGES:
            terms += parse_file(folder.joinpath(f"{lang}.yaml").read_text("utf-8"),
                                f"{lang}.yaml")
        if user_dir:
            path = Path(user_dir)
            if not path.is_dir():
                raise ConfigError(f"{path}: the vocabulary folder does not exist")
            for file in sorted(path.glob("*.y*ml")):
                if file.stat().st_size > MAX_FILE_BYTES:
                    raise ConfigError(f"{file}: larger than {MAX_FILE_BYTES} bytes")
                terms += parse_file(file.read_text("utf-8"), str(file))
        return cls(terms)

    def find(self, text: str, kind: str) -> list[Hit]:
        """The terms of `kind` in `text` (one hit per distinct term text)."""
        folded = fold(text)
        hits: dict[str, Hit] = {}
        for key, first, term in self._by_kind.get(kind, ()):
            if first in folded and key not in hits and term.pattern.search(folded):
                hits[key] = Hit(term.text, kind, term.language)
        return list(hits.values())

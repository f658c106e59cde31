"""Reading YAML nodes into typed values, every error naming the file, 1-based line and field.

The watchlist and its marketplace recipes are composed into YAML nodes (never constructed into
Python objects first) so every value keeps its line. `NodeReader` turns those nodes into text,
integers, lists and selectors, or raises `WatchlistError` with a plain-words reason. It is kept
apart from `crawler.recipe` (what a recipe holds) and `crawler.watchlist` (what a watchlist
holds) because both read their nodes through it.
"""

from __future__ import annotations

import difflib
from collections.abc import Collection, Iterator

import yaml

from crawler.exceptions import WatchlistError
from crawler.selectors import SelectorSpec, compile_selector

Selectors = tuple[SelectorSpec, ...]
"""One selector or its fallbacks, in order; empty when the slot is not set."""
Entries = dict[str, tuple[yaml.Node, yaml.Node]]
"""A mapping's entries: name -> (key node, value node)."""

_STR = "tag:yaml.org,2002:str"
_INT = "tag:yaml.org,2002:int"
_FLOAT = "tag:yaml.org,2002:float"
_BOOL = "tag:yaml.org,2002:bool"
_NULL = "tag:yaml.org,2002:null"
_TIMESTAMP = "tag:yaml.org,2002:timestamp"
_MERGE = "tag:yaml.org,2002:merge"
_TEXTUAL = frozenset({_STR, _INT, _FLOAT, _TIMESTAMP})
_CONSTRUCTOR = yaml.constructor.SafeConstructor()


# --- YAML node reading ------------------------------------------------------------------


class NodeReader:
    """Reads YAML nodes of one file into typed values; every error names file, line and field."""

    def __init__(self, path: str) -> None:
        self.path = path

    def error(self, node: yaml.Node | None, field: str, message: str) -> WatchlistError:
        """A `WatchlistError` at the node's line (1-based)."""
        line = node.start_mark.line + 1 if node is not None else None
        return WatchlistError(self.path, line, field, message)

    def mapping(
        self,
        node: yaml.Node,
        field: str,
        allowed: Collection[str],
        required: Collection[str] = (),
        what: str = "",
    ) -> Entries:
        """The entries of a mapping as name -> (key node, value node), keys checked."""
        entries = self.entries(node, field, what)
        for name, (key, _value) in entries.items():
            if name not in allowed:
                raise self.error(key, _join(field, name), _unknown_key(name, allowed))
        for name in required:
            if name not in entries or is_null(entries[name][1]):
                where = entries[name][1] if name in entries else node
                raise self.error(where, _join(field, name), f"{what or 'this'} needs '{name}'")
        return entries

    def entries(self, node: yaml.Node, field: str, what: str = "") -> Entries:
        """A mapping's entries, with merge keys (`<<: *anchor`) applied and duplicates refused."""
        if not isinstance(node, yaml.MappingNode):
            expected = f"{what} written as 'key: value' lines" if what else "a set of 'key: value'"
            raise self.error(node, field or "(top level)", f"expected {expected}, {_got(node)}")
        explicit: Entries = {}
        merged: Entries = {}
        for key, value in node.value:
            if key.tag == _MERGE:
                for source in self._merge_sources(value, field):
                    for name, pair in self.entries(source, field, what).items():
                        merged.setdefault(name, pair)
                continue
            name = self.key_name(key, field)
            if name in explicit:
                first = explicit[name][0].start_mark.line + 1
                raise self.error(
                    key, _join(field, name), f"'{name}' is given twice (first on line {first})"
                )
            explicit[name] = (key, value)
        return {**merged, **explicit}

    def _merge_sources(self, value: yaml.Node, field: str) -> Iterator[yaml.Node]:
        if isinstance(value, yaml.SequenceNode):
            yield from value.value
        else:
            yield value

    def key_name(self, key: yaml.Node, field: str) -> str:
        """A mapping key as text (keys must be plain words, not lists or mappings)."""
        if not isinstance(key, yaml.ScalarNode) or key.tag not in _TEXTUAL:
            raise self.error(key, field or "(top level)", "a key must be a plain word")
        return str(key.value)

    def text(self, node: yaml.Node, field: str) -> str:
        """A non-blank piece of text (numbers and dates are taken as written)."""
        if isinstance(node, yaml.ScalarNode):
            if node.tag == _BOOL:
                raise self.error(
                    node,
                    field,
                    f"'{node.value}' was read as yes/no; put it in quotes if it is text",
                )
            if node.tag == _NULL:
                raise self.error(node, field, "is empty; expected some text")
            if node.tag in _TEXTUAL:
                value = str(node.value)
                if not value.strip():
                    raise self.error(node, field, "is blank; expected some text")
                return value
        raise self.error(node, field, f"expected text, {_got(node)}")

    def optional_text(self, node: yaml.Node | None, field: str) -> str | None:
        """Text, or None when the field is absent or empty (`~`, `null` or nothing)."""
        return None if node is None or is_null(node) else self.text(node, field)

    def integer(self, node: yaml.Node, field: str, low: int, high: int) -> int:
        """A whole number in [low, high]."""
        if not (isinstance(node, yaml.ScalarNode) and node.tag == _INT):
            hint = " (without quotes)" if _is_quoted_int(node) else ""
            raise self.error(node, field, f"expected a whole number{hint}, {_got(node)}")
        value = int(_CONSTRUCTOR.construct_object(node))
        if not low <= value <= high:
            raise self.error(node, field, f"must be between {low} and {high}, got {value}")
        return value

    def boolean(self, node: yaml.Node, field: str) -> bool:
        """true or false."""
        if not (isinstance(node, yaml.ScalarNode) and node.tag == _BOOL):
            raise self.error(node, field, f"expected true or false, {_got(node)}")
        return bool(_CONSTRUCTOR.construct_object(node))

    def sequence(self, node: yaml.Node, field: str, what: str = "items") -> list[yaml.Node]:
        """The items of a list."""
        if not isinstance(node, yaml.SequenceNode):
            example = f'["{node.value}"]' if isinstance(node, yaml.ScalarNode) else "[a, b]"
            raise self.error(
                node, field, f"expected a list of {what} such as {example}, {_got(node)}"
            )
        return list(node.value)

    def text_list(
        self, node: yaml.Node, field: str, what: str, *, allow_empty: bool = False
    ) -> tuple[str, ...]:
        """A list of distinct, non-blank texts, whitespace-normalised."""
        items = self.sequence(node, field, what)
        if not items and not allow_empty:
            raise self.error(node, field, f"the list is empty; give at least one of the {what}")
        seen: dict[str, int] = {}
        out: list[str] = []
        for index, item in enumerate(items):
            item_field = f"{field}[{index}]"
            value = " ".join(self.text(item, item_field).split())
            folded = value.casefold()
            if folded in seen:
                raise self.error(
                    item, item_field, f"'{value}' is listed twice (also at {field}[{seen[folded]}])"
                )
            seen[folded] = index
            out.append(value)
        return tuple(out)

    def selectors(self, node: yaml.Node, field: str) -> Selectors:
        """One selector or a list of fallbacks, each compiled."""
        if not isinstance(node, yaml.SequenceNode):
            return (self.selector(node, field),)
        items = node.value
        if not items:
            raise self.error(node, field, "the list of selectors is empty")
        return tuple(self.selector(item, f"{field}[{n}]") for n, item in enumerate(items))

    def selector(self, node: yaml.Node, field: str) -> SelectorSpec:
        text = self.text(node, field)
        try:
            return compile_selector(text)
        except ValueError as exc:
            raise self.error(node, field, f"bad selector '{text}': {exc}") from exc


def is_null(node: yaml.Node) -> bool:
    """True for `~`, `null` or an empty value."""
    return isinstance(node, yaml.ScalarNode) and node.tag == _NULL


def is_bool(node: yaml.Node) -> bool:
    """True for a plain yes/no value (`true`, `false`, unquoted)."""
    return isinstance(node, yaml.ScalarNode) and node.tag == _BOOL


def close_matches(word: str, choices: Collection[str]) -> str:
    """' Did you mean ...?' for a likely typo of one of `choices`, or ''."""
    found = difflib.get_close_matches(word, sorted(choices), n=3, cutoff=0.6)
    if not found:
        lowered = {c.lower(): c for c in choices}
        found = [lowered[word.lower()]] if word.lower() in lowered else []
    return f" Did you mean {' or '.join(repr(f) for f in found)}?" if found else ""


def _unknown_key(name: str, allowed: Collection[str]) -> str:
    expected = ", ".join(allowed)
    return f"unknown key '{name}'.{close_matches(name, allowed)} Expected one of: {expected}"


def _join(field: str, name: str) -> str:
    return f"{field}.{name}" if field else name


def _is_quoted_int(node: yaml.Node) -> bool:
    return isinstance(node, yaml.ScalarNode) and node.tag == _STR and node.value.isdigit()


def _got(node: yaml.Node) -> str:
    """What was found instead, in words."""
    if isinstance(node, yaml.MappingNode):
        return "got a set of 'key: value' lines"
    if isinstance(node, yaml.SequenceNode):
        return "got a list"
    if node.tag == _NULL:
        return "got nothing"
    if node.tag == _STR:
        return f'got the text "{node.value}"'
    if node.tag == _BOOL:
        return f"got {node.value} (read as yes/no)"
    return f"got {node.value}"

"""Limits that keep the generic extraction layers bounded on hostile or huge pages.

Layers 2 and 3 read whatever a page carries, and a page can carry a 50 MB JSON-LD block, JSON
nested ten thousand levels deep or a DOM of a million elements. Every read here is capped: at
most so many bytes of JSON per script, so many scripts, so many nodes walked, so many elements
looked at; past a cap the layer gives what it found so far.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

MAX_JSON_BYTES = 1_000_000
"""A JSON-LD script longer than this is skipped."""
MAX_JSON_SCRIPTS = 30
"""JSON-LD scripts read per page."""
MAX_JSON_NODES = 5_000
"""Objects visited per page while looking for products, offers and item lists."""
MAX_JSON_DEPTH = 12
"""How deep inside one JSON-LD document a product is looked for."""
MAX_HTML_CHARS = 8_000_000
"""Pages longer than this get no DOM heuristics (layer 3)."""
MAX_ELEMENTS = 400
"""Elements examined by one heuristic."""
MAX_TEXT = 400
"""Longest text taken as a title, seller name or price."""


def load_json(text: str) -> Any:
    """`json.loads` within the caps: None for too long, invalid or too deeply nested JSON."""
    if len(text) > MAX_JSON_BYTES:
        return None
    try:
        return json.loads(text, strict=False)
    except (ValueError, RecursionError):
        return None


def walk(data: Any) -> Iterator[dict[str, Any]]:
    """Every object in `data` breadth first (lists and `@graph` flattened), within the caps."""
    queue: list[tuple[Any, int]] = [(data, 0)]
    seen = 0
    while queue and seen < MAX_JSON_NODES:
        item, depth = queue.pop(0)
        seen += 1
        if depth > MAX_JSON_DEPTH:
            continue
        if isinstance(item, list):
            queue.extend((x, depth + 1) for x in item[:MAX_JSON_NODES])
        elif isinstance(item, dict):
            yield item
            for key in ("@graph", "mainEntity", "itemListElement", "item"):
                child = item.get(key)
                if isinstance(child, list | dict):
                    queue.append((child, depth + 1))

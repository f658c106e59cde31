"""A page without its site-specific state: every inline `<script>` that is not JSON-LD removed.

Used to check that the structured-data and heuristic layers still read a page whose embedded
state (`runParams`, `__NEXT_DATA__`, `g_page_config`...) a marketplace dropped or renamed, and
by `markwatch parse --without-state`.
"""

from __future__ import annotations

import re

_SCRIPT = re.compile(r"<script\b([^>]*)>.*?</script\s*>", re.IGNORECASE | re.DOTALL)
_JSONLD = re.compile(r"""type\s*=\s*["']?application/ld\+json""", re.IGNORECASE)


def strip_state(html: str) -> str:
    """`html` with every `<script>` element removed except JSON-LD ones."""
    return _SCRIPT.sub(lambda m: m.group(0) if _JSONLD.search(m.group(1)) else "", html)

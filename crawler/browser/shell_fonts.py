"""What the headless shell needs to draw text as the full browser does.

Chromium's headless shell (`crawler.browser.chromium.HEADLESS_SHELL`) differs from
the full browser in two settings that change how almost every page's text is drawn
(measured on the 64 saved marketplace pages of `tests/pages` with `bench/builds.py`):

- **default fonts**: the full browser reads a default font per generic family (`serif`,
  `sans-serif`, ...) and per script (Japanese, Korean, simplified and traditional Chinese)
  from its locale resources; the shell has none, so a page that names no font, or a generic
  family, is set in whatever fontconfig offers first (a Japanese Amazon page: a serif Latin
  font with CJK fallback instead of Noto Sans CJK JP). `FONT_FAMILIES` holds the full
  browser's Linux defaults; each tab gets them through `Page.setFontFamilies`, which takes
  one family per setting, so a list is resolved here as the browser resolves it (the first
  installed font, else the first named);
- **hinting**: the full browser hints glyphs as fontconfig says (Debian, Ubuntu and Fedora:
  `hintstyle` slight); the shell defaults to full hinting, which moves glyph edges by a
  pixel on most pages. `hinting_switch()` gives the shell fontconfig's setting.

With both, 55 of the 64 pages are drawn pixel for pixel as the full browser draws them (3 more
differ between two runs of the full browser itself); without them 30. docs/fidelity.md.
"""

from __future__ import annotations

import functools
import logging
import re
import shutil
import subprocess
from typing import Any

logger = logging.getLogger(__name__)

HINTING_SWITCH = "--font-render-hinting"
"""The shell's switch for glyph hinting (none, slight, medium or full; its default: full)."""
_HINTSTYLES = {"0": "none", "1": "slight", "2": "medium", "3": "full"}


@functools.lru_cache(maxsize=1)
def hinting_switch() -> str:
    """The shell's hinting switch set as fontconfig's default for sans-serif, which the full
    browser follows (`slight` when fontconfig cannot be asked: Debian's, Ubuntu's, Fedora's)."""
    style = "slight"
    fc_match = shutil.which("fc-match")
    if fc_match is not None:
        try:
            out = subprocess.run([fc_match, "-v", "sans-serif"], capture_output=True,
                                 text=True, timeout=30, check=False).stdout
        except (OSError, subprocess.SubprocessError):
            out = ""
        found = re.search(r"^\s*hintstyle:\s*(\d)", out, re.MULTILINE)
        hinting = re.search(r"^\s*hinting:\s*(\w+)", out, re.MULTILINE)
        if hinting is not None and hinting.group(1) == "False":
            style = "none"
        elif found is not None:
            style = _HINTSTYLES.get(found.group(1), style)
    return f"{HINTING_SWITCH}={style}"

GENERIC_FONTS = {
    "standard": "Times New Roman", "serif": "Times New Roman", "sansSerif": "Arial",
    "fixed": "Monospace", "cursive": "Comic Sans MS", "fantasy": "Impact",
    "math": "Latin Modern Math",
}
"""The full browser's default family per generic family on Linux (names fontconfig maps to
installed fonts: Times New Roman to Liberation Serif, Arial to Liberation Sans, ...)."""

_CJK = (("Jpan", "JP"), ("Hang", "KR"), ("Kore", "KR"), ("Hans", "SC"), ("Hant", "TC"))
SCRIPT_FONTS: dict[str, dict[str, str]] = {
    script: {
        "standard": f"Noto Sans {code},Noto Sans CJK {code},Times New Roman",
        "sansSerif": f"Noto Sans {code},Noto Sans CJK {code},Arial",
        "serif": f"Noto Serif {code},Noto Serif CJK {code},Times New Roman",
        **({"fixed": "Noto Sans Mono CJK JP"} if code == "JP" else {}),
    }
    for script, code in _CJK
}
"""The full browser's per-script defaults on Linux: lists, the first installed font wins."""


@functools.lru_cache(maxsize=1)
def installed_families() -> frozenset[str]:
    """The font family names fontconfig knows (empty when `fc-list` is not installed)."""
    fc_list = shutil.which("fc-list")
    if fc_list is None:
        return frozenset()
    try:
        out = subprocess.run([fc_list, ":", "family"], capture_output=True, text=True,
                             timeout=30, check=False).stdout
    except (OSError, subprocess.SubprocessError) as exc:
        logger.warning("could not list the installed fonts (%s): the headless shell gets "
                       "the first font of each default list", exc)
        return frozenset()
    return frozenset(name.strip() for line in out.splitlines() for name in line.split(",")
                     if name.strip())


def first_available(names: str, installed: frozenset[str]) -> str:
    """The first family of a comma-separated list that is installed, else the first named
    (as the full browser resolves its font settings)."""
    families = [n.strip() for n in names.split(",") if n.strip()]
    return next((f for f in families if f in installed), families[0])


def font_families_params(installed: frozenset[str] | None = None) -> dict[str, Any]:
    """The parameters of `Page.setFontFamilies` giving a tab the full browser's defaults."""
    have = installed_families() if installed is None else installed
    return {
        "fontFamilies": dict(GENERIC_FONTS),
        "forScripts": [
            {"script": script,
             "fontFamilies": {k: first_available(v, have) for k, v in fonts.items()}}
            for script, fonts in SCRIPT_FONTS.items()],
    }

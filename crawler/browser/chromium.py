"""Finding the Chromium to drive: MARKWATCH_CHROMIUM, a system Chromium, or Playwright's own.

Chromium comes in two headless builds. The *full browser* (`chromium --headless`) is the
desktop browser drawing off screen; the *headless shell* (`chromium-headless-shell`, Debian's
package of that name; Playwright's own download launches it for headless runs) is Chromium's
content layer without the browser's windows, tabs and profile machinery. The shell spends
less CPU per page (this project's benchmark, the two alternating: 0.44 against 0.57 CPU s per
capture, 28-31 % more captures per second), but it does not draw every page as a person's
Chrome does: it lacks the browser's per-script default fonts (a Japanese Amazon page drawn
without its styles: a serif Latin font in the shell, Noto Sans CJK JP throughout in the full
browser), and hints glyphs more strongly. Of 64 saved marketplace pages drawn by both, 34
differ, 4 of them in height, against 1-2 between two runs of the same build (`bench/builds.py`,
docs/fidelity.md). markwatch gives the shell the full browser's fonts and hinting
(`crawler.browser.shell_fonts`): then 9-10 of the 64 differ, 3 of which differ between two runs
of the full browser too, and 2 visibly (a refused frame, a text area). A screenshot is evidence of
what a buyer saw, so markwatch prefers the full browser and uses the shell only when it is the
one installed, or named in `MARKWATCH_CHROMIUM`. Every capture's manifest says which build
drew it (`browser.build`).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from crawler.exceptions import ConfigError

SYSTEM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
"""The full browser, run headless: preferred."""
SHELL_NAMES = ("chromium-headless-shell", "chrome-headless-shell")
"""The headless shell: used when no full browser is installed."""
HEADLESS_SHELL = "headless shell"
FULL_BROWSER = "full browser, headless"


def find_chromium(env: dict[str, str] | None = None) -> str | None:
    """The browser executable to launch, or None to let Playwright use its own download.

    Order: `MARKWATCH_CHROMIUM` (must exist), then a system Chromium or Chrome on PATH, then
    a system headless shell on PATH, then None (Playwright's bundled browser, installed by
    `playwright install chromium`; Playwright launches its headless shell for headless runs).
    """
    environ = os.environ if env is None else env
    explicit = environ.get("MARKWATCH_CHROMIUM")
    if explicit:
        path = Path(explicit)
        if not path.is_file() or not os.access(path, os.X_OK):
            raise ConfigError(f"MARKWATCH_CHROMIUM={explicit} is not an executable file")
        return str(path)
    search = environ.get("PATH") if env is not None else None
    for name in SYSTEM_NAMES + SHELL_NAMES:
        found = shutil.which(name, path=search)
        if found:
            return found
    return None


def browser_build(executable: str | None) -> str:
    """Which headless build `executable` is (`HEADLESS_SHELL` or `FULL_BROWSER`), for the
    capture's provenance. None (Playwright's own download) is its headless shell."""
    if executable is None:
        return HEADLESS_SHELL
    name = Path(executable).name.lower()
    if "headless-shell" in name or "headless_shell" in name:
        return HEADLESS_SHELL
    return FULL_BROWSER


def launch_options(base: dict[str, object], executable: str | None) -> dict[str, object]:
    """Playwright launch options with the executable filled in; for the headless shell, its
    glyph hinting set as the full browser's (`crawler.browser.shell_fonts`)."""
    from crawler.browser.shell_fonts import HINTING_SWITCH, hinting_switch

    options = dict(base)
    if executable:
        options["executable_path"] = executable
    if browser_build(executable) == HEADLESS_SHELL:
        args = [str(a) for a in options.get("args") or []]  # type: ignore[attr-defined]
        if not any(a.startswith(HINTING_SWITCH) for a in args):
            options["args"] = [*args, hinting_switch()]
    return options

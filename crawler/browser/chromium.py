"""Finding the Chromium to drive: MARKWATCH_CHROMIUM, a system chromium, or Playwright's own."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from crawler.exceptions import ConfigError

SYSTEM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def find_chromium(env: dict[str, str] | None = None) -> str | None:
    """The browser executable to launch, or None to let Playwright use its own download.

    Order: `MARKWATCH_CHROMIUM` (must exist), then a system Chromium on PATH, then None
    (Playwright's bundled browser, installed by `playwright install chromium`).
    """
    explicit = (os.environ if env is None else env).get("MARKWATCH_CHROMIUM")
    if explicit:
        path = Path(explicit)
        if not path.is_file() or not os.access(path, os.X_OK):
            raise ConfigError(f"MARKWATCH_CHROMIUM={explicit} is not an executable file")
        return str(path)
    for name in SYSTEM_NAMES:
        found = shutil.which(name)
        if found:
            return found
    return None


def launch_options(base: dict[str, object], executable: str | None) -> dict[str, object]:
    """Playwright launch options with the executable filled in."""
    options = dict(base)
    if executable:
        options["executable_path"] = executable
    return options

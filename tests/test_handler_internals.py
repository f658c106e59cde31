"""The scrapy-playwright internals markwatch's download handler builds on
(`crawler.browser.download_handler`): the installed version has them, and a version without
the start hooks leaves `EVIDENCE_BROWSER_EARLY` off (with a warning) instead of failing every
page. No browser is started here."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from scrapy_playwright.handler import ScrapyPlaywrightDownloadHandler

from crawler.browser import download_handler
from crawler.browser.download_handler import has_start_hooks


def test_the_installed_scrapy_playwright_has_every_internal_the_handler_uses() -> None:
    """Fails on a scrapy-playwright that renamed what the handler overrides: the pages would
    still be captured (its own way), but measured figures and docs would no longer hold."""
    assert download_handler.SUPPORTED
    assert download_handler.EARLY_SUPPORTED
    assert has_start_hooks(ScrapyPlaywrightDownloadHandler)


def test_start_hooks_must_all_be_coroutines() -> None:
    class Renamed:
        async def _start(self) -> None: ...
        async def _close(self) -> None: ...
        async def _maybe_launch_browser(self) -> None: ...

    class Synchronous(Renamed):
        def _launch(self) -> None: ...

    class Complete(Renamed):
        async def _launch(self) -> None: ...

    assert not has_start_hooks(Renamed)
    assert not has_start_hooks(Synchronous)
    assert has_start_hooks(Complete)


PROBE = """
import asyncio, json, logging, sys
from scrapy.utils.reactor import install_reactor
install_reactor("twisted.internet.asyncioreactor.AsyncioSelectorReactor")
from scrapy.utils.project import get_project_settings
from scrapy.utils.test import get_crawler
from crawler.browser import download_handler

records = []
logging.getLogger(download_handler.__name__).addHandler(
    type("H", (logging.Handler,), {"emit": lambda self, r: records.append(r.getMessage())})())
download_handler.EARLY_SUPPORTED = sys.argv[1] == "hooks"
settings = get_project_settings()
settings.set("EVIDENCE_BROWSER_EARLY", True)
handler = download_handler.MarkwatchPlaywrightHandler(get_crawler(settings_dict=settings))
if not download_handler.EARLY_SUPPORTED:  # waits for nothing, starts nothing
    asyncio.run(handler._ready())
print(json.dumps({"early": handler.early, "started": handler._started,
                  "starting": handler._starting is not None, "log": records}))
"""


def _probe(hooks: bool) -> dict[str, Any]:
    """A handler made in a fresh interpreter (it needs Scrapy's asyncio reactor installed,
    which this test process must not do), with or without the start hooks."""
    done = subprocess.run([sys.executable, "-c", PROBE, "hooks" if hooks else "none"],
                          capture_output=True, text=True, timeout=120, check=False,
                          cwd=Path(__file__).resolve().parent.parent)
    assert done.returncode == 0, done.stderr[-3000:]
    out: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return out


def test_without_the_start_hooks_the_early_start_is_off_and_said() -> None:
    seen = _probe(hooks=False)
    assert seen["early"] is False
    assert any("EVIDENCE_BROWSER_EARLY is ignored" in line for line in seen["log"])
    assert seen["started"] is False and seen["starting"] is False


def test_with_the_start_hooks_the_early_start_follows_the_setting() -> None:
    seen = _probe(hooks=True)
    assert seen["early"] is True and not seen["log"]

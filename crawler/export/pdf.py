"""Printing HTML reports to PDF with the Chromium markwatch already drives (Playwright).

Why Chromium: it is already a hard dependency (every capture is rendered in it), it works
offline, it prints exactly the HTML report a reader may also open, and it needs no extra
Python package or system library (WeasyPrint needs Pango; ReportLab would mean a second
layout of the same report). The page runs with JavaScript off and every request that is not
a local file aborted, so nothing in a report can reach the network.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from crawler.exceptions import MarkwatchError

__all__ = ["PdfError", "print_pdfs"]


class PdfError(MarkwatchError):
    """A report could not be printed to PDF."""


def _launch_options() -> dict[str, Any]:
    from crawler.browser.chromium import find_chromium, launch_options
    from crawler.settings import PLAYWRIGHT_LAUNCH_OPTIONS

    return launch_options(dict(PLAYWRIGHT_LAUNCH_OPTIONS), find_chromium())


def print_pdfs(jobs: Sequence[tuple[Path, Path]], timeout_ms: float = 60_000) -> None:
    """Print each (HTML file, PDF file) pair, A4 with backgrounds; PdfError on failure."""
    from playwright.sync_api import Error as PlaywrightError
    from playwright.sync_api import Route, sync_playwright

    def local_only(route: Route) -> None:
        if route.request.url.startswith("file:"):
            route.continue_()
        else:
            route.abort()

    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(**_launch_options())
            try:
                context = browser.new_context(java_script_enabled=False, offline=True)
                context.route("**/*", local_only)
                page = context.new_page()
                for html_path, pdf_path in jobs:
                    page.goto(html_path.resolve().as_uri(), wait_until="load",
                              timeout=timeout_ms)
                    page.pdf(path=str(pdf_path), format="A4", print_background=True,
                             prefer_css_page_size=True)
                page.close()
                context.close()
            finally:
                browser.close()
    except PlaywrightError as exc:
        raise PdfError(f"cannot print the PDF report with Chromium: {exc.message}") from exc

"""The portal's test fixtures: a portal serving a store made by real crawls, and Chromium.

A pytest plugin (tests/conftest.py loads it) shared by tests/test_portal.py and
tests/test_portal_casework.py; each module gets its own module-scoped portal. Screenshots of
each page are saved with the test run (under the temporary folder); with
MARKWATCH_UPDATE_DOCS=1 they are saved to docs/portal/ for docs/portal.md instead, so an
ordinary run leaves the repository untouched.
"""

from __future__ import annotations

import json
import os
import tempfile
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, sync_playwright

from crawler.demo import DemoMarketplace
from tests.portal_site import PASSWORD, Site, hostile_catalog, repriced, serving
from tests.tsa_server import TSAServer

SHOTS = (Path(__file__).resolve().parents[1] / "docs" / "portal"
         if os.environ.get("MARKWATCH_UPDATE_DOCS") == "1"
         else Path(tempfile.gettempdir()) / "markwatch-portal-shots")


class Portal:
    def __init__(self, site: Site, base: str, tokens: dict[str, str],
                 a: list[dict[str, Any]], b: list[dict[str, Any]], changed: str) -> None:
        self.site, self.base, self.tokens = site, base, tokens
        self.a, self.b = a, b
        self.changed = changed  # the CASE-A listing whose price changed between the runs

    def api(self, path: str, user: str | None, method: str = "GET",
            body: dict[str, Any] | None = None) -> tuple[int, bytes]:
        headers = {"Content-Type": "application/json"}
        if user:
            headers["Authorization"] = f"Bearer {self.tokens[user]}"
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.base + path, data=data, headers=headers,
                                     method=method)
        try:
            with urllib.request.urlopen(req, timeout=60) as resp:
                return resp.status, resp.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read()


@pytest.fixture(scope="module")
def portal(tmp_path_factory: pytest.TempPathFactory, chromium: str,
           _tsa_session: TSAServer) -> Iterator[Portal]:
    catalog = hostile_catalog()
    with DemoMarketplace(catalog=catalog) as market:
        site = Site(tmp_path_factory.mktemp("portal"), market, _tsa_session)
        assert site.cli("keys", "init", "--path", site.env["MARKWATCH_SEAL_KEY"]).code == 0
        site.crawl("CASE-A", "Lumara", "lumara handbag", 3)
        changed = catalog.search("lumara handbag")[1].listing_id
        market.catalog = repriced(catalog, changed)
        site.crawl("CASE-A", "Lumara", "lumara handbag", 3)
        site.crawl("CASE-B", "Corvane", "corvane watch", 1)
    tokens = {
        "alice": site.user("alice", "investigator", "CASE-A"),
        "vera": site.user("vera", "viewer", "CASE-A"),
        "bob": site.user("bob", "investigator", "CASE-B"),
        "thea": site.user("thea", "viewer", "CASE-A"),
    }
    with serving(site) as base:
        yield Portal(site, base, tokens, site.listings("CASE-A"), site.listings("CASE-B"),
                     changed)


@pytest.fixture(scope="module")
def browser(chromium: str) -> Iterator[Browser]:
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        yield b
        b.close()


def _context(browser: Browser, portal: Portal, user: str) -> BrowserContext:
    context = browser.new_context(accept_downloads=True, viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.goto(portal.base + "/login")
    page.fill("input[name=name]", user)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url("**/cases")
    page.close()
    return context


def _shot(page: Page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"))

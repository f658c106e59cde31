"""The evidence portal, driven in real Chromium against a store made by real crawls.

Screenshots of each page are saved with the test run (under pytest's temporary folder); with
MARKWATCH_UPDATE_DOCS=1 they are saved to docs/portal/ for docs/portal.md instead, so an
ordinary run leaves the repository untouched.
"""

from __future__ import annotations

import csv
import io
import json
import re
import ssl
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser

from crawler.seal import custody
from crawler.seal.keys import load_signer
from storage.local import LocalStore
from tests.portal_fixtures import Portal, _context, _shot
from tests.portal_site import HOSTILE_TITLE, PASSWORD, serving

pytestmark = pytest.mark.browser

def test_legal_journey(portal: Portal, browser: Browser, tmp_path: Path) -> None:
    """Log in, open a case, filter, open a timeline, a capture, its replay; export; custody."""
    login = browser.new_context(viewport={"width": 1000, "height": 500})
    page = login.new_page()
    page.goto(portal.base + "/cases")
    assert "/login" in page.url
    _shot(page, "login")
    login.close()

    context = _context(browser, portal, "alice")
    page = context.new_page()
    page.goto(portal.base + "/cases")
    cases = page.locator("#cases tbody").inner_text()
    assert "CASE-A" in cases and "CASE-B" not in cases
    _shot(page, "cases")
    page.click("text=CASE-A")
    page.wait_for_selector("#listings")

    target = next(m for m in portal.a if m["listing"]["listing_id"] == portal.changed)
    seller, price = target["listing"]["seller_name"], float(target["listing"]["price"])
    page.fill("input[name=seller]", seller)
    page.fill("input[name=price_min]", str(price - 1))
    page.fill("input[name=price_max]", str(price + 1))
    page.click("#apply")
    page.wait_for_load_state()
    rows = page.locator("#listings tbody tr")
    assert rows.count() >= 1
    for i in range(rows.count()):
        assert rows.nth(i).locator("td.seller").inner_text() == seller
    _shot(page, "listings")

    page.locator("#listings td.title a").first.click()
    page.wait_for_selector("#timeline")
    timeline = page.locator("#timeline tbody tr")
    assert timeline.count() == 2  # both runs captured it
    assert "price" in timeline.nth(1).locator("td").nth(6).inner_text()
    assert timeline.nth(1).locator("td.changed").count() >= 1
    _shot(page, "timeline")

    timeline.nth(1).locator("a").first.click()
    page.wait_for_selector("#verdicts")
    capture_id = page.url.rsplit("/", 1)[-1]
    page.wait_for_function("() => { const img = document.getElementById('screenshot');"
                           " return img.complete && img.naturalWidth > 0; }")
    for name in ("integrity", "origin", "time"):
        assert page.locator(f"#verdict-{name} .status").inner_text() == "pass", name
    _shot(page, "capture")

    page.click("#replay")
    frame_el = page.wait_for_selector("#replay-frame")
    frame = frame_el.content_frame()
    assert frame is not None
    frame.wait_for_selector("h1")
    truth = portal.site.market.catalog.get(portal.changed)
    assert frame.locator("h1").first.inner_text() == truth.title
    # its photos too: their payloads are blobs the stored WARC's revisit records name
    frame.wait_for_function("() => [...document.images].some("
                            "i => i.complete && i.naturalWidth > 0)")
    _shot(page, "replay")

    page.goto(portal.base + f"/captures/{capture_id}")
    with page.expect_download() as info:
        page.click("#export")
    bundle = tmp_path / "bundle.zip"
    info.value.save_as(bundle)
    with zipfile.ZipFile(bundle) as zf:
        zf.extractall(tmp_path / "unzipped")
    folder = next((tmp_path / "unzipped").iterdir())
    # the recipient's anchors: the sender's key fingerprint and the TSA's CA, by another channel
    signer = load_signer(portal.site.env["MARKWATCH_SEAL_KEY"])
    tsa_ca = json.loads(portal.site.env["MARKWATCH_SEAL_TSAS"])[0]["ca"]
    verified = subprocess.run([sys.executable, "verify.py", "--trust-key", signer.fingerprint,
                               "--trust-tsa-ca", tsa_ca], cwd=folder, capture_output=True,
                              text=True, timeout=120, check=False)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert re.search(rf"^OK\s+capture {capture_id}$", verified.stdout, re.M)

    page.goto(portal.base + f"/captures/{capture_id}")
    shown = page.locator("#custody").inner_text()
    assert "viewed\tportal:alice" in shown and "exported\tportal:alice" in shown
    log = custody.entries_for(custody.read_log(LocalStore(portal.site.store)), [capture_id])
    by_alice = [(e.event, e.details.get("view")) for e in log if e.actor == "portal:alice"]
    assert ("viewed", "page") in by_alice and ("viewed", "replay") in by_alice
    assert ("exported", None) in by_alice
    context.close()


def test_other_cases_are_out_of_reach(portal: Portal, browser: Browser) -> None:
    """A viewer of CASE-A gets 404 for CASE-B's evidence, pages and API alike."""
    b_id = portal.b[0]["capture_id"]
    a_id = portal.a[0]["capture_id"]
    context = _context(browser, portal, "vera")
    request = context.request
    for path in (f"/captures/{b_id}", f"/captures/{b_id}/screenshot",
                 f"/captures/{b_id}/artifacts/page.warc.gz", f"/captures/{b_id}/replay",
                 "/cases/CASE-B/listings",
                 f"/cases/CASE-B/listings/demo/{portal.b[0]['listing']['listing_id']}"):
        assert request.get(portal.base + path).status == 404, path
    assert request.get(portal.base + f"/captures/{a_id}").status == 200
    # the screenshot only as part of a logged capture view (its URL carries a ticket)
    assert request.get(portal.base + f"/captures/{a_id}/screenshot").status == 404
    page = context.new_page()
    page.goto(portal.base + f"/captures/{a_id}")
    csrf = page.locator("input[name=csrf]").first.get_attribute("value")
    export = request.post(portal.base + "/export",
                          form={"csrf": csrf or "", "capture_id": b_id, "format": "bundle"})
    assert export.status in (403, 404)
    context.close()
    # an investigator of CASE-B cannot export CASE-A's captures either
    bob = _context(browser, portal, "bob")
    page = bob.new_page()
    page.goto(portal.base + f"/captures/{b_id}")
    csrf = page.locator("input[name=csrf]").first.get_attribute("value")
    export = bob.request.post(portal.base + "/export",
                              form={"csrf": csrf or "", "capture_id": a_id, "format": "bundle"})
    assert export.status == 404
    bob.close()
    for path in (f"/api/captures/{b_id}", f"/api/captures/{b_id}/artifacts/page.warc.gz",
                 "/api/cases/CASE-B/listings"):
        assert portal.api(path, "vera")[0] == 404, path
    assert portal.api("/api/export", "vera", "POST", {"capture_ids": [b_id]})[0] in (403, 404)
    assert portal.api("/api/export", "bob", "POST", {"capture_ids": [a_id]})[0] == 404
    status, body = portal.api("/api/cases", "vera")
    assert status == 200 and [c["name"] for c in json.loads(body)["cases"]] == ["CASE-A"]
    assert portal.api("/api/cases", None)[0] == 401


def test_forms_need_their_csrf_token(portal: Portal, browser: Browser) -> None:
    context = _context(browser, portal, "alice")
    a_id = portal.a[0]["capture_id"]
    refused = context.request.post(portal.base + "/export",
                                   form={"capture_id": a_id, "format": "bundle"})
    assert refused.status == 403 and "CSRF" in refused.text()
    wrong = context.request.post(portal.base + "/export",
                                 form={"csrf": "x" * 43, "capture_id": a_id})
    assert wrong.status == 403
    assert context.request.post(portal.base + "/logout", form={}).status == 403
    assert context.request.get(portal.base + "/cases").status == 200  # still signed in
    context.close()


def test_hostile_title_is_shown_as_text(portal: Portal, browser: Browser) -> None:
    context = _context(browser, portal, "alice")
    page = context.new_page()
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.goto(portal.base + "/cases/CASE-A/listings?kind=listing")
    cell = page.locator("#listings td.title", has_text="<script>").first
    assert cell.inner_text() == HOSTILE_TITLE
    assert page.locator("#listings img").count() == 0
    assert page.title() != "pwned"
    cell.locator("a").click()
    page.wait_for_selector("#timeline")
    page.locator("#timeline a").first.click()
    page.wait_for_selector("#title")
    assert page.locator("#title").inner_text() == HOSTILE_TITLE
    assert page.title() != "pwned" and not dialogs
    _shot(page, "hostile-title")
    context.close()


def test_replayed_page_cannot_reach_the_portal(portal: Portal, browser: Browser) -> None:
    context = _context(browser, portal, "alice")
    page = context.new_page()
    page.goto(portal.base + f"/captures/{portal.a[0]['capture_id']}/replay")
    frame = page.wait_for_selector("#replay-frame").content_frame()
    assert frame is not None
    frame.wait_for_selector("h1")
    probe = frame.evaluate("""async (base) => {
        const out = {origin: self.origin};
        try { out.cookie = document.cookie; } catch (e) { out.cookie = 'blocked: ' + e.name; }
        try { localStorage.setItem('x', '1'); out.storage = 'open'; }
        catch (e) { out.storage = 'blocked'; }
        try { const r = await fetch(base + '/api/cases', {credentials: 'include'});
              out.api = r.status; }
        catch (e) { out.api = 'blocked'; }
        try { out.parent = parent.document.cookie; } catch (e) { out.parent = 'blocked'; }
        return out; }""", portal.base)
    assert probe["origin"] == "null"
    assert probe["cookie"] in ("", "blocked: SecurityError")
    assert "mw_session" not in str(probe)
    assert probe["storage"] == "blocked" and probe["api"] == "blocked"
    assert probe["parent"] == "blocked"
    context.close()


def test_login_is_throttled(portal: Portal, browser: Browser) -> None:
    context = browser.new_context()
    page = context.new_page()
    statuses = []
    for password in ["wrong password 1"] * 5 + [PASSWORD]:
        page.goto(portal.base + "/login")
        page.fill("input[name=name]", "thea")
        page.fill("input[name=password]", password)
        with page.expect_response(lambda r: r.url.endswith("/login")
                                  and r.request.method == "POST") as resp:
            page.click("button[type=submit]")
        statuses.append(resp.value.status)
    assert statuses == [401] * 5 + [429]
    assert "too many failed logins" in page.locator("#error").inner_text()
    context.close()


def test_api_and_security_headers(portal: Portal) -> None:
    status, body = portal.api("/api/openapi.json", None)
    assert status == 200 and json.loads(body)["openapi"].startswith("3.")
    with urllib.request.urlopen(portal.base + "/login") as resp:
        csp = resp.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
        assert resp.headers["x-frame-options"] == "DENY"
        assert resp.headers["x-content-type-options"] == "nosniff"
        assert resp.headers["referrer-policy"] == "no-referrer"
    cid = portal.a[0]["capture_id"]
    status, body = portal.api(f"/api/captures/{cid}", "alice")
    data = json.loads(body)
    assert status == 200 and data["manifest"]["capture_id"] == cid
    assert [v["name"] for v in data["verdicts"]] == ["integrity", "origin", "time"]
    listing = portal.api("/api/cases/CASE-A/listings?kind=listing&sort=price&order=asc",
                         "alice")
    prices = [float(r["price"]) for r in json.loads(listing[1])["rows"]]
    assert prices == sorted(prices) and prices
    status, raw = portal.api(f"/api/captures/{cid}/artifacts/listing.json", "alice")
    assert status == 200 and json.loads(raw)


def test_csv_of_the_current_view(portal: Portal, browser: Browser) -> None:
    context = _context(browser, portal, "alice")
    got = context.request.get(portal.base + "/cases/CASE-A/listings?kind=listing&format=csv")
    assert got.status == 200 and got.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(got.text())))
    assert rows[0][:3] == ["capture_id", "started_at", "kind"]
    assert {r[0] for r in rows[1:]} == {m["capture_id"] for m in portal.a}
    assert HOSTILE_TITLE in [r[10] for r in rows[1:]]
    context.close()


def test_wacz_export_through_the_api(portal: Portal, tmp_path: Path) -> None:
    cid = portal.a[0]["capture_id"]
    status, body = portal.api("/api/export", "alice", "POST",
                              {"capture_ids": [cid], "format": "wacz"})
    assert status == 200
    (tmp_path / "x.wacz").write_bytes(body)
    with zipfile.ZipFile(tmp_path / "x.wacz") as zf:
        names = zf.namelist()
    assert "datapackage.json" in names and any(n.endswith(".warc.gz") for n in names)
    assert portal.api("/api/export", "vera", "POST", {"capture_ids": [cid]})[0] == 403


def test_trusted_proxy_header(portal: Portal) -> None:
    with serving(portal.site, "--behind-proxy", "--auth-header", "X-Remote-User") as base:
        req = urllib.request.Request(base + "/cases", headers={"X-Remote-User": "vera"})
        with urllib.request.urlopen(req) as resp:
            page = resp.read().decode()
        assert "CASE-A" in page and "CASE-B" not in page and "vera (viewer)" in page
        req = urllib.request.Request(base + "/cases", headers={"X-Remote-User": "mallory"})
        with urllib.request.urlopen(req) as resp:  # unknown user: sent to sign in
            assert "/login" in resp.url
    # without --auth-header the same header is ignored
    req = urllib.request.Request(portal.base + "/cases", headers={"X-Remote-User": "vera"})
    with urllib.request.urlopen(req) as resp:
        assert "/login" in resp.url


def test_tls_cookies_are_secure(portal: Portal, tmp_path: Path) -> None:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=127.0.0.1", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True, timeout=60)
    context = ssl._create_unverified_context()  # the test's self-signed certificate
    with serving(portal.site, "--tls-cert", str(cert), "--tls-key", str(key),
                 scheme="https") as base:
        with urllib.request.urlopen(base + "/login", context=context) as resp:
            assert resp.headers["strict-transport-security"]
            login_cookie = resp.headers["set-cookie"]
        assert "Secure" in login_cookie and "HttpOnly" in login_cookie
        token = login_cookie.split(";", 1)[0].split("=", 1)[1]
        form = urllib.parse.urlencode({"csrf": token, "name": "alice", "password": PASSWORD})
        req = urllib.request.Request(base + "/login", data=form.encode(), headers={
            "Cookie": f"mw_login={token}", "Content-Type": "application/x-www-form-urlencoded"})
        opener = urllib.request.build_opener(urllib.request.HTTPSHandler(context=context),
                                             _NoRedirect())
        try:
            opener.open(req)
            raise AssertionError("expected a redirect after signing in")
        except urllib.error.HTTPError as exc:
            assert exc.code == 303
            session = exc.headers["set-cookie"]
    assert session.startswith("mw_session=")
    for attribute in ("Secure", "HttpOnly", "SameSite=strict"):
        assert attribute.lower() in session.lower(), attribute


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def test_search_capture_shows_its_results(portal: Portal, browser: Browser) -> None:
    """A search capture's page and API show the results the catalog holds for it (its own
    until a re-parse, `crawler.fields.search_index`), titles from the page shown as text."""
    status, body = portal.api("/api/cases/CASE-A/listings?kind=search", "alice")
    assert status == 200
    cid = json.loads(body)["rows"][0]["capture_id"]
    data = json.loads(portal.api(f"/api/captures/{cid}", "alice")[1])
    own = data["manifest"]["search"]["results"]
    assert own and [(r["position"], r["url"], bool(r["sponsored"]), r["organic_position"])
                    for r in data["results"]] == [
        (r["position"], r["url"], r["sponsored"], r["organic_position"]) for r in own]
    context = _context(browser, portal, "alice")
    page = context.new_page()
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.goto(f"{portal.base}/captures/{cid}")
    page.wait_for_selector("#results")
    assert page.locator("#results tbody tr").count() == len(own)
    titles = page.locator("#results td.title").all_inner_texts()
    assert titles == [r["title"] or r["url"] for r in own]
    assert page.locator("#results img, #results script").count() == 0 and not dialogs
    _shot(page, "search-capture")
    context.close()

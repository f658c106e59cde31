"""The portal's casework views in real Chromium: review queue, deciding, seller clusters,
takedown status and notice packages, over the store of tests/test_portal.py's real crawls."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser

from crawler.seal import custody
from storage.catalog import Catalog
from storage.layout import TRIAGE_DECISIONS
from storage.local import LocalStore
from tests.portal_fixtures import Portal, _context, _shot

pytestmark = pytest.mark.browser


def _store(p: Portal) -> LocalStore:
    return LocalStore(p.site.store)


def _catalog_row(p: Portal, capture_id: str) -> dict[str, Any]:
    with Catalog(p.site.store / "catalog.db") as cat:
        row = cat.get(capture_id)
    assert row is not None
    return row


def _newest(p: Portal, listing_id: str) -> str:
    """The newest capture of a CASE-A listing."""
    return [m for m in p.a if m["listing"]["listing_id"] == listing_id][-1]["capture_id"]


def test_queue_and_deciding(portal: Portal, browser: Browser) -> None:
    """An investigator sees the queue with reasons, decides from the capture page; the
    decision is a store record, a custody entry by portal:alice, and shown on the page."""
    context = _context(browser, portal, "alice")
    page = context.new_page()
    page.goto(portal.base + "/queue")
    rows = page.locator("#queue tbody tr")
    assert rows.count() >= 2
    assert page.locator("#queue td.reasons li").count() >= 1
    text = page.locator("#queue tbody").inner_text()
    assert "CASE-A" in text and "CASE-B" not in text
    scores = [int(s) for s in page.locator("#queue td.score").all_inner_texts()]
    assert scores == sorted(scores, reverse=True)
    _shot(page, "queue")

    page.locator("#queue td.title a").first.click()
    page.wait_for_selector("#decide")
    capture_id = page.url.rsplit("/", 1)[-1].split("#")[0]
    note = "<b>same photo as the fake shop</b>"
    page.check("input[name=verdict][value=counterfeit]")
    page.fill("#decide input[name=note]", note)
    page.click("#decide-submit")
    page.wait_for_selector("#decision")
    assert page.locator("#decision").inner_text() == "counterfeit"
    assert page.locator("#decision-note").inner_text() == note  # shown as text
    assert page.locator("#custody").inner_text().count("portal:alice") >= 1
    _shot(page, "decided")

    store = _store(portal)
    keys = [k for k in store.list_documents(TRIAGE_DECISIONS) if capture_id in k]
    assert len(keys) == 1
    record = json.loads(store.read_document(keys[0]))
    assert (record["verdict"], record["actor"], record["note"]) == (
        "counterfeit", "portal:alice", note)
    decided = [e for e in custody.read_log(store) if e.event == "decided"
               and capture_id in e.capture_ids]
    assert [e.actor for e in decided] == ["portal:alice"]
    # the queue shows the decision; "undecided only" leaves the listing out
    page.goto(portal.base + "/queue?case=CASE-A")
    assert "counterfeit" in page.locator("#queue tbody").inner_text()
    page.goto(portal.base + "/queue?case=CASE-A&undecided=1")
    assert capture_id not in page.content()
    # the JSON twin
    status, body = portal.api("/api/queue?case=CASE-A&min_score=-1000", "alice")
    data = json.loads(body)
    assert status == 200 and data["rows"] and all(r["reasons"] is not None
                                                  for r in data["rows"])
    assert any(r["verdict"] == "counterfeit" for r in data["rows"])
    context.close()


def test_viewer_reads_but_cannot_act(portal: Portal, browser: Browser) -> None:
    """A viewer of CASE-A: no forms, 403 on deciding and takedown, and nothing of CASE-B in
    the queue or the seller clusters."""
    a_id = portal.a[-1]["capture_id"]
    b_ids = {m["listing"]["listing_id"] for m in portal.b}
    context = _context(browser, portal, "vera")
    page = context.new_page()
    page.goto(portal.base + f"/captures/{a_id}")
    assert page.locator("#triage").count() == 1 and page.locator("#decide").count() == 0
    csrf = page.locator("input[name=csrf]").first.get_attribute("value") or ""
    refused = context.request.post(portal.base + f"/captures/{a_id}/decide",
                                   form={"csrf": csrf, "verdict": "genuine"})
    assert refused.status == 403
    for path in ("/takedown/mark-sent", "/takedown/notice"):
        answer = context.request.post(portal.base + path, form={
            "csrf": csrf, "capture_id": a_id, "notifier_name": "V", "notifier_email": "v@x.test"})
        assert answer.status == 403, path
    page.goto(portal.base + "/cases/CASE-A/listings")
    assert page.locator("#takedown-form").count() == 0
    page.goto(portal.base + "/queue")
    assert page.locator("#queue tbody tr").count() >= 1
    text = page.content()
    assert "CASE-B" not in text and not any(f">{b}<" in text for b in b_ids)
    assert context.request.get(portal.base + "/queue?case=CASE-B").status == 404
    page.goto(portal.base + "/clusters")
    page.wait_for_selector("#clusters")
    assert not any(b in page.locator("#clusters").inner_text() for b in b_ids)
    assert page.locator("#clusters section.cluster").count() >= 1
    assert page.locator("#clusters td.evidence").count() >= 1
    _shot(page, "clusters")
    context.close()
    a_ids = {m["listing"]["listing_id"] for m in portal.a}
    for user, mine in (("vera", a_ids), ("bob", b_ids)):
        queue = json.loads(portal.api("/api/queue", user)[1])["rows"]
        assert queue and {r["listing_id"] for r in queue} <= mine
        clusters = json.loads(portal.api("/api/clusters", user)[1])["clusters"]
        shown = {lid for c in clusters for s in c["sellers"] for lid in s["listings"]}
        linked = {x.split(":", 1)[1] for c in clusters for link in c["links"]
                  for x in link.get("listings", [])}
        assert shown <= mine and linked <= mine
        for c in clusters:
            assert len(c["sellers"]) >= 2 and c["links"]
        # CASE-A's sellers form a cluster (shared photos); CASE-B's investigator sees none of it
        assert bool(clusters) == (user == "vera")
    assert portal.api("/api/queue?case=CASE-B", "vera")[0] == 404


def test_takedown_from_the_listings_page(portal: Portal, browser: Browser) -> None:
    """Mark a listing reported from the case's listings page: the timeline shows the status,
    its history and the change record of the price changed between the two crawls; a notice
    package for the selection downloads and names the capture's manifest SHA-256; custody
    entries name portal:alice."""
    listing_id = portal.changed
    capture_id = _newest(portal, listing_id)
    context = _context(browser, portal, "alice")
    page = context.new_page()
    page.goto(portal.base + "/cases/CASE-A/listings?kind=listing")
    page.check(f"#listings input[value='{capture_id}']")
    page.fill("input[name=reference]", "VERO-12345")
    page.click("#mark-sent")
    page.wait_for_selector("#reported")
    page.goto(portal.base + f"/cases/CASE-A/listings/demo/{listing_id}")
    assert page.locator("#takedown-status").count() == 1, page.content()
    assert page.locator("#takedown-status").inner_text() == "reported"
    history = page.locator("#takedown-timeline").inner_text()
    assert "VERO-12345" in history and "portal:alice" in history and "reported" in history
    # the price change between the two crawls (a change record) and both observations
    changed = page.locator("#takedown-timeline tr.change").inner_text()
    assert "changed" in changed and "price" in changed
    assert page.locator("#takedown-timeline tr.capture").count() == 2
    _shot(page, "takedown-timeline")
    timeline = json.loads(portal.api(f"/api/cases/CASE-A/listings/demo/{listing_id}",
                                     "alice")[1])
    assert timeline["takedown"]["status"] == "reported"

    page.goto(portal.base + "/cases/CASE-A/listings?kind=listing")
    page.check(f"#listings input[value='{capture_id}']")
    page.fill("input[name=notifier_name]", "Lumara Legal")
    page.fill("input[name=notifier_email]", "legal@lumara.test")
    with page.expect_download() as info:
        page.click("#prepare-notice")
    data = Path(info.value.path()).read_bytes()
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        names = set(zf.namelist())
        lines = json.loads(zf.read("listings.json"))["listings"]
        notice = zf.read("notice.txt").decode()
    assert {"notice.txt", "listings.csv", "listings.json", "evidence.zip"} <= names
    manifest_sha = _catalog_row(portal, capture_id)["manifest_sha256"]
    assert [(x["listing_id"], x["capture_id"], x["manifest_sha256"]) for x in lines] == [
        (listing_id, capture_id, manifest_sha)]
    assert manifest_sha in notice and "legal@lumara.test" in notice
    log = custody.read_log(_store(portal))
    assert any(e.event == "takedown" and e.actor == "portal:alice"
               and e.details.get("reference") == "VERO-12345" for e in log)
    assert any(e.event == "exported" and e.actor == "portal:alice"
               and capture_id in e.capture_ids for e in log)
    # a second mark-sent of the same listing is refused (reported cannot follow reported)
    page.goto(portal.base + "/cases/CASE-A/listings?kind=listing")
    csrf = page.locator("input[name=csrf]").first.get_attribute("value") or ""
    again = context.request.post(portal.base + "/takedown/mark-sent",
                                 form={"csrf": csrf, "capture_id": capture_id})
    assert again.status == 409
    context.close()

"""End to end: `markwatch crawl` of the demo marketplace in real Chromium, with alert rules
for suspicious listings, delivers to a real webhook receiver and a real SMTP server, and
channels that cannot be reached neither fail the crawl nor hold it up."""

from __future__ import annotations

import dataclasses
import json
from decimal import Decimal
from pathlib import Path

import pytest

from crawler.alerts.outbox import Outbox
from crawler.clock import parse_utc
from crawler.demo import DemoMarketplace
from crawler.demo.data import build_catalog, format_price
from storage.catalog import CaptureQuery, Catalog
from tests.alert_servers import black_hole, closed_port, smtp_server, webhook_receiver
from tests.helpers import run_markwatch

pytestmark = pytest.mark.browser

SECRET = "e2e-hook-secret"
MARKUP = 'Lumara handbag <script>alert("x")</script><img src=x onerror=alert(1)> & more'


def market_with_bargains() -> DemoMarketplace:
    """The demo catalog with the first three 'lumara handbag' hits priced at 45 EUR, far below
    the 900 EUR MSRP (one with markup in its title), and the fourth an ordinary listing at
    the full price, which triage does not flag."""
    catalog = build_catalog()
    hits = [x.listing_id for x in catalog.search("lumara handbag")
            if "case for" not in x.title.lower()][:4]
    listings = []
    for item in catalog.listings:
        if item.listing_id in hits[:3]:
            item = dataclasses.replace(item, currency="EUR", price=Decimal("45.00"),
                                       price_text=format_price(Decimal("45.00"), "EUR"))
            if item.listing_id == hits[1]:
                item = dataclasses.replace(item, title=MARKUP)
        elif item.listing_id == hits[3]:
            item = dataclasses.replace(item, currency="EUR", price=Decimal("1450.00"),
                                       price_text=format_price(Decimal("1450.00"), "EUR"),
                                       title="Lumara handbag", description=("Lumara handbag.",))
        listings.append(item)
    return DemoMarketplace(dataclasses.replace(catalog, listings=tuple(listings)))


def watchlist(hook: str, smtp: int, dead: int, hole: int) -> str:
    return f"""\
version: 1
case: CASE-ALERTS
settings: {{max_pages: 1, max_listings: 4, egress: {{allow: [127.0.0.1]}}}}
brands:
  - name: Lumara
    terms: ["lumara handbag"]
    exclude_terms: ["case for"]
    msrp: {{currency: EUR, min: 900}}
    marketplaces: [demo]
alerts:
  portal_url: "https://portal.example.net"
  channels:
    hook: {{webhook: "{hook}", secret_env: HOOK_SECRET, timeout: 5}}
    mail: {{email: [legal@example.com], smtp: "127.0.0.1:{smtp}", starttls: false,
            from: markwatch@example.com, timeout: 5}}
    closed: {{webhook: "http://127.0.0.1:{dead}/h", secret_env: HOOK_SECRET, timeout: 1,
              retries: 2}}
    silent: {{webhook: "http://127.0.0.1:{hole}/h", secret_env: HOOK_SECRET, timeout: 1,
              retries: 2}}
  rules:
    - {{events: [suspicious_listing], channels: [hook, closed, silent], brands: [Lumara]}}
    - {{events: [suspicious_listing, run_failed, seal_failed], channels: [mail],
        digest: daily}}
"""


def test_crawl_sends_signed_webhooks_and_one_digest(tmp_path: Path, chromium: str) -> None:
    store = tmp_path / "store"
    with market_with_bargains() as market, webhook_receiver(SECRET.encode()) as receiver, \
            smtp_server() as (smtp, inbox), black_hole() as hole:
        (tmp_path / "wl.yaml").write_text(
            watchlist(receiver.url, smtp, closed_port(), hole), encoding="utf-8")
        env = {"MARKWATCH_DEMO_URL": market.base_url, "HOOK_SECRET": SECRET,
               "MARKWATCH_OUTBOX_DIR": str(tmp_path / "outbox")}
        result = run_markwatch(["crawl", "-w", "wl.yaml", "--store", f"file://{store}",
                                "--report-json", "report.json", "--log-level", "WARNING"],
                               cwd=tmp_path, env=env)
        # the unreachable channels changed nothing about the run's outcome
        assert result.code == 0, result.err
        report = json.loads((tmp_path / "report.json").read_text())
        assert report["exit_code"] == 0 and report["counts"]["listings"] == 4
        assert "alerts: 6 delivered, 6 failed" in result.out
        assert SECRET not in result.out + result.err

        with Catalog(store / "catalog.db") as cat:
            flagged = cat.find(CaptureQuery(run_id=report["run_id"], suspicious=True))
        assert len(flagged) == 3
        # one webhook per event, each signed, each naming its capture
        assert len(receiver.requests) == 3 and all(r.signature_ok for r in receiver.requests)
        bodies = [json.loads(r.body) for r in receiver.requests]
        assert {r.event_id for r in receiver.requests} == {b["event_id"] for b in bodies}
        assert sorted((b["listing_id"], b["capture_ids"][0]) for b in bodies) == sorted(
            (row["listing_id"], row["capture_id"]) for row in flagged)
        for body in bodies:
            assert (body["type"], body["brand"], body["case"], body["marketplace"]) == (
                "suspicious_listing", "Lumara", "CASE-ALERTS", "demo")
            assert body["portal_url"] == \
                f"https://portal.example.net/captures/{body['capture_ids'][0]}"
            assert body["listing_url"].startswith(market.base_url + "/item/")
        assert MARKUP in [b["title"] for b in bodies]  # page text as plain JSON data

        # one daily digest e-mail with the three, page markup escaped in its HTML
        assert len(inbox.messages) == 1
        msg = inbox.messages[0]
        assert "daily digest: 3 suspicious listings" in msg["Subject"]
        html_part = msg.get_body(("html",))
        assert html_part is not None
        html = html_part.get_content()
        assert "<script>" not in html and "<img" not in html
        assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&lt;img src=x " \
               "onerror=alert(1)&gt; &amp; more" in html

        # the unreachable channels: kept in the outbox, each bounded by its timeout
        box = Outbox(tmp_path / "outbox")
        waiting = {(e.channel, e.state) for e in box.entries(states=("pending",))}
        assert waiting == {("closed", "pending"), ("silent", "pending")}
        errors = {e.channel: e.last_error for e in box.entries(states=("pending",))
                  if e.last_error}  # one try per unreachable channel; the rest not tried
        assert "connection failed" in errors["closed"] and "after 2 attempts" in errors["closed"]
        assert errors["silent"] == "no answer within the timeout of 1 s (after 2 attempts)"

        # deliveries happened after the crawl had finished, never during it
        finished = parse_utc(report["finished_at"])
        listed = run_markwatch(["alerts", "list", "--store", f"file://{store}",
                                "--format", "json"], cwd=tmp_path, env=env)
        history = json.loads(listed.out)
        assert len(history) == 3
        for event in history:
            assert all(parse_utc(d["at"]) >= finished for d in event["deliveries"])
            assert sorted(d["channel"] for d in event["deliveries"]
                          if d["outcome"] == "delivered") == ["hook", "mail"]

        # a retry later: the delivered are not sent again, the unreachable still wait
        retried = run_markwatch(["alerts", "retry", "-w", "wl.yaml", "--store",
                                 f"file://{store}"], cwd=tmp_path, env=env)
        assert retried.code == 1 and "0 delivered, 6 failed" in retried.out
        assert len(receiver.requests) == 3 and len(inbox.messages) == 1

        # the next crawl captures the same listings again: nothing new to say
        second = run_markwatch(["crawl", "-w", "wl.yaml", "--store", f"file://{store}",
                                "--report-json", "report2.json", "--log-level", "WARNING"],
                               cwd=tmp_path, env=env)
        assert second.code == 0, second.err
        assert json.loads((tmp_path / "report2.json").read_text())["counts"]["listings"] == 4
        assert "alerts: 0 delivered, 6 failed" in second.out
        assert len(receiver.requests) == 3 and len(inbox.messages) == 1

    # the alert history comes back from the store alone
    def history_now() -> list[dict[str, object]]:
        out = run_markwatch(["alerts", "list", "--store", f"file://{store}", "--format",
                             "json"], cwd=tmp_path, env=env)
        assert out.code == 0, out.err
        return list(json.loads(out.out))

    before = history_now()
    for path in store.glob("catalog.db*"):
        path.unlink()
    rebuilt = run_markwatch(["catalog", "rebuild", "--store", f"file://{store}"],
                            cwd=tmp_path, env=env)
    assert rebuilt.code == 0, rebuilt.err
    assert history_now() == before

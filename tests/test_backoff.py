"""Blocks and rate limits: the backoff policy, and real crawls against a local blocking server.

The server on 127.0.0.1 answers search pages with a saved eBay bot wall
(`tests/pages/ebay/blocked-1`), or with HTTP 429 and `Retry-After`. The crawls run the recipe
spider under `scrapy crawl` (unrendered pages, so no browser is needed).
"""

from __future__ import annotations

import gzip
import json
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from spiders.backoff import Backoff, parse_retry_after
from tests.helpers import isolated_env

ROOT = Path(__file__).resolve().parents[1]
SCRAPY = str(Path(sys.executable).with_name("scrapy"))
BLOCKED = gzip.decompress((ROOT / "tests/pages/ebay/blocked-1/page.html.gz").read_bytes())
EMPTY = b"<html><head><title>Results</title></head><body><ul id='results'></ul></body></html>"
RESULTS = (b"<html><head><title>Results</title></head><body><ul id='results'>"
           + b"".join(b"<li><a href='/item/%d'>Lumara bag %d</a></li>" % (n, n)
                      for n in range(1, 6))
           + b"</ul></body></html>")


# -- the policy ---------------------------------------------------------------------------------


def test_delay_grows_exponentially_to_the_cap_and_relaxes() -> None:
    backoff = Backoff(base=0.5, start=2, cap=10, stop_after=4)
    assert [backoff.blocked() for _ in range(4)] == [2, 4, 8, 10]
    assert backoff.exhausted
    assert backoff.passed() == 5 and backoff.consecutive == 0 and not backoff.exhausted
    assert backoff.passed() == 2.5
    assert backoff.passed() == 0.5  # below the first step: back to the configured delay


def test_retry_after_raises_the_delay_and_is_bounded() -> None:
    backoff = Backoff(start=1, cap=100, retry_after_max=60, retry_after_times=2)
    assert backoff.blocked(retry_after=30) == 30
    assert backoff.wait_out(5, attempts=0) and backoff.wait_out(5, attempts=1)
    assert not backoff.wait_out(5, attempts=2)
    assert not backoff.wait_out(3600, attempts=0) and not backoff.wait_out(None, attempts=0)
    assert not Backoff(stop_after=0).exhausted


def test_a_page_passing_does_not_relax_a_retry_after_being_waited_out() -> None:
    # The kiosk recipe crawl once sent a 429'd listing again 0.54 s after `Retry-After: 1`:
    # another listing passed meanwhile and put the slots' delay back to 0.
    backoff = Backoff(base=0, start=5, cap=300)
    assert backoff.hold(1.0, now=100.0) == 1.0
    assert backoff.passed(now=100.5) == 1.0  # still waiting it out
    assert backoff.passed(now=101.0) == 0.0  # waited out: back to the configured delay
    assert Backoff(cap=10).hold(30, now=0) == 30  # a Retry-After above the cap is still honoured


def test_parse_retry_after() -> None:
    assert parse_retry_after(b"120") == 120
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412470.0) == 10
    assert parse_retry_after("soon") is None and parse_retry_after(None) is None


# -- crawls against a blocking server ------------------------------------------------------------


class BlockingSite:
    """Search pages: `ok` gets 429 (Retry-After: 1) once, `always` always 429 with
    Retry-After: 1, `long` 429 with Retry-After: 3600, `list` five listings (`/item/N`, each
    the eBay bot wall), anything else the eBay bot wall."""

    def __init__(self) -> None:
        self.hits: list[tuple[str, float]] = []
        site = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                if parts.path == "/robots.txt":
                    return self._send(200, b"User-agent: *\nAllow: /\n")
                if parts.path.startswith("/item/"):  # a listing: the bot wall
                    site.hits.append((parts.path, time.monotonic()))
                    return self._send(200, BLOCKED)
                term = parse_qs(parts.query).get("k", [""])[0]
                site.hits.append((term, time.monotonic()))
                if term == "list":  # five listings found
                    return self._send(200, RESULTS)
                seen = sum(1 for t, _ in site.hits if t == term)
                if term == "ok":
                    return self._send(429, b"slow down", {"Retry-After": "1"}) if seen == 1 \
                        else self._send(200, EMPTY)
                if term in ("always", "long"):
                    wait = "1" if term == "always" else "3600"
                    return self._send(429, b"slow down", {"Retry-After": wait})
                return self._send(200, BLOCKED)

            def _send(self, status: int, body: bytes,
                      headers: dict[str, str] | None = None) -> None:
                self.send_response(status)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base_url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def times(self, term: str) -> list[float]:
        return [t for name, t in self.hits if name == term]


@pytest.fixture
def site() -> Iterator[BlockingSite]:
    server = BlockingSite()
    yield server
    server.server.shutdown()
    server.server.server_close()


def crawl(tmp_path: Path, site: BlockingSite, terms: list[str],
          **settings: str) -> tuple[dict[str, object], str]:
    watchlist = tmp_path / "watchlist.yaml"
    watchlist.write_text(f"""\
version: 1
settings: {{max_pages: 1, max_listings: 5, egress: {{allow: [127.0.0.1]}}}}
brands:
  - name: Lumara
    terms: {json.dumps(terms)}
    marketplaces: [walled]
marketplaces:
  walled:
    base_url: "{site.base_url}"
    search_url: "{{base_url}}/s?k={{term}}"
    render: false
    search:
      result: "#results li"
      link: "a::attr(href)"
    listing:
      fields:
        title: "h1::text"
        price: ".price::text"
""", encoding="utf-8")
    store = tmp_path / "store"
    args = [SCRAPY, "crawl", "recipe", "-a", f"watchlist={watchlist}", "-a",
            "marketplace=walled", "-s", f"STORAGE_URI=file://{store}", "-s",
            "CONCURRENT_REQUESTS=1", "-s", "DOWNLOAD_DELAY_JITTER=0", "-s", "LOG_LEVEL=INFO"]
    for name, value in settings.items():
        args += ["-s", f"{name}={value}"]
    env = isolated_env()
    done = subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
                          check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    records = list(store.glob("runs/*/walled.json"))
    assert len(records) == 1, done.stderr[-3000:]
    return json.loads(records[0].read_text()), done.stderr


def stat(log: str, key: str) -> int | None:
    found = re.search(rf"'{re.escape(key)}': (\d+)", log)
    return int(found.group(1)) if found else None


def test_blocks_slow_down_then_stop_the_marketplace(tmp_path: Path,
                                                    site: BlockingSite) -> None:
    record, log = crawl(tmp_path, site, ["b1", "b2", "b3", "b4"],
                        BLOCK_BACKOFF_DELAY="1", BLOCK_STOP_AFTER="2",
                        # a small base delay, so the next request leaves after the callback
                        # has seen the block (else it may race out before it)
                        DOWNLOAD_DELAY="0.3")
    counts = record["counts"]
    assert isinstance(counts, dict)
    times = sorted(t for _, t in site.hits)
    # Stopped after 2 blocks in a row: a request waiting in the downloader for its delay when
    # the spider stops is not sent (see the test below), the last term never asked for.
    assert len(times) == 2
    assert counts["blocked"] == len(times) and counts["searches"] == counts["listings"] == 0
    assert record["finish_reason"] == "blocked"
    assert stat(log, "evidence/blocked") == stat(log, "evidence/blocked/bot-wall") == len(times)
    assert times[1] - times[0] >= 0.95  # the delay after the first block
    kinds = {c["kind"] for c in record["captures"]}  # type: ignore[attr-defined]
    assert kinds == {"blocked"}


def test_requests_waiting_when_the_marketplace_stops_are_not_sent(
        tmp_path: Path, site: BlockingSite) -> None:
    # four requests at a time: b1 goes out, b2-b4 wait in the download slot for the delay (b5 in
    # the scheduler until one leaves); b1 blocked sets the delay to 2 s, b2 blocked stops it
    record, log = crawl(tmp_path, site, ["b1", "b2", "b3", "b4", "b5"],
                        BLOCK_BACKOFF_DELAY="2", BLOCK_STOP_AFTER="2", DOWNLOAD_DELAY="0.3",
                        CONCURRENT_REQUESTS="4")
    assert [term for term, _ in site.hits] == ["b1", "b2"]
    assert record["finish_reason"] == "blocked"
    failures = record["failures"]
    assert isinstance(failures, list)
    not_sent = {parse_qs(urlsplit(f["url"]).query)["k"][0] for f in failures}
    assert {"b3", "b4"} <= not_sent <= {"b3", "b4", "b5"}
    for failure in failures:
        assert failure["reason"] == ("IgnoreRequest: not sent: the marketplace stopped after 2 "
                                     "blocked pages in a row")
    assert stat(log, "backoff/dropped") == len(failures)


def test_listings_found_but_not_sent_when_the_marketplace_stops_are_in_the_run_record(
        tmp_path: Path, site: BlockingSite) -> None:
    # one request at a time: the search page finds five listings; the first two sent come back
    # blocked and stop the marketplace; the next waits in the download slot for its delay,
    # the last two are still in the scheduler. None of the three is sent; all are listed.
    record, log = crawl(tmp_path, site, ["list"], BLOCK_BACKOFF_DELAY="2",
                        BLOCK_STOP_AFTER="2", DOWNLOAD_DELAY="0.3")
    asked = [name for name, _ in site.hits]
    assert len(asked) == 3 and asked[0] == "list"  # the listings in Scrapy's order (LIFO)
    assert record["finish_reason"] == "blocked"
    failures = record["failures"]
    assert isinstance(failures, list)
    not_sent = sorted(urlsplit(f["url"]).path for f in failures)
    assert sorted(asked[1:] + not_sent) == [f"/item/{n}" for n in range(1, 6)]
    for failure in failures:
        assert failure["reason"] == ("IgnoreRequest: not sent: the marketplace stopped after 2 "
                                     "blocked pages in a row")
        assert failure["page_kind"] == "listing"
    dropped = stat(log, "backoff/dropped") or 0
    assert dropped + (stat(log, "backoff/not_scheduled") or 0) == 3
    assert stat(log, "backoff/not_scheduled")  # the scheduler's were taken, not lost
    counts = record["counts"]
    assert isinstance(counts, dict)
    assert counts["failures"] == 3 and counts["blocked"] == 2 and counts["searches"] == 1


def test_every_search_the_stopped_marketplace_did_not_make_is_in_the_run_record(
        tmp_path: Path, site: BlockingSite) -> None:
    # one request at a time, forty terms: the first two searches come back blocked and stop
    # the marketplace; the third waits in the download slot, the rest in the scheduler (Scrapy
    # takes every start request into it at once). Each of the 38 is a failure, none is sent.
    terms = [f"b{n}" for n in range(1, 41)]
    record, log = crawl(tmp_path, site, terms, BLOCK_BACKOFF_DELAY="2", BLOCK_STOP_AFTER="2",
                        DOWNLOAD_DELAY="0.3")
    asked = [term for term, _ in site.hits]
    assert asked == ["b1", "b2"]
    failures = record["failures"]
    assert isinstance(failures, list)
    assert sorted(parse_qs(urlsplit(f["url"]).query)["k"][0] for f in failures) == sorted(
        terms[2:])
    for failure in failures:
        assert failure["reason"] == ("IgnoreRequest: not sent: the marketplace stopped after 2 "
                                     "blocked pages in a row")
        assert failure["page_kind"] == "search" and failure["brand"] == "Lumara"
    assert stat(log, "backoff/dropped") == 1 and stat(log, "backoff/not_scheduled") == 37
    counts = record["counts"]
    assert isinstance(counts, dict)
    assert counts["failures"] == 38 and counts["blocked"] == 2


def test_429_retry_after_is_waited_out_or_captured_as_rate_limit(
        tmp_path: Path, site: BlockingSite) -> None:
    record, log = crawl(tmp_path, site, ["ok", "always", "long"], BLOCK_BACKOFF_DELAY="0.2",
                        BLOCK_STOP_AFTER="0", RETRY_AFTER_TIMES="1", RETRY_AFTER_MAX="60")
    first, second = site.times("ok")
    assert second - first >= 0.95  # Retry-After: 1 honoured
    assert len(site.times("always")) == 2  # asked again once, then captured as a block
    assert len(site.times("long")) == 1  # Retry-After beyond RETRY_AFTER_MAX: no waiting
    counts = record["counts"]
    assert isinstance(counts, dict)
    assert counts["searches"] == 1 and counts["blocked"] == 2
    assert stat(log, "backoff/retry_after") == 2
    assert stat(log, "evidence/blocked/rate-limit") == 2
    assert record["finish_reason"] == "finished"

"""The egress policy: what it refuses, what an allow list lets through, and that the recording
proxy and Scrapy's downloader both enforce it where they connect (real servers on loopback
addresses, a real proxy, a real Scrapy crawl in a subprocess)."""

from __future__ import annotations

import asyncio
import ipaddress
import json
import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from scrapy import Request
from scrapy.settings import Settings

from crawler.config import CaptureLimits
from crawler.egress import EgressPolicy, EgressRefused, classify, parse_allow
from crawler.exceptions import ConfigError
from crawler.middlewares.egress import EgressMiddleware, EgressRefusedRequest
from crawler.recording import RecordingProxy
from crawler.recording.proxy import CAPTURE_HEADER, tag_value
from crawler.watchlist import parse_watchlist
from tests.helpers import ROOT, send

# -- the rules ---------------------------------------------------------------------------------

REFUSED = {
    "127.0.0.1": "loopback", "127.8.9.10": "loopback", "::1": "loopback",
    "169.254.169.254": "link-local", "fe80::1": "link-local",
    "10.1.2.3": "private", "172.16.0.1": "private", "172.31.255.255": "private",
    "192.168.1.1": "private", "fd00::1": "private", "fc00::5": "private",
    "100.64.0.1": "shared", "100.127.255.254": "shared",
    "224.0.0.251": "multicast", "ff02::1": "multicast",
    "0.0.0.0": "unspecified", "::": "unspecified",
    "192.0.2.7": "documentation", "2001:db8::1": "documentation",
    "198.18.0.1": "benchmark", "240.0.0.1": "reserved", "255.255.255.255": "reserved",
    "0.1.2.3": "reserved",
    # IPv4 forms inside IPv6: mapped, compatible, 6to4, NAT64
    "::ffff:127.0.0.1": "loopback", "::ffff:169.254.169.254": "link-local",
    "::ffff:10.0.0.1": "private", "::7f00:1": "loopback",
    "2002:a9fe:a9fe::1": "link-local", "2002:7f00:1::": "loopback",
    "64:ff9b::a9fe:a9fe": "link-local", "64:ff9b::10.0.0.1": "private",
}


@pytest.mark.parametrize(("address", "rule"), sorted(REFUSED.items()))
def test_forbidden_ranges_are_refused_by_default(address: str, rule: str) -> None:
    assert classify(ipaddress.ip_address(address)) == rule
    assert EgressPolicy().refusal("h", 80, address) == rule


@pytest.mark.parametrize("address", ["93.184.216.34", "8.8.8.8", "2606:4700::1111",
                                     "::ffff:8.8.8.8", "64:ff9b::808:808"])
def test_public_addresses_pass(address: str) -> None:
    assert EgressPolicy().refusal("h", 443, address) is None


@pytest.mark.parametrize("url", ["file:///etc/passwd", "file:///proc/self/environ",
                                 "ftp://127.0.0.1/x", "data:text/html,<h1>x</h1>",
                                 "s3://bucket/key", "javascript:alert(1)", "gopher://x/",
                                 "http:///nohost"])
def test_only_http_and_https_with_a_host(url: str) -> None:
    with pytest.raises(EgressRefused) as caught:
        EgressPolicy(parse_allow("0.0.0.0/0 ::/0")).check_url(url)
    assert caught.value.rule in ("scheme", "malformed")


def test_an_allow_list_opens_only_what_it_names() -> None:
    policy = EgressPolicy(parse_allow("127.0.0.1:8080, 10.1.0.0/16, [::1]:9000, shop.internal"))
    assert policy.refusal("x", 8080, "127.0.0.1") is None
    assert policy.refusal("x", 8081, "127.0.0.1") == "loopback"  # another port
    assert policy.refusal("x", 8080, "127.0.0.2") == "loopback"  # another address
    assert policy.refusal("x", 8080, "::ffff:127.0.0.1") is None  # the same, mapped
    assert policy.refusal("x", 1, "10.1.200.3") is None
    assert policy.refusal("x", 1, "10.2.0.1") == "private"
    assert policy.refusal("x", 9000, "::1") is None
    assert policy.refusal("shop.internal", 443, "192.168.7.7") is None  # the name allows
    assert policy.refusal("other.internal", 443, "192.168.7.7") == "private"
    assert policy.describe() == ["127.0.0.1:8080", "10.1.0.0/16", "[::1]:9000",
                                 "shop.internal"]


@pytest.mark.parametrize("entry", ["http://x", "10.0.0.0/33", "host:99999", "[::1]x",
                                   "bad_host!"])
def test_a_bad_allow_entry_is_a_config_error(entry: str) -> None:
    with pytest.raises(ConfigError, match="egress allow entry"):
        parse_allow([entry])


def test_a_name_is_checked_by_every_address_it_resolves_to() -> None:
    with pytest.raises(EgressRefused) as caught:
        EgressPolicy().resolve("http://localhost/", "localhost", 80)
    assert caught.value.rule == "loopback"
    policy = EgressPolicy(parse_allow(["localhost"]))
    assert policy.resolve("http://localhost/", "localhost", 80) in ("127.0.0.1", "::1")
    with pytest.raises(EgressRefused, match=r"mixed is 10\.0\.0\.1"):  # one refused refuses all
        EgressPolicy().check_addresses("http://mixed/", "mixed", 80, ["8.8.8.8", "10.0.0.1"])


def test_the_watchlist_takes_an_allow_list_and_names_a_bad_entry() -> None:
    base = "version: 1\nsettings:\n  egress:\n    allow: [{}]\nbrands:\n  - name: B\n" \
           "    terms: [x]\n    marketplaces: [demo]\n"
    wl = parse_watchlist(base.format("127.0.0.1, shop.internal:8443"), "w.yaml", ["demo"])
    assert wl.settings.egress_allow == ("127.0.0.1", "shop.internal:8443")
    with pytest.raises(ConfigError, match=r"w.yaml:4: settings.egress.allow\[1\]"):
        parse_watchlist(base.format("127.0.0.1, 'http://x'"), "w.yaml", ["demo"])


# -- the downloader middleware -----------------------------------------------------------------


class _Stats:
    def __init__(self) -> None:
        self.values: dict[str, int] = {}

    def inc_value(self, key: str, count: int = 1) -> None:
        self.values[key] = self.values.get(key, 0) + count


@pytest.mark.parametrize(("url", "rule"), [("file:///etc/passwd", "scheme"),
                                           ("http://169.254.169.254/latest/", "link-local"),
                                           ("http://127.0.0.2:8080/", "loopback"),
                                           ("http://[::ffff:10.0.0.1]/", "private")])
def test_the_middleware_refuses_before_anything_is_sent(url: str, rule: str) -> None:
    stats = _Stats()
    middleware = EgressMiddleware(EgressPolicy(parse_allow("127.0.0.1")), stats)
    request = Request(url)
    with pytest.raises(EgressRefusedRequest) as caught:
        asyncio.run(middleware.process_request(request))
    assert caught.value.rule == rule
    assert stats.values == {"egress/refused": 1, f"egress/refused/{rule}": 1}
    assert request.meta["markwatch_egress_refused"]["rule"] == rule


def test_scrapy_settings_disable_every_other_download_handler() -> None:
    settings = Settings()
    settings.setmodule("crawler.settings")
    handlers = settings.getdict("DOWNLOAD_HANDLERS")
    assert all(handlers[s] is None for s in ("file", "ftp", "data", "s3"))
    assert settings.getlist("EGRESS_ALLOW") == []  # nothing allowed by default
    assert settings.getdict("DOWNLOADER_MIDDLEWARES")[
        "crawler.middlewares.egress.EgressMiddleware"] < 100  # before robots.txt


# -- the recording proxy -----------------------------------------------------------------------


class _Counting(BaseHTTPRequestHandler):
    """A destination that must never be reached: it counts every request."""

    hits: dict[str, int] = {}

    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        key = f"{self.server.server_address[0]}:{self.server.server_address[1]}"
        _Counting.hits[key] = _Counting.hits.get(key, 0) + 1
        send(self, 200, b"secret", {"Content-Type": "text/plain"})


@pytest.fixture
def servers() -> Iterator[dict[str, str]]:
    """An allowed site on 127.0.0.1, and a 'forbidden' one on 127.0.0.2 (routed to lo)."""
    out, started = {}, []
    for name, address in (("allowed", "127.0.0.1"), ("forbidden", "127.0.0.2")):
        server = ThreadingHTTPServer((address, 0), _Counting)
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, daemon=True).start()
        started.append(server)
        out[name] = f"{address}:{server.server_address[1]}"
    _Counting.hits = {}
    yield out
    for server in started:
        server.shutdown()
        server.server_close()


async def _ask(port: int, lines: list[str]) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(("\r\n".join([*lines, "Connection: close"]) + "\r\n\r\n").encode())
    await writer.drain()
    data = await reader.read()
    writer.close()
    return data


def _get(target: str, token: str, *extra: str) -> list[str]:
    host = target.split("/")[2] if "://" in target else target
    return [f"GET {target} HTTP/1.1", f"Host: {host}",
            f"{CAPTURE_HEADER.decode()}: {tag_value(token)}", *extra]


def test_the_proxy_refuses_forbidden_destinations_and_records_why(
        servers: dict[str, str]) -> None:
    allowed = servers["allowed"]

    async def scenario() -> None:
        policy = EgressPolicy(parse_allow([allowed]))  # that one address and port only
        with RecordingProxy(egress=policy) as proxy:
            session = await proxy.open_tagged_session("cap", CaptureLimits())
            ok = await _ask(session.port, _get(f"http://{allowed}/page", "cap"))
            assert ok.startswith(b"HTTP/1.0 200") and ok.endswith(b"secret")
            for target in (f"http://{servers['forbidden']}/x",  # another loopback address
                           f"http://127.0.0.1:{session.port}/x",  # the proxy itself
                           "http://localhost:1/x"):
                reply = await _ask(session.port, _get(target, "cap"))
                assert reply.startswith(b"HTTP/1.1 403"), reply[:200]
                assert b"egress refused (loopback)" in reply
            upgrade = await _ask(session.port, _get(f"http://{allowed}/ws", "cap",
                                                    "Upgrade: websocket",
                                                    "Connection: Upgrade"))
            assert upgrade.startswith(b"HTTP/1.1 403")
            await proxy.close_session(session)
            assert [x.url for x in session.exchanges] == [f"http://{allowed}/page"]
            assert [r["rule"] for r in session.refused] == ["loopback"] * 3 + ["websocket"]
            session.discard()

    asyncio.run(scenario())
    assert _Counting.hits == {servers["allowed"]: 1}  # nothing else was reached


class _Pinned(EgressPolicy):
    """A policy whose resolver knows one name no DNS server does: if the proxy looked the
    name up again instead of connecting to the address checked, it could not connect."""

    lookups = 0

    def resolve(self, url: str, host: str, port: int) -> str:
        if host == "shop.invalid":
            _Pinned.lookups += 1
            return self.check_addresses(url, host, port, [self.target])
        return super().resolve(url, host, port)

    target = "127.0.0.1"


def test_the_proxy_connects_to_the_address_it_checked(servers: dict[str, str]) -> None:
    port = int(servers["allowed"].rsplit(":", 1)[1])

    async def scenario() -> None:
        with RecordingProxy(egress=_Pinned(parse_allow(["shop.invalid"]))) as proxy:
            session = await proxy.open_tagged_session("cap", CaptureLimits())
            reply = await _ask(session.port, _get(f"http://shop.invalid:{port}/p", "cap"))
            assert reply.endswith(b"secret")
            await proxy.close_session(session)
            assert session.exchanges[0].remote_ip == "127.0.0.1"
            session.discard()

    asyncio.run(scenario())
    assert _Pinned.lookups == 1


def _unprivileged() -> list[str] | None:
    setpriv = shutil.which("setpriv")
    if os.geteuid() != 0 or setpriv is None:
        return None
    return [setpriv, "--reuid=65534", "--regid=65534", "--clear-groups"]


def test_another_users_process_gets_nothing_from_the_proxy(servers: dict[str, str]) -> None:
    prefix = _unprivileged()
    if prefix is None:
        pytest.skip("needs root and setpriv to act as another local user")
    allowed = servers["allowed"]
    probe = ("import socket, sys\n"
             "s = socket.create_connection(('127.0.0.1', int(sys.argv[1])))\n"
             "s.sendall(sys.argv[2].encode())\n"
             "try:\n"
             "    print(repr(s.recv(4096)))\n"
             "except ConnectionResetError:\n"
             "    print('reset')\n")

    async def scenario() -> None:
        with RecordingProxy(egress=EgressPolicy(parse_allow([allowed]))) as proxy:
            session = await proxy.open_tagged_session("cap", CaptureLimits())
            request = "\r\n".join(_get(f"http://{allowed}/p", "cap")) + "\r\n\r\n"
            out = await asyncio.to_thread(
                subprocess.run, [*prefix, sys.executable, "-c", probe, str(session.port),
                                 request], capture_output=True, text=True, timeout=60)
            assert out.stdout.strip() in ("b''", "reset"), out  # closed without a word
            assert proxy.unauthorized == 1
            await proxy.close_session(session)
            assert session.exchanges == []

    asyncio.run(scenario())
    assert _Counting.hits == {}


# -- Scrapy's downloader, unrendered, in a real crawl ------------------------------------------

PROBE = """
import json, sys
import scrapy
from scrapy.crawler import CrawlerProcess
from scrapy.settings import Settings
seen = []
class Probe(scrapy.Spider):
    name = "probe"
    async def start(self):
        for url in json.loads(sys.argv[1]):
            yield scrapy.Request(url, callback=self.ok, errback=self.failed, dont_filter=True)
    def ok(self, response):
        seen.append({"url": response.request.url, "status": response.status,
                     "body": response.text[:40]})
    def failed(self, failure):
        seen.append({"url": failure.request.url, "error": failure.type.__name__,
                     "rule": failure.request.meta.get("markwatch_egress_refused", {}).get("rule")})
settings = Settings()
settings.setmodule("crawler.settings")
settings.setdict({"LOG_LEVEL": "ERROR", "ROBOTSTXT_OBEY": False, "RETRY_ENABLED": False,
                  "EXTENSIONS": {}, "ITEM_PIPELINES": {}, "TELNETCONSOLE_ENABLED": False,
                  **json.loads(sys.argv[2])}, priority="cmdline")
process = CrawlerProcess(settings)
process.crawl(Probe)
process.start()
print("SEEN " + json.dumps(seen))
"""


def _scrapy(urls: list[str], settings: dict[str, object]) -> list[dict[str, object]]:
    out = subprocess.run([sys.executable, "-c", PROBE, json.dumps(urls), json.dumps(settings)],
                         cwd=ROOT, capture_output=True, text=True, timeout=120, check=False)
    line = next((ln for ln in out.stdout.splitlines() if ln.startswith("SEEN ")), None)
    assert line is not None, out.stderr[-3000:]
    return sorted(json.loads(line[5:]), key=lambda r: str(r["url"]))


def test_scrapys_downloader_refuses_what_the_proxy_refuses(servers: dict[str, str]) -> None:
    """Unrendered requests (Scrapy's own HTTP handler) go through the same policy."""
    allowed, forbidden = servers["allowed"], servers["forbidden"]
    seen = _scrapy([f"http://{allowed}/a", f"http://{forbidden}/b", "file:///etc/passwd",
                    "data:text/plain,hello"], {"EGRESS_ALLOW": [allowed]})
    by_url = {r["url"]: r for r in seen}
    assert by_url[f"http://{allowed}/a"]["status"] == 200
    assert by_url[f"http://{forbidden}/b"]["rule"] == "loopback"
    assert by_url["file:///etc/passwd"]["rule"] == "scheme"
    assert by_url["data:text/plain,hello"]["rule"] == "scheme"
    assert _Counting.hits == {allowed: 1}


def test_scrapys_downloader_verifies_tls_with_the_proxys_ca_options(tmp_path: Path) -> None:
    import ssl

    from tests.test_fidelity import self_signed

    cert, key = self_signed(tmp_path)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Counting)
    server.daemon_threads = True
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"https://127.0.0.1:{server.server_address[1]}/tls"
    try:
        strict = _scrapy([url], {"EGRESS_ALLOW": ["127.0.0.1"]})
        trusting = _scrapy([url], {"EGRESS_ALLOW": ["127.0.0.1"],
                                   "EVIDENCE_TLS_CA_FILE": str(cert)})
        unchecked = _scrapy([url], {"EGRESS_ALLOW": ["127.0.0.1"],
                                    "EVIDENCE_TLS_VERIFY": False})
    finally:
        server.shutdown()
        server.server_close()
    assert "error" in strict[0] and strict[0]["rule"] is None  # a TLS failure, not egress
    assert trusting[0]["status"] == 200
    assert unchecked[0]["status"] == 200

"""A real RFC 3161 time-stamping authority on 127.0.0.1 for tests, backed by `openssl ts -reply`.

`make_pki(dir, name)` creates a test CA and a TSA certificate (critical `timeStamping` EKU)
and `TSAServer` answers time-stamp queries, both through the project's own openssl-backed
authority (`crawler/seal/openssl_tsa.py`, also behind the demo TSA). `mode` switches it to
answer 500 or garbage, and `stop()`/`start()` make it refuse connections (TSA down) on the
same port.

Fixtures (`tsa_pki`, `tsa_server`, `rogue_tsa_server`, `dead_tsa_url`) load with
`pytest_plugins = ["tests.tsa_server"]`.
"""

from __future__ import annotations

import shutil
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from crawler.seal.openssl_tsa import TSAHTTPServer, TSAPki, make_tsa_pki

TestPKI = TSAPki


def make_pki(directory: Path, name: str, tsa_key: str = "rsa:2048") -> TestPKI:
    """Create `<name> Test Root CA` (EC P-256) and `<name> TSA` (`tsa_key`) in `directory`.

    `tsa_key` is an `openssl req -newkey` argument: `rsa:2048`, or `ec` for EC P-256.
    """
    return make_tsa_pki(directory, name, ca_subject=f"/O=markwatch tests/CN={name} Test Root CA",
                        tsa_subject=f"/O=markwatch tests/CN={name} TSA", tsa_key=tsa_key,
                        other_policies=("1.3.6.1.4.1.55555.1.2",))


class TSAServer(TSAHTTPServer):
    """The project's TSA with test switches: `mode` is "ok", "500" or "garbage"; `requests`
    counts every POST."""

    def __init__(self, pki: TestPKI) -> None:
        super().__init__(pki)
        self.mode = "ok"
        self.requests = 0

    def answer(self, query: bytes, content_type: str) -> tuple[int, bytes, str]:
        self.requests += 1
        if self.mode == "500":
            return 500, b"TSA broken", "text/plain"
        if self.mode == "garbage":
            return 200, b"\x30\x03\x02\x01\x00garbage", "application/timestamp-reply"
        return super().answer(query, content_type)


def closed_port_url() -> str:
    """A URL on 127.0.0.1 where nothing listens."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/tsr"


@pytest.fixture
def dead_tsa_url() -> str:
    """A TSA URL that refuses connections."""
    return closed_port_url()


@pytest.fixture(scope="session")
def tsa_pki(tmp_path_factory: pytest.TempPathFactory) -> TestPKI:
    """The trusted test PKI (CA + TSA certificate)."""
    if shutil.which("openssl") is None:
        pytest.skip("the openssl CLI is needed for the test TSA")
    return make_pki(tmp_path_factory.mktemp("tsa-pki"), "Trusted")


@pytest.fixture(scope="session")
def _tsa_session(tsa_pki: TestPKI) -> Iterator[TSAServer]:
    server = TSAServer(tsa_pki)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def tsa_server(_tsa_session: TSAServer) -> Iterator[TSAServer]:
    """The trusted TSA, reset to answering normally for each test."""
    _tsa_session.mode = "ok"
    if not _tsa_session.listening:
        _tsa_session.start()
    yield _tsa_session
    _tsa_session.mode = "ok"
    if not _tsa_session.listening:
        _tsa_session.start()


@pytest.fixture(scope="session")
def rogue_tsa_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TSAServer]:
    """A working TSA (EC key) whose CA nobody trusts."""
    if shutil.which("openssl") is None:
        pytest.skip("the openssl CLI is needed for the test TSA")
    server = TSAServer(make_pki(tmp_path_factory.mktemp("rogue-pki"), "Rogue", tsa_key="ec"))
    server.start()
    yield server
    server.stop()

"""A real RFC 3161 time-stamping authority on 127.0.0.1 for tests, backed by `openssl ts -reply`.

`make_pki(dir, name)` creates a test CA and a TSA certificate (critical `timeStamping` EKU)
with the openssl CLI; `TSAServer` answers `application/timestamp-query` POSTs by piping each
query through `openssl ts -reply`. `mode` switches it to answer 500 or garbage, and
`stop()`/`start()` make it refuse connections (TSA down) on the same port.

Fixtures (`tsa_pki`, `tsa_server`, `rogue_tsa_server`, `dead_tsa_url`) load with
`pytest_plugins = ["tests.tsa_server"]`.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

TS_CONFIG = """\
[ tsa ]
default_tsa = tsa_config

[ tsa_config ]
dir = {dir}
serial = $dir/serial
crypto_device = builtin
signer_cert = $dir/tsa.pem
signer_key = $dir/tsa.key
signer_digest = sha256
default_policy = 1.3.6.1.4.1.55555.1.1
other_policies = 1.3.6.1.4.1.55555.1.2
digests = sha256, sha384, sha512
accuracy = secs:1
ordering = yes
tsa_name = yes
ess_cert_id_chain = no
ess_cert_id_alg = sha256
"""

TSA_EXT = """\
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = critical,timeStamping
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
"""


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


@dataclass(frozen=True)
class TestPKI:
    """A test CA and a TSA certificate issued by it, as files in `dir`."""

    __test__ = False
    dir: Path
    name: str

    @property
    def ca_pem(self) -> Path:
        return self.dir / "ca.pem"

    @property
    def tsa_pem(self) -> Path:
        return self.dir / "tsa.pem"

    @property
    def config(self) -> Path:
        return self.dir / "ts.cnf"


def make_pki(directory: Path, name: str, tsa_key: str = "rsa:2048") -> TestPKI:
    """Create `<name> Test Root CA` (EC P-256) and `<name> TSA` (`tsa_key`) in `directory`.

    `tsa_key` is an `openssl req -newkey` argument: `rsa:2048`, or `ec` for EC P-256.
    """
    newkey = ["-newkey", tsa_key]
    if tsa_key == "ec":
        newkey = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"]
    directory.mkdir(parents=True, exist_ok=True)
    _openssl(
        "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
        "-keyout", "ca.key", "-out", "ca.pem", "-days", "3650",
        "-subj", f"/O=markwatch tests/CN={name} Test Root CA",
        "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign",
        cwd=directory,
    )  # fmt: skip
    _openssl(
        "req", "-new", *newkey, "-nodes", "-keyout", "tsa.key", "-out", "tsa.csr",
        "-subj", f"/O=markwatch tests/CN={name} TSA",
        cwd=directory,
    )  # fmt: skip
    (directory / "tsa.ext").write_text(TSA_EXT)
    _openssl(
        "x509", "-req", "-in", "tsa.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
        "-CAcreateserial", "-out", "tsa.pem", "-days", "3650", "-sha256",
        "-extfile", "tsa.ext",
        cwd=directory,
    )  # fmt: skip
    (directory / "serial").write_text("01\n")
    (directory / "ts.cnf").write_text(TS_CONFIG.format(dir=directory))
    return TestPKI(directory, name)


class _Handler(BaseHTTPRequestHandler):
    server: _HTTPServer

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", "0"))
        query = self.rfile.read(length)
        owner = self.server.owner
        owner.requests += 1
        if owner.mode == "500":
            self._reply(500, b"TSA broken", "text/plain")
            return
        if owner.mode == "garbage":
            self._reply(200, b"\x30\x03\x02\x01\x00garbage", "application/timestamp-reply")
            return
        if self.headers.get("Content-Type") != "application/timestamp-query":
            self._reply(400, b"wrong content type", "text/plain")
            return
        self._reply(200, owner.reply(query), "application/timestamp-reply")

    def _reply(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        """Quiet."""


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    owner: TSAServer


class TSAServer:
    """An RFC 3161 TSA over HTTP on 127.0.0.1; `mode` is "ok", "500" or "garbage"."""

    def __init__(self, pki: TestPKI) -> None:
        self.pki = pki
        self.mode = "ok"
        self.requests = 0
        self.port = 0
        self._lock = threading.Lock()
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/tsr"

    def reply(self, query: bytes) -> bytes:
        """Run one query through `openssl ts -reply` (serialised: it updates the serial file)."""
        with self._lock, tempfile.TemporaryDirectory() as tmp:
            qpath = Path(tmp, "q.tsq")
            rpath = Path(tmp, "r.tsr")
            qpath.write_bytes(query)
            _openssl(
                "ts", "-reply", "-config", str(self.pki.config), "-queryfile", str(qpath),
                "-out", str(rpath),
                cwd=self.pki.dir,
            )  # fmt: skip
            return rpath.read_bytes()

    def start(self) -> None:
        """Listen (again, on the same port once one was chosen)."""
        httpd = _HTTPServer(("127.0.0.1", self.port), _Handler)
        httpd.owner = self
        self.port = httpd.server_address[1]
        self._httpd = httpd
        self._thread = threading.Thread(target=httpd.serve_forever, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop listening: connections are refused until `start()`."""
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None


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
    if _tsa_session._httpd is None:
        _tsa_session.start()
    yield _tsa_session
    _tsa_session.mode = "ok"
    if _tsa_session._httpd is None:
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

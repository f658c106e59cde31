"""An RFC 3161 time-stamping authority on 127.0.0.1 backed by the openssl CLI.

Two users share it: the demo's labelled, untrusted TSA (`crawler/demo/tsa.py`) and the test
suite's trusted and rogue TSAs (`tests/tsa_server.py`). `make_tsa_pki` issues a CA and a TSA
certificate (critical `timeStamping` EKU) into a folder; `TSAHTTPServer` answers
`application/timestamp-query` POSTs by piping each query through `openssl ts -reply`, one at a
time (openssl updates the serial file). Nothing here is an authority anyone else should trust.
"""

from __future__ import annotations

import subprocess
import tempfile
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

__all__ = ["MAX_QUERY", "TSAHTTPServer", "TSAPki", "make_tsa_pki"]

MAX_QUERY = 64 * 1024
"""The largest time-stamp query accepted (a real one is under 200 bytes)."""

_TS_CONFIG = """\
[ tsa ]
default_tsa = tsa_config

[ tsa_config ]
dir = {dir}
serial = $dir/serial
crypto_device = builtin
signer_cert = $dir/tsa.pem
signer_key = $dir/tsa.key
signer_digest = sha256
default_policy = {policy}
{other_policies}digests = sha256, sha384, sha512
accuracy = secs:1
ordering = yes
tsa_name = yes
ess_cert_id_chain = no
ess_cert_id_alg = sha256
"""
_TSA_EXT = """\
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = critical,timeStamping
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
"""


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


def _newkey(kind: str) -> list[str]:
    """`openssl req` key arguments: `ec` is P-256, anything else (`rsa:2048`) as given."""
    if kind == "ec":
        return ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"]
    return ["-newkey", kind]


@dataclass(frozen=True)
class TSAPki:
    """A CA and a TSA certificate issued by it, as files in `dir`."""

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


def make_tsa_pki(directory: Path, name: str, *, ca_subject: str, tsa_subject: str,
                 tsa_key: str = "ec", ca_pathlen: int | None = None,
                 policy: str = "1.3.6.1.4.1.55555.1.1",
                 other_policies: Sequence[str] = ()) -> TSAPki:
    """Create the CA (EC P-256) and the TSA certificate (`tsa_key`) in `directory`."""
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    constraints = "critical,CA:TRUE" + (f",pathlen:{ca_pathlen}" if ca_pathlen is not None
                                        else "")
    _openssl(
        "req", "-x509", *_newkey("ec"), "-nodes", "-keyout", "ca.key", "-out", "ca.pem",
        "-days", "3650", "-subj", ca_subject,
        "-addext", f"basicConstraints={constraints}",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign",
        cwd=directory,
    )  # fmt: skip
    _openssl(
        "req", "-new", *_newkey(tsa_key), "-nodes", "-keyout", "tsa.key", "-out", "tsa.csr",
        "-subj", tsa_subject,
        cwd=directory,
    )  # fmt: skip
    (directory / "tsa.ext").write_text(_TSA_EXT)
    _openssl(
        "x509", "-req", "-in", "tsa.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
        "-CAcreateserial", "-out", "tsa.pem", "-days", "3650", "-sha256",
        "-extfile", "tsa.ext",
        cwd=directory,
    )  # fmt: skip
    (directory / "serial").write_text("01\n")
    others = f"other_policies = {', '.join(other_policies)}\n" if other_policies else ""
    (directory / "ts.cnf").write_text(
        _TS_CONFIG.format(dir=directory, policy=policy, other_policies=others))
    return TSAPki(directory, name)


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if not 0 < length <= MAX_QUERY:
            self._reply(400, b"expected a time-stamp query", "text/plain")
            return
        status, body, content_type = self.server.owner.answer(
            self.rfile.read(length), self.headers.get("Content-Type") or "")
        self._reply(status, body, content_type)

    def _reply(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        """Quiet."""


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    owner: TSAHTTPServer


class TSAHTTPServer:
    """An RFC 3161 TSA over HTTP on 127.0.0.1 for `pki`; `start()`/`stop()` on one port."""

    def __init__(self, pki: TSAPki) -> None:
        self.pki = pki
        self.port = 0
        self._lock = threading.Lock()
        self._httpd: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/tsr"

    @property
    def listening(self) -> bool:
        return self._httpd is not None

    def reply(self, query: bytes) -> bytes:
        """Answer one query through `openssl ts -reply` (serialised: it updates the serial)."""
        with self._lock, tempfile.TemporaryDirectory() as tmp:
            qpath, rpath = Path(tmp, "q.tsq"), Path(tmp, "r.tsr")
            qpath.write_bytes(query)
            _openssl("ts", "-reply", "-config", str(self.pki.config), "-queryfile",
                     str(qpath), "-out", str(rpath), cwd=self.pki.dir)
            return rpath.read_bytes()

    def answer(self, query: bytes, content_type: str) -> tuple[int, bytes, str]:
        """The HTTP status, body and content type for one POST (subclasses misbehave here)."""
        if content_type != "application/timestamp-query":
            return 400, b"expected an application/timestamp-query", "text/plain"
        try:
            return 200, self.reply(query), "application/timestamp-reply"
        except (subprocess.SubprocessError, OSError):
            return 500, b"TSA failed", "text/plain"

    def start(self) -> None:
        """Listen (again, on the same port once one was chosen)."""
        httpd = _Server(("127.0.0.1", self.port), _Handler)
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

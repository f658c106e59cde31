"""The demo's own RFC 3161 time-stamping authority on 127.0.0.1: NOT a trusted authority.

`markwatch demo` starts it so a first run shows the whole chain (Merkle root, Ed25519
signature, RFC 3161 token) end to end. Its CA is made once under
`$XDG_CONFIG_HOME/markwatch/demo-tsa/` (openssl CLI) and every name in it says "demo" and
"not a trusted authority", so reports and verify.py print that wherever they name it. A
timestamp from it proves nothing to anyone else; real runs use public or qualified TSAs
(docs/sealing.md).
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType

from crawler.seal.config import default_key_path

__all__ = ["DEMO_TSA_NAME", "DemoTSA", "demo_tsa_dir"]

DEMO_TSA_NAME = "demo TSA, not a trusted authority"
MAX_QUERY = 64 * 1024
_SUBJECT = "/O=markwatch demo (not a trusted authority)/CN=markwatch demo TSA"
_CA_SUBJECT = "/O=markwatch demo (not a trusted authority)/CN=markwatch demo TSA CA"
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
default_policy = 1.3.6.1.4.1.55555.9.1
digests = sha256, sha384, sha512
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


def demo_tsa_dir() -> Path:
    """Where the demo TSA's CA and key live (beside the user's sealing key)."""
    return default_key_path().parent / "demo-tsa"


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


def _make_pki(directory: Path) -> None:
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    _openssl(
        "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
        "-keyout", "ca.key", "-out", "ca.pem", "-days", "3650", "-subj", _CA_SUBJECT,
        "-addext", "basicConstraints=critical,CA:TRUE,pathlen:0",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign",
        cwd=directory,
    )  # fmt: skip
    _openssl(
        "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
        "-keyout", "tsa.key", "-out", "tsa.csr", "-subj", _SUBJECT,
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
    (directory / "ts.cnf").write_text(_TS_CONFIG.format(dir=directory))


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if self.headers.get("Content-Type") != "application/timestamp-query" or not (
                0 < length <= MAX_QUERY):
            self._reply(400, b"expected an application/timestamp-query", "text/plain")
            return
        try:
            body = self.server.owner.reply(self.rfile.read(length))
        except (subprocess.SubprocessError, OSError):
            self._reply(500, b"demo TSA failed", "text/plain")
            return
        self._reply(200, body, "application/timestamp-reply")

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
    owner: DemoTSA


class DemoTSA:
    """`with DemoTSA() as tsa:` an RFC 3161 TSA at `tsa.url`, CA certificate at `tsa.ca_pem`."""

    def __init__(self, directory: Path | None = None) -> None:
        if shutil.which("openssl") is None:
            raise OSError("the demo TSA needs the openssl command (apt-get install openssl)")
        self.dir = directory or demo_tsa_dir()
        if not (self.dir / "ts.cnf").exists():
            _make_pki(self.dir)
        self._lock = threading.Lock()
        self._httpd: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def ca_pem(self) -> Path:
        return self.dir / "ca.pem"

    @property
    def url(self) -> str:
        assert self._httpd is not None
        return f"http://127.0.0.1:{self._httpd.server_address[1]}/tsr"

    def reply(self, query: bytes) -> bytes:
        """Answer one query through `openssl ts -reply` (serialised: it updates the serial)."""
        with self._lock, tempfile.TemporaryDirectory() as tmp:
            qpath, rpath = Path(tmp, "q.tsq"), Path(tmp, "r.tsr")
            qpath.write_bytes(query)
            _openssl("ts", "-reply", "-config", str(self.dir / "ts.cnf"), "-queryfile",
                     str(qpath), "-out", str(rpath), cwd=self.dir)
            return rpath.read_bytes()

    def __enter__(self) -> DemoTSA:
        httpd = _Server(("127.0.0.1", 0), _Handler)
        httpd.owner = self
        self._httpd = httpd
        self._thread = threading.Thread(target=httpd.serve_forever, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

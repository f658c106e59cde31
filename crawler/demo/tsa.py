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
from pathlib import Path
from types import TracebackType

from crawler.seal.config import default_key_path
from crawler.seal.openssl_tsa import TSAHTTPServer, TSAPki, make_tsa_pki

__all__ = ["DEMO_TSA_NAME", "DemoTSA", "demo_tsa_dir"]

DEMO_TSA_NAME = "demo TSA, not a trusted authority"
_SUBJECT = "/O=markwatch demo (not a trusted authority)/CN=markwatch demo TSA"
_CA_SUBJECT = "/O=markwatch demo (not a trusted authority)/CN=markwatch demo TSA CA"


def demo_tsa_dir() -> Path:
    """Where the demo TSA's CA and key live (beside the user's sealing key)."""
    return default_key_path().parent / "demo-tsa"


class DemoTSA(TSAHTTPServer):
    """`with DemoTSA() as tsa:` an RFC 3161 TSA at `tsa.url`, CA certificate at `tsa.ca_pem`."""

    def __init__(self, directory: Path | None = None) -> None:
        if shutil.which("openssl") is None:
            raise OSError("the demo TSA needs the openssl command (apt-get install openssl)")
        directory = directory or demo_tsa_dir()
        if (directory / "ts.cnf").exists():
            pki = TSAPki(directory, DEMO_TSA_NAME)
        else:
            pki = make_tsa_pki(directory, DEMO_TSA_NAME, ca_subject=_CA_SUBJECT,
                               tsa_subject=_SUBJECT, ca_pathlen=0,
                               policy="1.3.6.1.4.1.55555.9.1")
        super().__init__(pki)
        self.dir = directory

    @property
    def ca_pem(self) -> Path:
        return self.pki.ca_pem

    def __enter__(self) -> DemoTSA:
        self.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

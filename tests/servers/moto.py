"""A moto S3 server on a free 127.0.0.1 port, in a thread of the test process."""

from __future__ import annotations

import logging
import time
import urllib.error
import urllib.request
from dataclasses import dataclass

from moto.server import ThreadedMotoServer

from .ceph import free_port

log = logging.getLogger(__name__)


@dataclass
class MotoS3:
    """A running moto server; use as a context manager. Credentials are not checked."""

    access_key: str = "testing"
    secret_key: str = "testing"
    region: str = "us-east-1"
    port: int = 0
    start_seconds: float = 0.0
    _server: ThreadedMotoServer | None = None

    @property
    def endpoint_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> MotoS3:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self, timeout: float = 20.0) -> None:
        began = time.monotonic()
        logging.getLogger("werkzeug").setLevel(logging.WARNING)
        self.port = free_port()
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=self.port, verbose=False)
        self._server.start()
        while True:
            try:
                with urllib.request.urlopen(self.endpoint_url + "/moto-api/", timeout=2):
                    break
            except urllib.error.HTTPError:
                break
            except OSError:
                if time.monotonic() - began > timeout:
                    raise RuntimeError("moto server did not answer in time") from None
                time.sleep(0.05)
        self.start_seconds = time.monotonic() - began
        log.info("moto on %s started in %.2f s", self.endpoint_url, self.start_seconds)

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None

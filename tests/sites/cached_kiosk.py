"""Kiosk with cacheable static assets: validators, `immutable`, and a log of every request.

Each page of `tests.sites.kiosk` also loads a script (`/static/app.js`, an `ETag`), a style
sheet (`/static/site.css`, `Last-Modified`), a font (`/static/face.woff2`, `Cache-Control:
immutable` with a year's `max-age` and an `ETag`), a shared logo (`/static/logo.png`, an
`ETag`: an image, never revalidated) and, from the script, an XHR (`/api/ping`, an `ETag`: data,
never revalidated). The documents carry an `ETag` too. Conditional requests are answered 304
when the validator matches, unless `ignore_validators` (then every answer is a full 200).
`requests` logs (path, Sec-Fetch-Dest, If-None-Match, If-Modified-Since, status).
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass, field
from typing import Any

from tests.sites import kiosk

MODIFIED = "Tue, 01 Dec 2026 10:00:00 GMT"
APP_JS = ("(function(){'use strict';var n=0;" + "n+=1;" * 150
          + "fetch('/api/ping').then(function(r){return r.json();})"
          + ".then(function(d){document.body.dataset.ping=d.ok;});})();\n").encode()
SITE_CSS = ("@font-face{font-family:KioskFace;src:url(/static/face.woff2) format('woff2')}"
            "nav{font-family:KioskFace,sans-serif}"
            + "".join(f".c{n}{{margin:{n}px}}" for n in range(80))).encode()
FONT = bytes(range(256)) * 8
LOGO = kiosk.png("logo", size=24)
PING = ('{"ok":true,"pad":"' + "p" * 700 + '"}').encode()
INJECT = ('<link rel="stylesheet" href="/static/site.css">'
          '<script src="/static/app.js" defer></script>'
          '<img src="/static/logo.png" alt="" width="24" height="24" style="display:none">')
STATIC: dict[str, tuple[bytes, str, dict[str, str]]] = {
    "/static/app.js": (APP_JS, "text/javascript", {"Cache-Control": "no-cache"}),
    "/static/site.css": (SITE_CSS, "text/css", {"Cache-Control": "no-cache",
                                                 "Last-Modified": MODIFIED}),
    "/static/face.woff2": (FONT, "font/woff2",
                           {"Cache-Control": "public, max-age=31536000, immutable"}),
    "/static/logo.png": (LOGO, "image/png", {"Cache-Control": "no-cache"}),
    "/api/ping": (PING, "application/json", {"Cache-Control": "no-cache"}),
}


def etag(body: bytes) -> str:
    return '"' + hashlib.sha256(body).hexdigest()[:16] + '"'


@dataclass
class CachedKiosk(kiosk.Kiosk):
    """The running site; `requests` is every request it answered."""

    ignore_validators: bool = False
    requests: list[dict[str, Any]] = field(default_factory=list)
    _log_lock: threading.Lock = field(default_factory=threading.Lock)

    def __enter__(self) -> CachedKiosk:
        site = self

        class Handler(_Handler):
            kiosk = site

        self._server = kiosk.ThreadingHTTPServer((self.host, 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def log(self, entry: dict[str, Any]) -> None:
        with self._log_lock:
            self.requests.append(entry)

    def of(self, path: str) -> list[dict[str, Any]]:
        with self._log_lock:
            return [r for r in self.requests if r["path"] == path]


class _Handler(kiosk._Handler):
    kiosk: CachedKiosk
    protocol_version = "HTTP/1.1"  # kept-alive connections, as real sites answer

    def do_GET(self) -> None:
        self._status = 0
        try:
            path = self.path.split("?", 1)[0]
            if path in STATIC:
                body, media_type, headers = STATIC[path]
                headers = {**headers, "ETag": etag(body)}
                if not self.kiosk.ignore_validators and self._not_modified(headers):
                    self.send_response(304)
                    self._status = 304
                    for name in ("ETag", "Cache-Control", "Last-Modified"):
                        if name in headers:
                            self.send_header(name, headers[name])
                    self.end_headers()
                    return
                self._send(200, body, media_type, headers)
                return
            super().do_GET()
        finally:
            self.kiosk.log({
                "path": self.path.split("?", 1)[0],
                "dest": self.headers.get("Sec-Fetch-Dest"),
                "if_none_match": self.headers.get("If-None-Match"),
                "if_modified_since": self.headers.get("If-Modified-Since"),
                "status": self._status,
            })

    def _not_modified(self, headers: dict[str, str]) -> bool:
        match = self.headers.get("If-None-Match")
        if match is not None:
            return match == headers["ETag"]
        since = self.headers.get("If-Modified-Since")
        return since is not None and since == headers.get("Last-Modified")

    def _html(self, status: int, text: str) -> None:
        body = text.replace("</head>", INJECT + "</head>", 1).encode("utf-8")
        self._send(status, body, "text/html; charset=utf-8", {"ETag": etag(body)})

    def _send(self, status: int, body: bytes, media_type: str,
              headers: dict[str, str] | None = None) -> None:
        self._status = status
        self.send_response(status)
        self.send_header("Content-Type", media_type)
        self.send_header("Content-Length", str(len(body)))
        headers = dict(headers or {})
        if "Cache-Control" not in headers:
            headers["Cache-Control"] = "no-store"
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

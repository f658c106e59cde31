"""What the scheduler tells supervisors: a health file, and optionally an HTTP endpoint.

The file (JSON, replaced atomically) is rewritten on every tick of the scheduler's loop, so a
supervisor can check `updated_at` (or the file's mtime) as a heartbeat. The endpoint, when asked
for, listens on 127.0.0.1 only and answers `GET /healthz` with the same JSON: 200 while the
heartbeat is fresh, 503 once it is stale or the scheduler is stopping.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)


def write_health(path: Path, data: dict[str, Any]) -> None:
    """Replace the health file atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(data, indent=2, default=str) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def is_healthy(data: dict[str, Any], now: dt.datetime, max_age: float) -> bool:
    """Running, with a heartbeat younger than `max_age` seconds."""
    updated = data.get("updated_at")
    if data.get("status") != "running" or not updated:
        return False
    moment = dt.datetime.fromisoformat(str(updated).replace("Z", "+00:00"))
    return (now - moment).total_seconds() <= max_age


class HealthServer:
    """`GET /healthz` on 127.0.0.1, in a daemon thread."""

    def __init__(self, port: int, snapshot: Callable[[], dict[str, Any]],
                 max_age: float) -> None:
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path.split("?")[0] not in ("/healthz", "/health"):
                    self.send_error(404)
                    return
                data = outer.snapshot()
                ok = is_healthy(data, dt.datetime.now(dt.UTC), outer.max_age)
                body = json.dumps(data, indent=2, default=str).encode()
                self.send_response(200 if ok else 503)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                logger.debug("health: " + format, *args)

        self.snapshot = snapshot
        self.max_age = max_age
        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.port = int(self.server.server_address[1])
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True,
                                        name="markwatch-health")

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

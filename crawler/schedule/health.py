"""What the scheduler tells supervisors: a health file, and optionally an HTTP endpoint.

The file (JSON, replaced atomically) is rewritten on every tick of the scheduler's loop, so a
supervisor can check `updated_at` (or the file's mtime) as a heartbeat. The endpoint, when asked
for, listens on 127.0.0.1 only and answers `GET /healthz`: 200 while the heartbeat is fresh,
503 once it is stale or the scheduler is stopping. It answers only requests whose `Host` is
its own (127.0.0.1, localhost or [::1] with its port, or a name given to it), so a web page
cannot read it through DNS rebinding, and it shows only what monitoring needs
(`public_view`: no process ids, paths or brands).
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


def public_view(data: dict[str, Any], healthy: bool) -> dict[str, Any]:
    """What the endpoint shows: state, heartbeat, counts and each job's timing and outcome."""
    watchlist = data.get("watchlist") or {}
    return {
        "status": data.get("status"),
        "healthy": healthy,
        "started_at": data.get("started_at"),
        "updated_at": data.get("updated_at"),
        "watchlist_error": bool(watchlist.get("reload_error")),
        "counts": data.get("counts", {}),
        "jobs": [{"name": job.get("name"), "next_run": job.get("next_run"),
                  "running": bool(job.get("running")), "waiting": bool(job.get("waiting")),
                  "last_status": (job.get("last") or {}).get("status"),
                  "last_finished_at": (job.get("last") or {}).get("finished_at")}
                 for job in data.get("jobs", [])],
    }


def host_allowed(host: str | None, port: int, names: tuple[str, ...] = ()) -> bool:
    """Whether a request's `Host` names this endpoint (loopback with its port, or `names`)."""
    if not host:
        return False
    host = host.strip().lower()
    own = {f"{name}:{port}" for name in ("127.0.0.1", "localhost", "[::1]")}
    return host in own or host in {n.lower() for n in names}


class HealthServer:
    """`GET /healthz` on 127.0.0.1, in a daemon thread."""

    def __init__(self, port: int, snapshot: Callable[[], dict[str, Any]],
                 max_age: float, hosts: tuple[str, ...] = ()) -> None:
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if not host_allowed(self.headers.get("Host"), outer.port, outer.hosts):
                    self.send_error(421, "Misdirected Request")  # not our name: rebinding?
                    return
                if self.path.split("?")[0] not in ("/healthz", "/health"):
                    self.send_error(404)
                    return
                data = outer.snapshot()
                ok = is_healthy(data, dt.datetime.now(dt.UTC), outer.max_age)
                body = json.dumps(public_view(data, ok), indent=2, default=str).encode()
                self.send_response(200 if ok else 503)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                logger.debug("health: " + format, *args)

        self.snapshot = snapshot
        self.max_age = max_age
        self.hosts = hosts
        """Further `Host` values accepted (a name a supervisor uses, with its port)."""
        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.port = int(self.server.server_address[1])
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True,
                                        name="markwatch-health")

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

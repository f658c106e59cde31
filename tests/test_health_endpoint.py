"""The scheduler's health endpoint answers only its own Host and shows only what monitoring
needs (a real server on 127.0.0.1, raw requests)."""

from __future__ import annotations

import datetime as dt
import json
import socket
from typing import Any

import pytest

from crawler.clock import isoformat
from crawler.schedule.health import HealthServer


def _snapshot() -> dict[str, Any]:
    return {"status": "running", "pid": 4242, "started_at": "2026-01-01T00:00:00Z",
            "updated_at": isoformat(dt.datetime.now(dt.UTC)),
            "watchlist": {"path": "/home/ops/secret-brands.yaml", "sha256": "ab",
                          "loaded_at": None, "reload_error": None},
            "counts": {"runs": 1},
            "jobs": [{"name": "daily", "cron": "0 3 * * *", "brands": ["Lumara"],
                      "next_run": "2026-01-02T03:00:00Z",
                      "running": {"pid": 99, "started_at": "x"}, "waiting": False,
                      "last": {"status": "ok", "run_id": "R", "finished_at": "y"}}]}


@pytest.fixture
def server() -> Any:
    health = HealthServer(0, _snapshot, 60, hosts=("monitor.internal:9999",))
    health.start()
    yield health
    health.stop()


def _get(port: int, host: str | None) -> tuple[int, bytes]:
    lines = ["GET /healthz HTTP/1.1", "Connection: close"]
    if host is not None:
        lines.append(f"Host: {host}")
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split()[1]), body


@pytest.mark.parametrize("host", ["127.0.0.1:{port}", "localhost:{port}", "[::1]:{port}",
                                  "monitor.internal:9999"])
def test_its_own_host_is_answered_with_the_monitoring_view(server: Any, host: str) -> None:
    status, body = _get(server.port, host.format(port=server.port))
    assert status == 200
    data = json.loads(body)
    assert data["status"] == "running" and data["healthy"] is True
    assert data["jobs"] == [{"name": "daily", "next_run": "2026-01-02T03:00:00Z",
                             "running": True, "waiting": False, "last_status": "ok",
                             "last_finished_at": "y"}]
    for secret in (b"4242", b"secret-brands", b"Lumara", b"pid"):
        assert secret not in body


@pytest.mark.parametrize("host", ["evil.example:{port}", "127.0.0.1", "127.0.0.1:1",
                                  "localhost", None, "monitor.internal"])
def test_any_other_host_is_refused(server: Any, host: str | None) -> None:
    status, body = _get(server.port, None if host is None else host.format(port=server.port))
    assert status == 421
    assert b"running" not in body

"""The metrics and health endpoint over real HTTP on 127.0.0.1."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from crawler.frontier.metrics import CAPTURES, MetricsServer
from tests.helpers import MARKWATCH
from tests.servers.redis import RedisServer, free_port


def fetch(url: str, host: str | None = None) -> tuple[int, str]:
    request = urllib.request.Request(url, headers={"Host": host} if host else {})
    try:
        with urllib.request.urlopen(request, timeout=5) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def test_metrics_and_health_of_a_scheduler_snapshot() -> None:
    state: dict[str, Any] = {"status": "running",
                             "updated_at": dt.datetime.now(dt.UTC).isoformat()}
    server = MetricsServer(port=0, snapshot=lambda: state, max_age=30).start()
    base = f"http://127.0.0.1:{server.port}"
    try:
        CAPTURES.labels("unit-market", "listing").inc()
        code, body = fetch(base + "/metrics")
        assert code == 200
        assert 'markwatch_captures_total{kind="listing",marketplace="unit-market"} 1.0' in body
        assert "# TYPE markwatch_frontier_depth gauge" in body
        code, body = fetch(base + "/healthz")
        assert code == 200 and json.loads(body)["status"] == "running"
        state["status"] = "stopping"
        assert fetch(base + "/healthz")[0] == 503
        assert fetch(base + "/metrics", host="attacker.example")[0] == 421
        assert fetch(base + "/nothing")[0] == 404
    finally:
        server.stop()
    assert server.server.server_address[0] == "127.0.0.1"


def test_binds_loopback_by_default() -> None:
    server = MetricsServer()
    try:
        assert server.server.server_address[0] == "127.0.0.1"
    finally:
        server.server.server_close()
    with pytest.raises(OSError):
        MetricsServer(host="203.0.113.7")  # an address this machine does not have


def test_a_looping_worker_is_healthy_while_it_waits(redis_server: RedisServer,
                                                    tmp_path: Path) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("MARKWATCH_", "PROMETHEUS_"))}
    env.update(MARKWATCH_FRONTIER=redis_server.uri)
    proc = subprocess.Popen([MARKWATCH, "worker", "--metrics-port", str(port)], cwd=tmp_path,
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        code, body = 0, ""
        for _ in range(100):
            try:
                code, body = fetch(f"http://127.0.0.1:{port}/healthz")
            except OSError:  # not listening yet
                code = 0
            if code == 200:
                break
            time.sleep(0.2)
        assert code == 200 and json.loads(body)["status"] == "running"
        code, body = fetch(f"http://127.0.0.1:{port}/metrics")
        assert code == 200 and "markwatch_heartbeat_timestamp_seconds" in body
    finally:
        proc.terminate()
        proc.wait(30)

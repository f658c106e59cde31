"""A real Redis (Debian's `redis-server`) for the frontier tests, on 127.0.0.1 and a free port.

The server runs in the foreground as our child with every file under one temporary folder, no
persistence and a password (so the tests also see that a URI's password is never logged). It is
stopped with SIGTERM, then SIGKILL if it does not go.
"""

from __future__ import annotations

import atexit
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

PASSWORD = "markwatch-redis-test-secret"


class RedisStartError(RuntimeError):
    """The test Redis did not come up."""


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def redis_binary() -> str | None:
    return shutil.which("redis-server")


@dataclass
class RedisServer:
    """A running redis-server; use as a context manager."""

    root: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="markwatch-redis-")))
    password: str = PASSWORD
    port: int = 0
    _proc: subprocess.Popen[bytes] | None = None

    @property
    def uri(self) -> str:
        return f"redis://:{self.password}@127.0.0.1:{self.port}/0"

    def __enter__(self) -> RedisServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self, timeout: float = 20.0) -> None:
        binary = redis_binary()
        if binary is None:
            raise RedisStartError("redis-server not found (Debian package redis-server)")
        self.port = free_port()
        conf = self.root / "redis.conf"
        conf.write_text(
            f"bind 127.0.0.1\nport {self.port}\nprotected-mode yes\ndir {self.root}\n"
            f'save ""\nappendonly no\nrequirepass {self.password}\ndaemonize no\n'
            f"logfile {self.root / 'redis.log'}\n", encoding="utf-8")
        atexit.register(self.stop)
        self._proc = subprocess.Popen([binary, str(conf)], stdout=subprocess.DEVNULL,
                                      stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise RedisStartError(f"redis-server exited: {self._log()}")
            if self._ping():
                return
            time.sleep(0.1)
        log = self._log()
        self.stop()
        raise RedisStartError(f"redis-server did not answer in {timeout} s: {log}")

    def _ping(self) -> bool:
        import redis

        try:
            return bool(redis.Redis(host="127.0.0.1", port=self.port, password=self.password,
                                    socket_timeout=1).ping())
        except redis.RedisError:
            return False

    def _log(self) -> str:
        path = self.root / "redis.log"
        return path.read_text(errors="replace")[-2000:] if path.exists() else ""

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)
        shutil.rmtree(self.root, ignore_errors=True)


def ensure_redis() -> str | None:
    """Install Debian's redis-server when missing (scripts/apt-ensure.sh); None when there,
    else why not."""
    if redis_binary() is not None:
        return None
    script = Path(__file__).resolve().parents[2] / "scripts" / "apt-ensure.sh"
    proc = subprocess.run(["bash", str(script), "redis-server", "redis-server"],
                          capture_output=True, text=True, check=False, timeout=900)
    if redis_binary() is not None:
        return None
    return f"redis-server missing and not installable: {proc.stderr.strip()[-500:]}"

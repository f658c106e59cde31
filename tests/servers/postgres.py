"""A real PostgreSQL (Debian's packages) for the catalog tests, on 127.0.0.1 and a free port.

A fresh cluster is made with `initdb` in a temporary folder and run by `pg_ctl` in the
foreground of our process group: listening on 127.0.0.1 only, its unix socket inside the
folder, password (scram-sha-256) authentication for TCP and `fsync=off` for speed. initdb
refuses root, so as root the cluster runs as the unprivileged `postgres` OS user (made by the
Debian package) and the folder is handed to it. `new_database()` gives each test its own
database; the server is stopped with `pg_ctl stop -m immediate` and the folder removed.
"""

from __future__ import annotations

import atexit
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

PASSWORD = "markwatch-pg-test-secret"
USER = "markwatch"


class PostgresStartError(RuntimeError):
    """The test PostgreSQL did not come up."""


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def bindir() -> Path | None:
    """The newest installed PostgreSQL's bin folder (Debian: /usr/lib/postgresql/N/bin)."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"),
                   key=lambda p: int(Path(p).parent.parent.name)
                   if Path(p).parent.parent.name.isdigit() else 0)
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def _run_as() -> tuple[int, int] | None:
    """(uid, gid) to run the server as when we are root; None when we are not root."""
    if os.geteuid() != 0:
        return None
    try:
        entry = pwd.getpwnam("postgres")
    except KeyError as exc:
        raise PostgresStartError("running as root and there is no `postgres` OS user "
                                 "(Debian's postgresql package makes it)") from exc
    return entry.pw_uid, entry.pw_gid


@dataclass
class PostgresServer:
    """A running PostgreSQL cluster; use as a context manager."""

    root: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="markwatch-pg-")))
    user: str = USER
    password: str = field(default=PASSWORD, repr=False)
    port: int = 0
    start_seconds: float = 0.0
    _running: bool = False

    @property
    def data(self) -> Path:
        return self.root / "data"

    def uri(self, database: str = "postgres") -> str:
        """A `postgresql://` URI for `database` on this server (with the password)."""
        return f"postgresql://{self.user}:{self.password}@127.0.0.1:{self.port}/{database}"

    def __enter__(self) -> PostgresServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _cmd(self, args: list[str], timeout: float = 120) -> subprocess.CompletedProcess[str]:
        owner = _run_as()

        def demote() -> None:  # pragma: no cover - runs in the child
            if owner is not None:
                os.setgid(owner[1])
                os.setuid(owner[0])

        return subprocess.run(args, capture_output=True, text=True, check=False,
                              timeout=timeout, preexec_fn=demote if owner else None,
                              cwd=self.root)

    def start(self, timeout: float = 60.0) -> None:
        binaries = bindir()
        if binaries is None:
            raise PostgresStartError("initdb not found (Debian package postgresql)")
        began = time.monotonic()
        owner = _run_as()
        self.root.mkdir(parents=True, exist_ok=True)
        pwfile = self.root / "pwfile"
        pwfile.write_text(self.password + "\n", encoding="utf-8")
        if owner is not None:
            os.chown(self.root, *owner)
            os.chown(pwfile, *owner)
        self.root.chmod(0o700)
        init = self._cmd([str(binaries / "initdb"), "-D", str(self.data), "-U", self.user,
                          f"--pwfile={pwfile}", "-E", "UTF8", "--locale=C.UTF-8",
                          "--auth-local=trust", "--auth-host=scram-sha-256"])
        pwfile.unlink()
        if init.returncode != 0:
            raise PostgresStartError(f"initdb failed: {init.stderr.strip()[-1500:]}")
        self.port = free_port()
        with (self.data / "postgresql.conf").open("a", encoding="utf-8") as conf:
            conf.write(f"\nlisten_addresses = '127.0.0.1'\nport = {self.port}\n"
                       f"unix_socket_directories = '{self.root}'\nfsync = off\n"
                       "synchronous_commit = off\nfull_page_writes = off\n"
                       "max_connections = 200\nshared_buffers = 32MB\n")
        (self.data / "pg_hba.conf").write_text(
            "local all all trust\nhost all all 127.0.0.1/32 scram-sha-256\n", encoding="utf-8")
        atexit.register(self.stop)
        started = self._cmd([str(binaries / "pg_ctl"), "-D", str(self.data), "-l",
                             str(self.root / "postgres.log"), "-w", "-t", str(int(timeout)),
                             "start"], timeout=timeout + 10)
        self._running = True
        if started.returncode != 0:
            log = self._log()
            self.stop()
            raise PostgresStartError(f"pg_ctl start failed: {started.stderr.strip()} {log}")
        self.start_seconds = time.monotonic() - began

    def new_database(self, name: str | None = None) -> str:
        """Create a fresh database and return its URI."""
        import psycopg

        name = name or f"mw_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self.uri(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.uri(name)

    def _log(self) -> str:
        path = self.root / "postgres.log"
        return path.read_text(errors="replace")[-2000:] if path.exists() else ""

    def stop(self) -> None:
        binaries = bindir()
        if self._running and binaries is not None:
            self._running = False
            self._cmd([str(binaries / "pg_ctl"), "-D", str(self.data), "-m", "immediate",
                       "-w", "stop"], timeout=60)
        shutil.rmtree(self.root, ignore_errors=True)


def ensure_postgres() -> str | None:
    """Install Debian's postgresql when missing (scripts/apt-ensure.sh); None when there,
    else why not."""
    if bindir() is None:
        script = Path(__file__).resolve().parents[2] / "scripts" / "apt-ensure.sh"
        # apt-ensure looks for a binary on PATH; Debian keeps initdb off PATH, so ask for
        # pg_config's neighbour `pg_ctlcluster`, which postgresql-common puts on PATH.
        proc = subprocess.run(["bash", str(script), "pg_ctlcluster", "postgresql"],
                              capture_output=True, text=True, check=False, timeout=900)
        if bindir() is None:
            return f"PostgreSQL missing and not installable: {proc.stderr.strip()[-500:]}"
    try:
        _run_as()
    except PostgresStartError as exc:
        return str(exc)
    return None

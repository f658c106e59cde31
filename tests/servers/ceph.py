"""A one-node Ceph RADOS Gateway (mon + memstore osd + radosgw) for the S3 tests.

The smallest Ceph that serves S3: no mgr, no systemd, cephx auth, every path under one
temporary folder, free ports on 127.0.0.1, pools created up front, one S3 user made with
radosgw-admin. Daemons run in the foreground as our children and are stopped with SIGTERM
(rgw, osd, mon), then SIGKILL if they do not go.
"""

from __future__ import annotations

import atexit
import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path

log = logging.getLogger(__name__)

BINARIES = (
    "ceph-mon",
    "ceph-osd",
    "radosgw",
    "radosgw-admin",
    "ceph",
    "ceph-authtool",
    "monmaptool",
)
RGW_POOLS = (
    ".rgw.root",
    "default.rgw.control",
    "default.rgw.meta",
    "default.rgw.log",
    "default.rgw.buckets.index",
    "default.rgw.buckets.data",
    "default.rgw.buckets.non-ec",
)
ACCESS_KEY = "MARKWATCHCEPHTEST01"
SECRET_KEY = "markwatch-ceph-test-secret-0000000000000"


class CephStartError(RuntimeError):
    """The test Ceph cluster did not come up."""


def missing_binaries() -> list[str]:
    """Ceph programs not found on PATH."""
    return [name for name in BINARIES if shutil.which(name) is None]


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class CephRGW:
    """A running one-node Ceph cluster with an S3 gateway; use as a context manager."""

    root: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="markwatch-ceph-")))
    access_key: str = ACCESS_KEY
    secret_key: str = SECRET_KEY
    region: str = "us-east-1"
    mon_port: int = 0
    rgw_port: int = 0
    start_seconds: float = 0.0
    _procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    @property
    def endpoint_url(self) -> str:
        return f"http://127.0.0.1:{self.rgw_port}"

    @property
    def conf(self) -> Path:
        return self.root / "ceph.conf"

    def __enter__(self) -> CephRGW:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def pids(self) -> list[int]:
        """The process ids of the running daemons (mon, osd, rgw)."""
        return [proc.pid for proc in self._procs.values() if proc.poll() is None]

    # -- start -----------------------------------------------------------------------------

    def start(self, timeout: float = 90.0) -> None:
        """Bring up mon, osd and rgw and create the S3 user; raises CephStartError."""
        if missing := missing_binaries():
            raise CephStartError(f"Ceph binaries missing: {', '.join(missing)}")
        began = time.monotonic()
        deadline = began + timeout
        atexit.register(self.stop)  # no daemons left behind if the session is interrupted
        try:
            self._write_conf()
            self._start_mon(deadline)
            self._start_osd(deadline)
            self._create_pools()
            self._start_rgw(deadline)
            self._create_user()
        except BaseException:
            self.stop()
            raise
        self.start_seconds = time.monotonic() - began
        log.info("ceph rgw on %s started in %.1f s", self.endpoint_url, self.start_seconds)

    def _write_conf(self) -> None:
        for sub in ("run", "log", "mon", "osd", "rgw"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        self.mon_port = free_port()
        self.rgw_port = free_port()
        self.fsid = str(uuid.uuid4())
        r = self.root
        self.conf.write_text(
            f"""[global]
fsid = {self.fsid}
mon host = v2:127.0.0.1:{self.mon_port}
public addr = 127.0.0.1
cluster addr = 127.0.0.1
auth cluster required = cephx
auth service required = cephx
auth client required = cephx
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
mon allow pool size one = true
mon warn on pool no redundancy = false
osd crush chooseleaf type = 0
paxos propose interval = 0.05
mon osd reporter subtree level = osd
run dir = {r}/run
pid file = {r}/run/$name.pid
log file = {r}/log/$name.log
admin socket = {r}/run/$name.asok
keyring = {r}/keyring.$name
mon data = {r}/mon/$cluster-$id
osd data = {r}/osd/$cluster-$id
osd objectstore = memstore
memstore device bytes = 2147483648
rgw data = {r}/rgw
[client.rgw.a]
rgw frontends = beast endpoint=127.0.0.1:{self.rgw_port}
rgw enable usage log = false
""",
            encoding="utf-8",
        )

    def _run(self, *args: str, stdin: str | None = None, timeout: float = 60.0) -> str:
        cmd = [*args, "-c", str(self.conf)]
        done = subprocess.run(
            cmd, input=stdin, capture_output=True, text=True, timeout=timeout, check=False
        )
        if done.returncode != 0:
            raise CephStartError(
                f"{' '.join(args[:3])} failed ({done.returncode}): {done.stderr.strip()[-500:]}"
            )
        return done.stdout

    def _ceph(self, *args: str, stdin: str | None = None) -> str:
        return self._run("ceph", "-n", "client.admin", *args, stdin=stdin)

    def _spawn(self, name: str, *args: str) -> None:
        logfile = (self.root / "log" / f"{name}.out").open("wb")
        self._procs[name] = subprocess.Popen(
            [*args, "-f", "-c", str(self.conf)],
            stdout=logfile,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        logfile.close()

    def _check_alive(self, name: str) -> None:
        proc = self._procs[name]
        if proc.poll() is not None:
            out = (self.root / "log" / f"{name}.out").read_text(errors="replace")[-800:]
            raise CephStartError(f"{name} exited with {proc.returncode}: {out}")

    def _start_mon(self, deadline: float) -> None:
        r = self.root
        mon_keyring = r / "mon.keyring"
        admin_keyring = r / "keyring.client.admin"
        self._run(
            "ceph-authtool",
            "--create-keyring",
            str(mon_keyring),
            "--gen-key",
            "-n",
            "mon.",
            "--cap",
            "mon",
            "allow *",
        )
        self._run(
            "ceph-authtool",
            "--create-keyring",
            str(admin_keyring),
            "--gen-key",
            "-n",
            "client.admin",
            "--cap",
            "mon",
            "allow *",
            "--cap",
            "osd",
            "allow *",
            "--cap",
            "mgr",
            "allow *",
        )
        self._run("ceph-authtool", str(mon_keyring), "--import-keyring", str(admin_keyring))
        self._run(
            "monmaptool",
            "--create",
            "--addv",
            "a",
            f"[v2:127.0.0.1:{self.mon_port}]",
            "--fsid",
            self.fsid,
            str(r / "monmap"),
        )
        self._run(
            "ceph-mon",
            "--mkfs",
            "-i",
            "a",
            "--monmap",
            str(r / "monmap"),
            "--keyring",
            str(mon_keyring),
        )
        self._spawn("mon", "ceph-mon", "-i", "a")
        while True:
            self._check_alive("mon")
            try:
                self._run(
                    "ceph",
                    "-n",
                    "client.admin",
                    "--connect-timeout",
                    "2",
                    "mon",
                    "stat",
                    timeout=10,
                )
                return
            except (CephStartError, subprocess.TimeoutExpired):
                if time.monotonic() > deadline:
                    raise CephStartError("ceph-mon did not answer in time") from None
                time.sleep(0.2)

    def _start_osd(self, deadline: float) -> None:
        osd_uuid = str(uuid.uuid4())
        secret = self._run("ceph-authtool", "--gen-print-key").strip()
        osd_id = self._ceph(
            "osd", "new", osd_uuid, "-i", "-", stdin=json.dumps({"cephx_secret": secret})
        ).strip()
        data = self.root / "osd" / f"ceph-{osd_id}"
        data.mkdir(parents=True, exist_ok=True)
        self._run(
            "ceph-authtool",
            "--create-keyring",
            str(data / "keyring"),
            "--name",
            f"osd.{osd_id}",
            "--add-key",
            secret,
        )
        (self.root / f"keyring.osd.{osd_id}").symlink_to(data / "keyring")
        self._run("ceph-osd", "-i", osd_id, "--mkfs", "--osd-uuid", osd_uuid)
        self._spawn("osd", "ceph-osd", "-i", osd_id)
        while True:
            self._check_alive("osd")
            stat = json.loads(self._ceph("osd", "stat", "-f", "json"))
            if int(stat.get("num_up_osds", 0)) >= 1:
                return
            if time.monotonic() > deadline:
                raise CephStartError("ceph-osd did not come up in time")
            time.sleep(0.2)

    def _create_pools(self) -> None:
        for pool in RGW_POOLS:
            self._ceph("osd", "pool", "create", pool, "8", "8", "--autoscale-mode=off")

    def _start_rgw(self, deadline: float) -> None:
        self._ceph(
            "auth",
            "get-or-create",
            "client.rgw.a",
            "mon",
            "allow rw",
            "osd",
            "allow rwx",
            "-o",
            str(self.root / "keyring.client.rgw.a"),
        )
        self._spawn("rgw", "radosgw", "-n", "client.rgw.a")
        while True:
            self._check_alive("rgw")
            try:
                with urllib.request.urlopen(self.endpoint_url, timeout=2):
                    return
            except urllib.error.HTTPError:
                return  # any HTTP answer means the gateway is up
            except OSError:
                if time.monotonic() > deadline:
                    raise CephStartError("radosgw did not answer in time") from None
                time.sleep(0.2)

    def _create_user(self) -> None:
        self._run(
            "radosgw-admin",
            "-n",
            "client.admin",
            "user",
            "create",
            "--uid=markwatch",
            "--display-name=markwatch tests",
            f"--access-key={self.access_key}",
            f"--secret={self.secret_key}",
        )

    # -- stop ------------------------------------------------------------------------------

    def stop(self, keep_files: bool = False) -> None:
        """SIGTERM rgw, osd, mon in that order; SIGKILL any that linger; remove the folder."""
        for name in ("rgw", "osd", "mon"):
            proc = self._procs.pop(name, None)
            if proc is None or proc.poll() is not None:
                continue
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                log.warning("ceph %s ignored SIGTERM; killing pid %d", name, proc.pid)
                proc.kill()
                proc.wait(timeout=10)
        if not keep_files and os.environ.get("MARKWATCH_KEEP_CEPH") != "1":
            shutil.rmtree(self.root, ignore_errors=True)


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)
    with CephRGW() as ceph:
        print(f"ceph rgw {ceph.endpoint_url} up in {ceph.start_seconds:.1f} s")

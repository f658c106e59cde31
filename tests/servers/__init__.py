"""Real S3 servers for the tests, started by the tests themselves on 127.0.0.1.

`s3_server` is a session fixture parametrised over moto and a one-node Ceph RGW. When the
Ceph programs are missing, `scripts/install-ceph.sh` is tried (root and apt-get only); if
they still cannot be had the Ceph half is skipped with a loud notice, or fails when CI=true.
`MARKWATCH_S3_SERVERS=moto` (comma-separated) limits which servers run.

Use from a test module: `pytest_plugins = ["tests.servers"]`.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import pytest

from storage.retrying import botocore_config

from .ceph import CephRGW, missing_binaries
from .faultproxy import FaultProxy
from .moto import MotoS3
from .postgres import PostgresServer, ensure_postgres
from .redis import RedisServer, ensure_redis

ROOT = Path(__file__).resolve().parents[2]
SERVERS = ("moto", "ceph")

__all__ = ["SERVERS", "FaultProxy", "S3Server", "catalog_uri", "pg_database", "postgres_server",
           "redis_server", "s3_proxy", "s3_server"]


@dataclass
class S3Server:
    """What a test needs to talk to a running S3 server."""

    name: str
    endpoint_url: str
    access_key: str
    secret_key: str = field(repr=False)
    region: str = "us-east-1"
    start_seconds: float = 0.0

    def client(self, endpoint_url: str | None = None, **config: Any) -> Any:
        """A boto3 S3 client (path-style, botocore retries off) for this server or a proxy."""
        return boto3.session.Session().client(
            "s3", endpoint_url=endpoint_url or self.endpoint_url, region_name=self.region,
            aws_access_key_id=self.access_key, aws_secret_access_key=self.secret_key,
            config=botocore_config("path", **config))

    def new_bucket(self, *, versioned: bool = False, object_lock: bool = False) -> str:
        """Create a fresh, uniquely named bucket."""
        from storage.s3_admin import init_bucket

        name = f"mw-{self.name}-{uuid.uuid4().hex[:12]}"
        client = self.client()
        if versioned or object_lock:
            init_bucket(client, name, object_lock=object_lock)
        else:
            client.create_bucket(Bucket=name)
        return name


def _loud(message: str) -> None:
    bar = "!" * 78
    sys.stderr.write(f"\n{bar}\n!! {message}\n{bar}\n")


def _ensure_ceph() -> str | None:
    """None when Ceph can run, else why not (after trying scripts/install-ceph.sh)."""
    if not missing_binaries():
        return None
    script = ROOT / "scripts" / "install-ceph.sh"
    sys.stderr.write("\n[s3 servers] Ceph missing: running scripts/install-ceph.sh\n")
    try:
        done = subprocess.run(["bash", str(script)], capture_output=True, text=True,
                              check=False, timeout=600)
    except (OSError, subprocess.TimeoutExpired) as exc:
        error = f"{type(exc).__name__}: {exc}"
    else:
        if done.returncode == 0 and not missing_binaries():
            return None
        error = done.stderr.strip()[-300:]
    return (f"Ceph binaries missing ({', '.join(missing_binaries())}) and "
            f"scripts/install-ceph.sh failed: {error}")


def _selected() -> list[str]:
    wanted = os.environ.get("MARKWATCH_S3_SERVERS", ",".join(SERVERS))
    return [name for name in SERVERS if name in {w.strip() for w in wanted.split(",")}]


@pytest.fixture(scope="session", params=SERVERS)
def s3_server(request: pytest.FixtureRequest) -> Iterator[S3Server]:
    """A running S3 server: moto, then a one-node Ceph RGW."""
    name = request.param
    if name not in _selected():
        pytest.skip(f"{name} not in MARKWATCH_S3_SERVERS")
    if name == "moto":
        with MotoS3() as moto:
            sys.stderr.write(f"\n[s3 servers] moto started in {moto.start_seconds:.2f} s\n")
            yield S3Server("moto", moto.endpoint_url, moto.access_key, moto.secret_key,
                           moto.region, moto.start_seconds)
        return
    why = _ensure_ceph()
    if why is not None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI=true and Ceph cannot run: {why}")
        _loud(f"SKIPPING every Ceph RGW test: {why}")
        warnings.warn(f"CEPH RGW TESTS SKIPPED: {why}", stacklevel=1)
        pytest.skip(f"CEPH TESTS SKIPPED: {why}")
    with CephRGW() as ceph:
        sys.stderr.write(f"\n[s3 servers] ceph rgw started in {ceph.start_seconds:.1f} s\n")
        yield S3Server("ceph", ceph.endpoint_url, ceph.access_key, ceph.secret_key,
                       ceph.region, ceph.start_seconds)


@pytest.fixture
def s3_proxy(s3_server: S3Server) -> Iterator[FaultProxy]:
    """A fault-injecting proxy in front of `s3_server`, for one test."""
    with FaultProxy(s3_server.endpoint_url) as proxy:
        yield proxy


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    """A real Redis (Debian's redis-server, installed when missing) on 127.0.0.1."""
    why = ensure_redis()
    if why is not None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI=true and Redis cannot run: {why}")
        _loud(f"SKIPPING every Redis frontier test: {why}")
        warnings.warn(f"REDIS TESTS SKIPPED: {why}", stacklevel=1)
        pytest.skip(f"REDIS TESTS SKIPPED: {why}")
    with RedisServer() as server:
        yield server


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """A real PostgreSQL (Debian's postgresql, installed when missing) on 127.0.0.1."""
    why = ensure_postgres()
    if why is not None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI=true and PostgreSQL cannot run: {why}")
        _loud(f"SKIPPING every PostgreSQL test: {why}")
        warnings.warn(f"POSTGRESQL TESTS SKIPPED: {why}", stacklevel=1)
        pytest.skip(f"POSTGRESQL TESTS SKIPPED: {why}")
    with PostgresServer() as server:
        sys.stderr.write(f"\n[postgres] started in {server.start_seconds:.1f} s\n")
        yield server


@pytest.fixture
def pg_database(postgres_server: PostgresServer) -> str:
    """The URI of a fresh, empty PostgreSQL database for one test."""
    return postgres_server.new_database()


@pytest.fixture(params=["sqlite", "postgresql"])
def catalog_uri(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh catalog URI on each engine: a SQLite file, then a PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'catalog.db'}"
    return str(request.getfixturevalue("pg_database"))

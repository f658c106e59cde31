"""End to end against real S3 servers (moto and a one-node Ceph RGW) on 127.0.0.1.

A demo crawl into a bucket verifies; objects carry checksums where the server keeps them and
retention in an Object Lock bucket; through a fault-injecting proxy (errors, throttling, resets,
slowness, an outage mid-run) the run finishes or exits 3, and after `markwatch sync` every
capture is in the bucket exactly once and verifies.
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from crawler.demo import DemoMarketplace
from tests.helpers import CliResult, run_markwatch
from tests.servers import FaultProxy, S3Server

pytestmark = [pytest.mark.s3, pytest.mark.browser]

WATCHLIST = """\
version: 1
settings: {max_pages: 1, max_listings: 5, egress: {allow: [127.0.0.1]}}
brands:
  - name: Corvane
    terms: ["corvane watch"]
    marketplaces: [demo]
"""


def _env(server: S3Server, market: DemoMarketplace, spool: Path) -> dict[str, str]:
    return {"AWS_ACCESS_KEY_ID": server.access_key, "AWS_SECRET_ACCESS_KEY": server.secret_key,
            "AWS_DEFAULT_REGION": server.region, "MARKWATCH_DEMO_URL": market.base_url,
            "MARKWATCH_SPOOL_DIR": str(spool), "AWS_EC2_METADATA_DISABLED": "true"}


def _uri(bucket: str, endpoint: str) -> str:
    return f"s3://{bucket}/evidence?endpoint_url={endpoint}&addressing_style=path"


def _crawl(tmp: Path, uri: str, env: dict[str, str]) -> tuple[CliResult, dict[str, Any]]:
    (tmp / "wl.yaml").write_text(WATCHLIST, encoding="utf-8")
    out = run_markwatch(["crawl", "-w", "wl.yaml", "--store", uri, "--catalog",
                         f"sqlite:///{tmp}/catalog.db", "--report-json", "report.json",
                         "--log-level", "WARNING"], cwd=tmp, env=env)
    report = json.loads((tmp / "report.json").read_text()) if (tmp / "report.json").exists() \
        else {}
    return out, report


def _keys(server: S3Server, bucket: str) -> dict[str, int]:
    """Every key in the bucket with its number of versions."""
    client = server.client()
    counts: dict[str, int] = {}
    for page in client.get_paginator("list_object_versions").paginate(Bucket=bucket):
        for version in page.get("Versions", []):
            counts[version["Key"]] = counts.get(version["Key"], 0) + 1
    return counts


def test_demo_crawl_into_object_lock_bucket_verifies(
        s3_server: S3Server, demo_market: DemoMarketplace, chromium: str,
        tmp_path: Path) -> None:
    bucket = s3_server.new_bucket(object_lock=True)
    uri = _uri(bucket, s3_server.endpoint_url) + "&lock_mode=GOVERNANCE&lock_days=1"
    env = _env(s3_server, demo_market, tmp_path / "spool")
    out, report = _crawl(tmp_path, uri, env)
    assert out.code == 0, out.out + out.err[-3000:]
    assert report["counts"]["listings"] == 5 and report["spooled"] == 0
    verify = run_markwatch(["verify", "--all", "--store", uri, "--catalog",
                            f"sqlite:///{tmp_path}/catalog.db"], cwd=tmp_path, env=env)
    assert verify.code == 0, verify.out + verify.err[-2000:]
    keys = _keys(s3_server, bucket)
    assert keys and all(n == 1 for n in keys.values())  # never a second version
    client = s3_server.client()
    blob = next(k for k in keys if "/blobs/sha256/" in k)
    head = client.head_object(Bucket=bucket, Key=blob, ChecksumMode="ENABLED")
    assert head.get("ObjectLockRetainUntilDate") is not None
    if s3_server.name == "moto":  # moto keeps the SHA-256 we send; Ceph 16 ignores it
        assert head.get("ChecksumSHA256")
    version = head["VersionId"]
    with pytest.raises(client.exceptions.ClientError):
        client.delete_object(Bucket=bucket, Key=blob, VersionId=version)
    rebuilt = run_markwatch(["catalog", "rebuild", "--store", uri, "--catalog",
                             f"sqlite:///{tmp_path}/rebuilt.db"], cwd=tmp_path, env=env)
    assert rebuilt.code == 0 and "6 captures" in rebuilt.out, rebuilt.out + rebuilt.err


@pytest.mark.parametrize("outage", ["mid-run", "whole-run"])
def test_faults_and_outage_lose_nothing(s3_server: S3Server, demo_market: DemoMarketplace,
                                        chromium: str, tmp_path: Path, outage: str) -> None:
    bucket = s3_server.new_bucket(versioned=True)
    spool = tmp_path / "spool"
    env = _env(s3_server, demo_market, spool)
    with FaultProxy(s3_server.endpoint_url) as proxy:
        uri = _uri(bucket, proxy.url)
        proxy.fail_503(3)
        proxy.slowdown(3)
        proxy.reset(2)
        proxy.delay(1.0, 2)
        # the archive goes away a few seconds into the run (or before it) until it ends
        timer = threading.Timer(4.0 if outage == "mid-run" else 0.0, proxy.down)
        timer.start()
        if outage == "whole-run":
            timer.join()
        try:
            out, report = _crawl(tmp_path, uri, env)
        finally:
            timer.cancel()
        assert out.code in ((0, 3) if outage == "mid-run" else (3,)), out.out + out.err[-3000:]
        if out.code == 3:
            assert report["spooled"] > 0
            assert "markwatch sync" in out.out
        proxy.up()
        proxy.clear()
        sync = run_markwatch(["sync", "--store", uri], cwd=tmp_path, env=env)
        assert sync.code == 0, sync.out + sync.err[-2000:]
        again = run_markwatch(["sync", "--store", uri], cwd=tmp_path, env=env)
        assert again.code == 0 and "uploaded 0" in again.out
    direct = _uri(bucket, s3_server.endpoint_url)
    # runs are sealed by default: a seal that could not be stored while the archive was away
    # is pending (fail closed) until sealed now, honestly dated now
    seal = run_markwatch(["seal", "--pending", "--store", direct], cwd=tmp_path, env=env)
    assert seal.code == 0, seal.out + seal.err[-2000:]
    keys = _keys(s3_server, bucket)
    assert all(n == 1 for n in keys.values()), {k: n for k, n in keys.items() if n > 1}
    manifests = [k for k in keys if "/captures/" in k]
    assert len(manifests) == 6  # 5 listings + 1 search page, each exactly once
    verify = run_markwatch(["verify", "--all", "--store", direct], cwd=tmp_path, env=env)
    assert verify.code == 0, verify.out + verify.err[-2000:]
    assert "6 of 6 captures verified" in verify.out


def test_bad_credentials_fail_fast_with_exit_2(s3_server: S3Server,
                                               demo_market: DemoMarketplace,
                                               tmp_path: Path) -> None:
    if s3_server.name == "moto":
        pytest.skip("moto does not check signatures")
    bucket = s3_server.new_bucket()
    env = _env(s3_server, demo_market, tmp_path / "spool")
    env["AWS_SECRET_ACCESS_KEY"] = "wrong-secret"
    started = time.monotonic()
    out, _ = _crawl(tmp_path, _uri(bucket, s3_server.endpoint_url), env)
    assert out.code == 2, out.out + out.err
    assert "refuses" in out.err and "wrong-secret" not in out.err + out.out
    assert time.monotonic() - started < 120  # no long retry loop on a hopeless error


def test_missing_bucket_fails_fast(s3_server: S3Server, demo_market: DemoMarketplace,
                                   tmp_path: Path) -> None:
    env = _env(s3_server, demo_market, tmp_path / "spool")
    out, _ = _crawl(tmp_path, _uri("no-such-bucket-here", s3_server.endpoint_url), env)
    assert out.code == 2, out.out + out.err
    assert "NoSuchBucket" in out.err or "bucket" in out.err.lower()


def test_store_check_reports_capabilities(s3_server: S3Server, tmp_path: Path) -> None:
    bucket = s3_server.new_bucket(object_lock=True)
    env = {"AWS_ACCESS_KEY_ID": s3_server.access_key,
           "AWS_SECRET_ACCESS_KEY": s3_server.secret_key, "AWS_DEFAULT_REGION": s3_server.region}
    out = run_markwatch(["store", "check", "--store", _uri(bucket, s3_server.endpoint_url)],
                        cwd=tmp_path, env=env)
    assert "versioning" in out.out and "object lock" in out.out.lower(), out.out + out.err
    assert out.code in (0, 1)
    print(f"\nmarkwatch store check on {s3_server.name}:\n{out.out}")

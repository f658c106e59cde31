"""`python bench/s3_puts.py`: S3Store requests and client CPU per capture's objects, by mode.

Stores the objects of N synthetic captures (the sizes `make bench` measured per capture: WARC,
screenshot, DOM, fields, three images, records, a payload, two documents, plus two blobs every
capture shares, as a site's logo and stylesheet are) into a fresh bucket on a local moto server
(a subprocess, so its CPU is not counted) and, with `--ceph`, on a one-node Ceph RGW, in each
mode, alternating, and prints requests per capture, this process's CPU seconds per capture and
the ratio to the mode `every-check` measured in the same run:

* every-check  HEAD, conditional PUT, read-back GET for every object (the protocol before the
               write probe; what main did);
* probed       the store's defaults: the write probe, the known-blob LRU;
* probed+novalidate  the same with botocore's parameter validation off.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from storage.retrying import botocore_config
from storage.s3 import S3Store
from storage.s3_probe import WriteProbe

BIN = Path(sys.executable).parent
SIZES = (19_950, 159_749, 4_571, 1_046, 13_000, 13_000, 13_389, 4_592, 9_181)
DOCS = 2
SHARED = (2_400, 31_000)


def blobs_of(capture: int) -> list[bytes]:
    seed = hashlib.sha256(b"capture-%d" % capture).digest()
    own = [(hashlib.sha256(seed + bytes([i])).digest() * (n // 32 + 1))[:n]
           for i, n in enumerate(SIZES)]
    shared = [(hashlib.sha256(b"shared-%d" % i).digest() * (n // 32 + 1))[:n]
              for i, n in enumerate(SHARED)]
    return own + shared


def client_for(endpoint: str, access: str, secret: str, *, validate: bool = True) -> Any:
    config = botocore_config("path").merge(
        Config(parameter_validation=validate))
    return boto3.session.Session().client(
        "s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id=access,
        aws_secret_access_key=secret, config=config)


def run_mode(mode: str, endpoint: str, access: str, secret: str, captures: int,
             offset: int) -> tuple[float, float, float]:
    """(requests, CPU s, wall s) per capture for one mode into a fresh bucket."""
    client = client_for(endpoint, access, secret, validate=mode != "probed+novalidate")
    bucket = f"bench-{uuid.uuid4().hex[:10]}"
    client.create_bucket(Bucket=bucket)
    sent: list[str] = []
    client.meta.events.register("before-send.s3", lambda **kw: sent.append("x"))
    if mode == "every-check":
        store = S3Store(bucket, "evidence", client=client, known_blobs=0)
        store._probe = WriteProbe(conditional=False, md5_verified=False)
    else:
        store = S3Store(bucket, "evidence", client=client)
    store.is_versioned()
    store.write_probe()
    sent.clear()
    cpu0, wall0 = time.process_time(), time.perf_counter()
    for n in range(offset, offset + captures):
        for blob in blobs_of(n):
            store.put_blob(blob, "application/octet-stream")
        for d in range(DOCS):
            store.put_document(f"captures/{n}/{d}.json", b'{"capture": %d, "doc": %d}' % (n, d),
                               "application/json")
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    client.close()
    return len(sent) / captures, cpu / captures, wall / captures


def moto() -> tuple[subprocess.Popen[bytes], str]:
    import socket
    import urllib.request

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([str(BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    endpoint = f"http://127.0.0.1:{port}"
    for _ in range(200):
        try:
            urllib.request.urlopen(endpoint, timeout=1)
            break
        except urllib.error.HTTPError:
            break
        except OSError:
            time.sleep(0.05)
    return proc, endpoint


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--captures", type=int, default=40)
    parser.add_argument("--rounds", type=int, default=2, help="alternations of the modes")
    parser.add_argument("--ceph", action="store_true", help="also on a one-node Ceph RGW")
    opts = parser.parse_args()
    modes = ("every-check", "probed", "probed+novalidate")
    servers: list[tuple[str, str, str, str]] = []
    cleanup: list[Any] = []
    proc, endpoint = moto()
    cleanup.append(proc.terminate)
    servers.append(("moto", endpoint, "bench", "bench"))
    if opts.ceph:
        from tests.servers.ceph import CephRGW

        ceph = CephRGW()
        ceph.start()
        cleanup.append(ceph.stop)
        servers.append(("ceph", ceph.endpoint_url, ceph.access_key, ceph.secret_key))
    print(f"load average at start: {os.getloadavg()}")
    try:
        for name, url, access, secret in servers:
            totals: dict[str, list[tuple[float, float, float]]] = {m: [] for m in modes}
            for r in range(opts.rounds):
                for mode in modes if r % 2 == 0 else reversed(modes):
                    totals[mode].append(run_mode(mode, url, access, secret, opts.captures,
                                                 r * 10_000))
            base = sum(c for _, c, _ in totals["every-check"]) / opts.rounds
            print(f"\n{name}: {opts.captures} captures x {len(SIZES) + len(SHARED) + DOCS} "
                  f"objects, {opts.rounds} rounds alternating")
            print("| mode | requests/capt | CPU ms/capt | ratio | wall ms/capt |")
            print("| --- | ---: | ---: | ---: | ---: |")
            for mode in modes:
                runs = totals[mode]
                req = sum(r for r, _, _ in runs) / len(runs)
                cpu = sum(c for _, c, _ in runs) / len(runs)
                wall = sum(w for _, _, w in runs) / len(runs)
                print(f"| {mode} | {req:.1f} | {cpu * 1000:.1f} | {cpu / base:.2f} | "
                      f"{wall * 1000:.1f} |")
    finally:
        for stop in reversed(cleanup):
            stop()
    print(f"\nload average at end: {os.getloadavg()}")


if __name__ == "__main__":
    main()

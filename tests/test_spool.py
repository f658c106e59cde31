"""SpoolingStore in front of a real local store that can be switched off: spooling, ordering,
crash-safe sync."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from crawler.exceptions import ArtifactConflict
from storage.layout import blob_key
from storage.upload_spool import PendingItem, SpooledObject, SpoolingStore
from tests.helpers import OutageStore


@pytest.fixture
def remote(tmp_path: Path) -> OutageStore:
    return OutageStore(tmp_path / "remote")


@pytest.fixture
def spool(remote: OutageStore, tmp_path: Path) -> SpoolingStore:
    return SpoolingStore(remote, tmp_path / "spool", retry_after=0)


def fill(spool: SpoolingStore, n: int = 3) -> list[bytes]:
    blobs = [f"artifact {i}".encode() * 100 for i in range(n)]
    for i, data in enumerate(blobs):
        assert isinstance(spool.put_blob(data, "image/png"), SpooledObject)
        spool.put_document(f"captures/{i}.json", b'{"n": %d}' % i, "application/json")
    return blobs


def test_writes_go_to_remote_when_up(spool: SpoolingStore, remote: OutageStore) -> None:
    stored = spool.put_blob(b"abc", "text/plain")
    assert not isinstance(stored, SpooledObject) and stored.created
    assert spool.pending() == []
    assert remote.created_log() == [f"blob {blob_key(stored.sha256)}"]


def test_outage_spools_durably_and_reads_fall_back(spool: SpoolingStore,
                                                    remote: OutageStore) -> None:
    remote.set_down(True)
    blob = spool.put_blob(b"evidence", "image/png")
    doc = spool.put_document("captures/a.json", b"{}", "application/json")
    assert isinstance(blob, SpooledObject) and blob.spooled and blob.created
    assert isinstance(doc, SpooledObject)
    assert spool.put_blob(b"evidence", "image/png").created is False
    assert spool.put_document("captures/a.json", b"{}", "application/json").created is False
    with pytest.raises(ArtifactConflict):
        spool.put_document("captures/a.json", b"{1}", "application/json")
    assert [p.kind for p in spool.pending()] == ["blob", "document"]
    with spool.open_blob(blob.sha256) as fh:
        assert fh.read() == b"evidence"
    assert spool.read_document("captures/a.json") == b"{}"
    assert list((spool.root / "tmp").iterdir()) == []


def test_documents_wait_behind_spooled_blobs(spool: SpoolingStore, remote: OutageStore) -> None:
    remote.set_down(True)
    spool.put_blob(b"image", "image/png")
    remote.set_down(False)
    doc = spool.put_document("captures/m.json", b"{}", "application/json")
    assert isinstance(doc, SpooledObject), "a manifest must not land before its artifacts"
    report = spool.sync()
    assert report.ok and len(report.uploaded) == 2
    assert [line.split()[0] for line in remote.created_log()] == ["blob", "document"]


def test_sync_stops_when_remote_goes_away(spool: SpoolingStore, remote: OutageStore) -> None:
    remote.set_down(True)
    fill(spool)
    report = spool.sync()
    assert report.unavailable and report.remaining == 6 and not report.ok
    remote.set_down(False)
    report = spool.sync()
    assert report.ok and len(report.uploaded) == 6
    kinds = [line.split()[0] for line in remote.created_log()]
    assert kinds == ["blob"] * 3 + ["document"] * 3


def test_conflicting_document_is_set_aside_not_lost(spool: SpoolingStore,
                                                     remote: OutageStore) -> None:
    remote.set_down(True)
    spool.put_document("captures/x.json", b"ours", "application/json")
    remote.set_down(False)
    remote.put_document("captures/x.json", b"theirs", "application/json")
    report = spool.sync()
    assert report.conflicts == ["captures/x.json"] and report.remaining == 0
    kept = list((spool.root / "conflicts").glob("*/data"))
    assert [p.read_bytes() for p in kept] == [b"ours"]


@pytest.mark.parametrize("step", ["uploaded", "committed", "removed"])
def test_exception_between_steps_loses_and_duplicates_nothing(
        spool: SpoolingStore, remote: OutageStore, step: str) -> None:
    remote.set_down(True)
    fill(spool)
    remote.set_down(False)
    calls = {"n": 0}

    def crash(name: str, item: PendingItem) -> None:
        if name == step:
            calls["n"] += 1
            if calls["n"] == 2:
                raise RuntimeError(f"injected crash at {name} of {item.key}")

    spool.on_step = crash
    with pytest.raises(RuntimeError):
        spool.sync()
    spool.on_step = None
    report = spool.sync()
    assert report.ok
    assert_exactly_once(remote, 6)


def assert_exactly_once(remote: OutageStore, count: int) -> None:
    log = remote.created_log()
    assert len(log) == len(set(log)) == count, log
    kinds = [line.split()[0] for line in log]
    assert kinds == sorted(kinds), "every blob lands before any document"


CHILD = textwrap.dedent("""
    import os, signal, sys
    sys.path.insert(0, {root!r})
    from pathlib import Path
    from tests.helpers import OutageStore
    from storage.upload_spool import SpoolingStore
    spool = SpoolingStore(OutageStore(Path({remote!r})), {spool!r}, retry_after=0)
    seen = []
    def hook(name, item):
        if name == {step!r}:
            seen.append(item.key)
            if len(seen) == {nth}:
                os.kill(os.getpid(), signal.SIGKILL)
    spool.on_step = hook
    spool.sync()
""")


@pytest.mark.parametrize(("step", "nth"), [("uploaded", 1), ("committed", 2), ("removed", 4)])
def test_sigkill_mid_sync_loses_and_duplicates_nothing(
        spool: SpoolingStore, remote: OutageStore, step: str, nth: int) -> None:
    remote.set_down(True)
    fill(spool)
    remote.set_down(False)
    code = CHILD.format(root=str(Path(__file__).parents[1]), remote=str(remote.control),
                        spool=str(spool.root), step=step, nth=nth)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60, cwd=Path(__file__).parents[1], check=False)
    assert done.returncode == -signal.SIGKILL, done.stderr
    assert len(spool.pending()) > 0
    report = spool.sync()
    assert report.ok, report
    assert_exactly_once(remote, 6)
    assert not any((spool.root / "tmp").iterdir())
    assert not [p for p in (spool.root / "blobs").iterdir()]


def test_spool_files_survive_an_interrupted_spool_write(spool: SpoolingStore,
                                                        remote: OutageStore) -> None:
    remote.set_down(True)
    spool.put_blob(b"kept", "image/png")
    # a crash after the data file landed but before its metadata: not pending, cleaned later
    orphan = spool.root / "blobs" / ("0" * 64 + ".data")
    orphan.write_bytes(b"half")
    (spool.root / "tmp" / "x.part").write_bytes(b"half")
    assert [p.key for p in spool.pending()] == [blob_key(hashlib.sha256(b"kept").hexdigest())]
    remote.set_down(False)
    assert spool.sync().ok
    assert not orphan.exists() and not any((spool.root / "tmp").iterdir())
    assert os.listdir(spool.root / "blobs") == []

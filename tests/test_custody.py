"""The custody log: append, read, filter, and tamper detection over the real local store."""

from __future__ import annotations

import hashlib
import json
import threading
from pathlib import Path

import pytest

from crawler.clock import FrozenClock
from crawler.seal import custody
from storage.layout import custody_key
from storage.local import LocalStore
from tests.helpers import overwrite_stored


@pytest.fixture
def store(tmp_path: Path) -> LocalStore:
    return LocalStore(tmp_path / "store")


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock("2026-11-28T10:00:00Z", step=1.0)


def fill(store: LocalStore, clock: FrozenClock) -> list[custody.CustodyEntry]:
    return [
        custody.append(
            store,
            "captured",
            clock=clock,
            actor="crawler",
            run_id="R1",
            capture_ids=["C2", "C1"],
            details={"urls": 2},
        ),
        custody.append(
            store, "stored", clock=clock, actor="crawler", run_id="R1", capture_ids=["C1", "C2"]
        ),
        custody.append(
            store,
            "sealed",
            clock=clock,
            actor="crawler",
            run_id="R1",
            capture_ids=["C1", "C2"],
            details={"root": "ab" * 32},
        ),
        custody.append(
            store,
            "exported",
            clock=clock,
            actor="analyst@case-team",
            capture_ids=["C1"],
            details={"bundle": "case.zip"},
        ),
    ]


def test_append_and_read(store: LocalStore, clock: FrozenClock) -> None:
    entries = fill(store, clock)
    log = custody.read_log(store)
    assert [e.seq for e in log] == [0, 1, 2, 3]
    assert [e.event for e in log] == ["captured", "stored", "sealed", "exported"]
    assert log[0].prev is None
    assert log[1].prev == hashlib.sha256(log[0].raw).hexdigest()
    assert log[0].capture_ids == ("C1", "C2")
    assert log[0].time == "2026-11-28T10:00:00.000000Z"
    assert log == entries
    assert next(iter(store.list_documents("custody/"))) == "custody/000000000000.json"
    assert custody.verify_log(store) == []
    assert [e.event for e in custody.entries_for(log, ["C1"])] == [
        "captured",
        "stored",
        "sealed",
        "exported",
    ]
    assert [e.event for e in custody.entries_for(log, ["C2"])] == ["captured", "stored", "sealed"]
    lines = custody.to_jsonl(log).splitlines()
    assert [json.loads(line)["seq"] for line in lines] == [0, 1, 2, 3]


def test_rejects_bad_event_and_actor(store: LocalStore, clock: FrozenClock) -> None:
    with pytest.raises(ValueError, match="unknown custody event"):
        custody.append(store, "deleted", clock=clock, actor="x")
    with pytest.raises(ValueError, match="credentials"):
        custody.append(store, "stored", clock=clock, actor="https://u:pw@host")
    with pytest.raises(ValueError, match="label"):
        custody.append(store, "stored", clock=clock, actor="")


def test_concurrent_appenders_all_land(store: LocalStore, clock: FrozenClock) -> None:
    def worker(n: int) -> None:
        for i in range(5):
            custody.append(
                store,
                "verified",
                clock=FrozenClock("2026-11-28T10:00:00Z"),
                actor=f"worker-{n}",
                capture_ids=[f"C{i}"],
            )

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    log = custody.read_log(store)
    assert len(log) == 20
    assert custody.verify_log(store) == []


def test_identical_events_are_not_merged(store: LocalStore) -> None:
    frozen = FrozenClock("2026-11-28T10:00:00Z")  # same time, same event: same bytes at seq 0
    custody.append(store, "verified", clock=frozen, actor="a", capture_ids=["C1"])
    second = custody.append(store, "verified", clock=frozen, actor="a", capture_ids=["C1"])
    assert second.seq == 1


def _rewrite(store: LocalStore, seq: int, data: bytes) -> None:
    overwrite_stored(store, custody_key(seq), data)


def test_detects_changed_entry(store: LocalStore, clock: FrozenClock) -> None:
    fill(store, clock)
    raw = store.read_document(custody_key(1))
    _rewrite(store, 1, raw.replace(b'"crawler"', b'"mallory"'))
    problems = custody.verify_log(store)
    assert any("custody/000000000002.json: prev does not match entry 1" in p for p in problems)


def test_detects_removed_entry(store: LocalStore, clock: FrozenClock) -> None:
    fill(store, clock)
    overwrite_stored(store, custody_key(1), None)
    problems = custody.verify_log(store)
    assert any("holds seq 2 at position 1" in p for p in problems)
    assert any("prev does not match entry 0" in p for p in problems)


def test_detects_removed_first_entry(store: LocalStore, clock: FrozenClock) -> None:
    fill(store, clock)
    overwrite_stored(store, custody_key(0), None)
    problems = custody.verify_log(store)
    assert any("first entry has a predecessor" in p for p in problems)


def test_detects_reordered_entries(store: LocalStore, clock: FrozenClock) -> None:
    fill(store, clock)
    one, two = (store.read_document(custody_key(i)) for i in (1, 2))
    _rewrite(store, 1, two)
    _rewrite(store, 2, one)
    problems = custody.verify_log(store)
    assert any("holds seq 2 at position 1" in p for p in problems)
    assert any("prev does not match" in p for p in problems)


def test_detects_non_canonical_rewrite(store: LocalStore, clock: FrozenClock) -> None:
    fill(store, clock)
    last = custody_key(3)
    _rewrite(store, 3, json.dumps(json.loads(store.read_document(last)), indent=1).encode())
    assert any("not canonical" in p for p in custody.verify_log(store))


def test_detects_garbage_entry(store: LocalStore, clock: FrozenClock) -> None:
    fill(store, clock)
    _rewrite(store, 2, b"not json")
    problems = custody.verify_log(store)
    assert any("000000000002.json: unreadable" in p for p in problems)


# --- truncation at the end, against the head a run seal recorded ------------------------------


def _log(store: LocalStore, clock: FrozenClock, n: int) -> None:
    for i in range(n):
        custody.append(store, "stored", clock=clock, actor="crawler", run_id=f"R{i}",
                       capture_ids=[f"C{i}"], ids_by_digest=True)


def test_dropping_the_newest_entries_is_detected_against_a_seal_head(
        store: LocalStore, clock: FrozenClock) -> None:
    _log(store, clock, 5)
    head = custody.head(store)
    assert head is not None and head["size"] == 5 and head["head_seq"] == 4
    _log(store, clock, 2)
    log = custody.read_log(store)
    assert custody.verify_log(store) == []
    assert custody.verify_against_heads(log, [("seal A", head)]) == []
    for seq in (6, 5, 4):  # the newest entries, including the one the seal covered
        overwrite_stored(store, custody_key(seq), None)
    log = custody.read_log(store)
    assert custody.verify_log(store) == []  # a shorter chain is still a consistent chain...
    [problem] = custody.verify_against_heads(log, [("seal A", head)])
    assert "covers 5 custody entries, the log holds 4" in problem  # ...but not the sealed one
    assert "truncated" in problem


def test_rewritten_log_under_a_seal_head_is_detected(store: LocalStore, clock: FrozenClock,
                                                     tmp_path: Path) -> None:
    _log(store, clock, 3)
    head = custody.head(store)
    assert head is not None
    other = LocalStore(tmp_path / "other")
    _log(other, FrozenClock("2030-01-01T00:00:00Z", step=1.0), 3)  # a whole new, valid log
    [problem] = custody.verify_against_heads(custody.read_log(other), [("seal A", head)])
    assert "are not the ones it sealed" in problem


def test_run_wide_entries_name_captures_by_digest(store: LocalStore, clock: FrozenClock) -> None:
    entry = custody.append(store, "sealed", clock=clock, actor="crawler", run_id="R",
                           capture_ids=["A", "B"], ids_by_digest=True)
    assert entry.capture_ids == () and b'"A"' not in entry.raw
    assert [e.seq for e in custody.entries_for(custody.read_log(store), ["B"])] == [entry.seq]

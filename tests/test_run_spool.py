"""The run ledger's capture entries wait in a temporary file: they come back whole and in order,
the crawl's memory does not grow with them, and a file that cannot be written loses none."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
import tracemalloc

from crawler.runs.ledger import CaptureEntry, RunLedger
from crawler.runs.spool import EntrySpool

T0 = dt.datetime(2026, 12, 5, 14, 0, tzinfo=dt.UTC)


def entry(i: int, kind: str = "listing") -> CaptureEntry:
    return CaptureEntry(f"01JEC{i:021d}", kind, f"http://127.0.0.1:8000/item/{i}?q=ñandú\n",
                        f"captures/2026/12/05/01JEC{i:021d}.json", f"{i:064x}")


def test_entries_come_back_whole_and_in_order(tmp_path):
    spool = EntrySpool(directory=str(tmp_path))
    entries = [entry(i, "search" if i % 10 == 0 else "listing") for i in range(2500)]
    spool.extend(entries)
    assert len(spool) == 2500
    assert spool.kinds() == {"search": 250, "listing": 2250}
    assert list(spool) == entries
    assert list(spool) == entries  # reading does not consume
    spool.append(entry(9999, "blocked"))
    assert list(spool)[-1] == entry(9999, "blocked")
    spool.close()


def test_a_run_that_stores_nothing_makes_no_file(tmp_path):
    spool = EntrySpool(directory=str(tmp_path))
    assert not spool and list(spool) == [] and spool.kinds() == {}
    assert spool._file is None
    spool.close()


def test_memory_does_not_grow_with_the_entries(tmp_path):
    spool = EntrySpool(directory=str(tmp_path))
    spool.extend(entry(i) for i in range(50))  # the file exists, json's caches are warm
    tracemalloc.start()
    try:
        before = tracemalloc.take_snapshot()
        for i in range(50, 20_050):
            spool.append(entry(i))
        after = tracemalloc.take_snapshot()
    finally:
        tracemalloc.stop()
    grown = sum(stat.size_diff for stat in after.compare_to(before, "filename"))
    # held in memory, 20,000 entries are about 12 MiB; the spool keeps a count per kind
    assert grown < 64 * 1024, f"{grown} bytes held for 20,000 entries"
    assert len(spool) == 20_050
    spool.close()


def test_a_file_that_cannot_be_written_loses_nothing(caplog):
    with open("/dev/full", "r+b", buffering=0) as full:
        spool = EntrySpool(file=full)
        entries = [entry(i) for i in range(5)]
        spool.extend(entries)
        assert list(spool) == entries
        assert len(spool) == 5
    assert "keeping its entries in memory" in caplog.text


CUT_SHORT = r"""
import json, resource, signal, sys
from crawler.runs.ledger import CaptureEntry
from crawler.runs.spool import EntrySpool

signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # writes past the limit fail with EFBIG instead
resource.setrlimit(resource.RLIMIT_FSIZE, (5000, resource.RLIM_INFINITY))
spool = EntrySpool(directory=sys.argv[1])
entries = [CaptureEntry(f"C{i:05d}", "listing", f"http://127.0.0.1/{i}", f"m/{i}", f"{i:064x}")
           for i in range(100)]
spool.extend(entries)
back = list(spool)
print(json.dumps({"same": back == entries, "count": len(spool),
                  "memory": spool._memory is not None}))
"""


def test_a_write_cut_short_by_a_full_disk_loses_nothing(tmp_path):
    """The file takes some entries, then a write stops part way (the file size limit): the
    entries written whole are read back, the rest are kept in memory, none is lost."""
    out = subprocess.run([sys.executable, "-c", CUT_SHORT, str(tmp_path)], check=True,
                         capture_output=True, text=True)
    result = json.loads(out.stdout)
    assert result == {"same": True, "count": 100, "memory": True}
    assert "keeping its entries in memory" in out.stderr


def test_the_run_record_lists_the_spooled_entries_sorted():
    ledger = RunLedger("RUN-1", "demo", T0)
    for i in (3, 1, 2):
        ledger.captures.append(entry(i, "search" if i == 1 else "listing"))
    record = ledger.record(T0, "finished")
    ledger.close()
    assert [c["capture_id"] for c in record["captures"]] == [entry(i).capture_id
                                                              for i in (1, 2, 3)]
    assert record["counts"]["captures"] == 3
    assert record["counts"]["searches"] == 1 and record["counts"]["listings"] == 2
    assert record["status"] == "complete"
    assert json.loads(json.dumps(record))["captures"][0]["url"] == entry(1).url

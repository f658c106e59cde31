"""The store layout (`storage.layout`): every key as it has always been spelled, since stores
written before stay readable only while these names do not change."""

from __future__ import annotations

import datetime as dt

import pytest

from storage import layout

SHA = "ab" + "cd" + "0" * 60
T = dt.datetime(2026, 11, 28, 23, 59, 59, tzinfo=dt.UTC)


def test_every_key_is_spelled_as_stores_already_hold_it() -> None:
    assert layout.blob_key(SHA.upper()) == f"blobs/sha256/ab/cd/{SHA}"
    assert layout.manifest_key("01CAP", T) == "captures/2026/11/28/01CAP.json"
    assert layout.captures_day_prefix(T.date()) == "captures/2026/11/28/"
    assert layout.run_record_key("01RUN", "demo") == "runs/01RUN/demo.json"
    assert layout.run_seal_key("01RUN", "demo") == "seals/01RUN/demo.json"
    assert layout.pending_seal_key("01RUN", "demo") == "seals/pending/01RUN/demo.json"
    assert layout.custody_key(7) == "custody/000000000007.json"
    assert layout.bundle_run_name("01RUN", "demo") == "01RUN.demo.json"


def test_run_record_keys_parse_back_and_nothing_else_does() -> None:
    key = layout.run_record_key("01RUN", "my-market")
    assert layout.parse_run_record_key(key) == ("01RUN", "my-market")
    for other in ("runs/01RUN.json", "runs/a/b/c.json", "seals/01RUN/demo.json",
                  "runs/01RUN/demo.txt", "captures/2026/11/28/x.json"):
        assert layout.parse_run_record_key(other) is None, other


@pytest.mark.parametrize("bad", ["", "ab", "g" * 64, SHA + "0", "../" + SHA[3:]])
def test_a_blob_key_needs_a_sha256(bad: str) -> None:
    with pytest.raises(ValueError, match="SHA-256"):
        layout.blob_key(bad)

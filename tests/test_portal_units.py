"""The portal's parts without a browser: users, sessions, throttling, queries, bind checks."""

from __future__ import annotations

import datetime as dt
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from crawler.clock import FrozenClock
from crawler.exceptions import ConfigError
from crawler.portal import queries
from crawler.portal.auth import check_ticket, make_ticket
from crawler.portal.replay import Archive, Recorded
from crawler.portal.users import (
    SESSION_TTL,
    THROTTLE_FAILURES,
    Throttled,
    UserDB,
    portal_db_path,
)
from storage.catalog import Catalog
from storage.db import local_state_dir
from storage.local import LocalStore
from tests.helpers import run_markwatch

pytest_plugins = ["tests.servers"]  # catalog_uri: SQLite, then a real PostgreSQL

PASSWORD = "a long enough password"


def _manifest(cid: str, *, case: str | None, seller: str, price: str, title: str,
              started: str, listing: str = "L1", kind: str = "listing") -> dict[str, Any]:
    return {
        "capture_id": cid, "run_id": "R1", "kind": kind,
        "watch": {"marketplace": "demo", "brand": "Lumara", "term": "t", "case": case},
        "listing": {"listing_id": listing, "title": title, "price": price, "currency": "EUR",
                    "seller_name": seller},
        "request_url": f"https://x.example/{listing}", "final_url": None, "status": 200,
        "started_at": started, "finished_at": started,
        "artifacts": [{"name": "image-01", "media_type": "image/png", "size": 1,
                       "sha256": (cid[-1] * 64), "key": "k"}],
    }


@pytest.fixture
def catalog(catalog_uri: str) -> Any:
    with Catalog(catalog_uri) as cat:  # SQLite, then PostgreSQL
        rows = [
            ("C1", "A", "Shop One", "100.00", "Bag", "2026-01-01T00:00:00Z", "L1"),
            ("C2", "A", "Shop One", "150.00", "Bag", "2026-01-02T00:00:00Z", "L1"),
            ("C3", "A", "Shop Two", "90.00", "Bag v2", "2026-01-03T00:00:00Z", "L1"),
            ("C4", "B", "Shop One", "120.00", "Other", "2026-01-02T00:00:00Z", "L2"),
            ("C5", None, "Shop Three", "5.00", "=HYPERLINK()", "2026-01-04T00:00:00Z", "L3"),
        ]
        for cid, case, seller, price, title, started, listing in rows:
            cat.index_capture(_manifest(cid, case=case, seller=seller, price=price, title=title,
                                        started=started, listing=listing), f"k/{cid}", "0" * 64)
        yield cat


def test_search_filters_sort_and_pages(catalog: Catalog) -> None:
    page = queries.search(catalog, queries.ListingQuery(case="A", seller="shop one"))
    assert [r["capture_id"] for r in page.rows] == ["C1", "C2"]
    page = queries.search(catalog, queries.ListingQuery(price_min=95, price_max=130,
                                                        currency="EUR", sort="price"))
    assert [r["capture_id"] for r in page.rows] == ["C1", "C4"]
    first = queries.search(catalog, queries.ListingQuery(descending=True, limit=2))
    assert [r["capture_id"] for r in first.rows] == ["C5", "C3"] and first.has_more
    second = queries.search(catalog, queries.ListingQuery(descending=True, limit=2, offset=4))
    assert [r["capture_id"] for r in second.rows] == ["C1"] and not second.has_more
    allowed = queries.search(catalog, queries.ListingQuery(), cases=["B", queries.NO_CASE])
    assert {r["capture_id"] for r in allowed.rows} == {"C4", "C5"}
    with pytest.raises(ValueError):
        queries.search(catalog, queries.ListingQuery(sort="capture_id; DROP TABLE captures"))


def test_cases_and_timeline_changes(catalog: Catalog) -> None:
    assert [c["name"] for c in queries.cases(catalog)] == ["A", "B", queries.NO_CASE]
    assert [c["name"] for c in queries.cases(catalog, ["B"])] == ["B"]
    rows = queries.timeline(catalog, "demo", "L1")
    assert [r["changes"] for r in rows] == [[], ["price", "images"],
                                            ["price", "title", "seller", "images"]]


def test_cli_list_uses_the_same_query(catalog: Catalog, tmp_path: Path) -> None:
    out = run_markwatch(["evidence", "list", "--seller", "Shop One", "--format", "csv",
                         "--store", f"file://{tmp_path}", "--catalog", catalog.uri],
                        cwd=tmp_path)
    assert out.code == 0, out.err
    ids = [line.split(",")[0] for line in out.out.splitlines()[1:]]
    portal_ids = [r["capture_id"] for r in
                  queries.search(catalog, queries.ListingQuery(seller="Shop One")).rows]
    assert ids == portal_ids == ["C1", "C2", "C4"]


def test_passwords_are_argon2id_and_tokens_hashed(tmp_path: Path) -> None:
    with UserDB(tmp_path / "portal.db") as db:
        db.add("alice", "viewer", PASSWORD)
        token = db.new_token("alice")
        with pytest.raises(ConfigError):
            db.add("alice", "viewer", PASSWORD)
        with pytest.raises(ConfigError):
            db.add("bob", "viewer", "short")
        with pytest.raises(ConfigError):
            db.add("bob", "root", PASSWORD)
        user = db.token_user(token)
        assert user is not None and user.name == "alice"
    raw = sqlite3.connect(tmp_path / "portal.db")
    stored = raw.execute("SELECT password FROM users").fetchone()[0]
    assert stored.startswith("$argon2id$") and PASSWORD not in stored
    assert token not in str(raw.execute("SELECT * FROM tokens").fetchall())
    raw.close()
    assert token.encode() not in (tmp_path / "portal.db").read_bytes()


def test_sessions_expire_and_end(tmp_path: Path) -> None:
    clock = FrozenClock("2026-12-01T00:00:00Z")
    with UserDB(tmp_path / "portal.db", clock) as db:
        db.add("alice", "investigator", PASSWORD)
        db.grant("alice", "A")
        sid, csrf = db.new_session("alice")
        found = db.session(sid)
        assert found is not None and found[0].cases == ("A",) and found[1] == csrf
        clock._now += SESSION_TTL + dt.timedelta(seconds=1)
        assert db.session(sid) is None
        sid, _ = db.new_session("alice")
        db.set_password("alice", PASSWORD + "!")
        assert db.session(sid) is None
        sid, _ = db.new_session("alice")
        token = db.new_token("alice")
        db.disable("alice")
        assert db.session(sid) is None and db.token_user(token) is None
        assert db.login("alice", PASSWORD + "!", "c") is None


def test_login_throttling_and_window(tmp_path: Path) -> None:
    clock = FrozenClock("2026-12-01T00:00:00Z")
    with UserDB(tmp_path / "portal.db", clock) as db:
        db.add("alice", "viewer", PASSWORD)
        for _ in range(THROTTLE_FAILURES):
            assert db.login("alice", "wrong", "10.0.0.1") is None
        with pytest.raises(Throttled):
            db.login("alice", PASSWORD, "10.0.0.2")  # per name, whatever the client
        clock._now += dt.timedelta(minutes=16)
        assert db.login("alice", PASSWORD, "10.0.0.1") is not None


def test_users_survive_a_catalog_rebuild(tmp_path: Path, catalog_uri: str) -> None:
    users = portal_db_path(local_state_dir(catalog_uri, f"file://{tmp_path}/store")
                           / "catalog.db")
    with UserDB(users) as db:
        db.add("alice", "admin", PASSWORD)
    with Catalog(catalog_uri) as cat:  # SQLite, then PostgreSQL
        cat.rebuild(LocalStore(tmp_path / "store"))
    assert users.parent in (tmp_path, tmp_path / "store")  # beside the catalog or the store
    with UserDB(users) as db:
        assert db.user("alice") is not None


def test_replay_tickets() -> None:
    now = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)
    ticket = make_ticket(b"k" * 32, "alice", "C1", now)
    assert check_ticket(b"k" * 32, ticket, "C1", now) == "alice"
    assert check_ticket(b"k" * 32, ticket, "C2", now) is None
    assert check_ticket(b"x" * 32, ticket, "C1", now) is None
    assert check_ticket(b"k" * 32, ticket, "C1", now + dt.timedelta(hours=2)) is None
    assert check_ticket(b"k" * 32, "garbage!", "C1", now) is None


@pytest.mark.parametrize("args, message", [
    (["--host", "0.0.0.0"], "without TLS"),
    (["--host", "192.0.2.1", "--port", "1"], "without TLS"),
    (["--auth-header", "X-User"], "--behind-proxy"),
])
def test_serve_refuses_unsafe_binds(tmp_path: Path, args: list[str], message: str) -> None:
    Catalog(tmp_path / "store" / "catalog.db").close()
    out = run_markwatch(["serve", "--store", f"file://{tmp_path / 'store'}", *args],
                        cwd=tmp_path, timeout=60)
    assert out.code == 2 and message in out.err


def test_users_cli(tmp_path: Path) -> None:
    store = ["--store", f"file://{tmp_path / 'store'}"]
    out = run_markwatch(["users", "add", "root", "--role", "admin", "--generate", *store],
                        cwd=tmp_path)
    assert out.code == 0 and "one-time password" in out.out
    password = out.out.rsplit(": ", 1)[1].strip()
    assert run_markwatch(["users", "grant", "root", "CASE-1", *store], cwd=tmp_path).code == 0
    listed = run_markwatch(["users", "list", *store], cwd=tmp_path)
    assert "root" in listed.out and "admin" in listed.out and "CASE-1" in listed.out
    with UserDB(tmp_path / "store" / "portal.db") as db:
        assert db.login("root", password, "cli") is not None
    bad = run_markwatch(["users", "disable", "nobody", *store], cwd=tmp_path)
    assert bad.code == 2 and "no user" in bad.err


def test_replay_rewrites_recorded_urls_only() -> None:
    page = (b'<html><META http-equiv="Refresh" content="0;url=https://elsewhere.test/">'
            b'<link href="/s.css"><img src="http://x.test/i.png">'
            b'<a href="https://elsewhere.test/">out</a></html>')
    archive = Archive("C", [Recorded("http://x.test/p", 200, "text/html", page),
                            Recorded("http://x.test/s.css", 200, "text/css",
                                     b"b{background:url(/i.png)}"),
                            Recorded("http://x.test/i.png", 200, "image/png", b"\x89PNG/s.css")],
                      "http://x.test/p")
    html = archive.body(0, "T")[1].decode()
    assert 'href="/replay/C/T/r/1"' in html and 'src="/replay/C/T/r/2"' in html
    assert "Refresh" not in html and 'href="https://elsewhere.test/"' in html
    assert archive.body(1, "T")[1] == b"b{background:url(/replay/C/T/r/2)}"
    assert archive.body(2, "T")[1] == b"\x89PNG/s.css"  # binary bodies untouched

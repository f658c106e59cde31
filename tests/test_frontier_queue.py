"""The frontier's Redis side against a real redis-server: leases, reaping, the shared
dupefilter, claims, politeness slots and URIs shown without their password."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from crawler.exceptions import ConfigError
from crawler.frontier.codec import seed_payload
from crawler.frontier.queue import Frontier, connect
from crawler.frontier.uri import check_uri, redact
from tests.helpers import run_markwatch
from tests.servers.redis import PASSWORD, RedisServer


@pytest.fixture
def frontier(redis_server: RedisServer, request: pytest.FixtureRequest) -> Frontier:
    run_id = f"T{abs(hash(request.node.nodeid))}"
    f = Frontier(connect(redis_server.uri), run_id, lease_seconds=0.5)
    f.create({"run_id": run_id, "marketplaces": ["demo"]})
    return f


def listing(url: str) -> dict[str, object]:
    return {"kind": "listing", "url": url, "watch": ["B", "t"], "pages": 1, "listings": 1,
            "seen": [], "retry_after": 0, "claim": url}


def test_a_listing_is_queued_once_per_run(frontier: Frontier) -> None:
    assert frontier.push("demo", listing("http://x/item/1"))
    assert not frontier.push("demo", listing("http://x/item/1"))  # shared dupefilter
    assert frontier.push("demo", seed_payload("B", "t"))
    assert frontier.push("demo", seed_payload("B", "t"))  # searches are not filtered
    assert frontier.depth("demo") == (3, 0)


def test_an_expired_lease_returns_its_request(frontier: Frontier) -> None:
    frontier.push("demo", listing("http://x/item/2"))
    popped = frontier.pop("demo")
    assert popped is not None
    lease, payload = popped
    assert frontier.depth("demo") == (0, 1)
    assert frontier.reap("demo") == 0  # not expired yet
    time.sleep(0.7)
    assert frontier.reap("demo") == 1
    again = frontier.pop("demo")
    assert again is not None and again[1]["url"] == payload["url"]
    assert again[1]["attempt"] == 1 and again[0] != lease


def test_a_renewed_lease_is_kept(frontier: Frontier) -> None:
    frontier.push("demo", listing("http://x/item/3"))
    popped = frontier.pop("demo")
    assert popped is not None
    for _ in range(3):
        time.sleep(0.3)
        assert frontier.renew("demo", [popped[0]]) == 1
        assert frontier.reap("demo") == 0


def test_a_claimed_listing_is_not_taken_again(frontier: Frontier) -> None:
    frontier.push("demo", listing("http://x/item/4"))
    popped = frontier.pop("demo")
    assert popped is not None
    frontier.push("demo", listing("http://x/item/4"), dedupe=False)  # e.g. a retry
    frontier.ack("demo", popped[0], claim="http://x/item/4")
    assert frontier.pop("demo") is None  # the claim set skips it
    assert frontier.is_drained() is False  # not seeded
    frontier.mark_seeded()
    assert frontier.is_drained()


def test_politeness_slots_are_shared(redis_server: RedisServer) -> None:
    one = Frontier(connect(redis_server.uri), "P1", lease_seconds=30)
    two = Frontier(connect(redis_server.uri), "P2", lease_seconds=30)  # another run, same site
    mp = "unit-polite"  # politeness is per marketplace, across workers and runs
    for i in range(4):
        one.push(mp, listing(f"http://x/p1/{i}"))
        two.push(mp, listing(f"http://x/p2/{i}"))
    a = one.take(mp, concurrency=2)
    b = two.take(mp, concurrency=2)
    assert isinstance(a, tuple) and isinstance(b, tuple)
    assert isinstance(one.take(mp, concurrency=2), float)  # both slots held: wait
    one.ack(mp, a[0])  # ending a lease frees its slot
    c = two.take(mp, concurrency=2)
    assert isinstance(c, tuple)
    two.ack(mp, b[0])
    two.ack(mp, c[0])
    two.set_backoff(mp, 30.0)  # a block seen by one worker slows every worker
    d = one.take(mp, concurrency=2)
    assert isinstance(d, tuple)
    one.ack(mp, d[0])
    wait = two.take(mp, concurrency=2)
    assert isinstance(wait, float) and wait > 20
    assert two.depth(mp) == (2, 0)  # waiting took nothing from the queue


def test_nothing_queued_takes_no_slot(frontier: Frontier) -> None:
    assert frontier.take("demo", concurrency=1) is None


def test_finalize_is_claimed_once(frontier: Frontier) -> None:
    assert frontier.claim_finalize()
    assert not frontier.claim_finalize()


def test_uris_never_show_a_password() -> None:
    uri = f"redis://:{PASSWORD}@127.0.0.1:6379/0"
    assert PASSWORD not in redact(uri) and redact(uri) == "redis://***@127.0.0.1:6379/0"
    with pytest.raises(ConfigError) as bad:
        check_uri(f"http://:{PASSWORD}@example.invalid/")
    assert PASSWORD not in str(bad.value)


def test_a_waiting_worker_goes_before_one_holding_a_slot(redis_server: RedisServer) -> None:
    f = Frontier(connect(redis_server.uri), "FAIR", lease_seconds=30)
    mp = "unit-fair"
    for i in range(5):
        f.push(mp, listing(f"http://x/fair/{i}"))
    a1 = f.take(mp, 2, worker="A", holding=0)
    a2 = f.take(mp, 2, worker="A", holding=1)
    assert isinstance(a1, tuple) and isinstance(a2, tuple)
    assert isinstance(f.take(mp, 2, worker="B", holding=0), float)  # B now waits
    f.ack(mp, a1[0])
    assert isinstance(f.take(mp, 2, worker="A", holding=1), float)  # A gives way to B
    assert isinstance(f.take(mp, 2, worker="B", holding=0), tuple)


def test_finalize_by_hand_waits_for_the_workers(redis_server: RedisServer,
                                                tmp_path: Path) -> None:
    f = Frontier(connect(redis_server.uri), "BYHAND")
    f.create({"run_id": "BYHAND", "marketplaces": ["demo"]})
    f.push("demo", listing("http://x/byhand/1"))
    f.mark_seeded()
    env = {"MARKWATCH_FRONTIER": redis_server.uri}
    busy = run_markwatch(["runs", "finalize", "BYHAND"], cwd=tmp_path, env=env)
    assert busy.code == 2 and "still has requests queued or leased" in busy.err
    missing = run_markwatch(["runs", "finalize", "NOSUCHRUN"], cwd=tmp_path, env=env)
    assert missing.code == 2 and "no run NOSUCHRUN" in missing.err
    assert PASSWORD not in busy.out + busy.err + missing.out + missing.err
    assert not f.r.exists(f.key("finalizing"))  # nothing was written or claimed


def test_an_unreachable_frontier_is_a_clear_error(tmp_path: Path) -> None:
    from tests.servers.redis import free_port

    uri = f"redis://:{PASSWORD}@127.0.0.1:{free_port()}/0"  # nothing listens there
    out = run_markwatch(["worker", "--once"], cwd=tmp_path, env={"MARKWATCH_FRONTIER": uri})
    assert out.code == 1 and "unavailable" in out.err and "Traceback" not in out.err
    assert PASSWORD not in out.out + out.err and "redis://***@127.0.0.1" in out.err


def test_a_returned_listing_already_in_the_catalog_is_not_captured_again(
        frontier: Frontier, tmp_path: Path) -> None:
    """A listing back from an expired lease whose capture a dead worker stored: found by its
    URL (long ones too) among the run's captures, through the URL prefix index."""
    from crawler.frontier.leases import LeaseTracker
    from storage.catalog import Catalog
    from tests.test_triage_sellers import manifest

    uri = f"sqlite:///{tmp_path / 'catalog.db'}"
    long_url = "http://127.0.0.1/item/" + "x" * 300
    stored, other_run = manifest(1, "demo", "S"), manifest(2, "demo", "S")
    stored.update(run_id=frontier.run_id, request_url=long_url)
    other_run.update(request_url="http://127.0.0.1/item/elsewhere")
    with Catalog(uri) as cat:
        cat.index_captures([(stored, "captures/1.json", "1" * 64),
                            (other_run, "captures/2.json", "2" * 64)])
    tracker = LeaseTracker(frontier, catalog_uri=uri, marketplace="demo")
    back = {**listing(long_url), "attempt": 1}
    assert tracker.already_captured(back)
    assert not tracker.already_captured({**back, "url": long_url[:-1] + "y"})  # same prefix
    assert not tracker.already_captured({**back, "url": "http://127.0.0.1/item/elsewhere"})
    assert not tracker.already_captured(listing(long_url))  # a first attempt: not looked up

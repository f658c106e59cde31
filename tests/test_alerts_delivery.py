"""Alert delivery against real local receivers: signatures, retries, the outbox, e-mail
escaping, unreachable channels, and a crash between sending and recording."""

from __future__ import annotations

import json
import os
import subprocess
import textwrap
from pathlib import Path

import pytest

from crawler.alerts.config import AlertsConfig
from crawler.alerts.dispatch import CRASH_AFTER_SEND, Dispatcher
from crawler.alerts.events import Event, EventType, event_id
from crawler.alerts.outbox import Outbox
from crawler.alerts.records import AlertIndex
from crawler.clock import FrozenClock
from crawler.watchlist import parse_watchlist
from storage.catalog import Catalog
from storage.uri import open_store
from tests.alert_servers import black_hole, closed_port, smtp_server, webhook_receiver
from tests.helpers import MARKWATCH, isolated_env

SECRET = "s3cret-hook-key"
ENV = {"HOOK_SECRET": SECRET}
MARKUP = 'Lumara handbag <script>alert(1)</script><b>bold</b> & "quoted"'

BASE = """\
version: 1
case: CASE-7
brands:
  - name: Lumara
    terms: [lumara]
    marketplaces: [demo]
"""


def watchlist_text(alerts: str) -> str:
    return BASE + textwrap.dedent(alerts)


def config(alerts: str) -> AlertsConfig:
    wl = parse_watchlist(watchlist_text(alerts), "wl.yaml", ["demo"])
    assert wl.alerts is not None
    return wl.alerts


def event(n: int, title: str = "Lumara handbag cheap") -> Event:
    return Event(event_id(EventType.SUSPICIOUS_LISTING, "demo", f"DM{n}"),
                 EventType.SUSPICIOUS_LISTING, "2026-12-04T10:00:00Z",
                 f"Suspicious listing (Lumara on demo) at 99 EUR: {title}", run_id="RUN1",
                 case="CASE-7", brand="Lumara", marketplace="demo",
                 listing_url=f"http://127.0.0.1/item/DM{n}", listing_id=f"DM{n}",
                 capture_ids=(f"CAP{n}",), title=title, price="99", currency="EUR")


def dispatcher(cfg: AlertsConfig, tmp: Path, env: dict[str, str] | None = None,
               start: str = "2026-12-04T12:00:00Z") -> Dispatcher:
    store = open_store(f"file://{tmp / 'store'}")
    return Dispatcher(cfg, Outbox(tmp / "outbox"), store=store,
                      index=AlertIndex(tmp / "catalog.db"),
                      clock=FrozenClock(start, step=1), environ=env or ENV,
                      sleep=lambda s: None)


def hook_rule(url: str, retries: int = 3, timeout: float = 2, name: str = "hook") -> str:
    return f"""\
        alerts:
          channels:
            {name}: {{webhook: "{url}", secret_env: HOOK_SECRET, retries: {retries},
                     timeout: {timeout}}}
          rules:
            - {{events: [suspicious_listing], channels: [{name}]}}
        """


def test_500_then_200_delivers_each_event_once_with_a_valid_signature(tmp_path: Path) -> None:
    with webhook_receiver(SECRET.encode(), [500]) as receiver:
        d = dispatcher(config(hook_rule(receiver.url)), tmp_path)
        events = [event(1), event(2)]
        d.record(events)
        assert d.enqueue(events) == 2
        result = d.deliver()
        assert len(result.delivered) == 2 and not result.failed
        assert [r.status for r in receiver.requests] == [500, 200, 200]
        assert all(r.signature_ok for r in receiver.requests)
        assert set(receiver.accepted) == {e.event_id for e in events}
        # the retry carried the same event id as the refused attempt
        assert receiver.requests[0].event_id == receiver.requests[1].event_id
        body = json.loads(receiver.accepted[events[0].event_id])
        assert body["event_id"] == events[0].event_id and body["capture_ids"] == ["CAP1"]
        # found again by a later run: not queued, not sent again
        assert d.enqueue(events) == 0
        assert not d.deliver().delivered
        assert len(receiver.requests) == 3
    rows = d.index.events() if d.index else []
    assert {r["event_id"] for r in rows} == {e.event_id for e in events}
    assert all(r["deliveries"][-1]["outcome"] == "delivered" for r in rows)


def test_a_failed_pass_keeps_the_event_for_the_next_run(tmp_path: Path) -> None:
    with webhook_receiver(SECRET.encode(), [500]) as receiver:
        d = dispatcher(config(hook_rule(receiver.url, retries=1)), tmp_path)
        d.record([event(1)])
        d.enqueue([event(1)])
        first = d.deliver()
        assert not first.delivered and "HTTP 500" in first.failed[0]
        assert [e.state for e in d.outbox.entries()] == ["pending"]
        # the next run, a new process: the outbox on disk is all it has
        again = dispatcher(config(hook_rule(receiver.url, retries=1)), tmp_path,
                           start="2026-12-04T18:00:00Z")
        assert len(again.deliver().delivered) == 1
        assert [r.status for r in receiver.requests] == [500, 200]
        assert list(receiver.accepted) == [event(1).event_id]
    # the store alone rebuilds the history in the catalog
    with Catalog(tmp_path / "rebuilt.db") as cat:
        cat.rebuild(open_store(f"file://{tmp_path / 'store'}"))
    with AlertIndex(tmp_path / "rebuilt.db") as index:
        rows = index.events()
    assert [d["outcome"] for d in rows[0]["deliveries"]] == ["failed", "delivered"]


def test_email_digest_escapes_page_markup(tmp_path: Path) -> None:
    with smtp_server() as (port, inbox):
        cfg = config(f"""\
            alerts:
              channels:
                mail: {{email: ["legal@example.com", "team@example.com"],
                        smtp: "127.0.0.1:{port}", starttls: false, from: "mw@example.com"}}
              rules:
                - {{events: [suspicious_listing], channels: [mail], digest: daily}}
            """)
        d = dispatcher(cfg, tmp_path)
        events = [event(1, MARKUP), event(2)]
        d.record(events)
        d.enqueue(events)
        assert len(d.deliver().delivered) == 2
        assert len(inbox.messages) == 1  # one digest for both events
        msg = inbox.messages[0]
        assert inbox.envelopes[0] == ("mw@example.com", ["legal@example.com", "team@example.com"])
        assert msg["Subject"].startswith("[markwatch] daily digest: 2 suspicious listings")
        html_part = msg.get_body(("html",))
        text_part = msg.get_body(("plain",))
        assert html_part is not None and text_part is not None
        html = html_part.get_content()
        assert "<script>" not in html and "<b>bold</b>" not in html
        assert "&lt;script&gt;alert(1)&lt;/script&gt;&lt;b&gt;bold&lt;/b&gt; &amp; " \
               "&quot;quoted&quot;" in html
        assert MARKUP in text_part.get_content()
        # the same day, a second digest waits for tomorrow
        d.record([event(3)])
        d.enqueue([event(3)])
        assert not d.deliver().delivered and len(inbox.messages) == 1
        assert len(d.deliver(digest_now=True).delivered) == 1 and len(inbox.messages) == 2


def test_unreachable_channels_fail_within_their_timeout(tmp_path: Path) -> None:
    dead = closed_port()
    with black_hole() as hole:
        cfg = config(f"""\
            alerts:
              channels:
                closed: {{webhook: "http://127.0.0.1:{dead}/h", secret_env: HOOK_SECRET,
                          timeout: 0.5, retries: 2}}
                silent: {{webhook: "http://127.0.0.1:{hole}/h", secret_env: HOOK_SECRET,
                          timeout: 0.5, retries: 2}}
                mail: {{email: [a@example.com], smtp: "127.0.0.1:{hole}", starttls: false,
                        from: mw@example.com, timeout: 0.5, retries: 1}}
              rules:
                - {{events: [suspicious_listing], channels: [closed, silent, mail]}}
            """)
        d = dispatcher(cfg, tmp_path)
        d.record([event(1), event(2)])
        d.enqueue([event(1), event(2)])
        result = d.deliver()
    # one bounded try per unreachable channel and pass, however many events wait for it
    assert sorted(result.failed)[1].startswith("closed:") and \
        sorted(result.failed)[1].endswith("not tried, closed was unreachable")
    assert sorted((e.channel, e.attempts) for e in d.outbox.entries()) == [
        ("closed", 0), ("closed", 1), ("mail", 1), ("mail", 1), ("silent", 0), ("silent", 1)]
    failed = sorted(f for f in result.failed if "not tried" not in f)
    assert len(failed) == 4 and not result.delivered  # the e-mail carried both events
    assert "closed:" in failed[0] and "connection failed" in failed[0]
    assert "(after 2 attempts)" in failed[0]
    assert failed[1].startswith("mail:") and "timeout of 0.5 s" in failed[1]
    assert failed[3].startswith("silent:") and "no answer within the timeout of 0.5 s " \
        "(after 2 attempts)" in failed[3]
    assert {e.state for e in d.outbox.entries()} == {"pending"}


def test_a_missing_secret_is_a_failed_delivery_not_a_crash(tmp_path: Path) -> None:
    with webhook_receiver(SECRET.encode()) as receiver:
        d = dispatcher(config(hook_rule(receiver.url)), tmp_path, env={"OTHER": "x"})
        d.record([event(1)])
        d.enqueue([event(1)])
        result = d.deliver()
    assert "HOOK_SECRET" in result.failed[0] and not receiver.requests


def test_crash_between_sending_and_recording_does_not_send_twice(tmp_path: Path) -> None:
    with webhook_receiver(SECRET.encode()) as receiver:
        text = watchlist_text(hook_rule(receiver.url))
        (tmp_path / "wl.yaml").write_text(text, encoding="utf-8")
        d = dispatcher(config(hook_rule(receiver.url)), tmp_path)
        d.record([event(1)])
        d.enqueue([event(1)])
        env = isolated_env()
        env.update(ENV, MARKWATCH_OUTBOX_DIR=str(tmp_path / "outbox"),
                   MARKWATCH_STORE=f"file://{tmp_path / 'store'}",
                   MARKWATCH_CATALOG=f"sqlite:///{tmp_path / 'catalog.db'}")

        def retry(*extra: str, crash: bool = False) -> subprocess.CompletedProcess[str]:
            run_env = {**env, CRASH_AFTER_SEND: "1"} if crash else env
            return subprocess.run([MARKWATCH, "alerts", "retry", "-w", "wl.yaml", *extra],
                                  cwd=tmp_path, env=run_env, capture_output=True, text=True,
                                  timeout=120, check=False)

        crashed = retry(crash=True)
        assert crashed.returncode == 86, crashed.stderr  # died right after the HTTP response
        assert len(receiver.requests) == 1
        assert [e.state for e in Outbox(tmp_path / "outbox").entries()] == ["sending"]
        restarted = retry()
        assert restarted.returncode == 0, restarted.stderr
        assert "1 unconfirmed" in restarted.stdout
        assert len(receiver.requests) == 1  # not sent again
        pending = subprocess.run([MARKWATCH, "alerts", "pending", "--format", "json"],
                                 cwd=tmp_path, env=env, capture_output=True, text=True,
                                 check=True)
        rows = json.loads(pending.stdout)
        assert [(r["state"], r["event_id"]) for r in rows] == [("unconfirmed", event(1).event_id)]
        # an operator who checked the receiver may resend: same event id, so it dedupes
        resent = retry("--unconfirmed")
        assert resent.returncode == 0 and "1 delivered" in resent.stdout
        assert [r.event_id for r in receiver.requests] == [event(1).event_id] * 2
        assert list(receiver.accepted) == [event(1).event_id]
        listed = subprocess.run([MARKWATCH, "alerts", "list", "--format", "json"],
                                cwd=tmp_path, env=env, capture_output=True, text=True,
                                check=True)
        outcomes = [x["outcome"] for x in json.loads(listed.stdout)[0]["deliveries"]]
        assert outcomes == ["unconfirmed", "delivered"]


@pytest.mark.parametrize("policy", ["resend"])
def test_unconfirmed_resend_policy_resends_under_the_same_id(tmp_path: Path,
                                                             policy: str) -> None:
    with webhook_receiver(SECRET.encode()) as receiver:
        alerts = hook_rule(receiver.url).replace(
            "timeout: 2}", f"timeout: 2, unconfirmed: {policy}}}")
        d = dispatcher(config(alerts), tmp_path)
        d.record([event(1)])
        d.enqueue([event(1)])
        entry = d.outbox.entries()[0]
        entry.state, entry.batch_id = "sending", entry.event_id  # as a crash leaves it
        d.outbox.save(entry)
        assert len(d.deliver().delivered) == 1
        assert [r.event_id for r in receiver.requests] == [event(1).event_id]


def test_the_receiver_example_in_the_docs_checks_our_signature() -> None:
    import re
    import time as _time

    from crawler.alerts.signing import sign

    doc = (Path(__file__).resolve().parents[1] / "docs" / "alerts.md").read_text()
    code = re.search(r"## Verifying a delivery.*?```python\n(.*?)```", doc, re.S)
    assert code is not None
    scope: dict[str, object] = {}
    exec(code.group(1), scope)  # our own documentation's example
    accept = scope["accept"]
    secret = b"the value of MARKWATCH_HOOK_SECRET"
    body = b'{"event_id": "evt_1"}'
    stamp = int(_time.time())

    def headers(ts: int, signed: bytes = body, eid: str = "evt_1") -> dict[str, str]:
        return {"X-Markwatch-Timestamp": str(ts), "X-Markwatch-Event-Id": eid,
                "X-Markwatch-Signature": sign(secret, ts, signed)}

    assert callable(accept)
    assert accept(headers(stamp), body) is True
    assert accept(headers(stamp), body) is False  # the same event again: deduped
    assert accept(headers(stamp, eid="evt_2"), body + b" ") is False  # body changed
    assert accept(headers(stamp - 3600, eid="evt_3"), body) is False  # outside the window


def cli_env(tmp: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("MARKWATCH_") and k != "HOOK_SECRET"}
    env.update(MARKWATCH_OUTBOX_DIR=str(tmp / "outbox"), MARKWATCH_STORE=f"file://{tmp / 's'}",
               **extra)
    return env


def test_alerts_test_command(tmp_path: Path) -> None:
    with webhook_receiver(SECRET.encode()) as receiver:
        (tmp_path / "wl.yaml").write_text(watchlist_text(f"""\
            alerts:
              channels:
                hook: {{webhook: "{receiver.url}", secret_env: HOOK_SECRET}}
                dead: {{webhook: "http://127.0.0.1:{closed_port()}/", secret_env: HOOK_SECRET,
                       retries: 1}}
            """), encoding="utf-8")

        def test(name: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run([MARKWATCH, "alerts", "test", name, "-w", "wl.yaml"],
                                  cwd=tmp_path, env=cli_env(tmp_path, **ENV),
                                  capture_output=True, text=True, timeout=60, check=False)

        ok = test("hook")
        assert ok.returncode == 0, ok.stderr
        assert len(receiver.requests) == 1 and receiver.requests[0].signature_ok
        assert json.loads(receiver.requests[0].body)["type"] == "test"
        dead = test("dead")
        assert dead.returncode == 1 and "connection failed" in dead.stderr
        assert SECRET not in ok.stdout + ok.stderr + dead.stdout + dead.stderr


def test_crawl_refuses_to_start_without_a_channel_secret(tmp_path: Path) -> None:
    (tmp_path / "wl.yaml").write_text(watchlist_text(hook_rule("https://hooks.example/h")),
                                      encoding="utf-8")
    result = subprocess.run([MARKWATCH, "crawl", "-w", "wl.yaml"], cwd=tmp_path,
                            env=cli_env(tmp_path), capture_output=True, text=True,
                            timeout=120, check=False)
    assert result.returncode == 2
    assert "HOOK_SECRET" in result.stderr and "configuration error" in result.stderr
    assert not (tmp_path / "s").exists()  # nothing crawled, nothing stored


def test_starttls_with_login_and_a_certificate_we_do_not_trust(tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch
                                                              ) -> None:
    from tests.alert_servers import starttls_smtp_server

    creds = {"SMTP_USER": "alerts", "SMTP_PASSWORD": "pw-never-logged"}
    with starttls_smtp_server(tmp_path, "alerts", "pw-never-logged") as (port, inbox, cert):
        cfg = config(f"""\
            alerts:
              channels:
                mail: {{email: [legal@example.com], smtp: "127.0.0.1:{port}", starttls: true,
                        from: mw@example.com, user_env: SMTP_USER, password_env: SMTP_PASSWORD,
                        timeout: 5}}
              rules:
                - {{events: [suspicious_listing], channels: [mail]}}
            """)
        # the server's certificate is not trusted: nothing is sent, nothing retried
        d = dispatcher(cfg, tmp_path / "untrusted", env=creds)
        d.record([event(1)])
        d.enqueue([event(1)])
        failed = d.deliver().failed
        assert len(failed) == 1 and "TLS error" in failed[0] and "(after 1 attempt)" in failed[0]
        assert "pw-never-logged" not in failed[0] and not inbox.messages
        # trusted (the system store is told about it): STARTTLS, login, delivered
        monkeypatch.setenv("SSL_CERT_FILE", str(cert))
        trusted = dispatcher(cfg, tmp_path / "trusted", env=creds)
        trusted.record([event(1)])
        trusted.enqueue([event(1)])
        assert len(trusted.deliver().delivered) == 1 and len(inbox.messages) == 1
        # a wrong password is a failure kept in the outbox, the password never in the reason
        wrong = dispatcher(cfg, tmp_path / "wrong",
                           env={**creds, "SMTP_PASSWORD": "not-the-password"})
        wrong.record([event(2)])
        wrong.enqueue([event(2)])
        refused = wrong.deliver().failed
        assert len(refused) == 1 and "SMTP server answered 535" in refused[0]
        assert "not-the-password" not in refused[0] and len(inbox.messages) == 1


def test_crash_after_an_email_is_handed_over_does_not_send_it_again(tmp_path: Path) -> None:
    with smtp_server() as (port, inbox):
        alerts = f"""\
            alerts:
              channels:
                mail: {{email: [legal@example.com], smtp: "127.0.0.1:{port}", starttls: false,
                        from: mw@example.com}}
              rules:
                - {{events: [suspicious_listing], channels: [mail]}}
            """
        (tmp_path / "wl.yaml").write_text(watchlist_text(alerts), encoding="utf-8")
        d = dispatcher(config(alerts), tmp_path)
        d.record([event(1), event(2)])
        d.enqueue([event(1), event(2)])
        env = cli_env(tmp_path, MARKWATCH_CATALOG=f"sqlite:///{tmp_path / 'catalog.db'}")

        def retry(extra: dict[str, str]) -> subprocess.CompletedProcess[str]:
            return subprocess.run([MARKWATCH, "alerts", "retry", "-w", "wl.yaml"], cwd=tmp_path,
                                  env={**env, **extra}, capture_output=True, text=True,
                                  timeout=120, check=False)

        assert retry({CRASH_AFTER_SEND: "1"}).returncode == 86
        assert len(inbox.messages) == 1  # both events in one message, handed over
        restarted = retry({})
        assert restarted.returncode == 0 and "2 unconfirmed" in restarted.stdout
        assert len(inbox.messages) == 1
        assert {e.state for e in Outbox(tmp_path / "outbox").entries()} == {"unconfirmed"}

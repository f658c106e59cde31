"""The watchlist's `alerts:` section: valid forms, and errors naming file, line and field."""

from __future__ import annotations

import textwrap

import pytest

from crawler.alerts.config import EmailChannel, WebhookChannel
from crawler.alerts.events import EventType
from crawler.exceptions import ConfigError, WatchlistError
from crawler.watchlist import parse_watchlist

BASE = """\
version: 1
case: CASE-1
brands:
  - name: Lumara
    terms: [lumara]
    marketplaces: [demo]
"""


def load(alerts: str):  # type: ignore[no-untyped-def]
    return parse_watchlist(BASE + textwrap.dedent(alerts), "wl.yaml", ["demo"])


def error(alerts: str) -> WatchlistError:
    with pytest.raises(WatchlistError) as info:
        load(alerts)
    return info.value


def test_old_watchlists_have_no_alerts() -> None:
    assert parse_watchlist(BASE, "wl.yaml", ["demo"]).alerts is None


def test_spec_example_is_valid() -> None:
    wl = load("""\
        alerts:
          portal_url: "https://portal.example.net/"
          spool_stale_after: 30m
          channels:
            team-hook: {webhook: "https://hooks.example.net/markwatch", secret_env: HOOK_SECRET}
            legal-mail: {email: ["legal@example.com"], smtp: "smtp.example.net:587",
                         starttls: true, from: "markwatch@example.com", user_env: SMTP_USER,
                         password_env: SMTP_PASSWORD}
          rules:
            - events: [suspicious_listing, listing_removed, listing_relisted]
              channels: [team-hook]
              min_score: 70
            - events: [run_failed, seal_failed, spool_stale, coverage_drop, marketplace_blocked]
              channels: [legal-mail]
              digest: daily
        """)
    alerts = wl.alerts
    assert alerts is not None
    assert alerts.portal_url == "https://portal.example.net"
    assert alerts.spool_stale_after == 1800
    hook = alerts.channels["team-hook"]
    mail = alerts.channels["legal-mail"]
    assert isinstance(hook, WebhookChannel) and hook.secret_env == "HOOK_SECRET"
    assert isinstance(mail, EmailChannel)
    assert (mail.host, mail.port, mail.security) == ("smtp.example.net", 587, "starttls")
    assert alerts.rules[0].min_score == 70 and alerts.rules[0].digest is None
    assert alerts.rules[1].digest == "daily"
    assert EventType.COVERAGE_DROP in alerts.rules[1].events
    assert sorted(alerts.secret_names()) == ["HOOK_SECRET", "SMTP_PASSWORD", "SMTP_USER"]
    with pytest.raises(ConfigError) as info:
        alerts.check_environment({"HOOK_SECRET": "s3cret"})
    assert "SMTP_PASSWORD" in str(info.value) and "s3cret" not in str(info.value)
    alerts.check_environment({"HOOK_SECRET": "a", "SMTP_USER": "b", "SMTP_PASSWORD": "c"})


@pytest.mark.parametrize(("alerts", "line", "field", "words"), [
    ("alerts:\n  channels:\n    h: {webhook: 'https://x.example/h', secret: abc}\n",
     9, "alerts.channels.h.secret", "environment variable"),
    ("alerts:\n  channels:\n    h: {webhook: 'http://hooks.example/h', secret_env: S}\n",
     9, "alerts.channels.h.webhook", "loopback"),
    ("alerts:\n  channels:\n    h: {webhook: 'https://u:p@x.example/h', secret_env: S}\n",
     9, "alerts.channels.h.webhook", "credentials"),
    ("alerts:\n  channels:\n    h: {webhook: 'https://x.example/h', secret_env: 'abc def!'}\n",
     9, "alerts.channels.h.secret_env", "NAME of an environment variable"),
    ("alerts:\n  channels:\n    m: {email: [a@b.example], smtp: 'smtp.example:25',\n"
     "        starttls: false, from: m@b.example}\n",
     10, "alerts.channels.m.starttls", "loopback"),
    ("alerts:\n  channels:\n    m: {email: [not-an-address], smtp: 'smtp.example',\n"
     "        from: m@b.example}\n",
     9, "alerts.channels.m.email[0]", "not an e-mail address"),
    ("alerts:\n  channels:\n    h: {webhook: 'https://x.example/h', secret_env: S}\n"
     "  rules:\n    - {events: [suspicous_listing], channels: [h]}\n",
     11, "alerts.rules[0].events[0]", "suspicious_listing"),
    ("alerts:\n  channels:\n    h: {webhook: 'https://x.example/h', secret_env: S}\n"
     "  rules:\n    - {events: [run_failed], channels: [hook]}\n",
     11, "alerts.rules[0].channels[0]", "no channel named 'hook'"),
    ("alerts:\n  channels:\n    h: {webhook: 'https://x.example/h', secret_env: S}\n"
     "  rules:\n    - {events: [run_failed], channels: [h], digest: weekly}\n",
     11, "alerts.rules[0].digest", "daily"),
    ("alerts:\n  spool_stale_after: soon\n  channels:\n"
     "    h: {webhook: 'https://x.example/h', secret_env: S}\n",
     8, "alerts.spool_stale_after", "duration"),
    ("alerts:\n  channels:\n    h: {webhook: 'https://x.example/h', secret_env: S, timeout: 0}\n",
     9, "alerts.channels.h.timeout", "between"),
])
def test_errors_name_file_line_and_field(alerts: str, line: int, field: str, words: str) -> None:
    exc = error(alerts)
    assert (exc.path, exc.line, exc.field) == ("wl.yaml", line, field)
    assert words in exc.reason


def test_email_security_forms() -> None:
    wl = load("""\
        alerts:
          channels:
            local: {email: [a@b.example], smtp: "127.0.0.1:2525", starttls: false,
                    from: m@b.example}
            smtps: {email: [a@b.example], smtp: "smtp.example.net", tls: true, from: m@b.example}
        """)
    assert wl.alerts is not None
    local, smtps = wl.alerts.channels["local"], wl.alerts.channels["smtps"]
    assert isinstance(local, EmailChannel) and isinstance(smtps, EmailChannel)
    assert (local.host, local.port, local.security) == ("127.0.0.1", 2525, "none")
    assert (smtps.port, smtps.security) == (465, "tls")

"""The watchlist's `alerts:` section: channels, rules and their validation.

```yaml
alerts:
  portal_url: "https://portal.example.net"      # optional: events link to the portal
  spool_stale_after: 6h                         # optional (default 6h): spool_stale threshold
  channels:
    team-hook: {webhook: "https://hooks.example.net/mw", secret_env: MARKWATCH_HOOK_SECRET}
    legal-mail: {email: ["legal@example.com"], smtp: "smtp.example.net:587", starttls: true,
                 from: "markwatch@example.com", user_env: SMTP_USER, password_env: SMTP_PASSWORD}
  rules:
    - {events: [suspicious_listing], channels: [team-hook], brands: [Lumara], min_score: 70}
    - {events: [run_failed, seal_failed], channels: [legal-mail], digest: daily}
```

Secrets are never written in the watchlist: a channel names the environment variables that
hold them (`secret_env`, `user_env`, `password_env`), and `check_environment()` says, before
anything is crawled, which of them is missing (by name; values are never shown or stored).
Every error names the file, the line and the field, as the rest of the watchlist does.
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from urllib.parse import urlsplit

import yaml

from crawler.alerts.events import SCORED, EventType
from crawler.exceptions import ConfigError
from crawler.yaml_nodes import NodeReader, close_matches, is_null

_KEYS = ("portal_url", "spool_stale_after", "channels", "rules")
_WEBHOOK_KEYS = ("webhook", "secret_env", "timeout", "retries", "unconfirmed")
_EMAIL_KEYS = ("email", "smtp", "starttls", "tls", "from", "user_env", "password_env",
               "timeout", "retries", "unconfirmed")
_RULE_KEYS = ("events", "channels", "cases", "brands", "min_score", "digest")
_SECRET_WORDS = ("secret", "password", "token", "user", "username", "api_key", "key")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_CHANNEL_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*$")
_ADDRESS = re.compile(r"^[^@\s<>\"',;]+@[^@\s<>\"',;]+\.[^@\s<>\"',;]+$|^[^@\s<>\"',;]+@localhost$")
_DURATION = re.compile(r"^(\d+)\s*([smhd]?)$")
_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}
DEFAULT_TIMEOUT = 10.0
DEFAULT_RETRIES = 3
DEFAULT_STALE = 6 * 3600
UNCONFIRMED = ("hold", "resend")


@dataclass(frozen=True)
class WebhookChannel:
    """POST each event as signed JSON to `url`."""

    name: str
    url: str
    secret_env: str
    timeout: float = DEFAULT_TIMEOUT
    """Seconds for each network step of one attempt (connect, send, each read)."""
    retries: int = DEFAULT_RETRIES
    """Attempts per delivery pass (on 5xx, timeouts, connection errors)."""
    unconfirmed: str = "hold"
    """After a crash between sending and recording: `hold` (do not resend until `markwatch
    alerts retry --unconfirmed`) or `resend` (send again with the same event id)."""
    kind: str = "webhook"


@dataclass(frozen=True)
class EmailChannel:
    """Send e-mail (plain text and HTML) through an SMTP server."""

    name: str
    recipients: tuple[str, ...]
    host: str
    port: int
    sender: str
    security: str
    """`starttls`, `tls` (implicit TLS) or `none` (only to a loopback host)."""
    user_env: str | None = None
    password_env: str | None = None
    timeout: float = DEFAULT_TIMEOUT
    retries: int = DEFAULT_RETRIES
    unconfirmed: str = "hold"
    kind: str = "email"


Channel = WebhookChannel | EmailChannel


@dataclass(frozen=True)
class Rule:
    """Which events go to which channels, immediately or as a daily digest."""

    events: tuple[EventType, ...]
    channels: tuple[str, ...]
    cases: tuple[str, ...] = ()
    brands: tuple[str, ...] = ()
    min_score: float | None = None
    digest: str | None = None
    """None: deliver immediately (e-mail: one message per run); `daily`: one digest a day."""
    line: int = 0

    def matches(self, kind: EventType, case: str | None, brand: str | None,
                score: float | None) -> bool:
        """Whether an event of this kind, case, brand and score falls under the rule."""
        if kind not in self.events:
            return False
        # an event that names no case or brand (a run failed, the spool is stale) is not
        # filtered out by `cases` or `brands`: it concerns every case and brand of the run
        if self.cases and case and case.casefold() not in {c.casefold() for c in self.cases}:
            return False
        if self.brands and brand and brand.casefold() not in {b.casefold() for b in self.brands}:
            return False
        # no score yet (triage not run): the event's own flag decided; a threshold needs a score
        return not (self.min_score is not None and kind in SCORED and score is not None
                    and score < self.min_score)


@dataclass(frozen=True)
class AlertsConfig:
    """A valid `alerts:` section."""

    channels: Mapping[str, Channel]
    rules: tuple[Rule, ...]
    portal_url: str | None = None
    spool_stale_after: int = DEFAULT_STALE
    """Seconds a spooled capture may wait before `spool_stale` fires."""

    def secret_names(self) -> list[str]:
        """Environment variable names the channels read secrets from."""
        names: list[str] = []
        for channel in self.channels.values():
            if isinstance(channel, WebhookChannel):
                names.append(channel.secret_env)
            else:
                names += [n for n in (channel.user_env, channel.password_env) if n]
        return names

    def check_environment(self, environ: Mapping[str, str] | None = None) -> None:
        """ConfigError naming every secret variable that is not set (never its value)."""
        env = os.environ if environ is None else environ
        missing = [name for name in self.secret_names() if not env.get(name)]
        if missing:
            raise ConfigError(
                "alerts: these environment variables hold channel secrets and are not set: "
                + ", ".join(sorted(set(missing))))


def parse_alerts(r: NodeReader, node: yaml.Node | None) -> AlertsConfig | None:
    """Validate the `alerts:` node (None or empty: no alerts)."""
    if node is None or is_null(node):
        return None
    e = r.mapping(node, "alerts", _KEYS, ("channels",), what="alerts")
    channels = _channels(r, e["channels"][1])
    rules_node = e["rules"][1] if "rules" in e and not is_null(e["rules"][1]) else None
    rules = _rules(r, rules_node, channels) if rules_node is not None else ()
    portal = None
    if "portal_url" in e and not is_null(e["portal_url"][1]):
        portal = r.text(e["portal_url"][1], "alerts.portal_url").strip().rstrip("/")
        if urlsplit(portal).scheme not in ("http", "https") or not urlsplit(portal).netloc:
            raise r.error(e["portal_url"][1], "alerts.portal_url",
                          f"'{portal}' is not an http(s) address")
    stale = DEFAULT_STALE
    if "spool_stale_after" in e and not is_null(e["spool_stale_after"][1]):
        stale = _duration(r, e["spool_stale_after"][1], "alerts.spool_stale_after")
    return AlertsConfig(MappingProxyType(channels), rules, portal, stale)


def _channels(r: NodeReader, node: yaml.Node) -> dict[str, Channel]:
    out: dict[str, Channel] = {}
    for name, (key, value) in r.entries(node, "alerts.channels", "channels").items():
        field = f"alerts.channels.{name}"
        if not _CHANNEL_NAME.match(name):
            raise r.error(key, field, "a channel name uses only letters, digits, '-' and '_'")
        entries = r.entries(value, field, "a channel")
        for word in entries:
            if word.casefold() in _SECRET_WORDS:
                raise r.error(entries[word][0], f"{field}.{word}",
                              "secrets never go in the watchlist: put it in an environment "
                              f"variable and name that variable with '{word}_env'"
                              if word not in ("user", "username") else
                              "put the user name in an environment variable and name it with "
                              "'user_env'")
        if "webhook" in entries and "email" in entries:
            raise r.error(value, field, "a channel is either 'webhook' or 'email', not both")
        if "webhook" in entries:
            out[name] = _webhook(r, value, field, name)
        elif "email" in entries:
            out[name] = _email(r, value, field, name)
        else:
            raise r.error(value, field, "a channel needs 'webhook: URL' or 'email: [addresses]'")
    if not out:
        raise r.error(node, "alerts.channels", "give at least one channel")
    return out


def _common(r: NodeReader, e: dict[str, tuple[yaml.Node, yaml.Node]],
            field: str) -> tuple[float, int, str]:
    timeout, retries, unconfirmed = DEFAULT_TIMEOUT, DEFAULT_RETRIES, "hold"
    if "timeout" in e:
        timeout = _seconds(r, e["timeout"][1], f"{field}.timeout")
    if "retries" in e:
        retries = r.integer(e["retries"][1], f"{field}.retries", 1, 10)
    if "unconfirmed" in e:
        unconfirmed = r.text(e["unconfirmed"][1], f"{field}.unconfirmed").strip()
        if unconfirmed not in UNCONFIRMED:
            raise r.error(e["unconfirmed"][1], f"{field}.unconfirmed",
                          f"expected one of {', '.join(UNCONFIRMED)}, got '{unconfirmed}'")
    return timeout, retries, unconfirmed


def _webhook(r: NodeReader, node: yaml.Node, field: str, name: str) -> WebhookChannel:
    e = r.mapping(node, field, _WEBHOOK_KEYS, ("webhook", "secret_env"), what="a webhook")
    url = r.text(e["webhook"][1], f"{field}.webhook").strip()
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise r.error(e["webhook"][1], f"{field}.webhook", f"'{url}' is not an http(s) address")
    if parts.username or parts.password:
        raise r.error(e["webhook"][1], f"{field}.webhook",
                      "the address holds credentials; secrets never go in the watchlist")
    if parts.scheme == "http" and not _loopback(parts.hostname):
        raise r.error(e["webhook"][1], f"{field}.webhook",
                      "plain http is only allowed to a loopback address; use https")
    timeout, retries, unconfirmed = _common(r, e, field)
    return WebhookChannel(name, url, _env_name(r, e["secret_env"][1], f"{field}.secret_env"),
                          timeout, retries, unconfirmed)


def _email(r: NodeReader, node: yaml.Node, field: str, name: str) -> EmailChannel:
    e = r.mapping(node, field, _EMAIL_KEYS, ("email", "smtp", "from"), what="an e-mail channel")
    recipients = r.text_list(e["email"][1], f"{field}.email", "addresses")
    for index, address in enumerate(recipients):
        _address(r, e["email"][1].value[index], f"{field}.email[{index}]", address)
    sender = r.text(e["from"][1], f"{field}.from").strip()
    _address(r, e["from"][1], f"{field}.from", sender)
    starttls = r.boolean(e["starttls"][1], f"{field}.starttls") if "starttls" in e else None
    tls = r.boolean(e["tls"][1], f"{field}.tls") if "tls" in e else False
    if tls and starttls:
        raise r.error(e["tls"][1], f"{field}.tls", "choose 'tls: true' (port 465) or "
                      "'starttls: true' (port 587), not both")
    security = "tls" if tls else "starttls" if starttls is not False else "none"
    smtp = r.text(e["smtp"][1], f"{field}.smtp").strip()
    host, _, port_text = smtp.rpartition(":") if ":" in smtp else (smtp, "", "")
    host = host.strip("[]")
    default_port = {"tls": 465, "starttls": 587, "none": 25}[security]
    if not host or (port_text and not (port_text.isdigit() and 0 < int(port_text) < 65536)):
        raise r.error(e["smtp"][1], f"{field}.smtp",
                      f"'{smtp}' is not HOST or HOST:PORT such as smtp.example.net:587")
    if security == "none" and not _loopback(host):
        raise r.error(e["starttls"][1], f"{field}.starttls",
                      "unencrypted SMTP is only allowed to a loopback host (127.0.0.1); "
                      "use starttls or tls")
    user_env = _env_name(r, e["user_env"][1], f"{field}.user_env") if "user_env" in e else None
    password_env = (_env_name(r, e["password_env"][1], f"{field}.password_env")
                    if "password_env" in e else None)
    if bool(user_env) != bool(password_env):
        raise r.error(node, field, "give both 'user_env' and 'password_env', or neither")
    timeout, retries, unconfirmed = _common(r, e, field)
    return EmailChannel(name, recipients, host, int(port_text or default_port), sender, security,
                        user_env, password_env, timeout, retries, unconfirmed)


def _rules(r: NodeReader, node: yaml.Node, channels: Mapping[str, Channel]) -> tuple[Rule, ...]:
    rules = []
    names = [e.value for e in EventType]
    for index, item in enumerate(r.sequence(node, "alerts.rules", "rules")):
        field = f"alerts.rules[{index}]"
        e = r.mapping(item, field, _RULE_KEYS, ("events", "channels"), what="a rule")
        events = r.text_list(e["events"][1], f"{field}.events", "events")
        for n, event in enumerate(events):
            if event not in names:
                raise r.error(e["events"][1].value[n], f"{field}.events[{n}]",
                              f"unknown event '{event}'.{close_matches(event, names)} "
                              f"Known: {', '.join(names)}")
        used = r.text_list(e["channels"][1], f"{field}.channels", "channels")
        for n, channel in enumerate(used):
            if channel not in channels:
                raise r.error(e["channels"][1].value[n], f"{field}.channels[{n}]",
                              f"no channel named '{channel}' under alerts.channels."
                              f"{close_matches(channel, list(channels))}")
        min_score = None
        if "min_score" in e and not is_null(e["min_score"][1]):
            min_score = _number(r, e["min_score"][1], f"{field}.min_score")
        digest = None
        if "digest" in e and not is_null(e["digest"][1]):
            digest = r.text(e["digest"][1], f"{field}.digest").strip()
            if digest not in ("daily", "immediate"):
                raise r.error(e["digest"][1], f"{field}.digest",
                              f"expected 'daily' or 'immediate', got '{digest}'")
            digest = None if digest == "immediate" else digest
        rules.append(Rule(
            events=tuple(EventType(x) for x in events), channels=used,
            cases=_optional_list(r, e, "cases", field),
            brands=_optional_list(r, e, "brands", field),
            min_score=min_score, digest=digest, line=item.start_mark.line + 1))
    return tuple(rules)


def _optional_list(r: NodeReader, e: dict[str, tuple[yaml.Node, yaml.Node]], key: str,
                   field: str) -> tuple[str, ...]:
    if key not in e or is_null(e[key][1]):
        return ()
    return r.text_list(e[key][1], f"{field}.{key}", key)


def _env_name(r: NodeReader, node: yaml.Node, field: str) -> str:
    name = r.text(node, field).strip()
    if not _ENV_NAME.match(name):
        raise r.error(node, field, "expected the NAME of an environment variable (letters, "
                      "digits, '_'), not the secret itself")
    return name


def _address(r: NodeReader, node: yaml.Node, field: str, address: str) -> None:
    if not _ADDRESS.match(address) or any(ord(c) < 32 for c in address):
        raise r.error(node, field, f"'{address}' is not an e-mail address")


def _number(r: NodeReader, node: yaml.Node, field: str) -> float:
    try:
        value = float(r.text(node, field))
    except ValueError as exc:
        raise r.error(node, field, "expected a number such as 70") from exc
    if not 0 <= value <= 1_000_000:
        raise r.error(node, field, f"expected a number of 0 or more, got {value:g}")
    return value


def _seconds(r: NodeReader, node: yaml.Node, field: str) -> float:
    value = _number(r, node, field)
    if not 0.1 <= value <= 300:
        raise r.error(node, field, f"expected seconds between 0.1 and 300, got {value:g}")
    return value


def _duration(r: NodeReader, node: yaml.Node, field: str) -> int:
    text = r.text(node, field).strip().lower()
    match = _DURATION.match(text)
    if not match or int(match.group(1)) == 0:
        raise r.error(node, field, f"'{text}' is not a duration such as 30m, 6h or 1d")
    return int(match.group(1)) * _UNITS[match.group(2)]


def _loopback(host: str) -> bool:
    if host.casefold() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False

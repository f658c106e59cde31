"""Frontier URIs: `redis://[:PASSWORD@]HOST[:PORT]/DB`, shown without the password."""

from __future__ import annotations

import contextlib
import urllib.parse
from collections.abc import Iterator

from crawler.exceptions import ConfigError, FrontierUnavailable

SCHEMES = ("redis", "rediss")


def check_uri(uri: str) -> str:
    """The URI, or ConfigError when it is not a Redis URI (the message shows no password)."""
    parsed = urllib.parse.urlsplit(uri)
    if parsed.scheme not in SCHEMES or not parsed.hostname:
        raise ConfigError(f"--frontier must be redis://HOST:PORT/DB, not {redact(uri)!r}")
    return uri


def redact(uri: str) -> str:
    """The URI with any user name and password replaced by `***`."""
    parsed = urllib.parse.urlsplit(uri)
    if parsed.password is None and parsed.username is None:
        return uri
    host = parsed.hostname or ""
    if parsed.port:
        host = f"{host}:{parsed.port}"
    return urllib.parse.urlunsplit((parsed.scheme, f"***@{host}", parsed.path, "", ""))


@contextlib.contextmanager
def reaching(uri: str) -> Iterator[None]:
    """Turn Redis connection errors into `FrontierUnavailable` naming the redacted URI."""
    import redis

    try:
        yield
    except redis.RedisError as exc:
        raise FrontierUnavailable(f"frontier {redact(uri)} unavailable: "
                                  f"{str(exc).replace(uri, redact(uri))}") from None

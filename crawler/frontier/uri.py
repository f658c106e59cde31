"""Frontier URIs: `redis://[:PASSWORD@]HOST[:PORT]/DB`, shown without the password."""

from __future__ import annotations

import urllib.parse

from crawler.exceptions import ConfigError

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

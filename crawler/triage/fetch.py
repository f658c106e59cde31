"""Fetching a rates file by URL: https only (plain http only to 127.0.0.1, for tests), no
redirects, bounded in size and time."""

from __future__ import annotations

import urllib.error
import urllib.request
from urllib.parse import urlsplit

from crawler.triage.rates import MAX_RATES_BYTES, RatesError

TIMEOUT = 20.0


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):  # type: ignore[no-untyped-def]
        raise RatesError(f"{req.full_url}: redirected (HTTP {code}); give the final URL")


def check_url(url: str) -> None:
    """RatesError unless `url` is https, or http to 127.0.0.1."""
    parts = urlsplit(url)
    if parts.scheme == "https" and parts.hostname:
        return
    if parts.scheme == "http" and parts.hostname == "127.0.0.1":
        return
    raise RatesError(f"{url}: only https:// addresses are fetched")


def fetch(url: str, timeout: float = TIMEOUT, limit: int = MAX_RATES_BYTES) -> bytes:
    """The body at `url`, at most `limit` bytes, within `timeout` seconds per read."""
    check_url(url)
    opener = urllib.request.build_opener(_NoRedirect)
    request = urllib.request.Request(url, headers={"User-Agent": "markwatch-rates"})  # noqa: S310 - scheme checked
    try:
        with opener.open(request, timeout=timeout) as response:
            data: bytes = response.read(limit + 1)
    except urllib.error.HTTPError as exc:
        raise RatesError(f"{url}: HTTP {exc.code}") from exc
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        raise RatesError(f"{url}: cannot fetch ({getattr(exc, 'reason', exc)})") from exc
    if len(data) > limit:
        raise RatesError(f"{url}: larger than {limit} bytes; not a rates file")
    return data

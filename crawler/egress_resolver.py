"""The downloader's name resolver under the egress policy: connect where the check was made.

`EgressMiddleware` resolves each request's host once and pins the address it checked; this
resolver (Scrapy's `TWISTED_DNS_RESOLVER`) answers with that pinned address, so Twisted
connects to exactly what was checked and a name that changes its answer in between (DNS
rebinding) gains nothing. A name nobody pinned (it should not happen: every request passes the
middleware) is resolved and checked here, and refused the same way.
"""

from __future__ import annotations

import socket
from collections.abc import Sequence
from typing import Any

from twisted.internet import defer, threads
from twisted.internet.error import DNSLookupError
from twisted.internet.interfaces import IResolverSimple
from zope.interface import implementer

from crawler.egress import EgressPolicy, EgressRefused


@implementer(IResolverSimple)
class EgressResolver:
    """IPv4 resolver (as Scrapy's default) that answers from the policy's pins."""

    def __init__(self, reactor: Any, policy: EgressPolicy, timeout: float) -> None:
        self.reactor = reactor
        self.policy = policy
        self.timeout = timeout

    @classmethod
    def from_crawler(cls, crawler: Any, reactor: Any) -> EgressResolver:
        return cls(reactor, EgressPolicy.from_settings(crawler.settings),
                   crawler.settings.getfloat("DNS_TIMEOUT"))

    def install_on_reactor(self) -> None:
        self.reactor.installResolver(self)

    def getHostByName(self, name: str, timeout: Sequence[int] = ()) -> defer.Deferred[str]:
        pinned = self.policy.pinned(name)
        if pinned is not None and ":" not in pinned:
            return defer.succeed(pinned)
        return threads.deferToThread(self._resolve, name)

    def _resolve(self, name: str) -> str:
        try:
            infos = socket.getaddrinfo(name, None, socket.AF_INET, socket.SOCK_STREAM)
        except OSError as exc:
            raise DNSLookupError(f"{name}: {exc}") from exc
        addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
        try:
            return self.policy.check_addresses(f"//{name}", name, None, addresses)
        except EgressRefused as exc:
            raise DNSLookupError(str(exc)) from exc

"""Where the crawler may connect: one egress policy for the downloader and the recording proxy.

Pages are written by the sellers markwatch gathers evidence against; a link, redirect, meta
refresh, image or script can aim the crawler at the cloud metadata service (169.254.169.254),
at the recording proxy or the scheduler on 127.0.0.1, or at the operator's private network.
`EgressPolicy` refuses all of them by default:

* only `http` and `https` (no `file`, `ftp`, `data`, `s3`...);
* a host name is resolved once and every address it gives is checked; the connection is made
  to the address that was checked (`pin`), so a name that resolves to a public address when
  checked and to 127.0.0.1 when connected to (DNS rebinding) cannot get through;
* refused by default: loopback, link-local, private, shared-address (100.64/10), multicast,
  unspecified, documentation, benchmark and reserved ranges, IPv4 and IPv6, including the
  IPv4-mapped, IPv4-compatible, 6to4, Teredo and NAT64 forms of a refused IPv4 address.

Exceptions only by an explicit, logged allow list (`EGRESS_ALLOW`, or `settings.egress.allow`
in the watchlist): CIDRs (`10.1.0.0/16`), addresses (`127.0.0.1`), an address and port
(`127.0.0.1:8080`, `[::1]:8080`) or host names (`shop.internal`, `shop.internal:8443`); a host
name allows whatever it resolves to. `markwatch demo` allows only its own marketplace.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
import threading
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from crawler.exceptions import ConfigError, MarkwatchError

logger = logging.getLogger(__name__)

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
SCHEMES = ("http", "https")
PIN_CACHE = 10_000
"""Host names whose checked address is remembered (least recently used dropped first)."""

_V4 = ipaddress.IPv4Network
_V6 = ipaddress.IPv6Network
# (rule, networks), checked in order; the first match names the refusal.
_RANGES: tuple[tuple[str, tuple[Any, ...]], ...] = (
    ("unspecified", (_V4("0.0.0.0/32"), _V6("::/128"))),
    ("loopback", (_V4("127.0.0.0/8"), _V6("::1/128"))),
    ("link-local", (_V4("169.254.0.0/16"), _V6("fe80::/10"))),
    ("private", (_V4("10.0.0.0/8"), _V4("172.16.0.0/12"), _V4("192.168.0.0/16"),
                 _V6("fc00::/7"), _V6("fec0::/10"))),
    ("shared", (_V4("100.64.0.0/10"),)),
    ("multicast", (_V4("224.0.0.0/4"), _V6("ff00::/8"))),
    ("documentation", (_V4("192.0.2.0/24"), _V4("198.51.100.0/24"), _V4("203.0.113.0/24"),
                       _V6("2001:db8::/32"), _V6("3fff::/20"))),
    ("benchmark", (_V4("198.18.0.0/15"), _V6("2001:2::/48"))),
    ("reserved", (_V4("0.0.0.0/8"), _V4("192.0.0.0/24"), _V4("240.0.0.0/4"),
                  _V6("100::/64"), _V6("64:ff9b:1::/48"), _V6("2001::/23"),
                  _V6("::/96"), _V6("::ffff:0:0/96"))),
)
_NAT64 = _V6("64:ff9b::/96")
_SIX_TO_FOUR = _V6("2002::/16")
_TEREDO = _V6("2001::/32")
_COMPAT = _V6("::/96")


class EgressRefused(MarkwatchError):
    """A request or connection was aimed where the egress policy does not let markwatch go."""

    def __init__(self, url: str, rule: str, detail: str = "") -> None:
        self.url = url
        self.rule = rule
        self.detail = detail
        super().__init__(f"egress refused ({rule}): {url}" + (f" ({detail})" if detail else ""))


@dataclass(frozen=True)
class AllowEntry:
    """One entry of the allow list."""

    text: str
    network: ipaddress.IPv4Network | ipaddress.IPv6Network | None = None
    host: str | None = None
    port: int | None = None

    def matches(self, host: str, port: int | None, address: IPAddress | None) -> bool:
        if self.port is not None and port is not None and port != self.port:
            return False
        if self.host is not None:
            return host.lower().rstrip(".") == self.host
        if self.network is None or address is None:
            return False
        inner = embedded_v4(address)
        candidates = (address,) if inner is None else (address, inner)
        return any(c.version == self.network.version and c in self.network for c in candidates)

def parse_allow(entries: Iterable[str] | str | None) -> tuple[AllowEntry, ...]:
    """The allow list from a setting: a list, or one string separated by commas/spaces."""
    if entries is None:
        return ()
    if isinstance(entries, str):
        entries = entries.replace(",", " ").split()
    out = []
    for raw in entries:
        text = str(raw).strip()
        if text:
            out.append(_entry(text))
    return tuple(out)


def _entry(text: str) -> AllowEntry:
    port: int | None = None
    body = text
    if body.startswith("["):  # [v6] or [v6]:port
        inner, _, rest = body[1:].partition("]")
        if rest:
            if not rest.startswith(":"):
                raise ConfigError(f"egress allow entry {text!r}: expected [address]:port")
            port = _port(text, rest[1:])
        body = inner
    elif body.count(":") == 1:
        body, _, port_text = body.partition(":")
        port = _port(text, port_text)
    try:
        network = ipaddress.ip_network(body, strict=False)
    except ValueError:
        network = None
    if network is not None:
        return AllowEntry(text, network=network, port=port)
    host = body.lower().rstrip(".")
    if not host or not all(part and len(part) < 64 and part.replace("-", "").isalnum()
                           for part in host.split(".")):
        raise ConfigError(f"egress allow entry {text!r} is neither a CIDR, an address nor a "
                          f"host name")
    return AllowEntry(text, host=host, port=port)


def _port(text: str, value: str) -> int:
    if not value.isdigit() or not 0 < int(value) < 65536:
        raise ConfigError(f"egress allow entry {text!r}: bad port {value!r}")
    return int(value)


def embedded_v4(address: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address carries (mapped, compatible, 6to4, Teredo, NAT64)."""
    if address.version != 6:
        return None
    assert isinstance(address, ipaddress.IPv6Address)
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address in _SIX_TO_FOUR:
        return address.sixtofour
    if address in _TEREDO and address.teredo is not None:
        return address.teredo[1]
    if address in _NAT64 or (address in _COMPAT and int(address) > 1):
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def classify(address: IPAddress) -> str | None:
    """The rule that refuses `address` by default, or None for a public address."""
    inner = embedded_v4(address)
    if inner is not None:
        return classify(inner)
    for rule, networks in _RANGES:
        if any(address.version == n.version and address in n for n in networks):
            return rule
    if not address.is_global:
        return "reserved"
    return None


class EgressPolicy:
    """The rules, the allow list, and the addresses already checked (`pin`)."""

    def __init__(self, allow: Iterable[AllowEntry] = ()) -> None:
        self.allow = tuple(allow)

    @classmethod
    def from_settings(cls, settings: Any) -> EgressPolicy:
        """The crawl's policy from `EGRESS_ALLOW` (one object per allow list in a process, so
        the downloader, its resolver and the recording proxy share their pins)."""
        allow = parse_allow(settings.get("EGRESS_ALLOW"))
        key = tuple(a.text for a in allow)
        with _SHARED_LOCK:
            policy = _SHARED.get(key)
            if policy is None:
                policy = _SHARED[key] = cls(allow)
                if allow:
                    logger.warning("egress: allowed beyond the public internet by EGRESS_ALLOW: "
                                   "%s", ", ".join(key))
        return policy

    def describe(self) -> list[str]:
        """The allow list as written (for logs and provenance)."""
        return [a.text for a in self.allow]

    # -- checks ------------------------------------------------------------------------------

    def check_url(self, url: str) -> tuple[str, int]:
        """(host, port) of an http(s) URL; `EgressRefused` for any other scheme or no host."""
        try:
            split = urlsplit(url)
            port = split.port
        except ValueError as exc:
            raise EgressRefused(url[:200], "malformed", str(exc)) from exc
        scheme = split.scheme.lower()
        if scheme not in SCHEMES:
            raise EgressRefused(url[:200], "scheme", f"{scheme or 'no'} scheme")
        host = split.hostname
        if not host:
            raise EgressRefused(url[:200], "malformed", "no host")
        return host, port or (443 if scheme == "https" else 80)

    def refusal(self, host: str, port: int | None, address: IPAddress | str) -> str | None:
        """The rule refusing a connection to `address` (for `host`:`port`), or None."""
        ip = ipaddress.ip_address(address) if isinstance(address, str) else address
        if ip.version == 6 and ip.scope_id:
            ip = ipaddress.ip_address(str(ip).split("%")[0])
        rule = classify(ip)
        if rule is None:
            return None
        if any(a.matches(host, port, ip) for a in self.allow):
            return None
        return rule

    def resolve(self, url: str, host: str, port: int) -> str:
        """Resolve `host` once, check every address it gives, pin and return the first one.

        `EgressRefused` names the rule when any address is refused (a name that resolves to
        both a public and a private address is refused: the connection could go to either)."""
        addresses = _literal(host)
        if addresses is None:
            try:
                infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
            except (OSError, UnicodeError) as exc:
                raise EgressRefused(url, "unresolved", str(exc)) from exc
            addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
        return self.check_addresses(url, host, port, addresses)

    def check_addresses(self, url: str, host: str, port: int | None,
                        addresses: list[str]) -> str:
        """Check resolved `addresses` of `host`; the first is pinned and returned."""
        if not addresses:
            raise EgressRefused(url, "unresolved", "no address")
        for address in addresses:
            rule = self.refusal(host, port, address)
            if rule is not None:
                raise EgressRefused(url, rule, f"{host} is {address}")
        self.pin(host, addresses[0])
        return addresses[0]

    # -- pins --------------------------------------------------------------------------------

    # The pins are the process's, not one policy's: under `scrapy crawl` the downloader's
    # resolver is built from the process's settings, before a spider adds its watchlist's
    # allow list; it must still connect where the crawl's own policy checked.

    @staticmethod
    def pin(host: str, address: str) -> None:
        """Remember that `host` was checked at `address` (what the resolver answers)."""
        key = host.lower().rstrip(".")
        with _PINS_LOCK:
            _PINS[key] = address
            _PINS.move_to_end(key)
            while len(_PINS) > PIN_CACHE:
                _PINS.popitem(last=False)

    @staticmethod
    def pinned(host: str) -> str | None:
        """The address `host` was checked at, if it was."""
        with _PINS_LOCK:
            return _PINS.get(host.lower().rstrip("."))


def _literal(host: str) -> list[str] | None:
    try:
        return [str(ipaddress.ip_address(host.strip("[]")))]
    except ValueError:
        return None


_SHARED: dict[tuple[str, ...], EgressPolicy] = {}
_PINS: OrderedDict[str, str] = OrderedDict()
_PINS_LOCK = threading.Lock()
_SHARED_LOCK = threading.Lock()

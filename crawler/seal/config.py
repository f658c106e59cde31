"""Sealing settings (`SEAL_*`), parsed once into `SealConfig`.

Where a value comes from, strongest first: a Scrapy setting given on the command line
(`-s SEAL_KEY=...`, or a `markwatch` flag), the `MARKWATCH_SEAL_*` environment variable, the
project's Scrapy settings, the default. The watchlist has no seal settings.

* `SEAL_KEY` / `MARKWATCH_SEAL_KEY`: path of the Ed25519 signing key; unset: the user's key
  `$XDG_CONFIG_HOME/markwatch/seal-ed25519.pem` (else `~/.config/...`), created (mode 0600)
  on first use and announced once; `off` leaves seals unsigned (not recommended);
* `SEAL_TSAS` / `MARKWATCH_SEAL_TSAS`: JSON list of `{"url", "ca", "name"}` (optional
  `timeout`, `attempts`, `backoff`);
* `SEAL_TRUSTED_CAS` / `MARKWATCH_SEAL_TRUSTED_CAS`: TSA CA PEM files `verify` trusts
  (`:`-separated);
* `SEAL_TRUSTED_KEYS` / `MARKWATCH_SEAL_TRUSTED_KEYS`: signer fingerprints `verify` accepts
  (`,`-separated);
* `SEAL_REQUIRED` / `MARKWATCH_SEAL_REQUIRED`: a failed seal fails the run; default on iff a
  key or a TSA is set;
* `EVIDENCE_OPERATOR` / `MARKWATCH_OPERATOR`: the custody log's actor (default `markwatch`).
"""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from crawler.exceptions import ConfigError, SealError
from crawler.seal.keys import Signer, init_key, load_signer
from crawler.seal.tsa import TSAConfig

if TYPE_CHECKING:
    from scrapy.settings import BaseSettings

__all__ = ["DEFAULT_KEY_PATH", "SealConfig", "default_key_path"]

logger = logging.getLogger(__name__)

DEFAULT_KEY_PATH = Path("~/.config/markwatch/seal-ed25519.pem")
KEY_NAME = "seal-ed25519.pem"
_OFF = {"off", "none", "no", "false", "0"}


def default_key_path(env: Mapping[str, str] | None = None) -> Path:
    """`$XDG_CONFIG_HOME/markwatch/seal-ed25519.pem`, else `~/.config/markwatch/...`."""
    env = os.environ if env is None else env
    base = env.get("XDG_CONFIG_HOME") or ""
    root = Path(base) if base and Path(base).is_absolute() else Path("~/.config").expanduser()
    return root / "markwatch" / KEY_NAME
_ENV = {
    "SEAL_KEY": "MARKWATCH_SEAL_KEY",
    "SEAL_TSAS": "MARKWATCH_SEAL_TSAS",
    "SEAL_TRUSTED_CAS": "MARKWATCH_SEAL_TRUSTED_CAS",
    "SEAL_TRUSTED_KEYS": "MARKWATCH_SEAL_TRUSTED_KEYS",
    "SEAL_REQUIRED": "MARKWATCH_SEAL_REQUIRED",
    "EVIDENCE_OPERATOR": "MARKWATCH_OPERATOR",
}
_TRUE, _FALSE = {"1", "true", "yes", "on"}, {"0", "false", "no", "off", ""}


@dataclass(frozen=True)
class SealConfig:
    """How runs are sealed and what `verify` trusts."""

    key_path: Path | None = None
    """Ed25519 signing key (PEM, mode 0600); None: seals are not signed."""
    tsas: tuple[TSAConfig, ...] = ()
    """RFC 3161 TSAs asked for a timestamp of every run seal; all must answer."""
    trusted_cas: tuple[Path, ...] = ()
    """TSA CA certificates `verify` trusts; empty: the CAs of `tsas`, else the seal's own."""
    trusted_keys: tuple[str, ...] = ()
    """Signer fingerprints `verify` accepts; empty: signatures checked, signer not vouched for."""
    key_is_default: bool = False
    """The key is the user's default one, created on first use."""
    required: bool = False
    """A failed seal fails the run (exit 1); the captures stay stored, marked pending."""
    actor: str = "markwatch"
    """Who the custody log names for events of this process."""

    @property
    def configured(self) -> bool:
        """Whether runs are sealed at all (a key or a TSA is set)."""
        return self.key_path is not None or bool(self.tsas)

    @classmethod
    def from_settings(cls, settings: BaseSettings | Mapping[str, Any] | None = None,
                      env: Mapping[str, str] | None = None) -> SealConfig:
        """Parse `SEAL_*` settings and `MARKWATCH_SEAL_*`; ConfigError names the field."""
        env = os.environ if env is None else env
        values = {name: _pick(name, settings, env) for name in _ENV}
        key = values["SEAL_KEY"]
        key_is_default = not key
        if key_is_default:
            key_path: Path | None = default_key_path(env)
        elif str(key).strip().lower() in _OFF:
            key_path = None
        else:
            key_path = Path(str(key)).expanduser()
        tsas = tuple(_tsas(values["SEAL_TSAS"]))
        configured = key_path is not None or bool(tsas)
        required = _bool("SEAL_REQUIRED", values["SEAL_REQUIRED"], default=configured)
        if required and not configured:
            raise ConfigError("SEAL_REQUIRED is on, but neither SEAL_KEY nor SEAL_TSAS is set")
        return cls(
            key_path=key_path,
            key_is_default=key_is_default,
            tsas=tsas,
            trusted_cas=tuple(Path(p).expanduser() for p in _paths(values["SEAL_TRUSTED_CAS"])),
            trusted_keys=tuple(_words(values["SEAL_TRUSTED_KEYS"], ",")),
            required=required,
            actor=str(values["EVIDENCE_OPERATOR"] or "markwatch").strip() or "markwatch",
        )

    def signer(self) -> Signer | None:
        """The signing key, loaded now (the default one created if missing); SealError if unusable.
        """
        if self.key_path is None:
            return None
        if self.key_is_default and not self.key_path.exists():
            signer = init_key(self.key_path)
            logger.warning(
                "created your sealing key %s (Ed25519, mode 0600; back it up, never share it): "
                "every run is now signed by %s; give this fingerprint to whoever will verify "
                "your evidence", self.key_path, signer.fingerprint)
            return signer
        return load_signer(self.key_path)

    def pinned_keys(self) -> list[str]:
        """Fingerprints `verify` accepts as origin: SEAL_TRUSTED_KEYS and the own key's."""
        keys = list(self.trusted_keys)
        if self.key_path is not None and self.key_path.exists():
            try:
                own = load_signer(self.key_path).fingerprint
            except SealError:
                return keys
            if own not in keys:
                keys.append(own)
        return keys

    def check(self) -> None:
        """Fail early (ConfigError) on a key or CA file that cannot be used."""
        try:
            self.signer()
            for tsa in self.tsas:
                tsa.ca_pem()
            self.trusted_ca_pems()
        except SealError as exc:
            raise ConfigError(str(exc)) from exc

    def trusted_ca_pems(self) -> list[bytes]:
        """PEM bytes of the TSA CAs to trust: SEAL_TRUSTED_CAS, else those of SEAL_TSAS."""
        if not self.trusted_cas:
            return [tsa.ca_pem() for tsa in self.tsas]
        out = []
        for path in self.trusted_cas:
            try:
                out.append(path.read_bytes())
            except OSError as exc:
                raise SealError(f"SEAL_TRUSTED_CAS: cannot read {path}: {exc}") from exc
        return out

    def trusted_ca_paths(self) -> list[Path]:
        """The CA files behind `trusted_ca_pems`."""
        if self.trusted_cas:
            return list(self.trusted_cas)
        return [p for tsa in self.tsas for p in tsa.ca_cert_paths]


def _pick(name: str, settings: BaseSettings | Mapping[str, Any] | None,
          env: Mapping[str, str]) -> Any:
    """A command-line Scrapy setting, else the environment, else any Scrapy setting."""
    scrapy_settings = sys.modules.get("scrapy.settings")  # loaded if `settings` is Scrapy's
    if scrapy_settings is not None and isinstance(settings, scrapy_settings.BaseSettings):
        value = settings.get(name)
        priority = settings.getpriority(name) or 0
        if value not in (None, "") and priority >= scrapy_settings.SETTINGS_PRIORITIES["cmdline"]:
            return value
        return env.get(_ENV[name]) or value
    value = (settings or {}).get(name)
    return env.get(_ENV[name]) or value


def _bool(name: str, value: Any, default: bool) -> bool:
    if value is None or value == "":
        return default
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ConfigError(f"{name}: {value!r} is not true or false")


def _paths(value: Any) -> list[str]:
    if not value:
        return []
    if isinstance(value, str):
        return [p for p in value.split(os.pathsep) if p.strip()]
    return [str(p) for p in value]


def _words(value: Any, sep: str) -> list[str]:
    if not value:
        return []
    items = value.split(sep) if isinstance(value, str) else value
    return [str(w).strip() for w in items if str(w).strip()]


def _tsas(value: Any) -> list[TSAConfig]:
    if not value:
        return []
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError as exc:
            raise ConfigError(f"SEAL_TSAS: not JSON ({exc})") from exc
    if isinstance(value, dict):
        value = [value]
    if not isinstance(value, list):
        raise ConfigError("SEAL_TSAS: expected a list of {url, ca, name}")
    out: list[TSAConfig] = []
    for i, entry in enumerate(value):
        where = f"SEAL_TSAS[{i}]"
        if not isinstance(entry, dict):
            raise ConfigError(f"{where}: expected {{url, ca, name}}, got {entry!r}")
        unknown = set(entry) - {"url", "ca", "name", "timeout", "attempts", "backoff"}
        if unknown:
            raise ConfigError(f"{where}: unknown field(s) {', '.join(sorted(unknown))}")
        url = entry.get("url")
        if not isinstance(url, str) or not url:
            raise ConfigError(f"{where}.url: missing")
        cas = entry.get("ca")
        ca_list = [cas] if isinstance(cas, str) else list(cas or [])
        if not ca_list:
            raise ConfigError(f"{where}.ca: missing (the PEM file of the TSA's CA)")
        name = str(entry.get("name") or urlsplit(url).hostname or f"tsa{i}")
        try:
            out.append(TSAConfig(
                url=url,
                ca_cert_paths=tuple(Path(str(p)).expanduser() for p in ca_list),
                name=name,
                timeout=float(entry.get("timeout", 10.0)),
                attempts=int(entry.get("attempts", 3)),
                backoff=float(entry.get("backoff", 1.0)),
            ))
        except (SealError, TypeError, ValueError) as exc:
            raise ConfigError(f"{where}: {exc}") from exc
    names = [t.name for t in out]
    if len(set(names)) != len(names):
        raise ConfigError("SEAL_TSAS: TSA names must be unique")
    return out

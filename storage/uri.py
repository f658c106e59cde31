"""Opening a store or a catalog from its URI (`file://PATH`, `s3://BUCKET/PREFIX`, `sqlite:///PATH`)."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from crawler.exceptions import ConfigError
from storage.base import Store

DEFAULT_STORE = "file://./markwatch-data"
DEFAULT_SPOOL = "./markwatch-data/spool"


def local_path(uri: str) -> Path:
    """The folder of a `file://` URI: `file://./rel`, `file:///abs` or `file://~/x`."""
    if not uri.startswith("file://"):
        raise ConfigError(f"not a file:// URI: {uri}")
    return Path(unquote(uri[len("file://") :])).expanduser()


def spool_dir(configured: str | None = None) -> Path:
    """Where captures wait when a remote store is unreachable (`MARKWATCH_SPOOL_DIR`)."""
    return Path(configured or os.environ.get("MARKWATCH_SPOOL_DIR") or DEFAULT_SPOOL)


def open_store(uri: str, *, spool: str | Path | None = None,
               on_retry: Callable[[Any], None] | None = None) -> Store:
    """Open the store a URI names. Raises ConfigError for an unknown scheme.

    A remote store comes wrapped in a `SpoolingStore`: when it cannot be reached, writes go to
    a durable local spool (`spool`, default `spool_dir()`) and `markwatch sync` uploads them.
    """
    scheme = urlsplit(uri).scheme
    if scheme == "file":
        from storage.local import LocalStore

        return LocalStore(local_path(uri))
    if scheme == "s3":
        from storage.retrying import RetryPolicy
        from storage.s3 import S3Store
        from storage.upload_spool import SpoolingStore

        remote = S3Store.from_uri(uri, retry=RetryPolicy().with_hook(on_retry))
        return SpoolingStore(remote, Path(spool) if spool else spool_dir())
    raise _unsupported(uri)


def _unsupported(uri: str) -> ConfigError:
    return ConfigError(f"unsupported store URI {uri!r}: use file://PATH or s3://BUCKET/PREFIX")


def default_catalog_uri(store_uri: str) -> str:
    """The default catalog: next to a local store; under ./markwatch-data for a remote one.
    A URI no store opens is refused here too (before, a command given only `--store foo://x`
    read the default catalog and answered as if the store were empty)."""
    scheme = urlsplit(store_uri).scheme
    if scheme == "file":
        return f"sqlite:///{local_path(store_uri) / 'catalog.db'}"
    if scheme == "s3":
        return "sqlite:///./markwatch-data/catalog.db"
    raise _unsupported(store_uri)


def sqlite_path(uri: str) -> Path:
    """The database file of `sqlite:///PATH` (relative after three slashes, absolute after four)."""
    if not uri.startswith("sqlite:///"):
        raise ConfigError(f"unsupported catalog URI {uri!r}: use sqlite:///PATH")
    return Path(unquote(uri[len("sqlite:///") :])).expanduser()

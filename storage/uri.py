"""Opening a store or a catalog from its URI (`file://PATH`, `s3://BUCKET/PREFIX`, `sqlite:///PATH`)."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote, urlsplit

from crawler.exceptions import ConfigError
from storage.base import Store

DEFAULT_STORE = "file://./markwatch-data"


def local_path(uri: str) -> Path:
    """The folder of a `file://` URI: `file://./rel`, `file:///abs` or `file://~/x`."""
    if not uri.startswith("file://"):
        raise ConfigError(f"not a file:// URI: {uri}")
    return Path(unquote(uri[len("file://") :])).expanduser()


def open_store(uri: str) -> Store:
    """Open the store a URI names. Raises ConfigError for an unknown scheme."""
    scheme = urlsplit(uri).scheme
    if scheme == "file":
        from storage.local import LocalStore

        return LocalStore(local_path(uri))
    if scheme == "s3":
        try:
            from storage.s3 import S3Store
        except ImportError as exc:  # pragma: no cover - packaging error
            raise ConfigError(f"S3 support is not installed: {exc}") from exc
        return S3Store.from_uri(uri)
    raise ConfigError(f"unsupported store URI {uri!r}: use file://PATH or s3://BUCKET/PREFIX")


def default_catalog_uri(store_uri: str) -> str:
    """The default catalog: next to a local store; under ./markwatch-data for a remote one."""
    if store_uri.startswith("file://"):
        return f"sqlite:///{local_path(store_uri) / 'catalog.db'}"
    return "sqlite:///./markwatch-data/catalog.db"


def sqlite_path(uri: str) -> Path:
    """The database file of `sqlite:///PATH` (relative after three slashes, absolute after four)."""
    if not uri.startswith("sqlite:///"):
        raise ConfigError(f"unsupported catalog URI {uri!r}: use sqlite:///PATH")
    return Path(unquote(uri[len("sqlite:///") :])).expanduser()

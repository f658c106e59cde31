"""Every exception markwatch raises on purpose, one line of docstring each."""

from __future__ import annotations


class MarkwatchError(Exception):
    """Base class of markwatch's own errors."""


class ConfigError(MarkwatchError):
    """A watchlist, setting or command-line value is wrong; nothing was crawled."""


class WatchlistError(ConfigError):
    """A watchlist is malformed; the message names the file, the line and the field."""

    def __init__(self, path: str, line: int | None, field: str, message: str) -> None:
        self.path = path
        self.line = line
        self.field = field
        self.reason = message
        where = f"{path}:{line}" if line is not None else path
        super().__init__(f"{where}: {field}: {message}")


class RunInProgress(ConfigError):
    """Another process is running the same watchlist and selection; nothing was crawled."""


class StoreError(MarkwatchError):
    """The evidence store failed to read or write."""


class StoreMisconfigured(StoreError):
    """The evidence store refuses us for good (credentials, bucket); retrying cannot help."""


class StoreUnavailable(StoreError):
    """The evidence store cannot be reached now; retrying later may succeed."""


class ArtifactConflict(StoreError):
    """A write-once key already holds different bytes; nothing was overwritten."""


class IntegrityError(StoreError):
    """Stored bytes do not match the digest they were stored under."""


class SealError(MarkwatchError):
    """A seal could not be made or checked; the capture stays unsealed."""


class CaptureError(MarkwatchError):
    """A page could not be captured as evidence."""


class FrontierUnavailable(MarkwatchError):
    """The shared Redis frontier could not be reached (its URI shown without a password)."""

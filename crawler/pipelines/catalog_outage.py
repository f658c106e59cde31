"""The capture pipeline across a catalog outage (PostgreSQL restarting or failing over).

A capture's blobs and manifest go to the store first, its catalog row after. When the catalog
cannot be reached, each catalog call of the capture is retried with a growing pause for up to
`MARKWATCH_CATALOG_RETRY` seconds (30): a restart or a fail-over costs a pause, nothing else.
If the catalog is still down after that:

- the previous capture of the listing cannot be looked up: the manifest names none (the link
  is a convenience; the listing's timeline comes from the catalog);
- the capture's row cannot be written: the capture stays stored (its manifest is in the store,
  so `markwatch catalog rebuild` indexes it) and is reported as not indexed. In a distributed
  run its manifest key is kept in the frontier, and the run's finalize indexes it from the
  store once the catalog is back, so the run record lists it.

Nothing stored is ever rolled back or lost. Errors are logged by type and message of the
driver, which carry no password (the engine hides parameters; URIs are shown redacted).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TypeVar

from sqlalchemy import exc as sa_exc

logger = logging.getLogger(__name__)

T = TypeVar("T")

DEFAULT_RETRY_SECONDS = 30.0

CATALOG_DOWN: tuple[type[BaseException], ...] = (
    sa_exc.OperationalError, sa_exc.InterfaceError, sa_exc.DisconnectionError,
    sa_exc.TimeoutError)
"""What a catalog that cannot be reached raises (a refused connection, a dropped one, a full
pool, a locked SQLite file); a constraint or a programming error is not one of them."""


def with_retries(call: Callable[[], T], what: str, seconds: float = DEFAULT_RETRY_SECONDS,
                 sleep: Callable[[float], None] = time.sleep,
                 clock: Callable[[], float] = time.monotonic) -> T:
    """`call()`, retried while the catalog is down, for up to `seconds`; then its error."""
    deadline = clock() + max(seconds, 0.0)
    pause = 0.25
    while True:
        try:
            return call()
        except CATALOG_DOWN as exc:
            if clock() + pause > deadline:
                raise
            logger.warning("catalog unavailable (%s: %s); %s again in %.2f s",
                           type(exc).__name__, _first_line(exc), what, pause)
            sleep(pause)
            pause = min(pause * 2, 5.0)


def _first_line(exc: BaseException) -> str:
    text = str(getattr(exc, "orig", None) or exc)
    return text.strip().splitlines()[0][:300] if text.strip() else ""

"""Every look at evidence is evidence too: views, downloads and exports in the custody log."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import Any

from crawler.clock import Clock
from crawler.seal import custody
from storage.base import Store

logger = logging.getLogger(__name__)


def actor_of(user_name: str) -> str:
    """The custody actor for a portal user."""
    return f"portal:{user_name}"


def record(store: Store, clock: Clock, event: str, user_name: str,
           capture_ids: Iterable[str], details: Mapping[str, Any]) -> None:
    """Append `event` (viewed, downloaded, exported) by `user_name` to the custody log.

    Fails closed: if the access cannot be recorded, the caller does not show the evidence.
    """
    custody.append(store, event, clock=clock, actor=actor_of(user_name),
                   capture_ids=list(capture_ids), details=dict(details))

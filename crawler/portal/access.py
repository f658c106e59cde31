"""Every look at evidence is evidence too: views, downloads and exports in the custody log."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Mapping
from typing import Any

from crawler.clock import Clock
from crawler.seal import custody
from storage.base import Store
from storage.layout import CUSTODY

logger = logging.getLogger(__name__)


class CustodyReader:
    """The custody entries naming a capture, reading each entry once.

    Entries are write-once, so parsed ones are kept (by key); a view reads only the entries
    appended since the last, instead of the whole log (which grows with every view).
    """

    def __init__(self, store: Store) -> None:
        self.store = store
        self._entries: dict[str, custody.CustodyEntry] = {}
        self._lock = threading.Lock()

    def entries_for(self, capture_id: str) -> list[custody.CustodyEntry]:
        keys = list(self.store.list_documents(CUSTODY))
        with self._lock:
            missing = [k for k in keys if k not in self._entries]
        for key in missing:
            entry = custody.CustodyEntry.parse(self.store.read_document(key))
            with self._lock:
                self._entries[key] = entry
        with self._lock:
            return [self._entries[k] for k in keys if capture_id in self._entries[k].capture_ids]


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

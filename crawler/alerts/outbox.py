"""The local durable outbox: which event still has to go to which channel.

Layout under the outbox folder (`ALERTS_OUTBOX_DIR`, `MARKWATCH_OUTBOX_DIR`, default
`./markwatch-data/outbox`):

- `events/<event_id>.json`: the event as delivered (written once);
- `queue/<channel>/<event_id>.json`: the delivery state of one event on one channel:
  `pending` -> `sending` (the intent, written before anything goes out) -> `delivered`;
  a `sending` left by a crash becomes `unconfirmed` (see `crawler.alerts.dispatch`);
- `digests/<channel>.json`: when the channel's last daily digest went out;
- `.lock`: one delivery pass at a time (flock), so two runs never send the same event.

Every file is written to `tmp/`, fsynced, renamed into place and the folder fsynced, so a crash
leaves either the old state or the new one, never half a file. Delivered entries stay as small
markers: an event derived again later is not queued again.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from crawler.alerts.events import Event

logger = logging.getLogger(__name__)

STATES = ("pending", "sending", "delivered", "unconfirmed")
DEFAULT_OUTBOX = "./markwatch-data/outbox"


def outbox_dir(configured: str | None = None) -> Path:
    """The outbox folder: the setting, else `MARKWATCH_OUTBOX_DIR`, else the default."""
    return Path(configured or os.environ.get("MARKWATCH_OUTBOX_DIR") or DEFAULT_OUTBOX)


@dataclass
class Entry:
    """One event on one channel."""

    event_id: str
    channel: str
    digest: str | None
    """None: immediate; `daily`: waits for the channel's daily digest."""
    state: str
    enqueued_at: str
    updated_at: str
    attempts: int = 0
    batch_id: str | None = None
    """The id sent as `X-Markwatch-Event-Id` (the event id, or a digest's id)."""
    last_error: str | None = None


class Outbox:
    """The outbox folder."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        for sub in ("events", "queue", "digests", "tmp"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the outbox for one delivery pass (blocks while another process holds it)."""
        with open(self.root / ".lock", "a+b") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    # -- events ----------------------------------------------------------------------------

    def put_event(self, event: Event) -> None:
        """Keep the event's payload (once; a second put of the same id changes nothing)."""
        path = self.root / "events" / f"{event.event_id}.json"
        if not path.exists():
            self._write(path, event.to_json())

    def event(self, event_id: str) -> Event:
        return Event.from_json(self._read(self.root / "events" / f"{event_id}.json"))

    # -- queue -----------------------------------------------------------------------------

    def get(self, channel: str, event_id: str) -> Entry | None:
        path = self._entry_path(channel, event_id)
        return Entry(**self._read(path)) if path.exists() else None

    def enqueue(self, channel: str, event_id: str, digest: str | None, at: str) -> bool:
        """Queue an event for a channel; False when it was queued (or delivered) before."""
        if self.get(channel, event_id) is not None:
            return False
        self.save(Entry(event_id, channel, digest, "pending", at, at))
        return True

    def save(self, entry: Entry) -> None:
        """Replace an entry's state durably."""
        if entry.state not in STATES:
            raise ValueError(entry.state)
        self._write(self._entry_path(entry.channel, entry.event_id), asdict(entry))

    def entries(self, channel: str | None = None,
                states: tuple[str, ...] = STATES) -> list[Entry]:
        """Entries in `states`, oldest first."""
        out: list[Entry] = []
        folders = [self.root / "queue" / channel] if channel else sorted(
            (self.root / "queue").iterdir())
        for folder in folders:
            if not folder.is_dir():
                continue
            for path in folder.glob("*.json"):
                try:
                    entry = Entry(**self._read(path))
                except (ValueError, TypeError) as exc:  # never ours: left for a person
                    logger.error("outbox entry %s is unreadable, skipped: %s", path, exc)
                    continue
                if entry.state in states:
                    out.append(entry)
        return sorted(out, key=lambda e: (e.enqueued_at, e.event_id))

    # -- digests ---------------------------------------------------------------------------

    def last_digest(self, channel: str) -> str | None:
        path = self.root / "digests" / f"{channel}.json"
        return str(self._read(path)["sent_at"]) if path.exists() else None

    def set_last_digest(self, channel: str, at: str) -> None:
        self._write(self.root / "digests" / f"{channel}.json", {"sent_at": at})

    # -- files -----------------------------------------------------------------------------

    def _entry_path(self, channel: str, event_id: str) -> Path:
        folder = self.root / "queue" / channel
        folder.mkdir(parents=True, exist_ok=True)
        return folder / f"{event_id}.json"

    @staticmethod
    def _read(path: Path) -> dict[str, Any]:
        data = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(data, dict):
            raise ValueError(f"{path}: not a JSON object")
        return data

    def _write(self, path: Path, data: dict[str, Any]) -> None:
        tmp = self.root / "tmp" / f"{path.name}.{os.getpid()}.tmp"
        with open(tmp, "wb") as handle:
            handle.write(json.dumps(data, sort_keys=True, indent=1).encode("utf-8"))
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
        fd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

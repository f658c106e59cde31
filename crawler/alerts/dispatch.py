"""After a run: derive its events, record them, queue them per channel, deliver the queue.

Delivery of one batch (one event, or several in one e-mail or digest) to one channel:

1. each entry is saved as `sending` with the batch id (the intent, fsynced) before anything
   goes out;
2. the webhook POST or SMTP transaction runs, bounded by the channel's timeout and retries;
3. on success the entries are saved `delivered` and a `delivered` record is written to the
   store; on failure they go back to `pending` (tried again by the next run or `markwatch
   alerts retry`) and a `failed` record is written.

A crash between 2 and 3 leaves `sending` entries. The next pass cannot know whether the
receiver got them, so it does not guess: with the channel's default `unconfirmed: hold` they
become `unconfirmed` and are not sent again until `markwatch alerts retry --unconfirmed`;
with `unconfirmed: resend` they are sent again at once. Either way a resend carries the same
`X-Markwatch-Event-Id` (e-mail: the same Message-ID), so a receiver that dedupes by it sees the
event once. This is at-most-once delivery by default for the crash window, at-least-once with
`resend`; exactly-once needs the receiver's dedupe (see docs/alerts.md).
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from crawler.alerts import mail, webhook
from crawler.alerts.config import AlertsConfig, Channel, WebhookChannel
from crawler.alerts.events import Event
from crawler.alerts.outbox import Entry, Outbox
from crawler.alerts.payload import email_message, webhook_body
from crawler.alerts.records import (
    AlertIndex,
    delivered_before,
    delivery_record,
    event_key,
    write_delivery,
    write_event,
)
from crawler.alerts.webhook import DeliveryError
from crawler.clock import Clock, SystemClock, isoformat
from crawler.exceptions import StoreError
from crawler.ids import new_ulid
from storage.base import Store

logger = logging.getLogger(__name__)

CRASH_AFTER_SEND = "MARKWATCH_TEST_CRASH_AFTER_SEND"
"""Test seam: when set to 1, the process dies right after a successful send, before recording."""


@dataclass
class PassResult:
    """What one delivery pass did."""

    delivered: list[str] = field(default_factory=list)
    """`channel:event_id` delivered."""
    failed: list[str] = field(default_factory=list)
    """`channel:event_id: reason` still pending."""
    held: list[str] = field(default_factory=list)
    """`channel:event_id` left unconfirmed by a crash."""


class Dispatcher:
    """Records, queues and delivers events for one `alerts:` configuration."""

    def __init__(self, config: AlertsConfig, outbox: Outbox, *, store: Store | None = None,
                 index: AlertIndex | None = None, clock: Clock | None = None,
                 environ: Mapping[str, str] | None = None,
                 sleep: Callable[[float], None] | None = None) -> None:
        self.config = config
        self.outbox = outbox
        self.store = store
        self.index = index
        self.clock = clock or SystemClock()
        self.environ = os.environ if environ is None else environ
        self.sleep = sleep

    # -- recording and queueing ------------------------------------------------------------

    def record(self, events: Sequence[Event]) -> None:
        """Keep each event in the outbox and as a store record (history)."""
        for event in events:
            self.outbox.put_event(event)
            if self.store is None:
                continue
            try:
                key = write_event(self.store, event)
                if self.index is not None:
                    self.index.index_event(event.to_json(), key)
            except (StoreError, OSError) as exc:
                logger.warning("alert event %s not recorded in the store: %s",
                               event.event_id, exc)

    def enqueue(self, events: Sequence[Event]) -> int:
        """Queue each event on the channels whose rules match it; how many were queued."""
        queued = 0
        now = isoformat(self.clock.now())
        with self.outbox.locked():  # never beside another process's delivery pass
            for event in events:
                for channel, digest in self._routes(event).items():
                    if self._already_delivered(event.event_id, channel):
                        continue
                    queued += self.outbox.enqueue(channel, event.event_id, digest, now)
        return queued

    def _routes(self, event: Event) -> dict[str, str | None]:
        routes: dict[str, str | None] = {}
        for rule in self.config.rules:
            if rule.matches(event.type, event.case, event.brand, event.score):
                for channel in rule.channels:
                    # a channel reached by an immediate rule and a digest rule: immediate
                    routes[channel] = None if channel in routes and routes[channel] is None \
                        else rule.digest
        return routes

    def _already_delivered(self, event_id: str, channel: str) -> bool:
        if self.store is None:
            return False
        try:
            return delivered_before(self.store, event_id, channel)
        except (StoreError, OSError, ValueError):
            return False

    # -- delivering ------------------------------------------------------------------------

    def deliver(self, channels: Sequence[str] = (), *, unconfirmed: bool = False,
                digest_now: bool = False) -> PassResult:
        """One pass over the queue (one process at a time; others wait for the lock)."""
        result = PassResult()
        with self.outbox.locked():
            self._recover(result, release=channels or tuple(self.config.channels)
                          if unconfirmed else ())
            for name, channel in self.config.channels.items():
                if channels and name not in channels:
                    continue
                batches = self._batches(channel, digest_now)
                for n, (batch_id, entries, digest) in enumerate(batches):
                    if not self._send(channel, batch_id, entries, digest, result):
                        # unreachable: the rest wait for the next pass, so a dead channel
                        # costs one bounded try per pass, not one per event
                        result.failed += [
                            f"{name}:{e.event_id}: not tried, {name} was unreachable"
                            for _, rest, _ in batches[n + 1:] for e in rest]
                        break
        return result

    def _recover(self, result: PassResult, release: Sequence[str]) -> None:
        """Entries left `sending` by a crash: hold them, or queue them again (same batch id);
        then queue again the unconfirmed entries of the channels in `release`."""
        for entry in self.outbox.entries(states=("sending",)):
            channel = self.config.channels.get(entry.channel)
            if channel is not None and channel.unconfirmed == "resend":
                entry.state = "pending"  # batch_id kept: resent under the same id
            else:
                entry.state = "unconfirmed"
                logger.warning("alert %s on channel %s may or may not have been delivered (the "
                               "process stopped before recording it); held until `markwatch "
                               "alerts retry --unconfirmed`", entry.event_id, entry.channel)
                self._write_record(entry, "unconfirmed", 0, error="stopped between sending "
                                   "and recording")
            entry.updated_at = isoformat(self.clock.now())
            self.outbox.save(entry)
        for entry in self.outbox.entries(states=("unconfirmed",)):
            if entry.channel in release:
                entry.state = "pending"
                self.outbox.save(entry)
        result.held += [f"{e.channel}:{e.event_id}"
                        for e in self.outbox.entries(states=("unconfirmed",))]

    def _batches(self, channel: Channel, digest_now: bool
                 ) -> list[tuple[str, list[Entry], str | None]]:
        pending = self.outbox.entries(channel.name, ("pending",))
        out: list[tuple[str, list[Entry], str | None]] = []
        resends: dict[str, list[Entry]] = {}
        for entry in pending:
            if entry.batch_id:
                resends.setdefault(entry.batch_id, []).append(entry)
        out += [(bid, group, group[0].digest) for bid, group in resends.items()]
        fresh = [e for e in pending if not e.batch_id]
        immediate = [e for e in fresh if e.digest is None]
        if isinstance(channel, WebhookChannel):
            out += [(e.event_id, [e], None) for e in immediate]
        elif immediate:
            out.append((_batch_id(immediate), immediate, None))
        daily = [e for e in fresh if e.digest == "daily"]
        if daily and (digest_now or self._digest_due(channel.name)):
            out.append((_batch_id(daily), daily, "daily"))
        return out

    def _digest_due(self, channel: str) -> bool:
        last = self.outbox.last_digest(channel)
        return last is None or last[:10] < isoformat(self.clock.now())[:10]

    def _send(self, channel: Channel, batch_id: str, entries: list[Entry],
              digest: str | None, result: PassResult) -> bool:
        """Deliver one batch; False when the channel could not be reached (try no more now)."""
        now = self.clock.now()
        for entry in entries:  # the intent, durable before anything goes out
            entry.state, entry.batch_id, entry.updated_at = "sending", batch_id, isoformat(now)
            self.outbox.save(entry)
        events = [self.outbox.event(e.event_id) for e in entries]
        status: int | None = None
        try:
            if isinstance(channel, WebhookChannel):
                secret = webhook.secret_of(channel, self.environ)
                body = webhook_body(batch_id, events, digest is not None)
                status, attempts = webhook.post(channel, body, batch_id, secret,
                                                **self._sleep())
            else:
                message = email_message(batch_id, events, sender=channel.sender,
                                        recipients=channel.recipients, digest=digest, now=now)
                attempts = mail.send(channel, message, self.environ, **self._sleep())
        except DeliveryError as exc:
            logger.warning("alert delivery to %s failed, kept in the outbox: %s",
                           channel.name, exc)
            for entry in entries:
                entry.state, entry.batch_id = "pending", None
                entry.attempts += 1
                entry.last_error = str(exc)
                entry.updated_at = isoformat(self.clock.now())
                self.outbox.save(entry)
                self._write_record(entry, "failed", entry.attempts, error=str(exc),
                                   batch_id=batch_id)
                result.failed.append(f"{channel.name}:{entry.event_id}: {exc}")
            return not exc.retryable
        if self.environ.get(CRASH_AFTER_SEND) == "1":
            os._exit(86)  # test seam: a crash between sending and recording
        for entry in entries:
            entry.state, entry.last_error = "delivered", None
            entry.attempts += 1
            entry.updated_at = isoformat(self.clock.now())
            self.outbox.save(entry)
            self._write_record(entry, "delivered", attempts, status=status, batch_id=batch_id)
            result.delivered.append(f"{channel.name}:{entry.event_id}")
        if digest:
            self.outbox.set_last_digest(channel.name, isoformat(now))
        logger.info("alert %s delivered to %s (%d event(s))", batch_id, channel.name,
                    len(entries))
        return True

    def _sleep(self) -> dict[str, Callable[[float], None]]:
        return {"sleep": self.sleep} if self.sleep is not None else {}

    def _write_record(self, entry: Entry, outcome: str, attempts: int, *,
                      status: int | None = None, error: str | None = None,
                      batch_id: str | None = None) -> None:
        if self.store is None:
            return
        at = self.clock.now()
        record = delivery_record(entry.event_id, entry.channel, new_ulid(at),
                                 batch_id=batch_id or entry.batch_id, outcome=outcome,
                                 at=isoformat(at), attempts=attempts, status=status, error=error)
        try:
            key = write_delivery(self.store, record)
            if self.index is not None:
                self.index.index_delivery(record, key)
        except (StoreError, OSError) as exc:
            logger.warning("alert delivery record for %s not stored: %s", entry.event_id, exc)


def _batch_id(entries: Sequence[Entry]) -> str:
    digest = hashlib.sha256("\n".join(sorted(e.event_id for e in entries)).encode()).hexdigest()
    return f"dig_{digest[:32]}"


__all__ = ["CRASH_AFTER_SEND", "Dispatcher", "PassResult", "event_key"]

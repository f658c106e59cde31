"""Per-marketplace backoff after a block, and `Retry-After` on HTTP 429.

Each marketplace runs in its own spider, so "per marketplace" is per spider. After a page comes
back blocked (captcha, bot wall, login wall, rate limit) the spider waits longer between its
later requests: the delay of its download slots starts at `BLOCK_BACKOFF_DELAY` and doubles with
every further block in a row, up to `BLOCK_BACKOFF_MAX_DELAY`; a page that is not blocked halves
it again, down to the configured `DOWNLOAD_DELAY`. After `BLOCK_STOP_AFTER` blocks in a row the
spider stops (finish reason `blocked`), because carrying on only collects more bot walls; the
requests still waiting for their delay and those still in the scheduler (listing pages found,
the watches' search pages not started) are not sent, each recorded in the run record as a
failure saying why.

An HTTP 429 with a `Retry-After` of at most `RETRY_AFTER_MAX` seconds is not a capture: the
request is sent again once that time has passed (at most `RETRY_AFTER_TIMES` times). A 429
without one, with a longer one, or repeated too often is captured as a `rate-limit` block.

Stats: `evidence/blocked`, `evidence/blocked/<kind>`, `backoff/delay` (the current delay),
`backoff/retry_after` (429s waited out), `backoff/stopped`, `backoff/dropped` (requests waiting
in the downloader not sent because the marketplace stopped), `backoff/not_scheduled` (requests
taken from the scheduler then).
"""

from __future__ import annotations

import email.utils
import logging
import time
from dataclasses import dataclass, field
from typing import Any

from scrapy.crawler import Crawler
from scrapy.exceptions import CloseSpider, IgnoreRequest
from scrapy.http import Request, Response
from scrapy.settings import BaseSettings
from twisted.python.failure import Failure

from crawler.evidence.manifest import FailureItem
from crawler.exceptions import ConfigError
from crawler.items import Block

logger = logging.getLogger(__name__)

RETRY_AFTER_META = "markwatch_retry_after"
"""How many times this request was already sent again after a 429."""
STOP_REASON = "blocked"


@dataclass
class Backoff:
    """The delay policy of one marketplace; pure, so it is testable without a crawl."""

    base: float = 0.0
    """The delay when nothing is blocked (`DOWNLOAD_DELAY`)."""
    start: float = 5.0
    """The delay after the first block."""
    cap: float = 300.0
    """The longest delay."""
    stop_after: int = 3
    """Blocks in a row after which the marketplace is stopped (0: never)."""
    retry_after_max: float = 300.0
    """The longest `Retry-After` waited out; a longer one is captured as a block."""
    retry_after_times: int = 2
    """How often one request is sent again after a 429."""
    consecutive: int = 0
    delay: float = field(default=0.0)
    held_until: float = 0.0
    """Monotonic time before which a `Retry-After` being waited out keeps the delay up."""

    def __post_init__(self) -> None:
        self.delay = max(self.delay, self.base)

    @classmethod
    def from_settings(cls, settings: BaseSettings) -> Backoff:
        backoff = cls(
            base=settings.getfloat("DOWNLOAD_DELAY"),
            start=settings.getfloat("BLOCK_BACKOFF_DELAY", 5.0),
            cap=settings.getfloat("BLOCK_BACKOFF_MAX_DELAY", 300.0),
            stop_after=settings.getint("BLOCK_STOP_AFTER", 3),
            retry_after_max=settings.getfloat("RETRY_AFTER_MAX", 300.0),
            retry_after_times=settings.getint("RETRY_AFTER_TIMES", 2),
        )
        if backoff.start < 0 or backoff.cap < backoff.start or backoff.stop_after < 0:
            raise ConfigError("BLOCK_BACKOFF_DELAY must be >= 0 and <= BLOCK_BACKOFF_MAX_DELAY, "
                              "BLOCK_STOP_AFTER >= 0")
        return backoff

    def blocked(self, retry_after: float | None = None) -> float:
        """Note a block; the new delay (exponential, capped, at least `retry_after`)."""
        self.consecutive += 1
        grown = self.start * 2 ** (self.consecutive - 1)
        self.delay = min(self.cap, max(grown, retry_after or 0.0, self.base))
        return self.delay

    def hold(self, retry_after: float, now: float) -> float:
        """Wait out a 429's `Retry-After` from `now`; the new delay (at least `retry_after`).

        Until `now + retry_after` a page that passes does not relax the delay: the request
        sent again must not leave before the server said it may.
        """
        self.held_until = max(self.held_until, now + retry_after)
        self.delay = max(self.delay, retry_after)
        return self.delay

    def passed(self, now: float | None = None) -> float:
        """Note a page that was not blocked; the new delay (halved towards `base`).

        While a `Retry-After` is being waited out (`now` before `held_until`) it stays.
        """
        self.consecutive = 0
        if now is not None and now < self.held_until:
            return self.delay
        half = self.delay / 2
        self.delay = max(self.base, half if half >= self.start else self.base)
        return self.delay

    @property
    def exhausted(self) -> bool:
        """True when the marketplace should be stopped."""
        return bool(self.stop_after) and self.consecutive >= self.stop_after

    def wait_out(self, retry_after: float | None, attempts: int) -> bool:
        """True when a 429 with this `Retry-After` should be waited out and sent again."""
        return (retry_after is not None and retry_after <= self.retry_after_max
                and attempts < self.retry_after_times)


def parse_retry_after(value: str | bytes | None, now: float | None = None) -> float | None:
    """Seconds to wait from a `Retry-After` header (delay-seconds or an HTTP date)."""
    if value is None:
        return None
    text = value.decode("latin-1") if isinstance(value, bytes) else value
    text = text.strip()
    if text.isdigit():
        return float(text)
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


class BackoffMixin:
    """What `MarketplaceSpider` does with blocks and 429s; needs `crawler` and `logger`."""

    crawler: Crawler
    logger: Any
    _backoff: Backoff | None = None
    _not_sent: list[FailureItem] | None = None

    def rebuild_request(self, request: Request) -> Request:
        """A fresh request for the same page (the spider knows how to build one)."""
        raise NotImplementedError

    @property
    def backoff(self) -> Backoff:
        if self._backoff is None:
            self._backoff = Backoff.from_settings(self.crawler.settings)
        return self._backoff

    @property
    def not_sent(self) -> list[FailureItem]:
        """Pages found but never asked for because the marketplace stopped (taken from the
        scheduler): the evidence pipeline adds them to the run record's failures."""
        if self._not_sent is None:
            self._not_sent = []
        return self._not_sent

    def retry_after_request(self, response: Response) -> Request | None:
        """For a 429 to wait out: the same request again, the slot delayed; else None."""
        if response.status != 429:
            return None
        wait = parse_retry_after(response.headers.get("Retry-After"))
        attempts = int(response.meta.get(RETRY_AFTER_META, 0))
        if not self.backoff.wait_out(wait, attempts) or response.request is None:
            return None
        assert wait is not None
        self.logger.info("HTTP 429 for %s: waiting %.1f s (Retry-After) before asking again",
                         response.url, wait)
        self._delay_slots(response, self.backoff.hold(wait, time.monotonic()))
        self._inc("backoff/retry_after")
        again = self.rebuild_request(response.request)
        again.meta[RETRY_AFTER_META] = attempts + 1
        return again

    def note_block(self, response: Response, block: Block) -> None:
        """Count a block and slow down the marketplace's later requests."""
        self._inc("evidence/blocked")
        self._inc(f"evidence/blocked/{block.kind}")
        wait = parse_retry_after(response.headers.get("Retry-After"))
        delay = self.backoff.blocked(wait)
        self.logger.warning("blocked (%s: %s) at %s; %d in a row, next requests %.1f s apart",
                            block.kind, block.reason, response.url, self.backoff.consecutive,
                            delay)
        self._delay_slots(response, delay)

    def note_passed(self, response: Response) -> None:
        """A page that was not blocked: relax the delay again."""
        if self.backoff.consecutive or self.backoff.delay > self.backoff.base:
            before = self.backoff.delay
            after = self.backoff.passed(time.monotonic())
            if after != before:
                self._delay_slots(response, after, restart=False)

    def stop_if_exhausted(self) -> None:
        """Stop the marketplace after too many blocks in a row (`CloseSpider`)."""
        if self.backoff.exhausted:
            self.logger.error("stopping: %d blocked pages in a row", self.backoff.consecutive)
            self._set("backoff/stopped", self.backoff.consecutive)
            # Scrapy records the finish reason only after the pipelines close; the run
            # record (written when they close) should already say why the run ended.
            self._set("finish_reason", STOP_REASON)
            reason = (f"the marketplace stopped after {self.backoff.consecutive} blocked "
                      f"pages in a row")
            self._drop_waiting(reason)
            self._drop_scheduled(reason)
            raise CloseSpider(STOP_REASON)

    def _drop_waiting(self, reason: str) -> None:
        """Fail the requests waiting in this marketplace's download slots for their delay.

        Scrapy sends every request that reached the downloader before it closes the spider,
        one delay apart: after blocks, minutes apart (the delay has doubled with each), to a
        marketplace that is refusing the crawl. Each fails with `IgnoreRequest` instead, so
        the spider records it as a failure saying why (nothing is lost silently); a page
        already rendering finishes and is captured."""
        try:
            downloader = self.crawler.engine.downloader
        except (AttributeError, RuntimeError):  # not crawling (offline tests)
            return
        dropped = 0
        for slot in downloader.slots.values():
            while slot.queue:
                _request, waiting = slot.queue.popleft()
                waiting.errback(Failure(IgnoreRequest(f"not sent: {reason}")))
                dropped += 1
        if dropped:
            self._set("backoff/dropped", dropped)
            self.logger.warning("%d requests waiting for their delay not sent: %s", dropped,
                                reason)

    def _drop_scheduled(self, reason: str) -> None:
        """Take the requests still in the scheduler (listing pages found on search pages but
        not yet sent) and keep each as a failure for the run record (`not_sent`), then leave the
        scheduler empty. Scrapy drops them when the spider closes and says nothing: the run
        record would list the listings captured and the blocks, but not the listings found
        and never asked for. The spider's start requests (the watches' first search pages)
        are among them: Scrapy's engine takes them all into the scheduler as the crawl starts
        (measured with 40 terms and one request at a time: 40 enqueued before the first block)."""
        try:
            scheduler = self.crawler.engine.scheduler
        except (AttributeError, RuntimeError):  # not crawling (offline tests)
            return
        if scheduler is None:
            return
        failure = getattr(self, "_failure", None)
        dropped = 0
        while (request := scheduler.next_request()) is not None:
            dropped += 1
            if failure is not None and "watch_state" in request.meta:
                self.not_sent.append(failure(request.url, request.meta,
                                             f"IgnoreRequest: not sent: {reason}"))
        if dropped:
            self._set("backoff/not_scheduled", dropped)
            self.logger.warning("%d requests found but not yet sent dropped: %s", dropped,
                                reason)

    def _delay_slots(self, response: Response, delay: float, restart: bool = True) -> None:
        """Every download slot of this marketplace at least `delay` apart from now on."""
        self._set("backoff/delay", round(delay, 3))
        try:
            downloader = self.crawler.engine.downloader
        except (AttributeError, RuntimeError):  # not crawling (offline tests)
            return
        for slot in downloader.slots.values():
            # Slots randomise their delay by +-jitter: keep the shortest at `delay`.
            slot.jitter = min(slot.jitter, 0.5)
            slot.delay = delay / (1 - slot.jitter) if delay else 0.0
            if restart:
                slot.lastseen = time.monotonic()

    def _inc(self, key: str) -> None:
        if self.crawler.stats is not None:
            self.crawler.stats.inc_value(key)

    def _set(self, key: str, value: Any) -> None:
        if self.crawler.stats is not None:
            self.crawler.stats.set_value(key, value)

"""Every markwatch setting, parsed once from Scrapy settings into a typed dataclass."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from scrapy.settings import BaseSettings
from scrapy.utils.misc import load_object

from crawler.clock import Clock, SystemClock
from crawler.evidence.screenshot import SCREENSHOT_FORMATS
from crawler.exceptions import ConfigError
from storage.uri import DEFAULT_STORE, default_catalog_uri


@dataclass(frozen=True)
class CaptureLimits:
    """Bounds on one capture, so a hostile page ends cleanly instead of hanging."""

    timeout: float = 90.0
    """Wall-clock seconds for consent, lazy content, screenshot and DOM of one page."""
    max_dom_bytes: int = 32 * 1024 * 1024
    """Largest rendered DOM kept; a larger one fails the capture."""
    max_exchange_bytes: int = 64 * 1024 * 1024
    """Total bytes of recorded HTTP bodies per capture; past it, bodies are not kept."""
    max_exchanges: int = 400
    """Recorded HTTP exchanges per capture; past it, exchanges are counted but not kept."""
    max_page_height: int = 16_000
    """Tallest screenshot in CSS pixels; a taller page is cut there and the cut recorded."""
    max_decoded_bytes: int = 256 * 1024 * 1024
    """Largest decoded size of one content-encoded response (a compression bomb is cut there)."""
    exchange_idle_timeout: float = 30.0
    """Seconds the recording proxy waits for an upstream that sends nothing before giving up."""


DEFAULT_TAB_CAPTURES = 20
MIN_CONTEXT_PAGES = 100
"""The fewest rendered pages a browser context serves before it is replaced, by default."""


@dataclass(frozen=True)
class MarkwatchConfig:
    """markwatch's settings, typed."""

    store_uri: str = DEFAULT_STORE
    catalog_uri: str = ""
    run_id: str = ""
    spool_dir: str = ""
    operator: str = ""
    viewport: dict[str, int] = field(default_factory=lambda: {"width": 1280, "height": 720})
    limits: CaptureLimits = field(default_factory=CaptureLimits)
    lazy_load: str = "expand"
    """How lazy content is brought in before the screenshot
    (`crawler.browser.capture.LAZY_LOAD`)."""
    tab_captures: int = DEFAULT_TAB_CAPTURES
    """Captures one browser tab serves before a fresh one (`crawler.browser.tabs`; 1: a tab
    each)."""
    context_pages: int = MIN_CONTEXT_PAGES
    """Rendered pages a browser context serves before a fresh one (0: never); see
    `context_pages`."""
    clock: Clock = field(default_factory=SystemClock)
    static_revalidate: str = "immutable"
    """`EVIDENCE_STATIC_REVALIDATE`: scripts, styles and fonts the store holds are asked for
    with a conditional request (`conditional`), and not at all while `Cache-Control:
    immutable` keeps them fresh (`immutable`); `off` fetches them in full every time
    (`crawler.recording.conditional`). Needs `EVIDENCE_DEDUP`."""
    screenshot_format: str = "png-compact"
    """How the screenshot is stored (`EVIDENCE_SCREENSHOT_FORMAT`): `webp`, Chromium's PNG
    re-encoded as lossless WebP with its pixels checked, `png`, Chromium's PNG as it is, or
    `png-compact`, Chromium's PNG at its default zlib level (`crawler.evidence.screenshot`)."""
    browser_early: bool = True
    """`EVIDENCE_BROWSER_EARLY`: the Playwright driver and Chromium are started in the
    background as the engine starts, beside robots.txt and the first requests, instead of the
    engine waiting for the driver and the first rendered request for the browser
    (`crawler.browser.download_handler`)."""

    @classmethod
    def from_settings(cls, settings: BaseSettings) -> MarkwatchConfig:
        """Parse and check every `EVIDENCE_*` and `STORAGE_*` setting."""
        store_uri = settings.get("STORAGE_URI") or DEFAULT_STORE
        catalog_uri = settings.get("STORAGE_CATALOG_URI") or default_catalog_uri(store_uri)
        viewport = dict(settings.getdict("EVIDENCE_VIEWPORT") or {"width": 1280, "height": 720})
        if {"width", "height"} - viewport.keys():
            raise ConfigError("EVIDENCE_VIEWPORT needs width and height")
        limits = CaptureLimits(
            timeout=_positive(settings, "EVIDENCE_CAPTURE_TIMEOUT", settings.getfloat),
            max_dom_bytes=_positive(settings, "EVIDENCE_MAX_DOM_BYTES", settings.getint),
            max_exchange_bytes=_positive(settings, "EVIDENCE_MAX_EXCHANGE_BYTES", settings.getint),
            max_exchanges=_positive(settings, "EVIDENCE_MAX_EXCHANGES", settings.getint),
            max_page_height=_positive(settings, "EVIDENCE_MAX_PAGE_HEIGHT", settings.getint),
            max_decoded_bytes=_positive(settings, "EVIDENCE_MAX_DECODED_BYTES", settings.getint),
            exchange_idle_timeout=_positive(settings, "EVIDENCE_EXCHANGE_IDLE_TIMEOUT",
                                            settings.getfloat),
        )
        clock_setting = settings.get("EVIDENCE_CLOCK") or SystemClock
        clock = load_object(clock_setting)() if isinstance(clock_setting, str) else clock_setting
        if isinstance(clock, type):
            clock = clock()
        return cls(
            store_uri=store_uri,
            catalog_uri=catalog_uri,
            run_id=settings.get("MARKWATCH_RUN_ID") or "",
            spool_dir=settings.get("STORAGE_SPOOL_DIR") or "",
            operator=settings.get("EVIDENCE_OPERATOR") or "",
            viewport={k: int(viewport[k]) for k in ("width", "height")},
            limits=limits,
            lazy_load=_choice(settings, "EVIDENCE_LAZY_LOAD", LAZY_LOAD_METHODS),
            tab_captures=_positive(settings, "EVIDENCE_TAB_CAPTURES", settings.getint),
            context_pages=context_pages(settings),
            clock=clock,
            static_revalidate=_choice(settings, "EVIDENCE_STATIC_REVALIDATE",
                                      STATIC_REVALIDATE_MODES),
            screenshot_format=_choice(settings, "EVIDENCE_SCREENSHOT_FORMAT",
                                      SCREENSHOT_FORMATS),
            browser_early=settings.getbool("EVIDENCE_BROWSER_EARLY", True),
        )


LAZY_LOAD_METHODS = ("expand", "scroll", "off")
STATIC_REVALIDATE_MODES = ("immutable", "conditional", "off")


def _choice(settings: BaseSettings, name: str, choices: tuple[str, ...]) -> str:
    value = str(settings.get(name) or choices[0]).strip().lower()
    if value not in choices:
        raise ConfigError(f"{name} must be one of {', '.join(choices)}, not "
                          f"{settings.get(name)!r}")
    return value


def context_pages(settings: BaseSettings) -> int:
    """`EVIDENCE_CONTEXT_PAGES`: a number (0: never replace a context), or `auto` (the
    default): `MIN_CONTEXT_PAGES`, or enough for each of the context's page slots
    (`PLAYWRIGHT_MAX_PAGES_PER_CONTEXT`) to serve its `EVIDENCE_TAB_CAPTURES` captures in one
    tab, whichever is more. With a fixed count, a context with 16 page slots was replaced
    after about 6 captures per tab, so its tabs, each opened at a cost, were closed long
    before they had served their captures."""
    value = settings.get("EVIDENCE_CONTEXT_PAGES", "auto")
    if value is None or str(value).strip().lower() == "auto":
        slots = settings.getint("PLAYWRIGHT_MAX_PAGES_PER_CONTEXT", 4)
        tabs = settings.getint("EVIDENCE_TAB_CAPTURES", DEFAULT_TAB_CAPTURES)
        return max(MIN_CONTEXT_PAGES, max(slots, 1) * max(tabs, 1))
    try:
        pages = int(value)
    except (TypeError, ValueError):
        pages = -1
    if pages < 0:
        raise ConfigError(f"EVIDENCE_CONTEXT_PAGES must be auto or a whole number of pages "
                          f"(0: never), not {value!r}")
    return pages


def _positive(settings: BaseSettings, name: str, getter: Any) -> Any:
    value = getter(name)
    if value <= 0:
        raise ConfigError(f"{name} must be positive, not {settings.get(name)!r}")
    return value

"""Scrapy settings of the markwatch project (`scrapy.cfg` points here).

Evidence settings are prefixed `EVIDENCE_`, storage ones `STORAGE_`; they are parsed once into
`crawler.config.MarkwatchConfig`. Secure defaults: no telnet console, no remote control, no
listener of any kind.
"""

from __future__ import annotations

import warnings

from crawler import __version__
from crawler.browser.chromium import find_chromium
from crawler.exceptions import ConfigError
from crawler.sandbox import launch_options as sandbox_launch_options

BOT_NAME = "markwatch"
SPIDER_MODULES = ["spiders"]
NEWSPIDER_MODULE = "spiders"

# Never listen: an evidence crawler must not run code sent to it.
TELNETCONSOLE_ENABLED = False
REMOTE_CONTROL_ENABLED = False

TWISTED_REACTOR = "twisted.internet.asyncioreactor.AsyncioSelectorReactor"
DOWNLOAD_HANDLERS = {
    "http": "crawler.browser.download_handler.MarkwatchPlaywrightHandler",
    "https": "crawler.browser.download_handler.MarkwatchPlaywrightHandler",
    # nothing but http(s): a page's file://, ftp://, data: or s3:// link is never fetched
    "file": None,
    "ftp": None,
    "data": None,
    "s3": None,
}
# Egress policy (crawler.egress): no loopback, private, link-local, ... destination unless
# listed here (CIDRs, addresses, address:port, host names); logged at start. Never by default.
EGRESS_ALLOW: list[str] = []
# the downloader connects to the address the egress middleware checked (no second lookup)
TWISTED_DNS_RESOLVER = "crawler.egress_resolver.EgressResolver"
# Scrapy's own downloads verify TLS like the recording proxy (EVIDENCE_TLS_VERIFY, _CA_FILE).
# Scrapy 2.19 deprecates the setting (its DOWNLOAD_VERIFY_CERTIFICATES verifies, but takes no
# extra CA file); until a replacement takes our CA option, its warning is not shown to users.
DOWNLOADER_CLIENTCONTEXTFACTORY = "crawler.tls.EvidenceContextFactory"
warnings.filterwarnings("ignore", message="The 'DOWNLOADER_CLIENTCONTEXTFACTORY' setting is "
                        "deprecated", category=Warning)
PLAYWRIGHT_BROWSER_TYPE = "chromium"
# The executable: MARKWATCH_CHROMIUM, else a system chromium, else Playwright's own download
# (crawler.browser.chromium). Filled in here too so that plain `scrapy crawl` finds the same
# browser.
PLAYWRIGHT_LAUNCH_OPTIONS: dict[str, object] = {
    "headless": True,
    "args": [
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--disable-dev-shm-usage",
        # WebRTC's UDP would bypass the recording proxy (and the egress policy): none
        "--force-webrtc-ip-handling-policy=disable_non_proxied_udp",
        # one hostile page's scripts cannot take the machine: past this JavaScript heap its
        # renderer dies and the capture fails with the browser's reason (crawler.browser.capture)
        "--js-flags=--max-old-space-size=1024",
    ],
}
try:
    _chromium = find_chromium()
except ConfigError:  # reported when the crawl starts (crawler.runs.runner)
    _chromium = None
if _chromium:
    PLAYWRIGHT_LAUNCH_OPTIONS["executable_path"] = _chromium
# Chromium's sandbox on unless root (crawler.sandbox): auto, on or off
EVIDENCE_BROWSER_SANDBOX = "auto"
PLAYWRIGHT_LAUNCH_OPTIONS = sandbox_launch_options(PLAYWRIGHT_LAUNCH_OPTIONS,
                                                   EVIDENCE_BROWSER_SANDBOX)
PLAYWRIGHT_DEFAULT_NAVIGATION_TIMEOUT = 30_000
PLAYWRIGHT_MAX_PAGES_PER_CONTEXT = 4
PLAYWRIGHT_MAX_CONTEXTS = 8  # one per context slot (CONCURRENT_REQUESTS), plus retiring ones
PLAYWRIGHT_RESTART_DISCONNECTED_BROWSER = True

CONCURRENT_REQUESTS = 4
CONCURRENT_REQUESTS_PER_DOMAIN = 4
DOWNLOAD_DELAY = 0
DOWNLOAD_TIMEOUT = 60
ROBOTSTXT_OBEY = True
COOKIES_ENABLED = True
RETRY_ENABLED = True
RETRY_TIMES = 2
AUTOTHROTTLE_ENABLED = False
# Unrendered requests and robots.txt use this; rendered pages send the browser's own headers
# (its user agent is recorded), plus the capture tag the recording proxy routes by and strips.
USER_AGENT = f"markwatch/{__version__} (evidence crawler)"
# The browser's own headers, unrouted (see crawler.browser.download_handler); a capture's requests
# are tagged inside the browser (crawler.recording.headers).
PLAYWRIGHT_PROCESS_REQUEST_HEADERS = None
DEFAULT_REQUEST_HEADERS = {"Accept-Language": "en"}
LOG_LEVEL = "INFO"
LOGSTATS_INTERVAL = 60.0
REQUEST_FINGERPRINTER_IMPLEMENTATION = "2.7"
FEED_EXPORT_ENCODING = "utf-8"

ITEM_PIPELINES = {
    "crawler.pipelines.evidence.EvidencePipeline": 500,
}
DOWNLOADER_MIDDLEWARES = {
    # first: every request, redirect and robots.txt fetch checked against the egress policy
    "crawler.middlewares.egress.EgressMiddleware": 50,
    # a request waits here while captures not yet stored hold EVIDENCE_INFLIGHT_MB
    # (crawler.evidence.budget); before the capture clock, so the wait is not capture time
    "crawler.evidence.budget.EvidenceBudgetMiddleware": 940,
    # last before the download handler, so the time is when the page is really fetched
    "crawler.middlewares.timing.CaptureClockMiddleware": 950,
    # only when resuming a run: answer pages the run already stored from the store
    "crawler.middlewares.resume_replay.ResumeMiddleware": 955,
    # a recording-proxy session and a browser context of its own per capture (before 960)
    "crawler.middlewares.recording.RecordingProxyMiddleware": 958,
    "crawler.middlewares.contexts.ContextRecycleMiddleware": 960,
}
SPIDER_MIDDLEWARES = {
    # only when resuming a run: drop what the spider makes of pages replayed from the store
    "crawler.middlewares.resume_replay.ResumeSpiderMiddleware": 100,
}
EXTENSIONS = {
    "crawler.extensions.progress.Progress": 500,
    # scrapy-playwright's per-request debug loggers cost a browser round trip per request
    "crawler.extensions.playwright_logs.PlaywrightLogLevel": 0,
    # a renderer past EVIDENCE_RENDERER_MAX_MB is killed (its captures fail: page crashed)
    "crawler.extensions.renderer_guard.RendererGuard": 10,
    # debug only, off unless MEMTRACE_FILE is set: where Python's memory grows
    "crawler.extensions.memtrace.MemTrace": 600,
    # glibc's mmap threshold fixed (MALLOC_MMAP_THRESHOLD): large transient buffers unmapped
    "crawler.extensions.malloc_mmap.MallocMmapThreshold": 5,
    # glibc's freed heap given back every MALLOC_TRIM_EVERY captures (0: off)
    "crawler.extensions.malloc_trim.MallocTrim": 610,
    # a JSON-lines timeline of the crawl's events, only with MARKWATCH_TIMELINE (bench/timeline.py)
    "crawler.extensions.timeline.Timeline": 20,
    # `kill -USR2 <pid>`: the engine's state, requests in flight, tabs and asyncio tasks logged
    "crawler.extensions.status_dump.StatusDump": 30,
    # off (above) and not even loaded: Scrapy imports a disabled extension's module before it
    # says NotConfigured, and these two bring aiohttp and twisted.conch (0.1 s of start-up)
    "scrapy.extensions.remote_control.RemoteControl": None,
    "scrapy.extensions.telnet.TelnetConsole": None,
}

# `kill -USR2 <pid>` logs the crawl's state (crawler/extensions/status_dump.py); False: off
STATUS_DUMP_ENABLED = True

# glibc's mmap threshold in bytes, fixed so that freed large buffers go back to the system
# (crawler/extensions/malloc_mmap.py); 0 leaves glibc's dynamic threshold
MALLOC_MMAP_THRESHOLD = 128 * 1024

# Evidence (see crawler.config for meaning and defaults).
EVIDENCE_ENABLED = True
EVIDENCE_CAPTURE_TIMEOUT = 90.0
EVIDENCE_MAX_DOM_BYTES = 32 * 1024 * 1024
EVIDENCE_MAX_EXCHANGE_BYTES = 64 * 1024 * 1024
EVIDENCE_MAX_EXCHANGES = 400
EVIDENCE_MAX_PAGE_HEIGHT = 16_000
EVIDENCE_MAX_DECODED_BYTES = 256 * 1024 * 1024
EVIDENCE_EXCHANGE_IDLE_TIMEOUT = 30.0
# Coverage alarms (crawler/fields/coverage.py): a field's share of captures falling by DROP
# against the mean of the marketplace's last RUNS runs is a warning (EXIT: exit status 1).
COVERAGE_ALARM_DROP = 0.3
COVERAGE_ALARM_RUNS = 5
COVERAGE_ALARM_MIN_CAPTURES = 3
COVERAGE_ALARM_EXIT = False
# or "scroll" (a viewport at a time), "off" (crawler/browser/capture.py)
EVIDENCE_LAZY_LOAD = "expand"
# The screenshot: Chromium's PNG re-encoded as lossless WebP (pixels checked), "png" as it is,
# or "png-compact" (Chromium's default zlib level) (crawler/evidence/screenshot.py)
EVIDENCE_SCREENSHOT_FORMAT = "png-compact"
# Byte-exact WARC of every exchange through a recording proxy on 127.0.0.1 (crawler.recording).
EVIDENCE_RECORDING_PROXY = True
# Each payload stored once: shared assets and artifacts kept as blobs are revisit records in
# the WARC, resolved on export, replay and verify (crawler/recording/dedup.py)
EVIDENCE_DEDUP = True
# Scripts, styles and fonts the store holds: asked for with If-None-Match/If-Modified-Since,
# served from the store on 304; "immutable" also skips the fetch while Cache-Control:
# immutable keeps them fresh; "conditional"; "off" (crawler/recording/conditional.py)
EVIDENCE_STATIC_REVALIDATE = "immutable"
EVIDENCE_RECORDING_CONTEXTS = "shared"  # or "per-capture" (see crawler/middlewares/recording.py)
EVIDENCE_TLS_VERIFY = True  # the proxy checks upstream certificates (the browser cannot)
EVIDENCE_TLS_CA_FILE = ""  # extra trusted CA certificates (PEM) for upstream TLS
EVIDENCE_VIEWPORT = {"width": 1280, "height": 720}
EVIDENCE_OPERATOR = ""
EVIDENCE_CLOCK = "crawler.clock.SystemClock"
# a fresh browser context every N rendered pages (0: never); auto: 100, or enough for each
# page slot's tab to serve EVIDENCE_TAB_CAPTURES captures (crawler.config.context_pages)
EVIDENCE_CONTEXT_PAGES = "auto"
EVIDENCE_RENDERER_MAX_MB = 1536  # resident memory of one renderer; past it, killed (0: off)
EVIDENCE_INFLIGHT_MB = 256  # bytes of captures not yet stored; past it new requests wait (0: off)
EVIDENCE_STORE_WORKERS = 4  # threads storing captures (hashing, writes, uploads) beside rendering
# the driver and Chromium started beside the first requests, not before or after them
# (crawler.browser.download_handler)
EVIDENCE_BROWSER_EARLY = True
EVIDENCE_TAB_CAPTURES = 20  # captures one browser tab serves before a fresh tab (1: one each)

STORAGE_URI = "file://./markwatch-data"
STORAGE_CATALOG_URI = ""  # empty: next to the local store
STORAGE_SPOOL_DIR = ""  # empty: MARKWATCH_SPOOL_DIR or ./markwatch-data/spool
ALERTS_OUTBOX_DIR = ""  # empty: MARKWATCH_OUTBOX_DIR or ./markwatch-data/outbox (crawler.alerts)

MARKWATCH_VERSION = __version__
MARKWATCH_TIMELINE = ""  # a file for the crawl's timeline of events (crawler.extensions.timeline)

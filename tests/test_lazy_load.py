"""Lazy content before the screenshot, in real Chromium against pages served on 127.0.0.1:
growing the viewport to the page (`expand`, the default), scrolling through it (`scroll`), or
neither (`off`, which shows what the other two must fetch)."""

from __future__ import annotations

import asyncio
import struct
import threading
import zlib
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from crawler.browser.capture import CaptureSteps, InFlight, RenderedPage, capture_page
from crawler.config import CaptureLimits

pytestmark = pytest.mark.browser
PHOTOS = 4


def _png(width: int, height: int) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))
    rows = b"".join(b"\x00" + b"\x80\x40\x20" * width for _ in range(height))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2,
                                                             0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


PHOTO = _png(40, 40)


def _gallery() -> str:
    return "".join(f'<div style="height:900px"></div><img data-src="/img/{n}.png" width="40" '
                   'height="40">' for n in range(PHOTOS))


PAGES = {
    # images observed for intersection with the viewport (as most marketplaces do)
    "/observed": f"""<!doctype html><html><body style="margin:0">{_gallery()}<script>
const io = new IntersectionObserver((entries) => entries.forEach((e) => {{
  if (e.isIntersecting) {{ e.target.src = e.target.dataset.src; io.unobserve(e.target); }}
}}));
document.querySelectorAll("img[data-src]").forEach((img) => io.observe(img));
</script></body></html>""",
    # an older loader: looks at the images' positions whenever the page scrolls
    "/on-scroll": f"""<!doctype html><html><body style="margin:0">{_gallery()}<script>
function look() {{
  document.querySelectorAll("img[data-src]:not([src])").forEach((img) => {{
    if (img.getBoundingClientRect().top < window.innerHeight) img.src = img.dataset.src;
  }});
}}
window.addEventListener("scroll", look);
look();
</script></body></html>""",
    # a short page whose content arrives by script after load, with a lazy photo at its end
    "/fetched": """<!doctype html><html><body style="margin:0"><div id="more"></div><script>
fetch("/more").then((r) => r.text()).then((html) => {
  document.getElementById("more").innerHTML = html;
  const img = document.querySelector("img[data-src]");
  const io = new IntersectionObserver((entries) => {
    if (entries[0].isIntersecting) { img.src = img.dataset.src; io.disconnect(); }
  });
  io.observe(img);
});
</script></body></html>""",
    "/more": '<div style="height:3000px"></div><img data-src="/img/late.png" width="40" '
             'height="40">',
    # endless results: a block is appended whenever the end of the page is in view
    "/endless": """<!doctype html><html><body style="margin:0"><div id="list"></div>
<div id="end" style="height:10px"></div><script>
const list = document.getElementById("list");
new IntersectionObserver((entries) => {
  if (entries[0].isIntersecting) {
    const block = document.createElement("div");
    block.style.height = "2500px";
    block.textContent = "more results";
    list.appendChild(block);
  }
}).observe(document.getElementById("end"));
</script></body></html>""",
}


class _Site(BaseHTTPRequestHandler):
    photos_sent: list[str] = []

    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        if self.path.startswith("/img/"):
            _Site.photos_sent.append(self.path)
            body, kind = PHOTO, "image/png"
        elif self.path in PAGES:
            body, kind = PAGES[self.path].encode(), "text/html; charset=utf-8"
        else:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture(scope="module")
def site() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Site)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()


def _capture(url: str, lazy_load: str, limits: CaptureLimits | None = None) -> RenderedPage:
    from playwright.async_api import async_playwright

    from crawler.browser.chromium import find_chromium

    async def main() -> RenderedPage:
        async with async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path=find_chromium(),
                                               args=["--no-sandbox", "--disable-gpu"])
            try:
                context = await browser.new_context(viewport={"width": 1280, "height": 720})
                page = await context.new_page()
                inflight = InFlight()
                inflight.attach(page)
                await page.goto(url)
                cdp = await context.new_cdp_session(page)
                return await capture_page(page, None, CaptureSteps(lazy_load=lazy_load),
                                          limits or CaptureLimits(timeout=60), inflight, cdp)
            finally:
                await browser.close()

    return asyncio.run(main())


def _png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def _photos_shown(rendered: RenderedPage) -> int:
    return rendered.dom.count(b' src="/img/')  # set by the loader (not data-src)


@pytest.mark.parametrize("path", ["/observed", "/on-scroll"])
@pytest.mark.parametrize("method", ["expand", "scroll"])
def test_every_lazy_photo_is_loaded_before_the_screenshot(site: str, path: str,
                                                          method: str) -> None:
    _Site.photos_sent.clear()
    rendered = _capture(site + path, method)
    assert _photos_shown(rendered) == PHOTOS
    assert sorted(_Site.photos_sent) == [f"/img/{n}.png" for n in range(PHOTOS)]
    width, height = _png_size(rendered.screenshot)
    assert width == 1280 and height >= PHOTOS * 940  # the whole page, not the viewport
    assert rendered.viewport == {"width": 1280, "height": 720}  # what the page was opened at
    assert not [x for x in rendered.limits_hit if "busy" in x or "loading" in x]


def test_a_page_that_grows_after_loading_is_grown_again(site: str) -> None:
    _Site.photos_sent.clear()
    rendered = _capture(site + "/fetched", "expand")
    assert rendered.dom.count(b' src="/img/late.png"') == 1
    assert _Site.photos_sent == ["/img/late.png"]
    width, height = _png_size(rendered.screenshot)
    assert width == 1280 and height >= 3_000


def test_without_lazy_loading_the_photos_below_the_fold_are_missing(site: str) -> None:
    _Site.photos_sent.clear()
    rendered = _capture(site + "/observed", "off")
    assert _photos_shown(rendered) < PHOTOS  # what the two methods above are there to fetch


def test_an_endless_page_is_grown_to_the_height_cap_and_cut_there(site: str) -> None:
    limits = CaptureLimits(timeout=60, max_page_height=6_000)
    rendered = _capture(site + "/endless", "expand", limits)
    assert _png_size(rendered.screenshot) == (1280, 6_000)
    assert any("screenshot cut at 6000 px" in x for x in rendered.limits_hit), \
        rendered.limits_hit


def test_scrolling_an_endless_page_ends_within_the_cap(site: str) -> None:
    """Scrolling stops at the height it measured (infinite result lists are followed by the
    recipe spider's own `infinite_scroll`); it does not run on."""
    limits = CaptureLimits(timeout=60, max_page_height=6_000)
    width, height = _png_size(_capture(site + "/endless", "scroll", limits).screenshot)
    assert width == 1280 and 2_500 <= height <= 6_000


def test_the_setting_is_checked() -> None:
    from crawler.exceptions import ConfigError
    from tests.helpers import project_config as config

    assert config().lazy_load == "expand"
    assert config(EVIDENCE_LAZY_LOAD="Scroll").lazy_load == "scroll"
    with pytest.raises(ConfigError, match="EVIDENCE_LAZY_LOAD must be one of expand, scroll, "
                                          "off, not 'sideways'"):
        config(EVIDENCE_LAZY_LOAD="sideways")

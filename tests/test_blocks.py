"""spiders.pages.blocks: every captured block page recognised, no real page flagged."""

from __future__ import annotations

from pathlib import Path

import pytest

from spiders.pages.blocks import detect_block

FIXTURES = Path("/work/shared/fixtures/marketplaces")

BLOCKED = {
    "amazon/blocked-1.html": "bot-wall",
    "amazon/blocked-2.html": "captcha",
    "ebay/blocked-1.html": "bot-wall",
    "aliexpress/blocked-1.html": "captcha",
    "alibaba/blocked-1.html": "captcha",
    "etsy/blocked-1.html": "captcha",
    "walmart/blocked-1.html": "captcha",
    "jd/blocked-1.html": "rate-limit",
    "shopee/blocked-1.html": "login-wall",
    "temu/blocked-1.html": "login-wall",
}

needs_fixtures = pytest.mark.skipif(not FIXTURES.is_dir(), reason="shared fixtures not present")


def _read(name: str) -> str:
    return (FIXTURES / name).read_text(encoding="utf-8", errors="replace")


def _content_fixtures() -> list[str]:
    if not FIXTURES.is_dir():
        return []
    return sorted(
        str(p.relative_to(FIXTURES))
        for p in FIXTURES.glob("*/*.html")
        if not p.name.startswith("blocked-") and "raw-utf16" not in p.name
    )


@needs_fixtures
@pytest.mark.parametrize(("name", "kind"), sorted(BLOCKED.items()))
def test_blocked_fixture_detected(name: str, kind: str) -> None:
    block = detect_block(f"https://example.test/{name}", _read(name), 200, {})
    assert block is not None
    assert block.kind == kind
    assert block.reason


@needs_fixtures
def test_every_blocked_fixture_is_listed() -> None:
    found = {str(p.relative_to(FIXTURES)) for p in FIXTURES.glob("*/blocked-*.html")}
    assert found == set(BLOCKED)


@needs_fixtures
@pytest.mark.parametrize("name", _content_fixtures())
def test_content_fixture_not_flagged(name: str) -> None:
    assert detect_block(f"https://example.test/{name}", _read(name), 200, {}) is None


def test_http_429_with_retry_after() -> None:
    block = detect_block(
        "https://x.test/s", "<html><body>slow down</body></html>", 429, {"Retry-After": "120"}
    )
    assert block is not None
    assert block.kind == "rate-limit"
    assert "120" in block.reason


def test_cloudflare_just_a_moment() -> None:
    html = (
        "<html><head><title>Just a moment...</title></head><body>"
        "<script>window._cf_chl_opt={cvId:'3'}</script></body></html>"
    )
    block = detect_block("https://x.test/", html, 403, {"server": "cloudflare"})
    assert block is not None
    assert block.kind == "bot-wall"


def test_recaptcha_on_near_empty_page() -> None:
    html = (
        "<html><head><title>Checking</title></head><body><form method=post>"
        "<div class='g-recaptcha' data-sitekey='k'></div></form></body></html>"
    )
    block = detect_block("https://x.test/", html, 200, {})
    assert block is not None
    assert block.kind == "captcha"


def test_recaptcha_widget_on_full_page_is_not_a_block() -> None:
    filler = "<p>" + "A real product description. " * 200 + "</p>"
    html = (
        "<html><head><title>Lumara bag | Shop</title></head><body><h1>Lumara bag</h1>"
        f"{filler}<div class='g-recaptcha'></div><a href='/login'>Sign in</a></body></html>"
    )
    assert detect_block("https://x.test/item/1", html, 200, {}) is None


def test_403_with_challenge_markers() -> None:
    html = "<html><body><p>Please verify you are a human</p></body></html>"
    block = detect_block("https://x.test/", html, 403, {})
    assert block is not None


def test_login_redirect_url() -> None:
    html = "<html><head><title>Welcome</title></head><body><form></form></body></html>"
    block = detect_block("https://shopee.vn/buyer/login?next=%2Fsearch", html, 200, {})
    assert block is not None
    assert block.kind == "login-wall"


def test_perimeterx_app_id_alone_is_not_a_block() -> None:
    filler = "<li>item</li>" * 400
    html = f"<html><head><script>window._pxAppId='PX1'</script></head><body>{filler}</body></html>"
    assert detect_block("https://www.walmart.test/search?q=x", html, 200, {}) is None


_CHALLENGE_JS = (
    "var k=['importKey','subtle','decrypt','reload'];"
    "crypto.subtle.importKey('raw',x,'AES-CBC',!1,['decrypt']).then(function(){location.reload()})"
)


def test_script_only_challenge_page_is_a_bot_wall() -> None:
    """The shape of Temu's check (tests/pages/temu/blocked-2): no title, no text, scripts."""
    html = f"<html><body><script></script><script>{_CHALLENGE_JS}</script></body></html>"
    block = detect_block("https://www.temu.com/x-g-601099521154377.html", html, 200, {})
    assert block is not None
    assert block.kind == "bot-wall"
    assert "JavaScript challenge" in block.reason


def test_script_only_page_loading_a_challenge_script_is_a_bot_wall() -> None:
    """The shape of tests/pages/temu/blocked-4: an empty page whose script loads the check."""
    js = ("var s=document.createElement('script');"
          "s.src='https://static.kwcdn.com/upload-static/assets/chl/js/x.js';"
          "s.onload=function(){window.run('challenge','tok')};document.head.appendChild(s)")
    block = detect_block("https://www.temu.com/search_result.html?search_key=watch",
                         f"<html><body><script>{js}</script></body></html>", 200, {})
    assert block is not None
    assert block.kind == "bot-wall"


@pytest.mark.parametrize("html", [
    # a title: a real document, whatever its scripts do
    f"<html><head><title>Lumara bag</title></head><body><script>{_CHALLENGE_JS}</script>"
    "</body></html>",
    # an app shell: a mount element beside the script
    f"<html><body><div id='root'></div><script>{_CHALLENGE_JS}</script></body></html>",
    # an external script: a loader, not an inline check
    "<html><body><script src='/app.js'></script></body></html>",
    # visible text
    f"<html><body><p>Lumara bag</p><script>{_CHALLENGE_JS}</script></body></html>",
    # an empty page with a script that does not decrypt and reload
    "<html><body><script>window.dataLayer=[]</script></body></html>",
    # an empty page whose script loads an ordinary bundle
    "<html><body><script>var s=document.createElement('script');s.src='/app.js';"
    "document.head.appendChild(s)</script></body></html>",
])
def test_script_only_pages_that_are_not_challenges(html: str) -> None:
    assert detect_block("https://x.test/item/1", html, 200, {}) is None


def test_temu_image_captcha_over_a_goods_page() -> None:
    """The shape of tests/pages/temu/blocked-3: the goods page's head, a captcha body."""
    html = (
        "<html><head><title>50pcs acrylic rings - Temu</title>"
        "<meta property='og:type' content='product'></head><body class='verifyDialog '>"
        "<div><div role='dialog'><div>安全验证</div><div>请点击所有水果图片</div>"
        "<div id='imageSemantics'><img src='a.png'><img src='b.png'></div>"
        "<div role='button'>确认</div></div></div></body></html>"
    )
    block = detect_block("https://www.temu.com/x-g-601101076255740.html", html, 200, {})
    assert block is not None
    assert block.kind == "captcha"


def test_temu_dialog_markup_on_a_full_page_is_not_a_block() -> None:
    filler = "<p>" + "Acrylic rings for earrings, 50 pieces, 19 mm. " * 60 + "</p>"
    html = (
        "<html><head><title>50pcs acrylic rings - Temu</title></head><body>"
        f"<h1>50pcs acrylic rings</h1>{filler}"
        "<div role='dialog'><div id='imageSemantics'></div></div></body></html>"
    )
    assert detect_block("https://www.temu.com/x-g-601101076255740.html", html, 200, {}) is None

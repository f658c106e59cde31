"""Recognise captcha, bot-wall, login-wall and rate-limit pages served instead of content.

Real pages mention "captcha", "login" or anti-bot vendors in their scripts all the time
(Walmart ships `_pxAppId` on every page, Taobao items embed Baxia `punish` URLs, Etsy items
carry a reCAPTCHA widget), so a loose substring is never enough. Each rule looks at structure:
the document title, the elements a challenge page is built from (`#px-captcha`,
`#baxia-punish`, the DataDome iframe, a form posting to `/errors/validateCaptcha`), the final
or canonical URL, the HTTP status and headers, and how much visible text the page has.

Kinds:

- `captcha`: a human has to solve something (image, slider, press-and-hold, checkbox);
- `bot-wall`: an automatic JavaScript or interstitial check (AWS WAF, Cloudflare, eBay);
- `login-wall`: a sign-in page instead of the content;
- `rate-limit`: the site refuses because of request volume (HTTP 429, JD "访问频繁").
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from parsel import Selector

from crawler.items import Block

__all__ = ["detect_block"]

SMALL_TEXT = 1500
"""Visible characters below which a page is small enough to be an interstitial."""

_LOGIN_WORDS = (
    r"log ?in|sign ?in|sign-in|signin|登录|登入|ログイン|로그인|đăng nhập|iniciar sesi[oó]n|"
    r"entrar|connexion|anmelden|accedi|zaloguj|войти|เข้าสู่ระบบ|masuk"
)
_LOGIN_TITLE = re.compile(rf"^\s*(?:{_LOGIN_WORDS})\b", re.IGNORECASE)
_LOGIN_PATH = re.compile(
    r"(?:^|/)(?:buyer/)?(?:log[-_]?in|sign[-_]?in|signin|ap/signin|passport|account/login)"
    r"(?:\.html?|\.htm|\.php)?(?:/|$)",
    re.IGNORECASE,
)
_LOGIN_HOST = re.compile(r"^(?:login|passport|signin|accounts?)\.", re.IGNORECASE)
_CAPTCHA_TITLE = re.compile(
    r"captcha|robot or human|are you a (?:human|robot)|verify you are (?:a )?human|"
    r"security check|human verification|bot verification|验证码|安全验证|人机验证",
    re.IGNORECASE,
)
_RATE_TEXT = re.compile(
    r"访问频繁|访问过于频繁|请求过于频繁|操作过于频繁|too many requests|rate limit(?:ed| exceeded)|"
    r"you have been rate limited",
    re.IGNORECASE,
)
_CAPTCHA_WIDGET = (
    "//*[contains(concat(' ', normalize-space(@class), ' '), ' g-recaptcha ')"
    " or contains(concat(' ', normalize-space(@class), ' '), ' h-captcha ')"
    " or contains(concat(' ', normalize-space(@class), ' '), ' cf-turnstile ')]"
    " | //iframe[contains(@src, 'recaptcha/api') or contains(@src, 'hcaptcha.com')"
    " or contains(@src, 'challenges.cloudflare.com')]"
)


@dataclass
class _Doc:
    """What the rules look at, computed once."""

    url: str
    html: str
    status: int
    headers: Mapping[str, str]
    sel: Selector
    title: str
    text_len: int
    text: str

    @classmethod
    def build(cls, url: str, html: str, status: int, headers: Mapping[str, str]) -> _Doc:
        sel = Selector(text=html or "<html></html>")
        title = " ".join(sel.xpath("normalize-space(//title[1])").get("").split())
        parts = sel.xpath(
            "//body//text()[not(ancestor::script) and not(ancestor::style)"
            " and not(ancestor::noscript) and not(ancestor::template)]"
        ).getall()
        text = " ".join(" ".join(parts).split())
        lowered = {k.lower(): v for k, v in headers.items()}
        return cls(url, html, status, lowered, sel, title, len(text), text)

    @property
    def small(self) -> bool:
        return self.text_len < SMALL_TEXT

    def has(self, xpath: str) -> bool:
        return bool(self.sel.xpath(xpath))


Rule = Callable[[_Doc], Block | None]


def _http_429(doc: _Doc) -> Block | None:
    if doc.status != 429:
        return None
    retry = doc.headers.get("retry-after")
    suffix = f" (Retry-After: {retry})" if retry else ""
    return Block("rate-limit", f"HTTP 429 Too Many Requests{suffix}")


def _aws_waf(doc: _Doc) -> Block | None:
    if "window.gokuProps" in doc.html and (
        "AwsWafIntegration" in doc.html or ".awswaf.com/" in doc.html
    ):
        return Block("bot-wall", "AWS WAF JavaScript challenge (window.gokuProps, awswaf.com)")
    return None


def _amazon_captcha(doc: _Doc) -> Block | None:
    if doc.has("//form[contains(@action, '/errors/validateCaptcha')]"):
        return Block("captcha", "Amazon captcha form (action /errors/validateCaptcha)")
    return None


def _ebay_interruption(doc: _Doc) -> Block | None:
    if doc.title.lower().startswith("pardon our interruption"):
        return Block("bot-wall", "eBay bot check (title 'Pardon Our Interruption')")
    return None


def _baxia(doc: _Doc) -> Block | None:
    if doc.title == "Captcha Interception" or doc.has("//*[@id='baxia-punish']"):
        return Block("captcha", "Alibaba Baxia slider captcha ('Captcha Interception', punish)")
    path = urlsplit(doc.url).path
    if "/_____tmd_____/punish" in path:
        return Block("captcha", "Alibaba Baxia punish URL (_____tmd_____/punish, x5secdata)")
    return None


def _datadome(doc: _Doc) -> Block | None:
    iframe = doc.has("//iframe[contains(@src, 'captcha-delivery.com')]")
    script = re.search(r"var dd\s*=\s*\{[^}]*captcha-delivery\.com", doc.html) is not None
    if iframe or script:
        return Block("captcha", "DataDome captcha (captcha-delivery.com, dd=)")
    if doc.status == 403 and "x-datadome" in doc.headers:
        return Block("captcha", "DataDome block (HTTP 403, X-DataDome header)")
    return None


def _perimeterx(doc: _Doc) -> Block | None:
    if doc.has("//*[@id='px-captcha']"):
        return Block("captcha", "PerimeterX 'Press & Hold' captcha (#px-captcha)")
    if doc.status == 403 and "_pxAppId" in doc.html:
        return Block("captcha", "PerimeterX block (HTTP 403, _pxAppId)")
    return None


def _temu_verify(doc: _Doc) -> Block | None:
    """Temu's image captcha drawn over the page it replaces (tests/pages/temu/blocked-3): the
    goods page's `<title>` and `og:` tags stay, the body becomes `body.verifyDialog` with a
    `role=dialog` holding an `#imageSemantics` picture grid and almost no other text."""
    dialog = doc.has("//*[@role='dialog'][.//*[@id='imageSemantics']]")
    body = doc.has("//body[contains(concat(' ', normalize-space(@class), ' '), ' verifyDialog ')]")
    if doc.small and (dialog or body):
        return Block("captcha", "Temu image captcha (body.verifyDialog, #imageSemantics grid)")
    return None


def _cloudflare(doc: _Doc) -> Block | None:
    title = doc.title.lower()
    if title.startswith("just a moment") or title.startswith("attention required! | cloudflare"):
        return Block("bot-wall", f"Cloudflare challenge (title {doc.title!r})")
    if "window._cf_chl_opt" in doc.html or doc.has("//form[contains(@action, '__cf_chl')]"):
        return Block("bot-wall", "Cloudflare challenge (_cf_chl_opt / __cf_chl form)")
    return None


def _script_only_challenge(doc: _Doc) -> Block | None:
    """A document with no title, no visible text and nothing in its body but inline scripts
    that either decrypt a token and reload the page, or load a challenge script: the
    JavaScript checks Temu serves instead of a goods or search page to a client that runs no
    script (tests/pages/temu/blocked-2, blocked-4). App shells have a title, a mount element
    or external scripts, so they do not match."""
    if doc.title or doc.text_len:
        return None
    body = doc.sel.xpath("//body/*")
    if not body or any(el.root.tag != "script" or el.attrib.get("src") for el in body):
        return None
    code = " ".join(doc.sel.xpath("//body/script/text()").getall())
    if all(re.search(rf"\b{word}\b", code) for word in ("decrypt", "reload", "subtle")):
        return Block("bot-wall", "JavaScript challenge (empty page, script decrypts a token"
                     " with crypto.subtle and reloads)")
    if re.search(r"['\"]challenge['\"]|/chl/js/", code) and "createElement" in code:
        return Block("bot-wall", "JavaScript challenge (empty page, script loads a challenge"
                     " script)")
    return None


def _rate_text(doc: _Doc) -> Block | None:
    in_title = _RATE_TEXT.search(doc.title)
    if in_title:
        return Block("rate-limit", f"rate-limit notice in title ({in_title.group(0)!r})")
    match = _RATE_TEXT.search(doc.text)
    if match is None:
        return None
    # English wording can occur in reviews: only on a near-empty page. The Chinese notices
    # ("访问频繁") are only ever shown as a refusal, also inside the full page chrome (JD).
    if doc.small or re.search(r"[\u4e00-\u9fff]", match.group(0)):
        return Block("rate-limit", f"rate-limit notice ({match.group(0)!r})")
    return None


def _login(doc: _Doc) -> Block | None:
    urls = [doc.url]
    urls += doc.sel.xpath(
        "//link[@rel='canonical']/@href | //meta[@property='og:url']/@content"
    ).getall()
    for url in urls:
        parts = urlsplit(url)
        if _LOGIN_PATH.search(parts.path) or _LOGIN_HOST.match(parts.hostname or ""):
            return Block("login-wall", f"login page URL ({url})")
    segments = re.split(r"\s[|\-\u2013—·]\s", doc.title)
    for segment in segments:
        if _LOGIN_TITLE.match(segment):
            return Block("login-wall", f"login page (title {doc.title!r})")
    return None


def _generic_captcha(doc: _Doc) -> Block | None:
    if doc.title and _CAPTCHA_TITLE.search(doc.title):
        return Block("captcha", f"challenge page (title {doc.title!r})")
    if doc.small and doc.has(_CAPTCHA_WIDGET):
        return Block("captcha", "captcha widget on a near-empty page (reCAPTCHA/hCaptcha)")
    if doc.status in (401, 403, 503) and doc.small and re.search(
        r"captcha|challenge|not a robot|verify", doc.html, re.IGNORECASE
    ):
        return Block("bot-wall", f"HTTP {doc.status} with challenge markers")
    return None


RULES: tuple[Rule, ...] = (
    _http_429,
    _aws_waf,
    _amazon_captcha,
    _ebay_interruption,
    _baxia,
    _datadome,
    _perimeterx,
    _temu_verify,
    _cloudflare,
    _script_only_challenge,
    _rate_text,
    _login,
    _generic_captcha,
)
"""Checked in order; the first that matches names the block."""


def detect_block(url: str, html: str, status: int, headers: Mapping[str, str]) -> Block | None:
    """The block the page is, or None when it looks like real content."""
    doc = _Doc.build(url, html, status, headers)
    for rule in RULES:
        block = rule(doc)
        if block is not None:
            return block
    return None

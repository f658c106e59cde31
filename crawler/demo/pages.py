"""HTML pages of the demo marketplace, rendered from the catalog.

Every value that reaches a page goes through `html.escape`; JSON placed inside a ``<script>``
element goes through `script_json`, which escapes ``<``, ``>`` and ``&`` so that no data can
close the element. Search pages are empty shells: their results are drawn by ``/static/app.js``
from the JSON API, so a crawler that does not run JavaScript finds no listing there.
"""

from __future__ import annotations

import json
from html import escape
from typing import Any
from urllib.parse import quote

from crawler.demo.data import Catalog, DemoListing, DemoSeller

GONE_TEXT = "This listing is no longer available"
"""Text of the page served for an unknown listing id."""

HOME_SEARCHES = ("lumara", "lumara handbag", "corvane watch", "velisse perfume", "nordhaven")
"""Searches linked from the home page."""

_CONSENT = """<div id="consent" role="dialog" aria-modal="true" aria-labelledby="consent-title">
<div class="consent-box"><h2 id="consent-title">We value your privacy</h2>
<p>We and our 347 partners use cookies to personalise content and ads, and to analyse our
traffic. You can accept all cookies or manage your choices.</p>
<button id="consent-accept" type="button">Accept all</button>
<button id="consent-manage" type="button" disabled>Manage choices</button></div></div>
"""


def script_json(data: Any) -> str:
    """JSON safe to place inside a ``<script>`` element."""
    text = json.dumps(data, ensure_ascii=False, indent=None)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def search_href(term: str, page: int = 1) -> str:
    """Path of a search results page."""
    return f"/search?q={quote(term, safe='')}&page={page}"


def layout(
    title: str,
    body: str,
    *,
    consented: bool,
    scripts: tuple[str, ...] = (),
    head: str = "",
    term: str = "",
) -> str:
    """A complete page: header with search box, `body` inside ``<main>``, consent overlay."""
    tags = "".join(f'<script src="/static/{name}" defer></script>' for name in scripts)
    overlay = "" if consented else _CONSENT
    body_class = "" if consented else ' class="consent-pending"'
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{escape(title)} | Demo Marketplace</title>
<link rel="stylesheet" href="/static/style.css">{head}
<script src="/static/consent.js" defer></script>{tags}</head>
<body{body_class}>
<header class="site-header"><a class="logo" href="/">demo<b>market</b></a>
<form class="search-form" action="/search" method="get" role="search">
<input type="search" name="q" value="{escape(term)}" placeholder="Search for anything">
<button type="submit">Search</button></form></header>
<main>
{body}
</main>
<footer class="site-footer">Demo Marketplace is a fictional site for testing markwatch.
All brands and sellers are invented.</footer>
{overlay}</body></html>
"""


def home_page(catalog: Catalog, *, consented: bool) -> str:
    """The home page, linking to a few searches and the sellers."""
    searches = "".join(
        f'<li><a class="popular-search" href="{escape(search_href(term))}">{escape(term)}</a></li>'
        for term in HOME_SEARCHES
    )
    sellers = "".join(
        f'<li><a href="{escape(s.url)}">{escape(s.name)}</a></li>' for s in catalog.sellers[:8]
    )
    body = f"""<section class="hero"><h1>Great deals on luxury brands</h1>
<p>{len(catalog.listings)} listings from {len(catalog.sellers)} sellers.</p></section>
<section><h2>Popular searches</h2><ul class="popular">{searches}</ul></section>
<section><h2>Top sellers</h2><ul class="top-sellers">{sellers}</ul></section>"""
    return layout("Home", body, consented=consented)


def search_page(term: str, page: int, page_size: int, *, consented: bool) -> str:
    """The search shell: no results in the HTML, only the state the script needs."""
    state = script_json({"term": term, "page": page, "pageSize": page_size})
    body = f"""<h1 class="search-title">Results for &ldquo;{escape(term)}&rdquo;</h1>
<p class="search-page">Page {page}</p>
<div id="results" aria-live="polite"><p class="loading">Loading results&hellip;</p></div>
<nav class="pagination" id="pagination"></nav>
<script type="application/json" id="search-state">{state}</script>"""
    return layout(f"{term} - Search", body, consented=consented, scripts=("app.js",), term=term)


def item_page(item: DemoListing, base_url: str, *, consented: bool) -> str:
    """A listing page: title, price, seller, lazy gallery, description and specifications."""
    head = (
        f'\n<link rel="canonical" href="{escape(base_url + item.url)}">'
        f'\n<meta property="og:title" content="{escape(item.title)}">'
        f'\n<script type="application/ld+json">{script_json(product_jsonld(item, base_url))}'
        "</script>"
    )
    body = f"""<article class="listing" itemscope itemtype="https://schema.org/Product">
<p class="breadcrumbs"><a href="/">Home</a> &rsaquo; {escape(item.category.title())}s</p>
<div class="listing-top">
<div class="gallery">{_gallery(item)}</div>
<div class="summary">
<h1 itemprop="name">{escape(item.title)}</h1>
{'<p class="sponsored-label">Sponsored</p>' if item.sponsored else ""}
<div itemprop="offers" itemscope itemtype="https://schema.org/Offer">
<p class="price">{escape(item.price_text)}</p>
<meta itemprop="price" content="{escape(item.price_content)}">
<meta itemprop="priceCurrency" content="{escape(item.currency)}">
</div>
<p class="seller">Sold by <a href="{escape(item.seller.url)}">{escape(item.seller.name)}</a>
<span class="rating">{escape(str(item.seller.rating))}% positive</span></p>
<p class="item-number">Item number: <span itemprop="sku">{escape(item.listing_id)}</span></p>
<button class="buy" type="button">Buy it now</button>
</div></div>
<section class="description"><h2>Description</h2>{_paragraphs(item.description)}</section>
<section class="specs"><h2>Item specifics</h2><table>{_spec_rows(item)}</table></section>
<section class="shipping"><h2>Shipping and returns</h2>{_paragraphs(_SHIPPING)}</section>
</article>"""
    return layout(item.title, body, consented=consented, scripts=("item.js",), head=head)


_SHIPPING = (
    "Estimated delivery 7-20 working days. Import charges may apply on delivery.",
    "The seller accepts returns within 14 days. The buyer pays return postage.",
    "Payments are processed securely. Report this listing if you think it infringes a brand.",
)


def _gallery(item: DemoListing) -> str:
    return "".join(
        f'<figure><img data-src="{escape(url)}" alt="{escape(item.title)} photo {n}" '
        f'width="320" height="320"><figcaption>Photo {n} of {len(item.images)}</figcaption>'
        "</figure>"
        for n, url in enumerate(item.image_urls, start=1)
    )


def _paragraphs(texts: tuple[str, ...]) -> str:
    return "".join(f"<p>{escape(text)}</p>" for text in texts)


def _spec_rows(item: DemoListing) -> str:
    return "".join(
        f"<tr><th>{escape(name)}</th><td>{escape(value)}</td></tr>" for name, value in item.specs
    )


def product_jsonld(item: DemoListing, base_url: str) -> dict[str, Any]:
    """The listing's schema.org Product, as the page embeds it."""
    return {
        "@context": "https://schema.org",
        "@type": "Product",
        "name": item.title,
        "sku": item.listing_id,
        "url": base_url + item.url,
        "image": [base_url + url for url in item.image_urls],
        "brand": {"@type": "Brand", "name": item.brand or "Unbranded"},
        "description": item.description[0],
        "offers": {
            "@type": "Offer",
            "price": item.price_content,
            "priceCurrency": item.currency,
            "availability": "https://schema.org/InStock",
            "seller": {"@type": "Organization", "name": item.seller.name},
        },
    }


def seller_page(seller: DemoSeller, items: list[DemoListing], *, consented: bool) -> str:
    """A seller's page with links to its listings."""
    rows = "".join(
        f'<li><a href="{escape(item.url)}">{escape(item.title)}</a> '
        f'<span class="price">{escape(item.price_text)}</span></li>'
        for item in items
    )
    body = f"""<section class="seller-profile"><h1>{escape(seller.name)}</h1>
<p>Seller id <span class="seller-id">{escape(seller.seller_id)}</span>, ships from
{escape(seller.country)}, {escape(str(seller.rating))}% positive feedback.</p>
<h2>{len(items)} items for sale</h2><ul class="seller-items">{rows}</ul></section>"""
    return layout(seller.name, body, consented=consented)


def error_page(heading: str, text: str, *, consented: bool) -> str:
    """A 4xx/5xx page."""
    body = f'<section class="error"><h1>{escape(heading)}</h1><p>{escape(text)}</p></section>'
    return layout(heading, body, consented=consented)


def unavailable_page(item: DemoListing | None, *, consented: bool) -> str:
    """What a taken-down listing shows with HTTP 200 (a "soft 404")."""
    title = f"{item.title} - unavailable" if item is not None else "Item unavailable"
    body = (f'<section class="error unavailable"><h1>Item unavailable</h1>'
            f"<p>{escape(GONE_TEXT)}.</p><p>{escape(title)}</p>"
            '<p><a href="/">Continue shopping</a></p></section>')
    return layout("Item unavailable", body, consented=consented)


def captcha_page() -> str:
    """A bot wall: a challenge page served with HTTP 200 instead of the content."""
    return ("<!doctype html><html><head><title>Are you a robot?</title></head><body>"
            '<div class="g-recaptcha" data-sitekey="demo"></div>'
            "<p>Please verify you are a human to continue.</p></body></html>")

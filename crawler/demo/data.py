"""The demo marketplace's catalog: fictional brands, sellers and listings, and the truth API.

`build_catalog` generates everything from a seed, so the same arguments always give the same
catalog. Titles, prices and images imitate what counterfeit listings look like on real sites:
brand names in odd capitalisation, "style" and "inspired" lookalikes, accessories "for" a
brand, prices printed the local way (``1 234,56 €``, ``US $1,234.56``, ``CN¥1,234.00``), and
stock photos that sellers reuse across listings.

`Catalog.search` is the truth the end-to-end tests compare a crawl with: it returns exactly
what the search pages show, in the same order.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field, replace
from decimal import Decimal

from crawler.demo.images import ImageSpec, ImageStore
from crawler.demo.truth import label_catalog

CURRENCIES = ("EUR", "USD", "GBP", "JPY", "CNY")
"""Currencies the demo prices are printed in."""

_RATES = {"EUR": 1, "USD": 1.1, "GBP": 0.85, "JPY": 160, "CNY": 7.8}


@dataclass(frozen=True)
class Brand:
    """A fictional brand and the words its listings use."""

    name: str
    motif: str
    """Image motif of its products (see `crawler.demo.images.MOTIFS`)."""
    products: tuple[str, ...]
    """Product nouns used in titles."""
    price_eur: tuple[int, int]
    """Typical counterfeit price range, in euros."""


BRANDS = (
    Brand("Lumara", "bag", ("Handbag", "Tote Bag", "Shoulder Bag", "Crossbody Bag", "Wallet"),
          (25, 190)),
    Brand("Corvane", "watch", ("Chrono Watch", "Automatic Watch", "Diver Watch", "Watch"),
          (30, 240)),
    Brand("Velisse", "bottle", ("Eau de Parfum", "Perfume", "Parfum Spray"), (12, 95)),
    Brand("Nordhaven", "jacket", ("Parka", "Down Jacket", "Shell Jacket", "Puffer Jacket"),
          (40, 220)),
)
"""The demo's fictional brands."""

_TEMPLATES = (
    "{brand} {product} {extra}",
    "{BRAND} style {product_l} {extra_l}",
    "{brand} Classic {product} {extra}",
    "New {brand} {product} Women {extra}",
    "{brand} inspired {product_l} high quality",
    "Luxury {brand} {product} Original Box",
    "{brand_l} {product_l} men women {extra_l}",
    "{BRAND} {PRODUCT} 2025 NEW",
)
_ACCESSORIES = {
    "Lumara": "Dust bag case for {brand} handbag",
    "Corvane": "Watch strap for {brand} 20mm leather",
    "Velisse": "Travel atomizer case for {brand} perfume",
    "Nordhaven": "Replacement zipper pull for {brand} jacket",
}
_COMMON_EXTRAS = ("Limited Edition", "Gift", "Authentic", "Fast Shipping", "AAA+", "Original")
_EXTRAS = {
    "bag": ("Leather", "Genuine Leather", "Black", "Brown", "Monogram", *_COMMON_EXTRAS),
    "watch": ("Steel", "Gold", "Men", "42mm", "Sapphire", *_COMMON_EXTRAS),
    "bottle": ("100ml", "50ml", "Women", "Men", "Tester", *_COMMON_EXTRAS),
    "jacket": ("Men", "Women", "Black", "Hooded", "Waterproof", *_COMMON_EXTRAS),
}
_LOOKALIKES = (("Lumora", "bag", "Handbag"), ("Korvane", "watch", "Watch"),
               ("Velise", "bottle", "Perfume"), ("Nordhavn", "jacket", "Parka"))
_GENERIC = (
    ("bag", "Leather handbag women shoulder bag {extra_l}"),
    ("bag", "Canvas tote bag large capacity"),
    ("watch", "Men's chronograph watch stainless steel {extra_l}"),
    ("watch", "Minimalist quartz watch women"),
    ("bottle", "Perfume atomizer travel 10ml"),
    ("bottle", "Eau de toilette 100ml floral"),
    ("jacket", "Winter down jacket men hooded"),
    ("jacket", "Waterproof rain jacket unisex"),
)
_SELLER_NAMES = (
    "LuxOutlet Store", "Shenzhen Best Trade Co.", "bella_boutique88", "Golden Time Watches",
    "EuroStyle Deals", "ScentHouse Official", "mega-bargains-uk", "Tokyo Select",
    "Nordic Wear Outlet", "FashionHub 2025", "Guangzhou Leather Factory", "vintage_finds_paris",
    "Premium Replica Shop", "DailyDeals Global", "Maison Aubert", "QualityFirst Trading",
    "watchmaster_99", "Berlin Bags & More", "HappyBuy Store", "Osaka Trading",
    "TopChoice Outlet", "Luxe4Less", "sunny_day_shop", "Yiwu Direct Supply",
)
_SELLER_CURRENCY = ("EUR", "CNY", "GBP", "USD", "EUR", "EUR", "GBP", "JPY", "EUR", "USD", "CNY",
                    "EUR", "USD", "USD", "EUR", "CNY", "USD", "EUR", "USD", "JPY", "GBP", "USD",
                    "GBP", "CNY")
_COLOURS = ("black", "brown", "beige", "navy", "red", "cream", "olive", "silver")
_MATERIALS = {"bag": "PU leather", "watch": "stainless steel", "bottle": "glass",
              "jacket": "nylon, duck down"}
_SPONSORED_PER_BRAND = {"Lumara": 3, "Corvane": 2, "Velisse": 2, "Nordhaven": 1, None: 2}


@dataclass(frozen=True)
class DemoSeller:
    """A seller (store) on the demo marketplace."""

    seller_id: str
    """Identifier, e.g. ``S104``."""
    name: str
    """Display name."""
    currency: str
    """Currency the seller usually prices in."""
    country: str
    """Where the seller ships from."""
    rating: Decimal
    """Positive feedback percentage, e.g. ``Decimal("97.4")``."""
    stock_images: tuple[str, ...]
    """Image names the seller reuses across its listings."""
    operator: str = ""
    """Ground truth: who runs the shop (shops of one operator share it; see `truth`)."""
    kind: str = ""
    """Ground truth: `official`, `grey`, `shady` or `trader`."""

    @property
    def url(self) -> str:
        """Path of the seller's page."""
        return f"/seller/{self.seller_id}"


@dataclass(frozen=True)
class DemoListing:
    """One listing, with everything its page shows."""

    listing_id: str
    """Identifier, e.g. ``DM100123``."""
    title: str
    """Title as shown in search results and on the listing page."""
    brand: str | None
    """The brand the listing names, or None for unbranded and lookalike items."""
    category: str
    """Image motif / product kind: bag, watch, bottle or jacket."""
    price: Decimal
    """Exact amount (no decimals for JPY)."""
    currency: str
    """ISO 4217 code."""
    price_text: str
    """The price as the page prints it."""
    seller: DemoSeller
    """Who sells it."""
    images: tuple[str, ...]
    """Image names (without ``.png``), in gallery order; some are shared with other listings."""
    sponsored: bool
    """True for a paid placement, shown first in search results with a "Sponsored" label."""
    description: tuple[str, ...]
    """Description paragraphs."""
    specs: tuple[tuple[str, str], ...]
    """Rows of the specifications table."""
    label: str = ""
    """Ground truth, never shown on a page: `counterfeit`, `genuine`, `accessory` or
    `unbranded` (see `crawler.demo.truth`)."""

    @property
    def url(self) -> str:
        """Path of the listing page."""
        return f"/item/{self.listing_id}"

    @property
    def image_urls(self) -> list[str]:
        """Paths of the listing's images."""
        return [f"/img/{name}.png" for name in self.images]

    @property
    def price_content(self) -> str:
        """The amount as machine-readable text (``1234.56``; ``12345`` for JPY)."""
        return str(self.price)

    def matches(self, term: str) -> bool:
        """True when the title contains every word of `term`, ignoring case."""
        words = term.casefold().split()
        title = self.title.casefold()
        return bool(words) and all(word in title for word in words)


@dataclass(frozen=True)
class Catalog:
    """Everything the demo marketplace serves."""

    listings: tuple[DemoListing, ...]
    """All listings, ordered by id."""
    sellers: tuple[DemoSeller, ...]
    """All sellers, ordered by id."""
    images: ImageStore = field(compare=False, repr=False)
    """Image name (without ``.png``) to PNG bytes."""
    seed: int = 7
    """Seed the catalog was generated from."""
    _by_id: dict[str, DemoListing] = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_by_id", {item.listing_id: item for item in self.listings})

    def search(self, term: str) -> list[DemoListing]:
        """Listings whose title contains every word of `term` (case-insensitive), in page order:
        sponsored first, then by id. An empty term matches nothing."""
        found = [item for item in self.listings if item.matches(term)]
        return sorted(found, key=lambda item: (not item.sponsored, item.listing_id))

    def search_page(self, term: str, page: int, page_size: int) -> tuple[list[DemoListing], int]:
        """Results on 1-based `page`, and the number of pages (at least 1)."""
        found = self.search(term)
        pages = max(1, math.ceil(len(found) / page_size))
        start = (page - 1) * page_size
        return found[start : start + page_size], pages

    def get(self, listing_id: str) -> DemoListing | None:
        """The listing with this id, or None."""
        return self._by_id.get(listing_id)

    def seller(self, seller_id: str) -> DemoSeller | None:
        """The seller with this id, or None."""
        return next((s for s in self.sellers if s.seller_id == seller_id), None)

    def listings_of(self, seller_id: str) -> list[DemoListing]:
        """The seller's listings, by id."""
        return [item for item in self.listings if item.seller.seller_id == seller_id]


def build_catalog(listings: int = 360, seed: int = 7) -> Catalog:
    """Generate a catalog of `listings` listings; the same arguments give the same catalog."""
    rng = random.Random(seed)  # noqa: S311 - reproducible test data, not security
    specs: dict[str, ImageSpec] = {}
    for brand in BRANDS:
        name = f"brand-{brand.name.lower()}"
        specs[name] = ImageSpec(name, "banner", seed)
    sellers = _make_sellers(rng, specs, seed)
    items, number = [], 100000
    for _ in range(listings):
        number += rng.randint(1, 9)  # gaps: listings deleted since
        items.append(_make_listing(rng, f"DM{number}", sellers, specs, seed))
    items = _mark_sponsored(rng, items)
    items, sellers = label_catalog(items, sellers, specs, BRANDS, seed)
    return Catalog(tuple(items), tuple(sellers), ImageStore(specs), seed)


def _make_sellers(rng: random.Random, specs: dict[str, ImageSpec], seed: int) -> list[DemoSeller]:
    countries = ("CN", "DE", "GB", "US", "FR", "JP", "IT", "HK")
    sellers = []
    for n, (name, currency) in enumerate(zip(_SELLER_NAMES, _SELLER_CURRENCY, strict=True)):
        seller_id = f"S{101 + n * 3}"
        stock = tuple(f"stock-{seller_id.lower()}-{k}" for k in range(1, 4))
        for image in stock:
            specs[image] = ImageSpec(image, "stock", seed)
        rating = Decimal(rng.randint(880, 999)) / 10
        sellers.append(DemoSeller(seller_id, name, currency, rng.choice(countries), rating, stock))
    return sellers


def _make_listing(
    rng: random.Random,
    listing_id: str,
    sellers: list[DemoSeller],
    specs: dict[str, ImageSpec],
    seed: int,
) -> DemoListing:
    roll = rng.random()
    brand = _pick_brand(roll)
    if brand is not None:
        title, category = _branded_title(rng, brand, accessory=rng.random() < 0.08), brand.motif
        low, high = brand.price_eur
        if rng.random() < 0.06:
            low, high = 950, 2600
    else:
        title, category = _generic_title(rng)
        low, high = 10, 120
    seller = rng.choice(sellers)
    currency = seller.currency if rng.random() < 0.85 else rng.choice(CURRENCIES)
    price = _price(rng, rng.uniform(low, high), currency)
    own = [f"{listing_id}-{k}" for k in range(1, rng.randint(2, 3) + 1)]
    images = own[:1]
    if brand is not None and rng.random() < 0.7:
        images.append(f"brand-{brand.name.lower()}")
    images += rng.sample(seller.stock_images, rng.randint(1, 2)) + own[1:]
    for image in own:
        specs[image] = ImageSpec(image, category, seed)
    colour = rng.choice(_COLOURS)
    return DemoListing(
        listing_id=listing_id,
        title=title,
        brand=brand.name if brand is not None else None,
        category=category,
        price=price,
        currency=currency,
        price_text=format_price(price, currency, rng),
        seller=seller,
        images=tuple(images[:5]),
        sponsored=False,
        description=_description(rng, title, brand, category, colour),
        specs=_specs(rng, brand, category, seller, colour),
    )


def _pick_brand(roll: float) -> Brand | None:
    bounds = (0.22, 0.40, 0.54, 0.66)
    for brand, bound in zip(BRANDS, bounds, strict=True):
        if roll < bound:
            return brand
    return None


def _branded_title(rng: random.Random, brand: Brand, accessory: bool) -> str:
    if accessory:
        return _ACCESSORIES[brand.name].format(brand=brand.name)
    product, extra = rng.choice(brand.products), rng.choice(_EXTRAS[brand.motif])
    return rng.choice(_TEMPLATES).format(
        brand=brand.name, BRAND=brand.name.upper(), brand_l=brand.name.lower(),
        product=product, product_l=product.lower(), PRODUCT=product.upper(),
        extra=extra, extra_l=extra.lower(),
    )


def _generic_title(rng: random.Random) -> tuple[str, str]:
    if rng.random() < 0.25:
        name, motif, product = rng.choice(_LOOKALIKES)
        return f"{name} {product} {rng.choice(_EXTRAS[motif])}", motif
    motif, template = rng.choice(_GENERIC)
    return template.format(extra_l=rng.choice(_EXTRAS[motif]).lower()), motif


def _price(rng: random.Random, eur: float, currency: str) -> Decimal:
    amount = eur * _RATES[currency]
    if currency == "JPY":
        return Decimal(int(amount))
    cents = int(amount * 100)
    if rng.random() < 0.5:
        cents = cents - cents % 100 + 99
    return Decimal(cents) / 100


def format_price(amount: Decimal, currency: str, rng: random.Random | None = None) -> str:
    """Print `amount` the way sites in that currency do; `rng` varies the separators."""
    rng = rng or random.Random(0)  # noqa: S311 - formatting variety only
    if currency == "JPY":
        return rng.choice(("￥", "¥")) + f"{int(amount):,}"
    grouped = f"{amount:,.2f}"
    if currency == "EUR":
        separator = rng.choice(("\u00a0", "\u202f"))
        whole, cents = grouped.split(".")
        return f"{whole.replace(',', separator)},{cents}\u00a0€"
    prefix = {"USD": "US $", "GBP": "£", "CNY": "CN¥"}[currency]
    return prefix + grouped


def _description(
    rng: random.Random, title: str, brand: Brand | None, category: str, colour: str
) -> tuple[str, ...]:
    name = brand.name if brand else "our"
    paragraphs = [
        f"{title}. Brand new, never used, in {colour}. Same quality as the shop, "
        "1:1 details, comes with the original packaging and authenticity card.",
        f"We are a professional supplier of {name} style products with many years of "
        "experience. All items are checked before shipping. Please compare the photos with "
        "other sellers: the quality speaks for itself.",
        "Shipping: dispatched within 48 hours by registered air mail, 7-20 working days. "
        "Tracking number provided. Customs duties are the buyer's responsibility.",
        "Returns: accepted within 14 days if the item is unused. Contact us before opening "
        "a dispute, we always find a solution. Positive feedback is appreciated!",
    ]
    if rng.random() < 0.5:
        paragraphs.insert(2, f"Material: {_MATERIALS[category]}. Hardware engraved with logo.")
    return tuple(paragraphs)


def _specs(
    rng: random.Random, brand: Brand | None, category: str, seller: DemoSeller, colour: str
) -> tuple[tuple[str, str], ...]:
    sizes = {"bag": "32 x 24 x 12 cm", "watch": "42 mm", "bottle": "100 ml", "jacket": "S-XXL"}
    return (
        ("Brand", brand.name if brand else "Unbranded"),
        ("Material", _MATERIALS[category]),
        ("Colour", colour),
        ("Size", sizes[category]),
        ("Condition", rng.choice(("New with tags", "New without tags", "New"))),
        ("Ships from", seller.country),
        ("Quantity available", str(rng.randint(1, 250))),
    )


def _mark_sponsored(rng: random.Random, items: list[DemoListing]) -> list[DemoListing]:
    chosen: set[str] = set()
    for brand_name, count in _SPONSORED_PER_BRAND.items():
        pool = [item.listing_id for item in items if item.brand == brand_name]
        chosen.update(rng.sample(pool, min(count, len(pool))))
    return [replace(item, sponsored=item.listing_id in chosen) for item in items]

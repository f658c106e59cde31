"""Ground truth for triage: which demo listings are fakes, and which shops one operator runs.

`label_catalog` takes the generated listings and sellers and, with its own random generator
(so the base catalog, its search results and the default crawl stay exactly as they were),
turns the catalog into a labelled one:

- **genuine** listings (about a fifth of the branded, non-accessory ones) sold by the
  brands' official stores and by grey-market resellers, at or near retail, in several
  currencies (a Tokyo reseller prices in yen), with plain titles and descriptions;
- **counterfeit** listings: the rest of the branded ones, and the look-alike brand names
  (`Lumora`, `Korvane`...); some say so in one of several languages, most do not; about a
  third are moved to **shady operators**, each running three shops that share stock photos
  and a contact (WhatsApp, WeChat, Telegram) printed in the description;
- **accessory** listings (made *for* the brand) and **unbranded** ones are neither.

Titles change only for genuine listings, and keep the brand and the product noun, so every
search finds the same listings as before. Labels live here and in `DemoListing.label` /
`DemoSeller.operator`; no page shows them.
"""

from __future__ import annotations

import random
from dataclasses import replace
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from crawler.demo.images import ImageSpec

if TYPE_CHECKING:
    from crawler.demo.data import Brand, DemoListing, DemoSeller

MSRP_EUR = {"Lumara": 900, "Corvane": 1200, "Velisse": 110, "Nordhaven": 650}
"""The brands' retail floors, in euros (the demo watchlist's `msrp`)."""
LOOKALIKES = {"Lumora": "Lumara", "Korvane": "Corvane", "Velise": "Velisse",
              "Nordhavn": "Nordhaven"}
_RATES = {"EUR": 1, "USD": 1.08, "GBP": 0.84, "JPY": 161.5, "CNY": 7.84}

OFFICIAL = (("Lumara Official Store", "Lumara", "FR", "EUR"),
            ("Corvane Boutique Geneva", "Corvane", "CH", "EUR"),
            ("Velisse Paris", "Velisse", "FR", "EUR"),
            ("Nordhaven Official", "Nordhaven", "NO", "EUR"))
GREY = (("Tokyo Brand Exchange", "JP", "JPY"), ("Milano Luxury Resale", "IT", "EUR"),
        ("NYC Authentic Timepieces", "US", "USD"), ("London Vintage Luxe", "GB", "GBP"))
SHADY = (
    ("op-whatsapp", "WhatsApp +86 138 0013 8000",
     ("LuxBags Outlet", "Lux Bags Store", "BagQueen Wholesale")),
    ("op-wechat", "WeChat: timehub_88",
     ("TimeMaster Deals", "Swiss-Time Bargains", "watchhub2025")),
    ("op-telegram", "Telegram @scent_factory_cn",
     ("Parfum Factory", "ScentOutlet Direct", "Aroma Wholesale")),
)
_FAKE_WORDS = ("AAA+ quality, mirror quality, 1:1 with the original.",
               "Top replica, same materials as the shop.", "高仿 原单 quality, 1:1.",
               "Réplica de primera calidad AAA.", "Реплика люкс качества.",
               "Qualità specchio, replica perfetta.", "Birebir replika, A kalite.",
               "Super copy, grade AAA.", "Inspired by the famous design.")
_PLAIN_FAKE = ("Brand new, never used. Fast shipping from our warehouse.",
               "Great quality at a great price. Buy with confidence.",
               "New season, limited stock. Ships within 48 hours.")
_GENUINE = ("Authentic {brand} {product}, bought from an authorised {brand} boutique. "
            "Comes with the receipt, the serial card and the box.",
            "Pre-owned {brand} {product} in excellent condition, authenticated by our "
            "experts. Certificate and original receipt included.")


def label_catalog(items: list[DemoListing], sellers: list[DemoSeller],
                  specs: dict[str, ImageSpec], brands: tuple[Brand, ...],
                  seed: int) -> tuple[list[DemoListing], list[DemoSeller]]:
    """The listings and sellers with labels, genuine sellers and shady operators added."""
    rng = random.Random(f"truth:{seed}")  # noqa: S311 - reproducible test data
    sellers = [replace(s, operator=s.seller_id, kind="trader") for s in sellers]
    cls = type(sellers[0])
    number = 300
    official: dict[str, DemoSeller] = {}
    grey: list[DemoSeller] = []
    shops: dict[str, list[DemoSeller]] = {}
    for name, brand, country, currency in OFFICIAL:
        official[brand] = _seller(cls, f"S{number}", name, currency, country, "99.8", specs,
                                  seed, "official")
        number += 1
    for name, country, currency in GREY:
        grey.append(_seller(cls, f"S{number}", name, currency, country,
                            f"{rng.randint(975, 995) / 10}", specs, seed, "grey"))
        number += 1
    for operator, _, names in SHADY:
        pool = tuple(f"stock-{operator}-{k}" for k in range(1, 5))
        for image in pool:
            specs[image] = ImageSpec(image, "stock", seed)
        shops[operator] = [replace(_seller(cls, f"S{number + k}", name,
                                           rng.choice(("USD", "CNY", "EUR")), "CN",
                                           f"{rng.randint(880, 975) / 10}", specs, seed,
                                           "shady"), operator=operator, stock_images=pool)
                           for k, name in enumerate(names)]
        number += len(names)
    by_brand = {b.name: b for b in brands}
    by_id = {s.seller_id: s for s in sellers}
    out = [_label(rng, replace(item, seller=by_id[item.seller.seller_id]), by_brand, official,
                  grey, shops) for item in items]
    extra = list(official.values()) + grey + [s for shop in shops.values() for s in shop]
    return out, sellers + extra


def _seller(cls: Any, seller_id: str, name: str, currency: str, country: str, rating: str,
            specs: dict[str, ImageSpec], seed: int, kind: str) -> DemoSeller:
    stock = tuple(f"stock-{seller_id.lower()}-{k}" for k in range(1, 3))
    for image in stock:
        specs[image] = ImageSpec(image, "stock", seed)
    seller: DemoSeller = cls(seller_id, name, currency, country, Decimal(rating), stock,
                             operator=seller_id, kind=kind)
    return seller


def _label(rng: random.Random, item: DemoListing, brands: dict[str, Brand],
           official: dict[str, DemoSeller], grey: list[DemoSeller],
           shops: dict[str, list[DemoSeller]]) -> DemoListing:
    from crawler.demo.data import format_price

    title = item.title
    brand = item.brand
    if brand is None:
        imitated = next((b for b in LOOKALIKES if title.startswith(b)), None)
        if imitated is None:
            return _plain(rng, item, "unbranded")
        return _fake(rng, item, shops, rng.random() < 0.3)
    if " for " in title:
        return _plain(rng, item, "accessory")
    if rng.random() < 0.2:
        product = next(p for p in brands[brand].products if p.casefold() in title.casefold())
        seller = official[brand] if rng.random() < 0.5 else rng.choice(grey)
        currency = seller.currency
        eur = MSRP_EUR[brand] * rng.uniform(0.92, 1.6)
        amount = eur * _RATES[currency]
        price = Decimal(int(amount)) if currency == "JPY" else Decimal(int(amount * 100)) / 100
        own = [n for n in item.images if not n.startswith("stock-")]
        description = (rng.choice(_GENUINE).format(brand=brand, product=product.lower()),
                       "Shipping: insured, signature on delivery. Returns within 30 days.")
        return replace(item, title=f"{brand} {product}", price=price,
                       currency=currency, price_text=format_price(price, currency, rng),
                       seller=seller, images=tuple(own[:3]) + seller.stock_images[:1],
                       description=description, specs=_ships_from(item, seller),
                       label="genuine")
    return _fake(rng, item, shops, rng.random() < 0.35)


def _plain(rng: random.Random, item: DemoListing, label: str) -> DemoListing:
    """An honest listing: its description without the words of fakes."""
    description = (f"{item.title}. {rng.choice(_PLAIN_FAKE)}",
                   *item.description[2:])
    return replace(item, description=description, label=label)


def _fake(rng: random.Random, item: DemoListing, shops: dict[str, list[DemoSeller]],
          shady: bool) -> DemoListing:
    words = rng.choice(_FAKE_WORDS) if rng.random() < 0.45 else rng.choice(_PLAIN_FAKE)
    description = (f"{item.title}. {words}",
                   *item.description[2:])
    changes: dict[str, Any] = {"label": "counterfeit", "description": description}
    if shady:
        operator, contact, _ = SHADY[rng.randrange(len(SHADY))]
        seller = rng.choice(shops[operator])
        own = [n for n in item.images if not n.startswith("stock-")]
        changes.update(seller=seller, images=tuple(own[:2]) + tuple(rng.sample(
            seller.stock_images, 2)), description=(*description, f"Wholesale: {contact}."),
            specs=_ships_from(item, seller))
    return replace(item, **changes)


def _ships_from(item: DemoListing, seller: DemoSeller) -> tuple[tuple[str, str], ...]:
    return tuple((k, seller.country if k == "Ships from" else v)
                 for k, v in item.specs)

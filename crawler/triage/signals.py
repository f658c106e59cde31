"""The named signals a score is made of; each one says how many points and why.

Every function takes the listing's `Features` and the `Weights` and returns the signals that
apply (possibly none). The reasons are plain text made from page data: whoever shows them
escapes them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from crawler.triage.brands import BrandMatch
from crawler.triage.config import Weights
from crawler.triage.rates import Conversion
from crawler.triage.vocabulary import Hit


@dataclass(frozen=True)
class Signal:
    """One reason in a score."""

    name: str
    points: int
    reason: str
    evidence: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "points": self.points, "reason": self.reason,
                "evidence": self.evidence}


@dataclass
class Features:
    """What the scorer knows about one listing capture."""

    brand: str
    title: str = ""
    price: Decimal | None = None
    currency: str | None = None
    msrp: dict[str, Any] | None = None
    """{currency, min, max} of the brand's MSRP, as the watchlist gives it."""
    conversion: Conversion | None = None
    """The price in the MSRP's currency, with the rate used."""
    brand_match: BrandMatch | None = None
    counterfeit_terms: list[Hit] = field(default_factory=list)
    accessory_terms: list[Hit] = field(default_factory=list)
    seller_listings: int = 0
    """Distinct listings of protected brands by the seller in the catalog."""
    seller_marketplaces: list[str] = field(default_factory=list)
    """Marketplaces where a seller with the same normalised name or a shared contact sells."""
    seller_rating: float | None = None
    official_images: list[dict[str, Any]] = field(default_factory=list)
    """Photos matching a brand reference image: {image, reference, distance}."""
    shared_images: list[dict[str, Any]] = field(default_factory=list)
    """Photos other sellers use too: {image, phash, sellers}."""


def price(f: Features, w: Weights) -> list[Signal]:
    if (f.accessory_terms or f.brand_match is None or f.msrp is None or f.price is None
            or not f.msrp.get("min")):
        return []  # an accessory's or an unnamed product's price says nothing of fakes
    if f.conversion is None:
        return [Signal("price_unknown_rate", 0,
                       f"no exchange rate from {f.currency} to {f.msrp['currency']}")]
    floor = Decimal(str(f.msrp["min"]))
    if floor <= 0:
        return []
    ratio = f.conversion.amount / floor
    evidence = {"price": str(f.price), "currency": f.currency,
                "converted": f.conversion.to_json(), "msrp_min": str(floor),
                "msrp_currency": f.msrp["currency"], "ratio": f"{ratio:.3f}"}
    shown = (f"{f.price} {f.currency} is {f.conversion.amount:.2f} {f.msrp['currency']} "
             f"(rate {f.conversion.rate:.6g} of {f.conversion.rate_date})")
    for below, points in w.price_bands:
        if ratio < Decimal(str(below)):
            return [Signal("price_below_msrp", points,
                           f"{shown}: {ratio:.0%} of the {floor} {f.msrp['currency']} floor",
                           evidence)]
    return [Signal("price_at_retail", w.price_at_retail,
                   f"{shown}: at retail ({ratio:.0%} of the floor)", evidence)]


def vocabulary(f: Features, w: Weights) -> list[Signal]:
    if not f.counterfeit_terms:
        return []
    points = min(w.vocabulary_max,
                 w.vocabulary_first + w.vocabulary_more * (len(f.counterfeit_terms) - 1))
    terms = [f"{h.term} ({h.language})" for h in f.counterfeit_terms[:8]]
    return [Signal("counterfeit_vocabulary", points, "words of fakes: " + ", ".join(terms),
                   {"terms": [{"term": h.term, "language": h.language}
                              for h in f.counterfeit_terms]})]


def brand_variant(f: Features, w: Weights) -> list[Signal]:
    m = f.brand_match
    if m is None:
        return [Signal("brand_absent", w.brand_absent, f"the brand {f.brand} is not named")]
    points = {"homoglyph": w.brand_homoglyph, "spaced": w.brand_spaced,
              "misspelled": w.brand_misspelled}.get(m.kind)
    if points is None:
        return []
    return [Signal(f"brand_{m.kind}", points,
                   f"the brand {f.brand} written as {m.found!r} ({m.kind})",
                   {"found": m.found, "kind": m.kind, "distance": m.distance})]


def accessory(f: Features, w: Weights) -> list[Signal]:
    if not f.accessory_terms:
        return []
    terms = ", ".join(h.term for h in f.accessory_terms[:5])
    return [Signal("accessory", w.accessory, f"an accessory or compatible product: {terms}",
                   {"terms": [h.term for h in f.accessory_terms]})]


def seller(f: Features, w: Weights) -> list[Signal]:
    out = []
    if f.seller_listings >= w.seller_many_listings_at:
        out.append(Signal("seller_many_listings", w.seller_many_listings,
                          f"the seller has {f.seller_listings} listings of protected brands",
                          {"listings": f.seller_listings}))
    if len(f.seller_marketplaces) >= 2:
        out.append(Signal("seller_marketplaces", w.seller_marketplaces,
                          "the seller sells on " + ", ".join(f.seller_marketplaces),
                          {"marketplaces": f.seller_marketplaces}))
    if f.seller_rating is not None and f.seller_rating < w.seller_low_rating_below:
        out.append(Signal("seller_low_rating", w.seller_low_rating,
                          f"seller rated {f.seller_rating:g}% positive",
                          {"rating": f.seller_rating}))
    return out


def images(f: Features, w: Weights) -> list[Signal]:
    out = []
    if f.official_images:
        names = ", ".join(sorted({str(i["reference"]) for i in f.official_images}))
        out.append(Signal("image_official", w.image_official,
                          f"an official brand photo reused ({names})",
                          {"images": f.official_images}))
    shared = [i for i in f.shared_images if len(i["sellers"]) >= w.image_shared_sellers]
    if shared:
        most = max(len(i["sellers"]) for i in shared)
        out.append(Signal("image_shared", w.image_shared,
                          f"a photo also used by {most} other sellers", {"images": shared}))
    return out


SIGNALS = (price, vocabulary, brand_variant, accessory, seller, images)
"""Every signal function, in the order reasons are listed."""

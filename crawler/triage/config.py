"""Triage settings and score weights, parsed once into typed dataclasses.

Settings: `TRIAGE_ENABLED` (default True), `TRIAGE_THRESHOLD` (default 50: a listing at or
above it is `suspicious`), `TRIAGE_WEIGHTS` (a YAML file overriding any weight below by name),
`TRIAGE_VOCABULARY_DIR` (a folder of extra vocabulary YAML files). The environment variables
`MARKWATCH_TRIAGE_WEIGHTS` and `MARKWATCH_TRIAGE_VOCABULARY` serve the CLI the same way.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from crawler.exceptions import ConfigError

SCORER_VERSION = "1"


@dataclass(frozen=True)
class Weights:
    """Points each signal adds to (or takes from) the 0-100 score. Defaults: docs/triage.md."""

    price_bands: tuple[tuple[float, int], ...] = ((0.10, 55), (0.30, 50), (0.60, 30), (0.90, 10))
    """(ratio below, points): the price in the MSRP's currency over the MSRP floor."""
    price_at_retail: int = -20
    """Price at or above 90 % of the floor: genuine goods are rarely discounted further."""
    vocabulary_first: int = 25
    vocabulary_more: int = 8
    vocabulary_max: int = 40
    brand_homoglyph: int = 35
    brand_spaced: int = 25
    brand_misspelled: int = 25
    brand_absent: int = -10
    accessory: int = -45
    seller_many_listings: int = 8
    seller_many_listings_at: int = 6
    """Listings of protected brands by one seller before `seller_many_listings` applies."""
    seller_marketplaces: int = 10
    seller_low_rating: int = 8
    seller_low_rating_below: float = 90.0
    """Positive-feedback percentage below which a seller counts as low-rated."""
    image_official: int = 25
    image_shared: int = 15
    image_shared_sellers: int = 2
    """Other sellers using the same photo before `image_shared` applies."""
    image_hamming: int = 12
    """Largest Hamming distance (of 256 bits) between two photos' hashes counted as the same."""

    def digest(self) -> str:
        data = json.dumps(dataclasses.asdict(self), sort_keys=True).encode()
        return hashlib.sha256(data).hexdigest()[:12]


@dataclass(frozen=True)
class TriageConfig:
    """Triage's settings, typed."""

    enabled: bool = True
    threshold: int = 50
    weights: Weights = field(default_factory=Weights)
    vocabulary_dir: str | None = None

    @property
    def version(self) -> str:
        """The scorer version named in score records: code version and weights digest."""
        return f"{SCORER_VERSION}-{self.weights.digest()}"

    @classmethod
    def from_settings(cls, settings: Any) -> TriageConfig:
        threshold = settings.getint(
            "TRIAGE_THRESHOLD", int(os.environ.get("MARKWATCH_TRIAGE_THRESHOLD", "50")))
        if not 0 <= threshold <= 100:
            raise ConfigError(f"TRIAGE_THRESHOLD: expected 0 to 100, got {threshold}")
        weights_path = settings.get("TRIAGE_WEIGHTS") or os.environ.get(
            "MARKWATCH_TRIAGE_WEIGHTS")
        vocab = settings.get("TRIAGE_VOCABULARY_DIR") or os.environ.get(
            "MARKWATCH_TRIAGE_VOCABULARY")
        return cls(settings.getbool("TRIAGE_ENABLED", True), threshold,
                   load_weights(weights_path) if weights_path else Weights(), vocab or None)

    @classmethod
    def from_env(cls) -> TriageConfig:
        weights_path = os.environ.get("MARKWATCH_TRIAGE_WEIGHTS")
        threshold = int(os.environ.get("MARKWATCH_TRIAGE_THRESHOLD", "50"))
        return cls(True, threshold, load_weights(weights_path) if weights_path else Weights(),
                   os.environ.get("MARKWATCH_TRIAGE_VOCABULARY") or None)


def load_weights(path: str | Path) -> Weights:
    """Weights from a YAML mapping of weight name to number; unknown names are refused."""
    try:
        data = yaml.safe_load(Path(path).read_text("utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: cannot read the triage weights ({exc})") from exc
    return weights_from(data or {}, str(path))


def weights_from(data: Any, source: str = "weights") -> Weights:
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: expected a mapping of weight name to number")
    names = {f.name: f for f in dataclasses.fields(Weights)}
    values: dict[str, Any] = {}
    for name, value in data.items():
        if name not in names:
            raise ConfigError(f"{source}: unknown weight {name!r}; known: {', '.join(names)}")
        if name == "price_bands":
            try:
                values[name] = tuple((float(a), int(b)) for a, b in value)
            except (TypeError, ValueError) as exc:
                raise ConfigError(f"{source}: price_bands: expected [[ratio, points], ...]"
                                  ) from exc
        elif isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"{source}: {name}: expected a number")
        else:
            values[name] = type(getattr(Weights(), name))(value)
    return Weights(**values)

"""The score of a listing capture: named signals added up and held to 0-100."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from crawler.triage.config import TriageConfig
from crawler.triage.signals import SIGNALS, Features, Signal

SCHEMA = "markwatch/triage-score/1"


@dataclass(frozen=True)
class Score:
    """A capture's score and the signals it is made of."""

    score: int
    suspicious: bool
    signals: tuple[Signal, ...]

    def top_reasons(self, n: int = 3) -> list[str]:
        """The reasons with the largest effect, strongest first."""
        ranked = sorted(self.signals, key=lambda s: -abs(s.points))
        return [f"{s.points:+d} {s.reason}" for s in ranked[:n] if s.points]


def compute(features: Features, config: TriageConfig) -> Score:
    """Score one listing: the sum of its signals' points, held to 0-100."""
    signals = tuple(s for fn in SIGNALS for s in fn(features, config.weights))
    total = max(0, min(100, sum(s.points for s in signals)))
    return Score(total, total >= config.threshold, signals)


def record(capture: dict[str, Any], score: Score, features: Features, config: TriageConfig,
           computed_at: str, score_id: str) -> dict[str, Any]:
    """The score as a store record naming the capture and the scorer version."""
    return {
        "schema": SCHEMA,
        "score_id": score_id,
        "capture_id": capture["capture_id"],
        "manifest_sha256": capture.get("manifest_sha256"),
        "listing": {"marketplace": capture.get("marketplace"),
                    "listing_id": capture.get("listing_id"),
                    "brand": features.brand, "seller_name": capture.get("seller_name")},
        "scorer": {"version": config.version, "threshold": config.threshold},
        "computed_at": computed_at,
        "score": score.score,
        "suspicious": score.suspicious,
        "signals": [s.to_json() for s in score.signals],
    }

"""`make triage-eval`: how well triage ranks the demo catalog's labelled listings.

Offline and without a browser: every listing of a generated demo catalog is rendered by the
demo marketplace's own page code, parsed by the demo's real page object and stored through the
real evidence pipeline into a temporary store and catalog, which scores it. Then every listing
is scored again (`rescore`), so seller and photo signals see the whole catalog, as they do
after a few crawls. The truth (`crawler.demo.truth`) is read only here.

Printed per seed: ROC AUC, precision of the 50 highest scores, precision and recall at the
default threshold, and seller-cluster purity and completeness against the true operators.
Weights were tuned on seed 7 only; seed 11 is held out and is the figure to report.

    python bench/triage_eval.py [--seeds 7,11] [--listings 360]
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from crawler.clock import FrozenClock
from crawler.demo.data import BRANDS, build_catalog
from crawler.demo.pages import item_page
from crawler.demo.truth import LOOKALIKES, MSRP_EUR
from crawler.evidence.manifest import WatchRef
from crawler.triage import clusters as clusters_mod
from crawler.triage.config import TriageConfig
from crawler.triage.engine import Triage
from crawler.triage.features import BrandInfo
from crawler.triage.images import phash
from crawler.triage.offline import offline_pipeline, store_page
from spiders.pages.demo import DemoListingPage
from storage.catalog import Catalog
from storage.local import LocalStore

BASE = "http://demo.test"
DEBUG = False


def ranked_debug(truth: dict[str, str], scores: dict[str, int]) -> list[str]:
    """Mistakes worth reading: negatives scored high and fakes scored low."""
    neg = sorted((c for c in truth if truth[c] != "counterfeit"), key=lambda c: -scores[c])
    pos = sorted((c for c in truth if truth[c] == "counterfeit"), key=lambda c: scores[c])
    return neg[:6] + pos[:6]
_BY_MOTIF = {b.motif: b.name for b in BRANDS}


def watched_brand(item) -> str:  # type: ignore[no-untyped-def]
    """The brand whose search would find the listing (a look-alike's: the brand imitated; an
    unbranded one's: the brand of its kind of product, as a broad search finds it)."""
    if item.brand:
        return str(item.brand)
    for fake, real in LOOKALIKES.items():
        if item.title.startswith(fake):
            return real
    return _BY_MOTIF[item.category]


def evaluate(seed: int, listings: int, config: TriageConfig) -> dict[str, float]:
    catalog = build_catalog(listings, seed)
    shm = "/dev/shm" if Path("/dev/shm").is_dir() else None  # the store fsyncs every write
    with tempfile.TemporaryDirectory(prefix="triage-eval-", dir=shm) as tmp:
        store = LocalStore(Path(tmp) / "store")
        index = Catalog(Path(tmp) / "catalog.db")
        refs = {b.name: phash(catalog.images[f"brand-{b.name.lower()}"]) for b in BRANDS}
        brands = [BrandInfo(b.name, {"currency": "EUR", "min": str(MSRP_EUR[b.name]),
                                     "max": None},
                            ((f"{b.name.lower()}.png", refs[b.name] or ""),)) for b in BRANDS]
        clock = FrozenClock(dt.datetime(2026, 12, 4, 8, tzinfo=dt.UTC), step=0.5)
        triage = Triage(store, index, brands, config, clock=clock)
        pipeline = offline_pipeline(store, index, triage, clock)
        truth: dict[str, str] = {}
        started = time.perf_counter()
        for item in catalog.listings:
            html = item_page(item, BASE, consented=True).encode()
            images = {BASE + url: catalog.images[url[5:-4]] for url in item.image_urls}
            brand = watched_brand(item)
            cid = store_page(pipeline, DemoListingPage, html, BASE + item.url, images,
                             WatchRef(brand, brand.lower(), "demo", "EVAL"), clock.now())
            truth[cid] = item.label
        triage.rescore()
        elapsed = time.perf_counter() - started
        scores = {r["capture_id"]: r["score"] for r in index.query(
            "SELECT capture_id, score FROM triage_scores")}
        found = clusters_mod.clusters(index, [r for r in refs.values() if r])
        operators = {s.name: s.operator for s in catalog.sellers}
        sellers_with_listings = {i.seller.name for i in catalog.listings}
        by_label: dict[str, list[int]] = {}
        for c, label in truth.items():
            by_label.setdefault(label, []).append(scores[c])
        if DEBUG:
            for label, values in sorted(by_label.items()):
                print(label, sorted(values))
            for c in ranked_debug(truth, scores):
                print(truth[c], scores[c], index.query(
                    "SELECT signals FROM triage_scores WHERE capture_id = ?", (c,))[0])
        index.close()
    positives = [scores[c] for c, label in truth.items() if label == "counterfeit"]
    negatives = [scores[c] for c, label in truth.items() if label != "counterfeit"]
    ranked = sorted(truth, key=lambda c: -scores[c])
    top = ranked[:50]
    flagged = [c for c in truth if scores[c] >= config.threshold]
    hits = sum(truth[c] == "counterfeit" for c in flagged)
    purity, completeness = cluster_figures(found, operators, sellers_with_listings)
    return {
        "listings": len(truth), "counterfeit": len(positives), "auc": auc(positives, negatives),
        "p_at_50": sum(truth[c] == "counterfeit" for c in top) / len(top),
        "precision": hits / len(flagged) if flagged else 0.0,
        "recall": hits / len(positives) if positives else 0.0,
        "clusters": len(found), "purity": purity, "completeness": completeness,
        "seconds": elapsed,
    }


def auc(pos: list[int], neg: list[int]) -> float:
    """ROC AUC as the Mann-Whitney statistic (ties count half)."""
    wins = sum((p > n) + 0.5 * (p == n) for p in pos for n in neg)
    return wins / (len(pos) * len(neg)) if pos and neg else 0.0


def cluster_figures(found: list, operators: dict[str, str],
                    sellers: set[str]) -> tuple[float, float]:
    """Purity (each predicted cluster's share of its main operator) and completeness (each
    operator's share in its main predicted cluster), over every seller with listings;
    sellers in no cluster count as clusters of one."""
    predicted: dict[str, int] = {}
    for n, cluster in enumerate(found):
        for _, name in cluster.sellers:
            predicted[name] = n
    for name in sorted(sellers):
        predicted.setdefault(name, len(found) + len(predicted))
    pairs = Counter((predicted[s], operators[s]) for s in sellers)
    by_cluster: dict[int, int] = {}
    by_operator: dict[str, int] = {}
    for (cluster, operator), count in pairs.items():
        by_cluster[cluster] = max(by_cluster.get(cluster, 0), count)
        by_operator[operator] = max(by_operator.get(operator, 0), count)
    total = len(sellers)
    return sum(by_cluster.values()) / total, sum(by_operator.values()) / total


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="7,11", help="catalog seeds (first: tuning)")
    parser.add_argument("--listings", type=int, default=360)
    parser.add_argument("--debug", action="store_true", help="print scores and mistakes")
    args = parser.parse_args(argv)
    global DEBUG
    DEBUG = args.debug
    config = TriageConfig()
    print(f"triage eval: scorer {config.version}, threshold {config.threshold}, "
          f"{args.listings} listings per catalog")
    header = (f"{'seed':>6} {'role':9} {'listings':>8} {'fakes':>6} {'AUC':>6} {'P@50':>6} "
              f"{'prec@thr':>8} {'recall@thr':>10} {'clusters':>8} {'purity':>7} "
              f"{'complete':>8} {'secs':>6}")
    print(header)
    for n, seed in enumerate(int(s) for s in args.seeds.split(",")):
        r = evaluate(seed, args.listings, config)
        role = "tuning" if n == 0 else "held-out"
        print(f"{seed:>6} {role:9} {r['listings']:>8} {r['counterfeit']:>6} {r['auc']:>6.3f} "
              f"{r['p_at_50']:>6.2f} {r['precision']:>8.2f} {r['recall']:>10.2f} "
              f"{r['clusters']:>8} {r['purity']:>7.2f} {r['completeness']:>8.2f} "
              f"{r['seconds']:>6.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""`markwatch demo`: the bundled marketplace on 127.0.0.1, crawled, stored and verified."""

from __future__ import annotations

import json
import shlex
import subprocess
from contextlib import ExitStack
from dataclasses import replace
from importlib import resources
from pathlib import Path
from urllib.parse import urlsplit

import click

from crawler.cli.options import resolve_catalog, resolve_store
from crawler.cli.verify import print_verdicts
from crawler.demo.tsa import DEMO_TSA_NAME, DemoTSA
from crawler.evidence.verify import Verifier
from crawler.runs.runner import EXIT_FAILURES, CrawlOptions, run_crawl
from storage.catalog import Catalog
from storage.uri import open_store


def where_flags(store: str | None, catalog: str | None) -> str:
    """The `--store`/`--catalog` flags (shell-quoted) a printed command needs to reach the
    store the demo wrote, empty for the defaults."""
    return "".join(f" --{name} {shlex.quote(value)}"
                   for name, value in (("store", store), ("catalog", catalog)) if value)


def _portal_hint(where: str) -> None:
    """How to open the evidence portal on this store, with a first admin made safely."""
    click.echo("")
    click.echo("Open the evidence portal (a browser, on 127.0.0.1 only):")
    click.echo(f"  markwatch users add admin --role admin --generate{where}"
               "   # prints a one-time password once")
    click.echo(f"  markwatch serve{where}"
               "   # then http://127.0.0.1:8470/ and sign in as admin")
    click.echo("  (see docs/portal.md: roles, case grants, API tokens)")


def demo_watchlist() -> Path:
    """The sample watchlist shipped with the package."""
    return Path(str(resources.files("crawler.demo") / "watchlist.yaml"))


def run_demo(store: str | None, catalog: str | None, max_listings: int | None,
             report_json: Path | None, log_level: str) -> int:
    """Start the demo marketplace, crawl it, verify the run; returns the exit code."""
    from crawler.cli.main import _print_summary
    from crawler.demo.server import DemoMarketplace

    store_uri = resolve_store(store)
    catalog_uri = resolve_catalog(catalog, store_uri)
    watchlist = demo_watchlist()
    settings: dict[str, object] = {"DEMO_BASE_URL": "", "LOG_LEVEL": log_level.upper()}
    with DemoMarketplace() as market, ExitStack() as stack:
        click.echo(f"demo marketplace serving on {market.base_url}")
        settings["DEMO_BASE_URL"] = market.base_url
        # the one address the egress policy lets through
        settings["EGRESS_ALLOW"] = [urlsplit(market.base_url).netloc]
        tsa = _start_demo_tsa(stack)
        if tsa is not None:
            settings["SEAL_TSAS"] = json.dumps([{"url": tsa.url, "ca": str(tsa.ca_pem),
                                                "name": DEMO_TSA_NAME, "attempts": 2}])
        options = CrawlOptions(watchlist, store_uri, catalog_uri, max_listings=max_listings,
                               settings=settings)
        report = run_crawl(options)
    if report_json:
        report_json.write_text(json.dumps(report.to_json(), indent=2) + "\n", encoding="utf-8")
    _print_summary(report)
    with Catalog(catalog_uri) as cat:
        from crawler.cli.seal import project_seal_config
        from crawler.cli.verify_seals import seal_checker

        target = open_store(store_uri)
        config = project_seal_config()
        if tsa is not None:  # the demo's own check trusts its own demo CA, and says so
            config = replace(config, trusted_cas=(*config.trusted_cas, tsa.ca_pem))
        verifier = Verifier(target, cat, seal_checker(target, config))
        ids = [c["capture_id"] for c in cat.find_run(report.run_id)]
        verdicts = [verifier.verify(cid) for cid in ids]
    print_verdicts(verdicts, "text")
    click.echo("")
    where = where_flags(store, catalog)
    click.echo("Look at the evidence:")
    click.echo(f"  markwatch evidence list --brand Lumara{where}")
    if ids:
        click.echo(f"  markwatch evidence show {ids[-1]}{where}")
    click.echo(f"  markwatch verify --all{where}")
    _portal_hint(where)
    if ids:
        fingerprint = ", ".join(config.pinned_keys()) or "(none)"
        click.echo("")
        click.echo("Export one and check it as a recipient would (three verdicts):")
        trust = f"MARKWATCH_SEAL_TRUSTED_CAS={tsa.ca_pem} " if tsa is not None else ""
        click.echo(f"  {trust}markwatch evidence export {ids[-1]} -o demo-bundle.zip{where}")
        click.echo("  unzip -o demo-bundle.zip demo-bundle/verify.py   # travels in the bundle")
        click.echo("  python3 demo-bundle/verify.py demo-bundle.zip "
                   f"--trust-key {fingerprint.split(',')[0]}"
                   + (f" --trust-tsa-ca {tsa.ca_pem}" if tsa is not None else ""))
        if tsa is not None:
            click.echo(f"  ({DEMO_TSA_NAME}: its CA {tsa.ca_pem} is for this demo only)")
    if not all(v.ok for v in verdicts):
        return EXIT_FAILURES
    return report.exit_code


def _start_demo_tsa(stack: ExitStack) -> DemoTSA | None:
    """The demo's own TSA on 127.0.0.1, or None (said why: the run's time is not attested)."""
    try:
        tsa = stack.enter_context(DemoTSA())
    except (OSError, subprocess.SubprocessError) as exc:
        click.echo(f"demo TSA not started ({exc}): the run's time will not be attested",
                   err=True)
        return None
    click.echo(f"{DEMO_TSA_NAME} serving on {tsa.url} (its CA: {tsa.ca_pem})")
    return tsa

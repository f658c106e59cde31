"""`markwatch verify`: re-hash and re-check captures, naming every failure."""

from __future__ import annotations

import json
from collections.abc import Sequence

import click

from crawler.cli.options import resolve_catalog, resolve_store
from crawler.verify import Verdict, Verifier
from storage.catalog import Catalog
from storage.uri import open_store, sqlite_path


def run_verify(capture_ids: Sequence[str], verify_all: bool, store: str | None,
               catalog: str | None, fmt: str) -> int:
    """Verify and print; the exit code is 0 only if every capture verifies."""
    store_uri = resolve_store(store)
    catalog_path = sqlite_path(resolve_catalog(catalog, store_uri))
    cat = Catalog(catalog_path) if catalog_path.exists() else None
    try:
        verifier = Verifier(open_store(store_uri), cat)
        ids = list(verifier.all_capture_ids()) if verify_all else list(capture_ids)
        verdicts = [verifier.verify(cid) for cid in ids]
    finally:
        if cat is not None:
            cat.close()
    print_verdicts(verdicts, fmt)
    return 0 if verdicts and all(v.ok for v in verdicts) else 1


def print_verdicts(verdicts: list[Verdict], fmt: str) -> None:
    if fmt == "json":
        click.echo(json.dumps([v.to_json() for v in verdicts], indent=2))
        return
    failed = [v for v in verdicts if not v.ok]
    for v in failed:
        for problem in v.problems:
            click.echo(f"FAIL {v.capture_id}: {problem}")
    if not verdicts:
        click.echo("nothing to verify")
        return
    click.echo(f"{len(verdicts) - len(failed)} of {len(verdicts)} captures verified"
               + (f"; {len(failed)} FAILED" if failed else ""))

"""`markwatch verify`: re-hash and re-check captures (or bundles), naming every failure."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import click

from crawler.cli.options import resolve_catalog, resolve_store
from crawler.evidence.verify import Verdict, Verifier
from crawler.seal.standalone_verify import capture_digest
from storage.catalog import Catalog
from storage.db import catalog_exists
from storage.uri import open_store


def run_verify(capture_ids: Sequence[str], verify_all: bool, store: str | None,
               catalog: str | None, fmt: str,
               anchors: tuple[Sequence[str], Sequence[Path], bool] = ((), (), False)) -> int:
    """Verify and print; the exit code is 0 only if every capture verifies."""
    from crawler.cli.seal import project_seal_config
    from crawler.cli.verify_seals import (
        custody_events,
        is_bundle,
        log_verified,
        seal_checker,
        verify_bundles,
    )

    keys, cas, integrity_only = anchors
    config = project_seal_config()
    config = replace(config, trusted_keys=(*config.trusted_keys, *keys),
                     trusted_cas=(*config.trusted_cas, *cas))
    bundles = [c for c in capture_ids if is_bundle(c)]
    if bundles:
        if verify_all or len(bundles) != len(capture_ids):
            raise click.UsageError("give either capture ids (or --all) or bundles, not both")
        return verify_bundles(bundles, config, integrity_only=integrity_only)
    store_uri = resolve_store(store)
    catalog_uri = resolve_catalog(catalog, store_uri)
    cat = Catalog(catalog_uri) if catalog_exists(catalog_uri) else None
    target = open_store(store_uri)
    try:
        verifier = Verifier(target, cat, seal_checker(target, config))
        ids = list(verifier.all_capture_ids()) if verify_all else list(capture_ids)
        verdicts = [verifier.verify(cid) for cid in ids]
        custody_problems, events = custody_events(target)
        for v in verdicts:
            named = events.get(v.capture_id, []) + events.get(capture_digest(v.capture_id), [])
            v.proven.extend(f"custody: {e}" for e in named)
        log_verified(target, config, verdicts, custody_problems)
    finally:
        if cat is not None:
            cat.close()
        target.close()
    print_verdicts(verdicts, fmt, details=True, custody_problems=custody_problems)
    ok = verdicts and all(v.ok for v in verdicts) and not custody_problems
    return 0 if ok else 1


def print_verdicts(verdicts: list[Verdict], fmt: str, details: bool = False,
                   custody_problems: list[str] | None = None) -> None:
    if fmt == "json":
        out = [v.to_json() for v in verdicts]
        if custody_problems:
            out.append({"capture_id": None, "custody_log": True, "ok": False,
                        "problems": custody_problems, "proven": [], "notes": []})
        click.echo(json.dumps(out, indent=2))
        return
    failed = [v for v in verdicts if not v.ok]
    if details:
        for v in verdicts:
            if v.ok:
                click.echo(f"OK   {v.capture_id}")
                for line in v.proven:
                    click.echo(f"       {line}")
                for line in v.notes:
                    click.echo(f"       note: {line}")
    for v in failed:
        for problem in v.problems:
            click.echo(f"FAIL {v.capture_id}: {problem}")
    for problem in custody_problems or []:
        click.echo(f"FAIL custody log: {problem}")
    if details and custody_problems == []:
        click.echo("custody log: hash chain intact")
    if not verdicts:
        click.echo("nothing to verify")
        return
    click.echo(f"{len(verdicts) - len(failed)} of {len(verdicts)} captures verified"
               + (f"; {len(failed)} FAILED" if failed else ""))

"""The sealing side of `markwatch verify`: seal checks, the custody log, and bundles."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click

from crawler.clock import SystemClock
from crawler.evidence.verify import Verdict
from crawler.exceptions import ConfigError, SealError, StoreError
from crawler.seal import custody
from crawler.seal.check import SealChecker
from crawler.seal.config import SealConfig
from storage.base import Store


def is_bundle(arg: str) -> bool:
    """Whether a `verify` argument names an export bundle (zip or folder), not a capture id."""
    return arg.lower().endswith(".zip") or Path(arg).exists()


def seal_checker(store: Store, config: SealConfig) -> SealChecker:
    try:
        return SealChecker(store, config)
    except SealError as exc:
        raise ConfigError(str(exc)) from exc


def custody_events(store: Store) -> tuple[list[str], dict[str, list[str]]]:
    """Problems of the store's custody log, and each capture's events as text."""
    try:
        problems = custody.verify_log(store)
        log = custody.read_log(store)
    except ValueError as exc:
        return [f"unreadable ({exc})"], {}
    problems += custody.verify_against_heads(log, _seal_heads(store))
    events: dict[str, list[str]] = {}
    for entry in log:
        for cid in (*entry.capture_ids, *(entry.details.get("capture_digests") or ())):
            events.setdefault(cid, []).append(f"{entry.time} {entry.event} by {entry.actor}")
    return problems, events


def _seal_heads(store: Store) -> list[tuple[str, dict[str, Any]]]:
    """The custody heads every run seal in the store recorded (newest entries detectable)."""
    heads = []
    for key in store.list_documents("seals/"):
        if key.startswith("seals/pending/"):
            continue
        try:
            head = json.loads(store.read_document(key)).get("custody")
        except (ValueError, KeyError, AttributeError):
            continue  # the capture's seal verdict names a broken seal
        if isinstance(head, dict):
            heads.append((key, head))
    return heads


def log_verified(store: Store, config: SealConfig, verdicts: Sequence[Verdict],
                 custody_problems: list[str]) -> None:
    """Append a `verified` custody event (best effort: a read-only store only warns)."""
    if not verdicts:
        return
    failed = sorted(v.capture_id for v in verdicts if not v.ok)
    try:
        custody.append(store, "verified", clock=SystemClock(), actor=config.actor,
                       capture_ids=[v.capture_id for v in verdicts], ids_by_digest=True,
                       details={"verified": len(verdicts) - len(failed), "failed": len(failed),
                                "custody_log_ok": not custody_problems})
    except (SealError, StoreError, ValueError) as exc:
        click.echo(f"warning: could not record the verification in the custody log: {exc}",
                   err=True)


def verify_bundles(paths: Sequence[str], config: SealConfig, integrity_only: bool = False
                   ) -> int:
    """Run the bundled verifier (the same code as each bundle's verify.py) on each bundle.

    Anchors are the operator's own: SEAL_TRUSTED_KEYS and the own key, SEAL_TRUSTED_CAS (or
    the CAs of SEAL_TSAS); nothing inside a bundle is trusted.
    """
    from crawler.seal import standalone_verify

    args: list[str] = []
    for ca in config.trusted_ca_paths():
        args += ["--trust-tsa-ca", str(ca)]
    for key in config.pinned_keys():
        args += ["--trust-key", key]
    if integrity_only:
        args.append("--integrity-only")
    worst = 0
    for path in paths:
        click.echo(f"bundle {path}")
        worst = max(worst, standalone_verify.main([path, *args]))
    return worst

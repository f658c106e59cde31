"""The chain-of-custody log: append-only, hash-chained events on the evidence.

Each entry is canonical JSON (RFC 8785) stored write-once as `custody/<seq:012d>.json`, and
names the SHA-256 of the previous entry's bytes in `prev` (null for the first). Changing,
removing or reordering an entry breaks the chain, and `verify_log` says where. Appending
races are settled by the store's write-once rule: the loser re-reads the head and retries.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import rfc8785

from crawler.clock import Clock, isoformat
from crawler.exceptions import ArtifactConflict, SealError
from crawler.seal import standalone_verify as sv
from storage.base import Store
from storage.layout import CUSTODY, custody_key

__all__ = [
    "EVENTS",
    "CustodyEntry",
    "append",
    "entries_for",
    "head",
    "read_log",
    "to_jsonl",
    "tree_path",
    "tree_root",
    "verify_against_heads",
    "verify_entries",
    "verify_log",
]

MEDIA_TYPE = "application/json"
EVENTS = sv.CUSTODY_EVENTS  # one list, in the module verify.py carries
MAX_ATTEMPTS = 20
MAX_ACTOR = 200


@dataclass(frozen=True)
class CustodyEntry:
    """One event in the log, with the exact bytes it is stored as."""

    seq: int
    time: str
    event: str
    actor: str
    run_id: str | None
    capture_ids: tuple[str, ...]
    details: Mapping[str, Any]
    prev: str | None
    raw: bytes = field(repr=False)
    """The stored canonical JSON."""

    @property
    def sha256(self) -> str:
        """SHA-256 hex of the stored bytes: the next entry's `prev`."""
        return hashlib.sha256(self.raw).hexdigest()

    @classmethod
    def parse(cls, raw: bytes) -> CustodyEntry:
        """Read an entry's bytes; ValueError if they are not an entry."""
        try:
            doc = json.loads(raw)
            return cls(
                seq=int(doc["seq"]),
                time=str(doc["time"]),
                event=str(doc["event"]),
                actor=str(doc["actor"]),
                run_id=doc.get("run_id"),
                capture_ids=tuple(doc.get("capture_ids") or ()),
                details=dict(doc.get("details") or {}),
                prev=doc.get("prev"),
                raw=raw,
            )
        except (KeyError, TypeError, AttributeError, UnicodeDecodeError) as exc:
            raise ValueError(f"not a custody entry: {exc!r}") from exc


def _check_actor(actor: str) -> str:
    actor = actor.strip()
    if not actor or len(actor) > MAX_ACTOR or not actor.isprintable():
        raise ValueError("actor must be a short printable operator label")
    if "://" in actor and "@" in actor:
        raise ValueError("actor looks like a URL with credentials; use a plain label")
    return actor


def _last(store: Store) -> CustodyEntry | None:
    keys = list(store.list_documents(CUSTODY))
    if not keys:
        return None
    try:
        return CustodyEntry.parse(store.read_document(max(keys)))
    except ValueError as exc:
        raise SealError(f"custody log: head entry {max(keys)} is unreadable ({exc})") from exc


def append(
    store: Store,
    event: str,
    *,
    clock: Clock,
    actor: str,
    run_id: str | None = None,
    capture_ids: Iterable[str] = (),
    details: Mapping[str, Any] | None = None,
    ids_by_digest: bool = False,
) -> CustodyEntry:
    """Append one event; retried (bounded) when another writer took the next sequence number.

    `actor` is an operator label (`ops@case-team`, `scheduler`), never a secret. With
    `ids_by_digest` (events about a whole run) the captures are named only by
    `standalone_verify.capture_digest` in `details.capture_digests`, so a bundle that must
    disclose the entry whole does not disclose the ids of captures it does not carry.
    """
    if event not in EVENTS:
        raise ValueError(f"unknown custody event {event!r}; one of {sorted(EVENTS)}")
    actor = _check_actor(actor)
    ids = sorted(set(capture_ids))
    details = dict(details or {})
    if ids_by_digest:
        details["capture_digests"] = sorted(sv.capture_digest(cid) for cid in ids)
        ids = []
    for _ in range(MAX_ATTEMPTS):
        last = _last(store)
        seq = 0 if last is None else last.seq + 1
        body: dict[str, Any] = {
            "seq": seq,
            "time": isoformat(clock.now()),
            "event": event,
            "actor": actor,
            "run_id": run_id,
            "capture_ids": ids,
            "details": dict(details or {}),
            "prev": None if last is None else last.sha256,
        }
        raw = rfc8785.dumps(body)
        try:
            stored = store.put_document(custody_key(seq), raw, MEDIA_TYPE)
        except ArtifactConflict:
            continue
        if stored.created:
            return CustodyEntry.parse(raw)
        # identical bytes were already there: someone else logged the same event; ours is next
    raise SealError(f"custody log: could not append after {MAX_ATTEMPTS} attempts (contention)")


def read_log(store: Store) -> list[CustodyEntry]:
    """Every entry in sequence order; entries that do not parse raise ValueError."""
    return [CustodyEntry.parse(store.read_document(key)) for key in store.list_documents(CUSTODY)]


def verify_entries(entries: Sequence[tuple[str, bytes]]) -> list[str]:
    """Problems in a log given as (name, bytes) pairs in order; empty if the chain holds.

    The check is `standalone_verify.check_custody_chain`, the code bundles carry.
    """
    return sv.check_custody_chain(entries)


def tree_root(log: Sequence[CustodyEntry]) -> str:
    """Hex Merkle root (RFC 9162) over the SHA-256 of each entry's bytes, in order."""
    return sv.merkle_root([sv.custody_leaf(entry.raw) for entry in log]).hex()


def tree_path(log: Sequence[CustodyEntry], seq: int) -> list[str]:
    """The audit path of entry `seq` in the custody tree over `log`."""
    hashes = [sv.leaf_hash(sv.custody_leaf(entry.raw)) for entry in log]
    return [node.hex() for node in sv.audit_path(seq, hashes)]


def head(store: Store) -> dict[str, Any] | None:
    """What a run seal records of the log: size, Merkle root, last seq and its SHA-256.

    A later check finds entries dropped from the end (`verify_against_heads`): the log must
    still hold `size` entries whose tree has this root.
    """
    log = read_log(store)
    if not log:
        return None
    return {"size": len(log), "root": tree_root(log), "head_seq": log[-1].seq,
            "head_sha256": log[-1].sha256}


def verify_against_heads(log: Sequence[CustodyEntry],
                         heads: Iterable[tuple[str, Mapping[str, Any]]]) -> list[str]:
    """Problems of `log` against the custody heads seals recorded: (seal name, head) pairs."""
    problems = []
    for name, recorded in heads:
        size = recorded.get("size")
        if not isinstance(size, int) or size < 1:
            problems.append(f"{name}: malformed custody head")
        elif len(log) < size:
            problems.append(
                f"{name} covers {size} custody entries, the log holds {len(log)}: "
                "the newest entries were removed (log truncated)")
        elif tree_root(log[:size]) != recorded.get("root"):
            problems.append(
                f"{name}: the first {size} custody entries are not the ones it sealed "
                "(changed, removed or reordered)")
    return problems


def verify_log(store: Store) -> list[str]:
    """Problems in the store's custody log (changed, removed, reordered entries); [] if sound.

    Removing the newest entries leaves a shorter, still consistent chain: compare the head
    (`read_log(store)[-1].sha256`) with one recorded elsewhere, e.g. in an export or a seal.
    """
    keys = list(store.list_documents(CUSTODY))
    problems = [f"{key}: unexpected key name" for key in keys if key != custody_key(_seq_of(key))]
    return problems + verify_entries([(key, store.read_document(key)) for key in keys])


def _seq_of(key: str) -> int:
    stem = key.removeprefix(CUSTODY).removesuffix(".json")
    return int(stem) if stem.isdigit() else -1


def entries_for(log: Iterable[CustodyEntry], capture_ids: Collection[str]) -> list[CustodyEntry]:
    """The entries naming any of `capture_ids`, in log order."""
    wanted = set(capture_ids) | {sv.capture_digest(cid) for cid in capture_ids}
    return [entry for entry in log if wanted.intersection(
        (*entry.capture_ids, *(entry.details.get("capture_digests") or ())))]


def to_jsonl(log: Iterable[CustodyEntry]) -> bytes:
    """The log as `custody.jsonl` for an export bundle: each entry's exact bytes, one a line."""
    return b"".join(entry.raw + b"\n" for entry in log)

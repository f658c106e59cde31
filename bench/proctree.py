"""Sampling a process tree: proportional memory (PSS) and CPU seconds of a command and all its
descendants (the browser included), read from /proc."""

from __future__ import annotations

import json
import os
import subprocess
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

_TICK = os.sysconf("SC_CLK_TCK")


def _children(pid: int) -> list[int]:
    out: list[int] = []
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            text = Path(f"/proc/{pid}/task/{task}/children").read_text()
            out.extend(int(c) for c in text.split())
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        pass
    return out


def tree(pid: int) -> list[int]:
    """The pid and every live descendant."""
    seen, todo = [], [pid]
    while todo:
        current = todo.pop()
        seen.append(current)
        todo.extend(_children(current))
    return seen


def pss_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1])
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        pass
    return 0


def kind_of(pid: int) -> str:
    """What a process of the tree is: `python`, `driver` (Playwright's node), `chromium-<type>`
    (renderer, gpu-process, utility, zygote; `chromium-browser` for the main process) or its
    command's name."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return "gone"
    # Chromium's children rewrite their command line as one space-separated string
    argv = raw.replace(b"\0", b" ").split()
    name = Path(argv[0].decode("utf-8", "replace")).name if argv else "?"
    if "chrom" in name or "headless_shell" in name or name == "exe":
        for arg in argv[1:]:
            if arg.startswith(b"--type="):
                return "chromium-" + arg[7:].decode("ascii", "replace")
        return "chromium-browser"
    if name == "node":
        return "driver"
    if name.startswith("python") or name in ("markwatch", "scrapy"):
        return "python"
    return name


def cpu_seconds(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / _TICK
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return 0.0


@dataclass
class TreeStats:
    """What sampling a command's process tree found."""

    wall_s: float = 0.0
    cpu_s: float = 0.0
    peak_pss_mib: float = 0.0
    samples: list[tuple[float, float, int]] = field(default_factory=list)
    """(seconds since start, PSS MiB, progress counter) per sample."""
    returncode: int = 0
    cpu_by_kind: dict[str, float] = field(default_factory=dict)
    """CPU seconds by kind of process (`kind_of`), summed over the run."""
    pss_by_group: list[dict[str, float]] = field(default_factory=list)
    """PSS MiB by `group_of` kind (python, driver, chromium), one dict per sample (`samples`'
    order), kept when `run_sampled(..., by_group=True)`."""


def group_of(kind: str) -> str:
    """`python`, `driver` or `chromium` (every Chromium process), or `other`."""
    if kind.startswith("chromium"):
        return "chromium"
    return kind if kind in ("python", "driver") else "other"


def run_sampled(cmd: Sequence[str], *, env: dict[str, str] | None = None, cwd: str | None = None,
                interval: float = 0.25, progress: Callable[[], int] | None = None,
                timeout: float = 7200, log: str | None = None, by_group: bool = False,
                trace: str | None = None) -> TreeStats:
    """Run a command to the end while sampling its tree's PSS and CPU; with `by_group`, PSS by
    process group per sample too; with `trace`, every sample appended to that file as a JSON
    line as it is taken (to follow a long run)."""
    stats = TreeStats()
    cpu_by_pid: dict[int, float] = {}
    kind_by_pid: dict[int, str] = {}
    out = open(log, "w") if log else subprocess.DEVNULL  # noqa: SIM115
    start = time.monotonic()
    proc = subprocess.Popen(list(cmd), env=env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT)
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            pids = tree(proc.pid)
            by_pid = {p: pss_kib(p) for p in pids}
            pss = sum(by_pid.values()) / 1024
            for p in pids:
                cpu_by_pid[p] = max(cpu_by_pid.get(p, 0.0), cpu_seconds(p))
                kind = kind_of(p)  # read again: a child is its parent until it execs
                if kind not in ("gone", "?"):
                    kind_by_pid[p] = kind
            count = progress() if progress else 0
            stats.samples.append((time.monotonic() - start, pss, count))
            if by_group:
                groups: dict[str, float] = {}
                for p, kib in by_pid.items():
                    g = group_of(kind_by_pid.get(p, "gone"))
                    groups[g] = groups.get(g, 0.0) + kib / 1024
                stats.pss_by_group.append(groups)
                if trace:
                    with open(trace, "a", encoding="utf-8") as fh:
                        fh.write(json.dumps({"t": round(stats.samples[-1][0], 1),
                                             "captures": count, "pss": round(pss, 1),
                                             **{k: round(v, 1) for k, v in groups.items()}})
                                 + "\n")
            stats.peak_pss_mib = max(stats.peak_pss_mib, pss)
            stop.wait(interval)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    try:
        stats.returncode = proc.wait(timeout=timeout)
    finally:
        stop.set()
        thread.join()
        if log:
            out.close()  # type: ignore[union-attr]
    stats.wall_s = time.monotonic() - start
    children = os.times()
    stats.cpu_s = max(sum(cpu_by_pid.values()), 0.0)
    for p, cpu in cpu_by_pid.items():
        kind = kind_by_pid.get(p, "gone")
        stats.cpu_by_kind[kind] = stats.cpu_by_kind.get(kind, 0.0) + cpu
    del children
    return stats

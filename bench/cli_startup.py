"""How long a `markwatch` command takes to start and answer, against the interpreter's floor.

Runs each command below on one store and SQLite catalog (by default a fresh `markwatch demo`
crawl of three listings per term, sealed: the commands read and verify real captures; `--store`
and `--catalog` name another), `--runs` times each, in fresh
processes of this checkout's console script (and of `--against` checkouts' own, alternating),
and prints the median wall-clock seconds and CPU seconds (the child's, every thread), with the
ratio to the floor measured in the same run: the same Python starting and importing click,
what any click command pays before its own code. Usage:

    python bench/cli_startup.py [--runs 5] [--against /path/to/other/checkout ...]
                                [--store URI --catalog URI]

`git worktree add /tmp/mw-old <commit>` and its own venv give an earlier version to compare.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

COMMANDS: tuple[tuple[str, ...], ...] = (
    ("evidence", "list"),
    ("verify", "--all"),
    ("runs", "list"),
    ("triage", "list"),
    ("takedown", "status"),
    ("alerts", "list"),
)
"""Reading commands a legal team, a scheduler or a script calls, each on the same store."""


def timed(argv: list[str], cwd: Path, env: dict[str, str]) -> tuple[float, float, int]:
    """Wall seconds, CPU seconds (user + system of the child) and exit code of one run."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, check=False)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, done.returncode


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5, help="runs of each command (median)")
    parser.add_argument("--against", type=Path, action="append", default=[],
                        help="another checkout with its own .venv (repeatable)")
    parser.add_argument("--store", help="an existing store to read (default: a demo crawl)")
    parser.add_argument("--catalog", help="its catalog")
    args = parser.parse_args()
    trees = {"this": ROOT, **{str(t): t.resolve() for t in args.against}}
    env = {k: v for k, v in os.environ.items()  # the browser the caller chose stays
           if k != "PYTHONPATH" and (k == "MARKWATCH_CHROMIUM" or not k.startswith("MARKWATCH_"))}
    env["MARKWATCH_PROGRESS"] = "off"
    print(f"load average {os.getloadavg()[0]:.2f} at the start", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        where = Path(tmp)
        store = args.store or f"file://{where}/store"
        catalog = args.catalog or f"sqlite:///{where}/catalog.db"
        uris = ["--store", store, "--catalog", catalog]
        if not args.store:
            seeded = subprocess.run([str(ROOT / ".venv" / "bin" / "markwatch"), "demo",
                                     "--max-listings", "3", *uris], cwd=where, env=env,
                                    capture_output=True, text=True, check=False)
            if seeded.returncode != 0:
                raise SystemExit(f"markwatch demo failed:\n{seeded.stderr[-3000:]}")
            print(next((line for line in seeded.stdout.splitlines() if "captures" in line),
                       seeded.stdout.strip()), flush=True)
        rows: dict[tuple[str, str], list[tuple[float, float]]] = {}
        for r in range(args.runs):
            order = list(trees.items()) if r % 2 == 0 else list(reversed(trees.items()))
            for name, tree in order:
                python = str(tree / ".venv" / "bin" / "python")
                wall, cpu, _ = timed([python, "-c", "import click"], where, env)
                rows.setdefault((name, "floor: python -c 'import click'"), []).append((wall, cpu))
                for command in COMMANDS:
                    argv = [str(tree / ".venv" / "bin" / "markwatch"), *command, *uris]
                    wall, cpu, code = timed(argv, where, env)
                    if code != 0:
                        raise SystemExit(f"{name}: markwatch {' '.join(command)} exited {code}")
                    rows.setdefault((name, "markwatch " + " ".join(command)), []).append(
                        (wall, cpu))
    print(f"load average {os.getloadavg()[0]:.2f} at the end")
    print(f"\n{'checkout':10s} {'command':36s} {'wall s':>7s} {'CPU s':>7s} {'/ floor':>8s}")
    for name in trees:
        floor = statistics.median(w for w, _ in rows[(name, "floor: python -c 'import click'")])
        for (tree, label), samples in rows.items():
            if tree != name:
                continue
            wall = statistics.median(w for w, _ in samples)
            cpu = statistics.median(c for _, c in samples)
            print(f"{name[-10:]:10s} {label:36s} {wall:7.3f} {cpu:7.3f} {wall / floor:8.2f}")


if __name__ == "__main__":
    main()

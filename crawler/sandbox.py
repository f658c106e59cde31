"""Chromium's sandbox: on whenever markwatch is not root, and said so when it cannot be.

Pages are hostile; the renderer sandbox is what stands between a renderer exploit and the
crawler's files, keys and credentials. Chromium refuses to start its sandbox as root, so as
root (and only then, or when `EVIDENCE_BROWSER_SANDBOX = "off"` says so, for containers
without user namespaces) the browser runs with `--no-sandbox`; that is logged when the crawl
starts and recorded in every capture's provenance (manifest `browser.sandbox`, WARC
`warcinfo` `browser-sandbox`). Run crawls as an unprivileged user (docs/security.md).
"""

from __future__ import annotations

import logging
import os
from typing import Any

from crawler.exceptions import ConfigError

logger = logging.getLogger(__name__)
NO_SANDBOX = "--no-sandbox"
_logged = False


def sandbox_wanted(setting: str | None = "auto", euid: int | None = None) -> tuple[bool, str]:
    """(sandbox on?, why) for `EVIDENCE_BROWSER_SANDBOX` (auto, on, off) and the user."""
    value = (setting or "auto").strip().lower()
    root = (os.geteuid() if euid is None else euid) == 0
    if value not in ("auto", "on", "off"):
        raise ConfigError(f"EVIDENCE_BROWSER_SANDBOX must be auto, on or off, not {setting!r}")
    if value == "off":
        return False, "off (EVIDENCE_BROWSER_SANDBOX = off)"
    if value == "on" or not root:
        return True, "on"
    return False, "off (running as root)"


def launch_options(options: dict[str, Any], setting: str | None = "auto",
                   euid: int | None = None) -> dict[str, Any]:
    """Playwright launch options with the sandbox on or off as `sandbox_wanted` says."""
    on, _why = sandbox_wanted(setting, euid)
    out = dict(options)
    args = [a for a in out.get("args", []) if a != NO_SANDBOX]
    if not on:
        args.append(NO_SANDBOX)
    out["args"] = args
    out["chromium_sandbox"] = on  # else Playwright adds --no-sandbox itself
    return out


def browser_sandbox(settings: Any) -> str:
    """The sandbox state for provenance: `on`, or `off (reason)`. Read from the command line
    of the browser process this process started (/proc) when it can be found, else from
    the launch options."""
    observed = observed_sandbox()
    options = settings.getdict("PLAYWRIGHT_LAUNCH_OPTIONS")
    on = bool(options.get("chromium_sandbox")) and NO_SANDBOX not in options.get("args", [])
    if observed is not None:
        on = observed
    if on:
        return "on"
    _on, why = sandbox_wanted(settings.get("EVIDENCE_BROWSER_SANDBOX"))
    return why if not _on else "off (launch options)"


_observed: bool | None = None


def observed_sandbox(root: str = "/proc") -> bool | None:
    """Whether the Chromium browser process started under this process runs sandboxed (no
    `--no-sandbox` on its command line); None when no such process is found."""
    global _observed
    if _observed is not None:
        return _observed
    parents: dict[int, int] = {}
    try:
        entries = [e.name for e in os.scandir(root) if e.name.isdigit()]
    except OSError:
        return None
    for name in entries:
        try:
            with open(f"{root}/{name}/stat", encoding="ascii", errors="replace") as stat:
                parents[int(name)] = int(stat.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
    me = os.getpid()
    for pid in parents:
        ancestor, steps = parents.get(pid), 0
        while ancestor not in (None, 0, 1, me) and steps < 64:
            ancestor, steps = parents.get(ancestor), steps + 1
        if ancestor != me:
            continue
        try:
            with open(f"{root}/{pid}/cmdline", "rb") as cmdline:
                args = [a.decode("utf-8", "replace") for a in cmdline.read().split(b"\0") if a]
        except OSError:
            continue
        if (args and "chrom" in os.path.basename(args[0]).lower()
                and not any(a.startswith("--type=") for a in args)):
            _observed = NO_SANDBOX not in args
            return _observed
    return None


def log_sandbox(settings: Any) -> None:
    """Say once per process, at the start of a crawl, when the browser runs unsandboxed."""
    global _logged
    if _logged:
        return
    _logged = True
    state = browser_sandbox(settings)
    if state == "on":
        logger.info("browser sandbox: on")
    else:
        logger.warning("browser sandbox: %s; hostile pages run without Chromium's sandbox. "
                       "Run markwatch as an unprivileged user (docs/security.md)", state)

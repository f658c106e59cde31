"""Byte-exact recording of a capture's HTTP exchanges through a proxy on 127.0.0.1.

`proxy` relays and records, `ca` mints the certificates that let it read HTTPS, `exchanges`
holds what was recorded (bytes hashed as they arrive), `warc_exact` writes a capture's WARC from
it byte for byte, and `handle` ties a recording to a capture. WACZ packaging for replay is
`crawler.export.wacz`. The design and its trade-offs: docs/fidelity.md.

The names below are imported when first used, so that what only reads stored WARCs
(`markwatch verify`, exports) does not load Playwright and the proxy.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from crawler.recording.handle import RECORDING_META, CaptureRecording, release_page
    from crawler.recording.proxy import CaptureSession, RecordingProxy

_HOMES = {"RECORDING_META": "handle", "CaptureRecording": "handle", "release_page": "handle",
          "CaptureSession": "proxy", "RecordingProxy": "proxy"}

__all__ = ["RECORDING_META", "CaptureRecording", "CaptureSession", "RecordingProxy",
           "release_page"]


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{home}"), name)

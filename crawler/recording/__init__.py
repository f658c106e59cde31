"""Byte-exact recording of a capture's HTTP exchanges through a proxy on 127.0.0.1.

`proxy` relays and records, `ca` mints the certificates that let it read HTTPS, `exchanges`
holds what was recorded (bytes hashed as they arrive), `warc_exact` writes a capture's WARC from
it byte for byte, and `handle` ties a recording to a capture. WACZ packaging for replay is
`crawler.export.wacz`. The design and its trade-offs: docs/fidelity.md.
"""

from __future__ import annotations

from crawler.recording.handle import RECORDING_META, CaptureRecording, release_page
from crawler.recording.proxy import CaptureSession, RecordingProxy

__all__ = ["RECORDING_META", "CaptureRecording", "CaptureSession", "RecordingProxy",
           "release_page"]

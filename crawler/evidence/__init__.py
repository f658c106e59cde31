"""The evidence model: what a capture is made of, its WARC, its manifest, and checking them.

`manifest` holds the capture records and builds the manifest, `warc_decoded` writes the WARC of
a capture made without the recording proxy, `warc_artifact` makes the `page.warc.gz` artifact,
and `verify` re-checks stored captures against their manifests and run records.
"""

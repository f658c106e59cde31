"""Triage: scores, image hashes, seller clusters and the review queue over stored captures.

Everything here is derived from the evidence and stored as its own write-once records naming
the capture (see `crawler.triage.records`); the catalog only indexes them.
"""

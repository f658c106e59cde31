"""The takedown lifecycle: re-checks, changes, proven removals, listing status, notices, figures.

- `targets`: known listings to re-capture directly (no search), and URLs captured on demand;
- `observe`: after a run, each capture of a known listing compared with the one before
  (`changes`), removals proven by a capture, reappearances and probable relistings;
- `status`: found -> reported -> removed / reappeared / rejected, write-once store records;
- `records`: the store records and their catalog index (rebuilt from the store);
- `queries`: every read the CLI, the portal and alerts make;
- `notices`: notice packages per marketplace from editable templates;
- `stats`: figures per case and marketplace.
"""

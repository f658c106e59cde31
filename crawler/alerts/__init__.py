"""Alerts: tell the team when something happens, by signed webhook and by e-mail.

- `events`: the event types (one enum) and the event record;
- `config`: the watchlist's `alerts:` section (channels, rules);
- `derive`: the events of a finished run, from its report, captures and the catalog;
- `payload`: what a webhook receives and what an e-mail says (plain text and escaped HTML);
- `signing`: the HMAC-SHA256 signature of webhook deliveries (and its check, for receivers);
- `webhook`, `mail`: one delivery attempt each, bounded in time, retried with tenacity;
- `outbox`: the local durable outbox (pending, sending, delivered) that makes each event go
  out once per channel across crashes and restarts;
- `records`: alert history as write-once store records, indexed in the catalog;
- `dispatch`: record, enqueue and deliver (the sending intent, outcomes, crash recovery);
- `run`: the alerts step after `markwatch crawl`; `cli`: `markwatch alerts`.
"""

from __future__ import annotations

"""The Redis side of a distributed run: request queues, leases, claims and politeness.

Keys (prefix `markwatch:`): `runs` (set of open run ids); per run `run:<id>:meta` (JSON of what
the run is), `run:<id>:q:<mp>` (list of JSON requests), `run:<id>:inflight:<mp>` (sorted set:
lease id -> expiry), `run:<id>:leases:<mp>` (hash: lease id -> request), `run:<id>:seen:<mp>`
(the shared dupefilter: listing URLs ever queued), `run:<id>:done:<mp>` (claims: listing URLs
captured), `run:<id>:failures:<mp>` and `run:<id>:counts:<mp>` (for the run record),
`run:<id>:unindexed:<mp>` (manifest keys of captures stored while the catalog was down).
Politeness is per marketplace across runs: `polite:<mp>:holders` (sorted set: lease id ->
expiry), `polite:<mp>:next` (time of the next allowed request), `polite:<mp>:delay` (the shared
block backoff delay), `polite:<mp>:waiters` (workers waiting for a slot). A request is taken
only with a free slot of its marketplace, so an idle worker gets it, not one that would wait.

Times come from Redis (`TIME`), never from the workers' clocks. A popped request is leased; the
lease is renewed while its worker lives and returns the request to the queue when it expires.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import redis

from crawler.frontier.uri import check_uri

PREFIX = "markwatch:"

_TAKE = """
-- KEYS: queue, inflight, leases, done (claims), holders, next, shared delay, waiters
-- ARGV: lease id, lease seconds, concurrency, base delay, worker id, slots the worker holds
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
if redis.call('LLEN', KEYS[1]) == 0 then return {0, ''} end
redis.call('ZREMRANGEBYSCORE', KEYS[5], '-inf', now)
redis.call('ZREMRANGEBYSCORE', KEYS[8], '-inf', now)
if tonumber(ARGV[6]) > 0 then
  -- fairness: a worker that holds a slot lets a worker that waits for one go first
  local others = redis.call('ZCARD', KEYS[8])
  if redis.call('ZSCORE', KEYS[8], ARGV[5]) then others = others - 1 end
  if others > 0 then return {1, '0.1'} end
end
if redis.call('ZCARD', KEYS[5]) >= tonumber(ARGV[3]) then
  redis.call('ZADD', KEYS[8], now + 1.5, ARGV[5])
  return {1, '0.2'}
end
local nxt = tonumber(redis.call('GET', KEYS[6]) or '0')
if now < nxt then
  redis.call('ZADD', KEYS[8], now + 1.5, ARGV[5])
  return {1, tostring(nxt - now)}
end
while true do
  local item = redis.call('RPOP', KEYS[1])
  if not item then return {0, ''} end
  local claim = cjson.decode(item)['claim']
  if not claim or redis.call('SISMEMBER', KEYS[4], claim) == 0 then
    redis.call('ZREM', KEYS[8], ARGV[5])
    local delay = math.max(tonumber(ARGV[4]), tonumber(redis.call('GET', KEYS[7]) or '0'))
    redis.call('ZADD', KEYS[5], now + tonumber(ARGV[2]), ARGV[1])
    redis.call('SET', KEYS[6], tostring(now + delay))
    redis.call('ZADD', KEYS[2], now + tonumber(ARGV[2]), ARGV[1])
    redis.call('HSET', KEYS[3], ARGV[1], item)
    return {2, item}
  end
end
"""
_REAP = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local expired = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now)
for _, id in ipairs(expired) do
  local item = redis.call('HGET', KEYS[2], id)
  if item then
    local data = cjson.decode(item)
    data['attempt'] = (data['attempt'] or 0) + 1
    redis.call('RPUSH', KEYS[3], cjson.encode(data))
  end
  redis.call('ZREM', KEYS[1], id)
  redis.call('HDEL', KEYS[2], id)
end
return #expired
"""
_RENEW = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local n = 0
for i, id in ipairs(ARGV) do
  if i > 1 then
    n = n + redis.call('ZADD', KEYS[1], 'XX', 'CH', now + tonumber(ARGV[1]), id)
    redis.call('ZADD', KEYS[2], 'XX', now + tonumber(ARGV[1]), id)
  end
end
return n
"""
def connect(uri: str) -> redis.Redis:
    """A client for a frontier URI (checked; errors never show the password)."""
    return redis.Redis.from_url(check_uri(uri), socket_timeout=30, socket_connect_timeout=10,
                                health_check_interval=30)


class Frontier:
    """One run's frontier in Redis."""

    def __init__(self, client: redis.Redis, run_id: str, lease_seconds: float = 60.0) -> None:
        self.r = client
        self.run_id = run_id
        self.lease_seconds = lease_seconds
        self._take = client.register_script(_TAKE)
        self._reap = client.register_script(_REAP)
        self._renew = client.register_script(_RENEW)

    def key(self, *parts: str) -> str:
        return PREFIX + ":".join(("run", self.run_id, *parts))

    # -- the run --------------------------------------------------------------------------

    def create(self, meta: dict[str, Any]) -> None:
        """Describe the run and open it for workers (they find it in `markwatch:runs`)."""
        self.r.set(self.key("meta"), json.dumps(meta, sort_keys=True))
        self.r.sadd(PREFIX + "runs", self.run_id)

    def meta(self) -> dict[str, Any]:
        raw = self.r.get(self.key("meta"))
        if raw is None:
            raise KeyError(f"no run {self.run_id} in the frontier")
        return dict(json.loads(raw))

    def mark_seeded(self) -> None:
        self.r.set(self.key("seeded"), "1")

    def close_run(self) -> None:
        """No more work for workers: taken out of the open runs."""
        self.r.srem(PREFIX + "runs", self.run_id)
        self.r.set(self.key("closed"), "1")

    def closed(self) -> bool:
        return bool(self.r.exists(self.key("closed")))

    def claim_finalize(self) -> bool:
        """True for the one caller allowed to write the run's records and seals."""
        return bool(self.r.set(self.key("finalizing"), "1", nx=True))

    def marketplaces(self) -> list[str]:
        return list(self.meta().get("marketplaces", []))

    # -- requests -------------------------------------------------------------------------

    def push(self, marketplace: str, payload: dict[str, Any], front: bool = False,
             dedupe: bool = True) -> bool:
        """Queue a request; with `dedupe`, a listing already queued in this run (its `claim`,
        in the shared dupefilter) is not."""
        claim = payload.get("claim")
        if claim:
            added = self.r.sadd(self.key("seen", marketplace), claim)
            if dedupe and not added:
                return False
        data = json.dumps(payload, sort_keys=True)
        if front:
            self.r.rpush(self.key("q", marketplace), data)
        else:
            self.r.lpush(self.key("q", marketplace), data)
        return True

    def take(self, marketplace: str, concurrency: int = 1_000_000, delay: float = 0.0,
             worker: str = "", holding: int = 0) -> tuple[str, dict[str, Any]] | float | None:
        """The next request under a new lease and one of the marketplace's request slots
        (politeness across workers: `concurrency` at once, `delay` or the shared block backoff
        apart); seconds to wait when no slot is free; None when nothing is queued. A `worker`
        `holding` slots already gives way to another worker waiting for one (fairness)."""
        lease = uuid.uuid4().hex
        polite = PREFIX + f"polite:{marketplace}:"
        status, value = self._take(
            keys=[self.key("q", marketplace), self.key("inflight", marketplace),
                  self.key("leases", marketplace), self.key("done", marketplace),
                  polite + "holders", polite + "next", polite + "delay", polite + "waiters"],
            args=[lease, self.lease_seconds, max(1, concurrency), max(0.0, delay),
                  worker or lease, holding])
        if int(status) == 0:
            return None
        if int(status) == 1:
            return max(float(value), 0.01)
        return lease, dict(json.loads(value))

    def pop(self, marketplace: str) -> tuple[str, dict[str, Any]] | None:
        """The next request under a new lease, whatever the marketplace's politeness."""
        taken = self.take(marketplace)
        return taken if isinstance(taken, tuple) else None

    def ack(self, marketplace: str, lease: str, claim: str | None = None) -> None:
        """The leased request is done (its capture stored); a listing's claim is kept."""
        pipe = self.r.pipeline()
        pipe.zrem(self.key("inflight", marketplace), lease)
        pipe.hdel(self.key("leases", marketplace), lease)
        pipe.zrem(PREFIX + f"polite:{marketplace}:holders", lease)
        if claim:
            pipe.sadd(self.key("done", marketplace), claim)
        pipe.execute()

    def renew(self, marketplace: str, leases: list[str]) -> int:
        if not leases:
            return 0
        return int(self._renew(keys=[self.key("inflight", marketplace),
                                     PREFIX + f"polite:{marketplace}:holders"],
                               args=[self.lease_seconds, *leases]))

    def reap(self, marketplace: str) -> int:
        """Return the requests of expired leases to the queue; how many."""
        return int(self._reap(keys=[self.key("inflight", marketplace),
                                    self.key("leases", marketplace),
                                    self.key("q", marketplace)]))

    def depth(self, marketplace: str) -> tuple[int, int]:
        """(queued, in flight) for one marketplace."""
        pipe = self.r.pipeline()
        pipe.llen(self.key("q", marketplace))
        pipe.zcard(self.key("inflight", marketplace))
        queued, inflight = pipe.execute()
        return int(queued), int(inflight)

    def is_drained(self) -> bool:
        """Seeded, and nothing queued or in flight for any marketplace."""
        if not self.r.exists(self.key("seeded")):
            return False
        return all(self.depth(mp) == (0, 0) for mp in self.marketplaces())

    # -- what the run record needs ---------------------------------------------------------

    def add_failure(self, marketplace: str, failure: dict[str, Any]) -> None:
        self.r.rpush(self.key("failures", marketplace), json.dumps(failure, sort_keys=True))

    def failures(self, marketplace: str) -> list[dict[str, Any]]:
        return [json.loads(x) for x in self.r.lrange(self.key("failures", marketplace), 0, -1)]

    def add_unindexed(self, marketplace: str, manifest_key: str) -> None:
        """A capture stored while the catalog was down: finalize indexes it from the store."""
        self.r.rpush(self.key("unindexed", marketplace), manifest_key)

    def unindexed(self, marketplace: str) -> list[str]:
        return [k.decode() if isinstance(k, bytes) else str(k)
                for k in self.r.lrange(self.key("unindexed", marketplace), 0, -1)]

    def add_counts(self, marketplace: str, counts: dict[str, int]) -> None:
        pipe = self.r.pipeline()
        for name, value in counts.items():
            if value:
                pipe.hincrby(self.key("counts", marketplace), name, int(value))
        pipe.execute()

    def counts(self, marketplace: str) -> dict[str, int]:
        raw = self.r.hgetall(self.key("counts", marketplace))
        return {k.decode() if isinstance(k, bytes) else str(k): int(v) for k, v in raw.items()}

    # -- politeness across workers ----------------------------------------------------------

    def set_backoff(self, marketplace: str, delay: float) -> None:
        """The marketplace's block backoff delay, for every worker."""
        self.r.set(PREFIX + f"polite:{marketplace}:delay", repr(float(delay)), ex=3600)

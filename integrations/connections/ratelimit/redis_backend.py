"""The Redis backend: the same rules in Lua, one script per decision (atomic across processes
and machines, timed by Redis's clock)."""

from __future__ import annotations

from typing import Any

import redis

from integrations.connections.ratelimit.limits import (
    CONCURRENT_POLL,
    KEY_PREFIX,
    Backend,
    Lease,
    LimiterUnavailable,
    Refusal,
    Remaining,
    SalesforcePause,
    XeroLimits,
)

# Times in integer milliseconds from Redis's TIME. Keep in step with _XeroState.admit.
_ACQUIRE_LUA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local token = ARGV[1]
local per_minute = tonumber(ARGV[2])
local concurrent = tonumber(ARGV[3])
local per_day = tonumber(ARGV[4])
local floor = tonumber(ARGV[5])
local lease_ms = tonumber(ARGV[6])
local minute_ms = tonumber(ARGV[7])
local day_ms = tonumber(ARGV[8])
local bucket_ms = tonumber(ARGV[9])
local poll_ms = tonumber(ARGV[10])

local blocked = redis.call('HMGET', KEYS[4], 'until', 'problem')
if blocked[1] and tonumber(blocked[1]) > now then
  return {'blocked', tonumber(blocked[1]) - now, blocked[2] or ''}
end

local fields = redis.call('HGETALL', KEYS[2])
local live = {}
local used = 0
for i = 1, #fields, 2 do
  local ends = (tonumber(fields[i]) + 1) * bucket_ms + day_ms
  if ends <= now then
    redis.call('HDEL', KEYS[2], fields[i])
  else
    local n = tonumber(fields[i + 1])
    used = used + n
    live[#live + 1] = {ends, n}
  end
end
local own_day = per_day - used
local reported_day = tonumber(redis.call('GET', KEYS[6]) or '')
local day_left = own_day
if reported_day and reported_day < day_left then day_left = reported_day end
if day_left <= floor then
  local wait = 0
  if own_day <= floor then
    table.sort(live, function(a, b) return a[1] < b[1] end)
    local need = floor - own_day + 1
    wait = day_ms
    for _, entry in ipairs(live) do
      need = need - entry[2]
      if need <= 0 then
        wait = entry[1] - now
        break
      end
    end
  end
  if reported_day and reported_day <= floor then
    local ttl = redis.call('PTTL', KEYS[6])
    if ttl > wait then wait = ttl end
  end
  if day_left <= 0 then return {'day', wait, ''} end
  return {'day-reserve', wait, ''}
end

redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - minute_ms)
local own_minute = per_minute - redis.call('ZCARD', KEYS[1])
local reported_minute = tonumber(redis.call('GET', KEYS[5]) or '')
if own_minute <= 0 or (reported_minute and reported_minute <= 0) then
  local wait = 0
  if own_minute <= 0 then
    -- The (1 - own_minute)-th oldest call must leave the window first. %d: never "-0".
    local index = string.format('%d', 0 - own_minute)
    local oldest = redis.call('ZRANGE', KEYS[1], index, index, 'WITHSCORES')
    if oldest[2] then wait = tonumber(oldest[2]) + minute_ms - now else wait = minute_ms end
  end
  if reported_minute and reported_minute <= 0 then
    local ttl = redis.call('PTTL', KEYS[5])
    if ttl > wait then wait = ttl end
  end
  return {'minute', wait, ''}
end

redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now)
if redis.call('ZCARD', KEYS[3]) >= concurrent then
  local soonest = redis.call('ZRANGE', KEYS[3], 0, 0, 'WITHSCORES')
  local wait = poll_ms
  if soonest[2] and tonumber(soonest[2]) - now < wait then wait = tonumber(soonest[2]) - now end
  return {'concurrent', wait, ''}
end

redis.call('ZADD', KEYS[1], now, token)
redis.call('PEXPIRE', KEYS[1], minute_ms + 1000)
redis.call('HINCRBY', KEYS[2], string.format('%d', math.floor(now / bucket_ms)), 1)
redis.call('PEXPIRE', KEYS[2], day_ms + bucket_ms + 1000)
if reported_minute then redis.call('DECR', KEYS[5]) end
if reported_day then redis.call('DECR', KEYS[6]) end
redis.call('ZADD', KEYS[3], now + lease_ms, token)
if redis.call('PTTL', KEYS[3]) < lease_ms + 1000 then
  redis.call('PEXPIRE', KEYS[3], lease_ms + 1000)
end
return {'ok', now, ''}
"""

_BLOCK_LUA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ms = tonumber(ARGV[1])
local current = tonumber(redis.call('HGET', KEYS[1], 'until') or '0')
if now + ms > current then
  redis.call('HSET', KEYS[1], 'until', now + ms, 'problem', ARGV[2])
  redis.call('PEXPIRE', KEYS[1], ms)
end
return 1
"""

# KEYS: minute, day, reported minute, reported day. ARGV '' = Xero did not say.
_REPORT_LUA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local per_minute = tonumber(ARGV[3])
local per_day = tonumber(ARGV[4])
local minute_ms = tonumber(ARGV[5])
local day_ms = tonumber(ARGV[6])
local bucket_ms = tonumber(ARGV[7])
local day_ttl_ms = tonumber(ARGV[8])
if ARGV[1] ~= '' then
  local own = per_minute - redis.call('ZCOUNT', KEYS[1], '(' .. (now - minute_ms), '+inf')
  if tonumber(ARGV[1]) < own then
    redis.call('SET', KEYS[3], ARGV[1], 'PX', minute_ms)
  else
    redis.call('DEL', KEYS[3])
  end
end
if ARGV[2] ~= '' then
  local fields = redis.call('HGETALL', KEYS[2])
  local used = 0
  for i = 1, #fields, 2 do
    if (tonumber(fields[i]) + 1) * bucket_ms + day_ms > now then
      used = used + tonumber(fields[i + 1])
    end
  end
  if tonumber(ARGV[2]) < per_day - used then
    redis.call('SET', KEYS[4], ARGV[2], 'PX', day_ttl_ms)
  else
    redis.call('DEL', KEYS[4])
  end
end
return 1
"""

# Read only (nothing pruned or counted): KEYS minute, day, reported minute, reported day.
_REMAINING_LUA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local per_minute = tonumber(ARGV[1])
local per_day = tonumber(ARGV[2])
local minute_ms = tonumber(ARGV[3])
local day_ms = tonumber(ARGV[4])
local bucket_ms = tonumber(ARGV[5])
local minute = per_minute - redis.call('ZCOUNT', KEYS[1], '(' .. (now - minute_ms), '+inf')
local reported_minute = tonumber(redis.call('GET', KEYS[3]) or '')
if reported_minute and reported_minute < minute then minute = reported_minute end
local fields = redis.call('HGETALL', KEYS[2])
local used = 0
for i = 1, #fields, 2 do
  if (tonumber(fields[i]) + 1) * bucket_ms + day_ms > now then
    used = used + tonumber(fields[i + 1])
  end
end
local day = per_day - used
local reported_day = tonumber(redis.call('GET', KEYS[4]) or '')
if reported_day and reported_day < day then day = reported_day end
return {minute, day}
"""

_SALESFORCE_CHECK_LUA = """
local v = redis.call('HMGET', KEYS[1], 'used', 'allowed')
if not v[1] or not v[2] then return {} end
local used = tonumber(v[1])
local allowed = tonumber(v[2])
if used >= allowed * (1 - tonumber(ARGV[1])) then
  return {used, allowed, redis.call('PTTL', KEYS[1])}
end
redis.call('HINCRBY', KEYS[1], 'used', 1)
return {}
"""


def _ms(seconds: float) -> int:
    return max(int(seconds * 1000), 1)


def _unavailable(exc: redis.RedisError) -> LimiterUnavailable:
    return LimiterUnavailable(f"Redis did not answer ({type(exc).__name__})")


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class RedisBackend(Backend):
    """The rules as Lua scripts in Redis: atomic for every process on every machine.

    One organisation's keys share the hash tag ``{tenant}`` so a cluster keeps them in one slot.
    """

    def __init__(self, url: str) -> None:
        self.client = redis.Redis.from_url(url, socket_timeout=5.0, socket_connect_timeout=5.0)
        self._acquire = self.client.register_script(_ACQUIRE_LUA)
        self._block = self.client.register_script(_BLOCK_LUA)
        self._report = self.client.register_script(_REPORT_LUA)
        self._salesforce_check = self.client.register_script(_SALESFORCE_CHECK_LUA)
        self._remaining = self.client.register_script(_REMAINING_LUA)

    @staticmethod
    def _xero_keys(tenant_id: str) -> list[str]:
        base = f"{KEY_PREFIX}:xl:{{{tenant_id}}}"
        return [f"{base}:{name}" for name in ("min", "day", "conc", "blocked", "xmin", "xday")]

    @staticmethod
    def _salesforce_key(org_id: str) -> str:
        return f"{KEY_PREFIX}:sf:{{{org_id}}}:usage"

    def try_acquire(
        self, tenant_id: str, token: str, *, floor: int, limits: XeroLimits
    ) -> Lease | Refusal:
        try:
            outcome, number, detail = self._acquire(
                keys=self._xero_keys(tenant_id),
                args=[
                    token,
                    limits.per_minute,
                    limits.concurrent,
                    limits.per_day,
                    floor,
                    _ms(limits.lease_seconds),
                    _ms(limits.minute_window),
                    _ms(limits.day_window),
                    _ms(limits.day_bucket),
                    _ms(CONCURRENT_POLL),
                ],
            )
        except redis.RedisError as exc:
            raise _unavailable(exc) from exc
        if _text(outcome) == "ok":
            return Lease(tenant_id, token, int(number) / 1000)
        return Refusal(_text(outcome), int(number) / 1000, _text(detail))

    def release(self, lease: Lease) -> None:
        try:
            self.client.zrem(self._xero_keys(lease.tenant_id)[2], lease.token)
        except redis.RedisError as exc:
            raise _unavailable(exc) from exc

    def block(self, tenant_id: str, *, seconds: float, problem: str) -> None:
        try:
            self._block(keys=[self._xero_keys(tenant_id)[3]], args=[_ms(seconds), problem])
        except redis.RedisError as exc:
            raise _unavailable(exc) from exc

    def report(
        self,
        tenant_id: str,
        *,
        minute_remaining: int | None,
        day_remaining: int | None,
        limits: XeroLimits,
    ) -> None:
        if minute_remaining is None and day_remaining is None:
            return
        keys = self._xero_keys(tenant_id)
        try:
            self._report(
                keys=[keys[0], keys[1], keys[4], keys[5]],
                args=[
                    "" if minute_remaining is None else minute_remaining,
                    "" if day_remaining is None else day_remaining,
                    limits.per_minute,
                    limits.per_day,
                    _ms(limits.minute_window),
                    _ms(limits.day_window),
                    _ms(limits.day_bucket),
                    _ms(limits.reported_day_ttl),
                ],
            )
        except redis.RedisError as exc:
            raise _unavailable(exc) from exc

    def remaining(self, tenant_id: str, *, limits: XeroLimits) -> Remaining:
        keys = self._xero_keys(tenant_id)
        try:
            minute, day = self._remaining(
                keys=[keys[0], keys[1], keys[4], keys[5]],
                args=[
                    limits.per_minute,
                    limits.per_day,
                    _ms(limits.minute_window),
                    _ms(limits.day_window),
                    _ms(limits.day_bucket),
                ],
            )
        except redis.RedisError as exc:
            raise _unavailable(exc) from exc
        return Remaining(minute=int(minute), day=int(day))

    def salesforce_check(self, org_id: str, *, headroom: float) -> SalesforcePause | None:
        try:
            answer = self._salesforce_check(keys=[self._salesforce_key(org_id)], args=[headroom])
        except redis.RedisError as exc:
            raise _unavailable(exc) from exc
        if not answer:
            return None
        used, allowed, ttl_ms = (int(v) for v in answer)
        return SalesforcePause(org_id, used, allowed, headroom, max(ttl_ms, 0) / 1000)

    def salesforce_record(self, org_id: str, *, used: int, allowed: int, ttl: float) -> None:
        key = self._salesforce_key(org_id)
        try:
            pipe = self.client.pipeline(transaction=True)
            pipe.hset(key, mapping={"used": used, "allowed": allowed})
            pipe.pexpire(key, _ms(ttl))
            pipe.execute()
        except redis.RedisError as exc:
            raise _unavailable(exc) from exc

    def reset(self) -> None:
        for pattern in (f"{KEY_PREFIX}:xl:*", f"{KEY_PREFIX}:sf:*"):
            for key in self.client.scan_iter(match=pattern, count=500):
                self.client.delete(key)

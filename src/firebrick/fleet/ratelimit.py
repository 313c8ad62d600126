"""A per-target-host rate limit shared by every worker, kept in Redis.

The same slot-reservation scheme as ``http.RateLimiter`` (each request takes the next free slot
``1/rate`` seconds after the previous one), but the "next free slot" lives in Redis and is
advanced atomically by a Lua script using Redis's own clock, so ten workers scanning one API send
at most ``rate`` requests a second between them.
"""

from __future__ import annotations

import asyncio
from typing import Any

# KEYS[1]: the host's slot key; ARGV[1]: interval (s); ARGV[2]: key expiry (ms).
RESERVE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local nxt = tonumber(redis.call('GET', KEYS[1]) or '0')
local slot = math.max(now, nxt)
redis.call('SET', KEYS[1], string.format('%.6f', slot + tonumber(ARGV[1])), 'PX', ARGV[2])
return string.format('%.6f', slot - now)
"""


def host_key(target: str) -> str:
    from firebrick.http import origin_of

    scheme, host, port = origin_of(target)
    return f"firebrick:rate:{scheme}://{host}:{port}"


class RedisRateLimiter:
    """``wait()`` and ``slow_down()``, as ScopedClient expects of its limiter."""

    def __init__(self, client: Any, key: str, rate: float) -> None:
        self.client = client
        self.key = key
        self.interval = 1.0 / rate
        self._script = client.register_script(RESERVE)

    async def wait(self) -> None:
        expiry_ms = max(60_000, int(self.interval * 1000 * 100))
        delay = float(
            await asyncio.to_thread(self._script, keys=[self.key], args=[self.interval, expiry_ms])
        )
        if delay > 0:
            await asyncio.sleep(delay)  # the rate limit itself, not a wait for an event

    def slow_down(self) -> None:
        """After a 429: this worker reserves slots twice as far apart."""
        self.interval *= 2

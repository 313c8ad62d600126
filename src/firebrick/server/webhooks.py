"""Signed webhook deliveries: HMAC-SHA256 over the timestamp and the body, retried with
exponential backoff and jitter, each with an idempotency key, every attempt in a delivery log.

Header: ``Firebrick-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>." + body)>``.
A receiver recomputes v1 with its secret, compares in constant time, and refuses a timestamp
older than its tolerance (docs/server.md has a ten-line Flask receiver).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import ipaddress
import json
import random
import time
import uuid
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from firebrick import __version__

if TYPE_CHECKING:
    from firebrick.server.service import Service

SIGNATURE_HEADER = "Firebrick-Signature"


def sign(secret: str, body: bytes, timestamp: int | None = None) -> str:
    t = int(time.time()) if timestamp is None else timestamp
    mac = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={t},v1={mac}"


def verify(secret: str, header: str, body: bytes, tolerance: int = 300) -> bool:
    """True when ``header`` signs ``body`` with ``secret`` within ``tolerance`` seconds."""
    try:
        parts = dict(item.split("=", 1) for item in header.split(","))
        t = int(parts["t"])
    except (ValueError, KeyError):
        return False
    if abs(time.time() - t) > tolerance:
        return False
    expected = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, parts.get("v1", ""))


class WebhookSender:
    def __init__(self, service: Service) -> None:
        self.service = service
        self.queue: asyncio.Queue[str] = asyncio.Queue()
        self._session: Any = None
        self._inflight: set[asyncio.Task[None]] = set()

    def emit(self, key_id: str, event: str, data: dict[str, Any]) -> list[str]:
        """Record one delivery per subscribed webhook of this key; returns their ids."""
        from firebrick.server.service import now_iso

        ids = []
        for hook in self.service.db.all(
            "SELECT id, events FROM webhooks WHERE key_id = ? AND enabled = 1", (key_id,)
        ):
            if event not in str(hook["events"]).split(","):
                continue
            delivery_id = uuid.uuid4().hex  # also the receiver's idempotency key
            payload = {"id": delivery_id, "type": event, "created": now_iso(), "data": data}
            self.service.db.execute(
                "INSERT INTO deliveries (id, webhook_id, event, payload, status, created_at)"
                " VALUES (?, ?, ?, ?, 'pending', ?)",
                (delivery_id, hook["id"], event, json.dumps(payload, default=str), now_iso()),
            )
            self.queue.put_nowait(delivery_id)
            ids.append(delivery_id)
        return ids

    async def run(self) -> None:
        for row in self.service.db.all("SELECT id FROM deliveries WHERE status = 'pending'"):
            self.queue.put_nowait(row["id"])  # left over by a previous process
        while True:
            delivery_id = await self.queue.get()
            task = asyncio.create_task(self._deliver(delivery_id))
            self._inflight.add(task)
            task.add_done_callback(self._inflight.discard)

    async def close(self) -> None:
        for task in list(self._inflight):
            task.cancel()
        await asyncio.gather(*self._inflight, return_exceptions=True)
        if self._session is not None:
            await self._session.close()

    def _client(self) -> Any:
        import aiohttp

        from firebrick.target_policy import PolicyResolver

        if self._session is None:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(resolver=PolicyResolver(self.service.config.policy)),
                timeout=aiohttp.ClientTimeout(total=10),
                trust_env=False,
            )
        return self._session

    async def _deliver(self, delivery_id: str) -> None:
        from firebrick.server.service import now_iso

        db = self.service.db
        row = db.one("SELECT * FROM deliveries WHERE id = ?", (delivery_id,))
        if row is None or row["status"] != "pending":
            return
        hook = db.one("SELECT * FROM webhooks WHERE id = ?", (row["webhook_id"],))
        if hook is None:
            db.execute("UPDATE deliveries SET status = 'dropped' WHERE id = ?", (delivery_id,))
            return
        body = str(row["payload"]).encode()
        config = self.service.config
        attempts = int(row["attempts"] or 0)
        while attempts < config.webhook_attempts:
            attempts += 1
            status, error = await self._post(
                hook["url"], hook["secret"], row["event"], delivery_id, body
            )
            ok = status is not None and 200 <= status < 300
            db.execute(
                "UPDATE deliveries SET attempts = ?, response_status = ?, error = ?, status = ?,"
                " delivered_at = ? WHERE id = ?",
                (
                    attempts,
                    status,
                    error,
                    "delivered"
                    if ok
                    else ("failed" if attempts >= config.webhook_attempts else "pending"),
                    now_iso() if ok else None,
                    delivery_id,
                ),
            )
            if ok:
                return
            # Exponential backoff with full jitter, so retries of many hooks do not synchronise.
            delay = config.webhook_backoff * (2 ** (attempts - 1))
            await asyncio.sleep(random.uniform(delay / 2, delay))

    async def _post(
        self, url: str, secret: str, event: str, delivery_id: str, body: bytes
    ) -> tuple[int | None, str | None]:
        import aiohttp

        host = urlsplit(url).hostname or ""
        try:
            ipaddress.ip_address(host)
            if not self.service.config.policy.allowed(host):  # literals skip the resolver
                return None, f"{host} is refused by the target policy"
        except ValueError:
            pass
        headers = {
            "Content-Type": "application/json",
            "User-Agent": f"firebrick-webhooks/{__version__}",
            SIGNATURE_HEADER: sign(secret, body),
            "Firebrick-Event": event,
            "Firebrick-Event-Id": delivery_id,
        }
        try:
            async with self._client().post(
                url, data=body, headers=headers, allow_redirects=False
            ) as resp:
                await resp.read()
                return resp.status, None if resp.status < 300 else f"HTTP {resp.status}"
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            return None, f"{type(exc).__name__}: {exc}"[:300]

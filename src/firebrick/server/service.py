"""What the service does, independent of HTTP: keys, scans (queued, run, stored), live progress,
monitors and webhooks. The REST API and the dashboard are thin layers over this class; both call
``engine.run_scan``, never a scan of their own.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import secrets
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from firebrick.errors import FirebrickError
from firebrick.model import ScanResult
from firebrick.server.db import Database
from firebrick.server.runner import (
    RequestError,
    execute_scan,
    mark_failed,
    now_iso,
    options_from_request,
)
from firebrick.server.webhooks import WebhookSender
from firebrick.target_policy import TargetPolicy

TASK = "firebrick.scan"  # fleet/app.py registers it

GRADES = "ABCDF"
EVENTS = ("scan.completed", "scan.failed", "findings.new", "findings.resolved", "grade.crossed")


class ServiceError(Exception):
    """An error the API turns into a JSON answer: HTTP status, a stable code, a message."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def hash_key(key: str) -> str:
    # Keys are 256-bit random: a plain SHA-256 is enough at rest (no dictionary to slow down).
    return hashlib.sha256(key.encode()).hexdigest()


@dataclass
class ServiceConfig:
    database: str
    policy: TargetPolicy = field(default_factory=TargetPolicy)
    workers: int = 2  # scans run at once in this process
    default_rate: float = 10.0
    max_time: float = 300.0
    scans_per_day: int = 200
    requests_per_minute: int = 120
    monitor_tick: float = 30.0  # seconds between looks at due monitors
    webhook_attempts: int = 5
    webhook_backoff: float = 2.0  # seconds; doubled per attempt, with jitter
    webhook_tolerance: int = 300  # seconds a receiver should accept a signature's timestamp
    verify_control: bool = True  # authenticated scans need proof of control of the target
    broker: str | None = None  # a Celery broker: scans run on the fleet (firebrick worker)
    oob_server: str | None = None  # a shared OOB service for the in-process scans (--oob-server)
    oob_key: str | None = field(default=None, repr=False)
    fleet_poll: float = 1.0  # seconds between looks for scans the fleet finished


@dataclass
class Progress:
    """Live state of one running scan, for server-sent events."""

    events: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=500))
    changed: asyncio.Event = field(default_factory=asyncio.Event)
    done: bool = False
    seq: int = 0

    def add(self, kind: str, **data: Any) -> None:
        self.seq += 1
        self.events.append({"seq": self.seq, "type": kind, "time": time.time(), **data})
        self.changed.set()
        self.changed = asyncio.Event()


class Service:
    def __init__(self, config: ServiceConfig) -> None:
        self.config = config
        self.db = Database(config.database)
        self.queue: asyncio.Queue[str] = asyncio.Queue()
        self.progress: dict[str, Progress] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._calls: dict[str, deque[float]] = {}  # key id -> request times (rate limit)
        self._celery: Any = None
        self.webhooks = WebhookSender(self)

    # -- lifecycle -------------------------------------------------------------------------------
    async def start(self) -> None:
        # Scans left queued or running by a previous process are run again: nothing is lost
        # (with a fleet, the broker keeps them).
        stale = (
            []
            if self.config.broker
            else self.db.all("SELECT id FROM scans WHERE status IN ('queued', 'running')")
        )
        for row in stale:
            self.db.execute("UPDATE scans SET status = 'queued' WHERE id = ?", (row["id"],))
            self.progress[row["id"]] = Progress()
            self.queue.put_nowait(row["id"])
        if self.config.broker:  # the fleet runs the scans; we send their events when done
            self._tasks.append(asyncio.create_task(self._fleet_watch()))
        else:
            for _ in range(max(1, self.config.workers)):
                self._tasks.append(asyncio.create_task(self._worker()))
        self._tasks.append(asyncio.create_task(self._monitor_loop()))
        self._tasks.append(asyncio.create_task(self.webhooks.run()))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        await self.webhooks.close()
        self.db.close()

    # -- keys ------------------------------------------------------------------------------------
    def create_key(self, name: str, admin: bool = False) -> tuple[dict[str, Any], str]:
        """A new key: its record and the key itself, which is shown once and stored hashed."""
        key = "fbk_" + secrets.token_urlsafe(32)
        row = {
            "id": uuid.uuid4().hex[:12],
            "name": name[:80] or "key",
            "key_hash": hash_key(key),
            "admin": 1 if admin else 0,
            "scans_per_day": self.config.scans_per_day,
            "requests_per_minute": self.config.requests_per_minute,
            "verify_token": "firebrick-verify=" + secrets.token_hex(16),
            "created_at": now_iso(),
        }
        self.db.execute(
            "INSERT INTO api_keys (id, name, key_hash, admin, scans_per_day, requests_per_minute,"
            " verify_token, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            tuple(row.values()),
        )
        return self._public_key(row), key

    def _public_key(self, row: dict[str, Any]) -> dict[str, Any]:
        return {
            k: row.get(k)
            for k in (
                "id",
                "name",
                "admin",
                "scans_per_day",
                "requests_per_minute",
                "verify_token",
                "created_at",
                "revoked_at",
            )
        } | {"admin": bool(row.get("admin"))}

    def has_keys(self) -> bool:
        return self.db.one("SELECT id FROM api_keys WHERE revoked_at IS NULL") is not None

    def list_keys(self) -> list[dict[str, Any]]:
        rows = self.db.all("SELECT * FROM api_keys ORDER BY created_at")
        return [self._public_key(r) for r in rows]

    def revoke_key(self, key_id: str) -> None:
        self.db.execute(
            "UPDATE api_keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL",
            (now_iso(), key_id),
        )

    def authenticate(self, key: str | None) -> dict[str, Any]:
        if not key:
            raise ServiceError(
                401, "unauthorized", "an API key is required (Authorization: Bearer KEY)"
            )
        row = self.db.one(
            "SELECT * FROM api_keys WHERE key_hash = ? AND revoked_at IS NULL", (hash_key(key),)
        )
        # The hash lookup is exact; compare again in constant time for good measure.
        if row is None or not hmac.compare_digest(row["key_hash"], hash_key(key)):
            raise ServiceError(401, "unauthorized", "unknown or revoked API key")
        self._rate_limit(row)
        return row

    def _rate_limit(self, key: dict[str, Any]) -> None:
        calls = self._calls.setdefault(key["id"], deque())
        now = time.monotonic()
        while calls and calls[0] < now - 60:
            calls.popleft()
        limit = int(key["requests_per_minute"])
        reset = int(60 - (now - calls[0])) + 1 if calls else 60
        if len(calls) >= limit:
            raise ServiceError(429, "rate_limited", f"too many requests; retry in {reset} s")
        calls.append(now)
        # advertised to the caller (RateLimit-* headers, set by the app's middleware)
        key["_ratelimit"] = (limit, limit - len(calls), reset)

    # -- scans -----------------------------------------------------------------------------------
    async def submit(
        self, key: dict[str, Any], request: dict[str, Any], monitor_id: str | None = None
    ) -> dict[str, Any]:
        """Validate a scan request, check the target policy and quota, and queue it."""
        options = self._options(request)
        try:
            await asyncio.to_thread(self.config.policy.check, options.target)
        except FirebrickError as exc:
            raise ServiceError(422, "target_refused", str(exc)) from None
        if (request.get("headers") or request.get("identities")) and self.config.verify_control:
            await self._verify_control(key, options.target)
        since = (datetime.now(UTC) - timedelta(days=1)).isoformat(timespec="seconds")
        used = self.db.one(
            "SELECT COUNT(*) AS n FROM scans WHERE key_id = ? AND created_at >= ?",
            (key["id"], since),
        )
        if used and int(used["n"]) >= int(key["scans_per_day"]):
            raise ServiceError(
                429,
                "quota_exceeded",
                f"this key's quota of {key['scans_per_day']} scans a day is used",
            )
        scan_id = uuid.uuid4().hex[:16]
        self.db.execute(
            "INSERT INTO scans (id, key_id, target, request_json, status, created_at, monitor_id)"
            " VALUES (?, ?, ?, ?, 'queued', ?, ?)",
            (scan_id, key["id"], options.target, json.dumps(request), now_iso(), monitor_id),
        )
        self.progress[scan_id] = Progress()
        self.progress[scan_id].add("queued", target=options.target)
        if self.config.broker:
            await asyncio.to_thread(self._fleet().send_task, TASK, args=[scan_id])
        else:
            await self.queue.put(scan_id)
        return self.scan(scan_id)

    def _fleet(self) -> Any:
        if self._celery is None:
            from firebrick.fleet.app import make_app

            self._celery = make_app(self.config.broker, firebrick_max_time=self.config.max_time)
        return self._celery

    async def _fleet_watch(self) -> None:
        """Events for scans the fleet finished (it stores results; we notify, once)."""
        while True:
            rows = self.db.all(
                "SELECT * FROM scans WHERE status IN ('done', 'failed') AND notified = 0"
            )
            for row in rows:
                self.db.execute("UPDATE scans SET notified = 1 WHERE id = ?", (row["id"],))
                progress = self.progress.setdefault(row["id"], Progress())
                if row["status"] == "failed":
                    self._fail(row["id"], row["error"] or "failed")
                    continue
                result = self.result(row["id"])
                progress.add(
                    "done", grade=result.grade, score=result.score, findings=len(result.findings)
                )
                progress.done = True
                await self._after(row["id"], row, result)
            await asyncio.sleep(self.config.fleet_poll)

    def _options(self, request: dict[str, Any]) -> Any:
        try:
            return options_from_request(
                request, default_rate=self.config.default_rate, max_time=self.config.max_time
            )
        except RequestError as exc:
            raise ServiceError(exc.status, exc.code, exc.message) from None

    async def _verify_control(self, key: dict[str, Any], target: str) -> None:
        """Scans with credentials need proof the caller controls the host: the key's token in
        ``/.well-known/firebrick-verify.txt`` on the target, or a TXT record at
        ``_firebrick-verify.<host>``."""
        from firebrick.server.verify import proves_control

        token = key["verify_token"]
        if not await proves_control(target, token, self.config.policy):
            host = urlsplit(target).hostname
            raise ServiceError(
                403,
                "control_not_proven",
                f"authenticated scans need proof that you control {host}: serve {token!r} at "
                f"/.well-known/firebrick-verify.txt, or publish it as a TXT record at "
                f"_firebrick-verify.{host}",
            )

    def _own(self, table: str, row_id: str, key: dict[str, Any] | None) -> dict[str, Any]:
        """The row if it exists and the key may see it (its owner, or an admin key); else 404,
        so that ids of other tenants' objects are not even confirmed."""
        row = self.db.one(f"SELECT * FROM {table} WHERE id = ?", (row_id,))
        if row is None or (key is not None and not key["admin"] and row["key_id"] != key["id"]):
            raise ServiceError(404, "not_found", f"no {table[:-1]} {row_id}")
        return row

    def scan(self, scan_id: str, key: dict[str, Any] | None = None) -> dict[str, Any]:
        return _scan_row(self._own("scans", scan_id, key))

    def scans(
        self,
        target: str | None = None,
        status: str | None = None,
        limit: int = 50,
        key: dict[str, Any] | None = None,
    ) -> list[dict[str, Any]]:
        sql, params = "SELECT * FROM scans WHERE 1 = 1", []
        if key is not None and not key["admin"]:
            sql += " AND key_id = ?"
            params.append(key["id"])
        if target:
            sql += " AND target = ?"
            params.append(target)
        if status:
            sql += " AND status = ?"
            params.append(status)
        sql += " ORDER BY created_at DESC, id DESC LIMIT ?"
        params.append(max(1, min(limit, 500)))
        return [_scan_row(r) for r in self.db.all(sql, params)]

    def result(self, scan_id: str, key: dict[str, Any] | None = None) -> ScanResult:
        from firebrick.store import result_from_dict

        row = self._own("scans", scan_id, key)
        if not row["result_json"]:
            raise ServiceError(409, "not_finished", f"scan {scan_id} is {row['status']}")
        return result_from_dict(json.loads(row["result_json"]))

    def delete(self, scan_id: str, key: dict[str, Any] | None = None) -> None:
        self.scan(scan_id, key)
        self.db.execute("DELETE FROM scans WHERE id = ?", (scan_id,))
        self.progress.pop(scan_id, None)

    async def _worker(self) -> None:
        while True:
            scan_id = await self.queue.get()
            try:
                await self._run(scan_id)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a bug in one scan must not stop the worker
                self._fail(scan_id, f"internal error: {type(exc).__name__}: {exc}")
            finally:
                self.queue.task_done()

    async def _run(self, scan_id: str) -> None:
        row = self.db.one("SELECT * FROM scans WHERE id = ?", (scan_id,))
        if row is None:  # deleted while queued
            return
        progress = self.progress.setdefault(scan_id, Progress())
        progress.add("started")
        outcome, result, error = await execute_scan(
            self.db,
            scan_id,
            default_rate=self.config.default_rate,
            max_time=self.config.max_time,
            target_policy=self.config.policy,
            progress=lambda message: progress.add("progress", message=message),
            overrides=(
                {"oob_server": self.config.oob_server, "oob_key": self.config.oob_key}
                if self.config.oob_server
                else None
            ),
        )
        if outcome == "failed":
            self._fail(scan_id, error or "failed")
        elif outcome == "done" and result is not None:
            self.db.execute("UPDATE scans SET notified = 1 WHERE id = ?", (scan_id,))
            progress.add(
                "done", grade=result.grade, score=result.score, findings=len(result.findings)
            )
            progress.done = True
            await self._after(scan_id, row, result)
        else:
            progress.done = True

    def _fail(self, scan_id: str, message: str) -> None:
        mark_failed(self.db, scan_id, message)
        self.db.execute("UPDATE scans SET notified = 1 WHERE id = ?", (scan_id,))
        progress = self.progress.setdefault(scan_id, Progress())
        progress.add("failed", error=message)
        progress.done = True
        row = self.db.one("SELECT key_id, target FROM scans WHERE id = ?", (scan_id,))
        if row is not None:
            self.webhooks.emit(
                row["key_id"],
                "scan.failed",
                {"scan_id": scan_id, "target": row["target"], "error": message},
            )

    async def _after(self, scan_id: str, row: dict[str, Any], result: ScanResult) -> None:
        """Events for webhooks: the scan, and for monitors what changed since the last run."""
        from firebrick.diff import diff

        base = {
            "scan_id": scan_id,
            "target": row["target"],
            "grade": result.grade,
            "score": result.score,
        }
        self.webhooks.emit(
            row["key_id"], "scan.completed", {**base, "findings": len(result.findings)}
        )
        monitor = (
            self.db.one("SELECT * FROM monitors WHERE id = ?", (row["monitor_id"],))
            if row["monitor_id"]
            else None
        )
        if monitor is None:
            return
        previous_id = monitor["last_scan_id"]
        self.db.execute(
            "UPDATE monitors SET last_scan_id = ? WHERE id = ?", (scan_id, monitor["id"])
        )
        if not previous_id:
            return
        try:
            previous = self.result(previous_id)
        except ServiceError:
            return
        d = diff(previous, result)
        if d.new:
            self.webhooks.emit(
                row["key_id"],
                "findings.new",
                {
                    **base,
                    "monitor_id": monitor["id"],
                    "findings": [f.to_dict() for f in d.new][:50],
                },
            )
        if d.resolved:
            self.webhooks.emit(
                row["key_id"],
                "findings.resolved",
                {
                    **base,
                    "monitor_id": monitor["id"],
                    "findings": [f.to_dict() for f in d.resolved][:50],
                },
            )
        gate = monitor["fail_below"]
        if gate and previous.grade and result.grade:
            was_ok = GRADES.index(previous.grade) <= GRADES.index(gate)
            now_ok = GRADES.index(result.grade) <= GRADES.index(gate)
            if was_ok != now_ok:
                self.webhooks.emit(
                    row["key_id"],
                    "grade.crossed",
                    {
                        **base,
                        "monitor_id": monitor["id"],
                        "threshold": gate,
                        "previous_grade": previous.grade,
                        "direction": "down" if was_ok else "up",
                    },
                )

    # -- monitors --------------------------------------------------------------------------------
    def create_monitor(self, key: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
        request: dict[str, Any] = {
            k: body[k] for k in ("url", "spec_url", "mode", "checks", "rate") if k in body
        }
        options = self._options(request)
        try:  # refused now, not at every run
            self.config.policy.check(options.target)
        except FirebrickError as exc:
            raise ServiceError(422, "target_refused", str(exc)) from None
        interval = int(body.get("interval_s") or 86400)
        if interval < 60:
            raise ServiceError(422, "invalid_request", "interval_s must be at least 60")
        fail_below = body.get("fail_below")
        if fail_below is not None and fail_below not in GRADES:
            raise ServiceError(422, "invalid_request", "fail_below must be a grade letter")
        monitor_id = uuid.uuid4().hex[:12]
        self.db.execute(
            "INSERT INTO monitors (id, key_id, target, request_json, interval_s, fail_below,"
            " next_run_at, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                monitor_id,
                key["id"],
                options.target,
                json.dumps(request),
                interval,
                fail_below,
                time.time() + float(body.get("first_run_in", 0)),
                now_iso(),
            ),
        )
        return self.monitor(monitor_id)

    def monitor(self, monitor_id: str, key: dict[str, Any] | None = None) -> dict[str, Any]:
        return _monitor_row(self._own("monitors", monitor_id, key))

    def monitors(self, key: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        rows = self.db.all("SELECT * FROM monitors ORDER BY created_at")
        return [_monitor_row(r) for r in rows if _visible(r, key)]

    def delete_monitor(self, monitor_id: str, key: dict[str, Any] | None = None) -> None:
        self.monitor(monitor_id, key)
        self.db.execute("DELETE FROM monitors WHERE id = ?", (monitor_id,))

    async def run_due_monitors(self) -> list[str]:
        """Queue a scan for every monitor that is due; returns the scan ids."""
        started = []
        for row in self.db.all(
            "SELECT * FROM monitors WHERE enabled = 1 AND next_run_at <= ?", (time.time(),)
        ):
            self.db.execute(
                "UPDATE monitors SET next_run_at = ? WHERE id = ?",
                (time.time() + row["interval_s"], row["id"]),
            )
            key = self.db.one("SELECT * FROM api_keys WHERE id = ?", (row["key_id"],))
            if key is None or key["revoked_at"]:
                continue
            try:
                scan = await self.submit(key, json.loads(row["request_json"]), monitor_id=row["id"])
            except ServiceError as exc:
                self.webhooks.emit(
                    row["key_id"],
                    "scan.failed",
                    {"monitor_id": row["id"], "target": row["target"], "error": exc.message},
                )
                continue
            started.append(scan["id"])
        return started

    async def _monitor_loop(self) -> None:
        while True:
            await self.run_due_monitors()
            await asyncio.sleep(self.config.monitor_tick)

    # -- webhooks --------------------------------------------------------------------------------
    def create_webhook(
        self, key: dict[str, Any], body: dict[str, Any]
    ) -> tuple[dict[str, Any], str]:
        url = body.get("url")
        if not isinstance(url, str) or urlsplit(url).scheme not in ("http", "https"):
            raise ServiceError(422, "invalid_request", "url must be an http(s) URL")
        try:
            self.config.policy.check(url)  # a webhook is an outbound request too: no SSRF
        except FirebrickError as exc:
            raise ServiceError(422, "target_refused", str(exc)) from None
        events = body.get("events") or list(EVENTS)
        unknown = sorted(set(events) - set(EVENTS))
        if unknown:
            raise ServiceError(422, "invalid_request", f"unknown events: {', '.join(unknown)}")
        secret = "whsec_" + secrets.token_urlsafe(24)
        webhook_id = uuid.uuid4().hex[:12]
        self.db.execute(
            "INSERT INTO webhooks (id, key_id, url, secret, events, created_at) VALUES (?, ?, ?, ?, ?, ?)",
            (webhook_id, key["id"], url, secret, ",".join(events), now_iso()),
        )
        return self.webhook(webhook_id), secret

    def webhook(self, webhook_id: str, key: dict[str, Any] | None = None) -> dict[str, Any]:
        return _webhook_row(self._own("webhooks", webhook_id, key))

    def webhooks_list(self, key: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        rows = self.db.all("SELECT * FROM webhooks ORDER BY created_at")
        return [_webhook_row(r) for r in rows if _visible(r, key)]

    def delete_webhook(self, webhook_id: str, key: dict[str, Any] | None = None) -> None:
        self.webhook(webhook_id, key)
        self.db.execute("DELETE FROM webhooks WHERE id = ?", (webhook_id,))

    def deliveries(
        self, webhook_id: str, limit: int = 100, key: dict[str, Any] | None = None
    ) -> list[dict[str, Any]]:
        self.webhook(webhook_id, key)
        rows = self.db.all(
            "SELECT id, webhook_id, event, status, attempts, response_status, error, created_at,"
            " delivered_at FROM deliveries WHERE webhook_id = ? ORDER BY created_at DESC LIMIT ?",
            (webhook_id, limit),
        )
        return rows


def _visible(row: dict[str, Any], key: dict[str, Any] | None) -> bool:
    return key is None or bool(key["admin"]) or row["key_id"] == key["id"]


def _scan_row(row: dict[str, Any]) -> dict[str, Any]:
    out = {
        k: v
        for k, v in row.items()
        if k not in ("result_json", "request_json", "key_id", "notified")
    }
    request = json.loads(row["request_json"])
    # Credentials are never returned: names only.
    out["request"] = {
        **{k: v for k, v in request.items() if k not in ("headers", "identities")},
        "headers": sorted((request.get("headers") or {}).keys()),
        "identities": sorted((request.get("identities") or {}).keys()),
    }
    return out


def _monitor_row(row: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in row.items() if k not in ("request_json", "key_id")}
    out["request"] = json.loads(row["request_json"])
    out["enabled"] = bool(row["enabled"])
    return out


def _webhook_row(row: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in row.items() if k not in ("secret", "key_id")}
    out["events"] = [e for e in str(row["events"]).split(",") if e]
    out["enabled"] = bool(row["enabled"])
    return out

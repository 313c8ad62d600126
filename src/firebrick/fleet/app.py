"""The Celery app and its one task. Configuration comes from the worker's command line (or the
environment: FIREBRICK_BROKER, FIREBRICK_DATABASE, FIREBRICK_OOB_SERVER, FIREBRICK_OOB_KEY)."""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
from typing import Any

from firebrick.errors import UsageError
from firebrick.target_policy import TargetPolicy, parse_networks

try:
    from celery import Celery
except ImportError:  # the fleet is an extra: one clear line instead of a traceback
    raise UsageError("the fleet needs Celery: pip install 'firebrick-scan[fleet]'") from None

TASK = "firebrick.scan"


def make_app(broker: str | None = None, **settings: Any) -> Celery:
    broker = broker or os.environ.get("FIREBRICK_BROKER", "redis://127.0.0.1:6379/0")
    max_time = float(settings.get("firebrick_max_time", 300.0))
    app = Celery("firebrick", broker=broker, backend=None)
    app.conf.update(
        task_acks_late=True,  # acknowledged after the scan is stored, not when received
        task_reject_on_worker_lost=True,  # a killed pool process puts its scan back at once
        worker_prefetch_multiplier=1,  # one scan at a time per process: fair across workers
        task_time_limit=max_time + 120,
        task_soft_time_limit=max_time + 60,
        # A whole worker killed (SIGKILL, lost machine) leaves its scan unacknowledged: Redis
        # hands it to another worker after this many seconds.
        broker_transport_options={
            "visibility_timeout": int(settings.pop("visibility_timeout", max_time + 180))
        },
        broker_connection_retry_on_startup=True,
        worker_hijack_root_logger=False,
        task_default_queue="firebrick",
        firebrick_database=os.environ.get("FIREBRICK_DATABASE", ""),
        firebrick_max_time=max_time,
        firebrick_default_rate=10.0,
        firebrick_allow_networks=(),
        firebrick_oob_server=os.environ.get("FIREBRICK_OOB_SERVER"),
        firebrick_oob_key=os.environ.get("FIREBRICK_OOB_KEY"),
    )
    app.conf.update(settings)
    _register(app)
    return app


# Infrastructure errors are retried with backoff; a scan's own failure is stored, not retried.
def _infra_errors() -> tuple[type[BaseException], ...]:
    errors: list[type[BaseException]] = [sqlite3.OperationalError, ConnectionError, TimeoutError]
    try:
        import redis

        errors.append(redis.exceptions.ConnectionError)
    except ImportError:  # pragma: no cover - redis comes with celery[redis]
        pass
    try:
        import psycopg

        errors.append(psycopg.OperationalError)
    except ImportError:
        pass
    return tuple(errors)


def _register(app: Celery) -> None:
    @app.task(
        name=TASK,
        bind=True,
        autoretry_for=_infra_errors(),
        retry_backoff=True,
        retry_backoff_max=60,
        retry_jitter=True,
        max_retries=5,
    )
    def scan(self: Any, scan_id: str) -> str:
        return run_one(app, scan_id)


_redis_clients: dict[str, Any] = {}


def run_one(app: Celery, scan_id: str) -> str:
    """Run stored scan ``scan_id`` in this worker; returns the outcome (done/failed/skipped)."""
    import redis

    from firebrick.fleet.ratelimit import RedisRateLimiter, host_key
    from firebrick.server.db import Database
    from firebrick.server.runner import execute_scan

    conf = app.conf
    db = Database(conf.firebrick_database)
    try:
        row = db.one("SELECT request_json FROM scans WHERE id = ?", (scan_id,))
        if row is None:
            return "skipped"
        request = json.loads(row["request_json"])
        rate = float(request.get("rate") or conf.firebrick_default_rate)
        client = _redis_clients.get(conf.broker_url)
        if client is None:
            client = _redis_clients[conf.broker_url] = redis.Redis.from_url(conf.broker_url)
        limiter = RedisRateLimiter(client, host_key(str(request.get("url", ""))), rate)
        db.execute("UPDATE scans SET attempts = attempts + 1 WHERE id = ?", (scan_id,))
        overrides: dict[str, Any] = {}
        if conf.firebrick_oob_server:
            overrides = {"oob_server": conf.firebrick_oob_server, "oob_key": conf.firebrick_oob_key}
        policy = TargetPolicy(parse_networks(list(conf.firebrick_allow_networks)))
        outcome, _, _ = asyncio.run(
            execute_scan(
                db,
                scan_id,
                default_rate=conf.firebrick_default_rate,
                max_time=conf.firebrick_max_time,
                target_policy=policy,
                rate_limiter=limiter,
                overrides=overrides,
            )
        )
        return outcome
    finally:
        db.close()

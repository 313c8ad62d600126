"""Run one stored scan request and store its result: shared by the service's in-process workers
and the Celery fleet's workers, so both run and store a scan exactly the same way.

Storing is idempotent by scan id: the result is written in one transaction only if no result is
there yet, so a scan run twice (a worker killed after storing but before acknowledging) is stored
once.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from firebrick.errors import FirebrickError, UsageError
from firebrick.model import ScanResult
from firebrick.server.db import Database
from firebrick.target_policy import TargetPolicy


class RequestError(Exception):
    """A scan request that cannot run: (HTTP status, code, message) for the API."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def options_from_request(request: dict[str, Any], *, default_rate: float, max_time: float) -> Any:
    """ScanOptions from an API request body (validated; RequestError with a clear message)."""
    from firebrick.options import MODES, ScanOptions

    url = request.get("url")
    if not isinstance(url, str) or not url:
        raise RequestError(422, "invalid_request", "url is required")
    mode = request.get("mode") or "safe"
    if mode not in MODES:
        raise RequestError(422, "invalid_request", f"mode must be one of {', '.join(MODES)}")
    headers = request.get("headers") or {}
    identities = request.get("identities") or {}
    checks = request.get("checks") or []
    if not isinstance(headers, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in headers.items()
    ):
        raise RequestError(422, "invalid_request", "headers must map names to strings")
    if not isinstance(checks, list) or not all(isinstance(c, str) for c in checks):
        raise RequestError(422, "invalid_request", "checks must be a list of names")
    options = ScanOptions(
        target=url,
        spec=request.get("spec_url") or None,
        mode=mode,
        headers=dict(headers),
        identities={str(k): dict(v) for k, v in identities.items()},
        checks=list(checks),
        rate=float(request.get("rate") or default_rate),
        max_time=min(float(request.get("max_time") or max_time), max_time),
    )
    try:
        options.validate()
    except UsageError as exc:
        raise RequestError(422, "invalid_request", str(exc)) from None
    if options.spec and not options.spec.startswith(("http://", "https://")):
        raise RequestError(422, "invalid_request", "spec_url must be an http(s) URL")
    return options


def store_result(db: Database, scan_id: str, result: ScanResult) -> bool:
    """Write the result in one transaction unless one is stored already; True if written."""
    with db.transaction() as cur:
        cur.execute(
            "UPDATE scans SET status = 'done', finished_at = ?, grade = ?, score = ?, findings = ?,"
            " result_json = ? WHERE id = ? AND result_json IS NULL",
            (
                now_iso(),
                result.grade,
                result.score,
                len(result.findings),
                json.dumps(result.to_dict()),
                scan_id,
            ),
        )
        return cur.rowcount == 1


def mark_failed(db: Database, scan_id: str, message: str) -> None:
    db.execute(
        "UPDATE scans SET status = 'failed', finished_at = ?, error = ? WHERE id = ?"
        " AND result_json IS NULL",
        (now_iso(), message, scan_id),
    )


async def execute_scan(
    db: Database,
    scan_id: str,
    *,
    default_rate: float,
    max_time: float,
    target_policy: TargetPolicy | None,
    progress: Callable[[str], None] | None = None,
    rate_limiter: Any = None,
    overrides: dict[str, Any] | None = None,
) -> tuple[str, ScanResult | None, str | None]:
    """Run the stored request ``scan_id``: ("done", result, None), ("failed", None, message), or
    ("skipped", None, None) when it is gone or already has a result (a redelivered task)."""
    from firebrick.engine import run_scan

    row = db.one("SELECT * FROM scans WHERE id = ?", (scan_id,))
    if row is None or row["result_json"]:
        return "skipped", None, None
    db.execute(
        "UPDATE scans SET status = 'running', started_at = ? WHERE id = ? AND result_json IS NULL",
        (now_iso(), scan_id),
    )
    try:
        options = options_from_request(
            json.loads(row["request_json"]), default_rate=default_rate, max_time=max_time
        )
        if overrides:  # the worker's own settings, e.g. the shared OOB service
            options = replace(options, **overrides)
        result = await run_scan(
            options, progress=progress, target_policy=target_policy, rate_limiter=rate_limiter
        )
    except (FirebrickError, RequestError) as exc:
        message = exc.message if isinstance(exc, RequestError) else str(exc)
        mark_failed(db, scan_id, message)
        return "failed", None, message
    if not store_result(db, scan_id, result):
        return "skipped", None, None
    return "done", result, None

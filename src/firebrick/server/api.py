"""REST API v1 (its OpenAPI document at /api/v1/openapi.json). JSON errors:
``{"error": {"code": "...", "message": "..."}}`` with the matching HTTP status."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from pydantic import BaseModel, Field

from firebrick.server.service import EVENTS, Service, ServiceError

REPORT_TYPES = {
    "json": "application/json",
    "sarif": "application/sarif+json",
    "junit": "application/xml",
    "html": "text/html; charset=utf-8",
    "markdown": "text/markdown; charset=utf-8",
    "text": "text/plain; charset=utf-8",
    "pdf": "application/pdf",
}


class ScanRequest(BaseModel):
    url: str = Field(description="The API to scan, http(s)://host[:port][/base].")
    spec_url: str | None = Field(None, description="An OpenAPI document URL.")
    mode: str = Field("safe", description="safe (default), passive, or full (staging only).")
    headers: dict[str, str] = Field(
        default_factory=dict, description="Sent on every request; needs proof of control."
    )
    identities: dict[str, dict[str, str]] = Field(default_factory=dict)
    checks: list[str] = Field(default_factory=list, description="Only these checks/categories.")
    rate: float | None = Field(None, description="Requests per second to the target.")
    max_time: float | None = None


class MonitorRequest(BaseModel):
    url: str
    spec_url: str | None = None
    mode: str = "safe"
    checks: list[str] = Field(default_factory=list)
    interval_s: int = Field(86400, ge=60, description="Seconds between scans.")
    fail_below: str | None = Field(None, description="Alert when the grade crosses this letter.")
    first_run_in: float = Field(0, ge=0, description="Seconds until the first scan.")


class WebhookRequest(BaseModel):
    url: str
    events: list[str] = Field(default_factory=lambda: list(EVENTS))


class KeyRequest(BaseModel):
    name: str
    admin: bool = False


def error_response(exc: ServiceError) -> JSONResponse:
    headers = {"Retry-After": "60"} if exc.status == 429 else None
    return JSONResponse(
        {"error": {"code": exc.code, "message": exc.message}},
        status_code=exc.status,
        headers=headers,
    )


def router(service: Service, session_key: Any) -> APIRouter:
    """``session_key(request)`` gives the dashboard session's key id (cookie), or None."""
    api = APIRouter(prefix="/api/v1")

    def caller(request: Request) -> dict[str, Any]:
        auth = request.headers.get("authorization", "")
        if auth.lower().startswith("bearer "):
            key = service.authenticate(auth[7:].strip())
            request.state.ratelimit = key.get("_ratelimit")
            return key
        key_id = session_key(request)  # the dashboard's own calls (cookie, same origin)
        if key_id:
            row = service.db.one(
                "SELECT * FROM api_keys WHERE id = ? AND revoked_at IS NULL", (key_id,)
            )
            if row:
                return row
        return service.authenticate(None)

    def admin(key: dict[str, Any] = Depends(caller)) -> dict[str, Any]:
        if not key["admin"]:
            raise ServiceError(403, "forbidden", "this needs an admin key")
        return key

    @api.post("/scans", status_code=202, summary="Queue a scan")
    async def create_scan(body: ScanRequest, key: dict[str, Any] = Depends(caller)) -> Any:
        scan = await service.submit(key, body.model_dump(exclude_none=True))
        return JSONResponse(
            {**scan, "links": _links(scan["id"])},
            status_code=202,
            headers={"Location": f"/api/v1/scans/{scan['id']}"},
        )

    @api.get("/scans", summary="List scans (newest first)")
    def list_scans(
        target: str | None = None,
        status: str | None = None,
        limit: int = 50,
        key: dict[str, Any] = Depends(caller),
    ) -> Any:
        return {"scans": service.scans(target=target, status=status, limit=limit, key=key)}

    @api.get("/scans/{scan_id}", summary="One scan: status and summary")
    def get_scan(scan_id: str, key: dict[str, Any] = Depends(caller)) -> Any:
        scan = service.scan(scan_id, key)
        return {**scan, "links": _links(scan_id)}

    @api.delete("/scans/{scan_id}", status_code=204, summary="Delete a scan")
    def delete_scan(scan_id: str, key: dict[str, Any] = Depends(caller)) -> Response:
        service.delete(scan_id, key)
        return Response(status_code=204)

    @api.get("/scans/{scan_id}/events", summary="Live progress (server-sent events)")
    async def events(scan_id: str, request: Request, key: dict[str, Any] = Depends(caller)) -> Any:
        service.scan(scan_id, key)

        async def stream() -> Any:
            sent = 0
            while True:
                progress = service.progress.get(scan_id)
                if progress is None:  # finished before this process started: say so and stop
                    row = service.scan(scan_id)
                    yield _sse(
                        {"type": row["status"], "grade": row["grade"], "score": row["score"]}
                    )
                    return
                for event in list(progress.events):
                    if event["seq"] > sent:
                        sent = event["seq"]
                        yield _sse(event)
                if progress.done:
                    return
                if await request.is_disconnected():
                    return
                try:
                    await asyncio.wait_for(progress.changed.wait(), timeout=15)
                except TimeoutError:
                    yield ": keep-alive\n\n"

        return StreamingResponse(
            stream(),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
        )

    @api.get("/scans/{scan_id}/report.{fmt}", summary="A report in one format")
    def report(scan_id: str, fmt: str, key: dict[str, Any] = Depends(caller)) -> Response:
        from firebrick.report import render

        if fmt not in REPORT_TYPES:
            raise ServiceError(404, "unknown_format", f"formats: {', '.join(sorted(REPORT_TYPES))}")
        data = render(service.result(scan_id, key), fmt)
        return Response(data, media_type=REPORT_TYPES[fmt])

    @api.get("/diff", summary="Compare two scans")
    def diff(a: str, b: str, key: dict[str, Any] = Depends(caller)) -> Any:
        from firebrick.diff import diff as compare

        d = compare(service.result(a, key), service.result(b, key))
        return {
            "a": a,
            "b": b,
            "score_delta": d.score_delta,
            "grade": [d.grade_a, d.grade_b],
            "new": [f.to_dict() for f in d.new],
            "resolved": [f.to_dict() for f in d.resolved],
            "not_compared": [f.to_dict() for f in d.not_compared_resolved + d.not_compared_new],
            "changed": [
                {"fingerprint": y.fingerprint, "from": x.severity.value, "to": y.severity.value}
                for x, y in d.changed
            ],
            "categories": [
                {"category": c.category, "a": c.score_a, "b": c.score_b, "delta": c.delta}
                for c in d.categories
            ],
        }

    @api.post("/monitors", status_code=201, summary="Create a monitor")
    def create_monitor(body: MonitorRequest, key: dict[str, Any] = Depends(caller)) -> Any:
        return JSONResponse(
            service.create_monitor(key, body.model_dump(exclude_none=True)), status_code=201
        )

    @api.get("/monitors")
    def list_monitors(key: dict[str, Any] = Depends(caller)) -> Any:
        return {"monitors": service.monitors(key)}

    @api.get("/monitors/{monitor_id}")
    def get_monitor(monitor_id: str, key: dict[str, Any] = Depends(caller)) -> Any:
        return service.monitor(monitor_id, key)

    @api.delete("/monitors/{monitor_id}", status_code=204)
    def delete_monitor(monitor_id: str, key: dict[str, Any] = Depends(caller)) -> Response:
        service.delete_monitor(monitor_id, key)
        return Response(status_code=204)

    @api.post("/webhooks", status_code=201, summary="Create a webhook (its secret is shown once)")
    def create_webhook(body: WebhookRequest, key: dict[str, Any] = Depends(caller)) -> Any:
        hook, secret = service.create_webhook(key, body.model_dump())
        return JSONResponse({**hook, "secret": secret}, status_code=201)

    @api.get("/webhooks")
    def list_webhooks(key: dict[str, Any] = Depends(caller)) -> Any:
        return {"webhooks": service.webhooks_list(key)}

    @api.delete("/webhooks/{webhook_id}", status_code=204)
    def delete_webhook(webhook_id: str, key: dict[str, Any] = Depends(caller)) -> Response:
        service.delete_webhook(webhook_id, key)
        return Response(status_code=204)

    @api.get("/webhooks/{webhook_id}/deliveries", summary="The delivery log")
    def deliveries(webhook_id: str, key: dict[str, Any] = Depends(caller)) -> Any:
        return {"deliveries": service.deliveries(webhook_id, key=key)}

    @api.get("/keys")
    def list_keys(key: dict[str, Any] = Depends(admin)) -> Any:
        return {"keys": service.list_keys()}

    @api.post("/keys", status_code=201, summary="Create a key (shown once, stored hashed)")
    def create_key(body: KeyRequest, key: dict[str, Any] = Depends(admin)) -> Any:
        record, secret = service.create_key(body.name, admin=body.admin)
        return JSONResponse({**record, "key": secret}, status_code=201)

    @api.delete("/keys/{key_id}", status_code=204)
    def revoke_key(key_id: str, key: dict[str, Any] = Depends(admin)) -> Response:
        service.revoke_key(key_id)
        return Response(status_code=204)

    @api.get("/me")
    def me(key: dict[str, Any] = Depends(caller)) -> Any:
        return service._public_key(key)

    return api


def _links(scan_id: str) -> dict[str, str]:
    base = f"/api/v1/scans/{scan_id}"
    return {
        "self": base,
        "events": f"{base}/events",
        "report": f"{base}/report.json",
        "dashboard": f"/scans/{scan_id}",
    }


def _sse(event: dict[str, Any]) -> str:
    return f"event: {event.get('type', 'message')}\ndata: {json.dumps(event, default=str)}\n\n"

"""`firebrick mcp`: the scanner as a Model Context Protocol server for coding assistants.

Tools: scan_api, get_scan, list_scans, explain_finding, compare_scans, scan_source. Resources:
each stored scan's JSON and Markdown report (``firebrick://scans/{id}/report.json|.md``). Every
tool calls the same engine, source analysis and store as the CLI; none reimplements a scan.

Transports: stdio (default; the assistant starts us, the user's own machine, no target policy),
and streamable HTTP bound to loopback only, with Host/Origin validation against DNS rebinding, a
bearer token, and the target policy (no internal targets unless the operator allows a network).
"""

from __future__ import annotations

import asyncio
import hmac
import ipaddress
import json
import secrets
import socket
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

from mcp.server.fastmcp import Context, FastMCP
from mcp.server.fastmcp.exceptions import ToolError
from mcp.server.transport_security import TransportSecuritySettings

from firebrick.errors import FirebrickError
from firebrick.model import Finding, ScanResult
from firebrick.target_policy import TargetPolicy

MAX_FINDINGS_LISTED = 50  # a tool answer stays small; get_scan/resources have the rest
LOOPBACK_HOSTS = ["127.0.0.1:*", "localhost:*", "[::1]:*"]
LOOPBACK_ORIGINS = ["http://127.0.0.1:*", "http://localhost:*", "http://[::1]:*"]


def _finding_line(index: int, f: Finding) -> dict[str, Any]:
    out: dict[str, Any] = {
        "index": index,
        "fingerprint": f.fingerprint,
        "kind": f.kind,
        "category": f.category,
        "severity": f.severity.value,
        "confidence": f.confidence.value,
        "title": f.title,
        "operation": f.operation,
        "input": f.input,
    }
    if f.source is not None:
        out["source"] = f"{f.source.file}:{f.source.line}"
    return out


def summarize(result: ScanResult, scan_id: int | str | None) -> dict[str, Any]:
    """What an assistant needs to act: grade, score, coverage, the findings in one line each."""
    doc = result.to_dict()
    counts: dict[str, int] = {}
    for f in result.findings:
        counts[f.severity.value] = counts.get(f.severity.value, 0) + 1
    return {
        "scan_id": scan_id,
        "target": result.target,
        "mode": result.mode,
        "grade": result.grade,
        "score": result.score,
        "grade_status": doc.get("grade_status"),
        "complete": result.complete,
        "coverage": doc.get("coverage_summary"),
        "categories": {
            c.category: c.score for c in result.categories if c.assessed and c.score is not None
        },
        "findings_by_severity": counts,
        "findings": [
            _finding_line(i, f) for i, f in enumerate(result.findings[:MAX_FINDINGS_LISTED], 1)
        ],
        "findings_not_listed": max(0, len(result.findings) - MAX_FINDINGS_LISTED),
        "warnings": list(result.warnings[:20]),
        "requests_sent": result.stats.requests_sent,
        "duration_s": result.stats.duration_s,
    }


ScanId = int | str  # local scans are numbered; a server's scans have hex ids


def scan_options(request: dict[str, Any]) -> Any:
    """Validated ScanOptions for a scan_api request (FirebrickError with one line otherwise)."""
    from firebrick.options import load_options

    overrides = {k: v for k, v in request.items() if k != "url"}
    options = load_options({**overrides, "target": request["url"]})
    options.validate()
    return options


class LocalBackend:
    """Scans run here (the engine) and are kept in the local history store (the default)."""

    def __init__(self, store_path: str | None = None, policy: TargetPolicy | None = None) -> None:
        self.store_path = store_path
        self.policy = policy

    def _store(self) -> Any:
        from firebrick.store import Store

        return Store(Path(self.store_path) if self.store_path else None)

    async def scan(
        self, request: dict[str, Any], progress: Callable[[str], None]
    ) -> tuple[ScanId, ScanResult]:
        from firebrick.engine import run_scan

        # For a remote caller every connection is pinned to what the policy allowed.
        result = await run_scan(scan_options(request), progress=progress, target_policy=self.policy)
        try:
            scan_id = await asyncio.to_thread(self._store().save, result)
        except FirebrickError as exc:
            raise ToolError(f"scan finished but could not be stored: {exc}") from None
        return scan_id, result

    async def load(self, scan_id: ScanId) -> tuple[ScanId, ScanResult]:
        if not str(scan_id).isdigit():
            raise ToolError(f"not a scan id: {scan_id!r} (local scans are numbered)")
        return int(scan_id), self._store().get(int(scan_id))

    async def list(self, target: str | None, limit: int) -> list[dict[str, Any]]:
        return [s.to_dict() for s in self._store().list(target=target, limit=limit)]


class RemoteBackend:
    """Scans run on a `firebrick serve` (``--server URL --api-key KEY``) and are kept there."""

    def __init__(self, server: str, api_key: str) -> None:
        from firebrick.server.client import ServerClient

        self.client = ServerClient(server, api_key)

    async def scan(
        self, request: dict[str, Any], progress: Callable[[str], None]
    ) -> tuple[ScanId, ScanResult]:
        spec = request.get("spec")
        if spec and not str(spec).startswith(("http://", "https://")):
            raise ToolError("spec must be a URL the firebrick server can fetch (not a local file)")
        body = {k: v for k, v in request.items() if k != "spec" and v not in (None, [], {})}
        if spec:
            body["spec_url"] = spec
        return await self.client.run(body, progress)

    async def load(self, scan_id: ScanId) -> tuple[ScanId, ScanResult]:
        return str(scan_id), await self.client.result(str(scan_id))

    async def list(self, target: str | None, limit: int) -> list[dict[str, Any]]:
        return await self.client.scans(target=target, limit=limit)


def build_server(
    *,
    store_path: str | None = None,
    policy: TargetPolicy | None = None,
    source_root: str | None = None,
    remote: bool = False,
    port: int = 0,
    backend: LocalBackend | RemoteBackend | None = None,
) -> Any:
    """The FastMCP server. ``remote``: callers are not the local user (HTTP): the target policy
    applies and source paths must lie under ``source_root``. ``backend``: where scans run and
    are kept (default: here, in the local store; RemoteBackend: a `firebrick serve`)."""
    scans = backend if backend is not None else LocalBackend(store_path, policy)

    server = FastMCP(
        "firebrick",
        instructions=(
            "firebrick scans a running HTTP API (black box) and grades it A-F with findings, "
            "evidence and Flask fixes; its depth is SSRF and DNS. Use scan_api on a URL the user "
            "owns, then explain_finding for the evidence and the fix, compare_scans after a fix."
        ),
        host="127.0.0.1",
        port=port,
        transport_security=TransportSecuritySettings(
            enable_dns_rebinding_protection=True,
            allowed_hosts=LOOPBACK_HOSTS,
            allowed_origins=LOOPBACK_ORIGINS,
        ),
    )

    async def load(scan_id: ScanId) -> tuple[ScanId, ScanResult]:
        try:
            return await scans.load(scan_id)
        except FirebrickError as exc:
            raise ToolError(str(exc)) from None

    @server.tool()
    async def scan_api(
        url: str,
        ctx: Context,  # type: ignore[type-arg]  # FastMCP injects it
        spec: str | None = None,
        mode: Literal["safe", "passive", "full"] = "safe",
        checks: list[str] | None = None,
        headers: dict[str, str] | None = None,
        identities: dict[str, dict[str, str]] | None = None,
        rate: float = 10.0,
        max_time: float = 120.0,
    ) -> dict[str, Any]:
        """Scan the HTTP API at `url` and store the result. Returns grade, score, coverage and the
        findings in one line each (use explain_finding for evidence and the fix).

        spec: an OpenAPI document URL or path; mode: safe (default, changes nothing), passive,
        or full (writes, staging only); checks: only these checks or categories; headers:
        sent on every request (e.g. {"Authorization": "Bearer ..."}); identities: name -> headers
        for cross-identity tests; rate: requests per second; max_time: seconds.
        """
        request: dict[str, Any] = {
            "url": url,
            "spec": spec,
            "mode": mode,
            "checks": list(checks or []),
            "headers": dict(headers or {}),
            "identities": {k: dict(v) for k, v in (identities or {}).items()},
            "rate": rate,
            "max_time": max_time,
        }
        try:
            options = scan_options(request)  # bad input is refused here, whichever backend
            if policy is not None:
                await asyncio.to_thread(policy.check, options.target)
        except FirebrickError as exc:
            raise ToolError(str(exc)) from None

        steps = 0
        pending: set[asyncio.Task[None]] = set()

        def progress(message: str) -> None:
            nonlocal steps
            steps += 1
            task = asyncio.ensure_future(ctx.report_progress(steps, None, message))
            pending.add(task)
            task.add_done_callback(pending.discard)

        try:
            scan_id, result = await scans.scan(request, progress)
        except FirebrickError as exc:
            raise ToolError(str(exc)) from None
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)
        return summarize(result, scan_id)

    @server.tool()
    async def get_scan(scan_id: ScanId) -> dict[str, Any]:
        """A stored scan: grade, score, coverage, warnings and its findings in one line each."""
        scan_id, result = await load(scan_id)
        return summarize(result, scan_id)

    @server.tool()
    async def list_scans(target: str | None = None, limit: int = 20) -> list[dict[str, Any]]:
        """Stored scans, newest first (optionally of one target)."""
        if not 1 <= limit <= 500:
            raise ToolError("limit must be between 1 and 500")
        try:
            return await scans.list(target, limit)
        except FirebrickError as exc:
            raise ToolError(str(exc)) from None

    @server.tool()
    async def explain_finding(scan_id: ScanId, finding: str) -> dict[str, Any]:
        """One finding of a stored scan, by its 1-based index or its fingerprint: what it is,
        the evidence, a curl line that replays it, and the Flask fix (Markdown)."""
        from firebrick import remediation

        scan_id, result = await load(scan_id)
        every = [*result.findings, *result.source_findings]
        chosen = None
        if finding.isdigit() and 1 <= int(finding) <= len(every):
            chosen = every[int(finding) - 1]
        else:
            chosen = next((f for f in every if f.fingerprint == finding), None)
        if chosen is None:
            raise ToolError(
                f"scan {scan_id} has no finding {finding!r}: give an index 1-{len(every)} or a "
                "fingerprint from get_scan"
            )
        ev = chosen.evidence
        return {
            **_finding_line(every.index(chosen) + 1, chosen),
            "description": chosen.description,
            "evidence": ev.summary,
            "payloads_worked": ev.payloads_worked[:20],
            "payloads_refused": ev.payloads_failed[:20],
            "replay": [x.curl for x in ev.exchanges[:3]],
            "out_of_band": [
                f"{i.protocol} from {i.source_ip}"
                + (f" {i.dns_qtype} {i.dns_qname}" if i.dns_qname else "")
                + (f" {i.http_method} {i.http_path}" if i.http_path else "")
                for i in ev.interactions[:10]
            ],
            "source": chosen.source.to_dict() if chosen.source else None,
            "fix": chosen.remediation or remediation.render(chosen),
            "references": chosen.references,
        }

    @server.tool()
    async def compare_scans(old_scan_id: ScanId, new_scan_id: ScanId) -> dict[str, Any]:
        """What changed between two stored scans: new and resolved findings, severity or
        confidence drift, score and per-category movement."""
        from firebrick.diff import diff

        old_scan_id, old = await load(old_scan_id)
        new_scan_id, new = await load(new_scan_id)
        d = diff(old, new)
        return {
            "old": {"scan_id": old_scan_id, "grade": d.grade_a, "score": d.score_a},
            "new": {"scan_id": new_scan_id, "grade": d.grade_b, "score": d.score_b},
            "score_delta": d.score_delta,
            "new_findings": [_finding_line(i, f) for i, f in enumerate(d.new, 1)],
            "resolved_findings": [_finding_line(i, f) for i, f in enumerate(d.resolved, 1)],
            # in one scan only, in a category the other did not assess: unknown, not resolved
            "not_compared": len(d.not_compared_resolved) + len(d.not_compared_new),
            "changed": [
                {
                    "fingerprint": b.fingerprint,
                    "title": b.title,
                    "from": f"{a.severity.value}/{a.confidence.value}",
                    "to": f"{b.severity.value}/{b.confidence.value}",
                }
                for a, b in d.changed
            ],
            "unchanged": len(d.unchanged),
            "categories": {
                c.category: {"old": c.score_a, "new": c.score_b, "delta": c.delta}
                for c in d.categories
                if c.score_a is not None or c.score_b is not None
            },
        }

    @server.tool()
    async def scan_source(path: str) -> dict[str, Any]:
        """Analyse a Flask project's source at `path` (no import, no execution): SSRF with its
        guard depth, open redirects, services called by configured names over plain HTTP."""
        from firebrick.cli_code import source_result
        from firebrick.source import analyze

        target = Path(path).expanduser().resolve()
        if remote:
            root = Path(source_root).resolve() if source_root else None
            if root is None or not target.is_relative_to(root):
                raise ToolError(
                    "scan_source over HTTP reads only under the server's --source-root"
                    + (f" ({root})" if root else " (none was given)")
                )
        if not target.exists():
            raise ToolError(f"source path not found: {path}")
        analysis = await asyncio.to_thread(analyze, target)
        result = source_result(str(target), analysis)
        return {
            **summarize(result, None),
            "source": analysis.summary(),
            "findings_detail": [
                {**_finding_line(i, f), "description": f.description}
                for i, f in enumerate(result.findings[:MAX_FINDINGS_LISTED], 1)
            ],
        }

    @server.resource(
        "firebrick://scans/{scan_id}/report.json",
        name="scan-report-json",
        mime_type="application/json",
    )
    async def report_json(scan_id: str) -> str:
        """A stored scan's full JSON report (docs/json-report.md)."""
        _, result = await load(scan_id)
        return json.dumps(result.to_dict(), default=str)

    @server.resource(
        "firebrick://scans/{scan_id}/report.md",
        name="scan-report-markdown",
        mime_type="text/markdown",
    )
    async def report_markdown(scan_id: str) -> str:
        """A stored scan's Markdown report."""
        from firebrick.report import render

        _, result = await load(scan_id)
        out = render(result, "markdown")
        return out.decode() if isinstance(out, bytes) else out

    return server


class BearerToken:
    """ASGI middleware: every request needs ``Authorization: Bearer <token>`` (constant time)."""

    def __init__(self, app: Any, token: str) -> None:
        self.app = app
        self.expected = f"Bearer {token}".encode()

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            given = dict(scope.get("headers") or []).get(b"authorization", b"")
            if not hmac.compare_digest(given, self.expected):
                body = b'{"error": "unauthorized", "detail": "a bearer token is required"}'
                await send(
                    {
                        "type": "http.response.start",
                        "status": 401,
                        "headers": [
                            (b"content-type", b"application/json"),
                            (b"www-authenticate", b"Bearer"),
                        ],
                    }
                )
                await send({"type": "http.response.body", "body": body})
                return
        await self.app(scope, receive, send)


def check_loopback(host: str) -> None:
    try:
        ok = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        ok = False
    if not ok:
        from firebrick.errors import UsageError

        raise UsageError(
            f"--host {host!r}: the MCP HTTP transport binds loopback only (127.0.0.1, ::1)"
        )


async def serve_http(server: Any, host: str, port: int, token: str) -> None:
    """Streamable HTTP on a loopback socket we bind ourselves (so port 0 works)."""
    import uvicorn

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(128)
    bound = sock.getsockname()[1]
    app = BearerToken(server.streamable_http_app(), token)
    config = uvicorn.Config(app, log_level="warning", lifespan="on")
    uv = uvicorn.Server(config)
    where = f"[{host}]" if ":" in host else host
    print(f"firebrick mcp: listening on http://{where}:{bound}/mcp", file=sys.stderr, flush=True)
    await uv.serve(sockets=[sock])


def new_token() -> str:
    return secrets.token_urlsafe(32)

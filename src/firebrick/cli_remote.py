"""`firebrick scan URL --server URL --api-key KEY`: the scan runs on a `firebrick serve`
instance; progress, reports, the local history store and the exit code are the CLI's own, exactly
as for a local scan (cli.run_and_report). See docs/cli.md "Scanning on a server".
"""

from __future__ import annotations

import asyncio
import re
from typing import Any

from firebrick.errors import UsageError
from firebrick.model import ScanResult

# What POST /api/v1/scans takes; every other scan option is the server's to set.
REMOTE_OPTIONS = {"headers", "identities", "checks", "rate", "max_time", "mode", "spec"}
FLAG_NAMES = {
    "login_users": "--login-user",
    "cleanup": "--cleanup/--no-cleanup",
    "no_oob": "--no-oob",
}


def refuse_local_only(kw: dict[str, Any], *, launch: str | None, port: int | None) -> None:
    """UsageError (exit 3, one line) for options that cannot travel to the server."""
    given = [
        FLAG_NAMES.get(name, "--" + name.replace("_", "-"))
        for name, value in kw.items()
        if name not in REMOTE_OPTIONS and value not in (None, (), [], False)
    ]
    if launch is not None:
        given.insert(0, "--launch")
    if port is not None:
        given.insert(0, "--port")
    if given:
        raise UsageError(
            f"{', '.join(sorted(given))} cannot be used with --server: the server scans with its "
            "own settings (it takes the URL, a spec URL, --mode, -H, --identity, --check, --rate "
            "and --max-time)"
        )
    spec = kw.get("spec")
    if spec and not str(spec).startswith(("http://", "https://")):
        raise UsageError(
            f"--spec {spec!r} is a local file: with --server give a URL the server can fetch"
        )


def scan_on_server(
    url: str | None,
    server: str,
    api_key: str | None,
    source_path: str | None,
    launch: str | None,
    launch_port: int | None,
    kw: dict[str, Any],
    out: Any,
) -> None:
    """Validate everything locally, then submit, follow and report (exits like `scan`)."""
    from firebrick.cli import _load_baseline, build_options, check_outputs, run_and_report
    from firebrick.server.client import (
        ServerClient,
        ServerUnavailable,
        check_api_key,
        check_server_url,
        remote_request,
    )

    check_server_url(server)
    key = check_api_key(api_key)
    refuse_local_only(kw, launch=launch, port=launch_port)
    if url is None:
        raise UsageError("give the URL to scan")
    rate, max_time = kw.get("rate"), kw.get("max_time")
    options = build_options(url, kw)  # the same validation as a local scan (exit 3)
    request = remote_request(options, rate=rate, max_time=max_time)
    analysis = None
    if source_path is not None:  # joined locally to the server's result
        from firebrick.cli_code import load_analysis

        analysis = load_analysis(source_path)

    # Before the progress display starts: outputs writable, then the key, the URL and the
    # server's verdict on the target (401, 422 target_refused...) are one line each.
    if out.baseline:
        _load_baseline(out.baseline, out.store_path)
    check_outputs(out, not out.no_store)

    async def submit() -> str:
        async with ServerClient(server, key) as client:
            await client.me()
            scan = await client.submit(request)
            return str(scan["id"])

    scan_id = asyncio.run(submit())

    async def start(progress: Any) -> ScanResult:
        from firebrick.interrupt import INTERRUPT

        async with ServerClient(server, key) as client:
            progress(f"queued as scan {scan_id} on {client.base_url}")
            follow = asyncio.ensure_future(client.follow(scan_id, _relay(progress, scan_id)))
            stop = asyncio.ensure_future(INTERRUPT.watch().wait())
            await asyncio.wait({follow, stop}, return_when=asyncio.FIRST_COMPLETED)
            stop.cancel()
            if not follow.done():  # Ctrl-C: stop watching; the server finishes the scan
                follow.cancel()
                raise ServerUnavailable(
                    f"interrupted: scan {scan_id} goes on on the server "
                    f"(GET {client.base_url}/api/v1/scans/{scan_id})"
                )
            record = follow.result()
            if record.get("status") != "done":
                reason = record.get("error") or record.get("status") or "unknown"
                raise ServerUnavailable(f"the server could not finish scan {scan_id}: {reason}")
            result = await client.result(scan_id)
        _show_totals(progress, result)
        if analysis is not None:
            from firebrick.source.join import attach

            attach(result, analysis)
        return result

    run_and_report(start, out, default_fail_on="high", store_by_default=True)


def _relay(progress: Any, scan_id: str) -> Any:
    """The server's events into the local progress display (its messages are the engine's)."""
    state = getattr(progress, "state", None)
    checks: list[str] = []

    def on_event(event: dict[str, Any]) -> None:
        kind, message = event.get("type"), str(event.get("message") or "")
        if kind == "started":
            progress(f"scan {scan_id} started on the server")
        elif kind == "progress" and message:
            found = re.match(r"found (\d+) operations; running (\d+) checks", message)
            if state is not None and found:  # the display counts work like a local scan's
                state.start_checks(int(found.group(2)), int(found.group(1)))
            elif state is not None and message.startswith("check "):
                if checks:
                    state.check_finished(checks[-1])
                checks.append(message[6:])
            progress(message)
        elif kind == "done" and state is not None and checks:
            state.check_finished(checks[-1])

    return on_event


class _Sent:
    def __init__(self, sent: int) -> None:
        self.sent = sent


def _show_totals(progress: Any, result: ScanResult) -> None:
    """The display's last line counts the server's requests and findings."""
    state = getattr(progress, "state", None)
    if state is not None:
        state.attach(_Sent(result.stats.requests_sent), None, list(result.findings), 0.0)

"""`firebrick scan URL --server URL --api-key KEY`: the scan runs on a `firebrick serve`
instance; progress, reports, the local history store and the exit code are the CLI's own, exactly
as for a local scan (cli.run_and_report). See docs/cli.md "Scanning on a server".
"""

from __future__ import annotations

import asyncio
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
    from firebrick.cli import build_options, run_and_report
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

    async def start(progress: Any) -> ScanResult:
        from firebrick.interrupt import INTERRUPT

        async with ServerClient(server, key) as client:
            await client.me()  # a wrong URL or key fails here, before anything is queued
            scan = await client.submit(request)
            scan_id = str(scan["id"])
            progress(f"queued as scan {scan_id} on {client.base_url}")

            def on_event(event: dict[str, Any]) -> None:
                if event.get("type") == "progress" and event.get("message"):
                    progress(str(event["message"]))
                elif event.get("type") == "started":
                    progress(f"scan {scan_id} started on the server")

            follow = asyncio.ensure_future(client.follow(scan_id, on_event))
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
        if analysis is not None:
            from firebrick.source.join import attach

            attach(result, analysis)
        return result

    run_and_report(start, out, default_fail_on="high", store_by_default=True)

"""A client of `firebrick serve`'s REST API: submit a scan, follow its server-sent events, fetch
its JSON report as a ScanResult. Used by `firebrick scan --server` and `firebrick mcp --server`.

The API key is a secret: it goes only into the Authorization header, never into a message, and
is scrubbed from whatever the server sends back. Environment proxies are never used
(trust_env=False), like every other connection firebrick makes.

Errors (docs/cli.md): the server refusing (401 bad key, 403, 404, 422 invalid or refused target
with the server's own message, 429) is a ServerRefused (exit 3: fix the command, the key or the
server's policy); a server that cannot be reached, or a scan the server could not finish, is a
ServerUnavailable (exit 2, like an unreachable target: nothing was graded, trying again may work).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from firebrick.errors import FirebrickError, UsageError
from firebrick.model import ScanResult

API = "/api/v1"
READ_TIMEOUT = 60.0  # the event stream sends a keep-alive every 15 s: 60 s of silence is dead
MAX_RECONNECTS = 20  # event stream cut before the scan ended: look again this many times


class ServerRefused(FirebrickError):
    """The server answered with an error (bad key, refused target, quota...)."""


class ServerUnavailable(FirebrickError):
    """The server could not be reached, or could not finish the scan."""

    exit_code = 2


def check_server_url(url: str) -> str:
    """The server's base URL, validated (UsageError otherwise); without a trailing slash."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UsageError(f"--server must be an http(s) URL of a `firebrick serve`, not {url!r}")
    if parts.username or parts.password:
        raise UsageError("--server must not carry credentials: give the key with --api-key")
    if parts.query or parts.fragment:
        raise UsageError("--server takes the service's base URL (no query or fragment)")
    return url.rstrip("/")


def check_api_key(key: str | None) -> str:
    if not key or not key.strip():
        raise UsageError("--server needs an API key: --api-key KEY or env FIREBRICK_API_KEY")
    key = key.strip()
    if any(c in key for c in "\r\n") or not key.isprintable():
        raise UsageError("--api-key has characters a header cannot carry")
    return key


class ServerClient:
    """One `firebrick serve` instance, through one API key (async, httpx)."""

    def __init__(self, base_url: str, api_key: str, *, timeout: float = 30.0) -> None:
        self.base_url = check_server_url(base_url)
        self._key = check_api_key(api_key)
        self.timeout = timeout
        self._client: Any = None

    # -- plumbing --------------------------------------------------------------------------------
    def _http(self) -> Any:
        if self._client is None:
            import httpx

            self._client = httpx.AsyncClient(
                base_url=self.base_url + API,
                headers={"Authorization": f"Bearer {self._key}", "Accept": "application/json"},
                trust_env=False,
                follow_redirects=False,  # a redirect would carry the key elsewhere
                timeout=httpx.Timeout(self.timeout, read=READ_TIMEOUT),
            )
        return self._client

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def __aenter__(self) -> ServerClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def _scrub(self, text: str) -> str:
        return text.replace(self._key, "<redacted>") if self._key else text

    def _unreachable(self, exc: Exception) -> ServerUnavailable:
        reason = self._scrub(str(exc) or type(exc).__name__)
        return ServerUnavailable(f"cannot reach the firebrick server {self.base_url}: {reason}")

    def _refused(self, response: Any) -> FirebrickError:
        status = response.status_code
        code, message = "", ""
        try:
            error = response.json().get("error") or {}
            code, message = str(error.get("code") or ""), str(error.get("message") or "")
        except (ValueError, AttributeError):
            message = response.text[:200].strip()
        if status == 401:
            return ServerRefused(
                f"the firebrick server {self.base_url} refused the API key"
                + (f": {message}" if message else "")
            )
        if status == 429:
            retry = response.headers.get("retry-after")
            hint = f" (retry after {retry} s)" if retry else ""
            return ServerRefused(
                f"the firebrick server says: {message or 'too many requests'}{hint}"
            )
        if status >= 500:
            return ServerUnavailable(
                f"the firebrick server {self.base_url} failed (HTTP {status})"
                + (f": {message}" if message else "")
            )
        label = f" ({code})" if code else f" (HTTP {status})"
        return ServerRefused(self._scrub(f"the firebrick server refused{label}: {message}"))

    async def _request(self, method: str, path: str, **kw: Any) -> Any:
        import httpx

        try:
            response = await self._http().request(method, path, **kw)
        except httpx.HTTPError as exc:
            raise self._unreachable(exc) from None
        if response.status_code >= 400:
            raise self._refused(response)
        if response.status_code in (301, 302, 303, 307, 308):
            raise ServerRefused(
                f"the firebrick server answered with a redirect to "
                f"{response.headers.get('location')!r}: give --server the service's own URL"
            )
        return response

    async def _json(self, method: str, path: str, **kw: Any) -> Any:
        response = await self._request(method, path, **kw)
        try:
            return response.json()
        except ValueError:
            raise ServerRefused(
                f"{self.base_url} is not a firebrick server (no JSON at {API}{path})"
            ) from None

    # -- the API ---------------------------------------------------------------------------------
    async def me(self) -> dict[str, Any]:
        """The calling key (checks the URL and the key before anything else)."""
        data: dict[str, Any] = await self._json("GET", "/me")
        return data

    async def submit(self, request: dict[str, Any]) -> dict[str, Any]:
        data: dict[str, Any] = await self._json("POST", "/scans", json=request)
        if not isinstance(data, dict) or "id" not in data:
            raise ServerRefused(f"{self.base_url} did not queue the scan (no scan id)")
        return data

    async def scan(self, scan_id: str) -> dict[str, Any]:
        data: dict[str, Any] = await self._json("GET", f"/scans/{_id(scan_id)}")
        return data

    async def scans(self, target: str | None = None, limit: int = 50) -> list[dict[str, Any]]:
        params: dict[str, Any] = {"limit": limit}
        if target:
            params["target"] = target
        data = await self._json("GET", "/scans", params=params)
        return list(data.get("scans") or [])

    async def result(self, scan_id: str) -> ScanResult:
        """The finished scan's JSON report as a ScanResult."""
        from firebrick.store import result_from_dict

        data = await self._json("GET", f"/scans/{_id(scan_id)}/report.json")
        try:
            return result_from_dict(data)
        except (ValueError, KeyError, TypeError) as exc:
            raise ServerRefused(
                f"the server's report of scan {scan_id} is unreadable: {exc}"
            ) from None

    async def follow(
        self, scan_id: str, on_event: Callable[[dict[str, Any]], None] | None = None
    ) -> dict[str, Any]:
        """Follow the scan's server-sent events until it is done or failed; every event goes to
        ``on_event``. Returns the scan's final record (GET /scans/{id}). A stream cut short is
        reopened (events already seen are skipped by their sequence number)."""
        import httpx

        seen = 0
        for _ in range(MAX_RECONNECTS):
            try:
                async with self._http().stream(
                    "GET",
                    f"/scans/{_id(scan_id)}/events",
                    headers={"Accept": "text/event-stream"},
                ) as response:
                    if response.status_code >= 400:
                        await response.aread()
                        raise self._refused(response)
                    async for event in _events(response.aiter_lines()):
                        seq = int(event.get("seq") or 0)
                        if seq and seq <= seen:
                            continue
                        seen = max(seen, seq)
                        if on_event is not None:
                            on_event(event)
                        if event.get("type") in ("done", "failed"):
                            break
            except httpx.HTTPError as exc:
                raise self._unreachable(exc) from None
            record = await self.scan(scan_id)
            if record.get("status") in ("done", "failed"):
                return record
        raise ServerUnavailable(
            f"lost the event stream of scan {scan_id} on {self.base_url} (it may still finish: "
            f"GET {API}/scans/{scan_id})"
        )

    async def run(
        self, request: dict[str, Any], progress: Callable[[str], None] | None = None
    ) -> tuple[str, ScanResult]:
        """Submit, follow to the end with progress messages, fetch the result: (scan id, result)."""
        say = progress or (lambda _message: None)
        scan = await self.submit(request)
        scan_id = str(scan["id"])
        say(f"queued as scan {scan_id} on {self.base_url}")

        def on_event(event: dict[str, Any]) -> None:
            kind = event.get("type")
            if kind == "progress" and event.get("message"):
                say(str(event["message"]))
            elif kind == "started":
                say(f"scan {scan_id} started on the server")

        record = await self.follow(scan_id, on_event)
        if record.get("status") != "done":
            reason = record.get("error") or record.get("status") or "unknown"
            raise ServerUnavailable(f"the server could not finish scan {scan_id}: {reason}")
        return scan_id, await self.result(scan_id)


def _id(scan_id: str) -> str:
    """A scan id goes into a path: ids are short hex, anything else is refused here."""
    text = str(scan_id)
    if not text or not all(c.isalnum() or c in "-_" for c in text) or len(text) > 64:
        raise UsageError(f"not a scan id: {text!r}")
    return text


async def _events(lines: Any) -> Any:
    """Server-sent events (text/event-stream) as dicts: the JSON ``data`` with its ``type``."""
    kind = "message"
    data: list[str] = []
    async for line in lines:
        if not line:  # a blank line ends an event
            if data:
                try:
                    event = json.loads("\n".join(data))
                except ValueError:
                    event = {"message": "\n".join(data)}
                if isinstance(event, dict):
                    event.setdefault("type", kind)
                    yield event
            kind, data = "message", []
        elif line.startswith(":"):  # a comment: keep-alive
            continue
        elif line.startswith("event:"):
            kind = line[6:].strip()
        elif line.startswith("data:"):
            data.append(line[5:].lstrip())


def remote_request(options: Any, *, rate: float | None, max_time: float | None) -> dict[str, Any]:
    """The POST /scans body for a scan's options: only what the server takes. ``rate`` and
    ``max_time`` are sent only when the user gave them (the server's defaults apply otherwise)."""
    request: dict[str, Any] = {"url": options.target, "mode": options.mode}
    if options.spec:
        request["spec_url"] = options.spec
    if options.headers:
        request["headers"] = dict(options.headers)
    if options.identities:
        request["identities"] = {k: dict(v) for k, v in options.identities.items()}
    if options.checks:
        request["checks"] = list(options.checks)
    if rate is not None:
        request["rate"] = rate
    if max_time is not None:
        request["max_time"] = max_time
    return request

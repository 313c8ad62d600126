"""RemoteOOB: a scan's view of a shared ``firebrick oob-server`` (its HTTPS client API).

It satisfies ``OOBEndpoint`` like the local ``OOBServer``, so checks never know which they use.
``start`` registers the scan (one namespace per scan: ``<token>.<ns>.<zone>`` names and
``/<ns>/<token>`` paths), then a background task mirrors the scan's events (server-sent events,
or long-poll) into a local book: ``interactions``, ``outstanding``, ``dns_queries``,
``behavior_reports`` and ``wait_for`` read that book and never block on the network.

``set_redirect`` and ``set_behavior`` are synchronous in the interface and must be in force
before the check sends the payload that triggers them, so they are one blocking HTTPS request
each (bounded by ``timeout``): a few per fetching input, never per payload.

The API key is sent only in the Authorization header of requests to the API; it never appears
in ``repr``, errors, URLs or anything a report shows.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import ssl
from collections import deque
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

import httpx

from firebrick.errors import FirebrickError
from firebrick.model import Exchange, Interaction
from firebrick.oob.dns_listener import QueryInfo
from firebrick.oob.endpoint import CAPABILITIES, EndpointBase
from firebrick.oob.server import OOBConfig

log = logging.getLogger("firebrick.oob.client")

MAX_INTERACTIONS = 10000  # the local book, like OOBServer's default
MAX_EVENTS_PER_RESPONSE = 1000  # the API's page size (oob/api.py)
POLL_WAIT = 25.0  # seconds one long-poll may hang at the server
RECONNECT_MAX = 5.0

# What a missing capability means for the verdicts (shown once per scan as a warning).
CONSEQUENCES: dict[str, str] = {
    "inside": "internal reach of a blind fetcher is judged by differential answers (likely), "
    "not proven by a callback to the target's loopback",
    "https": "no https: callback, so TLS verification of fetchers is not tested",
    "dns": "no DNS names: DNS-only lookups, poisoned names and resolver hygiene are not tested",
    "rebinding": "DNS rebinding bypasses are not tested",
    "redirect": "redirect bypasses of SSRF guards are not tested",
    "behavior": "unsafe consumption (stall, huge body, script) is not tested",
    "dns-queries": "resolver hygiene (ports, txids, 0x20) is not measured",
    "dnssec": "DNSSEC validation of the target's resolver is not tested",
}


class OOBRemoteError(FirebrickError):
    """The remote OOB service cannot be used (unreachable, TLS, refused key, bad answer)."""


def validate_server_url(url: str) -> str:
    """The API base URL without a trailing slash; OOBRemoteError for anything but https://host."""
    try:
        parts = urlsplit(url.strip())
        parts.port  # noqa: B018 - raises on a bad port
    except ValueError:
        raise OOBRemoteError("invalid --oob-server URL: expected https://host[:port]") from None
    if parts.scheme != "https" or not parts.hostname:
        raise OOBRemoteError(
            "invalid --oob-server URL: expected https://host[:port] (the API is HTTPS only)"
        )
    if parts.username is not None or parts.password is not None:
        raise OOBRemoteError(
            "--oob-server must not carry credentials in the URL: give the key with --oob-key "
            "or FIREBRICK_OOB_KEY"
        )
    return f"https://{parts.netloc}{parts.path.rstrip('/')}"


def tls_context(ca_file: str | None) -> ssl.SSLContext:
    """Verify the API against ``ca_file`` (a PEM bundle or the server's own certificate), else
    against the system's CAs. Never unverified: the key travels over this connection."""
    try:
        return ssl.create_default_context(cafile=ca_file)
    except (OSError, ssl.SSLError) as exc:
        raise OOBRemoteError(f"cannot load --oob-ca {ca_file}: {exc}") from None


class RemoteOOB(EndpointBase):
    """One scan's registration at a remote OOB service (see the module docstring)."""

    _what = "RemoteOOB"
    _no_https = "the remote OOB server has no HTTPS listener"

    def __init__(
        self,
        url: str,
        key: str,
        *,
        ca_file: str | None = None,
        label: str = "",
        transport: str = "sse",
        timeout: float = 10.0,
    ) -> None:
        if transport not in ("sse", "poll"):
            raise ValueError("transport must be 'sse' or 'poll'")
        if not key:
            raise OOBRemoteError("--oob-server needs a key: --oob-key or FIREBRICK_OOB_KEY")
        super().__init__(MAX_INTERACTIONS)
        self.url = validate_server_url(url)
        self._key = key
        self._ssl = tls_context(ca_file)
        self.label = label[:100]
        self.transport = transport
        self.timeout = timeout
        # Filled from the registration.
        self.scan_id = ""
        self.namespace = ""
        self.zone = ""
        self.server_zone = ""
        self.advertise_host = ""
        self.http_port = 0
        self.https_port: int | None = None
        self.dns_port: int | None = None
        self.inside_port: int | None = None  # a shared host is never on the target's loopback
        self.tls_fingerprint: str | None = None
        self.retention: dict[str, Any] = {}
        self.config = OOBConfig(https_port=None, dns_port=None)
        self._capabilities: frozenset[str] = frozenset()
        # The local book (the rest of it: EndpointBase).
        self._queries: deque[QueryInfo] = deque(maxlen=MAX_INTERACTIONS)
        self._seq = 0
        self.missed = 0  # events the server dropped before we read them (cap or age)
        self.lost: str | None = None  # why the event feed ended early, if it did
        self.connected = asyncio.Event()  # set once the event feed has reached the server
        self._client: httpx.AsyncClient | None = None
        self._sync: httpx.Client | None = None
        self._feed: asyncio.Task[None] | None = None

    def __repr__(self) -> str:
        return f"RemoteOOB({self.url!r}, scan={self.scan_id or '-'}, namespace={self.namespace or '-'})"

    @property
    def capabilities(self) -> frozenset[str]:
        return self._capabilities

    def unavailable(self) -> list[str]:
        """One line per capability the remote service lacks, with what that costs the scan."""
        return [
            f"{name}: {CONSEQUENCES.get(name, CAPABILITIES[name])}"
            for name in CAPABILITIES
            if name not in self._capabilities
        ]

    # -- lifecycle -------------------------------------------------------------------------

    @property
    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self._key}", "User-Agent": "firebrick-oob-client"}

    async def start(self) -> None:
        if self._started:
            raise RuntimeError("RemoteOOB already started")
        self._client = httpx.AsyncClient(
            verify=self._ssl, headers=self._headers, timeout=self.timeout, trust_env=False
        )
        try:
            response = await self._call("POST", "/v1/scans", json={"label": self.label})
            info = response.json()
            self._adopt(info)
        except BaseException:
            await self._client.aclose()
            self._client = None
            raise
        self._sync = httpx.Client(
            verify=self._ssl, headers=self._headers, timeout=self.timeout, trust_env=False
        )
        self._started = True
        self._feed = asyncio.create_task(
            self._sse_feed() if self.transport == "sse" else self._poll_feed()
        )

    def _adopt(self, info: dict[str, Any]) -> None:
        try:
            self.scan_id = str(info["scan"])
            self.namespace = str(info["namespace"])
            self.server_zone = str(info["zone"])
            self.zone = str(info.get("scan_zone") or f"{self.namespace}.{self.server_zone}")
            self.advertise_host = str(info["advertise"])
            self.http_port = int(info["http_port"])
            self.https_port = int(info["https_port"]) if info.get("https_port") else None
            self.dns_port = int(info["dns_port"]) if info.get("dns_port") else None
        except (KeyError, TypeError, ValueError) as exc:
            raise OOBRemoteError(
                f"the OOB server's registration answer is malformed: {exc}"
            ) from None
        self.tls_fingerprint = info.get("callback_tls_sha256")
        self.retention = dict(info.get("retention") or {})
        caps = {str(c) for c in info.get("capabilities") or []} & set(CAPABILITIES)
        caps.discard("inside")
        self._capabilities = frozenset(caps)
        self.config = OOBConfig(
            listen_host=self.advertise_host,
            http_port=self.http_port,
            https_port=self.https_port,
            dns_port=self.dns_port,
            zone=self.zone,
            advertise_host=self.advertise_host,
            inside_host=None,
            dnssec="dnssec" in caps,
            dnssec_anchored=bool(info.get("dnssec_anchored")),
        )

    async def stop(self) -> None:
        """Stop the feed and deregister (the server forgets the scan's events and answers)."""
        if self._feed is not None:
            self._feed.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._feed
            self._feed = None
        if self._client is not None:
            if self.scan_id:
                with contextlib.suppress(httpx.HTTPError, OOBRemoteError):
                    await self._call("DELETE", f"/v1/scans/{self.scan_id}", ok=(204, 404))
            await self._client.aclose()
            self._client = None
        if self._sync is not None:
            self._sync.close()
            self._sync = None
        self._release_waiters()
        self._started = False

    async def __aenter__(self) -> RemoteOOB:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def _call(
        self, method: str, path: str, *, ok: tuple[int, ...] = (200, 201, 204), **kw: Any
    ) -> httpx.Response:
        assert self._client is not None
        try:
            response = await self._client.request(method, self.url + path, **kw)
        except httpx.HTTPError as exc:
            raise self._transport_error(exc) from None
        self._check(response, ok)
        return response

    def _transport_error(self, exc: Exception) -> OOBRemoteError:
        text = str(exc) or type(exc).__name__
        if "CERTIFICATE_VERIFY_FAILED" in text or "certificate verify failed" in text:
            return OOBRemoteError(
                f"TLS verification of the OOB server {self.url} failed: pass its certificate "
                "or CA with --oob-ca PATH"
            )
        return OOBRemoteError(f"cannot reach the OOB server {self.url}: {text}")

    def _check(self, response: httpx.Response, ok: tuple[int, ...]) -> None:
        if response.status_code in ok:
            return
        if response.status_code == 401:
            raise OOBRemoteError(
                f"the OOB server {self.url} refused the key (--oob-key / FIREBRICK_OOB_KEY)"
            )
        try:
            message = str(response.json().get("error", ""))
        except ValueError:
            message = response.text[:200]
        raise OOBRemoteError(
            f"the OOB server {self.url} answered {response.status_code}: {message}".rstrip(": ")
        )

    # -- the event feed --------------------------------------------------------------------

    async def _sse_feed(self) -> None:
        assert self._client is not None
        backoff = 0.2
        path = f"{self.url}/v1/scans/{self.scan_id}/stream"
        timeout = httpx.Timeout(self.timeout, read=POLL_WAIT * 2)
        while True:
            try:
                headers = {"Last-Event-ID": str(self._seq), "Accept": "text/event-stream"}
                async with self._client.stream(
                    "GET", path, headers=headers, timeout=timeout
                ) as response:
                    if response.status_code == 404:
                        self._end("the OOB server no longer knows this scan (expired?)")
                        return
                    if response.status_code != 200:
                        await response.aread()  # _check reads the error body
                    self._check(response, (200,))
                    self.connected.set()
                    backoff = 0.2
                    if await self._read_sse(response):
                        self._end("the OOB server ended the scan's event stream")
                        return
            except OOBRemoteError as exc:
                self._end(str(exc))
                return
            except httpx.HTTPError as exc:
                log.info("OOB event stream interrupted (%s); reconnecting", exc)
            await asyncio.sleep(backoff)  # reconnect backoff, not a wait for an event
            backoff = min(RECONNECT_MAX, backoff * 2)

    async def _read_sse(self, response: httpx.Response) -> bool:
        """Apply events until the stream closes; True when the server sent ``end``."""
        kind, data = "message", list[str]()
        async for line in response.aiter_lines():
            if not line:
                if data and kind == "end":
                    return True
                if data:
                    with contextlib.suppress(ValueError):
                        self._apply_event(_loads("\n".join(data)))
                kind, data = "message", []
            elif line.startswith(":"):
                continue
            else:
                field, _, value = line.partition(":")
                value = value[1:] if value.startswith(" ") else value
                if field == "event":
                    kind = value
                elif field == "data":
                    data.append(value)
        return False

    async def _poll_feed(self) -> None:
        backoff = 0.2
        timeout = httpx.Timeout(self.timeout, read=POLL_WAIT + self.timeout)
        while True:
            try:
                response = await self._call(
                    "GET",
                    f"/v1/scans/{self.scan_id}/events",
                    params={"after": self._seq, "wait": POLL_WAIT},
                    timeout=timeout,
                    ok=(200, 404),
                )
                if response.status_code == 404:
                    self._end("the OOB server no longer knows this scan (expired?)")
                    return
                self.connected.set()
                backoff = 0.2
                for event in response.json().get("events", []):
                    self._apply_event(event)
            except OOBRemoteError as exc:
                if "refused the key" in str(exc):
                    self._end(str(exc))
                    return
                log.info("OOB long-poll failed (%s); retrying", exc)
                await asyncio.sleep(backoff)  # retry backoff, not a wait for an event
                backoff = min(RECONNECT_MAX, backoff * 2)

    def _end(self, why: str) -> None:
        self.lost = why
        log.warning("OOB event feed ended: %s", why)
        self._release_waiters()

    def _apply_event(self, event: dict[str, Any]) -> None:
        seq = int(event.get("seq", 0))
        if seq <= self._seq:
            return  # a replay after reconnecting
        if seq > self._seq + 1:
            self.missed += seq - self._seq - 1
        self._seq = seq
        data = event.get("data") or {}
        if event.get("kind") == "interaction":
            self._record_dict(data)
        elif event.get("kind") == "behavior":
            token = str(data.get("token", "")).lower()
            report = data.get("report")
            if token and isinstance(report, dict):
                self._book_behavior(token, report)

    def _record_dict(self, data: dict[str, Any]) -> None:
        known = {f.name for f in dataclasses.fields(Interaction)}
        try:
            interaction = Interaction(**{k: v for k, v in data.items() if k in known})
        except TypeError:
            return
        interaction.token = self._attribute(interaction)
        query = data.get("query")
        if isinstance(query, dict):
            qfields = {f.name for f in dataclasses.fields(QueryInfo)}
            with contextlib.suppress(TypeError):
                info = QueryInfo(**{k: v for k, v in query.items() if k in qfields})
                self._queries.append(dataclasses.replace(info, token=interaction.token))
        self._book(interaction)

    def _attribute(self, interaction: Interaction) -> str | None:
        """Our issued tokens win over the server's guess (it knows none of them)."""
        for text in (interaction.http_path, interaction.http_host, interaction.dns_qname):
            issued = self.resolve_token(text or "")
            if issued is not None:
                return issued
        return interaction.token.lower() if interaction.token else None

    async def settle(self, exchange: Exchange) -> None:
        """Catch up with the server when ``exchange`` carried one of our payloads.

        A synchronous fetcher's callback reached the OOB host before the target answered us,
        but the event feed may still be carrying it: one read of the events after the last one
        seen makes it visible before the check looks (causal order, not a timed wait).
        """
        if not self._started or self._client is None or self.lost is not None:
            return
        carried = (
            exchange.url
            + (exchange.request_body or "")
            + " ".join(exchange.request_headers.values())
        )
        if self.namespace not in carried.lower():
            return
        with contextlib.suppress(OOBRemoteError, httpx.HTTPError, ValueError):
            while True:
                response = await self._call(
                    "GET", f"/v1/scans/{self.scan_id}/events", params={"after": self._seq}
                )
                events = response.json().get("events", [])
                for event in events:
                    self._apply_event(event)
                if len(events) < MAX_EVENTS_PER_RESPONSE:
                    return

    # -- payload forms (the rest: EndpointBase) ---------------------------------------------

    def _path(self, token: str, suffix: str) -> str:
        """``/<namespace>/<token><suffix>``: the server attributes the callback to this scan."""
        return f"/{self.namespace}/{token}{suffix}"

    def inside_url(self, token: str, host: str | None = None, suffix: str = "") -> str:
        raise RuntimeError("a remote OOB server has no inside listener (inside_port is None)")

    # -- per-token answers (blocking: in force before the payload goes out) ----------------

    def _put(self, token: str, what: str, body: dict[str, Any]) -> None:
        self._require_started()
        assert self._sync is not None
        try:
            response = self._sync.put(
                f"{self.url}/v1/scans/{self.scan_id}/tokens/{token.lower()}/{what}", json=body
            )
        except httpx.HTTPError as exc:
            raise self._transport_error(exc) from None
        if response.status_code == 400:
            raise ValueError(response.json().get("error", "refused by the OOB server"))
        self._check(response, (204,))

    def set_redirect(self, token: str, location: str, status: int = 302) -> None:
        self._check_redirect(location, status)
        self._put(token, "redirect", {"location": location, "status": status})

    def set_behavior(
        self, token: str, behavior: str, *, stall: float = 8.0, size: int = 20 * 1024 * 1024
    ) -> None:
        self._check_behavior(behavior)
        self._put(token, "behavior", {"behavior": behavior, "stall": stall, "size": size})

    # -- interactions (the book: EndpointBase) ----------------------------------------------

    async def wait_for(
        self, tokens: Iterable[str], timeout: float, protocols: set[str] | None = None
    ) -> bool:
        # Once the event feed has ended nothing more arrives: answer from the book at once.
        return await super().wait_for(tokens, 0.0 if self.lost is not None else timeout, protocols)

    def dns_queries(self, token: str | None = None) -> list[QueryInfo]:
        return self._of_token(self._queries, token)


def _loads(text: str) -> dict[str, Any]:
    value = json.loads(text)
    if not isinstance(value, dict):
        raise ValueError("event is not an object")
    return value

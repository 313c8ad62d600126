"""ScopedClient: the only way checks and discovery send requests.

It enforces what makes a scan safe to point at someone's API: scope (the target origin only),
a per-host rate limit, a concurrency cap, request budgets per scan and per operation (counted
when a request is sent, not when it is queued), a wall-clock deadline, timeouts, a
response-size cap, 429/Retry-After handling, and redirects followed only inside scope. It
records every exchange so a finding can show its request, a response excerpt and a curl line
that replays it.

The HTTP layer was chosen by measurement (benchmarks/bench_transport.py): requests are *built*
with httpx (URL normalisation, query merging, default headers and the cookie jar, exactly as
before) and *sent* with aiohttp, whose client costs about a tenth of httpx's CPU per request for
our pattern (many small requests to one origin, several in flight). The aiohttp session is
created lazily, on the first send, inside the running event loop.
"""

from __future__ import annotations

import asyncio
import json as jsonlib
import time
import zlib
from collections import Counter
from typing import Any
from urllib.parse import urljoin, urlsplit

import aiohttp
import httpx
from yarl import URL

from firebrick import __version__
from firebrick.errors import BudgetExhausted, OutOfScope
from firebrick.model import Exchange

USER_AGENT = f"firebrick/{__version__} (API security scan)"
EXCERPT_BYTES = 4096
MAX_REDIRECTS = 5
MAX_RETRY_AFTER = 10.0  # seconds we are willing to wait on one 429


def origin_of(url: str) -> tuple[str, str, int]:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    port = parts.port or (443 if scheme == "https" else 80)
    return scheme, (parts.hostname or "").lower(), port


class RateLimiter:
    """Spaces requests to at most ``rate`` per second (one reserved slot per request)."""

    def __init__(self, rate: float) -> None:
        self.interval = 1.0 / rate
        self._next = 0.0
        self._lock = asyncio.Lock()

    async def wait(self) -> None:
        async with self._lock:
            now = time.monotonic()
            slot = max(now, self._next)
            self._next = slot + self.interval
        if slot > now:
            await asyncio.sleep(slot - now)  # the rate limit itself, not a wait for an event

    def slow_down(self) -> None:
        """After a 429: halve the rate for the rest of the scan."""
        self.interval *= 2


class ScopedClient:
    def __init__(
        self,
        base_url: str,
        *,
        headers: dict[str, str] | None = None,
        rate: float = 10.0,
        concurrency: int = 8,
        budget: int = 2000,
        per_operation_budget: int = 200,
        timeout: float = 10.0,
        max_response_bytes: int = 1_048_576,
        deadline: float | None = None,  # time.monotonic() value after which nothing is sent
        extra_origins: list[str] | None = None,
        verify_tls: bool = False,  # a scanner must reach staging hosts with self-signed certs
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.scope = {origin_of(self.base_url)} | {origin_of(o) for o in extra_origins or []}
        self.user_headers = dict(headers or {})
        self.budget = budget
        self.per_operation_budget = per_operation_budget
        self.max_response_bytes = max_response_bytes
        self.deadline = deadline
        self.exchanges: list[Exchange] = []
        self.sent = 0
        self.by_check: Counter[str] = Counter()
        self.by_operation: Counter[str] = Counter()
        # Every answer per operation key: coverage.py tells reached from refused operations.
        self.op_answers: dict[str, list[Exchange]] = {}
        self._limiter = RateLimiter(rate)
        self._slots = asyncio.Semaphore(concurrency)
        self.concurrency = concurrency
        self.timeout = timeout
        self.verify_tls = verify_tls
        # httpx builds requests (and keeps the cookie jar); it never opens a connection.
        self._client = httpx.AsyncClient(
            follow_redirects=False,
            verify=verify_tls,
            timeout=httpx.Timeout(timeout),
            headers={"User-Agent": USER_AGENT},
            trust_env=False,  # never route the scan through an environment proxy by surprise
        )
        self._session: aiohttp.ClientSession | None = None  # the sender, made on first use

    def _sender(self) -> aiohttp.ClientSession:
        if self._session is None:
            connector = aiohttp.TCPConnector(
                limit=self.concurrency,
                limit_per_host=0,
                ssl=self.verify_tls,  # True: the default verification; False: none
                ttl_dns_cache=10,
            )
            self._session = aiohttp.ClientSession(
                connector=connector,
                timeout=aiohttp.ClientTimeout(
                    total=None, sock_connect=self.timeout, sock_read=self.timeout
                ),
                cookie_jar=aiohttp.DummyCookieJar(),  # cookies live in the httpx jar (builder)
                auto_decompress=False,  # raw bytes: the size cap is exact, we decode ourselves
                trust_env=False,
                skip_auto_headers=("Accept", "Accept-Encoding", "User-Agent", "Content-Type"),
            )
        return self._session

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
        await self._client.aclose()

    async def __aenter__(self) -> ScopedClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # -- scope ---------------------------------------------------------------------------------
    def url_for(self, url: str) -> str:
        """Absolute URL for a path (relative to base_url) or an absolute in-scope URL."""
        if "://" not in url:
            url = self.base_url + ("" if url.startswith("/") else "/") + url
        return url

    def in_scope(self, url: str) -> bool:
        return origin_of(url) in self.scope

    @property
    def time_left(self) -> float:
        return float("inf") if self.deadline is None else self.deadline - time.monotonic()

    # -- sending -------------------------------------------------------------------------------
    async def request(
        self,
        method: str,
        url: str,
        *,
        params: dict[str, Any] | list[tuple[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
        json: Any = None,
        data: dict[str, Any] | None = None,
        content: bytes | str | None = None,
        check: str = "discovery",
        op_key: str | None = None,
        follow_redirects: bool = True,
        use_user_headers: bool = True,
    ) -> Exchange:
        """Send one request (plus in-scope redirects); never raises for HTTP or network errors.

        Raises OutOfScope for a URL outside the target origin and BudgetExhausted when the scan's
        budget, the operation's budget or the deadline is spent.
        """
        url = self.url_for(url)
        if not self.in_scope(url):
            raise OutOfScope(f"refusing to send to {url}: outside the scan's scope")
        send_headers = dict(self.user_headers) if use_user_headers else {}
        send_headers.update(headers or {})
        body: bytes | None = None
        if json is not None:
            body = jsonlib.dumps(json).encode()
            send_headers.setdefault("Content-Type", "application/json")
        elif data is not None:
            body = httpx.QueryParams(data).__str__().encode()
            send_headers.setdefault("Content-Type", "application/x-www-form-urlencoded")
        elif content is not None:
            body = content.encode() if isinstance(content, str) else content
        request = self._client.build_request(
            method.upper(), url, params=params, headers=send_headers, content=body
        )
        for _ in range(MAX_REDIRECTS + 1):
            exchange = await self._send(request, check, op_key)
            if not follow_redirects or exchange.status not in (301, 302, 303, 307, 308):
                return exchange
            location = exchange.response_headers.get("location")
            if not location:
                return exchange
            target = urljoin(str(request.url), location)
            if not self.in_scope(target):
                return exchange  # never follow a redirect off scope: the 3xx is the answer
            keep_body = exchange.status in (307, 308)
            request = self._client.build_request(
                request.method if keep_body else "GET",
                target,
                headers={k: v for k, v in request.headers.items() if k.lower() != "content-length"}
                if keep_body
                else send_headers,
                content=request.content if keep_body else None,
            )
        return exchange

    def _precheck(self, op_key: str | None) -> None:
        """Refuse at once what could never be sent (nothing is counted yet)."""
        if self.time_left <= 0:
            raise BudgetExhausted("the scan's time limit (--max-time) is reached")
        if self.sent >= self.budget:
            raise BudgetExhausted(f"the scan's request budget ({self.budget}) is spent")

    def _charge(self, check: str, op_key: str | None) -> None:
        if self.time_left <= 0:
            raise BudgetExhausted("the scan's time limit (--max-time) is reached")
        if self.sent >= self.budget:
            raise BudgetExhausted(f"the scan's request budget ({self.budget}) is spent")
        if op_key is not None and self.by_operation[op_key] >= self.per_operation_budget:
            raise BudgetExhausted(
                f"the request budget of {op_key} ({self.per_operation_budget}) is spent"
            )
        self.sent += 1
        self.by_check[check] += 1
        if op_key is not None:
            self.by_operation[op_key] += 1

    async def _send(self, request: httpx.Request, check: str, op_key: str | None) -> Exchange:
        retried = False
        while True:
            self._precheck(op_key)
            async with self._slots:
                await self._limiter.wait()
                # Counted here, when it is sent: a request still queued behind the rate limit
                # or the concurrency cap when the budget or the time runs out was never sent.
                self._charge(check, op_key)
                exchange = await self._send_once(request)
            self.exchanges.append(exchange)
            if op_key is not None:
                self.op_answers.setdefault(op_key, []).append(exchange)
            if exchange.status != 429 or retried:
                return exchange
            # Honour 429: wait what the server asks (bounded), slow down, retry once.
            self._limiter.slow_down()
            wait = _retry_after(exchange.response_headers.get("retry-after"))
            if wait > min(MAX_RETRY_AFTER, self.time_left):
                return exchange
            await asyncio.sleep(wait)  # the server told us how long; this is that wait
            retried = True

    async def _send_once(self, request: httpx.Request) -> Exchange:
        secrets = self._secret_names  # per call: user headers may change during a scan
        recorded = {k: ("<redacted>" if k in secrets else v) for k, v in request.headers.items()}
        content = request.content
        exchange = Exchange(
            method=request.method,
            url=str(request.url),
            request_headers=recorded,
            request_body=content.decode("utf-8", "replace") if content else None,
        )
        started = time.monotonic()
        cap = self.max_response_bytes
        try:
            async with self._sender().request(
                request.method,
                URL(exchange.url, encoded=True),  # exactly the URL httpx built, not re-quoted
                headers=[
                    (k.decode("latin-1"), v.decode("latin-1")) for k, v in request.headers.raw
                ],
                data=content or None,
                allow_redirects=False,
            ) as response:
                chunks: list[bytes] = []
                size = 0
                while size < cap:
                    chunk = await response.content.read(cap - size)
                    if not chunk:
                        break
                    chunks.append(chunk)
                    size += len(chunk)
                raw = b"".join(chunks)
                headers: dict[str, str] = {}
                for k, v in response.headers.items():
                    k = k.lower()
                    headers[k] = f"{headers[k]}, {v}" if k in headers else v  # as httpx joined
                exchange.status = response.status
                exchange.response_headers = headers
                exchange.response_size = size
                charset = response.charset or "utf-8"
                if "set-cookie" in headers:
                    self._keep_cookies(request, response)
            # Decode ourselves: we read raw bytes to keep the cap exact, so undo content-encoding.
            raw = _decode_content(raw, headers.get("content-encoding", ""), cap)
            try:
                text = raw.decode(charset, "replace")
            except LookupError:
                text = raw.decode("utf-8", "replace")
            exchange.body_text = text
            exchange.response_excerpt = text[:EXCERPT_BYTES]
        except (aiohttp.ClientError, TimeoutError, ValueError, OSError) as exc:
            exchange.status = None
            exchange.error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        exchange.elapsed_ms = round((time.monotonic() - started) * 1000, 1)
        return exchange

    def _keep_cookies(self, request: httpx.Request, response: aiohttp.ClientResponse) -> None:
        """Set-Cookie goes into the httpx jar, which adds it to later requests (as before)."""
        self._client.cookies.extract_cookies(
            httpx.Response(response.status, headers=list(response.raw_headers), request=request)
        )

    @property
    def _secret_names(self) -> set[str]:
        return {k.lower() for k in self.user_headers} | {
            "authorization",
            "cookie",
            "proxy-authorization",
        }


def _retry_after(value: str | None) -> float:
    if not value:
        return 1.0
    try:
        return max(0.0, float(value))
    except ValueError:
        return MAX_RETRY_AFTER + 1  # an HTTP date: treat as "too long to wait"


def _decode_content(raw: bytes, encoding: str, limit: int) -> bytes:
    """Undo gzip/deflate, never producing more than ``limit`` bytes (a decompression bomb is a
    few KiB on the wire)."""
    encoding = encoding.strip().lower()
    try:
        if encoding == "gzip":
            return zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(raw, limit)
        if encoding == "deflate":
            return zlib.decompressobj().decompress(raw, limit)
    except zlib.error:
        return raw
    return raw

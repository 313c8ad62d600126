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
import contextvars
import json as jsonlib
import math
import ssl
import time
import zlib
from collections import Counter
from collections.abc import Awaitable, Callable
from sys import intern
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import urljoin, urlsplit

import aiohttp
import brotli
import httpx
from yarl import URL

from firebrick import __version__
from firebrick.auth.renewal import MAX_RENEWALS, RenewalEvidence
from firebrick.auth.session import Session, no_cookie_jar
from firebrick.errors import BudgetExhausted, OutOfScope, UsageError
from firebrick.model import Exchange
from firebrick.restore import CHECK as RESTORE_CHECK
from firebrick.restore import UNWATCHED_CHECKS, WRITE_METHODS, Caller, Restorer, Watch

if TYPE_CHECKING:
    from firebrick.ledger import WriteLedger
    from firebrick.sideeffects import SendPolicy

USER_AGENT = f"firebrick/{__version__} (API security scan)"
EXCERPT_BYTES = 4096
MAX_REDIRECTS = 5
MAX_RETRY_AFTER = 10.0  # seconds we are willing to wait on one 429
# A body cap other than the scan's for one request (a spec document): request(max_bytes=...).
_BODY_CAP: contextvars.ContextVar[int | None] = contextvars.ContextVar("body_cap", default=None)
SHARED_VALUES = 4096  # distinct short header values kept for sharing (see ScopedClient._share)
SHARED_VALUE_CHARS = 256
MAX_INTERVAL = 2.0  # slowing down after 429s never goes below one request per this many seconds


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
        """After a 429: halve the rate for the rest of the scan (down to a floor: a target that
        answers 429 to everything must not stretch the scan past its deadline)."""
        self.interval = min(self.interval * 2, max(MAX_INTERVAL, self.interval))


def concurrency_for(rate: float, configured: int = 0) -> int:
    """Requests in flight: as configured, else enough to keep ``rate`` up against answers that
    take ~50 ms (rate x 0.05), at least 8 and at most 64. The rate limiter still spaces every
    request; this only lets slow answers overlap."""
    if configured > 0:
        return configured
    return max(8, min(64, math.ceil(rate * 0.05)))


class _BuildOnly(httpx.AsyncBaseTransport):
    """The httpx client's transport: requests are sent with aiohttp (_send_once), never here."""

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        raise RuntimeError("ScopedClient sends with aiohttp; the httpx client only builds")


class CredentialSource(Protocol):
    """What the client asks firebrick.auth for: each identity's current credential headers, and
    a fresh login when they stopped working (firebrick.auth.manager.AuthManager)."""

    def names(self) -> list[str]: ...

    def headers(self, identity: str) -> dict[str, str]: ...

    def generation(self, identity: str) -> int: ...

    async def ensure_fresh(self, identity: str) -> None: ...

    async def refresh(self, identity: str, generation: int) -> bool: ...


def tls_verify(insecure: bool, ca_cert: str | None, default: bool = False) -> ssl.SSLContext | bool:
    """What the transport's TLS verification gets: a context trusting ``ca_cert`` (a staging
    host's private CA), False for --insecure, else ``default``."""
    if ca_cert:
        try:
            return ssl.create_default_context(cafile=ca_cert)
        except (OSError, ssl.SSLError) as exc:
            raise UsageError(f"cannot use --ca-cert {ca_cert}: {exc}") from None
    if insecure:
        return False
    return default


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
        verify_tls: bool | ssl.SSLContext = False,  # staging hosts often have self-signed certs
        proxy: str | None = None,  # an intercepting proxy (Burp, ZAP) every request goes through
        resolver: Any = None,  # an aiohttp resolver, e.g. target_policy.PolicyResolver (serve)
        rate_limiter: Any = None,  # wait()/slow_down(): e.g. a Redis bucket shared by workers
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
        # Set by the engine (sideeffects.py, ledger.py): what may be sent, and the writes sent.
        self.policy: SendPolicy | None = None
        self.ledger: WriteLedger | None = None
        # Full mode (restore.py): snapshots objects before writes, puts them back after.
        self.restorer: Restorer | None = None
        # Safe mode: the writes of one operation go one at a time, so its caps hold exactly.
        self._write_locks: dict[str, asyncio.Lock] = {}
        self._limiter = rate_limiter or RateLimiter(rate)
        self._slots = asyncio.Semaphore(concurrency)
        self._admission = asyncio.Semaphore(max(16, 2 * concurrency))  # see _request_once
        self.concurrency = concurrency
        self.timeout = timeout
        self.verify_tls = verify_tls
        self.proxy = proxy  # only an explicit --proxy; environment proxies are never used
        self.resolver = resolver
        # Identities (firebrick.auth): one cookie jar + CSRF state per identity, None = the scan's
        # own session; credentials come from a CredentialSource set by the engine.
        self.sessions: dict[str | None, Session] = {None: Session()}
        self.credentials: CredentialSource | None = None
        self.default_identity: str | None = None  # who "the user's credentials" are
        self.secrets: set[str] = set()  # values redacted wherever a request is recorded
        # Tokens the scanner forged itself (alg-none, re-signed JWTs): ours, not the user's, and
        # the proof of a finding, so recorded in full even in an Authorization header.
        self.forged: set[str] = set()
        self._op_identity: dict[str, str | None] = {}  # which identity an operation needed
        self._sweeps: dict[str, asyncio.Event] = {}  # operations whose identity is being found
        self._renewal = RenewalEvidence()  # when a 401 means "log in again" (auth/renewal.py)
        self.auth_origins: set[tuple[str, str, int]] = set()  # e.g. an OAuth2 token endpoint
        # httpx builds requests; it never opens a connection. Its own jar stays empty: cookies
        # live in self.sessions, one jar per identity.
        self._client = httpx.AsyncClient(
            follow_redirects=False,
            timeout=httpx.Timeout(timeout),
            # exactly the encodings _decode_content undoes (httpx would add zstd when installed)
            headers={"User-Agent": USER_AGENT, "Accept-Encoding": "gzip, deflate, br"},
            trust_env=False,  # never route the scan through an environment proxy by surprise
            cookies=no_cookie_jar(),
            # httpx only builds requests: a transport that never sends spares the import of
            # httpcore (and trio, when installed) and the loading of a CA bundle at start-up.
            transport=_BuildOnly(),
        )
        self._session: aiohttp.ClientSession | None = None  # the sender, made on first use
        # Awaited with every exchange before the caller sees it (outside the concurrency slot).
        self.after_send: list[Callable[[Exchange], Awaitable[None]]] = []
        self._shared_values: dict[str, str] = {}

    def _sender(self) -> aiohttp.ClientSession:
        if self._session is None:
            connector = aiohttp.TCPConnector(
                limit=self.concurrency,
                limit_per_host=0,
                ssl=self.verify_tls,  # True: the default verification; False: none
                ttl_dns_cache=10,
                resolver=self.resolver,
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
        try:
            return origin_of(url) in self.scope
        except ValueError:  # e.g. a port out of range in a hostile link
            return False

    @property
    def time_left(self) -> float:
        return float("inf") if self.deadline is None else self.deadline - time.monotonic()

    # -- sending -------------------------------------------------------------------------------
    def add_secret(self, value: str | None) -> None:
        """A value (password, token, cookie) never to appear in a recorded request or excerpt."""
        if value and len(value) >= 4:
            self.secrets.add(value)

    def add_forged(self, value: str | None) -> None:
        """A value the scanner made (a forged token) that the record of a request shows."""
        if value and len(value) >= 4:
            self.forged.add(value)

    def _shown(self, value: str) -> bool:
        """True when a secret-named header carries one of our forged tokens and no user secret."""
        return any(t in value for t in self.forged) and self._redact(value) == value

    def session(self, identity: str | None) -> Session:
        return self.sessions.setdefault(identity, Session())

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
        identity: str | None = None,
        apply_credentials: bool = True,
        max_bytes: int | None = None,  # this answer's body cap (a spec document), else the scan's
    ) -> Exchange:
        """Send one request (plus in-scope redirects); never raises for HTTP or network errors.

        ``identity`` sends it as that identity (its current credentials, cookies and CSRF token;
        a fresh login when they are refused with 401, unless the operation is known to refuse
        this identity's live credentials: auth/renewal.py). Without one, a request that uses the
        user's headers goes as the default identity, and when that is refused (401/403) the
        other identities are tried once per operation: every check reaches what some identity
        can reach. ``apply_credentials=False`` keeps the identity's session (cookies, CSRF) but
        adds no credentials: the login flow itself.

        Raises OutOfScope for a URL outside the target origin and BudgetExhausted when the scan's
        budget, the operation's budget or the deadline is spent.
        """
        kwargs: dict[str, Any] = dict(
            params=params,
            headers=headers,
            json=json,
            data=data,
            content=content,
            check=check,
            op_key=op_key,
            follow_redirects=follow_redirects,
            use_user_headers=use_user_headers,
            apply_credentials=apply_credentials,
        )
        if max_bytes is None:
            return await self._dispatch(identity, method, url, kwargs)
        token = _BODY_CAP.set(max_bytes)  # for this request only (its redirects and re-logins)
        try:
            return await self._dispatch(identity, method, url, kwargs)
        finally:
            _BODY_CAP.reset(token)

    async def _dispatch(
        self, identity: str | None, method: str, url: str, kwargs: dict[str, Any]
    ) -> Exchange:
        op_key, use_user_headers = kwargs["op_key"], kwargs["use_user_headers"]
        auto = identity is None and use_user_headers and self.credentials is not None
        memo_key = op_key or urlsplit(self.url_for(url)).path
        if not auto:
            return await self._request_as(identity, memo_key, method, url, **kwargs)
        assert self.credentials is not None
        if memo_key in self._sweeps:  # another request is finding who this operation needs
            await self._sweeps[memo_key].wait()
        who = self._op_identity.get(memo_key, self.default_identity)
        exchange = await self._request_as(who, memo_key, method, url, **kwargs)
        if exchange.status not in (401, 403):
            return exchange
        if memo_key in self._sweeps:  # a sweep started (or ended) while we were sending
            await self._sweeps[memo_key].wait()
            better = self._op_identity.get(memo_key, who)
            if better == who:
                return exchange
            return await self._request_as(better, memo_key, method, url, **kwargs)
        done = self._sweeps[memo_key] = asyncio.Event()
        self._op_identity[memo_key] = who  # tried once: never sweep this operation again
        try:
            for other in self.credentials.names():
                if other == who:
                    continue
                retry = await self._request_as(other, memo_key, method, url, **kwargs)
                if retry.status is not None and retry.status not in (401, 403):
                    self._op_identity[memo_key] = other
                    return retry
        finally:
            done.set()
        return exchange

    async def _request_as(
        self,
        who: str | None,
        memo_key: str,
        method: str,
        url: str,
        *,
        params: dict[str, Any] | list[tuple[str, Any]] | None,
        headers: dict[str, str] | None,
        json: Any,
        data: dict[str, Any] | None,
        content: bytes | str | None,
        check: str,
        op_key: str | None,
        follow_redirects: bool,
        use_user_headers: bool,
        apply_credentials: bool,
    ) -> Exchange:
        watch: Watch | None = None
        if self.restorer is not None and check not in UNWATCHED_CHECKS:
            watch = await self._watch(
                Caller(who, _caller_headers(headers), use_user_headers, apply_credentials),
                method,
                url,
                op_key,
            )
        exchange = await self._request_as_inner(
            who, memo_key, method, url, params=params, headers=headers, json=json, data=data,
            content=content, check=check, op_key=op_key, follow_redirects=follow_redirects,
            use_user_headers=use_user_headers, apply_credentials=apply_credentials,
        )  # fmt: skip
        if watch is not None and self.restorer is not None:
            self.restorer.after_write(watch, exchange)
        return exchange

    async def _request_as_inner(
        self,
        who: str | None,
        memo_key: str,
        method: str,
        url: str,
        *,
        params: dict[str, Any] | list[tuple[str, Any]] | None,
        headers: dict[str, str] | None,
        json: Any,
        data: dict[str, Any] | None,
        content: bytes | str | None,
        check: str,
        op_key: str | None,
        follow_redirects: bool,
        use_user_headers: bool,
        apply_credentials: bool,
    ) -> Exchange:
        creds: dict[str, str] = {}
        generation = 0
        managed = who is not None and apply_credentials and self.credentials is not None
        if managed:
            assert who is not None and self.credentials is not None
            await self.credentials.ensure_fresh(who)
            creds = self.credentials.headers(who)
            generation = self.credentials.generation(who)
        args = (params, headers, json, data, content, check, op_key, follow_redirects)
        exchange = await self._request_once(who, creds, method, url, *args, use_user_headers)
        if not managed or who is None or self.credentials is None:
            return exchange
        evidence = self._renewal
        evidence.record(who, memo_key, generation, exchange.status)
        renewed = False
        for _ in range(MAX_RENEWALS):
            # The credentials expired, were revoked, or were spent by the other requests that
            # waited on the same re-login: log in again (or take the newer ones), send again.
            if exchange.status != 401 or not evidence.worth_renewing(
                who, memo_key, generation, self.credentials.generation(who), renewed
            ):
                break
            if not await self.credentials.refresh(who, generation):
                break
            renewed = True
            creds = self.credentials.headers(who)
            generation = self.credentials.generation(who)
            exchange = await self._request_once(who, creds, method, url, *args, use_user_headers)
            evidence.record(who, memo_key, generation, exchange.status)
        if renewed and exchange.status == 401 and generation == self.credentials.generation(who):
            evidence.refused(who, memo_key, generation)  # refused with fresh credentials
        return exchange

    async def _request_once(
        self,
        who: str | None,
        creds: dict[str, str],
        method: str,
        url: str,
        params: dict[str, Any] | list[tuple[str, Any]] | None,
        headers: dict[str, str] | None,
        json: Any,
        data: dict[str, Any] | None,
        content: bytes | str | None,
        check: str,
        op_key: str | None,
        follow_redirects: bool,
        use_user_headers: bool,
    ) -> Exchange:
        # Admission before anything is built: a check that queues thousands of probes at once
        # holds thousands of waiting coroutines, not thousands of built requests (peak memory).
        # Nothing inside waits on another request (logins happen in _request_as, outside).
        async with self._admission:
            return await self._build_and_send(
                who, creds, method, url, params, headers, json, data, content, check, op_key,
                follow_redirects, use_user_headers,
            )  # fmt: skip

    async def _build_and_send(
        self,
        who: str | None,
        creds: dict[str, str],
        method: str,
        url: str,
        params: dict[str, Any] | list[tuple[str, Any]] | None,
        headers: dict[str, str] | None,
        json: Any,
        data: dict[str, Any] | None,
        content: bytes | str | None,
        check: str,
        op_key: str | None,
        follow_redirects: bool,
        use_user_headers: bool,
    ) -> Exchange:
        url = self.url_for(url)
        if not self.in_scope(url) and not (check == "auth" and origin_of(url) in self.auth_origins):
            raise OutOfScope(f"refusing to send to {url}: outside the scan's scope")
        session = self.session(who)
        send_headers = dict(self.user_headers) if use_user_headers else {}
        if creds:  # the identity's current credentials replace the user's -H ones
            lower = {k.lower() for k in creds}
            send_headers = {k: v for k, v in send_headers.items() if k.lower() not in lower}
            send_headers.update(creds)
        if headers:  # what the caller sets wins (a probe's forged token, say)
            lower = {k.lower() for k in headers}
            send_headers = {k: v for k, v in send_headers.items() if k.lower() not in lower}
            send_headers.update(headers)
        for name, value in session.csrf_headers(method).items():
            if name.lower() not in {k.lower() for k in send_headers}:
                send_headers[name] = value
        body: bytes | None = None
        if json is not None:
            body = jsonlib.dumps(json).encode()
            send_headers.setdefault("Content-Type", "application/json")
        elif data is not None:
            data = session.csrf_form(method, data)
            body = httpx.QueryParams(data).__str__().encode()  # type: ignore[arg-type]
            send_headers.setdefault("Content-Type", "application/x-www-form-urlencoded")
        elif content is not None:
            body = content.encode() if isinstance(content, str) else content
        try:
            request = self._client.build_request(
                method.upper(), url, params=params, headers=send_headers, content=body
            )
        except (httpx.InvalidURL, httpx.UnsupportedProtocol, UnicodeError, ValueError) as exc:
            # a hostile link (NUL byte, bad IDNA, ...) is an unanswered exchange, never a crash
            return Exchange(method=method.upper(), url=url, error=f"{type(exc).__name__}: {exc}")
        for _ in range(MAX_REDIRECTS + 1):
            exchange = await self._send(request, check, op_key, who)
            if not follow_redirects or exchange.status not in (301, 302, 303, 307, 308):
                return exchange
            location = exchange.response_headers.get("location")
            if not location:
                return exchange
            target = urljoin(str(request.url), location)
            if not self.in_scope(target):
                return exchange  # never follow a redirect off scope: the 3xx is the answer
            keep_body = exchange.status in (307, 308)
            hop_headers = (
                {
                    k: v
                    for k, v in request.headers.items()
                    if k.lower() not in ("content-length", "cookie")
                }
                if keep_body
                else {k: v for k, v in send_headers.items() if k.lower() != "cookie"}
            )
            try:
                request = self._client.build_request(
                    request.method if keep_body else "GET",
                    target,
                    headers=hop_headers,
                    content=request.content if keep_body else None,
                )
            except (httpx.InvalidURL, httpx.UnsupportedProtocol, UnicodeError, ValueError):
                return exchange  # an unusable Location: the 3xx is the answer
        return exchange

    def _precheck(self, op_key: str | None, check: str = "") -> None:
        """Refuse at once what could never be sent (nothing is counted yet)."""
        if self.time_left <= 0:
            raise BudgetExhausted("the scan's time limit (--max-time) is reached")
        if self.sent >= self.budget and check != RESTORE_CHECK:
            raise BudgetExhausted(f"the scan's request budget ({self.budget}) is spent")

    def _charge(self, check: str, op_key: str | None) -> None:
        if self.time_left <= 0:
            raise BudgetExhausted("the scan's time limit (--max-time) is reached")
        # Putting the target back is not held back by the budget (restore.py bounds it).
        if self.sent >= self.budget and check != RESTORE_CHECK:
            raise BudgetExhausted(f"the scan's request budget ({self.budget}) is spent")
        if op_key is not None and self.by_operation[op_key] >= self.per_operation_budget:
            raise BudgetExhausted(
                f"the request budget of {op_key} ({self.per_operation_budget}) is spent"
            )
        self.sent += 1
        self.by_check[check] += 1
        if op_key is not None:
            self.by_operation[op_key] += 1

    async def _send(
        self, request: httpx.Request, check: str, op_key: str | None, who: str | None = None
    ) -> Exchange:
        key = None
        if self.policy is not None and check != "cleanup":
            key = self.policy.capped_key(request.method, str(request.url), op_key)
        if key is None:
            return await self._send_checked(request, check, op_key, who)
        async with self._write_locks.setdefault(key, asyncio.Lock()):
            return await self._send_checked(request, check, op_key, who)

    async def _send_checked(
        self, request: httpx.Request, check: str, op_key: str | None, who: str | None
    ) -> Exchange:
        refused = self._refuse(request, check, op_key)
        if refused is not None:
            return refused
        retried = False
        while True:
            self._precheck(op_key, check)
            async with self._slots:
                await self._limiter.wait()
                if self.time_left <= 0:  # the rate limit's wait ran into the deadline
                    raise BudgetExhausted("the scan's time limit (--max-time) is reached")
                # Counted here, when it is sent: a request still queued behind the rate limit
                # or the concurrency cap when the budget or the time runs out was never sent.
                self._charge(check, op_key)
                exchange = await self._send_once(request, who)
            for hook in self.after_send:  # e.g. a remote OOB server catching up (engine)
                await hook(exchange)
            self.exchanges.append(exchange)
            if op_key is not None:
                self.op_answers.setdefault(op_key, []).append(exchange)
            await self._note_write(exchange, check, op_key, who)
            if exchange.status != 429 or retried:
                return exchange
            # Honour 429: wait what the server asks (bounded), slow down, retry once.
            self._limiter.slow_down()
            wait = _retry_after(exchange.response_headers.get("retry-after"))
            if wait > min(MAX_RETRY_AFTER, self.time_left):
                return exchange
            await asyncio.sleep(wait)  # the server told us how long; this is that wait
            retried = True

    async def _send_once(self, request: httpx.Request, who: str | None = None) -> Exchange:
        session = self.session(who)
        session.apply(request)  # this identity's cookies
        secrets = self._secret_names  # per call: user headers may change during a scan
        recorded = {  # names interned, values shared: thousands of exchanges, one copy of each
            intern(k): (
                "<redacted>"
                if k in secrets and not self._shown(v)
                else self._share(self._redact(v))
            )
            for k, v in request.headers.items()
        }
        content = request.content
        exchange = Exchange(
            method=request.method,
            url=str(request.url),
            request_headers=recorded,
            request_body=self._redact(content.decode("utf-8", "replace")) if content else None,
            identity=who,
        )
        cookie_response: httpx.Response | None = None
        started = time.monotonic()
        cap = _BODY_CAP.get() or self.max_response_bytes
        # --timeout bounds the whole exchange (connect, headers, body), not just inactivity: a
        # body dripped a byte a second never resets it. Nor does any request outlive the deadline.
        limit = max(0.001, min(self.timeout, self.time_left))
        chunks: list[bytes] = []
        size = 0
        try:
            async with (
                asyncio.timeout(limit),
                self._sender().request(
                    request.method,
                    URL(exchange.url, encoded=True),  # exactly the URL httpx built, not re-quoted
                    headers=[
                        (k.decode("latin-1"), v.decode("latin-1")) for k, v in request.headers.raw
                    ],
                    data=content or None,
                    allow_redirects=False,
                    proxy=self.proxy,
                ) as response,
            ):
                headers: dict[str, str] = {}
                for k, v in response.headers.items():
                    k = intern(k.lower())
                    headers[k] = f"{headers[k]}, {v}" if k in headers else self._share(v)
                exchange.status = response.status
                exchange.response_headers = headers
                exchange.response_size = size
                charset = response.charset or "utf-8"
                # the identity's session keeps the cookies and reads CSRF tokens below
                cookie_response = httpx.Response(
                    response.status, headers=list(response.raw_headers), request=request
                )
                try:
                    while size < cap:
                        chunk = await response.content.read(cap - size)
                        if not chunk:
                            break
                        chunks.append(chunk)
                        size += len(chunk)
                finally:
                    exchange.response_size = size
        except TimeoutError:
            # what arrived (status, headers, part of the body) is kept; the exchange says it was cut
            exchange.error = f"TotalTimeout: no complete answer within {limit:.1f}s (--timeout)"
        except (aiohttp.ClientError, ValueError, OSError, UnicodeError) as exc:
            # a hostile answer (huge or malformed headers, bad encodings) is a failed exchange
            exchange.status = None
            exchange.error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        if exchange.status is not None:
            raw = b"".join(chunks)
            # Decode ourselves: we read raw bytes to keep the cap exact, so undo content-encoding.
            raw = _decode_content(raw, headers.get("content-encoding", ""), cap)
            try:
                text = raw.decode(charset, "replace")
            except LookupError:
                text = raw.decode("utf-8", "replace")
            exchange.body_text = text
            exchange.response_excerpt = self._redact(text[:EXCERPT_BYTES])
            if cookie_response is not None:
                session.absorb(cookie_response, text)
        exchange.elapsed_ms = round((time.monotonic() - started) * 1000, 1)
        return exchange

    def _share(self, value: str) -> str:
        """One copy of a short header value that many exchanges carry (User-Agent, Host,
        Content-Type, Server): 15,000 exchanges hold 15,000 references, not 15,000 strings."""
        if len(value) > SHARED_VALUE_CHARS:
            return value
        shared = self._shared_values.get(value)
        if shared is not None:
            return shared
        if len(self._shared_values) < SHARED_VALUES:
            self._shared_values[value] = value
        return value

    def _redact(self, text: str) -> str:
        for secret in self.secrets:
            if secret in text:
                text = text.replace(secret, "<redacted>")
        return text

    def _refuse(self, request: httpx.Request, check: str, op_key: str | None) -> Exchange | None:
        """An unsent Exchange (error = the reason) when the send policy refuses this request."""
        if self.policy is None:
            return None
        url = str(request.url)
        reason = self.policy.request_verdict(request.method, url, check, op_key)
        return None if reason is None else Exchange(method=request.method, url=url, error=reason)

    async def _note_write(
        self, exchange: Exchange, check: str, op_key: str | None, who: str | None
    ) -> None:
        if self.ledger is None:
            return
        entry = self.ledger.record(exchange, check, op_key)
        if entry is None:
            return
        # A 200 with a new id from a POST on a collection: read the item back before calling it
        # created (a chat completion or a search answer carries an id too).
        listing = self.ledger.item_reads.get(op_key or "", (None, None, None))[2]
        earlier = self.op_answers.get(listing, []) if listing else []
        target = self.ledger.confirm_target(entry, exchange, earlier)
        if target is not None:
            path, item_key, value = target
            read = await self.request(
                "GET", path, check="ledger", op_key=item_key, identity=who, follow_redirects=False
            )
            self.ledger.confirm(entry, path, read, value)
        if self.policy is not None:
            self.policy.note_write(
                exchange.method, exchange.url, op_key, bool(entry.created), exchange.status
            )

    # -- restoring what full mode changes (restore.py) ----------------------------------------
    def start_restoring(self) -> Restorer:
        """Full mode: snapshot every object a check writes to, so that it can be put back."""
        self.restorer = Restorer(
            self._restore_send, self._default_caller, self._caller_key, self._annotate
        )
        return self.restorer

    def _annotate(self, exchange: Exchange, note: str) -> None:
        if self.ledger is not None:
            self.ledger.annotate(exchange, note)

    def _default_caller(self) -> Caller:
        """The scan's own credentials: the user's -H headers, as the default identity."""
        return Caller(self.default_identity, ())

    def _caller_key(self, caller: Caller) -> tuple[Any, ...]:
        """Whose view of an object a request gets: the identity, or the credentials it carries."""
        if caller.who is not None and caller.apply_credentials and self.credentials is not None:
            return (caller.who,)
        sent = (
            {k.lower(): v for k, v in self.user_headers.items()} if caller.use_user_headers else {}
        )
        sent.update((k.lower(), v) for k, v in caller.headers)
        names = self._secret_names
        return (caller.who, tuple(sorted((k, v) for k, v in sent.items() if k in names)))

    async def _watch(
        self, caller: Caller, method: str, url: str, op_key: str | None
    ) -> Watch | None:
        method = method.upper()
        if self.restorer is None or method not in WRITE_METHODS:
            return None
        absolute = self.url_for(url)
        if not self.in_scope(absolute):
            return None  # refused below
        path = urlsplit(absolute).path or "/"
        if (
            method == "DELETE"
            and self.policy is not None
            and not any(r.matches("DELETE", path) for r in self.policy.include)
        ):
            return None  # never sent unless --include names it (sideeffects.py)
        self._precheck(op_key)  # no snapshot for a write the budget refuses anyway
        return await self.restorer.before_write(caller, method, path)

    async def _restore_send(self, caller: Caller, method: str, path: str, body: Any) -> Exchange:
        return await self._request_as_inner(
            caller.who, path, method, path, params=None, headers=caller.header_dict or None,
            json=body, data=None, content=None, check=RESTORE_CHECK, op_key=None,
            follow_redirects=False, use_user_headers=caller.use_user_headers,
            apply_credentials=caller.apply_credentials,
        )  # fmt: skip

    @property
    def _secret_names(self) -> set[str]:
        names = {k.lower() for k in self.user_headers} | {
            "authorization",
            "cookie",
            "proxy-authorization",
            "x-csrftoken",
            "x-xsrf-token",
            "x-csrf-token",
        }
        if self.credentials is not None:
            for who in self.credentials.names():
                names |= {k.lower() for k in self.credentials.headers(who)}
        return names


def _caller_headers(headers: dict[str, str] | None) -> tuple[tuple[str, str], ...]:
    """The headers a snapshot read repeats from a write: all but the body's."""
    skip = ("content-type", "content-length")
    return tuple((k, v) for k, v in (headers or {}).items() if k.lower() not in skip)


def _retry_after(value: str | None) -> float:
    if not value:
        return 1.0
    try:
        return max(0.0, float(value))
    except ValueError:
        return MAX_RETRY_AFTER + 1  # an HTTP date: treat as "too long to wait"


def _decode_content(raw: bytes, encoding: str, limit: int) -> bytes:
    """Undo gzip/deflate/br, never producing more than ``limit`` bytes (a decompression bomb is a
    few KiB on the wire)."""
    encoding = encoding.strip().lower()
    try:
        if encoding == "gzip":
            return zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(raw, limit)
        if encoding == "deflate":
            return zlib.decompressobj().decompress(raw, limit)
        if encoding == "br":
            return brotli.Decompressor().process(raw, output_buffer_limit=limit)[:limit]
    except (zlib.error, brotli.error):
        return raw
    return raw

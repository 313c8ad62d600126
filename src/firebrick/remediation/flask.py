"""Flask fixes as data: one entry per finding kind, a fallback per category, and a generic text.

Each entry is the "why" (one or two sentences) and the fix (Markdown). Entries with
``safe_fetch=True`` get the shared safe-fetch section appended by the renderer: the ssrfguard
client with its deny-table additions and the standard-library fetcher, embedded from
``firebrick/remediation/snippets/``. A hostname-string check is never offered as a fix: it does
not survive DNS rebinding or a poisoned cache.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Fix:
    title: str
    why: str
    fix: str
    safe_fetch: bool = False  # append the shared SSRF safe-fetch section


# Kept short and testable: tests/test_judge.py executes this block against a loopback server.
SSRFGUARD_POLICY = '''\
from ipaddress import ip_network

from ssrfguard import DEFAULT_DENIED, AddressTable, Block, Policy, Reach, SSRFGuardError
from ssrfguard.httpx import Client

# ssrfguard does not decode IPv4-translated addresses (::ffff:0:a.b.c.d) and does not list the
# Azure wire server: add both to its deny table.
DENIED = AddressTable(
    (
        *DEFAULT_DENIED.blocks,
        Block(ip_network("::ffff:0:0:0/96"), "IPv4-translated", "RFC 2765", Reach.DENIED),
        Block(ip_network("168.63.129.16/32"), "Azure wire server", "Azure", Reach.DENIED),
    )
)
# http/https only, ports 80/443, no userinfo, every redirect hop re-checked (max 5).
POLICY = Policy(denied_networks=DENIED)
MAX_BYTES = 1_000_000


def fetch(url: str) -> bytes:
    """Fetch an untrusted URL: one lookup, every answer checked, connect to what was checked."""
    # trust_env=False: a proxy would resolve the name itself, out of the guard's reach.
    with Client(policy=POLICY, timeout=3.0, follow_redirects=True, trust_env=False) as client:
        with client.stream("GET", url) as response:
            body = b""
            for chunk in response.iter_bytes():
                body += chunk
                if len(body) > MAX_BYTES:
                    raise ValueError("response too large")
            return body
'''

SAFE_FETCH_INTRO = """\
#### The fix that holds against DNS rebinding and poisoned names

Checking the URL text, or resolving the name and then letting the HTTP client resolve it again,
is not a fix: the answer can change between the two lookups (rebinding) or be internal from the
start (a poisoned cache, an attacker's own record). The fetcher must resolve once, refuse the name
if **any** answer is not a global address (after unwrapping IPv4-mapped, IPv4-translated, NAT64,
6to4 and Teredo forms), connect to the address it checked, and check every redirect hop again.

Use [ssrfguard](https://pypi.org/project/ssrfguard/) (`pip install "ssrfguard[httpx]"`), which
connects to the address it validated, with two additions to its deny table:

```python
{policy}```

In the Flask view, turn a refusal into a 400 and never return the fetched body of an error:

```python
@app.post("/api/fetch")
def fetch_view():
    try:
        body = fetch(request.get_json()["url"])
    except SSRFGuardError:
        return {"error": "url not allowed"}, 400
    return {"size": len(body)}
```
"""

SNIPPET_SECTIONS: tuple[tuple[str, str, str], ...] = (
    (
        "safe_fetch_ssrfguard.py",
        "A complete Flask example with ssrfguard",
        "",
    ),
    (
        "safe_fetch_stdlib.py",
        "Standard library only (for teams that cannot add a dependency)",
        "It resolves once with `getaddrinfo`, refuses any non-global answer with a complete "
        "classifier, connects to the checked IP (Host header and TLS SNI/verification keep the "
        "original name), and re-validates each redirect hop itself.",
    ),
)

DEFENCE_IN_DEPTH = """\
#### Defence in depth

- Block egress from the app to internal ranges at the network layer (security group, firewall)
  and to `169.254.169.254` / `fd00:ec2::254`; on AWS require IMDSv2 with a hop limit of 1.
- If the feature only needs a few partners, allowlist their host names *and* still use the
  fetcher above.
"""

KINDS: dict[str, Fix] = {
    "ssrf.internal-read": Fix(
        "Server-side request forgery: internal content returned",
        "This endpoint fetched a URL we chose and returned what an internal address served "
        "(an internal service or a cloud metadata endpoint). An attacker reads credentials from "
        "`169.254.169.254` or talks to admin APIs that trust the internal network.",
        "Fetch user-supplied URLs only through a fetcher that refuses internal addresses "
        "*after resolution* and connects to the address it checked (below). Do not echo a "
        "fetched body back to the caller unless the feature needs it; return a summary instead.",
        safe_fetch=True,
    ),
    "ssrf.internal-reach": Fix(
        "Server-side request forgery: internal addresses reachable (blind)",
        "This endpoint connected to an internal address we supplied, even though it did not "
        "return the content. Blind SSRF still lets an attacker scan the internal network, hit "
        "state-changing internal endpoints and reach metadata services.",
        "Refuse every non-global destination in the fetcher itself, by resolved address, and "
        "connect to the address you checked (below).",
        safe_fetch=True,
    ),
    "ssrf.url-validation-bypass": Fix(
        "SSRF guard bypassed with an alternative address spelling",
        "The guard refuses the literal `127.0.0.1` but accepts spellings that the URL parser or "
        "resolver turns into the same address (`2130706433`, `0x7f000001`, `0177.0.0.1`, "
        "`127.1`, `[::ffff:127.0.0.1]`, ...). A text or regex blocklist cannot enumerate them.",
        "Stop classifying the host **text**. Resolve it and classify every resulting IP address "
        "(`getaddrinfo` decodes these spellings), or refuse non-canonical literals outright; "
        "ssrfguard does both, and then connects to the checked address (below).",
        safe_fetch=True,
    ),
    "ssrf.dns-resolved-internal": Fix(
        "SSRF guard checks the URL text, not the resolved address",
        "The guard accepted a host name that resolves to an internal address. This is exactly "
        "what DNS cache poisoning or an attacker-controlled DNS record exploits: the name looks "
        "harmless and the address it points to is not.",
        "Validate the **resolved** addresses, all of them, and connect to the one you validated; "
        "never decide on the name (below).",
        safe_fetch=True,
    ),
    "ssrf.dns-rebinding": Fix(
        "SSRF guard defeated by DNS rebinding (check-then-resolve-again)",
        "The guard resolves the name and checks the address, then the HTTP client resolves the "
        "name a second time. With DNS rebinding (TTL 0) the second answer is internal: a "
        "time-of-check to time-of-use gap that no amount of checking the first answer can close.",
        "Resolve once and **connect to the address you checked** (pinning), keeping the original "
        "name for the Host header and TLS verification. Resolving twice and comparing is not a "
        "fix. ssrfguard pins at the connection seam; the standard-library version connects to "
        "the checked IP (below).",
        safe_fetch=True,
    ),
    "ssrf.redirect-to-internal": Fix(
        "SSRF via redirect to an internal address",
        "The first URL passes the guard, but the client follows its `30x` to an internal "
        "address without checking the new hop. `requests` follows redirects by default; "
        "`httpx` does with `follow_redirects=True`.",
        "Either do not follow redirects (`allow_redirects=False` / `follow_redirects=False`), or "
        "re-validate **every** hop by resolved address with a small hop limit. ssrfguard counts "
        "and re-checks each hop; the standard-library version follows at most 3, re-validating "
        "each (below).",
        safe_fetch=True,
    ),
    "ssrf.scheme": Fix(
        "URL fetcher accepts dangerous schemes",
        "The fetcher honours schemes other than http(s) (`file:`, `dict:`, `gopher:`, `ftp:` ...). "
        "`file:` reads local files such as `/etc/passwd` or the app's secrets (critical); "
        "`gopher:` and `dict:` let an attacker speak raw protocols to internal services.",
        "Allow only `http` and `https`, compared on the parsed, lower-cased scheme "
        "(`urllib.parse.urlsplit(url).scheme`), and never pass user input to "
        "`urllib.request.urlopen` (it opens `file:` URLs) or to pycurl without "
        "`CURLOPT_PROTOCOLS`. ssrfguard's policy allows http/https only by construction (below).",
        safe_fetch=True,
    ),
    "ssrf.external-fetch": Fix(
        "Endpoint fetches attacker-supplied URLs",
        "The endpoint requested a URL we control, so it fetches whatever a caller names. Whether "
        "internal addresses are reachable was not determined; treat it as SSRF until a guard "
        "proves otherwise.",
        "If the feature only needs known partners, allowlist them. In every case fetch through a "
        "guard that refuses internal addresses by resolved address and pins the connection "
        "(below).",
        safe_fetch=True,
    ),
    "ssrf.dns-lookup-only": Fix(
        "Input resolved as a host name (no connection seen)",
        "The target resolved a host name we supplied but did not connect to it. That can be "
        "egress filtering, a deferred job that fetches later, or a harmless lookup (logging, "
        "link previews); on its own it proves little.",
        "Find where this input is resolved. If anything fetches it (now or in a background "
        "job), route that fetch through the guard below; if nothing needs to, do not resolve "
        "user-supplied names at all (lookups leak data to the name's owner via DNS).",
        safe_fetch=True,
    ),
    "open-redirect": Fix(
        "Open redirect",
        "The endpoint redirects to a target taken from the request. Attackers use it for "
        "phishing links under your domain, to steal OAuth codes via `redirect_uri`, and to "
        "walk a server-side fetcher that trusts your host into an internal address.",
        """\
Redirect only to relative paths on your own site (reject `//host`, backslashes and any scheme),
or to an explicit allowlist, and fall back to a known page:

```python
from urllib.parse import urlsplit

from flask import redirect, request, url_for

ALLOWED_HOSTS = {"www.example.com"}  # only if you must redirect off-site


def safe_redirect_target(target: str | None) -> str:
    fallback = url_for("index")
    if not target or target != target.strip():
        return fallback
    # Browsers read a backslash as "/" and drop control characters, so both go off-site.
    if "\\\\" in target or any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in target):
        return fallback
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        ok = parts.scheme == "https" and parts.hostname in ALLOWED_HOSTS and not parts.username
        return target if ok else fallback
    if not target.startswith("/") or target.startswith("//"):
        return fallback
    return target


@app.get("/login/done")
def login_done():
    return redirect(safe_redirect_target(request.args.get("next")))
```

Prefer passing an endpoint name and building the URL with `url_for(...)` over accepting a URL.
""",
    ),
}

CATEGORIES: dict[str, Fix] = {
    "ssrf": Fix(
        "Server-side request forgery",
        "The endpoint makes requests to destinations a caller controls, which can reach "
        "internal services and cloud metadata.",
        "Fetch user-supplied URLs only through a fetcher that validates resolved addresses and "
        "connects to the address it validated (below).",
        safe_fetch=True,
    ),
    "authentication": Fix(
        "Authentication weakness",
        "The endpoint serves data or actions without verifying who is calling, or accepts "
        "credentials it should refuse.",
        "Require authentication on every view by default (a `before_request` hook that rejects "
        "unauthenticated requests, with an explicit allowlist of public endpoints); verify "
        "tokens' signature, expiry, audience and algorithm (never `none`); compare secrets with "
        "`hmac.compare_digest`.",
    ),
    "bola": Fix(
        "Broken object-level authorization",
        "A caller can read or change another user's object by changing its id.",
        "Load objects through a query scoped to the caller, e.g. "
        "`Order.query.filter_by(id=order_id, owner_id=g.user.id).first_or_404()`, in every view "
        "that takes an id; return 404, not 403, for objects the caller does not own.",
    ),
    "bfla": Fix(
        "Broken function-level authorization",
        "A regular caller can invoke an administrative function.",
        "Enforce roles in the view (a decorator such as `@require_role('admin')` that aborts "
        "with 403), deny by default, and keep admin routes in a blueprint whose "
        "`before_request` checks the role.",
    ),
    "property_authorization": Fix(
        "Broken object property-level authorization",
        "The API returns or accepts properties the caller should not see or set (mass "
        "assignment, over-exposed fields).",
        "Serialize responses and parse request bodies through explicit schemas (marshmallow, "
        "pydantic) that list allowed fields per role; never `obj.__dict__.update(request.json)`.",
    ),
    "input_validation": Fix(
        "Input validation",
        "The endpoint processes input it should have rejected, which leads to injection or "
        "errors that leak internals.",
        "Validate every input against a schema (type, length, format) before use, use "
        "parameterized queries, and return a generic 400 without stack traces "
        "(`app.config['PROPAGATE_EXCEPTIONS'] = False`, debug off).",
    ),
    "rate_limiting": Fix(
        "Missing rate limiting",
        "The endpoint accepts unlimited requests, enabling brute force and resource exhaustion.",
        "Add per-client limits (e.g. Flask-Limiter: `@limiter.limit('10/minute')` on "
        "authentication and expensive endpoints), cap request body size with "
        "`MAX_CONTENT_LENGTH`, and answer 429 with `Retry-After`.",
    ),
    "data_exposure": Fix(
        "Sensitive data exposure",
        "Responses carry data (secrets, personal data, internal details) the client does not need.",
        "Return only the fields each endpoint needs through an explicit response schema, and "
        "keep secrets, stack traces and internal hostnames out of responses and headers.",
    ),
    "encryption": Fix(
        "Transport encryption",
        "Traffic can be read or altered in transit.",
        "Serve only HTTPS (TLS 1.2+), redirect HTTP to HTTPS, send "
        "`Strict-Transport-Security`, and set `SESSION_COOKIE_SECURE = True`.",
    ),
    "inventory": Fix(
        "Improper inventory management",
        "Old, debug or undocumented endpoints are exposed alongside the current API.",
        "Remove or gate deprecated versions and debug routes (never run with `debug=True` in "
        "production), and keep the published spec in sync with the routes Flask registers.",
    ),
    "unsafe_consumption": Fix(
        "Unsafe consumption of third-party APIs",
        "The app trusts what an upstream service returns: unverified TLS, unbounded bodies or "
        "redirects it should not follow.",
        "Keep TLS verification on (never `verify=False`), set timeouts and a response size cap, "
        "validate upstream responses against a schema, and do not follow redirects blindly.",
    ),
    "llm_security": Fix(
        "LLM endpoint security",
        "An AI endpoint can be steered by crafted input to reveal data or take actions.",
        "Treat model output as untrusted input, give tools least privilege with server-side "
        "authorization checks, and never let the model fetch URLs or run actions without the "
        "same guards a user request would get.",
    ),
    "dns_hygiene": Fix(
        "Resolver hygiene",
        "The resolver the target uses makes cache poisoning easier (predictable source ports or "
        "transaction ids, no DNSSEC validation). A poisoned cache sends the app's outbound "
        "requests to an attacker.",
        "Use a resolver with full source-port and transaction-id randomization and DNSSEC "
        "validation (e.g. a current Unbound or the platform's managed resolver), and make the "
        "app's fetchers validate resolved addresses so a poisoned answer cannot reach inside.",
    ),
}

GENERIC = Fix(
    "Security finding",
    "The scanner observed behaviour an attacker can use.",
    "Review the evidence and the request that reproduces it (the curl line), fix the view, and "
    "re-run the scan to confirm the finding is gone.",
)

"""Transport security, cookies and security headers (category encryption, API8).

HTTP: reuses the baseline GETs of data_exposure (no requests of its own for headers and cookies)
plus, for an https target, one plain-HTTP GET to see whether it redirects to HTTPS (port 80 when
the target is on 443, else the target's own port, where some servers answer plain HTTP too).
TLS: at most 5 handshakes (no HTTP): one that records the certificate and protocol, one that
verifies the chain against the system trust store (``SSL_CERT_FILE``/``SSL_CERT_DIR`` honoured),
TLS 1.0 only, TLS 1.1 only, and weak ciphers only (NULL, anonymous, EXPORT, RC4, DES/3DES, MD5 —
those this machine's OpenSSL can still offer).

Loopback rule: "no HTTPS" is reported only for targets that are not on this machine's loopback:
a plain-HTTP API on 127.0.0.1 in CI is normal. HSTS is only judged over HTTPS (browsers ignore it
on plain HTTP). Cookies and security headers are judged on every target.
"""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import socket
import ssl
import warnings
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from http.cookies import SimpleCookie

from firebrick.checks import patterns
from firebrick.checks.data_exposure import baseline
from firebrick.context import ScanContext
from firebrick.http import origin_of
from firebrick.model import Confidence, Evidence, Exchange, Finding, Operation, Severity

CHECK = "encryption"
CATEGORY = "encryption"
HSTS_MIN_AGE = 15_768_000  # six months, the SSL Labs threshold
EXPIRY_WARN_DAYS = 30
HANDSHAKE_TIMEOUT = 5.0
WEAK_CIPHERS = "eNULL:aNULL:EXPORT:RC4:DES:3DES:MD5:@SECLEVEL=0"
_RENDERED = ("text/html", "application/xhtml", "image/svg")


@dataclass
class TLSFacts:
    version: str | None = None
    cipher: str | None = None
    cert_der: bytes | None = None
    trusted: bool | None = None
    trust_error: str = ""
    legacy: list[str] = field(default_factory=list)  # legacy protocol versions accepted
    weak_cipher: str | None = None
    error: str = ""


def _finding(
    kind: str,
    title: str,
    severity: Severity,
    description: str,
    *,
    exchanges: list[Exchange] | None = None,
    op: str | None = None,
    inp: str | None = None,
    confidence: Confidence = Confidence.CONFIRMED,
    summary: str = "",
    details: dict[str, object] | None = None,
    **extra: object,
) -> Finding:
    return Finding(
        kind=kind,
        category=CATEGORY,
        title=title,
        severity=severity,
        confidence=confidence,
        operation=op,
        input=inp,
        description=description,
        evidence=Evidence(
            summary=summary or title,
            exchanges=(exchanges or [])[:3],
            details={**(details or {}), **extra},
        ),
    )


async def run(ctx: ScanContext) -> AsyncIterator[Finding]:
    pairs = await baseline(ctx, CHECK)
    for f in _headers(ctx, pairs):
        yield f
    for f in _cookies(ctx, pairs):
        yield f
    scheme, host, port = origin_of(ctx.client.base_url)
    if scheme == "https":
        facts = await asyncio.to_thread(_probe_tls, host, port)
        for f in _tls_findings(ctx, host, port, facts):
            yield f
        for f in _hsts(ctx, pairs):
            yield f
        f2 = await _plain_http(ctx, host, port)
        if f2 is not None:
            yield f2
    elif not ctx.target_is_local:
        yield _finding(
            "encryption.no-https",
            "The API is served over plain HTTP",
            Severity.HIGH,
            f"The target {ctx.client.base_url} uses http://: credentials, tokens and personal data cross "
            "the network readable and modifiable by anyone on the path.",
            exchanges=[ex for _, ex in pairs][:1],
        )
    else:
        ctx.cover(
            CHECK,
            CATEGORY,
            None,
            "https",
            "skipped",
            "plain-HTTP target on loopback (normal for local runs)",
        )


# -- headers ----------------------------------------------------------------------------------
def _ok(pairs: list[tuple[Operation | None, Exchange]]) -> list[tuple[Operation | None, Exchange]]:
    return [(op, ex) for op, ex in pairs if ex.status is not None and 200 <= ex.status < 300]


def _headers(ctx: ScanContext, pairs: list[tuple[Operation | None, Exchange]]) -> list[Finding]:
    answered = _ok(pairs)
    if not answered:
        ctx.cover(
            CHECK, CATEGORY, None, "security headers", "inconclusive", "no 2xx response to inspect"
        )
        return []
    findings = []
    no_sniff = [
        (op, ex)
        for op, ex in answered
        if ex.response_headers.get("x-content-type-options", "").lower() != "nosniff"
    ]
    if no_sniff:
        findings.append(
            _finding(
                "encryption.header-nosniff",
                "X-Content-Type-Options: nosniff missing",
                Severity.LOW,
                f"{len(no_sniff)} of {len(answered)} responses lack `X-Content-Type-Options: nosniff`; a browser "
                "may sniff a JSON or text body as HTML and run script in it.",
                exchanges=[ex for _, ex in no_sniff],
                operations=[op.key for op, _ in no_sniff if op],
            )
        )

    def framed(ex: Exchange) -> bool:
        csp = ex.response_headers.get("content-security-policy", "").lower()
        return "x-frame-options" in ex.response_headers or "frame-ancestors" in csp

    no_frame = [(op, ex) for op, ex in answered if not framed(ex)]
    if no_frame:
        findings.append(
            _finding(
                "encryption.header-frame",
                "No frame protection (X-Frame-Options or CSP frame-ancestors)",
                Severity.LOW,
                f"{len(no_frame)} of {len(answered)} responses can be framed by any site (clickjacking of "
                "anything a browser renders from this origin).",
                exchanges=[ex for _, ex in no_frame],
                operations=[op.key for op, _ in no_frame if op],
            )
        )
    sensitive = []
    for op, ex in answered:
        cc = ex.response_headers.get("cache-control", "").lower()
        if "no-store" in cc or "private" in cc:
            continue
        personal = any(True for _ in patterns.scan_text(ex.body_text, ("secret", "pii")))
        if personal or "set-cookie" in ex.response_headers:
            sensitive.append((op, ex))
    for op, ex in sensitive:
        findings.append(
            _finding(
                "encryption.cache-control",
                "Sensitive response without Cache-Control: no-store",
                Severity.MEDIUM,
                "The response carries credentials or personal data and no `Cache-Control: no-store` (or "
                "`private`): shared caches and proxies may keep it and serve it to someone else.",
                exchanges=[ex],
                op=op.key if op else None,
                summary=f"Cache-Control: {ex.response_headers.get('cache-control', '(none)')}",
            )
        )
    ctx.cover(
        CHECK,
        CATEGORY,
        None,
        "security headers",
        "failed" if findings else "passed",
        f"{len(answered)} responses inspected",
    )
    return findings


def _cookies(ctx: ScanContext, pairs: list[tuple[Operation | None, Exchange]]) -> list[Finding]:
    findings: list[Finding] = []
    seen: set[str] = set()
    for op, ex in pairs:
        raw = ex.response_headers.get("set-cookie")
        if not raw:
            continue
        # httpx joins repeated headers with ", "; SimpleCookie copes with the usual attributes.
        jar: SimpleCookie = SimpleCookie()
        try:
            jar.load(raw)
        except Exception:
            continue
        lower = raw.lower()
        for name, morsel in jar.items():
            if name in seen:
                continue
            seen.add(name)
            missing = []
            if not morsel["secure"] and "secure" not in lower:
                missing.append("Secure")
            if not morsel["httponly"] and "httponly" not in lower:
                missing.append("HttpOnly")
            if not morsel["samesite"]:
                missing.append("SameSite")
            if missing:
                findings.append(
                    _finding(
                        "encryption.cookie-flags",
                        f"Cookie {name} lacks {', '.join(missing)}",
                        Severity.MEDIUM
                        if "Secure" in missing or "HttpOnly" in missing
                        else Severity.LOW,
                        f"`Set-Cookie: {name}=…` is sent without {', '.join(missing)}: "
                        + "; ".join(
                            {
                                "Secure": "it travels over plain HTTP too",
                                "HttpOnly": "any script on the page (XSS) can read it",
                                "SameSite": "browsers attach it to cross-site requests (CSRF)",
                            }[m]
                            for m in missing
                        )
                        + ".",
                        exchanges=[ex],
                        op=op.key if op else None,
                        inp=f"cookie:{name}",
                        missing=missing,
                    )
                )
    ctx.cover(
        CHECK, CATEGORY, None, "cookies", "failed" if findings else "passed", f"{len(seen)} cookies"
    )
    return findings


def _hsts(ctx: ScanContext, pairs: list[tuple[Operation | None, Exchange]]) -> list[Finding]:
    answered = _ok(pairs)
    if not answered:
        return []
    ex = answered[0][1]
    value = ex.response_headers.get("strict-transport-security", "")
    if not value:
        return [
            _finding(
                "encryption.hsts-missing",
                "Strict-Transport-Security missing",
                Severity.MEDIUM,
                "The HTTPS responses carry no HSTS header: a network attacker can strip the first "
                "request down to plain HTTP.",
                exchanges=[ex],
            )
        ]
    age = 0
    for part in value.split(";"):
        key, _, val = part.strip().partition("=")
        if key.lower() == "max-age":
            try:
                age = int(val.strip().strip('"'))
            except ValueError:
                age = 0
    if age < HSTS_MIN_AGE:
        return [
            _finding(
                "encryption.hsts-weak",
                "Strict-Transport-Security max-age too short",
                Severity.LOW,
                f"`Strict-Transport-Security: {value}`: max-age {age}s is under six months "
                f"({HSTS_MIN_AGE}s).",
                exchanges=[ex],
                max_age=age,
            )
        ]
    return []


async def _plain_http(ctx: ScanContext, host: str, port: int) -> Finding | None:
    plain_port = 80 if port == 443 else port
    shown = f"[{host}]" if ":" in host else host
    url = f"http://{shown}{'' if plain_port == 80 else f':{plain_port}'}/"
    # The plain-HTTP twin of the target's own origin: the same host, so it is in scope.
    ctx.client.scope.add(origin_of(url))
    ex = await ctx.client.request("GET", url, check=CHECK, follow_redirects=False)
    if ex.status is None:
        ctx.cover(CHECK, CATEGORY, None, "http->https", "passed", "plain HTTP not offered")
        return None
    location = ex.response_headers.get("location", "")
    if 300 <= ex.status < 400 and location.lower().startswith("https://"):
        ctx.cover(CHECK, CATEGORY, None, "http->https", "passed", f"{ex.status} to {location}")
        return None
    return _finding(
        "encryption.http-not-redirected",
        "Plain HTTP is served instead of redirected to HTTPS",
        Severity.MEDIUM,
        f"{url} answered {ex.status} without redirecting to https://: clients that type or follow an http "
        "link talk to the API in clear text.",
        exchanges=[ex],
    )


# -- TLS ---------------------------------------------------------------------------------------
def _client_context(verify: bool) -> ssl.SSLContext:
    if verify:
        ctx = ssl.create_default_context()  # honours SSL_CERT_FILE / SSL_CERT_DIR
        ctx.check_hostname = False  # hostname matching is judged separately, with a clear message
        return ctx
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def _handshake(host: str, port: int, ctx: ssl.SSLContext) -> ssl.SSLSocket:
    sock = socket.create_connection((host, port), timeout=HANDSHAKE_TIMEOUT)
    try:
        server_name = None if _is_ip(host) else host
        return ctx.wrap_socket(sock, server_hostname=server_name)
    except BaseException:
        sock.close()
        raise


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
        return True
    except ValueError:
        return False


def _probe_tls(host: str, port: int) -> TLSFacts:
    facts = TLSFacts()
    try:
        with _handshake(host, port, _client_context(False)) as s:
            facts.version, facts.cipher = s.version(), (s.cipher() or ("",))[0]
            facts.cert_der = s.getpeercert(binary_form=True)
    except (OSError, ssl.SSLError) as exc:
        facts.error = str(exc)
        return facts
    try:
        with _handshake(host, port, _client_context(True)):
            facts.trusted = True
    except ssl.SSLCertVerificationError as exc:
        facts.trusted, facts.trust_error = False, exc.verify_message or str(exc)
    except (OSError, ssl.SSLError) as exc:
        facts.trusted, facts.trust_error = False, str(exc)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        for name, version in (
            ("TLS 1.0", ssl.TLSVersion.TLSv1),
            ("TLS 1.1", ssl.TLSVersion.TLSv1_1),
        ):
            ctx = _client_context(False)
            try:
                ctx.set_ciphers("ALL:@SECLEVEL=0")
                ctx.minimum_version = ctx.maximum_version = version
                with _handshake(host, port, ctx):
                    facts.legacy.append(name)
            except (OSError, ssl.SSLError, ValueError):
                pass
        ctx = _client_context(False)
        try:
            ctx.set_ciphers(WEAK_CIPHERS)
            ctx.maximum_version = ssl.TLSVersion.TLSv1_2  # TLS 1.3 suites are never weak
            with _handshake(host, port, ctx) as s:
                facts.weak_cipher = (s.cipher() or ("",))[0]
        except (OSError, ssl.SSLError, ValueError):
            pass  # refused, or this OpenSSL cannot offer any of them
    return facts


def _hostname_matches(host: str, cert: object) -> bool:
    from cryptography import x509

    assert isinstance(cert, x509.Certificate)
    try:
        sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return False
    host = host.strip("[]").lower()
    if _is_ip(host):
        return any(
            ip == ipaddress.ip_address(host) for ip in sans.get_values_for_type(x509.IPAddress)
        )
    for name in sans.get_values_for_type(x509.DNSName):
        name = name.lower()
        if name == host or (
            name.startswith("*.") and host.count(".") == name.count(".") and host.endswith(name[1:])
        ):
            return True
    return False


def _tls_findings(ctx: ScanContext, host: str, port: int, facts: TLSFacts) -> list[Finding]:
    from cryptography import x509

    where = f"{host}:{port}"
    if facts.cert_der is None:
        ctx.cover(CHECK, CATEGORY, None, "tls", "inconclusive", f"no TLS handshake: {facts.error}")
        return []
    cert = x509.load_der_x509_certificate(facts.cert_der)
    details: dict[str, object] = {
        "subject": cert.subject.rfc4514_string(),
        "issuer": cert.issuer.rfc4514_string(),
        "not_after": cert.not_valid_after_utc.isoformat(),
        "version": facts.version,
        "cipher": facts.cipher,
    }
    out: list[Finding] = []
    if facts.legacy:
        out.append(
            _finding(
                "encryption.tls-legacy-protocol",
                f"{' and '.join(facts.legacy)} accepted",
                Severity.MEDIUM,
                f"{where} completes handshakes with {', '.join(facts.legacy)}, deprecated by RFC 8996 "
                "(BEAST, no AEAD ciphers, SHA-1 in the handshake).",
                summary=f"handshake with {', '.join(facts.legacy)} succeeded",
                details=details,
            )
        )
    if facts.weak_cipher:
        name = facts.weak_cipher.upper()
        null = (
            "NULL" in name or name.startswith(("ADH", "AECDH")) or "ANON" in name
        )  # no encryption / no auth
        out.append(
            _finding(
                "encryption.tls-weak-cipher",
                f"Weak cipher accepted: {facts.weak_cipher}",
                Severity.HIGH if null else Severity.MEDIUM,
                f"{where} negotiated {facts.weak_cipher} when offered only weak suites"
                + (
                    " (NULL or anonymous: no encryption or no server authentication)."
                    if null
                    else "."
                ),
                details=details,
            )
        )
    now = datetime.datetime.now(datetime.UTC)
    if cert.not_valid_after_utc < now:
        out.append(
            _finding(
                "encryption.tls-cert-expired",
                "TLS certificate expired",
                Severity.HIGH,
                f"The certificate of {where} expired on {cert.not_valid_after_utc:%Y-%m-%d}: "
                "clients either fail or, worse, are configured to ignore errors.",
                details=details,
            )
        )
    elif cert.not_valid_after_utc - now < datetime.timedelta(days=EXPIRY_WARN_DAYS):
        out.append(
            _finding(
                "encryption.tls-cert-expiring",
                "TLS certificate expires soon",
                Severity.LOW,
                f"The certificate of {where} expires on {cert.not_valid_after_utc:%Y-%m-%d}.",
                details=details,
            )
        )
    if not _hostname_matches(host, cert):
        out.append(
            _finding(
                "encryption.tls-cert-hostname",
                "TLS certificate does not match the host name",
                Severity.HIGH,
                f"The certificate of {where} is not valid for {host} "
                f"(subject {details['subject']}).",
                details=details,
            )
        )
    if facts.trusted is False and "expired" not in facts.trust_error:
        out.append(
            _finding(
                "encryption.tls-cert-untrusted",
                "TLS certificate not trusted",
                Severity.HIGH,
                f"The certificate chain of {where} does not verify against the system trust store "
                f"({facts.trust_error}): self-signed or signed by an unknown CA.",
                details=details,
            )
        )
    ctx.cover(
        CHECK,
        CATEGORY,
        None,
        "tls",
        "failed" if out else "passed",
        f"{facts.version} {facts.cipher}; legacy {facts.legacy or 'refused'}",
    )
    return out


def rendered(content_type: str) -> bool:
    """A body a browser renders as a document (for unsafe_consumption and headers)."""
    return content_type.split(";")[0].strip().lower().startswith(_RENDERED)

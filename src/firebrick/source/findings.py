"""Turn sinks into findings: one kind per shape, in the scan's own model and categories."""

from __future__ import annotations

import re
from dataclasses import dataclass

from firebrick.model import Confidence, Evidence, Finding, Severity, SourceLocation
from firebrick.source.routes import Route
from firebrick.source.taint import Sink, base_of, guard_of, is_attacker


@dataclass(frozen=True)
class Kind:
    category: str
    severity: Severity
    confidence: Confidence
    title: str
    # The black-box kinds that show the same flaw from outside (for "confirmed from both sides").
    seen_as: tuple[str, ...] = ()


KINDS: dict[str, Kind] = {
    "source.ssrf": Kind(
        "ssrf",
        Severity.HIGH,
        Confidence.LIKELY,
        "Request data reaches an outbound request with no address check",
        ("ssrf.internal-read", "ssrf.internal-reach", "ssrf.external-fetch", "ssrf.scheme"),
    ),
    "source.ssrf-weak-guard": Kind(
        "ssrf",
        Severity.HIGH,
        Confidence.LIKELY,
        "URL check on the text: odd spellings and names that resolve inside get past it",
        ("ssrf.url-validation-bypass", "ssrf.dns-resolved-internal", "ssrf.internal-reach"),
    ),
    "source.ssrf-rebinding": Kind(
        "ssrf",
        Severity.HIGH,
        Confidence.LIKELY,
        "Resolve-then-check guard: the fetch resolves the name again (DNS rebinding)",
        ("ssrf.dns-rebinding", "ssrf.redirect-to-internal"),
    ),
    "source.ssrf-redirect-unchecked": Kind(
        "ssrf",
        Severity.HIGH,
        Confidence.LIKELY,
        "A redirect, or a URL taken from a fetched answer, is followed without the check",
        ("ssrf.redirect-to-internal",),
    ),
    "source.open-redirect": Kind(
        "ssrf",
        Severity.MEDIUM,
        Confidence.LIKELY,
        "Redirect to a target taken from the request",
        ("open-redirect",),
    ),
    "source.service-plain-http": Kind(
        "unsafe_consumption",
        Severity.MEDIUM,
        Confidence.LIKELY,
        "Service called by a configured host name over plain HTTP: whoever answers DNS gets it",
    ),
    "source.service-tls-unverified": Kind(
        "unsafe_consumption",
        Severity.HIGH,
        Confidence.CONFIRMED,
        "Outbound call with TLS verification turned off",
    ),
    "source.service-no-timeout": Kind(
        "unsafe_consumption",
        Severity.LOW,
        Confidence.LIKELY,
        "Call to a configured service without a timeout",
    ),
    "source.service-follows-redirects": Kind(
        "unsafe_consumption",
        Severity.LOW,
        Confidence.LIKELY,
        "Call to a configured service follows redirects wherever they point",
    ),
}

_GUARD_WORDS = {
    "": "no check at all",
    "scheme": "a check of the scheme only",
    "denylist": "string comparisons on the host text (a denylist)",
    "literal": "an ipaddress check of the literal host text, with no lookup",
    "resolve": "a lookup whose answer is checked, then a fetch that looks the name up again",
    "allow": "an allowlist of hosts",
    "strong": "ssrfguard or the safe-fetch snippet",
}
_LOCATION_INPUT = {
    "query": "query",
    "form": "form",
    "json": "json",
    "header": "header",
    "cookie": "cookie",
    "path": "path",
    "body": "body",
    "file": "form",
}


def _weakest(labels: frozenset[str]) -> tuple[str, str]:
    """(base, guard) of the least-checked attacker label."""
    from firebrick.source.taint import GUARD_STRENGTH

    def rank(label: str) -> tuple[int, int]:
        name = base_of(label).rsplit(":", 1)[-1]
        urlish = 0 if re.search(r"url|uri|host|link|src|target|href|addr|domain", name, re.I) else 1
        return GUARD_STRENGTH.get(guard_of(label), 0), urlish

    attackers = sorted((x for x in labels if is_attacker(x)), key=rank)
    if not attackers:
        return "", ""
    return base_of(attackers[0]), guard_of(attackers[0])


def _input_name(base: str) -> str | None:
    parts = base.split(":")
    if len(parts) == 3 and parts[0] == "req":
        loc = _LOCATION_INPUT.get(parts[1], parts[1])
        return f"{loc}:{parts[2]}" if parts[2] != "?" else f"{loc}:?"
    return None


def classify(sink: Sink) -> list[str]:
    """The finding kinds a sink deserves (none for a checked or fixed-host call)."""
    kinds: list[str] = []
    base, guard = _weakest(sink.labels)
    attacker = bool(base)
    if sink.kind == "redirect":
        if attacker and guard not in ("allow", "strong"):
            kinds.append("source.open-redirect")
        return kinds
    if sink.kind != "fetch":
        return kinds
    if attacker:
        if base == "resp" and guard not in ("allow", "strong"):
            kinds.append("source.ssrf-redirect-unchecked")
        elif guard in ("", "scheme"):
            kinds.append("source.ssrf")
        elif guard in ("denylist", "literal"):
            kinds.append("source.ssrf-weak-guard")
        elif guard == "resolve":
            kinds.append("source.ssrf-rebinding")
        elif guard == "strong" and sink.follows_redirects is True:
            kinds.append("source.ssrf-redirect-unchecked")
    config = any(base_of(x) == "cfg" for x in sink.labels)
    if config and not attacker:
        if sink.plain_http:
            kinds.append("source.service-plain-http")
        if sink.no_timeout:
            kinds.append("source.service-no-timeout")
        if sink.follows_redirects is True and sink.redirects_explicit:
            kinds.append("source.service-follows-redirects")
    if sink.verify_off:
        kinds.append("source.service-tls-unverified")
    return kinds


def _description(kind: str, sink: Sink, guard: str, code: str) -> str:
    via = f" through {' -> '.join(sink.via)}" if sink.via else ""
    checked = _GUARD_WORDS.get(guard, guard)
    redirects = (
        " The client also follows redirects, so a permitted URL can answer with a redirect to an "
        "internal address."
        if sink.follows_redirects is True
        else ""
    )
    if kind == "source.ssrf":
        return (
            f"`{code}` sends a request to a URL the caller controls ({sink.call}{via}), guarded by "
            f"{checked}. An attacker points it at 127.0.0.1, the internal network or "
            f"169.254.169.254.{redirects}"
        )
    if kind == "source.ssrf-weak-guard":
        return (
            f"The URL reaches {sink.call}{via} after {checked}. Text checks miss `2130706433`, "
            f"`127.1`, `0.0.0.0`, `[::ffff:127.0.0.1]` and any DNS name that answers with an "
            f"internal address (a poisoned cache or the attacker's own record).{redirects}"
        )
    if kind == "source.ssrf-rebinding":
        return (
            f"The host is resolved and its addresses checked, but {sink.call}{via} resolves the "
            f"name again when it connects: a name whose answer changes between the two lookups "
            f"(DNS rebinding, TTL 0) or a poisoned cache gets an internal address through."
            f"{redirects}"
        )
    if kind == "source.ssrf-redirect-unchecked":
        return (
            f"{sink.call}{via} fetches a URL that came from a fetched answer (a redirect's "
            f"Location or a link in the body), or follows redirects itself, without the check the "
            f"first URL got. One permitted URL that redirects to 169.254.169.254 is enough."
        )
    if kind == "source.open-redirect":
        return (
            f"`{code}` redirects to a target the caller controls, guarded by {checked}. Phishing "
            f"links borrow this site's name, and SSRF fetchers that follow redirects are steered "
            f"inside."
        )
    if kind == "source.service-plain-http":
        return (
            f"`{code}` calls a service whose host name comes from the environment or app config "
            f"over plain HTTP. Whoever answers DNS for that name (a poisoned resolver cache, a "
            f"spoofed answer on the path) receives the request and its credentials, and can "
            f"answer anything."
        )
    if kind == "source.service-tls-unverified":
        return (
            f"`{code}` turns TLS certificate verification off: any machine that answers for the "
            f"name (a poisoned DNS answer is enough) is trusted."
        )
    if kind == "source.service-no-timeout":
        return (
            f"`{code}` has no timeout: a slow or hijacked service holds the worker forever "
            f"(requests and urllib wait without limit by default)."
        )
    return (
        f"`{code}` follows redirects from a configured service: a hijacked or poisoned answer can "
        f"redirect the call to an internal address."
    )


def to_finding(
    kind: str,
    sink: Sink,
    *,
    file: str,
    function: str,
    route: Route | None,
    code: str,
) -> Finding:
    meta = KINDS[kind]
    base, guard = _weakest(sink.labels)
    operation = None
    if route:  # a GraphQL endpoint (or any route) answering POST and GET: name it by POST
        keys = route.operation_keys()
        operation = (
            next((k for k in keys if k.startswith("POST ")), keys[0])
            if sink.via or "graphql" in route.path.lower()
            else keys[0]
        )
    location = SourceLocation(
        file=file,
        line=sink.line,
        function=function,
        route=", ".join(route.operation_keys()) if route else None,
        via=list(sink.via),
    )
    return Finding(
        kind=kind,
        category=meta.category,
        title=meta.title,
        severity=meta.severity,
        confidence=meta.confidence,
        operation=operation,
        input=_input_name(base) if base else None,
        description=_description(kind, sink, guard, code),
        evidence=Evidence(
            summary=f"{file}:{sink.line} {code}",
            details={
                "origin": "source",
                "sink": sink.call,
                "guard": guard or "none",
                "follows_redirects": sink.follows_redirects is True,
                "labels": sorted(sink.labels),
            },
        ),
        source=location,
    )

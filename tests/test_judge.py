"""The judge (merge, DNS-only clamp, sort, remediation fill) and the remediation texts it fills."""

from __future__ import annotations

import http.server
import re
import threading
from collections.abc import Iterator
from ipaddress import ip_network
from typing import Any

import pytest
from flask import Flask

from firebrick import remediation
from firebrick.judge import MAX_EXCHANGES, MAX_INTERACTIONS, dns_only, judge
from firebrick.model import (
    CATEGORIES,
    Confidence,
    Evidence,
    Exchange,
    Finding,
    Interaction,
    Severity,
)
from firebrick.remediation import flask as texts

SSRF_KINDS = [
    "ssrf.internal-read",
    "ssrf.internal-reach",
    "ssrf.url-validation-bypass",
    "ssrf.dns-resolved-internal",
    "ssrf.dns-rebinding",
    "ssrf.redirect-to-internal",
    "ssrf.scheme",
    "ssrf.external-fetch",
    "ssrf.dns-lookup-only",
]


def ex(n: int) -> Exchange:
    return Exchange("GET", f"http://127.0.0.1:5000/fetch?url=p{n}", status=200)


def ia(n: int, protocol: str = "dns") -> Interaction:
    return Interaction(protocol, f"tok{n}", "127.0.0.1", 40000 + n, 1.7e9 + n)


def mk(
    kind: str = "ssrf.internal-reach",
    severity: Severity = Severity.MEDIUM,
    confidence: Confidence = Confidence.LIKELY,
    category: str = "ssrf",
    operation: str | None = "GET /fetch",
    input: str | None = "query:url",
    **evidence: Any,
) -> Finding:
    return Finding(
        kind,
        category,
        f"{kind} title",
        severity,
        confidence,
        operation=operation,
        input=input,
        evidence=Evidence(**evidence),
    )


# ---------------------------------------------------------------- merge


def test_same_fingerprint_merges_keeping_the_strongest() -> None:
    a = mk(
        severity=Severity.MEDIUM,
        confidence=Confidence.CONFIRMED,
        summary="",
        exchanges=[ex(i) for i in range(4)],
        interactions=[ia(i, "http") for i in range(15)],
        payloads_worked=["p1", "p2"],
        payloads_failed=["f1"],
        details={"a": 1, "shared": "from-a"},
    )
    a.references = ["https://owasp.example.com/api7"]
    b = mk(
        severity=Severity.HIGH,
        confidence=Confidence.POSSIBLE,
        summary="b saw the internal listener",
        exchanges=[ex(2), ex(10), ex(11), ex(12)],
        interactions=[ia(i, "http") for i in range(10, 20)],
        payloads_worked=["p2", "p3", "p1"],
        payloads_failed=["f1", "f2"],
        details={"b": 2, "shared": "from-b"},
    )
    b.description = "b describes it"
    out = judge([a, b])
    assert len(out) == 1
    m = out[0]
    assert (m.severity, m.confidence) == (Severity.HIGH, Confidence.CONFIRMED)
    assert m.fingerprint == a.fingerprint
    # b ranks first (high > medium), so its evidence leads; duplicates dropped; caps held.
    assert [e.url[-3:] for e in m.evidence.exchanges] == ["=p2", "p10", "p11", "p12", "=p0"]
    assert len(m.evidence.exchanges) == MAX_EXCHANGES
    assert len(m.evidence.interactions) == MAX_INTERACTIONS
    assert len({i.token for i in m.evidence.interactions}) == MAX_INTERACTIONS
    assert m.evidence.payloads_worked == ["p2", "p3", "p1"]
    assert m.evidence.payloads_failed == ["f1", "f2"]
    assert m.evidence.details == {"a": 1, "b": 2, "shared": "from-b"}
    assert m.evidence.summary == "b saw the internal listener"
    assert m.description == "b describes it"
    # The check's own reference first, then the kind's (weaknesses.json).
    assert m.references[0] == "https://owasp.example.com/api7" and m.cwe == 918
    # Inputs are left alone.
    assert a.severity is Severity.MEDIUM and len(b.evidence.exchanges) == 4
    assert a.remediation == "" and b.remediation == ""


def test_different_inputs_or_kinds_are_not_merged() -> None:
    out = judge([mk(), mk(input="query:next"), mk(kind="ssrf.scheme"), mk(operation="GET /x")])
    assert len(out) == 4


def test_reflection_survives_a_merge() -> None:
    dns_finding = mk(severity=Severity.HIGH, interactions=[ia(1)])
    reflected = mk(severity=Severity.LOW, interactions=[ia(2)], details={"reflected": "ami-1"})
    (m,) = judge([dns_finding, reflected])
    assert m.evidence.details["reflected"] == "ami-1"
    assert m.severity is Severity.HIGH  # reflected: not DNS-only, not clamped


# ---------------------------------------------------------------- DNS-only clamp


def test_dns_only_evidence_is_clamped_to_low_possible() -> None:
    f = mk(
        severity=Severity.CRITICAL,
        confidence=Confidence.CONFIRMED,
        interactions=[ia(1), ia(2)],
    )
    assert dns_only(f)
    (out,) = judge([f])
    assert (out.severity, out.confidence) == (Severity.LOW, Confidence.POSSIBLE)
    assert "clamped from critical/confirmed" in out.evidence.details["judge_note"]
    assert f.severity is Severity.CRITICAL and "judge_note" not in f.evidence.details


@pytest.mark.parametrize(
    "evidence",
    [
        {"interactions": [ia(1), ia(2, "http")]},  # an HTTP callback proves a fetch
        {"interactions": [ia(1), ia(2, "https")]},
        {"interactions": [ia(1)], "details": {"reflected": True}},  # content came back
        {"interactions": []},  # no OOB evidence at all: the check's own verdict stands
    ],
)
def test_stronger_evidence_is_not_clamped(evidence: dict[str, Any]) -> None:
    (out,) = judge([mk(severity=Severity.HIGH, confidence=Confidence.CONFIRMED, **evidence)])
    assert (out.severity, out.confidence) == (Severity.HIGH, Confidence.CONFIRMED)


def test_clamp_never_raises_and_merging_an_http_callback_lifts_it() -> None:
    (low,) = judge(
        [mk(severity=Severity.INFO, confidence=Confidence.POSSIBLE, interactions=[ia(1)])]
    )
    assert (low.severity, low.confidence) == (Severity.INFO, Confidence.POSSIBLE)
    dns = mk(severity=Severity.HIGH, confidence=Confidence.CONFIRMED, interactions=[ia(1)])
    http = mk(severity=Severity.MEDIUM, confidence=Confidence.LIKELY, interactions=[ia(2, "http")])
    (m,) = judge([dns, http])
    assert (m.severity, m.confidence) == (Severity.HIGH, Confidence.CONFIRMED)


def test_resolver_hygiene_measurements_are_not_clamped() -> None:
    f = mk(
        kind="dns.source-port",
        category="dns_hygiene",
        severity=Severity.MEDIUM,
        confidence=Confidence.CONFIRMED,
        interactions=[ia(i) for i in range(5)],
    )
    (out,) = judge([f])
    assert (out.severity, out.confidence) == (Severity.MEDIUM, Confidence.CONFIRMED)


# ---------------------------------------------------------------- order and remediation


def test_sorted_by_severity_confidence_category_operation_input() -> None:
    fs = [
        mk("x.1", Severity.LOW, Confidence.CONFIRMED, "ssrf"),
        mk("x.2", Severity.HIGH, Confidence.POSSIBLE, "ssrf"),
        mk("x.3", Severity.HIGH, Confidence.CONFIRMED, "ssrf", "GET /b"),
        mk("x.4", Severity.HIGH, Confidence.CONFIRMED, "ssrf", "GET /a", "query:z"),
        mk("x.5", Severity.HIGH, Confidence.CONFIRMED, "ssrf", "GET /a", "query:b"),
        mk("x.6", Severity.HIGH, Confidence.CONFIRMED, "authentication", "GET /z"),
        mk("x.7", Severity.CRITICAL, Confidence.POSSIBLE, "dns_hygiene"),
    ]
    order = [f.kind for f in judge(list(reversed(fs)))]
    assert order == ["x.7", "x.6", "x.5", "x.4", "x.3", "x.2", "x.1"]


def test_remediation_is_filled_only_when_empty() -> None:
    given = mk(kind="ssrf.scheme")
    given.remediation = "our own fix"
    out = {f.kind: f for f in judge([given, mk(kind="open-redirect")])}
    assert out["ssrf.scheme"].remediation == "our own fix"
    assert out["open-redirect"].remediation == remediation.render(mk(kind="open-redirect"))


def test_each_finding_gets_the_fix_of_its_own_kind_when_many_share_one() -> None:
    # Findings with the same fix share one rendered text; every finding still gets its own kind's.
    fs = [
        mk(kind=kind, operation=f"GET /op{i}")
        for i, kind in enumerate(["ssrf.internal-read", "open-redirect"] * 3 + ["ssrf.scheme"])
    ]
    for f in judge(fs):
        assert f.remediation == remediation.render(mk(kind=f.kind)), f.kind
    assert len({f.remediation for f in judge(fs)}) == len({remediation.fix_for(f) for f in fs})


# ---------------------------------------------------------------- remediation texts


def _render(kind: str, category: str = "ssrf") -> str:
    return remediation.render(mk(kind=kind, category=category))


def test_every_ssrf_kind_has_its_own_specific_text() -> None:
    specifics = {}
    for kind in SSRF_KINDS:
        assert kind in texts.KINDS, kind
        md = _render(kind)
        specific, shared = remediation.split_shared(md)
        assert "Why it matters" in specific and "Fix" in specific
        assert texts.KINDS[kind].why in specific
        # Every SSRF fix carries the rebinding-proof fix, never a hostname-string check alone.
        assert "ssrfguard" in shared and "connect to the address" in shared
        assert "::ffff:0:0:0/96" in shared and "168.63.129.16/32" in shared
        specifics[kind] = specific
    assert len(set(specifics.values())) == len(SSRF_KINDS)
    assert "rebinding" in specifics["ssrf.dns-rebinding"].lower()
    assert "poison" in specifics["ssrf.dns-resolved-internal"].lower()
    assert "file:" in specifics["ssrf.scheme"] and "critical" in specifics["ssrf.scheme"]
    assert "2130706433" in specifics["ssrf.url-validation-bypass"]
    assert "redirect" in specifics["ssrf.redirect-to-internal"].lower()
    assert "metadata" in specifics["ssrf.internal-read"]


@pytest.mark.parametrize("name", ["safe_fetch_ssrfguard.py", "safe_fetch_stdlib.py"])
def test_ssrf_fix_embeds_the_snippet_or_says_it_is_missing(name: str) -> None:
    md = _render("ssrf.dns-rebinding")
    code = remediation.snippet_text(name)
    if code is None:
        assert remediation.SNIPPET_MISSING in md and name in md
    else:
        assert code.rstrip() in md
        assert remediation.SNIPPET_MISSING not in md


def test_missing_snippets_render_a_detectable_placeholder(monkeypatch) -> None:
    monkeypatch.setattr(remediation, "SNIPPET_DIR", "no-such-dir")
    md = _render("ssrf.internal-read")
    assert md.count(remediation.SNIPPET_MISSING) == 2
    assert "safe_fetch_stdlib.py" in md and "safe_fetch_ssrfguard.py" in md


def test_fallback_by_category_then_generic() -> None:
    for category in CATEGORIES:
        md = _render("unknown.kind", category)
        assert texts.CATEGORIES[category].why in md
    assert texts.GENERIC.why in _render("unknown.kind", "not-a-category")
    assert remediation.SHARED_MARKER in _render("unknown.kind", "ssrf")
    assert remediation.SHARED_MARKER not in _render("unknown.kind", "bola")


def _code_blocks(md: str) -> list[str]:
    return re.findall(r"```python\n(.*?)```", md, flags=re.S)


class _CountingHandler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.server.hits.append(self.path)  # type: ignore[attr-defined]
        body = b"internal secret"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def internal_server() -> Iterator[http.server.ThreadingHTTPServer]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _CountingHandler)
    server.hits = []  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


def test_printed_ssrfguard_code_refuses_internal_addresses(internal_server) -> None:
    """Run the code the report prints: it must refuse loopback without sending anything."""
    md = _render("ssrf.internal-read")
    policy_code = _code_blocks(md)[0]
    assert "def fetch(url: str)" in policy_code
    ns: dict[str, Any] = {}
    exec(compile(policy_code, "printed-fix", "exec"), ns)
    policy, guard_error = ns["POLICY"], ns["SSRFGuardError"]
    port = internal_server.server_address[1]
    url = f"http://127.0.0.1:{port}/latest/meta-data/"

    # As printed: the ephemeral port is already refused; widen ports so the address rule decides.
    with pytest.raises(guard_error):
        ns["fetch"](url)
    ns["POLICY"] = type(policy)(denied_networks=ns["DENIED"], allowed_ports=frozenset({port}))
    with pytest.raises(guard_error, match=r"127\.0\.0\.1"):
        ns["fetch"](url)
    assert internal_server.hits == []

    # The two deny-table additions are what makes these refusals happen (checked without I/O).
    for address in ("::ffff:0:7f00:1", "::ffff:0:a9fe:a9fe", "168.63.129.16"):
        assert not ns["POLICY"].permits_address(address)
        assert policy.permits_address(address) is False
    assert ns["POLICY"].permits_address("93.184.215.14")

    # Control: the same fetch code does reach the server when the network is allowed, so the
    # refusals above are the policy's doing, not a broken fetch.
    ns["POLICY"] = type(policy)(
        denied_networks=ns["DENIED"],
        allowed_ports=frozenset({port}),
        allowed_networks=(ip_network("127.0.0.0/8"),),
    )
    assert ns["fetch"](url) == b"internal secret"
    assert internal_server.hits == ["/latest/meta-data/"]


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("/account/settings?tab=1", "/account/settings?tab=1"),
        ("https://www.example.com/welcome", "https://www.example.com/welcome"),
        ("//evil.test/", "/"),
        ("///evil.test/", "/"),
        ("/\\evil.test", "/"),
        ("\\\\evil.test", "/"),
        ("https://evil.test/", "/"),
        ("http://www.example.com/", "/"),
        ("https://user@www.example.com/", "/"),
        ("https:evil.test", "/"),
        ("javascript:alert(1)", "/"),
        ("/\t/evil.test", "/"),
        (" //evil.test", "/"),
        ("evil.test", "/"),
        ("", "/"),
    ],
)
def test_printed_open_redirect_fix_allows_only_safe_targets(target: str, expected: str) -> None:
    md = _render("open-redirect")
    (code,) = _code_blocks(md)
    app = Flask("redirect-fix-test")
    app.add_url_rule("/", "index", lambda: "home")
    ns: dict[str, Any] = {"app": app}
    exec(compile(code, "printed-fix", "exec"), ns)
    with app.test_request_context():
        assert ns["safe_redirect_target"](target) == expected
    response = app.test_client().get("/login/done", query_string={"next": target})
    assert response.status_code == 302
    assert response.headers["Location"] == expected

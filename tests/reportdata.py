"""Hand-built, realistic ScanResults for the reporter, store, diff and gate tests.

The shapes follow what the engine produces: SSRF findings with recorded exchanges (so ``curl``
lines exist), OOB interactions (HTTP and DNS), coverage items in all four statuses, and
categories both assessed and not assessed. ``hostile=True`` plants attacker-controlled markup in
every field that carries target data, for the escaping tests. ``sample_result`` is a second,
smaller result run through the real judge and scoring, with rich markup in target data.
"""

from __future__ import annotations

from firebrick.judge import judge
from firebrick.model import (
    CATEGORIES,
    CategoryCoverage,
    CategoryScore,
    Confidence,
    CoverageItem,
    CoverageSummary,
    Evidence,
    Exchange,
    Finding,
    Interaction,
    ScanResult,
    ScanStats,
    Severity,
)
from firebrick.scoring import score_result

TARGET = "http://127.0.0.1:5080"
XSS = "<script>alert(1)</script>"


def _exchange(method: str, path: str, body: str | None, status: int, excerpt: str) -> Exchange:
    headers = {"Accept": "application/json", "X-Api-Key": "redacted"}
    if body is not None:
        headers["Content-Type"] = "application/json"
    return Exchange(
        method=method,
        url=TARGET + path,
        request_headers=headers,
        request_body=body,
        status=status,
        response_headers={"Content-Type": "application/json", "Server": "Werkzeug/3.0.1"},
        response_excerpt=excerpt,
        response_size=len(excerpt),
        elapsed_ms=12.5,
    )


def internal_read(excerpt: str = '{"preview": "ami-id\\ninstance-id\\nlocal-ipv4"}') -> Finding:
    return Finding(
        kind="ssrf.internal-read",
        category="ssrf",
        title="Server fetches attacker URL and returns internal content",
        severity=Severity.CRITICAL,
        confidence=Confidence.CONFIRMED,
        operation="GET /fetch",
        input="query:url",
        description="The endpoint fetched http://169.254.169.254/latest/meta-data/ and "
        "returned the body.",
        evidence=Evidence(
            summary="metadata canary body reflected in the response",
            exchanges=[
                _exchange(
                    "GET",
                    "/fetch?url=http%3A%2F%2F169.254.169.254%2Flatest%2Fmeta-data%2F",
                    None,
                    200,
                    excerpt,
                )
            ],
            payloads_worked=["http://169.254.169.254/latest/meta-data/", "http://0x7f.1/"],
            payloads_failed=["file:///etc/passwd"],
        ),
        remediation=(
            "## Validate the resolved address\n\n"
            "Resolve the host once, refuse non-global addresses, then connect to that address:\n\n"
            "```python\nfrom ssrfguard import safe_get\n\n"
            "@app.get('/fetch')\ndef fetch():\n    return safe_get(request.args['url']).text\n```\n\n"
            "- never follow redirects blindly\n- pin the address you checked\n"
        ),
        references=["https://owasp.example.com/API7"],
    )


def blind_callback() -> Finding:
    return Finding(
        kind="ssrf.blind-callback",
        category="ssrf",
        title="Server fetches attacker URL (blind)",
        severity=Severity.HIGH,
        confidence=Confidence.LIKELY,
        operation="POST /webhooks",
        input="json:hook.url",
        description="An HTTP request carrying the payload token reached the OOB listener.",
        evidence=Evidence(
            summary="HTTP callback from 127.0.0.1 carrying token t4k3n01",
            exchanges=[
                _exchange(
                    "POST",
                    "/webhooks",
                    '{"hook": {"url": "http://127.0.0.1:9999/t4k3n01"}}',
                    202,
                    '{"status": "queued"}',
                )
            ],
            interactions=[
                Interaction(
                    protocol="http",
                    token="t4k3n01",
                    source_ip="127.0.0.1",
                    source_port=53122,
                    time=1_767_225_601.5,
                    raw="GET /t4k3n01 HTTP/1.1\r\nHost: 127.0.0.1:9999\r\n\r\n",
                    http_method="GET",
                    http_path="/t4k3n01",
                    http_host="127.0.0.1:9999",
                ),
                Interaction(
                    protocol="dns",
                    token="t4k3n01",
                    source_ip="127.0.0.1",
                    source_port=40111,
                    time=1_767_225_601.2,
                    raw="t4K3n01.oob.test. IN A",
                    dns_qname="t4K3n01.oob.test.",
                    dns_qtype="A",
                    dns_txid=4242,
                ),
            ],
        ),
        remediation="Allow-list webhook hosts and validate resolved addresses.",
    )


def dns_only() -> Finding:
    return Finding(
        kind="ssrf.dns-lookup-only",
        category="ssrf",
        title="Server resolved an attacker-supplied name",
        severity=Severity.LOW,
        confidence=Confidence.POSSIBLE,
        operation="GET /preview",
        input="query:link",
        description="Only a DNS lookup was seen: egress may be filtered.",
        evidence=Evidence(
            summary="DNS A query for the payload name, no HTTP connection",
            interactions=[
                Interaction(
                    protocol="dns",
                    token="dn5only",
                    source_ip="127.0.0.1",
                    source_port=51234,
                    time=1_767_225_602.0,
                    dns_qname="dn5only.oob.test.",
                    dns_qtype="A",
                    dns_txid=17,
                )
            ],
        ),
        remediation="Do not resolve names from user input you will not fetch.",
    )


def no_tls() -> Finding:
    return Finding(
        kind="encryption.no-tls",
        category="encryption",
        title="API served over plain HTTP",
        severity=Severity.MEDIUM,
        confidence=Confidence.CONFIRMED,
        operation=None,
        input=None,
        description="The target answers on http:// without redirecting to https://.",
        evidence=Evidence(summary="GET / answered 200 over http"),
        remediation="Terminate TLS in front of Flask and set `SESSION_COOKIE_SECURE = True`.",
    )


def weak_ports() -> Finding:
    return Finding(
        kind="dns_hygiene.source-port",
        category="dns_hygiene",
        title="Resolver source ports look poorly randomized",
        severity=Severity.INFO,
        confidence=Confidence.LIKELY,
        description="26 queries, port stddev 120 (POOR on the porttest scale).",
        evidence=Evidence(summary="stddev 120 over 26 ports", details={"stddev": 120.0}),
        remediation="Use a resolver with source-port randomization.",
    )


def redirect_follow() -> Finding:
    return Finding(
        kind="ssrf.redirect-follow",
        category="ssrf",
        title="Fetcher follows redirects to internal addresses",
        severity=Severity.HIGH,
        confidence=Confidence.CONFIRMED,
        operation="GET /avatar",
        input="query:image_url",
        evidence=internal_read().evidence,
    )


def make_result(
    findings: list[Finding] | None = None,
    *,
    score: float | None = 58.4,
    grade: str | None = "F",
    started_at: str = "2026-01-01T00:00:00Z",
    hostile: bool = False,
) -> ScanResult:
    if findings is None:
        findings = [internal_read(), blind_callback(), dns_only(), no_tls(), weak_ports()]
    coverage = [
        CoverageItem("ssrf.fetch", "ssrf", "GET /fetch", "query:url", "failed"),
        CoverageItem("ssrf.fetch", "ssrf", "POST /webhooks", "json:hook.url", "failed"),
        CoverageItem("ssrf.fetch", "ssrf", "GET /preview", "query:link", "failed"),
        CoverageItem("ssrf.fetch", "ssrf", "GET /users/{id}", "path:id", "passed"),
        CoverageItem(
            "ssrf.dns-rebinding",
            "ssrf",
            "GET /fetch",
            "query:url",
            "inconclusive",
            "no delegated zone: the target's resolver cannot reach the OOB DNS listener",
        ),
        CoverageItem(
            "ssrf.schemes", "ssrf", "POST /webhooks", "json:hook.url", "skipped", "mode safe"
        ),
        CoverageItem("encryption.tls", "encryption", None, None, "failed"),
        CoverageItem("authentication.none", "authentication", "GET /users/{id}", None, "passed"),
        CoverageItem(
            "llm_security.prompt",
            "llm_security",
            None,
            None,
            "skipped",
            "no AI endpoint found",
        ),
        CoverageItem(
            "bola", "bola", "GET /orders/{id}", "path:id", "refused", "probe refused (401)", "auth"
        ),
    ]
    assessed = {"ssrf": 20.0, "encryption": 88.0, "authentication": 100.0, "dns_hygiene": 100.0}
    categories = [
        CategoryScore(
            category=c,
            assessed=c in assessed,
            score=assessed.get(c),
            weight=2.0 if c == "ssrf" else 1.0,
            findings=sum(1 for f in findings if f.category == c),
        )
        for c in CATEGORIES
    ]
    result = ScanResult(
        target=TARGET,
        started_at=started_at,
        finished_at="2026-01-01T00:00:09Z",
        mode="safe",
        tool_version="0.1.0",
        score=score,
        grade=grade,
        categories=categories,
        findings=findings,
        coverage=coverage,
        warnings=[
            "DNS-name probes inconclusive: no delegated zone (see coverage)",
        ],
        stats=ScanStats(
            requests_sent=214,
            requests_by_check={"ssrf.fetch": 180, "encryption.tls": 2},
            oob_interactions=4,
            duration_s=9.2,
            operations=5,
            inputs_tested=7,
        ),
        complete=True,
        surface={"operations": 5, "spec_version": "3.0.3"},
        score_explanation=["ssrf 20 x weight 2", "grade capped at D by a confirmed critical"],
        coverage_summary=CoverageSummary(
            operations_discovered=5,
            operations_reached=4,
            operations_refused={"auth": 1},
            inputs_tested=4,
            outcomes={"vulnerable": 4, "passed": 2, "refused": 1, "not_determined": 3},
            categories=[
                CategoryCoverage("ssrf", 6, 4),
                CategoryCoverage("encryption", 1, 1),
                CategoryCoverage("authentication", 1, 1),
                CategoryCoverage("bola", 1, 0),
            ],
            notes=["JWT tests ran on 1 token: the spec example of POST /login"],
        ),
    )
    if hostile:
        plant_hostile(result)
    return result


def plant_hostile(result: ScanResult) -> None:
    """Put attacker-controlled markup wherever target data reaches a report."""
    evil = internal_read(
        excerpt='</pre></code><script>alert(1)</script><img src="https://evil.test/x.png" '
        "onerror=alert(2)><style>@import url(//evil.test/a.css)</style>"
    )
    evil.input = XSS
    evil.operation = 'GET /fetch"><svg onload=alert(3)>'
    evil.title = "Reflected <b>bold</b> & <i>things</i>"
    evil.remediation = (
        "Use <img src=https://evil.test/r.png onerror=alert(4)> carefully; "
        "see [docs](https://evil.test/docs) and ![x](https://evil.test/i.png) and "
        "<https://evil.test/auto>. `<script>inline</script>`"
    )
    evil.evidence.exchanges[0].request_headers["X-Evil"] = '"><script>alert(5)</script>'
    evil.evidence.interactions.append(
        Interaction(
            protocol="http",
            token="x",
            source_ip="127.0.0.1",
            source_port=1,
            time=1.0,
            raw="GET /<script>alert(6)</script> HTTP/1.1",
            http_path="/<script>alert(6)</script>",
        )
    )
    result.findings.append(evil)
    result.warnings.append('server banner: <iframe src="//evil.test/f"></iframe>')
    result.coverage.append(
        CoverageItem(
            "ssrf.fetch",
            "ssrf",
            evil.operation,
            XSS,
            "skipped",
            '<a href="https://evil.test/">click</a>',
        )
    )


# --- a judged and scored result, for the terminal and JSON report tests ----------------------

RICH_MARKUP = "[bold red]forged[/bold red] :rocket: \x1b[31m"  # rich markup and an ANSI escape


def _preview_exchange(url: str, body: str | None = None, status: int | None = 200) -> Exchange:
    return Exchange(
        method="POST" if body else "GET",
        url=url,
        request_headers={"Content-Type": "application/json", "X-Api-Key": "k'1"} if body else {},
        request_body=body,
        status=status,
        response_headers={"content-type": "application/json"},
        response_excerpt='{"ami-id": "ami-0abc"}',
        response_size=22,
        elapsed_ms=12.5,
        error=None if status else "connection reset",
        body_text="full body not serialized",
    )


def _dns_hit(token: str, t: float) -> Interaction:
    return Interaction(
        protocol="dns",
        token=token,
        source_ip="127.0.0.53",
        source_port=40123,
        time=t,
        raw="query",
        dns_qname=f"{token}.Oob.Firebrick.test",
        dns_qtype="A",
        dns_txid=4711,
    )


def _http_hit(token: str, t: float, listener: str = "public") -> Interaction:
    return Interaction(
        protocol="http",
        token=token,
        source_ip="127.0.0.1",
        source_port=51234,
        time=t,
        listener=listener,
        raw=f"GET /{token} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
        http_method="GET",
        http_path=f"/{token}",
        http_host="127.0.0.1:8053",
    )


def sample_findings() -> list[Finding]:
    base = "http://127.0.0.1:5000"
    return [
        Finding(
            kind="ssrf.internal-read",
            category="ssrf",
            title="Internal metadata read through the url parameter",
            severity=Severity.CRITICAL,
            confidence=Confidence.CONFIRMED,
            operation="GET /api/preview",
            input="query:url",
            description="The endpoint returned the body of the internal canary service.",
            evidence=Evidence(
                summary="canary body reflected for http://127.0.0.1:9/latest/meta-data/",
                exchanges=[
                    _preview_exchange(
                        f"{base}/api/preview?url=http%3A%2F%2F127.0.0.1%3A9%2Flatest"
                    ),
                    _preview_exchange(f"{base}/api/preview?url=http%3A%2F%2F2130706433%2F"),
                ],
                interactions=[_http_hit("tok1a", 1_700_000_000.25, listener="inside")],
                payloads_worked=["http://127.0.0.1:9/latest/meta-data/", "http://2130706433/"],
                payloads_failed=["file:///etc/passwd"],
                details={"reflected": "ami-0abc", "variants": {"decimal", "hex"}},
            ),
        ),
        Finding(
            kind="ssrf.dns-rebinding",
            category="ssrf",
            title="Guard defeated by DNS rebinding on hook.url",
            severity=Severity.HIGH,
            confidence=Confidence.LIKELY,
            operation="POST /api/webhooks",
            input="json:hook.url",
            evidence=Evidence(
                summary="first answer public, second internal; internal listener was hit",
                exchanges=[
                    _preview_exchange(f"{base}/api/webhooks", body='{"hook": {"url": "x"}}')
                ],
                interactions=[
                    _dns_hit("tok2b", 1_700_000_001.0),
                    _http_hit("tok2b", 1_700_000_001.5),
                ],
                payloads_worked=["http://rb-tok2b.oob.firebrick.test/"],
            ),
        ),
        Finding(
            kind="open-redirect",
            category="ssrf",
            title="Open redirect via next",
            severity=Severity.MEDIUM,
            confidence=Confidence.CONFIRMED,
            operation="GET /login",
            input="query:next",
            evidence=Evidence(
                summary="Location: //evil.test/",
                exchanges=[_preview_exchange(f"{base}/login?next=//x")],
            ),
        ),
        Finding(
            kind="ssrf.dns-lookup-only",
            category="ssrf",
            title="Name resolved by avatar_url",
            severity=Severity.MEDIUM,
            confidence=Confidence.LIKELY,
            operation="PUT /api/profile",
            input="json:avatar_url",
            evidence=Evidence(summary="A query only", interactions=[_dns_hit("tok3c", 1.7e9)]),
        ),
        Finding(
            kind="dns.source-port",
            category="dns_hygiene",
            title=f"Resolver source ports look sequential {RICH_MARKUP}",
            severity=Severity.LOW,
            confidence=Confidence.LIKELY,
            evidence=Evidence(
                summary="stddev 12 over 26 queries",
                interactions=[_dns_hit(f"c{i}", 1.7e9 + i) for i in range(3)],
                details={"stddev": 12.0, "bits": 5.3},
            ),
        ),
        Finding(
            kind="inventory.openapi-exposed",
            category="inventory",
            title="OpenAPI document published",
            severity=Severity.INFO,
            confidence=Confidence.CONFIRMED,
            operation="GET /openapi.json",
        ),
    ]


def sample_result() -> ScanResult:
    """A result judged and scored by the real judge and scoring, for the terminal/JSON tests."""
    findings = judge(sample_findings())
    assessed = set(CATEGORIES) - {"bola", "llm_security"}
    categories, overall, grade, lines = score_result(findings, assessed)
    return ScanResult(
        target="http://127.0.0.1:5000",
        started_at="2025-01-01T12:00:00Z",
        finished_at="2025-01-01T12:00:07Z",
        mode="safe",
        tool_version="0.1.0",
        score=overall,
        grade=grade,
        categories=categories,
        findings=findings,
        coverage=[
            CoverageItem("ssrf", "ssrf", "GET /api/preview", "query:url", "failed"),
            CoverageItem("ssrf", "ssrf", "GET /api/health", None, "passed"),
            CoverageItem("ssrf", "ssrf", "POST /api/import", "form:src", "skipped", "safe mode"),
            CoverageItem(
                "ssrf-dns",
                "ssrf",
                "GET /api/preview",
                "query:url",
                "inconclusive",
                "no delegated zone: DNS-name probes could not reach the OOB DNS listener",
            ),
        ],
        warnings=["No delegated OOB zone: DNS-name probes are inconclusive, not safe."],
        stats=ScanStats(
            requests_sent=412,
            requests_by_check={"ssrf": 380, "discovery": 32},
            oob_interactions=9,
            duration_s=7.3,
            operations=6,
            inputs_tested=5,
        ),
        surface={"operations": 6, "spec": "http://127.0.0.1:5000/openapi.json"},
        score_explanation=lines,
    )


def unscored_result() -> ScanResult:
    """An incomplete passive scan: no findings, no score, no grade."""
    return ScanResult(
        target="http://127.0.0.1:1",
        started_at="2025-01-01T00:00:00Z",
        finished_at="2025-01-01T00:00:01Z",
        mode="passive",
        tool_version="0.1.0",
        score=None,
        grade=None,
        complete=False,
    )

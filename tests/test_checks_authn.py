"""The authentication check against the lab: every vulnerable variant found with the right
kind, severity and evidence; the hardened twin clean (with and without credentials)."""

from __future__ import annotations

import pytest

from firebrick.model import Confidence, ScanResult, Severity

# (kind, operation, severity) the vulnerable lab must produce with no credentials given (demo).
DEMO = [
    ("authentication.unauthenticated-access", "GET /api/invoices/{invoice_id}", Severity.HIGH),
    ("authentication.method-bypass", "GET /api/reports", Severity.HIGH),
    ("authentication.jwt-alg-none", "GET /api/me", Severity.CRITICAL),
    ("authentication.jwt-signature-not-verified", "GET /api/me/preferences", Severity.CRITICAL),
    ("authentication.jwt-weak-secret", "GET /api/me", Severity.CRITICAL),
    ("authentication.jwt-expired-accepted", "GET /api/me", Severity.HIGH),
    ("authentication.jwt-no-expiry", "GET /api/me", Severity.MEDIUM),
    ("authentication.jwt-missing-claims", "GET /api/me", Severity.LOW),
    ("authentication.user-enumeration", "POST /api/auth/login", Severity.MEDIUM),
    # credentials-over-http: never on a loopback target (tests/test_false_positives.py proves it
    # off loopback, in the network lab)
    ("authentication.basic-over-http", "GET /api/legacy/export", Severity.MEDIUM),
]
MY_CATEGORIES = {
    "authentication",
    "bola",
    "bfla",
    "property_authorization",
    "rate_limiting",
    "inventory",
}


def find(result: ScanResult, kind: str, op: str | None):
    return next(
        (f for f in result.findings if f.kind == kind and (op is None or f.operation == op)), None
    )


def describe(result: ScanResult) -> str:
    return "\n".join(
        f"{f.kind} {f.severity.value} {f.operation} {f.input}" for f in result.findings
    )


@pytest.mark.parametrize(("kind", "op", "severity"), DEMO)
def test_vulnerable_found_without_credentials(
    vulnerable_scan: ScanResult, kind, op, severity
) -> None:
    f = find(vulnerable_scan, kind, op)
    assert f is not None, f"missing {kind} on {op}; got:\n{describe(vulnerable_scan)}"
    assert f.category == "authentication"
    assert f.severity is severity
    assert f.confidence is Confidence.CONFIRMED
    assert f.evidence.summary and f.remediation
    if f.evidence.exchanges:
        assert f.evidence.exchanges[0].curl.startswith("curl ")


def test_jwt_weak_secret_names_the_secret(vulnerable_scan: ScanResult) -> None:
    secrets = {
        f.evidence.details["secret"]
        for f in vulnerable_scan.findings
        if f.kind == "authentication.jwt-weak-secret"
    }
    assert "secret" in secrets  # from the word list; the vault's six digits come from brute force
    alg_none = find(vulnerable_scan, "authentication.jwt-alg-none", None)
    assert alg_none is not None and alg_none.evidence.payloads_worked[0].startswith("Bearer ey")
    assert alg_none.evidence.payloads_worked[0].endswith(".")  # no signature at all


def test_enumeration_evidence_shows_both_answers(vulnerable_scan: ScanResult) -> None:
    f = find(vulnerable_scan, "authentication.user-enumeration", None)
    assert f is not None
    assert {e.status for e in f.evidence.exchanges} == {401, 404}
    assert "alice" in f.evidence.payloads_worked


def test_login_attempts_bounded(vulnerable_scan: ScanResult) -> None:
    logins = [
        c for c in vulnerable_scan.coverage if c.check == "authentication" and c.input == "login"
    ]
    sent = [
        e
        for f in vulnerable_scan.findings
        if f.category == "authentication"  # injection probes of input_validation are not logins
        for e in f.evidence.exchanges
        if e.method == "POST" and "login" in e.url
    ]
    for url in {e.url for e in sent}:  # at most four attempts per login operation
        assert len({e.request_body for e in sent if e.url == url}) <= 4
    assert logins or sent


def test_sensitive_claims_with_a_real_token(vulnerable_authz_scan: ScanResult) -> None:
    f = find(vulnerable_authz_scan, "authentication.jwt-sensitive-claims", None)
    assert f is not None and "password_hash" in f.evidence.details["claims"]


@pytest.mark.parametrize("fixture", ["hardened_scan", "hardened_authz_scan"])
def test_hardened_twin_clean(fixture: str, request: pytest.FixtureRequest) -> None:
    result: ScanResult = request.getfixturevalue(fixture)
    mine = [f for f in result.findings if f.category in MY_CATEGORIES]
    assert mine == [], describe(result)
    # ... and really tested: forged tokens were sent and refused, the login was probed.
    jwt_cov = [
        c
        for c in result.coverage
        if c.check == "authentication" and (c.input or "").startswith("jwt")
    ]
    assert jwt_cov and all(c.status == "passed" for c in jwt_cov)
    refused = [
        c
        for c in result.coverage
        if c.check == "authentication" and "refused without credentials" in c.reason
    ]
    assert len(refused) >= 5

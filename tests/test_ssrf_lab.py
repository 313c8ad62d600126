"""The SSRF check against the lab: every vulnerable variant found with the right finding,
severity and evidence; every hardened twin clean; the config-by-name service never reported."""

from __future__ import annotations

import pytest

from firebrick.model import Confidence, Finding, ScanResult, Severity

# (operation, input, kind, severity) that the vulnerable lab must produce.
EXPECTED = [
    ("GET /api/image", "query:url", "ssrf.internal-read", Severity.CRITICAL),
    ("POST /api/webhooks", "json:callback_url", "ssrf.internal-reach", Severity.HIGH),
    ("GET /api/redirect", "query:target", "open-redirect", Severity.MEDIUM),
    ("GET /api/preview", "query:link", "ssrf.url-validation-bypass", Severity.CRITICAL),
    ("GET /api/preview", "query:link", "ssrf.dns-resolved-internal", Severity.CRITICAL),
    ("GET /api/avatar", "query:src", "ssrf.dns-rebinding", None),
    ("GET /api/feed", "query:feed_url", "ssrf.redirect-to-internal", Severity.CRITICAL),
    ("POST /api/import", "form:source_url", "ssrf.internal-reach", Severity.HIGH),
]
GRAPHQL_OP = "GRAPHQL /graphql mutation.importDocument"


def find(result: ScanResult, op: str, inp: str | None, kind: str) -> Finding | None:
    for f in result.findings:
        if f.operation == op and f.kind == kind and (inp is None or f.input == inp):
            return f
    return None


def describe(result: ScanResult) -> str:
    return "\n".join(
        f"{f.kind} {f.severity.value} {f.operation} {f.input}" for f in result.findings
    )


@pytest.mark.parametrize(("op", "inp", "kind", "severity"), EXPECTED)
def test_vulnerable_variant_found(vulnerable_scan: ScanResult, op, inp, kind, severity) -> None:
    f = find(vulnerable_scan, op, inp, kind)
    assert f is not None, f"missing {kind} on {op} {inp}; got:\n{describe(vulnerable_scan)}"
    if severity is not None:
        assert f.severity is severity
    assert f.confidence is Confidence.CONFIRMED
    assert f.category == "ssrf"
    # Evidence a person can replay: the request (curl), and what worked vs. what was refused.
    assert f.evidence.exchanges and f.evidence.exchanges[0].curl.startswith("curl ")
    assert f.evidence.payloads_worked
    assert f.remediation, "every finding carries its Flask fix"


def test_graphql_url_assembly_found(vulnerable_scan: ScanResult) -> None:
    hits = [
        f
        for f in vulnerable_scan.findings
        if f.operation == GRAPHQL_OP and f.kind.startswith("ssrf.internal")
    ]
    assert hits, describe(vulnerable_scan)
    assert "graphql:host" in (hits[0].input or "")


def test_metadata_read_through_image_fetcher(vulnerable_scan: ScanResult) -> None:
    f = find(vulnerable_scan, "GET /api/image", "query:url", "ssrf.internal-read")
    assert f is not None
    assert f.evidence.details.get("metadata") is True
    assert any("169.254.169.254" in p for p in f.evidence.payloads_worked)


def test_bypass_findings_show_how_deep_validation_goes(vulnerable_scan: ScanResult) -> None:
    f = find(vulnerable_scan, "GET /api/preview", "query:link", "ssrf.url-validation-bypass")
    assert f is not None
    assert any("2130706433" in p for p in f.evidence.payloads_worked)
    assert any("internal literal 127.0.0.1" in p for p in f.evidence.payloads_failed)


def test_blind_webhook_proven_by_inside_callback(vulnerable_scan: ScanResult) -> None:
    f = find(vulnerable_scan, "POST /api/webhooks", "json:callback_url", "ssrf.internal-reach")
    assert f is not None
    assert any(i.listener == "inside" and i.protocol == "http" for i in f.evidence.interactions)


def test_config_by_name_service_not_reported(
    vulnerable_scan: ScanResult, hardened_scan: ScanResult
) -> None:
    for result in (vulnerable_scan, hardened_scan):
        assert not [f for f in result.findings if f.operation and "/api/stock" in f.operation]


def test_hardened_twin_has_no_ssrf_or_redirect_finding(hardened_scan: ScanResult) -> None:
    assert [f for f in hardened_scan.findings if f.category == "ssrf"] == [], describe(
        hardened_scan
    )
    # ... and it was really tested: the fetchers were seen fetching our URL and refusing the rest.
    passed = [
        c
        for c in hardened_scan.coverage
        if c.check == "ssrf" and c.status == "passed" and "refused all" in c.reason
    ]
    assert len(passed) >= 5, hardened_scan.coverage


def test_grades(vulnerable_scan: ScanResult, hardened_scan: ScanResult) -> None:
    assert vulnerable_scan.grade == "F"
    assert hardened_scan.grade == "A"
    ssrf = {c.category: c for c in hardened_scan.categories}["ssrf"]
    assert ssrf.assessed and ssrf.score == 100.0
    by_cat = {c.category: c for c in hardened_scan.categories}
    # A check that ran but reached no verdict is "not assessed", never a free 100: without
    # credentials bola cannot compare owners, and the loopback lab has no real resolver.
    assert by_cat["bola"].score is None and not by_cat["bola"].assessed
    assert by_cat["dns_hygiene"].score is None
    # ... while a check that did reach a verdict counts, found something or not.
    assert by_cat["property_authorization"].score == 100.0
    assert {c.category: c for c in vulnerable_scan.categories}["bola"].assessed


def test_nospec_discovery_finds_the_fetchers(vulnerable_nospec_scan: ScanResult) -> None:
    kinds = {
        (f.operation, f.input)
        for f in vulnerable_nospec_scan.findings
        if f.kind.startswith("ssrf.")
    }
    assert ("GET /api/image", "query:url") in kinds, describe(vulnerable_nospec_scan)
    assert ("POST /api/import", "form:source_url") in kinds, describe(vulnerable_nospec_scan)
    assert any(op == GRAPHQL_OP for op, _ in kinds), describe(vulnerable_nospec_scan)


def test_nospec_hardened_clean(hardened_nospec_scan: ScanResult) -> None:
    assert [f for f in hardened_nospec_scan.findings if f.category == "ssrf"] == [], describe(
        hardened_nospec_scan
    )


def test_tokens_attribute_to_the_right_input(vulnerable_scan: ScanResult) -> None:
    # Every interaction in a finding's evidence carries a token minted for that finding's input.
    for f in vulnerable_scan.findings:
        for i in f.evidence.interactions:
            assert i.token, f"unattributed interaction in {f.kind} {f.operation}"


# Seen from another machine (no listener on the target's loopback), blind fetchers are judged by
# differential answers: an internal payload answered like a fetch that worked, unlike one that
# failed. Everything is still found; the blind ones at "likely", the rest still confirmed.
BLIND = {("POST /api/webhooks", "json:callback_url"), ("POST /api/import", "form:source_url")}


@pytest.mark.parametrize(("op", "inp", "kind", "severity"), EXPECTED)
def test_remote_view_finds_every_variant(
    vulnerable_remote_scan: ScanResult, op, inp, kind, severity
) -> None:
    f = find(vulnerable_remote_scan, op, inp, kind)
    assert f is not None, f"missing {kind} on {op} {inp}; got:\n{describe(vulnerable_remote_scan)}"
    if (op, inp) in BLIND:
        assert f.confidence is Confidence.LIKELY and f.evidence.details.get("differential")
        assert not any(i.listener == "inside" for i in f.evidence.interactions)
    else:
        assert f.confidence is Confidence.CONFIRMED


def test_remote_view_hardened_twin_clean(hardened_remote_scan: ScanResult) -> None:
    assert [f for f in hardened_remote_scan.findings if f.category == "ssrf"] == []
    passed = {
        (c.operation, c.input)
        for c in hardened_remote_scan.coverage
        if c.check == "ssrf" and c.status == "passed" and "unlike both" in c.reason
    }
    assert passed == BLIND, hardened_remote_scan.coverage

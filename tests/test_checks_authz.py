"""bola, bfla and property_authorization against the lab, with no credentials (demo) and with
alice's and bob's tokens from the lab's login (-H alice, --identity alice, --identity bob)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import credentialed_lab_scan
from firebrick.model import Confidence, ScanResult, Severity

AUTHZ = [
    ("bola.adjacent-id", "GET /api/orders/{order_id}", Severity.HIGH, Confidence.CONFIRMED),
    ("bola.adjacent-id", "GET /api/invoices/{invoice_id}", Severity.HIGH, Confidence.CONFIRMED),
    ("bola.cross-identity", "GET /api/orders/{order_id}", Severity.HIGH, Confidence.CONFIRMED),
    ("bfla.privileged-access", "GET /api/admin/stats", Severity.HIGH, Confidence.CONFIRMED),
    ("bfla.unauthenticated-admin", "GET /api/admin/users", Severity.HIGH, Confidence.CONFIRMED),
    ("bfla.role-leak", "GET /api/me", Severity.LOW, Confidence.CONFIRMED),
    (
        "property_authorization.sensitive-property",
        "GET /api/me",
        Severity.HIGH,
        Confidence.CONFIRMED,
    ),
]
DEMO = [
    ("bola.predictable-id", "GET /api/invoices/{invoice_id}"),
    ("bfla.unauthenticated-admin", "GET /api/admin/users"),
    ("bfla.unauthenticated-admin", "GET /metrics"),
    ("bfla.role-leak", "GET /api/admin/users"),
    ("property_authorization.sensitive-property", "GET /api/admin/users"),
    ("property_authorization.other-users-data", "GET /api/admin/users"),
]
MINE = ("bola", "bfla", "property_authorization")


def find(result: ScanResult, kind: str, op: str):
    return next((f for f in result.findings if f.kind == kind and f.operation == op), None)


def describe(result: ScanResult) -> str:
    return "\n".join(
        f"{f.kind} {f.severity.value} {f.confidence.value} {f.operation} {f.input}"
        for f in result.findings
    )


@pytest.mark.parametrize(("kind", "op", "severity", "confidence"), AUTHZ)
def test_found_with_credentials(
    vulnerable_authz_scan: ScanResult, kind, op, severity, confidence
) -> None:
    f = find(vulnerable_authz_scan, kind, op)
    assert f is not None, describe(vulnerable_authz_scan)
    assert f.category == kind.split(".")[0]
    assert (f.severity, f.confidence) == (severity, confidence)
    assert f.evidence.exchanges and f.remediation


@pytest.mark.parametrize(("kind", "op"), DEMO)
def test_found_without_credentials(vulnerable_scan: ScanResult, kind, op) -> None:
    assert find(vulnerable_scan, kind, op) is not None, describe(vulnerable_scan)


def test_cross_identity_evidence_is_bob_reading_alice(vulnerable_authz_scan: ScanResult) -> None:
    f = find(vulnerable_authz_scan, "bola.cross-identity", "GET /api/orders/{order_id}")
    assert f is not None
    assert (f.evidence.details["owner"], f.evidence.details["reader"]) == ("alice", "bob")
    assert f.evidence.details["ids_read"] == [1001]  # alice's first order, from her own list
    adj = find(vulnerable_authz_scan, "bola.adjacent-id", "GET /api/orders/{order_id}")
    assert adj is not None and adj.evidence.details["ids_read"] == [1002]  # bob's


@pytest.mark.parametrize("fixture", ["hardened_scan", "hardened_authz_scan"])
def test_hardened_twin_clean(fixture: str, request: pytest.FixtureRequest) -> None:
    result: ScanResult = request.getfixturevalue(fixture)
    assert [f for f in result.findings if f.category in MINE] == [], describe(result)


def test_hardened_really_tested_with_both_identities(hardened_authz_scan: ScanResult) -> None:
    passed = {(c.check, c.operation) for c in hardened_authz_scan.coverage if c.status == "passed"}
    assert ("bola", "GET /api/orders/{order_id}") in passed
    assert ("bfla", "GET /api/admin/stats") in passed
    cross = [
        c for c in hardened_authz_scan.coverage if c.check == "bola" and "cannot read" in c.reason
    ]
    assert cross, hardened_authz_scan.coverage


def _spec_with_role(tmp_path: Path) -> str:
    from firebrick.lab.openapi import build_spec

    spec = build_spec()
    body = spec["paths"]["/api/me"]["put"]["requestBody"]["content"]["application/json"]["schema"]
    body["properties"]["role"] = {"type": "string", "example": "user"}
    # The spec is served from the lab; a file of our own declares the privileged field.
    spec["servers"] = [{"url": "/"}]
    path = tmp_path / "spec.json"
    path.write_text(json.dumps(spec))
    return str(path)


def test_mass_assignment_full_mode_and_surface(tmp_path: Path) -> None:
    spec = _spec_with_role(tmp_path)
    vuln_full = credentialed_lab_scan(hardened=False, mode="full", burst=0, spec=spec)
    f = find(vuln_full, "property_authorization.mass-assignment", "PUT /api/me")
    assert f is not None and f.severity is Severity.HIGH and f.confidence is Confidence.CONFIRMED, (
        describe(vuln_full)
    )
    assert f.evidence.details["property"] == "role"
    # The active test decided: no separate "surface" finding for the same operation.
    assert find(vuln_full, "property_authorization.mass-assignment-surface", "PUT /api/me") is None

    hard_full = credentialed_lab_scan(hardened=True, mode="full", burst=0, spec=spec)
    assert [f for f in hard_full.findings if f.category == "property_authorization"] == [], (
        describe(hard_full)
    )

    # Safe mode never writes: the documented privileged field is reported as surface only.
    hard_safe = credentialed_lab_scan(hardened=True, mode="safe", burst=0, spec=spec)
    s = find(hard_safe, "property_authorization.mass-assignment-surface", "PUT /api/me")
    assert s is not None and s.severity is Severity.LOW and s.input == "json:role"
    assert not [
        c
        for c in hard_safe.coverage
        if c.check == "property_authorization" and "applied" in c.reason
    ]

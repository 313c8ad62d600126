"""data_exposure against the lab: secrets, cards, personal data and internal hosts found and
redacted; the hardened twin clean (also when scanned with its token); secrets in spec examples."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from firebrick.lab.web_lab import FAKE_AWS_KEY, FAKE_STRIPE_KEY, PROFILE, USER_TOKEN, scan_lab
from firebrick.model import ScanResult, Severity


def kinds(result: ScanResult, op: str = "GET /api/profile") -> dict[str, Severity]:
    return {
        f.kind: f.severity
        for f in result.findings
        if f.category == "data_exposure" and f.operation == op
    }


def test_vulnerable_profile(vulnerable_scan: ScanResult) -> None:
    found = kinds(vulnerable_scan)
    assert found["data_exposure.secret"] is Severity.HIGH
    assert found["data_exposure.card-number"] is Severity.HIGH
    assert found["data_exposure.personal-data"] is Severity.MEDIUM
    assert found["data_exposure.internal-address"] is Severity.LOW
    secret = next(f for f in vulnerable_scan.findings if f.kind == "data_exposure.secret")
    assert {"AWS access key id", "Stripe secret key"} <= set(secret.evidence.details["types"])


def test_evidence_is_redacted(vulnerable_scan: ScanResult) -> None:
    text = json.dumps(
        [f.to_dict() for f in vulnerable_scan.findings if f.category == "data_exposure"],
        ensure_ascii=False,
    )
    for raw in (FAKE_AWS_KEY, FAKE_STRIPE_KEY, PROFILE["card"]):
        assert raw not in text
    assert FAKE_AWS_KEY[:4] + "…" in text  # enough to find it


def test_hardened_clean(hardened_scan: ScanResult) -> None:
    assert [f.kind for f in hardened_scan.findings if f.category == "data_exposure"] == []


def test_hardened_profile_with_token_is_clean() -> None:
    result = asyncio.run(
        scan_lab(
            True,
            checks=["data_exposure", "encryption"],
            headers={"Authorization": f"Bearer {USER_TOKEN}"},
        )
    )
    assert [f.kind for f in result.findings] == []
    scanned = [
        c
        for c in result.coverage
        if c.check == "data_exposure" and c.operation == "GET /api/profile"
    ]
    assert scanned and scanned[0].status == "passed"


def test_secret_in_spec_examples(tmp_path: Path) -> None:
    from firebrick.lab.openapi import build_spec

    spec = build_spec()
    spec["paths"]["/api/health"]["get"]["responses"]["200"]["content"]["application/json"][
        "example"
    ] = {"aws_access_key_id": FAKE_AWS_KEY, "db": "pg.cluster.local"}
    path = tmp_path / "spec.json"
    path.write_text(json.dumps(spec))
    result = asyncio.run(scan_lab(True, checks=["data_exposure"], spec=str(path)))
    found = {f.kind: f for f in result.findings}
    assert (
        "data_exposure.secret-in-spec" in found
        and "data_exposure.internal-address-in-spec" in found
    )
    assert FAKE_AWS_KEY not in json.dumps(found["data_exposure.secret-in-spec"].to_dict())

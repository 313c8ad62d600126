"""Issue 14's JWT depth against the lab's vault: claims of tokens the target hands out, a
six-digit HMAC secret found by offline brute force, and RS256 -> HS256 key confusion with the
public key served at /jwt.pub and /.well-known/jwks.json. The hardened twin comes out clean."""

from __future__ import annotations

import asyncio
import json

import pytest

from firebrick.checks import jwt as jwtlib
from firebrick.lab.detect_lab import GUEST_TOTP_SECRET, VAULT_WEAK_SECRET
from firebrick.lab.detect_spec import paths
from firebrick.model import Confidence, ScanResult, Severity


def _vault_scan(hardened: bool, tmp: str) -> ScanResult:
    from firebrick.engine import run_scan
    from firebrick.lab.runner import LabConfig, start_lab
    from firebrick.options import ScanOptions

    spec = {
        "openapi": "3.1.0",
        "info": {"title": "vault", "version": "1"},
        "paths": {p: v for p, v in paths().items() if p.startswith("/api/vault")},
        "components": {"securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer"}}},
    }
    path = f"{tmp}/vault-{'h' if hardened else 'v'}.json"
    with open(path, "w", encoding="utf-8") as fh:
        json.dump(spec, fh)
    with start_lab(LabConfig(variant="hardened" if hardened else "vulnerable")) as lab:
        options = ScanOptions(
            target=lab.base_url,
            spec=path,
            rate=200.0,
            max_time=60.0,
            checks=["data_exposure", "authentication"],
            crawl=False,
            jwt_crack_seconds=60.0,  # a loaded CI machine is slow; the secret is found long before
        )
        return asyncio.run(run_scan(options))


@pytest.fixture(scope="module")
def vault_scans(tmp_path_factory: pytest.TempPathFactory) -> tuple[ScanResult, ScanResult]:
    tmp = str(tmp_path_factory.mktemp("vault"))
    return _vault_scan(False, tmp), _vault_scan(True, tmp)


def _kinds(result: ScanResult) -> dict[str, list]:
    out: dict[str, list] = {}
    for f in result.findings:
        out.setdefault(f.kind, []).append(f)
    return out


def test_six_digit_secret_found_offline(vault_scans: tuple[ScanResult, ScanResult]) -> None:
    found = _kinds(vault_scans[0]).get("authentication.jwt-weak-secret", [])
    assert found, _kinds(vault_scans[0]).keys()
    f = found[0]
    assert f.evidence.details["secret"] == VAULT_WEAK_SECRET and f.severity is Severity.CRITICAL
    assert "short secret" in f.description and f.operation == "GET /api/vault/items"


def test_claims_of_a_token_handed_out(vault_scans: tuple[ScanResult, ScanResult]) -> None:
    found = _kinds(vault_scans[0]).get("authentication.jwt-sensitive-claims", [])
    assert found
    claims = found[0].evidence.details["claims"]
    assert {"password_hash", "totp_secret"} <= set(claims)
    # the evidence names the claims without printing the TOTP secret whole
    assert GUEST_TOTP_SECRET not in json.dumps(found[0].to_dict())


def test_key_confusion_with_the_served_public_key(
    vault_scans: tuple[ScanResult, ScanResult],
) -> None:
    found = _kinds(vault_scans[0]).get("authentication.jwt-key-confusion", [])
    assert found and found[0].operation == "GET /api/vault/v2/items"
    f = found[0]
    assert f.confidence is Confidence.CONFIRMED
    assert f.evidence.details["public_key"] in ("/jwt.pub", "/.well-known/jwks.json")
    forged = jwtlib.parse(f.evidence.payloads_worked[0].removeprefix("Bearer "))
    assert forged is not None and forged.alg == "HS256"
    assert all(e.method == "GET" for e in f.evidence.exchanges)


def test_hardened_vault_clean(vault_scans: tuple[ScanResult, ScanResult]) -> None:
    hardened = vault_scans[1]
    assert [f"{f.kind} {f.operation}" for f in hardened.findings] == []
    confusion = [c for c in hardened.coverage if c.input == "jwt key confusion"]
    assert confusion and confusion[0].status == "passed"


def test_crack_short_finds_numeric_and_lowercase() -> None:
    for secret in ("7", "000042", "qz"):
        tok = jwtlib.parse(jwtlib.sign({"alg": "HS256"}, {"sub": "x"}, secret))
        assert tok is not None
        assert jwtlib.crack_short(tok, budget_s=120).secret == secret
    long = jwtlib.parse(jwtlib.sign({"alg": "HS512"}, {"sub": "x"}, "x" * 40))
    assert long is not None
    r = jwtlib.crack_short(long, budget_s=0.05)
    assert r.secret is None and not r.exhausted and r.tried > 0

"""Replay lines hide the user's secrets and show the tokens the scanner forged (issue 19)."""

from __future__ import annotations

from firebrick.model import ScanResult


def _auth_values(result: ScanResult) -> list[str]:
    return [
        v
        for f in result.findings
        for ex in f.evidence.exchanges
        for k, v in ex.request_headers.items()
        if k.lower() == "authorization"
    ]


def test_forged_jwt_is_shown_in_the_replay_line(vulnerable_authz_scan: ScanResult) -> None:
    # The scan ran with -H "Authorization: Bearer <alice's token>": that token is the user's.
    none = next(
        f for f in vulnerable_authz_scan.findings if f.kind == "authentication.jwt-alg-none"
    )
    forged = none.evidence.payloads_worked[0].removeprefix("Bearer ")
    assert forged.endswith(".")  # unsigned: ours, derived from the user's token
    curl = none.evidence.exchanges[0].curl
    assert forged in curl, curl
    assert "<redacted>" not in curl
    # The user's own token stays masked wherever it was sent as such.
    values = _auth_values(vulnerable_authz_scan)
    assert "<redacted>" in values
    for v in values:
        assert v == "<redacted>" or v.removeprefix("Bearer ").count(".") == 2, v

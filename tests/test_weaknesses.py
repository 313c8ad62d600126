"""Every finding kind the checks can emit has a CWE id and a reference, in JSON, SARIF and HTML."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

import firebrick.checks
from firebrick import weaknesses
from firebrick.judge import judge
from firebrick.model import Confidence, Finding, ScanResult, Severity
from firebrick.report import render

PREFIXES = (
    "ssrf|dns|authentication|bola|bfla|property_authorization|input_validation|rate_limiting|"
    "data_exposure|encryption|inventory|unsafe_consumption|llm|graphql"
)
# Literals of that shape that are ctx.state keys, not finding kinds.
STATE_KEYS = {
    "authentication.login_attempts",
    "authentication.refused",
    "ssrf.fetchers",
    "ssrf.fetch",
    "property_authorization.ma_clean",
}
CATEGORY_OF = {
    "dns": "dns_hygiene",
    "llm": "llm_security",
    "open-redirect": "ssrf",
    "graphql.field-suggestions": "inventory",
    "graphql.ide-exposed": "inventory",
    "graphql.batching-unbounded": "rate_limiting",
    "graphql.aliases-unbounded": "rate_limiting",
    "graphql.stack-trace": "data_exposure",
}


def emitted_kinds() -> set[str]:
    """Finding kinds written in the checks' source (literals), plus the derived -in-spec kinds."""
    found: set[str] = {"open-redirect"}
    for path in Path(firebrick.checks.__file__).parent.glob("*.py"):
        text = path.read_text("utf-8")
        found |= set(re.findall(rf"\"((?:{PREFIXES})\.[a-z0-9][a-z0-9-]*)\"", text))
        found |= set(re.findall(r"kind=\"([a-z0-9_.-]+)\"", text))
    spec_kinds = {f"data_exposure.{g}-in-spec" for g in ("secret", "internal-address")}
    return (found | spec_kinds) - STATE_KEYS


def _category(kind: str) -> str:
    head = kind.split(".", 1)[0]
    return CATEGORY_OF.get(kind, CATEGORY_OF.get(head, head))


KINDS = sorted(emitted_kinds())


def test_kinds_were_found() -> None:
    # The enumeration itself must work: the checks emit dozens of kinds.
    assert len(KINDS) > 80 and "input_validation.sql-error" in KINDS


@pytest.mark.parametrize("kind", KINDS)
def test_every_kind_has_its_own_cwe_and_reference(kind: str) -> None:
    w = weaknesses.lookup(kind, _category(kind))
    assert w.specific, f"add {kind!r} to src/firebrick/remediation/weaknesses.json"
    assert w.cwe > 0 and w.references
    assert any("owasp.org" in r or "cwe.mitre.org" in r or "rfc-editor" in r for r in w.references)


def test_unknown_kind_falls_back_to_its_category() -> None:
    w = weaknesses.lookup("input_validation.some-new-kind", "input_validation")
    assert not w.specific and w.cwe and w.references
    assert weaknesses.lookup("x.y", "no-such-category").references


@pytest.fixture(scope="module")
def reports() -> tuple[dict, dict, str]:
    findings = [
        Finding(
            kind=k,
            category=_category(k),
            title=f"title of {k}",
            severity=Severity.MEDIUM,
            confidence=Confidence.LIKELY,
            operation=f"GET /{i}",
        )
        for i, k in enumerate(KINDS)
    ]
    result = ScanResult(
        target="http://127.0.0.1:1",
        started_at="2026-12-01T00:00:00Z",
        finished_at="2026-12-01T00:00:01Z",
        mode="safe",
        tool_version="test",
        score=50.0,
        grade="F",
        findings=judge(findings),
    )
    return (
        json.loads(str(render(result, "json"))),
        json.loads(str(render(result, "sarif"))),
        str(render(result, "html")),
    )


def test_json_sarif_html_carry_cwe_and_references(reports: tuple[dict, dict, str]) -> None:
    data, sarif, page = reports
    by_kind = {f["kind"]: f for f in data["findings"]}
    rules = {r["id"]: r for r in sarif["runs"][0]["tool"]["driver"]["rules"]}
    for kind in KINDS:
        w = weaknesses.lookup(kind, _category(kind))
        assert by_kind[kind]["cwe"] == w.cwe_id and by_kind[kind]["references"]
        rule = rules[kind]
        assert rule["properties"]["cwe"] == w.cwe_id and rule["helpUri"].startswith("https://")
        assert f"external/cwe/cwe-{w.cwe}" in rule["properties"]["tags"]
        assert f"title of {kind}" in page
    assert page.count("CWE-") >= len(KINDS)

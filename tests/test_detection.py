"""Issue 14: the injection engine, framework debug pages and CORS bypasses against the lab.

The vulnerable lab must be found with the right evidence; the hardened twin must be clean.
Uses the session-wide demo scans of conftest.py (no extra scan).
"""

from __future__ import annotations

import pytest

from firebrick.checks.injection import _contexts, same_answer
from firebrick.checks.input_validation import bypass_origins
from firebrick.lab.detect_lab import DEBUG_PAGES, FAKE_DJANGO_SECRET
from firebrick.model import Confidence, Exchange, ScanResult

FRAMEWORK_LABEL = {
    "django": "Django",
    "starlette": "Starlette/FastAPI",
    "express": "Express",
    "rails": "Rails",
    "spring": "Spring",
    "aspnet": "ASP.NET",
}


def _find(result: ScanResult, kind: str, op: str) -> list:
    return [f for f in result.findings if f.kind == kind and f.operation == op]


@pytest.mark.parametrize("framework", sorted(DEBUG_PAGES))
def test_debug_page_named(vulnerable_scan: ScanResult, framework: str) -> None:
    hits = _find(vulnerable_scan, "data_exposure.debug-page", f"GET /api/fw/{framework}/items")
    assert hits, [f.kind + " " + str(f.operation) for f in vulnerable_scan.findings]
    f = hits[0]
    assert f.category == "data_exposure" and FRAMEWORK_LABEL[framework] in f.title
    assert f.evidence.details["framework"] == framework


def test_debug_page_secrets_redacted(vulnerable_scan: ScanResult) -> None:
    f = _find(vulnerable_scan, "data_exposure.debug-page", "GET /api/fw/django/items")[0]
    text = str(f.to_dict())
    assert FAKE_DJANGO_SECRET not in text
    assert "SECRET_KEY" in f.evidence.exchanges[0].response_excerpt


def test_debug_pages_clean_on_hardened(hardened_scan: ScanResult) -> None:
    assert not [f for f in hardened_scan.findings if f.kind == "data_exposure.debug-page"]


@pytest.mark.parametrize(
    ("kind", "op", "inp"),
    [
        ("input_validation.sql-error", "GET /api/shop/products", "query:category"),
        ("input_validation.sql-error", "POST /api/shop/orders/search", "json:filter.customer"),
        ("input_validation.sql-boolean", "POST /api/shop/login", None),
        ("input_validation.command-injection", "GET /api/shop/report", "query:title"),
        ("input_validation.template-injection", "GET /api/shop/label", "header:X-Label"),
        ("input_validation.reflected-xss", "GET /shop/search", "query:q"),
        ("input_validation.reflected-xss", "POST /shop/search", "form:q"),
        ("input_validation.sql-error", "GET /api/shop/categories/{slug}", "path:slug"),
        ("input_validation.template-injection", "GET /api/shop/banner", "cookie:theme"),
    ],
)
def test_injection_every_input_kind(
    vulnerable_scan: ScanResult, hardened_scan: ScanResult, kind: str, op: str, inp: str | None
) -> None:
    hits = [f for f in _find(vulnerable_scan, kind, op) if inp is None or f.input == inp]
    assert hits, [f"{f.kind} {f.operation} {f.input}" for f in vulnerable_scan.findings]
    # error-based SQL is likely (the error shows broken SQL, not a steered query); the rest is
    # shown outright
    expected = Confidence.LIKELY if kind == "input_validation.sql-error" else Confidence.CONFIRMED
    assert hits[0].confidence is expected
    assert hits[0].evidence.payloads_worked
    assert not _find(hardened_scan, kind, op)
    tested = {
        c.status
        for c in hardened_scan.coverage
        if c.operation == op and c.check == "input_validation" and c.input == hits[0].input
    }
    assert tested and "vulnerable" not in tested, f"the hardened {op} was not probed"


def test_sql_error_names_database(vulnerable_scan: ScanResult) -> None:
    f = _find(vulnerable_scan, "input_validation.sql-error", "GET /api/shop/products")[0]
    assert f.evidence.details["database"] == "SQLite" and "SQLITE_ERROR" in f.description


def test_cors_bypass_clean_on_hardened(hardened_scan: ScanResult) -> None:
    assert not [f for f in hardened_scan.findings if f.kind.startswith("input_validation.cors")]


def test_bypass_origins() -> None:
    kinds = dict(bypass_origins("https://app.example.com"))
    assert kinds == {
        "suffix": "https://app.example.com.firebrick-evil.test",
        "prefix": "https://firebrick-evil-app.example.com",
        "dot": "https://appxexample.com",
    }


def test_xss_contexts() -> None:
    page = '<p>hi M</p><input value="M"><script>var a = "M";</script><!-- M -->'
    assert _contexts(page, "M") == {"text", "attr-dq", "script", "comment"}


def test_same_answer_ignores_echoed_value() -> None:
    a = Exchange("GET", "u", status=404, body_text='{"error": "no user firebrick"}')
    b = Exchange("GET", "u", status=404, body_text='{"error": "no user firebrick\' OR 1 -- "}')
    assert same_answer(a, "firebrick", b, "firebrick' OR 1 -- ")
    c = Exchange("GET", "u", status=200, body_text='{"token": "x"}')
    assert not same_answer(a, "firebrick", c, "x")


# -- precision and recall against the reviewed ground truth (benchmarks/lab_ground_truth.json) --
def _ground_truth() -> set[tuple[str, str]]:
    import json
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "benchmarks" / "lab_ground_truth.json"
    data = json.loads(path.read_text("utf-8"))
    return {(kind, op) for kind, ops in data.items() for op in ops}


def test_vulnerable_lab_matches_ground_truth(vulnerable_scan: ScanResult) -> None:
    """Every reviewed (kind, operation) is found and nothing else is: a new lab shape must be
    added to the ground truth by hand (after review), a new false positive fails here."""
    found = {(f.kind, f.operation or "-") for f in vulnerable_scan.findings}
    truth = _ground_truth()
    assert sorted(truth - found) == [], "missed (false negatives)"
    assert sorted(found - truth) == [], "not in the ground truth (false positives or unreviewed)"


def test_hardened_lab_has_no_finding(hardened_scan: ScanResult) -> None:
    assert [(f.kind, f.operation) for f in hardened_scan.findings] == []

"""The published scoring formula: exact numbers, caps, applicability and monotonicity."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from firebrick.model import CATEGORIES, Confidence, Finding, Severity
from firebrick.scoring import (
    CATEGORY_WEIGHTS,
    GRADES,
    grade,
    letter,
    overall_score,
    score_categories,
    score_result,
)

ALL = set(CATEGORIES)


def finding(
    category: str = "ssrf",
    severity: Severity = Severity.HIGH,
    confidence: Confidence = Confidence.CONFIRMED,
    kind: str = "ssrf.internal-reach",
    operation: str | None = "GET /fetch",
) -> Finding:
    return Finding(
        kind, category, "t", severity, confidence, operation=operation, input="query:url"
    )


def by_name(
    findings: list[Finding], assessed: set[str], llm: bool = False
) -> dict[str, float | None]:
    return {c.category: c.score for c in score_categories(findings, assessed, llm)}


def test_weights_cover_every_category_and_favour_the_dangerous_ones() -> None:
    assert set(CATEGORY_WEIGHTS) == ALL
    for heavy in ("ssrf", "authentication", "bola", "bfla"):
        assert CATEGORY_WEIGHTS[heavy] > CATEGORY_WEIGHTS["dns_hygiene"]
    assert CATEGORY_WEIGHTS["dns_hygiene"] == 0.5


def test_one_confirmed_high_ssrf_scores_70_and_caps_at_c() -> None:
    f = [finding()]
    cats, overall, g, _ = score_result(f, {"ssrf"})
    assert [c.category for c in cats] == list(CATEGORIES)
    ssrf = next(c for c in cats if c.category == "ssrf")
    assert (ssrf.assessed, ssrf.score, ssrf.findings, ssrf.weight) == (True, 70.0, 1, 1.5)
    assert overall == 70.0 and g == "C"
    # Everything else perfect: the mean is high, the cap still holds the grade at C.
    cats, overall, g, _ = score_result(f, ALL - {"llm_security"})
    total = sum(w for c, w in CATEGORY_WEIGHTS.items() if c != "llm_security")
    assert overall == round(100 - 1.5 * 30 / total, 1) == 96.3
    assert letter(overall) == "A" and g == "C"


@pytest.mark.parametrize(
    ("severity", "confidence", "expected"),
    [
        (Severity.CRITICAL, Confidence.CONFIRMED, 50.0),
        (Severity.CRITICAL, Confidence.LIKELY, 65.0),
        (Severity.CRITICAL, Confidence.POSSIBLE, 80.0),
        (Severity.HIGH, Confidence.LIKELY, 79.0),
        (Severity.MEDIUM, Confidence.CONFIRMED, 88.0),
        (Severity.MEDIUM, Confidence.POSSIBLE, 95.2),
        (Severity.LOW, Confidence.CONFIRMED, 96.0),
        (Severity.LOW, Confidence.POSSIBLE, 98.4),
        (Severity.INFO, Confidence.CONFIRMED, 100.0),
    ],
)
def test_single_finding_factors(severity, confidence, expected) -> None:
    assert (
        by_name([finding(severity=severity, confidence=confidence)], {"ssrf"})["ssrf"] == expected
    )


def test_findings_multiply_and_stay_in_their_category() -> None:
    fs = [
        finding(severity=Severity.CRITICAL),
        finding(severity=Severity.HIGH, confidence=Confidence.LIKELY),
        finding(category="bola", severity=Severity.MEDIUM, kind="bola.id"),
    ]
    scores = by_name(fs, {"ssrf", "bola", "authentication"})
    assert scores["ssrf"] == 39.5  # 100 x 0.5 x 0.79
    assert scores["bola"] == 88.0
    assert scores["authentication"] == 100.0
    assert scores["bfla"] is None
    # Weighted mean: (1.5*39.5 + 1.5*88 + 1.5*100) / 4.5
    assert overall_score(score_categories(fs, {"ssrf", "bola", "authentication"})) == 75.8


def test_unassessed_and_llm_applicability() -> None:
    cats = score_categories([finding(category="llm_security", kind="llm.x")], ALL)
    llm = next(c for c in cats if c.category == "llm_security")
    assert (llm.assessed, llm.score, llm.findings) == (False, None, 1)
    cats = score_categories([finding(category="llm_security", kind="llm.x")], ALL, True)
    llm = next(c for c in cats if c.category == "llm_security")
    assert (llm.assessed, llm.score) == (True, 70.0)
    # A finding in a category that was not assessed is counted but not scored.
    cats = score_categories([finding(category="bola", kind="bola.id")], {"ssrf"})
    bola = next(c for c in cats if c.category == "bola")
    assert (bola.assessed, bola.score, bola.findings) == (False, None, 1)
    assert overall_score(cats) == 100.0


def test_nothing_assessed_means_no_score_no_grade() -> None:
    cats, overall, g, lines = score_result([finding()], set())
    assert all(not c.assessed and c.score is None for c in cats)
    assert overall is None and g is None
    assert any("no category was assessed" in line for line in lines)


@pytest.mark.parametrize(
    ("score", "expected"),
    [
        (100, "A"),
        (90, "A"),
        (89.9, "B"),
        (80, "B"),
        (79.9, "C"),
        (70, "C"),
        (69.9, "D"),
        (60, "D"),
        (59.9, "F"),
        (0, "F"),
    ],
)
def test_letter_boundaries(score: float, expected: str) -> None:
    assert letter(score) == expected


def test_caps_count_likely_high_and_critical() -> None:
    assert grade(99.0, [finding(severity=Severity.CRITICAL)]) == "D"
    assert grade(99.0, [finding(severity=Severity.HIGH)]) == "C"
    assert (
        grade(99.0, [finding(severity=Severity.HIGH), finding(severity=Severity.CRITICAL)]) == "D"
    )
    # likely or better counts: an app whose only finding is a likely SQL error is not an A
    assert grade(99.0, [finding(severity=Severity.CRITICAL, confidence=Confidence.LIKELY)]) == "C"
    assert grade(99.0, [finding(severity=Severity.HIGH, confidence=Confidence.LIKELY)]) == "C"
    # a confirmed critical stays at D or below even beside likely ones
    assert (
        grade(
            99.0,
            [
                finding(severity=Severity.CRITICAL, confidence=Confidence.LIKELY),
                finding(severity=Severity.CRITICAL),
            ],
        )
        == "D"
    )
    assert grade(99.0, [finding(severity=Severity.HIGH, confidence=Confidence.POSSIBLE)]) == "A"
    assert grade(99.0, [finding(severity=Severity.CRITICAL, confidence=Confidence.POSSIBLE)]) == "A"
    assert grade(99.0, [finding(severity=Severity.MEDIUM)]) == "A"
    assert grade(50.0, [finding(severity=Severity.CRITICAL)]) == "F"  # a cap never raises


def test_explanation_shows_the_arithmetic() -> None:
    fs = [finding(operation="POST /api/webhooks")]
    _, overall, g, lines = score_result(fs, {"ssrf", "authentication"})
    text = "\n".join(lines)
    assert "ssrf (weight 1.5): 100 x (1 - 0.3x1 high/confirmed ssrf.internal-reach) = 70.0" in text
    assert "authentication (weight 1.5): no findings -> 100.0" in text
    assert "bola (weight 1.5): not assessed" in text
    assert "llm_security (weight 1): not applicable" in text
    assert "Overall = (1.5x100.0 + 1.5x70.0) / 3 = 85.0" in text
    assert "Letter: 85.0 -> B" in text
    assert "caps the grade at C: applied" in text and "POST /api/webhooks" in text
    assert lines[-1] == f"Grade: {g}" and overall == 85.0


# ---------------------------------------------------------------- monotone (hypothesis)

findings_st = st.builds(
    finding,
    category=st.sampled_from(CATEGORIES),
    severity=st.sampled_from(list(Severity)),
    confidence=st.sampled_from(list(Confidence)),
    kind=st.sampled_from(["a", "b", "c"]),
    operation=st.sampled_from(["GET /a", "POST /b", None]),
)


@settings(max_examples=300, deadline=None)
@given(
    base=st.lists(findings_st, max_size=12),
    extra=findings_st,
    assessed=st.sets(st.sampled_from(CATEGORIES), min_size=1),
    llm=st.booleans(),
)
def test_adding_a_finding_never_raises_any_score_or_the_grade(base, extra, assessed, llm) -> None:
    cats_before, overall_before, grade_before, _ = score_result(base, assessed, llm)
    cats_after, overall_after, grade_after, _ = score_result([*base, extra], assessed, llm)
    for before, after in zip(cats_before, cats_after, strict=True):
        assert before.assessed == after.assessed
        if before.score is not None:
            assert after.score is not None and after.score <= before.score
    if overall_before is None:
        assert overall_after is None and grade_after is None
    else:
        assert overall_after is not None and overall_after <= overall_before
        assert grade_after is not None and grade_before is not None
        assert GRADES.index(grade_after) >= GRADES.index(grade_before)

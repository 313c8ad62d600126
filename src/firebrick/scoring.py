"""The published scoring formula: per-category scores, the overall score and the letter grade.

Category score = 100 x product over the category's findings of (1 - severity weight x confidence
factor), rounded to 0.1. Overall = the category-weighted mean of the assessed categories. Letter
A >= 90, B >= 80, C >= 70, D >= 60, else F, with caps: a high or critical finding at confidence
likely or better caps at C, a confirmed critical at D.

Every step is monotone (a product of factors in [0, 1], a mean with fixed positive weights, a
threshold, a min), so adding a finding can never raise a score or a grade. docs/scoring.md is
the human version of this file; keep them in agreement.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from firebrick.model import (
    CATEGORIES,
    CategoryScore,
    Confidence,
    CoverageSummary,
    Finding,
    Severity,
)

SEVERITY_WEIGHT: dict[Severity, float] = {
    Severity.CRITICAL: 0.5,
    Severity.HIGH: 0.3,
    Severity.MEDIUM: 0.12,
    Severity.LOW: 0.04,
    Severity.INFO: 0.0,
}

CONFIDENCE_FACTOR: dict[Confidence, float] = {
    Confidence.CONFIRMED: 1.0,
    Confidence.LIKELY: 0.7,
    Confidence.POSSIBLE: 0.4,
}

# How much each category counts in the overall score. Categories where one flaw hands an attacker
# other users' data or the internal network weigh most; resolver hygiene is a property of the
# target's infrastructure rather than of the API, so it weighs least.
CATEGORY_WEIGHTS: dict[str, float] = {
    "authentication": 1.5,
    "bola": 1.5,
    "bfla": 1.3,
    "property_authorization": 1.0,
    "input_validation": 1.0,
    "rate_limiting": 0.7,
    "data_exposure": 1.0,
    "encryption": 0.8,
    "ssrf": 1.5,
    "inventory": 0.6,
    "unsafe_consumption": 0.8,
    "llm_security": 1.0,
    "dns_hygiene": 0.5,
}

LETTER_THRESHOLDS: tuple[tuple[float, str], ...] = (
    (90.0, "A"),
    (80.0, "B"),
    (70.0, "C"),
    (60.0, "D"),
)
GRADES: tuple[str, ...] = ("A", "B", "C", "D", "F")  # best first

# The worst letter a finding allows (SSL Labs style caps), by severity and the least confidence
# that triggers it: high or critical at likely or better caps at C, a confirmed critical at D.
GRADE_CAPS: tuple[tuple[Severity, Confidence, str], ...] = (
    (Severity.CRITICAL, Confidence.CONFIRMED, "D"),
    (Severity.CRITICAL, Confidence.LIKELY, "C"),
    (Severity.HIGH, Confidence.LIKELY, "C"),
)


def _round1(value: float) -> float:
    # round() is monotone non-decreasing, which the monotone property relies on.
    return round(value, 1)


def finding_factor(finding: Finding) -> float:
    """The factor (1 - w x c) one finding multiplies its category score by."""
    return 1.0 - SEVERITY_WEIGHT[finding.severity] * CONFIDENCE_FACTOR[finding.confidence]


def _applicable(category: str, assessed: set[str], llm_applicable: bool) -> bool:
    if category == "llm_security" and not llm_applicable:
        return False
    return category in assessed


def score_categories(
    findings: Iterable[Finding], assessed: set[str], llm_applicable: bool = False
) -> list[CategoryScore]:
    """One CategoryScore per category, in model.CATEGORIES order.

    A category not in ``assessed`` (or llm_security without an AI endpoint) gets assessed=False
    and score=None; its findings are still counted but do not move any score.
    """
    by_category: dict[str, list[Finding]] = {c: [] for c in CATEGORIES}
    for f in findings:
        by_category.setdefault(f.category, []).append(f)
    scores: list[CategoryScore] = []
    for category in CATEGORIES:
        members = by_category[category]
        weight = CATEGORY_WEIGHTS[category]
        if not _applicable(category, assessed, llm_applicable):
            scores.append(CategoryScore(category, False, None, weight, len(members)))
            continue
        product = 1.0
        for f in members:
            product *= finding_factor(f)
        scores.append(CategoryScore(category, True, _round1(100.0 * product), weight, len(members)))
    return scores


def overall_score(categories: Sequence[CategoryScore]) -> float | None:
    """Weighted mean of the assessed categories' scores; None when none was assessed."""
    rated = [c for c in categories if c.assessed and c.score is not None]
    total_weight = sum(c.weight for c in rated)
    if not rated or total_weight <= 0:
        return None
    return _round1(sum(c.weight * (c.score or 0.0) for c in rated) / total_weight)


def letter(score: float) -> str:
    """A >= 90, B >= 80, C >= 70, D >= 60, else F."""
    for threshold, grade_letter in LETTER_THRESHOLDS:
        if score >= threshold:
            return grade_letter
    return "F"


def _worse(a: str, b: str) -> str:
    return a if GRADES.index(a) >= GRADES.index(b) else b


def _cap_for(findings: Iterable[Finding]) -> tuple[str, Finding] | None:
    """The strictest cap the findings impose, and the finding that imposes it."""
    best: tuple[str, Finding] | None = None
    for f in findings:
        for severity, least, cap in GRADE_CAPS:
            if f.severity is not severity or f.confidence.rank < least.rank:
                continue
            if best is None or GRADES.index(cap) > GRADES.index(best[0]):
                best = (cap, f)
            break  # the first matching rule is the strictest for this finding
    return best


def grade(score: float, findings: Iterable[Finding]) -> str:
    """The letter for ``score``, capped: a high or critical finding at likely or better caps at
    C, a confirmed critical at D."""
    result = letter(score)
    cap = _cap_for(findings)
    return result if cap is None else _worse(result, cap[0])


def _fmt(value: float) -> str:
    # "0.3" not "0.30000000000000004", "1" not "1.0" for the confidence factor.
    return f"{value:g}"


def _explain_category(cs: CategoryScore, members: list[Finding], llm_applicable: bool) -> str:
    head = f"{cs.category} (weight {_fmt(cs.weight)})"
    if not cs.assessed:
        if cs.category == "llm_security" and not llm_applicable:
            why = "not applicable (no AI endpoint found)"
        else:
            why = "not assessed"
        extra = f"; {len(members)} finding(s) not scored" if members else ""
        return f"  {head}: {why}{extra}"
    if not members:
        return f"  {head}: no findings -> 100.0"
    terms = " x ".join(
        f"(1 - {_fmt(SEVERITY_WEIGHT[f.severity])}x{_fmt(CONFIDENCE_FACTOR[f.confidence])}"
        f" {f.severity.value}/{f.confidence.value} {f.kind})"
        for f in members
    )
    return f"  {head}: 100 x {terms} = {cs.score:.1f}"


def score_result(
    findings: Sequence[Finding], assessed: set[str], llm_applicable: bool = False
) -> tuple[list[CategoryScore], float | None, str | None, list[str]]:
    """Categories, overall score, grade and the arithmetic as lines for ``--explain-score``."""
    categories = score_categories(findings, assessed, llm_applicable)
    overall = overall_score(categories)
    lines = [
        "Category score = 100 x product over its findings of (1 - severity weight x confidence"
        " factor)",
        "  severity weights: "
        + ", ".join(f"{s.value} {_fmt(w)}" for s, w in SEVERITY_WEIGHT.items())
        + "; confidence factors: "
        + ", ".join(f"{c.value} {_fmt(v)}" for c, v in CONFIDENCE_FACTOR.items()),
    ]
    for cs in categories:
        members = [f for f in findings if f.category == cs.category]
        lines.append(_explain_category(cs, members, llm_applicable))
    unknown = sorted({f.category for f in findings} - set(CATEGORIES))
    if unknown:
        lines.append(f"  findings in unknown categories not scored: {', '.join(unknown)}")

    if overall is None:
        lines.append("Overall: no category was assessed, so there is no score and no grade")
        return categories, None, None, lines

    rated = [c for c in categories if c.assessed and c.score is not None]
    total_weight = sum(c.weight for c in rated)
    numerator = " + ".join(f"{_fmt(c.weight)}x{c.score:.1f}" for c in rated)
    lines.append(f"Overall = ({numerator}) / {_fmt(round(total_weight, 6))} = {overall:.1f}")
    base = letter(overall)
    lines.append(f"Letter: {overall:.1f} -> {base} (A >= 90, B >= 80, C >= 70, D >= 60, else F)")
    final = grade(overall, findings)
    cap = _cap_for(findings)
    if cap is not None:
        cap_letter, cause = cap
        where = " ".join(p for p in (cause.operation, cause.input) if p)
        applied = "applied" if final != base else "no effect"
        lines.append(
            f"Cap: a {cause.confidence.value} {cause.severity.value} finding ({cause.kind}"
            f"{' at ' + where if where else ''}) caps the grade at {cap_letter}: {applied}"
        )
    lines.append(f"Grade: {final}")
    return categories, overall, final, lines


def withhold_if_incomplete(
    grade_letter: str | None, summary: CoverageSummary, lines: list[str]
) -> str | None:
    """A grade needs coverage: below the thresholds of coverage.py the letter is withheld (the
    grade is *incomplete*; the score stays, marked partial) and the explanation says why."""
    if summary.graded:
        return grade_letter
    lines.append(
        "Coverage: the grade is incomplete (the score above is partial): "
        + "; ".join(summary.reasons)
    )
    return None

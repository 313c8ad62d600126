"""CI gates: decide pass/fail from a result. The exit code itself is the CLI's (1 = gate failed).

- ``fail_below``: a letter A..F; the gate fails when the grade is worse than it.
- ``fail_on``: a severity; the gate fails when any finding is at or above it. With a
  ``baseline`` (an earlier scan of the same target), only findings whose fingerprint is not in
  the baseline count: a team can adopt firebrick on an API with known debt and still block
  every new problem.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from firebrick.errors import UsageError
from firebrick.model import ScanResult, Severity

GRADES = ("A", "B", "C", "D", "F")


@dataclass
class GateOutcome:
    passed: bool
    reasons: list[str] = field(default_factory=list)  # why it failed; empty when passed


def parse_grade(value: str) -> str:
    grade = value.strip().upper()
    if grade not in GRADES:
        raise UsageError(f"--fail-below must be one of {', '.join(GRADES)}, not {value!r}")
    return grade


def parse_severity(value: str | Severity) -> Severity:
    if isinstance(value, Severity):
        return value
    try:
        return Severity(value.strip().lower())
    except ValueError:
        names = ", ".join(s.value for s in Severity)
        raise UsageError(f"--fail-on must be one of {names}, not {value!r}") from None


def evaluate(
    result: ScanResult,
    fail_below: str | None = None,
    fail_on: Severity | str | None = None,
    baseline: ScanResult | None = None,
) -> GateOutcome:
    reasons: list[str] = []
    if fail_below:
        floor = parse_grade(fail_below)
        if result.grade is None or result.grade.upper() not in GRADES:
            reasons.append(f"no grade to compare with {floor}: the scan produced no score")
        elif GRADES.index(result.grade.upper()) > GRADES.index(floor):
            reasons.append(f"grade {result.grade} is below {floor}")
    if fail_on is not None:
        threshold = parse_severity(fail_on)
        known = {f.fingerprint for f in baseline.findings} if baseline is not None else set()
        hits = [
            f
            for f in result.findings
            if f.severity.rank >= threshold.rank and f.fingerprint not in known
        ]
        if hits:
            scope = " new" if baseline is not None else ""
            worst = max(hits, key=lambda f: f.severity.rank)
            where = " ".join(x for x in (worst.operation, worst.input) if x)
            reasons.append(
                f"{len(hits)}{scope} finding(s) at or above {threshold.value}, worst: "
                f"[{worst.severity.value}] {worst.title}" + (f" ({where})" if where else "")
            )
    return GateOutcome(passed=not reasons, reasons=reasons)

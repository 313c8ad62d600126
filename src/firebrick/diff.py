"""Compare two scans: what appeared, what was fixed, how the score and each category moved.

Findings are matched by ``Finding.fingerprint`` (category, kind, operation, input), never by
wording, so a reworded title or a new evidence sample is the same finding.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from firebrick.model import Finding, ScanResult, Severity

_SEV_ORDER = [Severity.CRITICAL, Severity.HIGH, Severity.MEDIUM, Severity.LOW, Severity.INFO]
_GRADES = "ABCDF"


@dataclass
class CategoryDrift:
    category: str
    score_a: float | None  # None when not assessed in that scan
    score_b: float | None
    findings_a: int
    findings_b: int

    @property
    def delta(self) -> float | None:
        if self.score_a is None or self.score_b is None:
            return None
        return self.score_b - self.score_a


@dataclass
class ScanDiff:
    target_a: str
    target_b: str
    started_a: str
    started_b: str
    score_a: float | None
    score_b: float | None
    grade_a: str | None
    grade_b: str | None
    new: list[Finding] = field(default_factory=list)  # in b, not in a
    resolved: list[Finding] = field(default_factory=list)  # in a, not in b
    unchanged: list[Finding] = field(default_factory=list)  # in both (b's copy)
    # In both, but severity or confidence moved: (a's copy, b's copy)
    changed: list[tuple[Finding, Finding]] = field(default_factory=list)
    categories: list[CategoryDrift] = field(default_factory=list)
    # Not compared: in one scan only, in a category the other scan did not assess (a narrower
    # --check list, a check that could not run). Neither "new" nor "resolved": unknown.
    not_compared_resolved: list[Finding] = field(default_factory=list)  # in a; b did not assess
    not_compared_new: list[Finding] = field(default_factory=list)  # in b; a did not assess

    @property
    def score_delta(self) -> float | None:
        if self.score_a is None or self.score_b is None:
            return None
        return self.score_b - self.score_a

    @property
    def grade_change(self) -> int:
        """Letters moved: > 0 better (C -> B is +1), < 0 worse, 0 same or unknown."""
        a, b = self.grade_a or "", self.grade_b or ""
        if len(a) != 1 or len(b) != 1 or a not in _GRADES or b not in _GRADES:
            return 0
        return _GRADES.index(a) - _GRADES.index(b)

    @property
    def regressed(self) -> bool:
        return bool(self.new) or self.grade_change < 0 or (self.score_delta or 0) < 0


def _sorted(findings: list[Finding]) -> list[Finding]:
    return sorted(findings, key=lambda f: (_SEV_ORDER.index(f.severity), f.category, f.kind))


def _assessed(r: ScanResult) -> set[str]:
    """Categories a scan reached a verdict in; a stored result without category scores counts
    every category of its findings (the older JSON reports)."""
    if r.categories:
        return {c.category for c in r.categories if c.assessed}
    return {f.category for f in r.findings}


def diff(a: ScanResult, b: ScanResult) -> ScanDiff:
    """``a`` is the older scan (the baseline), ``b`` the newer one."""
    fa = {f.fingerprint: f for f in a.findings}
    fb = {f.fingerprint: f for f in b.findings}
    d = ScanDiff(
        target_a=a.target,
        target_b=b.target,
        started_a=a.started_at,
        started_b=b.started_at,
        score_a=a.score,
        score_b=b.score,
        grade_a=a.grade,
        grade_b=b.grade,
    )
    assessed_a = _assessed(a)
    assessed_b = _assessed(b)
    only_b = [f for fp, f in fb.items() if fp not in fa]
    only_a = [f for fp, f in fa.items() if fp not in fb]
    d.new = _sorted([f for f in only_b if f.category in assessed_a])
    d.resolved = _sorted([f for f in only_a if f.category in assessed_b])
    d.not_compared_new = _sorted([f for f in only_b if f.category not in assessed_a])
    d.not_compared_resolved = _sorted([f for f in only_a if f.category not in assessed_b])
    d.unchanged = _sorted([f for fp, f in fb.items() if fp in fa])
    d.changed = [
        (fa[f.fingerprint], f)
        for f in d.unchanged
        if (fa[f.fingerprint].severity, fa[f.fingerprint].confidence) != (f.severity, f.confidence)
    ]
    ca = {c.category: c for c in a.categories}
    cb = {c.category: c for c in b.categories}
    order = [c.category for c in a.categories] + [
        c.category for c in b.categories if c.category not in ca
    ]
    for name in order:
        x, y = ca.get(name), cb.get(name)
        d.categories.append(
            CategoryDrift(
                category=name,
                score_a=x.score if x is not None and x.assessed else None,
                score_b=y.score if y is not None and y.assessed else None,
                findings_a=x.findings if x is not None else 0,
                findings_b=y.findings if y is not None else 0,
            )
        )
    return d


def _num(v: float | None) -> str:
    return "n/a" if v is None else f"{v:.0f}"


def _signed(v: float | None) -> str:
    return "" if v is None or round(v) == 0 else f" ({v:+.0f})"


def _line(f: Finding) -> str:
    where = " ".join(x for x in (f.operation, f.input) if x)
    return (
        f"  [{f.severity.value}] {f.title}"
        + (f" -- {where}" if where else "")
        + (f"  ({f.kind}, {f.fingerprint})")
    )


def render_diff(d: ScanDiff) -> str:
    out = [
        f"A: {d.target_a} at {d.started_a}",
        f"B: {d.target_b} at {d.started_b}",
    ]
    if d.target_a.rstrip("/") != d.target_b.rstrip("/"):
        out.append("note: the two scans are of different targets")
    out.append(
        f"score {_num(d.score_a)} -> {_num(d.score_b)}{_signed(d.score_delta)}, "
        f"grade {d.grade_a or '?'} -> {d.grade_b or '?'}"
    )
    out.append(
        f"findings: {len(d.new)} new, {len(d.resolved)} resolved, {len(d.unchanged)} unchanged"
        + (f" ({len(d.changed)} changed severity/confidence)" if d.changed else "")
    )
    if d.new:
        out.append("New:")
        out += [_line(f) for f in d.new]
    if d.resolved:
        out.append("Resolved:")
        out += [_line(f) for f in d.resolved]
    if d.not_compared_resolved or d.not_compared_new:
        skipped = sorted(
            {f.category for f in d.not_compared_resolved} | {f.category for f in d.not_compared_new}
        )
        out.append(
            f"not compared: {len(d.not_compared_resolved)} finding(s) of A and "
            f"{len(d.not_compared_new)} of B are in categories the other scan did not assess "
            f"({', '.join(skipped)}): neither new nor resolved"
        )
    if d.changed:
        out.append("Changed:")
        out += [
            f"  {b.title}: {a.severity.value}/{a.confidence.value} -> "
            f"{b.severity.value}/{b.confidence.value}  ({b.fingerprint})"
            for a, b in d.changed
        ]
    moved = [c for c in d.categories if c.score_a != c.score_b or c.findings_a != c.findings_b]
    if moved:
        out.append("Categories:")
        width = max(len(c.category) for c in moved)
        for c in moved:
            out.append(
                f"  {c.category:<{width}}  {_num(c.score_a):>3} -> {_num(c.score_b):>3}"
                f"{_signed(c.delta)}  findings {c.findings_a} -> {c.findings_b}"
            )
    return "\n".join(out) + "\n"

"""A short Markdown summary for pull-request comments and $GITHUB_STEP_SUMMARY.

Link-free and injection-safe: target data (paths, input names, evidence) goes inside code spans
(no autolinking, no rendering), and the rest has Markdown/HTML specials escaped, because GitHub
renders raw HTML in comments and a target could otherwise put an image or a link into the PR.
"""

from __future__ import annotations

import re

from firebrick.coverage import coverage_lines
from firebrick.model import Finding, ScanResult, Severity

MAX_FINDINGS = 10
_SEV_ORDER = [Severity.CRITICAL, Severity.HIGH, Severity.MEDIUM, Severity.LOW, Severity.INFO]
_SEV_ICON = {
    Severity.CRITICAL: "🟥",
    Severity.HIGH: "🟧",
    Severity.MEDIUM: "🟨",
    Severity.LOW: "🟦",
    Severity.INFO: "⬜",
}


def _one_line(text: str, limit: int = 120) -> str:
    text = re.sub(r"\s+", " ", text or "").strip()
    return text if len(text) <= limit else text[: limit - 1] + "…"


def text(value: str, limit: int = 120) -> str:
    """Plain text safe in a table cell: HTML and Markdown specials escaped, no line breaks."""
    value = _one_line(value, limit)
    value = value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    value = re.sub(r"([\\`*_\[\]{}()#+!|~])", r"\\\1", value)
    # An entity for the colon stops GitHub from autolinking a bare URL in the text.
    return value.replace("://", "&#58;//")


def code(value: str | None, limit: int = 120) -> str:
    """Inline code span: literal, not autolinked; backticks and pipes cannot break out."""
    if not value:
        return "-"
    value = _one_line(value, limit).replace("`", "'").replace("|", "¦")
    return f"`{value}`"


def _score(score: float | None) -> str:
    return "n/a" if score is None else f"{score:.0f}"


def top_findings(result: ScanResult, limit: int = MAX_FINDINGS) -> list[Finding]:
    return sorted(
        result.findings,
        key=lambda f: (_SEV_ORDER.index(f.severity), -f.confidence.rank, f.category),
    )[:limit]


def render(result: ScanResult) -> str:
    grade = "incomplete" if result.grade_incomplete else (result.grade or "?")
    counts = {s: sum(1 for f in result.findings if f.severity is s) for s in _SEV_ORDER}
    count_line = ", ".join(f"{n} {s.value}" for s, n in counts.items() if n) or "no findings"
    lines = [
        f"## firebrick: grade {text(grade)} ({_score(result.score)}/100"
        f"{', partial' if result.grade_incomplete else ''})",
        "",
        f"Target {code(result.target)} · mode {text(result.mode)} · "
        f"{result.stats.requests_sent} requests · {len(result.writes)} writes · "
        f"{text(count_line)}",
        "",
    ]
    if not result.complete:
        lines += [
            "> **Incomplete scan**: the time limit or request budget cut it short; "
            "untested does not mean safe.",
            "",
        ]
    cov = coverage_lines(result)
    if cov:
        lines += [f"> {text(line, 400)}  " for line in cov] + [""]
    lines += ["| Category | Score | Findings |", "| --- | ---: | ---: |"]
    for c in result.categories:
        score = _score(c.score) if c.assessed else "not assessed"
        lines.append(f"| {text(c.category)} | {score} | {c.findings} |")
    lines.append("")
    top = top_findings(result)
    if top:
        more = len(result.findings) - len(top)
        lines += [
            f"### Top findings ({len(top)} of {len(result.findings)})",
            "",
            "| Severity | Finding | Operation | Input | Evidence |",
            "| --- | --- | --- | --- | --- |",
        ]
        for f in top:
            lines.append(
                f"| {_SEV_ICON[f.severity]} {f.severity.value} ({f.confidence.value}) "
                f"| {text(f.title, 80)} | {code(f.operation, 60)} | {code(f.input, 40)} "
                f"| {code(f.evidence.summary or f.description, 100)} |"
            )
        if more > 0:
            lines += ["", f"{more} more in the full report."]
    else:
        lines.append("No findings.")
    if result.warnings:
        lines += ["", "<details><summary>Warnings</summary>", ""]
        lines += [f"- {text(w, 200)}" for w in result.warnings]
        lines += ["", "</details>"]
    return "\n".join(lines) + "\n"

"""JUnit XML, for CI systems that show test results (GitLab, Jenkins, Azure, GitHub test reporters).

Mapping: a <testsuite> per check (from result.coverage), a <testcase> per (check, operation,
input) that the check covered. A case fails when a finding attributed to it is at or above the
gate severity (``fail_on``); findings below the gate are listed in <system-out> so they stay
visible without breaking the build. Refused, error and not-determined tests become <skipped> with
the outcome, its cause and the reason (no verdict is not "passed": a scan that could not tell
must not look clean); every suite carries the coverage lines as properties. Findings
that no coverage item names get a case of their own in a "<category>.findings" suite, so no
finding is ever dropped.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections import defaultdict
from dataclasses import dataclass, field

from firebrick.coverage import coverage_lines
from firebrick.model import Finding, ScanResult, Severity

_SEV_ORDER = [Severity.CRITICAL, Severity.HIGH, Severity.MEDIUM, Severity.LOW, Severity.INFO]


@dataclass
class _Case:
    suite: str
    category: str
    name: str
    status: str  # an Outcome value: vulnerable | passed | refused | error | not_determined
    cause: str | None = None
    reason: str = ""
    findings: list[Finding] = field(default_factory=list)


def _case_name(operation: str | None, input_: str | None) -> str:
    name = " ".join(x for x in (operation, input_) if x)
    return name or "(target)"


def _clean(text: str) -> str:
    """XML 1.0 cannot carry most control characters, even escaped: drop them."""
    return "".join(
        ch
        for ch in text
        if ch in "\t\n\r"
        or (0x20 <= ord(ch) <= 0xD7FF)
        or (0xE000 <= ord(ch) <= 0xFFFD)
        or 0x10000 <= ord(ch) <= 0x10FFFF
    )


def _finding_line(f: Finding) -> str:
    line = f"[{f.severity.value}/{f.confidence.value}] {f.kind}: {f.title}"
    if f.evidence.summary:
        line += f" -- {f.evidence.summary}"
    return line


def _cases(result: ScanResult) -> list[_Case]:
    cases: list[_Case] = []
    by_key: dict[tuple[str, str | None, str | None], list[_Case]] = defaultdict(list)
    for item in result.coverage:
        case = _Case(
            suite=item.check,
            category=item.category,
            name=_case_name(item.operation, item.input),
            status=item.status,
            reason=item.reason,
            cause=item.cause,
        )
        cases.append(case)
        by_key[(item.category, item.operation, item.input)].append(case)

    for f in result.findings:
        candidates = by_key.get((f.category, f.operation, f.input), [])
        # Prefer the coverage item that says it failed: that is the check that found it.
        target = next((c for c in candidates if c.status == "vulnerable"), None)
        if target is None and candidates:
            target = candidates[0]
        if target is None:
            target = _Case(
                suite=f"{f.category}.findings",
                category=f.category,
                name=_case_name(f.operation, f.input),
                status="vulnerable",
            )
            cases.append(target)
            by_key[(f.category, f.operation, f.input)].append(target)
        target.findings.append(f)
    return cases


def build(result: ScanResult, fail_on: Severity = Severity.MEDIUM) -> ET.Element:
    cases = _cases(result)
    suites: dict[str, list[_Case]] = {}
    for c in cases:
        suites.setdefault(c.suite, []).append(c)

    root = ET.Element("testsuites", name="firebrick", timestamp=result.started_at)
    total = {"tests": 0, "failures": 0, "skipped": 0}
    for suite_name, suite_cases in suites.items():
        suite = ET.SubElement(root, "testsuite", name=suite_name)
        props = ET.SubElement(suite, "properties")
        ET.SubElement(props, "property", name="category", value=suite_cases[0].category)
        ET.SubElement(props, "property", name="target", value=_clean(result.target))
        for i, line in enumerate(coverage_lines(result)):
            ET.SubElement(props, "property", name=f"coverage.{i}", value=_clean(line))
        counts = {"tests": 0, "failures": 0, "skipped": 0}
        for c in suite_cases:
            counts["tests"] += 1
            tc = ET.SubElement(
                suite,
                "testcase",
                name=_clean(c.name),
                # Check names usually start with their category ("ssrf.fetch"): no stutter.
                classname=(
                    f"firebrick.{c.suite}"
                    if c.suite == c.category or c.suite.startswith(c.category + ".")
                    else f"firebrick.{c.category}.{c.suite}"
                ),
                time="0",
            )
            gating = [f for f in c.findings if f.severity.rank >= fail_on.rank]
            below = [f for f in c.findings if f.severity.rank < fail_on.rank]
            if gating:
                gating.sort(key=lambda f: _SEV_ORDER.index(f.severity))
                counts["failures"] += 1
                first = gating[0]
                failure = ET.SubElement(
                    tc,
                    "failure",
                    message=_clean(_finding_line(first)),
                    type=first.kind,
                )
                body = []
                for f in gating:
                    body.append(_finding_line(f))
                    for ex in f.evidence.exchanges[:1]:
                        body.append(f"  replay: {ex.curl}")
                failure.text = _clean("\n".join(body))
            elif c.status in ("refused", "error", "not_determined") and not c.findings:
                # No verdict is not a pass: refused, error and not determined tests are skipped,
                # their message says which and why.
                counts["skipped"] += 1
                reason = c.reason or c.status
                if c.status == "not_determined" and c.cause == "no_target":
                    pass  # "nothing to test here" reads best as the bare reason
                elif c.status == "not_determined" and c.cause is None:
                    reason = f"not determined: {reason}"
                elif c.status in ("refused", "error"):
                    reason = f"{c.status}{' (' + c.cause + ')' if c.cause else ''}: {reason}"
                ET.SubElement(tc, "skipped", message=_clean(reason))
            if below:
                out = ET.SubElement(tc, "system-out")
                out.text = _clean(
                    f"Findings below the gate ({fail_on.value}):\n"
                    + "\n".join(_finding_line(f) for f in below)
                )
        for k, v in counts.items():
            suite.set(k, str(v))
            total[k] += v
        suite.set("errors", "0")
        suite.set("time", "0")
    for k, v in total.items():
        root.set(k, str(v))
    root.set("errors", "0")
    root.set("time", f"{result.stats.duration_s:.3f}")
    return root


def render(result: ScanResult, fail_on: Severity = Severity.MEDIUM) -> str:
    root = build(result, fail_on)
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"

"""Score a scan of the guard ladder (lab/ladder.py) against its truth table.

An operation is *right* when the scan found the bypass its guard really has (every kind of
``ladder.expected``, nothing outside ``ladder.possible``), or, for a hardened guard, reported no
SSRF finding on it and recorded it as passed (or refused: the guard turned our URL away). *Partial*: true findings, but some real bypasses
unproven. *Not determined*: an honest miss (coverage says so and names the fix). Anything else is
*wrong*: a false "passed" or a false finding.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from firebrick.lab.ladder import GUARDS, MODES, expected, possible

SSRF_KINDS_IGNORED = {"open-redirect"}
VERDICTS = ("right", "partial", "not determined", "WRONG")


@dataclass
class Row:
    operation: str
    guard: str
    mode: str
    expected: frozenset[str]
    possible: frozenset[str]
    found: frozenset[str]
    coverage: str  # the coverage statuses recorded for the operation's input

    @property
    def right(self) -> bool:
        if not self.expected:  # hardened: clean, and no "not determined" about it
            statuses = set(self.coverage.split(","))
            return not self.found and bool(statuses & {"passed", "refused"})
        return self.expected <= self.found <= self.possible

    @property
    def verdict(self) -> str:
        """right | partial (true findings, some real bypasses unproven) | not determined | WRONG"""
        if self.right:
            return "right"
        if self.found and self.found <= self.possible and self.expected:
            return "partial"
        undetermined = "not_determined" in self.coverage
        if undetermined and not self.found:
            return "not determined"
        return "WRONG"


def operation_key(guard: str, mode: str) -> str:
    return f"GET /sync/{guard}" if mode == "sync" else f"POST /{mode}/{guard}"


def score(report: dict[str, Any]) -> list[Row]:
    """Rows for every ladder operation, from a JSON report (ScanResult.to_dict())."""
    rows = []
    for guard in GUARDS:
        for mode in MODES:
            key = operation_key(guard, mode)
            found = frozenset(
                f["kind"]
                for f in report["findings"]
                if f.get("operation") == key
                and f.get("category") == "ssrf"
                and f["kind"] not in SSRF_KINDS_IGNORED
            )
            statuses = sorted(
                {
                    c["status"]
                    for c in report.get("coverage", [])
                    if c.get("operation") == key and c.get("check") == "ssrf"
                }
            )
            rows.append(
                Row(
                    key,
                    guard,
                    mode,
                    expected(guard, mode),
                    possible(guard, mode),
                    found,
                    ",".join(statuses),
                )
            )
    return rows


def table(rows: list[Row]) -> str:
    lines = [f"{'operation':29} {'verdict':14}  expected -> found (coverage)"]
    for r in rows:
        exp = ", ".join(sorted(k.removeprefix("ssrf.") for k in r.expected)) or "clean"
        got = ", ".join(sorted(k.removeprefix("ssrf.") for k in r.found)) or "clean"
        lines.append(f"{r.operation:29} {r.verdict:14}  {exp} -> {got} ({r.coverage})")
    counts = {v: sum(r.verdict == v for r in rows) for v in VERDICTS}
    lines.append(
        f"{counts['right']} of {len(rows)} operations right, {counts['partial']} partial, "
        f"{counts['not determined']} not determined, {counts['WRONG']} wrong"
    )
    return "\n".join(lines)

"""The judge: merge duplicate findings, settle severity/confidence from evidence, fill fixes, sort.

It never probes: it only reads what checks reported. Runs after all checks (and late OOB
interactions) are in, before scoring.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable
from dataclasses import replace
from typing import Any, TypeVar

from firebrick import remediation, weaknesses
from firebrick.model import CATEGORIES, Confidence, Evidence, Finding, Severity

MAX_EXCHANGES = 5
MAX_INTERACTIONS = 20

# Categories whose findings are measurements *of* DNS traffic (resolver statistics), where
# DNS-only evidence is the proof rather than a weak signal, so the DNS-only clamp does not apply.
DNS_MEASUREMENT_CATEGORIES = frozenset({"dns_hygiene"})

T = TypeVar("T")


def _dedupe(items: Iterable[T], cap: int | None = None) -> list[T]:
    """Keep first occurrences in order (equality, not identity), up to ``cap`` items."""
    out: list[T] = []
    for item in items:
        if item in out:
            continue
        out.append(item)
        if cap is not None and len(out) >= cap:
            break
    return out


def _rank(f: Finding) -> tuple[int, int]:
    return (f.severity.rank, f.confidence.rank)


def _merge_details(group: list[Finding]) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for f in group:  # primary first: its values win a conflict
        for key, value in f.evidence.details.items():
            merged.setdefault(key, value)
    # Reflection anywhere in the group is proof for the merged finding; do not lose it.
    if any(f.evidence.details.get("reflected") for f in group):
        merged["reflected"] = next(
            f.evidence.details["reflected"] for f in group if f.evidence.details.get("reflected")
        )
    return merged


def _merge(group: list[Finding]) -> Finding:
    """One finding from findings sharing a fingerprint; the strongest one leads."""
    primary = max(group, key=_rank)  # max keeps the first of equals: stable
    ordered = [primary, *(f for f in group if f is not primary)]
    evidence = Evidence(
        summary=next((f.evidence.summary for f in ordered if f.evidence.summary), ""),
        exchanges=_dedupe((e for f in ordered for e in f.evidence.exchanges), MAX_EXCHANGES),
        interactions=_dedupe(
            (i for f in ordered for i in f.evidence.interactions), MAX_INTERACTIONS
        ),
        payloads_worked=_dedupe(p for f in ordered for p in f.evidence.payloads_worked),
        payloads_failed=_dedupe(p for f in ordered for p in f.evidence.payloads_failed),
        details=_merge_details(ordered),
    )
    return replace(
        primary,
        severity=max((f.severity for f in group), key=lambda s: s.rank),
        confidence=max((f.confidence for f in group), key=lambda c: c.rank),
        description=next((f.description for f in ordered if f.description), ""),
        evidence=evidence,
        remediation=next((f.remediation for f in ordered if f.remediation), ""),
        references=_dedupe(r for f in ordered for r in f.references),
    )


def dns_only(finding: Finding) -> bool:
    """True when the only evidence is DNS lookups: no HTTP callback, nothing reflected."""
    interactions = finding.evidence.interactions
    return (
        bool(interactions)
        and all(i.protocol == "dns" for i in interactions)
        and not finding.evidence.details.get("reflected")
    )


def _clamp_dns_only(finding: Finding) -> Finding:
    # A lookup proves the name was resolved, not fetched (logging, link previews, egress filters):
    # never more than LOW / POSSIBLE on that alone (ARCHITECTURE.md, verdict ladder).
    if finding.category in DNS_MEASUREMENT_CATEGORIES or not dns_only(finding):
        return finding
    severity = finding.severity
    if severity.rank > Severity.LOW.rank:
        severity = Severity.LOW
    confidence = finding.confidence
    if confidence.rank > Confidence.POSSIBLE.rank:
        confidence = Confidence.POSSIBLE
    if severity is finding.severity and confidence is finding.confidence:
        return finding
    details = dict(finding.evidence.details)
    details.setdefault(
        "judge_note",
        f"clamped from {finding.severity.value}/{finding.confidence.value}: "
        "DNS lookups were the only evidence",
    )
    return replace(
        finding,
        severity=severity,
        confidence=confidence,
        evidence=replace(finding.evidence, details=details),
    )


def sort_key(f: Finding) -> tuple[Hashable, ...]:
    """Severity desc, confidence desc, then category (model order), operation, input."""
    cat_index = CATEGORIES.index(f.category) if f.category in CATEGORIES else len(CATEGORIES)
    return (
        -f.severity.rank,
        -f.confidence.rank,
        cat_index,
        f.category,
        f.operation or "",
        f.input or "",
        f.kind,
    )


def _weakness(f: Finding) -> Finding:
    """Stamp the kind's CWE and references (a check's own references come first)."""
    w = weaknesses.lookup(f.kind, f.category)
    return replace(f, cwe=f.cwe or w.cwe, references=_dedupe([*f.references, *w.references]))


def judge(findings: list[Finding]) -> list[Finding]:
    """Merge by fingerprint, clamp DNS-only evidence, fill remediation, sort. Inputs are not
    modified; the returned findings are new objects."""
    groups: dict[str, list[Finding]] = {}
    for f in findings:
        groups.setdefault(f.fingerprint, []).append(f)
    judged: list[Finding] = []
    # One rendered text per fix, shared by the findings it fits: 500 SSRF findings hold one
    # copy of the ~16 KiB safe-fetch section, not 500.
    rendered: dict[int, str] = {}
    for group in groups.values():
        merged = _clamp_dns_only(_merge(group))
        if not merged.remediation:
            key = id(remediation.fix_for(merged))  # render depends on the fix alone
            if key not in rendered:
                rendered[key] = remediation.render(merged)
            merged = replace(merged, remediation=rendered[key])
        judged.append(_weakness(merged))
    judged.sort(key=sort_key)
    return judged

"""Join a black-box scan with a source analysis: every finding gets its view's file and line;
findings both sides show are marked confirmed from both sides; the rest of the static findings
are kept apart (``ScanResult.source_findings``) and do not change the black-box grade."""

from __future__ import annotations

from firebrick.model import Finding, ScanResult, SourceLocation
from firebrick.source import SourceAnalysis
from firebrick.source.findings import KINDS
from firebrick.source.routes import Route, match_operation


def _route_key(route: Route) -> str:
    return ", ".join(route.operation_keys())


def _agrees(static: Finding, finding: Finding, route: Route) -> bool:
    if static.source is None or static.source.route != _route_key(route):
        return False
    meta = KINDS.get(static.kind)
    return meta is not None and (
        finding.kind in meta.seen_as or finding.category == meta.category == "ssrf"
    )


def attach(result: ScanResult, analysis: SourceAnalysis) -> ScanResult:
    """Annotate ``result`` in place with source locations; returns it for chaining."""
    confirmed: set[int] = set()  # static findings a black-box finding agrees with
    mapped = both = 0
    for finding in result.findings:
        route = match_operation(analysis.routes, finding.operation)
        if route is None:
            continue
        mapped += 1
        finding.source = SourceLocation(
            file=route.file, line=route.line, function=route.function, route=_route_key(route)
        )
        for i, static in enumerate(analysis.findings):
            if _agrees(static, finding, route):
                confirmed.add(i)
                both += 1
                assert static.source is not None
                finding.source = static.source  # the exact line of the outbound call
                finding.evidence.details["source_confirmed"] = {
                    "kind": static.kind,
                    "file": static.source.file,
                    "line": static.source.line,
                    "guard": static.evidence.details.get("guard"),
                }
                break
    result.source_findings = [f for i, f in enumerate(analysis.findings) if i not in confirmed]
    result.source = {
        **analysis.summary(),
        "mapped_findings": mapped,
        "confirmed_both_sides": both,
        "static_only": len(result.source_findings),
    }
    for warning in analysis.warnings:
        result.warnings.append(f"source: {warning}")
    return result

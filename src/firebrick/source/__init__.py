"""Flask source awareness: static analysis of a project (``firebrick code PATH``) and the join of
its routes with black-box findings (``firebrick scan URL --source PATH``).

Nothing is imported or executed: files are parsed with ``ast``. See docs/source.md.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from firebrick.model import Finding
from firebrick.source.findings import KINDS, classify, to_finding
from firebrick.source.project import load_project
from firebrick.source.routes import Route, find_routes, match_operation
from firebrick.source.taint import Analyzer, FunctionInfo, Sink

# Categories a source analysis reaches a verdict on (the others are not assessed by it).
ASSESSED = ("ssrf", "unsafe_consumption")


@dataclass
class SourceAnalysis:
    root: str
    files: int
    lines: int
    routes: list[Route]
    findings: list[Finding]
    warnings: list[str] = field(default_factory=list)
    duration_s: float = 0.0

    def summary(self) -> dict[str, object]:
        return {
            "root": self.root,
            "files": self.files,
            "lines": self.lines,
            "routes": len(self.routes),
            "findings": len(self.findings),
            "duration_s": self.duration_s,
        }


def _code_line(info: FunctionInfo, line: int) -> str:
    """The source line a finding points at, as written (for the evidence summary)."""
    lines = info.module.text.splitlines()
    text = lines[line - 1].strip() if 0 < line <= len(lines) else ""
    return text if len(text) <= 120 else text[:117] + "..."


def analyze(path: str | Path) -> SourceAnalysis:
    """Routes and findings of the Flask project at ``path`` (a folder or one file)."""
    t0 = time.monotonic()
    project = load_project(path)
    routes = find_routes(project)
    analyzer = Analyzer(project.modules)
    analyzer.summarize()
    by_node = {id(info.node): info for info in analyzer.functions}
    findings: list[Finding] = []
    seen: set[tuple[str, str, int, str | None]] = set()

    def add(kind: str, sink: Sink, info: FunctionInfo, route: Route | None) -> None:
        key = (kind, info.module.path, sink.line, route.path if route else None)
        if key in seen:
            return
        seen.add(key)
        findings.append(
            to_finding(
                kind,
                sink,
                file=info.module.path,
                function=info.qualname,
                route=route,
                code=_code_line(info, sink.line),
            )
        )

    routed: set[int] = set()
    for route in routes:
        info = by_node.get(id(route.node))
        if info is None:
            continue
        routed.add(id(route.node))
        sources = {p: frozenset({f"req:path:{p}"}) for p in route.params}
        for sink in analyzer.analyse(info, sources):
            for kind in classify(sink):
                if KINDS[kind].category == "ssrf":
                    add(kind, sink, info, route)
    # GraphQL resolvers (graphql-core, Graphene, Ariadne, Strawberry): ``(root, info, **args)``
    # or ``(info, **args)``; their other parameters are the query's arguments.
    endpoint = next((r for r in routes if "graphql" in r.path.lower()), None)
    for info in analyzer.functions:
        params = info.summary.params
        if id(info.node) in routed or "info" not in params[:2]:
            continue
        skip = {"info", "root", "parent", "obj", "self", "cls", "_"}
        sources = {p: frozenset({f"req:graphql:{p}"}) for p in params if p not in skip}
        for sink in analyzer.analyse(info, sources):
            for kind in classify(sink):
                if KINDS[kind].category == "ssrf":
                    add(kind, sink, info, endpoint)
    # Configured service hosts and TLS settings: wherever the call is, routed or not.
    for info in analyzer.functions:
        for sink in analyzer.analyse(info, {}):
            if sink.via:
                continue  # reported where the helper itself makes the call
            for kind in classify(sink):
                if KINDS[kind].category != "ssrf":
                    add(kind, sink, info, None)
    findings.sort(
        key=lambda f: (
            -f.severity.rank,
            f.source.file if f.source else "",
            f.source.line if f.source else 0,
        )
    )
    return SourceAnalysis(
        root=str(project.root),
        files=len(project.modules),
        lines=project.lines,
        routes=routes,
        findings=findings,
        warnings=project.warnings,
        duration_s=round(time.monotonic() - t0, 3),
    )


__all__ = ["ASSESSED", "KINDS", "SourceAnalysis", "analyze", "match_operation"]

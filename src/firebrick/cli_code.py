"""`firebrick code PATH`: the Flask source analysis as a graded report, same formats and gates
as `scan`. Registered on the main group by cli.py."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from firebrick import __version__
from firebrick.cli import Output, output_options, run_and_report
from firebrick.errors import UsageError
from firebrick.model import CoverageItem, ScanResult, ScanStats


def load_analysis(path: str) -> Any:
    """Analyse ``path``; a missing path is a usage error (exit 3) before anything else runs."""
    from firebrick.source import analyze

    if not Path(path).exists():
        raise UsageError(f"source path not found: {path}")
    try:
        return analyze(path)
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror or exc}") from None


def source_result(path: str, analysis: Any) -> ScanResult:
    """A ScanResult for a source-only analysis, scored with the published formula."""
    from firebrick.judge import judge
    from firebrick.scoring import score_result
    from firebrick.source import ASSESSED

    now = datetime.now(UTC).isoformat(timespec="seconds")
    findings = judge(list(analysis.findings))
    categories, score, grade, explanation = score_result(findings, set(ASSESSED))
    coverage = []
    flagged = {(f.category, f.operation) for f in findings}
    for route in analysis.routes:
        for key in route.operation_keys():
            failed = ("ssrf", key) in flagged
            coverage.append(
                CoverageItem(
                    "source",
                    "ssrf",
                    key,
                    None,
                    "failed" if failed else "passed",
                    f"{route.file}:{route.line} {route.function}",
                )
            )
    return ScanResult(
        target=str(Path(path).resolve()),
        started_at=now,
        finished_at=now,
        mode="source",
        tool_version=__version__,
        score=score,
        grade=grade,
        categories=categories,
        findings=findings,
        coverage=coverage,
        warnings=[f"source: {w}" for w in analysis.warnings],
        stats=ScanStats(duration_s=analysis.duration_s, operations=len(analysis.routes)),
        surface={"source": analysis.summary()},
        score_explanation=explanation,
    )


@click.command("code", short_help="Analyse a Flask project's source (no import, no execution).")
@click.argument("path", type=click.Path())
@output_options
def code(path: str, **kw: Any) -> None:
    """Find SSRF, open redirects and DNS-trusting service calls in the Flask project at PATH.

    Routes, taint from request data into outbound calls and redirects, guards on the path, and
    service hosts taken from configuration. Same formats, gates and exit codes as `scan`.
    """
    out = Output.pop(kw)
    analysis = load_analysis(path)

    async def start(progress: Any) -> ScanResult:
        import asyncio  # on use: `firebrick --help` does not import asyncio

        progress(f"analysed {analysis.files} files, {len(analysis.routes)} routes")
        return await asyncio.sleep(0, source_result(path, analysis))

    run_and_report(start, out, default_fail_on="high", store_by_default=False)

"""The terminal report (rich), also rendered without colour as the "text" format.

Everything that came from the target (titles built from responses, evidence, payloads, curl lines)
is printed as rich ``Text``, never as markup, so a response containing ``[red]`` or ANSI-looking
text cannot restyle or forge the report.
"""

from __future__ import annotations

import io
from collections import Counter
from datetime import UTC, datetime

from rich.console import Console, Group, RenderableType
from rich.markdown import Markdown
from rich.panel import Panel
from rich.rule import Rule
from rich.table import Table
from rich.text import Text

from firebrick import remediation
from firebrick.coverage import coverage_lines
from firebrick.model import (
    CategoryScore,
    Confidence,
    Exchange,
    Finding,
    Interaction,
    ScanResult,
    Severity,
)

WIDTH = 100
BAR_WIDTH = 20
MAX_PAYLOADS_SHOWN = 8

SEVERITY_STYLE: dict[Severity, str] = {
    Severity.CRITICAL: "bold white on red",
    Severity.HIGH: "bold red",
    Severity.MEDIUM: "bold yellow",
    Severity.LOW: "bold cyan",
    Severity.INFO: "dim",
}
CONFIDENCE_STYLE: dict[Confidence, str] = {
    Confidence.CONFIRMED: "bold magenta",
    Confidence.LIKELY: "magenta",
    Confidence.POSSIBLE: "dim magenta",
}
GRADE_STYLE = {
    "A": "bold green",
    "B": "bold green",
    "C": "bold yellow",
    "D": "bold dark_orange",
    "F": "bold red",
}

# 5-row block letters for the grade; "-" when there is no grade.
BIG_LETTERS: dict[str, tuple[str, ...]] = {
    "A": (" ███ ", "█   █", "█████", "█   █", "█   █"),
    "B": ("████ ", "█   █", "████ ", "█   █", "████ "),
    "C": (" ████", "█    ", "█    ", "█    ", " ████"),
    "D": ("████ ", "█   █", "█   █", "█   █", "████ "),
    "F": ("█████", "█    ", "████ ", "█    ", "█    "),
    "-": ("     ", "     ", "█████", "     ", "     "),
    "?": (" ███ ", "█   █", "   █ ", "     ", "  █  "),
}
COVERAGE_STATUSES = ("vulnerable", "passed", "refused", "error", "not_determined")


def _grade_style(grade: str | None) -> str:
    return GRADE_STYLE.get(grade or "", "bold")


def _score_style(score: float) -> str:
    if score >= 90:
        return "green"
    if score >= 70:
        return "yellow"
    return "red"


def _badge(label: str, style: str) -> Text:
    return Text(f" {label.upper()} ", style=style)


def _fmt_duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(seconds, 60)
    return f"{int(minutes)} min {rest:.0f} s"


def _fmt_time(ts: float) -> str:
    try:
        return (
            datetime.fromtimestamp(ts, UTC)
            .isoformat(timespec="milliseconds")
            .replace("+00:00", "Z")
        )
    except (OverflowError, OSError, ValueError):
        return str(ts)


# Warnings that change what the grade means, shown on the first screen (discovery words them so).
SPEC_WARNINGS = ("an API description was found but not used", "the API description at ")
SAMPLED_WARNING = "the API has "


def _header(result: ScanResult) -> RenderableType:
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold", no_wrap=True)
    grid.add_column(overflow="fold")
    stats = result.stats
    rows = [
        ("Target", result.target),
        ("Mode", result.mode),
        ("Started", result.started_at),
        ("Duration", _fmt_duration(stats.duration_s)),
        ("Requests sent", str(stats.requests_sent)),
        ("Writes sent", _writes_line(result)),
        ("Operations", f"{stats.operations} ({stats.inputs_tested} inputs tested)"),
        ("OOB interactions", str(stats.oob_interactions)),
    ]
    for label, value in rows:
        grid.add_row(label, Text(value))
    for warning in result.warnings:  # a change the scan could not undo belongs on the first screen
        if warning.startswith("RESTORE FAILED"):
            grid.add_row("Restore failed", Text(warning, style="bold red"))
        elif warning.startswith(SPEC_WARNINGS):  # a served spec that was cut or unreadable
            grid.add_row("API description", Text(warning, style="bold yellow"))
        elif warning.startswith(SAMPLED_WARNING):  # the surface was too large to test whole
            grid.add_row("Sampled", Text(warning, style="bold yellow"))
    if result.interrupted:
        grid.add_row("Status", Text("INTERRUPTED: stopped by a signal, partial", style="bold red"))
    elif not result.complete:
        grid.add_row(
            "Status",
            Text("INCOMPLETE: the time limit or budget cut the scan short", style="bold red"),
        )
    return Panel(grid, title=f"firebrick {result.tool_version}", title_align="left")


def _writes_line(result: ScanResult) -> str:
    """The write ledger's count for the first screen: POST/PUT/PATCH/DELETE sent, objects created."""
    created = [w for w in result.writes if w.created and w.check != "cleanup"]
    deleted = [w for w in created if (w.cleanup or "").startswith("deleted")]
    line = f"{len(result.writes)} (requests other than GET/HEAD/OPTIONS)"
    if created:
        line += f"; {len(created)} objects created, {len(deleted)} deleted by cleanup"
    return line


def _grade_block(result: ScanResult) -> RenderableType:
    incomplete = result.grade_incomplete
    grade = "?" if incomplete else (result.grade or "-")
    style = "bold red" if incomplete else _grade_style(result.grade)
    big = Text("\n".join(BIG_LETTERS.get(grade, BIG_LETTERS["-"])), style=style)
    side = Text()
    side.append("Grade ", style="bold")
    side.append("INCOMPLETE" if incomplete else (result.grade or "none"), style=style)
    side.append("\nScore ", style="bold")
    if result.score is None:
        side.append("not scored (no category assessed)")
    else:
        side.append(f"{result.score:.1f}", style=_score_style(result.score))
        side.append(" / 100")
        if incomplete:
            side.append(" (partial: not a grade)", style="bold red")
    counts = Counter(f.severity for f in result.findings)
    side.append("\nFindings ", style="bold")
    side.append(str(len(result.findings)))
    if counts:
        side.append(" (")
        parts = [s for s in Severity if counts[s]]
        for i, sev in enumerate(parts):
            if i:
                side.append(", ")
            side.append(f"{counts[sev]} {sev.value}", style=SEVERITY_STYLE[sev])
        side.append(")")
    grid = Table.grid(padding=(0, 4))
    grid.add_column(no_wrap=True)
    grid.add_column()
    grid.add_row(big, side)
    return Panel(grid, expand=False, padding=(1, 3))


def _coverage_first_screen(result: ScanResult) -> RenderableType:
    lines: list[RenderableType] = []
    for line in coverage_lines(result):
        style = "bold red" if line.startswith("Grade incomplete") else ""
        if line.startswith("To fix"):
            style = "bold yellow"
        lines.append(Text(line, style=style))
    return Group(*lines)


def _bar(score: float) -> Text:
    filled = max(0, min(BAR_WIDTH, round(score / 100 * BAR_WIDTH)))
    bar = Text("█" * filled, style=_score_style(score))
    bar.append("░" * (BAR_WIDTH - filled), style="dim")
    return bar


def _category_table(categories: list[CategoryScore]) -> RenderableType:
    table = Table(title="Categories", title_justify="left", expand=False)
    table.add_column("Category", no_wrap=True)
    table.add_column("Score", justify="right", no_wrap=True)
    table.add_column("", no_wrap=True, width=BAR_WIDTH)
    table.add_column("Weight", justify="right", no_wrap=True)
    table.add_column("Findings", justify="right", no_wrap=True)
    for c in categories:
        if c.assessed and c.score is not None:
            score: Text = Text(f"{c.score:.1f}", style=_score_style(c.score))
            bar = _bar(c.score)
        else:
            score = Text("not assessed", style="dim")
            bar = Text("")
        table.add_row(c.category, score, bar, f"{c.weight:g}", str(c.findings))
    return table


def _interactions_table(interactions: list[Interaction]) -> RenderableType:
    table = Table(show_edge=False, pad_edge=False, box=None, padding=(0, 2, 0, 0))
    table.add_column("Protocol", no_wrap=True)
    table.add_column("Source", no_wrap=True)
    table.add_column("Time (UTC)", no_wrap=True)
    table.add_column("What", overflow="fold")
    for i in interactions:
        if i.protocol == "dns":
            what = f"{i.dns_qtype or '?'} {i.dns_qname or ''}"
            if i.dns_txid is not None:
                what += f" (txid {i.dns_txid})"
        else:
            what = f"{i.http_method or ''} {i.http_path or ''}"
            if i.http_host:
                what += f" Host: {i.http_host}"
        if i.listener != "public":
            what += f" [{i.listener} listener]"
        table.add_row(
            Text(i.protocol),
            Text(f"{i.source_ip}:{i.source_port}"),
            Text(_fmt_time(i.time)),
            Text(what.strip()),
        )
    return table


def _payloads(label: str, payloads: list[str]) -> Text:
    text = Text(f"{label}: ", style="bold")
    shown = payloads[:MAX_PAYLOADS_SHOWN]
    text.append(", ".join(shown))
    if len(payloads) > len(shown):
        text.append(f" (+{len(payloads) - len(shown)} more)", style="dim")
    return text


def _exchange_line(ex: Exchange) -> Text:
    status = str(ex.status) if ex.status is not None else f"failed: {ex.error or 'no response'}"
    return Text(
        f"{ex.method} {ex.url} -> {status} ({ex.response_size} bytes, {ex.elapsed_ms:.0f} ms)",
        style="dim",
    )


def finding_identity(f: Finding) -> str | None:
    """Which identity the finding came from: the identity of its evidence requests."""
    names = list(dict.fromkeys(e.identity for e in f.evidence.exchanges if e.identity))
    if not names:
        names = [str(f.evidence.details["identity"])] if f.evidence.details.get("identity") else []
    return ", ".join(names) or None


def _print_finding(
    console: Console,
    index: int,
    f: Finding,
    shared_shown_at: dict[str, int],
    compact: bool = False,
) -> None:
    head = Text(f"{index}. ")
    head.append_text(_badge(f.severity.value, SEVERITY_STYLE[f.severity]))
    head.append(" ")
    head.append_text(_badge(f.confidence.value, CONFIDENCE_STYLE[f.confidence]))
    head.append(" ")
    head.append(f.title, style="bold")
    console.print(head)

    where = Text()
    where.append("Operation: ", style="bold")
    where.append(f.operation or "-")
    where.append("   Input: ", style="bold")
    where.append(f.input or "-")
    who = finding_identity(f)
    if who:
        where.append("   As: ", style="bold")
        where.append(who)
    where.append(f"   [{f.category} / {f.kind}]", style="dim")
    console.print(where)
    if f.source is not None:
        console.print(_source_line(f))
    if compact:  # one line of evidence; the rest is in the other formats
        if f.evidence.summary:
            console.print(Text("Evidence: ", style="bold") + Text(f.evidence.summary))
        return
    if f.description:
        console.print(Text(f.description))

    ev = f.evidence
    if ev.summary:
        console.print(Text("Evidence: ", style="bold") + Text(ev.summary))
    if ev.payloads_worked:
        console.print(_payloads("Payloads that worked", ev.payloads_worked))
    if ev.payloads_failed:
        console.print(_payloads("Payloads refused", ev.payloads_failed))
    if ev.exchanges:
        first = ev.exchanges[0]
        console.print(Text("Replay:", style="bold"))
        # soft_wrap: no hard line breaks inside the command, so it can be copied from a file.
        console.print(Text(first.curl), soft_wrap=True)
        console.print(_exchange_line(first))
    if ev.interactions:
        console.print(Text(f"Out-of-band interactions ({len(ev.interactions)}):", style="bold"))
        console.print(_interactions_table(ev.interactions))

    fix = f.remediation or remediation.render(f)
    specific, shared = remediation.split_shared(fix)
    console.print()
    console.print(Text("Fix (Flask):", style="bold green"))
    console.print(Markdown(specific))
    if shared:
        console.print()
        key = shared.strip()
        if key in shared_shown_at:
            console.print(
                Text(
                    f"The safe-fetch code for this fix is shown under finding "
                    f"{shared_shown_at[key]} above.",
                    style="italic",
                )
            )
        else:
            shared_shown_at[key] = index
            console.print(Markdown(shared))


def _source_line(f: Finding) -> Text:
    """``Source: app/views.py:42 in fetch_image (confirmed from both sides)``."""
    assert f.source is not None
    text = Text("Source: ", style="bold")
    text.append(f"{f.source.file}:{f.source.line}")
    if f.source.function:
        text.append(f" in {f.source.function}")
    if f.evidence.details.get("source_confirmed"):
        text.append("  (confirmed from both sides)", style="bold green")
    return text


def _coverage(result: ScanResult) -> RenderableType:
    counts = Counter(c.outcome.value for c in result.coverage)
    text = Text("Tests: ", style="bold")
    statuses = list(COVERAGE_STATUSES) + sorted(set(counts) - set(COVERAGE_STATUSES))
    text.append(", ".join(f"{counts[s]} {s}" for s in statuses))
    text.append(f" ({len(result.coverage)} tests)")
    lines: list[RenderableType] = [text]
    open_items = [c for c in result.coverage if not c.outcome.is_verdict]
    for c in open_items[:10]:
        where = " ".join(p for p in (c.operation, c.input) if p)
        label = c.outcome.value + (f" ({c.cause})" if c.cause else "")
        line = Text(f"  {label}: {c.check}", style="dim")
        if where:
            line.append(f" on {where}", style="dim")
        if c.reason:
            line.append(f": {c.reason}", style="dim")
        lines.append(line)
    if len(open_items) > 10:
        lines.append(Text(f"  ... and {len(open_items) - 10} more", style="dim"))
    return Group(*lines)


def _ledger(result: ScanResult) -> RenderableType:
    """The write ledger: every request other than GET/HEAD/OPTIONS the scan sent."""
    table = Table(title=f"Write ledger ({len(result.writes)})", title_justify="left")
    for name in ("method", "path", "status", "check", "created", "cleanup / note"):
        table.add_column(name, overflow="fold")
    for w in result.writes:
        table.add_row(
            Text(w.method),
            Text(w.path),
            Text(str(w.status) if w.status is not None else "no answer"),
            Text(w.check),
            Text(w.created or ""),
            Text("; ".join(x for x in (w.cleanup, w.note) if x)),
        )
    return table


def print_report(
    result: ScanResult, console: Console, explain: bool = False, compact: bool = False
) -> None:
    """Print the whole report: header, grade, categories, findings, warnings, coverage.

    ``compact`` prints each finding as its title, location and evidence summary (for CI logs);
    the evidence in full and the fixes stay in the json/html/sarif reports.
    """
    console.print(_header(result))
    console.print(_grade_block(result))
    if result.coverage_summary is not None:
        console.print(_coverage_first_screen(result))
    console.print(_category_table(result.categories))

    console.print(Rule(f"Findings ({len(result.findings)})", align="left"))
    if not result.findings:
        console.print(Text("No findings."))
    shared_shown_at: dict[str, int] = {}
    for index, finding in enumerate(result.findings, start=1):
        if index > 1 and not compact:
            console.print(Rule(style="dim"))
        _print_finding(console, index, finding, shared_shown_at, compact)
    if compact and result.findings:
        console.print(
            Text(
                "Evidence, replay lines and the Flask fixes: write -f html or -f json, or run "
                "firebrick show ID on a stored scan.",
                style="italic",
            )
        )

    if result.source_findings:
        console.print(
            Rule(f"Only in the source ({len(result.source_findings)}, not graded)", align="left")
        )
        for index, finding in enumerate(result.source_findings, start=1):
            _print_finding(console, index, finding, shared_shown_at, compact=True)

    console.print(Rule("Warnings and coverage", align="left"))
    if result.warnings:
        for w in result.warnings:
            console.print(Text("! ", style="bold yellow") + Text(w))
    else:
        console.print(Text("No warnings."))
    console.print(_coverage(result))
    if result.writes:
        console.print(_ledger(result))

    if explain:
        console.print(Rule("Score explanation", align="left"))
        if result.score_explanation:
            for line in result.score_explanation:
                console.print(Text(line), soft_wrap=True)
        else:
            console.print(Text("No score explanation was recorded for this scan."))


def render_text(result: ScanResult, explain: bool = False) -> str:
    """The report as plain text (no colour, no control codes), 100 columns wide, for files."""
    buffer = io.StringIO()
    console = Console(
        file=buffer,
        force_terminal=False,
        width=WIDTH,
        color_system=None,
        highlight=False,
        emoji=False,
        legacy_windows=False,
    )
    print_report(result, console, explain=explain)
    # rich pads Markdown and tables to the full width; trailing blanks only bloat a file.
    return "\n".join(line.rstrip() for line in buffer.getvalue().splitlines()) + "\n"

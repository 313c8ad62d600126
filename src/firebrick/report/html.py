"""One self-contained HTML report: inline CSS, an inline SVG chart, no script, no remote anything.

Almost every string in a report comes from the target (response bodies, headers, paths, names
that discovery read from the spec), so the target is attacker-controlled and everything is
escaped; a Content-Security-Policy meta tag forbids any fetch as a second line of defence.
The Flask fix (Markdown) goes through markdown-it with raw HTML, links and images turned off, so
even a remediation text cannot make the page load something.
"""

from __future__ import annotations

import datetime as _dt
from html import escape
from typing import Any

from markdown_it import MarkdownIt

from firebrick.coverage import coverage_lines
from firebrick.model import (
    CategoryScore,
    CoverageItem,
    Exchange,
    Finding,
    Interaction,
    ScanResult,
    Severity,
)

_SEV_ORDER = [Severity.CRITICAL, Severity.HIGH, Severity.MEDIUM, Severity.LOW, Severity.INFO]

SEVERITY_COLOR = {
    Severity.CRITICAL: "#7a0010",
    Severity.HIGH: "#c0281e",
    Severity.MEDIUM: "#d9822b",
    Severity.LOW: "#3c6fb4",
    Severity.INFO: "#6b7280",
}
GRADE_COLOR = {"A": "#1a7f37", "B": "#4d9a2a", "C": "#b8930b", "D": "#d9622b", "F": "#b42318"}
STATUS_COLOR = {
    "vulnerable": "#b42318",
    "passed": "#1a7f37",
    "refused": "#d9622b",
    "error": "#7a0010",
    "not_determined": "#b8930b",
}

# CommonMark without raw HTML; links, images, autolinks and reference definitions disabled so
# their text shows literally instead of becoming a href/src.
_MD = MarkdownIt("commonmark", {"html": False}).disable(["link", "image", "autolink", "reference"])


def markdown_to_html(text: str) -> str:
    """Safe Markdown -> HTML for remediation text (headings, code, lists, paragraphs)."""
    return _MD.render(text or "")


def e(value: Any) -> str:
    """Escape for text and for double- or single-quoted attributes."""
    return escape("" if value is None else str(value), quote=True)


def _score_color(score: float | None) -> str:
    if score is None:
        return "#9ca3af"
    if score >= 90:
        return GRADE_COLOR["A"]
    if score >= 80:
        return GRADE_COLOR["B"]
    if score >= 70:
        return GRADE_COLOR["C"]
    if score >= 60:
        return GRADE_COLOR["D"]
    return GRADE_COLOR["F"]


def _fmt_score(score: float | None) -> str:
    return "n/a" if score is None else f"{score:.0f}"


def category_chart(categories: list[CategoryScore]) -> str:
    """Horizontal bar chart of category scores as inline SVG (0..100 scale)."""
    row, label_w, bar_w = 22, 190, 360
    height = row * len(categories) + 28
    width = label_w + bar_w + 70
    parts = [
        f'<svg class="chart" width="{width}" '
        f'height="{height}" viewBox="0 0 {width} {height}" role="img" '
        'aria-label="Score per category">'
    ]
    for x in (0, 50, 100):
        gx = label_w + bar_w * x / 100
        parts.append(
            f'<line x1="{gx:.1f}" y1="0" x2="{gx:.1f}" y2="{height - 18}" stroke="#e5e7eb"/>'
            f'<text x="{gx:.1f}" y="{height - 4}" font-size="10" text-anchor="middle" '
            f'fill="#6b7280">{x}</text>'
        )
    for i, c in enumerate(categories):
        y = i * row + 4
        parts.append(
            f'<text x="{label_w - 8}" y="{y + 13}" font-size="12" text-anchor="end" '
            f'fill="#111827">{e(c.category)}</text>'
        )
        if c.assessed and c.score is not None:
            w = bar_w * max(0.0, min(100.0, c.score)) / 100
            parts.append(
                f'<rect x="{label_w}" y="{y}" width="{w:.1f}" height="{row - 6}" rx="2" '
                f'fill="{_score_color(c.score)}"/>'
                f'<text x="{label_w + w + 6:.1f}" y="{y + 13}" font-size="11" '
                f'fill="#111827">{_fmt_score(c.score)}</text>'
            )
        else:
            parts.append(
                f'<rect x="{label_w}" y="{y}" width="{bar_w}" height="{row - 6}" rx="2" '
                'fill="none" stroke="#d1d5db" stroke-dasharray="4 3"/>'
                f'<text x="{label_w + 8}" y="{y + 13}" font-size="11" fill="#6b7280">'
                "not assessed</text>"
            )
    parts.append("</svg>")
    return "".join(parts)


_CSS = """
@page { size: A4; margin: 14mm 12mm; }
* { box-sizing: border-box; }
body { font-family: "DejaVu Sans", "Segoe UI", Helvetica, Arial, sans-serif; color: #111827;
  margin: 0 auto; max-width: 1000px; padding: 16px; font-size: 14px; line-height: 1.45; }
h1 { font-size: 22px; margin: 0 0 4px; }
h2 { font-size: 18px; border-bottom: 1px solid #e5e7eb; padding-bottom: 4px; margin-top: 28px; }
h3 { font-size: 15px; margin: 0; }
.header { display: flex; gap: 20px; align-items: center; }
.grade { font-size: 48px; font-weight: 700; color: #fff; width: 88px; height: 88px;
  border-radius: 12px; text-align: center; line-height: 88px; flex: none; }
.meta { color: #374151; font-size: 13px; }
.meta b { color: #111827; }
.banner { background: #fef3c7; border: 1px solid #f59e0b; padding: 8px 12px; border-radius: 6px;
  margin: 12px 0; }
table { border-collapse: collapse; width: 100%; margin: 8px 0; font-size: 13px; }
th, td { border: 1px solid #e5e7eb; padding: 4px 6px; text-align: left; vertical-align: top;
  overflow-wrap: anywhere; }
th { background: #f9fafb; white-space: nowrap; }
.sev { display: inline-block; color: #fff; border-radius: 4px; padding: 0 6px; font-size: 12px;
  font-weight: 600; text-transform: uppercase; }
.conf { display: inline-block; border: 1px solid #9ca3af; border-radius: 4px; padding: 0 6px;
  font-size: 12px; color: #374151; }
.finding { border: 1px solid #e5e7eb; border-radius: 8px; padding: 10px 14px; margin: 14px 0;
  page-break-inside: auto; }
.finding .where { font-family: "DejaVu Sans Mono", Menlo, Consolas, monospace; font-size: 12px;
  color: #374151; margin: 4px 0; }
pre { background: #f3f4f6; padding: 8px; border-radius: 6px; white-space: pre-wrap;
  overflow-wrap: anywhere; font-size: 12px; font-family: "DejaVu Sans Mono", Menlo, Consolas,
  monospace; margin: 4px 0; }
code { font-family: "DejaVu Sans Mono", Menlo, Consolas, monospace; font-size: 12px; }
.fix { border-left: 4px solid #1a7f37; padding: 2px 12px; background: #f0fdf4; margin-top: 8px; }
.label { font-weight: 600; font-size: 12px; color: #374151; margin-top: 8px; }
.status { font-weight: 600; }
.muted { color: #6b7280; }
.chart { max-width: 100%; height: auto; }
"""


def _sev_badge(sev: Severity) -> str:
    return f'<span class="sev" style="background:{SEVERITY_COLOR[sev]}">{e(sev.value)}</span>'


def _exchange_html(ex: Exchange) -> str:
    req = [f"{ex.method} {ex.url}"]
    req += [f"{k}: {v}" for k, v in ex.request_headers.items()]
    if ex.request_body:
        req += ["", ex.request_body]
    if ex.status is None:
        resp = [f"(no response: {ex.error or 'request failed'})"]
    else:
        resp = [f"HTTP {ex.status}  ({ex.response_size} bytes, {ex.elapsed_ms:.0f} ms)"]
        resp += [f"{k}: {v}" for k, v in ex.response_headers.items()]
        if ex.response_excerpt:
            resp += ["", ex.response_excerpt]
    return (
        '<div class="label">Request</div>'
        f"<pre>{e(chr(10).join(req))}</pre>"
        '<div class="label">Response (excerpt)</div>'
        f"<pre>{e(chr(10).join(resp))}</pre>"
        '<div class="label">Replay</div>'
        f"<pre>{e(ex.curl)}</pre>"
    )


def _interaction_time(t: float) -> str:
    try:
        return _dt.datetime.fromtimestamp(t, _dt.UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3] + "Z"
    except (OverflowError, OSError, ValueError):
        return str(t)


def _interactions_html(items: list[Interaction]) -> str:
    rows = []
    for i in items:
        if i.protocol == "dns":
            what = f"{i.dns_qtype or '?'} {i.dns_qname or ''} (txid {i.dns_txid})"
        else:
            what = f"{i.http_method or ''} {i.http_path or ''} Host: {i.http_host or ''}"
        rows.append(
            "<tr>"
            f"<td>{e(_interaction_time(i.time))}</td><td>{e(i.protocol)}</td>"
            f"<td>{e(i.source_ip)}:{e(i.source_port)}</td><td>{e(i.listener)}</td>"
            f"<td>{e(i.token)}</td><td><code>{e(what)}</code></td>"
            "</tr>"
        )
    return (
        '<div class="label">Out-of-band interactions</div>'
        "<table><tr><th>Time (UTC)</th><th>Protocol</th><th>From</th><th>Listener</th>"
        "<th>Token</th><th>Request / query</th></tr>" + "".join(rows) + "</table>"
    )


def _finding_html(n: int, f: Finding) -> str:
    ev = f.evidence
    out = [
        f'<div class="finding" id="finding-{n}">',
        f"<h3>{_sev_badge(f.severity)} <span class='conf'>{e(f.confidence.value)}</span> "
        f"{e(f.title)}</h3>",
        f'<div class="where">{e(f.kind)} &middot; {e(f.category)}'
        + (f" &middot; {e(f.operation)}" if f.operation else "")
        + (f" &middot; input {e(f.input)}" if f.input else "")
        + f' &middot; <span class="muted">fingerprint {e(f.fingerprint)}</span></div>',
    ]
    if f.source is not None:
        both = (
            " &middot; <b>confirmed from both sides</b>"
            if ev.details.get("source_confirmed")
            else ""
        )
        out.append(
            f'<div class="where">source <code>{e(f.source.file)}:{f.source.line}</code>'
            + (f" in <code>{e(f.source.function)}</code>" if f.source.function else "")
            + f"{both}</div>"
        )
    if f.description:
        out.append(f"<p>{e(f.description)}</p>")
    if ev.summary:
        out.append(f'<div class="label">Evidence</div><p>{e(ev.summary)}</p>')
    if ev.payloads_worked:
        out.append(
            '<div class="label">Payloads that worked</div><pre>'
            + e("\n".join(ev.payloads_worked))
            + "</pre>"
        )
    if ev.payloads_failed:
        out.append(
            '<div class="label">Payloads that were refused</div><pre>'
            + e("\n".join(ev.payloads_failed))
            + "</pre>"
        )
    for ex in ev.exchanges[:3]:
        out.append(_exchange_html(ex))
    if len(ev.exchanges) > 3:
        out.append(f'<p class="muted">{len(ev.exchanges) - 3} more exchanges in the JSON.</p>')
    if ev.interactions:
        out.append(_interactions_html(ev.interactions))
    if f.remediation:
        out.append('<div class="fix"><div class="label">Fix (Flask)</div>')
        out.append(markdown_to_html(f.remediation))
        out.append("</div>")
    if f.cwe:
        out.append(f'<div class="label">Weakness</div><p><code>CWE-{f.cwe}</code></p>')
    if f.references:
        # Plain text on purpose: the report must not link out (and a PDF must not either).
        out.append(
            '<div class="label">References</div><ul>'
            + "".join(f"<li><code>{e(r)}</code></li>" for r in f.references)
            + "</ul>"
        )
    out.append("</div>")
    return "".join(out)


def _coverage_html(items: list[CoverageItem]) -> str:
    if not items:
        return "<p class='muted'>No coverage recorded.</p>"
    counts: dict[str, int] = {}
    for c in items:
        counts[c.status] = counts.get(c.status, 0) + 1
    summary = ", ".join(f"{v} {k}" for k, v in sorted(counts.items()))
    rows = [
        "<tr>"
        f"<td>{e(c.check)}</td><td>{e(c.category)}</td><td>{e(c.operation or '')}</td>"
        f"<td>{e(c.input or '')}</td>"
        f'<td class="status" style="color:{STATUS_COLOR.get(c.status, "#111827")}">'
        f"{e(c.status)}{' (' + e(c.cause) + ')' if c.cause else ''}</td><td>{e(c.reason)}</td>"
        "</tr>"
        for c in items
    ]
    return (
        f"<p>{e(summary)}</p><table><tr><th>Check</th><th>Category</th><th>Operation</th>"
        "<th>Input</th><th>Status</th><th>Why</th></tr>" + "".join(rows) + "</table>"
    )


def _ledger_html(result: ScanResult) -> str:
    """Every request other than GET/HEAD/OPTIONS the scan sent, and what became of it."""
    if not result.writes:
        return "<p class='muted'>The scan sent no write requests.</p>"
    rows = [
        "<tr>"
        f"<td>{e(w.method)}</td><td>{e(w.path)}</td>"
        f"<td>{e(w.status if w.status is not None else 'no answer')}</td><td>{e(w.check)}</td>"
        f"<td>{e(w.operation or '')}</td><td>{e(w.created or '')}</td>"
        f"<td>{e('; '.join(x for x in (w.cleanup, w.note) if x))}</td>"
        "</tr>"
        for w in result.writes
    ]
    return (
        "<table><tr><th>Method</th><th>Path</th><th>Status</th><th>Check</th><th>Operation</th>"
        "<th>Created</th><th>Cleanup / note</th></tr>" + "".join(rows) + "</table>"
    )


def _categories_table(categories: list[CategoryScore]) -> str:
    rows = [
        "<tr>"
        f"<td>{e(c.category)}</td>"
        f"<td>{_fmt_score(c.score) if c.assessed else '<span class=muted>not assessed</span>'}</td>"
        f"<td>{e(c.weight)}</td><td>{e(c.findings)}</td>"
        "</tr>"
        for c in categories
    ]
    return (
        "<table><tr><th>Category</th><th>Score</th><th>Weight</th><th>Findings</th></tr>"
        + "".join(rows)
        + "</table>"
    )


def render(result: ScanResult) -> str:
    grade = "incomplete" if result.grade_incomplete else (result.grade or "?")
    findings = sorted(
        result.findings,
        key=lambda f: (_SEV_ORDER.index(f.severity), -f.confidence.rank, f.category, f.title),
    )
    counts = {s: sum(1 for f in findings if f.severity is s) for s in _SEV_ORDER}
    count_line = ", ".join(f"{n} {s.value}" for s, n in counts.items() if n) or "no findings"
    body = [
        '<div class="header">',
        f'<div class="grade" style="background:{GRADE_COLOR.get(grade, "#6b7280")}">'
        f"{e(grade if len(grade) == 1 else '?')}</div>",
        "<div>",
        f"<h1>firebrick report: {e(result.target)}</h1>",
        f'<div class="meta">Grade <b>{e(grade)}</b> &middot; score '
        f"<b>{_fmt_score(result.score)}</b>/100"
        f"{' (partial: not a grade)' if result.grade_incomplete else ''} &middot; "
        f"{e(count_line)}</div>",
        f'<div class="meta">Started {e(result.started_at)} &middot; finished '
        f"{e(result.finished_at)} &middot; mode {e(result.mode)} &middot; firebrick "
        f"{e(result.tool_version)}</div>",
        f'<div class="meta">{result.stats.requests_sent} requests &middot; '
        f"{result.stats.oob_interactions} OOB interactions &middot; "
        f"{result.stats.operations} operations &middot; {result.stats.duration_s:.1f} s"
        f" &middot; {len(result.writes)} writes (see the write ledger)</div>",
        "</div></div>",
    ]
    if not result.complete:
        body.append(
            '<div class="banner"><b>Incomplete scan:</b> the time limit or request budget cut it '
            "short; untested does not mean safe.</div>"
        )
    cov = coverage_lines(result)
    if cov:
        style = ' class="banner"' if result.grade_incomplete else ""
        body.append(
            f'<div{style} id="coverage-summary">' + "<br>".join(e(line) for line in cov) + "</div>"
        )
    body.append("<h2>Categories</h2>")
    body.append(category_chart(result.categories))
    body.append(_categories_table(result.categories))
    if result.score_explanation:
        body.append(
            '<div class="label">How the score was computed</div><ul>'
            + "".join(f"<li>{e(x)}</li>" for x in result.score_explanation)
            + "</ul>"
        )
    body.append(f"<h2>Findings ({len(findings)})</h2>")
    if not findings:
        body.append("<p>No findings.</p>")
    body += [_finding_html(n, f) for n, f in enumerate(findings, 1)]
    if result.source_findings:
        body.append(f"<h2>Only in the source ({len(result.source_findings)}, not graded)</h2>")
        offset = len(findings)
        body += [_finding_html(offset + n, f) for n, f in enumerate(result.source_findings, 1)]
    body.append("<h2>Coverage</h2>")
    body.append(_coverage_html(result.coverage))
    body.append(f"<h2>Write ledger ({len(result.writes)})</h2>")
    body.append(_ledger_html(result))
    body.append(f"<h2>Warnings ({len(result.warnings)})</h2>")
    if result.warnings:
        body.append("<ul>" + "".join(f"<li>{e(w)}</li>" for w in result.warnings) + "</ul>")
    else:
        body.append("<p class='muted'>None.</p>")
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        # No fetch of any kind: not even if an escaping bug let markup through.
        '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; '
        "style-src 'unsafe-inline'; img-src data:; form-action 'none'; base-uri 'none'\">"
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<meta name="referrer" content="no-referrer">'
        f"<title>firebrick {e(grade)} - {e(result.target)}</title>"
        f"<style>{_CSS}</style></head><body>\n" + "\n".join(body) + "\n</body></html>\n"
    )

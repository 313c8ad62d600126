"""One self-contained HTML report: inline CSS, an inline SVG chart, no script, no remote anything.

Almost every string in a report comes from the target (response bodies, headers, paths, names
that discovery read from the spec), so the target is attacker-controlled and everything is
escaped; a Content-Security-Policy meta tag forbids any fetch as a second line of defence.
The Flask fix (Markdown) goes through markdown-it with raw HTML, links and images turned off, so
even a remediation text cannot make the page load something.
"""

from __future__ import annotations

import datetime as _dt
from typing import Any

from markdown_it import MarkdownIt
from markupsafe import Markup, escape

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
    """Escape for text and for double- or single-quoted attributes (as the template does)."""
    return str(escape("" if value is None else str(value)))


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
.counts { width: auto; }
.counts td, .counts th { text-align: center; min-width: 64px; }
.idx { margin: 4px 0 10px; padding-left: 28px; }
.group { margin: 6px 0; }
details > summary { cursor: pointer; font-weight: 600; font-size: 12px; color: #374151;
  margin-top: 8px; }
"""

# Screen only: index links and section anchors.
_HTML_CSS = """
a { color: #1d4ed8; }
"""


# PDF only: pages numbered, each section on its own page, contents with page numbers.
_PDF_CSS = """
@page { @bottom-right { content: "page " counter(page) " of " counter(pages); font-size: 9px;
  color: #6b7280; } @bottom-left { content: "firebrick report"; font-size: 9px; color: #6b7280; } }
#contents, #coverage, #index, #findings, #source-only, #scoring { break-before: page; }
.toc a { color: #111827; text-decoration: none; }
.toc a::after { content: leader(". ") target-counter(attr(href), page); }
.idx a, td a { color: #111827; text-decoration: none; }
.idx a::after { content: " (p. " target-counter(attr(href), page) ")"; color: #6b7280; }
details > summary { font-weight: 600; font-size: 12px; color: #374151; list-style: none; }
body { font-size: 12px; } pre, code { font-size: 10px; }
"""

# The PDF is for reading, not for the full record: evidence is cut and the JSON has it all.
PDF_EXCHANGES = 1
PDF_TEXT_CHARS = 800
PDF_PAYLOADS = 5
PDF_FIX_LINES = 30  # lines of a fix's Markdown (the SSRF fixes carry whole modules)
HTML_EXCHANGES = 3
FIX_CUT = "The fix continues in the HTML and JSON reports."
TRUNCATED = "… [truncated: the full evidence is in the JSON report (-f json)]"


def _cut(text: str, limit: int | None) -> str:
    if limit is None or len(text) <= limit:
        return text
    return text[:limit] + "\n" + TRUNCATED


def _cut_markdown(text: str, max_lines: int) -> str:
    """The first max_lines of a Markdown fix, a code fence left open closed, and a pointer."""
    lines = text.splitlines()
    if len(lines) <= max_lines:
        return text
    kept = lines[:max_lines]
    fences = sum(1 for ln in kept if ln.lstrip().startswith(("```", "~~~")))
    if fences % 2:
        kept.append("```")
    kept += ["", f"*{FIX_CUT}*"]
    return "\n".join(kept)


def _exchange_view(ex: Exchange, limit: int | None) -> dict[str, str]:
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
    return {
        "request": _cut("\n".join(req), limit),
        "response": _cut("\n".join(resp), limit),
        "curl": _cut(ex.curl, limit),  # the replay line: user secrets masked, forged tokens shown
    }


def _interaction_time(t: float) -> str:
    try:
        return _dt.datetime.fromtimestamp(t, _dt.UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3] + "Z"
    except (OverflowError, OSError, ValueError):
        return str(t)


def _interaction_view(i: Interaction) -> dict[str, str]:
    if i.protocol == "dns":
        what = f"{i.dns_qtype or '?'} {i.dns_qname or ''} (txid {i.dns_txid})"
    else:
        what = f"{i.http_method or ''} {i.http_path or ''} Host: {i.http_host or ''}"
    return {
        "time": _interaction_time(i.time),
        "protocol": i.protocol,
        "source": f"{i.source_ip}:{i.source_port}",
        "listener": str(i.listener),
        "token": str(i.token),
        "what": what,
    }


def _payloads(items: list[str], pdf: bool) -> str:
    shown = items[:PDF_PAYLOADS] if pdf else items
    text = "\n".join(shown)
    if len(shown) < len(items):
        text += f"\n… {len(items) - len(shown)} more in the JSON report"
    return _cut(text, PDF_TEXT_CHARS if pdf else None)


def _finding_view(n: int, f: Finding, pdf: bool) -> dict[str, Any]:
    ev = f.evidence
    keep = PDF_EXCHANGES if pdf else HTML_EXCHANGES
    limit = PDF_TEXT_CHARS if pdf else None
    more = ""
    if len(ev.exchanges) > keep:
        more = f"{len(ev.exchanges) - keep} more exchanges in the JSON."
    return {
        "n": n,
        "anchor": f"finding-{n}",
        "f": f,
        "title": f.title,
        "severity": f.severity,
        "operation": f.operation,
        "worked": _payloads(ev.payloads_worked, pdf),
        "failed": _payloads(ev.payloads_failed, pdf),
        "exchanges": [_exchange_view(x, limit) for x in ev.exchanges[:keep]],
        "more": more,
        "interactions": [_interaction_view(i) for i in ev.interactions],
        "has_details": bool(
            ev.payloads_worked or ev.payloads_failed or ev.exchanges or ev.interactions
        ),
        "remediation": Markup(
            markdown_to_html(_cut_markdown(f.remediation, PDF_FIX_LINES) if pdf else f.remediation)
        )
        if f.remediation
        else "",
        "fix_of": 0,  # the PDF prints a fix once: later findings point to its first finding
    }


def _coverage_by_check(items: list[CoverageItem]) -> list[dict[str, Any]]:
    rows: dict[tuple[str, str], dict[str, int]] = {}
    for c in items:
        counts = rows.setdefault((c.check, c.category), {})
        counts[c.status] = counts.get(c.status, 0) + 1
    return [{"check": k[0], "category": k[1], "counts": v} for k, v in rows.items()]


def _ledger_groups(result: ScanResult) -> list[dict[str, Any]]:
    """The PDF's write ledger: one row per (method, path, check), counts and statuses."""
    groups: dict[tuple[str, str, str], dict[str, Any]] = {}
    for w in result.writes:
        g = groups.setdefault(
            (w.method, w.path, w.check),
            {"method": w.method, "path": w.path, "check": w.check, "count": 0, "s": {}, "n": []},
        )
        g["count"] += 1
        status = str(w.status) if w.status is not None else "no answer"
        g["s"][status] = g["s"].get(status, 0) + 1
        for x in (w.created, w.cleanup, w.note):
            if x and x not in g["n"]:
                g["n"].append(x)
    for g in groups.values():
        g["statuses"] = ", ".join(f"{k} x{v}" if v > 1 else k for k, v in g.pop("s").items())
        g["notes"] = "; ".join(g.pop("n"))
    return list(groups.values())


_ENV: Any = None


def _template() -> Any:
    global _ENV
    if _ENV is None:
        from jinja2 import Environment, PackageLoader, StrictUndefined

        _ENV = Environment(
            loader=PackageLoader("firebrick.report", "templates"),
            autoescape=True,  # every string comes from the target
            undefined=StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
    return _ENV.get_template("report.html")


def render(result: ScanResult, *, pdf: bool = False) -> str:
    """The report page; ``pdf=True`` lays it out for print (contents page, page numbers,
    evidence cut with a pointer to the JSON report)."""
    grade = "incomplete" if result.grade_incomplete else (result.grade or "?")
    ordered = sorted(
        result.findings,
        key=lambda f: (_SEV_ORDER.index(f.severity), -f.confidence.rank, f.category, f.title),
    )
    findings = [_finding_view(n, f, pdf) for n, f in enumerate(ordered, 1)]
    offset = len(findings)
    source = [_finding_view(offset + n, f, pdf) for n, f in enumerate(result.source_findings, 1)]
    if pdf:
        first_with: dict[str, int] = {}
        for v in [*findings, *source]:
            text = v["f"].remediation
            if text and text in first_with:
                v["remediation"], v["fix_of"] = "", first_with[text]
            elif text:
                first_with[text] = v["n"]
    counts = [(s, sum(1 for f in ordered if f.severity is s)) for s in _SEV_ORDER]
    by_category: dict[str, list[dict[str, Any]]] = {}
    for v in findings:
        by_category.setdefault(v["f"].category, []).append(v)
    status_counts: dict[str, int] = {}
    for c in result.coverage:
        status_counts[c.status] = status_counts.get(c.status, 0) + 1
    sections = [  # the PDF's contents: summary and index first, then coverage
        ("index", "Findings index"),
        ("coverage", "Coverage"),
        ("findings", f"Findings ({len(findings)})"),
    ]
    if source:
        sections.append(("source-only", f"Only in the source ({len(source)})"))
    sections += [
        ("ledger", "Write ledger"),
        ("warnings", "Warnings"),
        ("scoring", "How the score was computed"),
    ]
    return str(
        _template().render(
            r=result,
            pdf=pdf,
            css=Markup(_CSS + (_PDF_CSS if pdf else _HTML_CSS)),
            grade=grade,
            grade_color=GRADE_COLOR.get(grade, "#6b7280"),
            score=_fmt_score(result.score),
            count_line=", ".join(f"{n} {s.value}" for s, n in counts if n) or "no findings",
            counts=counts,
            chart=Markup(category_chart(result.categories)),
            fmt_score=_fmt_score,
            sev_color=SEVERITY_COLOR,
            status_color=STATUS_COLOR,
            coverage_lines=coverage_lines(result),
            coverage_counts=", ".join(f"{v} {k}" for k, v in sorted(status_counts.items())),
            statuses=sorted(status_counts),
            coverage_by_check=_coverage_by_check(result.coverage) if pdf else [],
            ledger_groups=_ledger_groups(result) if pdf else [],
            findings=findings,
            source_findings=source,
            by_severity=[(s, [v for v in findings if v["severity"] is s]) for s, n in counts if n],
            by_category=sorted(by_category.items()),
            sections=sections,
        )
    )

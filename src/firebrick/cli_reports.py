"""Report, history and diff commands; the main CLI group registers them.

    firebrick report RESULT --format sarif --output r.sarif --format html --output r.html
    firebrick history [URL] [--store PATH] [--limit N]
    firebrick show ID [--store PATH] [--format markdown]
    firebrick diff A B [--store PATH]

RESULT, A and B are a scan id in the store or a JSON report file (``-`` reads stdin). Errors a
user can cause (no such id, unreadable file, bad JSON, bad flag) print one line on stderr and
exit with code 3, never a traceback.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn

import click

from firebrick.errors import FirebrickError
from firebrick.model import ScanResult, Severity
from firebrick.report import FORMATS, render

EXIT_USAGE = 3


def _fail(message: str) -> NoReturn:
    click.echo(f"firebrick: error: {message}", err=True)
    raise SystemExit(EXIT_USAGE)


class _Command(click.Command):
    """Bad flags are usage errors: exit 3 like every other usage error (click would use 2)."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        try:
            return super().parse_args(ctx, args)
        except click.UsageError as exc:
            exc.exit_code = EXIT_USAGE
            raise


def _store_option(f: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--store",
        "store_path",
        type=click.Path(dir_okay=False, path_type=Path),
        default=None,
        envvar="FIREBRICK_STORE",
        help="SQLite scan store (default $XDG_DATA_HOME/firebrick/scans.sqlite, else ~/.local/share/firebrick/scans.sqlite; env FIREBRICK_STORE).",
    )(f)


def load_result(ref: str, store_path: Path | None) -> ScanResult:
    """A scan id in the store, or a JSON report file (``-`` = stdin)."""
    from firebrick.store import Store, result_from_dict  # on use: --help stays light

    if ref == "-":
        text = sys.stdin.read()
        source = "stdin"
    elif Path(ref).is_file():
        try:
            text = Path(ref).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            _fail(f"cannot read {ref}: {exc}")
        source = ref
    elif ref.isdigit():
        try:
            return Store(store_path).get(int(ref))
        except FirebrickError as exc:
            _fail(str(exc))
    else:
        _fail(f"{ref!r} is neither a JSON report file nor a scan id in the store")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        _fail(f"{source} is not valid JSON: {exc}")
    try:
        return result_from_dict(data)
    except ValueError as exc:
        _fail(f"{source}: {exc}")


def render_format(result: ScanResult, fmt: str, fail_on: Severity = Severity.MEDIUM) -> str | bytes:
    """One report in ``fmt`` (see firebrick.report.FORMATS); pdf is bytes, the rest text."""
    try:
        return render(result, fmt, fail_on=fail_on)
    except FirebrickError as exc:
        _fail(str(exc))


def _write(data: str | bytes, output: Path | None) -> None:
    if output is None:
        if isinstance(data, bytes):
            if sys.stdout.isatty():
                _fail("refusing to write a PDF to a terminal: use --output FILE")
            sys.stdout.buffer.write(data)
            sys.stdout.flush()
        else:
            click.echo(data, nl=False)
        return
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(data, bytes):
            output.write_bytes(data)
        else:
            output.write_text(data, encoding="utf-8")
    except OSError as exc:
        _fail(f"cannot write {output}: {exc}")


def _emit(
    result: ScanResult, formats: tuple[str, ...], outputs: tuple[Path, ...], fail_on: Severity
) -> None:
    if outputs and len(outputs) != len(formats):
        _fail("give one --output per --format (they pair up in order)")
    if not outputs and len(formats) > 1:
        _fail("several formats need one --output each")
    for i, fmt in enumerate(formats):
        try:
            data = render_format(result, fmt, fail_on)
        except FirebrickError as exc:  # e.g. PDF without WeasyPrint
            _fail(str(exc))
        _write(data, outputs[i] if outputs else None)


_format_option = click.option(
    "--format",
    "-f",
    "formats",
    type=click.Choice(list(FORMATS), case_sensitive=False),
    multiple=True,
    help="Output format; repeatable, paired in order with --output.",
)
_output_option = click.option(
    "--output",
    "-o",
    "outputs",
    type=click.Path(dir_okay=False, path_type=Path),
    multiple=True,
    help="Where to write the report in the matching --format (default stdout).",
)
_fail_on_option = click.option(
    "--fail-on",
    "fail_on",
    type=click.Choice([s.value for s in Severity], case_sensitive=False),
    default=Severity.HIGH.value,
    show_default=True,
    help="JUnit: findings at or above this severity are failures (the same default as scan's gate).",
)


@click.command("report", cls=_Command)
@click.argument("result_ref", metavar="RESULT_JSON_OR_ID")
@_format_option
@_output_option
@_fail_on_option
@_store_option
def report(
    result_ref: str,
    formats: tuple[str, ...],
    outputs: tuple[Path, ...],
    fail_on: str,
    store_path: Path | None,
) -> None:
    """Re-render a stored scan or a JSON report in other formats."""
    if not formats:
        _fail("choose at least one --format")
    result = load_result(result_ref, store_path)
    _emit(result, tuple(f.lower() for f in formats), outputs, Severity(fail_on.lower()))


@click.command("show", cls=_Command)
@click.argument("scan_id", metavar="ID")
@_format_option
@_output_option
@_fail_on_option
@_store_option
def show(
    scan_id: str,
    formats: tuple[str, ...],
    outputs: tuple[Path, ...],
    fail_on: str,
    store_path: Path | None,
) -> None:
    """Show one stored scan (the text report unless --format says otherwise)."""
    if not scan_id.isdigit():
        _fail(f"scan id must be a number, not {scan_id!r}")
    result = load_result(scan_id, store_path)
    _emit(
        result,
        tuple(f.lower() for f in formats) or ("text",),
        outputs,
        Severity(fail_on.lower()),
    )


@click.command("history", cls=_Command)
@click.argument("url", required=False)
@click.option("--limit", "-n", type=click.IntRange(min=1), default=20, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="One JSON array instead of a table.")
@_store_option
def history(url: str | None, limit: int, as_json: bool, store_path: Path | None) -> None:
    """List stored scans, newest first (only URL's when given)."""
    from firebrick.store import Store

    try:
        rows = Store(store_path).list(url, limit)
    except FirebrickError as exc:
        _fail(str(exc))
    if as_json:
        click.echo(json.dumps([r.to_dict() for r in rows], indent=2))
        return
    if not rows:
        click.echo("no scans stored" + (f" for {url}" if url else ""))
        return
    header = ("ID", "STARTED", "GRADE", "SCORE", "C/H/M/L/I", "TARGET")
    table = [header] + [
        (
            str(r.id),
            r.started_at,
            (r.grade or "?") + ("" if r.complete else "*"),
            "n/a" if r.score is None else f"{r.score:.0f}",
            "/".join(
                str(r.counts.get(k, 0)) for k in ("critical", "high", "medium", "low", "info")
            ),
            r.target,
        )
        for r in rows
    ]
    widths = [max(len(row[i]) for row in table) for i in range(len(header) - 1)]
    for row in table:
        click.echo(
            "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=False)) + "  " + row[-1]
        )
    if any(not r.complete for r in rows):
        click.echo("* incomplete scan (time limit or budget)")


@click.command("diff", cls=_Command)
@click.argument("a", metavar="A")
@click.argument("b", metavar="B")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable diff.")
@_store_option
def diff_command(a: str, b: str, as_json: bool, store_path: Path | None) -> None:
    """Compare scan A (older) with scan B (newer); each a store id or a JSON report file."""
    from firebrick.diff import diff, render_diff

    d = diff(load_result(a, store_path), load_result(b, store_path))
    if as_json:
        click.echo(
            json.dumps(
                {
                    "score": {"a": d.score_a, "b": d.score_b, "delta": d.score_delta},
                    "grade": {"a": d.grade_a, "b": d.grade_b},
                    "new": [f.to_dict() for f in d.new],
                    "resolved": [f.to_dict() for f in d.resolved],
                    "unchanged": [f.fingerprint for f in d.unchanged],
                    "not_compared": {
                        "in_a": [f.fingerprint for f in d.not_compared_resolved],
                        "in_b": [f.fingerprint for f in d.not_compared_new],
                    },
                    "categories": [
                        {
                            "category": c.category,
                            "a": c.score_a,
                            "b": c.score_b,
                            "delta": c.delta,
                            "findings_a": c.findings_a,
                            "findings_b": c.findings_b,
                        }
                        for c in d.categories
                    ],
                },
                indent=2,
            )
        )
        return
    click.echo(render_diff(d), nl=False)


COMMANDS = (report, show, history, diff_command)

# The main group registers commands by these names; `diff` is the command, as the CLI sees it.
diff = diff_command

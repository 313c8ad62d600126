"""Command line: scan, demo, lab, oob-server (and the report/history commands).

Exit codes (docs/cli.md): 0 the gate passed, 1 findings at or above the gate, 2 the scan is
incomplete (target unreachable, time limit or budget hit, or too little reached for a grade),
3 usage or internal error.
Every error a user can cause ends with one line on stderr, never a traceback.
"""

from __future__ import annotations

import json
import os
import sys
import threading
from contextlib import nullcontext
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import click

from firebrick import __version__
from firebrick.errors import FirebrickError, UsageError
from firebrick.model import ScanResult, Severity
from firebrick.options import MODES, ScanOptions, load_options, parse_header

EXIT_OK, EXIT_GATE, EXIT_INCOMPLETE, EXIT_USAGE = 0, 1, 2, 3
GRADES = ("A", "B", "C", "D", "F")
SEVERITIES = [s.value for s in Severity]
LAB_INTERNET = "127.100.0.1"  # the lab's stand-in for a public address (see firebrick.lab)


class _LazyConsole:
    """rich's stderr Console, made on first use: `firebrick --help` never imports rich."""

    _console: Any = None

    def __getattr__(self, name: str) -> Any:
        if _LazyConsole._console is None:
            from rich.console import Console

            _LazyConsole._console = Console(stderr=True, highlight=False, soft_wrap=True)
        return getattr(_LazyConsole._console, name)


err: Any = _LazyConsole()


def escape(text: str) -> str:
    from rich.markup import escape as rich_escape

    return rich_escape(text)


def Console(**kwargs: Any) -> Any:  # stands in for rich.console.Console, imported on use
    from rich.console import Console as RichConsole

    return RichConsole(**kwargs)


def fail(message: str, code: int = EXIT_USAGE) -> None:
    err.print(f"[bold red]firebrick: error:[/] {escape(message)}", markup=True, soft_wrap=True)
    raise SystemExit(code)


# -- shared options ---------------------------------------------------------------------------
def output_options(f: Any) -> Any:
    """Output and gate flags, shared by `scan` and `demo`."""
    f = click.option(
        "--no-store", is_flag=True, help="Do not save this scan in the history store."
    )(f)
    f = click.option(
        "--store",
        "store_path",
        type=click.Path(dir_okay=False),
        default=None,
        envvar="FIREBRICK_STORE",
        help="SQLite history store [default: ~/.local/share/firebrick/scans.sqlite; env FIREBRICK_STORE].",
    )(f)
    f = click.option(
        "--baseline",
        default=None,
        metavar="RESULT",
        help="A previous result (JSON file or store id): gates count only findings new since it.",
    )(f)
    f = click.option(
        "--explain-score", is_flag=True, help="Show the arithmetic behind every score."
    )(f)
    f = click.option(
        "--fail-on",
        type=click.Choice([*SEVERITIES, "none"]),
        default=None,
        help="Exit 1 if any finding is at or above this severity [default: high; demo: none].",
    )(f)
    f = click.option(
        "--fail-below",
        type=click.Choice(GRADES, case_sensitive=False),
        default=None,
        help="Exit 1 if the grade is worse than this letter.",
    )(f)
    f = click.option(
        "-o",
        "--output",
        "outputs",
        multiple=True,
        type=click.Path(dir_okay=False),
        help="Write the matching --format (by position) to this file.",
    )(f)
    f = click.option(
        "-f",
        "--format",
        "formats",
        multiple=True,
        help="Report format: text, json, sarif, junit, html, pdf, markdown (repeatable).",
    )(f)
    f = click.option(
        "--compact",
        is_flag=True,
        help="Terminal report: one entry per finding, no evidence or fixes (for CI logs).",
    )(f)
    f = click.option("-q", "--quiet", is_flag=True, help="No progress display.")(f)
    f = click.option(
        "--progress",
        "progress_mode",
        type=click.Choice(["auto", "tty", "plain", "json"]),
        default="auto",
        show_default=True,
        help="Progress on stderr: auto (a live line on a terminal, else one line per phase), "
        "plain, or json (one object per line). -q shows none.",
    )(f)
    return f


def scan_options(f: Any) -> Any:
    opts = [
        click.option(
            "--check", "checks", multiple=True, help="Run only this check or category (repeatable)."
        ),
        click.option(
            "--oob-ca",
            default=None,
            metavar="PATH",
            help="PEM certificate/CA that signs the --oob-server API [default: system CAs; env FIREBRICK_OOB_CA].",
        ),
        click.option(
            "--oob-key",
            default=None,
            metavar="KEY",
            help="API key for --oob-server (prefer env FIREBRICK_OOB_KEY: flags show in ps). Never printed.",
        ),
        click.option(
            "--oob-server",
            default=None,
            metavar="URL",
            help="Use a shared `firebrick oob-server` (https://host:port of its API) instead of local listeners [env FIREBRICK_OOB_SERVER].",
        ),
        click.option(
            "--oob-inside",
            default=None,
            metavar="ADDR|auto|off",
            help="Also listen here for callbacks that prove internal reach [default: auto = 127.0.0.1 when the target is on this machine].",
        ),
        click.option(
            "--oob-advertise",
            default=None,
            metavar="ADDR",
            help="Address the target should call back (for a remote target).",
        ),
        click.option(
            "--oob-zone",
            default=None,
            metavar="ZONE",
            help="DNS zone the OOB server answers for [default: oob.firebrick.test].",
        ),
        click.option(
            "--oob-dns-port",
            type=int,
            default=None,
            help="OOB DNS (UDP) port [default: ephemeral].",
        ),
        click.option(
            "--oob-https-port", type=int, default=None, help="OOB HTTPS port [default: ephemeral]."
        ),
        click.option(
            "--oob-http-port", type=int, default=None, help="OOB HTTP port [default: ephemeral]."
        ),
        click.option(
            "--oob-listen",
            default=None,
            metavar="ADDR",
            help="Address the OOB listeners bind [default: 127.0.0.1].",
        ),
        click.option(
            "--no-oob", is_flag=True, help="Do not start the OOB server (blind SSRF goes unseen)."
        ),
        click.option(
            "--max-operations",
            type=int,
            default=None,
            help="Operations tested; a larger API is sampled and the report says how many were left out [default: 500].",
        ),
        click.option(
            "--max-spec-bytes",
            type=int,
            default=None,
            help="Largest OpenAPI document read, bytes [default: 33554432 = 32 MiB].",
        ),
        click.option("--budget", type=int, default=None, help="Requests per scan [default: 2000]."),
        click.option(
            "--timeout",
            type=float,
            default=None,
            help="Seconds per request, whole answer included [default: 10].",
        ),
        click.option(
            "--max-time",
            type=float,
            default=None,
            help="Hard limit on the whole scan, discovery included, seconds (+3 s to stop) [default: 120].",
        ),
        click.option(
            "--rate",
            type=float,
            default=None,
            help="Requests per second to the target [default: 10].",
        ),
        click.option(
            "--mode",
            type=click.Choice(MODES),
            default=None,
            help="safe: read-only plus POST/PUT to URL-carrying inputs; full: every method (staging only); passive: no probes [default: safe].",
        ),
        click.option(
            "--cleanup/--no-cleanup",
            default=None,
            help="Delete the objects the scan created where a matching delete operation exists [default: on in full mode, off otherwise].",
        ),
        click.option(
            "--include",
            "include",
            multiple=True,
            metavar='"[METHOD ]PATTERN"',
            help="Scan only matching paths (glob, or re:REGEX; repeatable); in full mode also the only way to test an operation that looks state-changing.",
        ),
        click.option(
            "--exclude",
            "exclude",
            multiple=True,
            metavar='"[METHOD ]PATTERN"',
            help="Never discover, crawl or send to matching paths (glob, or re:REGEX; repeatable).",
        ),
        click.option(
            "--assume-safe",
            "assume_safe",
            multiple=True,
            metavar='"[METHOD ]PATTERN"',
            help="You vouch that matching operations only read although their names look state-changing (a report called 'run'): scan them in any mode. Never DELETE, never past --exclude (repeatable).",
        ),
        click.option(
            "--burst",
            type=int,
            default=None,
            help="Requests in the rate-limit burst against one cheap operation [default: 30; 0: none].",
        ),
        click.option(
            "--login",
            default=None,
            metavar="URL|'POST /path'",
            help="Log in first (JSON API or HTML form), with --username/--password or --login-user; tokens and session cookies are renewed when they expire.",
        ),
        click.option(
            "--username",
            default=None,
            help="User name for --login [env: FIREBRICK_USERNAME].",
        ),
        click.option(
            "--password",
            default=None,
            help="Password for --login; 'env:NAME' reads it from the environment [env: FIREBRICK_PASSWORD].",
        ),
        click.option(
            "--login-user",
            "login_users",
            multiple=True,
            nargs=3,
            metavar="NAME USER PASSWORD",
            help="Another identity from another login (repeatable); PASSWORD may be env:NAME.",
        ),
        click.option(
            "--login-body",
            type=click.Choice(("auto", "json", "form")),
            default=None,
            help="Body of the login request [default: auto: a form when the login URL serves one, else JSON].",
        ),
        click.option(
            "--login-fields",
            default=None,
            metavar="USERFIELD,PASSFIELD",
            help="Field names of the login body [default: the form's, else username,password].",
        ),
        click.option(
            "--token-pointer",
            default=None,
            metavar="/json/pointer",
            help="Where the token is in the login answer [default: access_token, token, jwt ...].",
        ),
        click.option(
            "--login-header",
            default=None,
            metavar='"Name: value {token}"',
            help='How the token is sent [default: "Authorization: Bearer {token}"].',
        ),
        click.option(
            "--oauth2-token-url", default=None, help="OAuth2 client-credentials token endpoint."
        ),
        click.option("--oauth2-client-id", default=None, help="OAuth2 client id."),
        click.option(
            "--oauth2-client-secret",
            default=None,
            help="OAuth2 client secret; env:NAME reads it [env: FIREBRICK_OAUTH2_CLIENT_SECRET].",
        ),
        click.option("--oauth2-scope", default=None, help="OAuth2 scope to ask for."),
        click.option(
            "--register",
            is_flag=True,
            default=None,
            help="Full mode: create two throwaway accounts through the API's registration operation and log in as both.",
        ),
        click.option(
            "--proxy",
            default=None,
            metavar="URL",
            help="Send every request through this proxy (Burp, ZAP); environment proxies are never used.",
        ),
        click.option(
            "--insecure",
            is_flag=True,
            default=None,
            help="Do not verify the target's TLS certificate.",
        ),
        click.option(
            "--ca-cert",
            default=None,
            metavar="PATH",
            help="Verify the target's TLS certificate against this CA bundle (a staging host's CA).",
        ),
        click.option(
            "--identity",
            "identities",
            multiple=True,
            nargs=2,
            metavar='NAME "Name: value"',
            help="A named identity's header for cross-identity authorization tests (repeatable).",
        ),
        click.option(
            "-H",
            "--header",
            "headers",
            multiple=True,
            metavar='"Name: value"',
            help="Send this header on every request (repeatable).",
        ),
        click.option(
            "--spec",
            default=None,
            metavar="PATH|URL",
            help="OpenAPI 2.0/3.0/3.1 document (JSON or YAML).",
        ),
    ]
    for opt in opts:
        f = opt(f)
    return f


def build_options(target: str, kw: dict[str, Any]) -> ScanOptions:
    headers = dict(parse_header(h) for h in kw.pop("headers", ()) or ())
    identities: dict[str, dict[str, str]] = {}
    for name, raw in kw.pop("identities", ()) or ():
        identities.setdefault(name, {}).update([parse_header(raw)])
    from firebrick.credentials import validate as validate_credentials

    validate_credentials(headers, identities)  # empty or malformed credentials: exit 3
    inside = kw.pop("oob_inside", None)
    overrides: dict[str, Any] = {
        "target": target,
        "headers": headers,
        "spec": kw.pop("spec", None),
        "mode": kw.pop("mode", None),
        "rate": kw.pop("rate", None),
        "max_time": kw.pop("max_time", None),
        "timeout": kw.pop("timeout", None),
        "budget": kw.pop("budget", None),
        "max_spec_bytes": kw.pop("max_spec_bytes", None),
        "max_operations": kw.pop("max_operations", None),
        "oob_listen": kw.pop("oob_listen", None),
        "oob_http_port": kw.pop("oob_http_port", None),
        "oob_https_port": kw.pop("oob_https_port", None),
        "oob_dns_port": kw.pop("oob_dns_port", None),
        "oob_zone": kw.pop("oob_zone", None),
        "oob_advertise": kw.pop("oob_advertise", None),
        "oob_server": kw.pop("oob_server", None),
        "oob_key": kw.pop("oob_key", None),
        "oob_ca": kw.pop("oob_ca", None),
        "checks": list(kw.pop("checks", ()) or ()),
        "identities": identities,
        "burst": kw.pop("burst", None),
        "login_users": [tuple(u) for u in kw.pop("login_users", ()) or ()],
        "include": list(kw.pop("include", ()) or ()) or None,
        "exclude": list(kw.pop("exclude", ()) or ()) or None,
        "assume_safe": list(kw.pop("assume_safe", ()) or ()) or None,
        "cleanup": kw.pop("cleanup", None),
    }
    for name in (
        "login",
        "username",
        "password",
        "login_body",
        "login_fields",
        "token_pointer",
        "login_header",
        "oauth2_token_url",
        "oauth2_client_id",
        "oauth2_client_secret",
        "oauth2_scope",
        "register",
        "proxy",
        "insecure",
        "ca_cert",
    ):
        overrides[name] = kw.pop(name, None)
    if kw.pop("no_oob", False):
        overrides["oob"] = False
    if inside is not None:
        overrides["oob_inside"] = None if inside == "off" else inside
    options = load_options(overrides)
    options.validate()
    return options


# -- reporting ------------------------------------------------------------------------------------
def emit(
    result: ScanResult,
    formats: tuple[str, ...],
    outputs: tuple[str, ...],
    explain: bool,
    fail_on: str | None = None,
    compact: bool = False,
    quiet: bool = False,
) -> None:
    """Write each format to its file or to stdout. The terminal report is rendered only when
    something asks for it: text on stdout, or every format in a file and no -q (--explain-score
    asks for it too); `-q -f json -o FILE` renders nothing else."""
    from firebrick.report import render, write

    junit_floor = Severity(fail_on) if fail_on and fail_on != "none" else Severity.MEDIUM

    formats, to_stdout = plan_outputs(formats, outputs)
    for fmt, path in zip(formats, outputs, strict=False):
        try:
            write(result, fmt, path, fail_on=junit_floor)
        except OSError as exc:
            raise UsageError(f"cannot write {path}: {exc.strerror or exc}") from None
        err.print(f"wrote {fmt} report to {path}", highlight=False)
    if to_stdout and to_stdout[0] == "json":
        from firebrick.report.json_report import write_json

        write_json(result, sys.stdout)
    elif to_stdout and to_stdout[0] != "text":
        data = render(result, to_stdout[0], fail_on=junit_floor)
        if isinstance(data, bytes):
            sys.stdout.buffer.write(data)
        else:
            sys.stdout.write(data if data.endswith("\n") else data + "\n")
    elif to_stdout or not quiet or explain:
        from firebrick.report.terminal import print_report

        print_report(result, Console(), explain=explain, compact=compact)


def plan_outputs(
    formats: tuple[str, ...], outputs: tuple[str, ...]
) -> tuple[tuple[str, ...], list[str]]:
    """Pair formats with outputs; UsageError for an unknown format or two on stdout."""
    from firebrick.report import FORMATS

    if len(outputs) > len(formats):
        # An --output without its own --format: take the format from the file's suffix.
        formats = formats + tuple(_format_for(o) for o in outputs[len(formats) :])
    to_stdout = [f for i, f in enumerate(formats) if i >= len(outputs)]
    if len(to_stdout) > 1:
        raise UsageError("only one --format can go to standard output: give the others an --output")
    for fmt in formats:
        if fmt not in FORMATS:
            raise UsageError(f"unknown format {fmt!r}: choose from {', '.join(sorted(FORMATS))}")
    return formats, to_stdout


def check_outputs(out: Output, store: bool) -> None:
    """Before the first request: every format known, every output file and the store writable
    (a scan whose report cannot be written is work thrown away)."""
    plan_outputs(out.formats or ("text",), out.outputs)
    for path in out.outputs:
        _check_writable(Path(path), "cannot write the report to")
    if store and out.store_path:
        _check_writable(Path(out.store_path), "cannot use the history store", create_dirs=True)


def _check_writable(path: Path, what: str, *, create_dirs: bool = False) -> None:
    if path.is_dir():
        raise UsageError(f"{what} {path}: it is a directory")
    if path.exists():
        if not os.access(path, os.W_OK):
            raise UsageError(f"{what} {path}: permission denied")
        return
    parent = path.parent
    if create_dirs:  # the store makes its directories: the nearest existing one must be writable
        while not parent.exists() and parent != parent.parent:
            parent = parent.parent
    if not parent.is_dir():
        raise UsageError(f"{what} {path}: directory {parent} does not exist")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise UsageError(f"{what} {path}: directory {parent} is not writable")


def _format_for(path: str) -> str:
    suffix = Path(path).suffix.lower().lstrip(".")
    return {"md": "markdown", "xml": "junit", "txt": "text", "htm": "html"}.get(
        suffix, suffix or "text"
    )


def gate(
    result: ScanResult,
    fail_below: str | None,
    fail_on: str | None,
    baseline: str | None = None,
    store_path: str | None = None,
) -> int:
    """The exit code: 2 for an incomplete scan, else 1 when a gate fails, else 0."""
    from firebrick.gates import evaluate

    if not result.complete:
        return EXIT_INCOMPLETE
    if result.grade_incomplete:  # too little reached for a grade: never passes a gate
        summary = result.coverage_summary
        reasons = "; ".join(summary.reasons) if summary is not None else ""
        err.print(f"gate not passed: the grade is incomplete: {reasons}", highlight=False)
        return EXIT_INCOMPLETE
    base = _load_baseline(baseline, store_path) if baseline else None
    outcome = evaluate(
        result, fail_below=fail_below, fail_on=None if fail_on == "none" else fail_on, baseline=base
    )
    for reason in outcome.reasons:
        err.print(f"gate failed: {reason}", highlight=False)
    return EXIT_OK if outcome.passed else EXIT_GATE


def _load_baseline(ref: str, store_path: str | None) -> ScanResult:
    from firebrick.cli_reports import load_result

    return load_result(ref, Path(store_path) if store_path else None)


def save(result: ScanResult, store_path: str | None) -> None:
    """Keep the scan in the history store; a store that cannot be written ends the run with 3."""
    from firebrick.store import Store

    scan_id = Store(Path(store_path) if store_path else None).save(result)
    err.print(f"stored as scan {scan_id} (firebrick show {scan_id})", highlight=False)


def run_with_progress(coro_factory: Any, quiet: bool, mode: str = "auto") -> ScanResult:
    import asyncio  # on use: --help and --version stay light

    from firebrick.progress import ProgressDisplay, choose_mode

    chosen = choose_mode(mode, quiet, err.is_terminal)
    display: Any = ProgressDisplay(chosen) if chosen is not None else None
    status_cm: Any = display if display is not None else nullcontext()
    # the display is the engine's progress callable; its .state is what the engine updates
    progress: Any = display if display is not None else (lambda _message: None)

    from firebrick.interrupt import INTERRUPT

    INTERRUPT.install()  # first SIGINT/SIGTERM: partial report, exit 2; second: exit at once
    with status_cm:
        result: ScanResult = asyncio.run(coro_factory(progress))
    if result.interrupted:
        err.print("interrupted: writing the partial report", highlight=False)
    return result


# -- commands -------------------------------------------------------------------------------------
@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="firebrick")
@click.option("--debug", is_flag=True, help="Show tracebacks for internal errors.")
@click.pass_context
def main_group(ctx: click.Context, debug: bool) -> None:
    """firebrick: black-box API security scanner with out-of-band SSRF and DNS depth.

    \b
    Examples:
      firebrick demo                                  scan the bundled vulnerable lab
      firebrick scan http://127.0.0.1:5000            scan a running API
      firebrick scan https://staging.example.com --spec openapi.yaml -H "Authorization: Bearer …"
      firebrick scan URL -f json -o result.json --fail-below B

    Exit codes: 0 gate passed, 1 findings at or above the gate, 2 scan incomplete,
    3 usage or internal error.
    """
    ctx.obj = {"debug": debug}


@dataclass
class Output:
    """The output and gate flags shared by `scan` and `demo` (see output_options)."""

    formats: tuple[str, ...]
    outputs: tuple[str, ...]
    quiet: bool
    progress_mode: str
    compact: bool
    fail_below: str | None
    fail_on: str | None
    explain_score: bool
    baseline: str | None
    store_path: str | None
    no_store: bool

    @classmethod
    def pop(cls, kw: dict[str, Any]) -> Output:
        return cls(**{f.name: kw.pop(f.name) for f in fields(cls)})


def run_and_report(
    start: Any, out: Output, *, default_fail_on: str, store_by_default: bool
) -> None:
    """Run a scan with progress, write its reports, store it, and exit with the gate's code."""
    if out.baseline:  # a bad baseline is a usage error before the scan, not after it
        _load_baseline(out.baseline, out.store_path)
    check_outputs(out, (store_by_default or bool(out.store_path)) and not out.no_store)
    result = run_with_progress(start, out.quiet, out.progress_mode)
    fail_on = out.fail_on or default_fail_on
    emit(
        result,
        out.formats or ("text",),
        out.outputs,
        out.explain_score,
        fail_on,
        out.compact,
        quiet=out.quiet,
    )
    if (store_by_default or out.store_path) and not out.no_store:
        save(result, out.store_path)
    raise SystemExit(gate(result, out.fail_below, fail_on, out.baseline, out.store_path))


@main_group.command(short_help="Scan an API and print a graded report.")
@click.argument("url", required=False)
@click.option(
    "--source",
    "source_path",
    default=None,
    metavar="PATH",
    help="The app's Flask source: map findings to file:line and add what only the source shows.",
)
@scan_options
@output_options
@click.option(
    "--launch",
    default=None,
    metavar='"CMD"',
    help="Run CMD (the app under test, any language) in a sandbox firebrick builds and scan it: "
    "its own loopback, the OOB server as its internet and resolver, a metadata canary. "
    "URL, if given, is only a path prefix.",
)
@click.option(
    "--port",
    "launch_port",
    type=int,
    default=None,
    help="With --launch: the port CMD listens on (also passed as $PORT) [default: detected].",
)
@click.option(
    "--server",
    default=None,
    envvar="FIREBRICK_SERVER",
    metavar="URL",
    help="Run the scan on this `firebrick serve` (its base URL) instead of here; reports, store and exit code stay local [env FIREBRICK_SERVER].",
)
@click.option(
    "--api-key",
    default=None,
    envvar="FIREBRICK_API_KEY",
    metavar="KEY",
    help="API key for --server (prefer env FIREBRICK_API_KEY: flags show in ps). Never printed.",
)
def scan(url: str | None, source_path: str | None, **kw: Any) -> None:
    """Scan the API at URL (or the app --launch starts) and print a graded report."""
    from firebrick.engine import run_scan

    launch, launch_port = kw.pop("launch"), kw.pop("launch_port")
    server, api_key = kw.pop("server"), kw.pop("api_key")
    out = Output.pop(kw)
    if api_key and not server:
        source = click.get_current_context().get_parameter_source("api_key")
        if source == click.core.ParameterSource.COMMANDLINE:  # env FIREBRICK_API_KEY may idle
            raise UsageError("--api-key goes with --server URL (or env FIREBRICK_SERVER)")
    if server:  # the scan runs on a `firebrick serve` (cli_remote.py)
        from firebrick.cli_remote import scan_on_server

        scan_on_server(url, server, api_key, source_path, launch, launch_port, kw, out)
        return
    if launch is None:
        if url is None:
            raise UsageError("give the URL to scan, or --launch CMD to start the app under test")
        if launch_port is not None:
            raise UsageError("--port only applies with --launch")
        options = build_options(url, kw)
    else:
        if launch_port is not None and not 0 < launch_port < 65536:
            raise UsageError(f"--port must be between 1 and 65535, not {launch_port}")
        path = urlsplit(url).path.rstrip("/") if url else ""
        # The real target is known only once the app listens: validate with a stand-in.
        options = build_options("http://127.0.0.1:1" + path, kw)
    analysis = None
    if source_path is not None:  # read before the first request: a bad path costs nothing
        from firebrick.cli_code import load_analysis

        analysis = load_analysis(source_path)
    if launch is not None:
        from firebrick.sandbox.launch import in_flat_sandbox, reexec_unprivileged

        if os.geteuid() != 0 and not in_flat_sandbox():
            reexec_unprivileged(sys.argv[1:])  # does not return

    async def start(progress: Any) -> ScanResult:
        if launch is None:
            result = await run_scan(options, progress=progress)
        else:
            from firebrick.sandbox.launch import LaunchConfig, launch_scan

            config = LaunchConfig(launch, port=launch_port, zone=options.oob_zone)
            result = await launch_scan(options, config, path=path, progress=progress)
        if analysis is not None:
            from firebrick.source.join import attach

            attach(result, analysis)
        return result

    run_and_report(start, out, default_fail_on="high", store_by_default=True)


@main_group.command(short_help="Scan the bundled lab (vulnerable or hardened).")
@click.option(
    "--hardened", is_flag=True, help="Scan the hardened twin instead of the vulnerable lab."
)
@click.option(
    "--no-spec",
    is_flag=True,
    help="The lab serves no OpenAPI document: discovery crawls and guesses.",
)
@click.option(
    "--rate",
    type=float,
    default=200.0,
    show_default=True,
    help="Requests per second (the lab is local and ours; scans default to 10).",
)
@output_options
def demo(hardened: bool, no_spec: bool, rate: float, **kw: Any) -> None:
    """Start the bundled lab on loopback, scan it, print the report, stop the lab.

    Demo scans are kept in the history store only when --store is given.
    """
    run_and_report(
        lambda progress: demo_scan(hardened, not no_spec, rate, progress),
        Output.pop(kw),
        default_fail_on="none",
        store_by_default=False,
    )


async def demo_scan(
    hardened: bool, serve_spec: bool, rate: float, progress: Any, *, inside: bool = True
) -> ScanResult:
    """The demo and the benchmark: OOB server on the lab's 'internet' address, lab, scan.

    ``inside=False`` scans as if from another machine: no listener on the target's loopback.
    """
    import asyncio  # on use: --help and --version stay light

    from firebrick.engine import run_scan
    from firebrick.lab.runner import LabConfig, start_lab
    from firebrick.oob.server import OOBConfig, OOBServer

    inside_host = "127.0.0.1" if inside else None
    options = ScanOptions(rate=rate, max_time=60.0, oob_listen=LAB_INTERNET, oob_inside=inside_host)
    config = OOBConfig(listen_host=LAB_INTERNET, inside_host=inside_host, zone=options.oob_zone)
    async with OOBServer(config) as oob:
        progress("starting the lab")
        lab_config = LabConfig(
            variant="hardened" if hardened else "vulnerable",
            oob_dns=(LAB_INTERNET, oob.dns_port or 0),
            zone=options.oob_zone,
            serve_spec=serve_spec,
        )
        lab = await asyncio.to_thread(start_lab, lab_config)
        try:
            options.target = lab.base_url
            return await run_scan(options, oob=oob, progress=progress)
        finally:
            await asyncio.to_thread(lab.stop)


@main_group.command(short_help="Run the lab API, or scan the network lab (--network).")
@click.option(
    "--variant",
    type=click.Choice(["vulnerable", "hardened"]),
    default="vulnerable",
    show_default=True,
)
@click.option("--port", type=int, default=5000, show_default=True)
@click.option("--no-spec", is_flag=True, help="Serve no OpenAPI document.")
@click.option(
    "--oob-dns",
    default=None,
    metavar="HOST:PORT",
    help="OOB DNS listener the lab resolves the OOB zone with.",
)
@click.option("--zone", default="oob.firebrick.test", show_default=True)
@click.option(
    "--network",
    is_flag=True,
    help="Network lab (root): the app in its own namespace behind a real resolver; "
    "scan it once from outside, print the report, tear it all down.",
)
@click.option(
    "--resolver",
    type=click.Choice(["unbound", "dnsmasq"]),
    default="unbound",
    show_default=True,
    help="With --network: unbound (randomising, validating) or "
    "dnsmasq (fixed query port, no DNSSEC, open).",
)
@click.option(
    "--app",
    type=click.Choice(["main", "login", "form", "graphql"]),
    default="main",
    show_default=True,
    help="login: login-only API (users bob/bob-pass-1, alice/alice-pass-2); form: Django-style "
    "form app (alice/alice-pass-2); graphql: GraphQL endpoint at /graphql.",
)
def lab(
    variant: str,
    port: int,
    no_spec: bool,
    oob_dns: str | None,
    zone: str,
    network: bool,
    resolver: str,
    app: str = "main",
) -> None:
    """Run the vulnerable (or hardened) lab API on 127.0.0.1 until Ctrl-C."""
    from firebrick.lab.runner import LabConfig, start_lab

    if app != "main":  # the reach labs (lab/reach_lab.py), in this process
        from firebrick.lab.reach_lab import serve_reach

        reach = serve_reach(app, variant, port=port)
        err.print(f"lab {app} ({variant}) at {reach.url}; Ctrl-C stops it")
        try:
            threading.Event().wait()  # until Ctrl-C
        except KeyboardInterrupt:
            pass
        finally:
            reach.stop()
        return

    if network:  # docs/dns.md: what it builds and what the scan should find
        from firebrick.netlab import network_scan

        result = run_with_progress(
            lambda progress: network_scan(
                variant, resolver, serve_spec=not no_spec, progress=progress
            ),
            False,
        )
        emit(result, ("text",), (), False, "none")
        raise SystemExit(EXIT_OK)

    dns: tuple[str, int] | None = None
    if oob_dns:
        host, _, p = oob_dns.rpartition(":")
        if not host or not p.isdigit():
            raise UsageError(f"invalid --oob-dns {oob_dns!r}: expected HOST:PORT")
        dns = (host, int(p))
    running = start_lab(
        LabConfig(variant=variant, port=port, serve_spec=not no_spec, oob_dns=dns, zone=zone)
    )
    err.print(
        f"lab ({variant}) at {running.base_url}; internal services: {running.internal}; Ctrl-C stops it"
    )
    try:
        threading.Event().wait()  # until Ctrl-C
    except KeyboardInterrupt:
        pass
    finally:
        running.stop()


@main_group.command("oob-server", short_help="Run the OOB HTTP/HTTPS/DNS server alone.")
@click.option("--listen", default="0.0.0.0", show_default=True, help="Address to bind.")
@click.option(
    "--advertise",
    default=None,
    help="Public address the zone's names answer with (required when --listen is a wildcard).",
)
@click.option(
    "--zone", required=True, help="The zone delegated to this host, e.g. oob.example.com."
)
@click.option("--http-port", type=int, default=80, show_default=True)
@click.option("--https-port", type=int, default=443, show_default=True)
@click.option("--dns-port", type=int, default=53, show_default=True)
@click.option(
    "--api-key",
    "api_keys",
    multiple=True,
    metavar="KEY",
    help="Enable the client API with this key (repeatable; prefer --api-keys-file or env FIREBRICK_OOB_API_KEYS).",
)
@click.option(
    "--api-keys-file",
    default=None,
    metavar="PATH",
    help="Client API keys, one a line; `sha256:<hex>` lines keep a key hashed at rest.",
)
@click.option(
    "--api-listen",
    default=None,
    metavar="ADDR",
    help="Address of the client API [default: --listen].",
)
@click.option(
    "--api-port", type=int, default=8443, show_default=True, help="HTTPS port of the client API."
)
@click.option(
    "--api-cert",
    default=None,
    metavar="PATH",
    help="PEM certificate (chain) of the API [default: self-signed].",
)
@click.option("--api-cert-key", default=None, metavar="PATH", help="Private key of --api-cert.")
@click.option(
    "--api-cert-out",
    default=None,
    metavar="PATH",
    help="Write the self-signed API certificate here (give it to clients as --oob-ca).",
)
@click.option(
    "--max-scan-events",
    type=int,
    default=5000,
    show_default=True,
    help="Events kept per scan (oldest dropped).",
)
@click.option(
    "--event-ttl", type=float, default=3600.0, show_default=True, help="Seconds an event is kept."
)
@click.option(
    "--scan-ttl",
    type=float,
    default=3600.0,
    show_default=True,
    help="A scan not polled for this long is deregistered.",
)
@click.option(
    "--max-scans", type=int, default=1000, show_default=True, help="Scans registered at once."
)
@click.option(
    "--max-total-events",
    type=int,
    default=200000,
    show_default=True,
    help="Events kept for all scans together (the busiest scan loses its oldest first).",
)
@click.option(
    "--hash-key",
    is_flag=True,
    help="Read a key on stdin, print its sha256: line for a keys file, exit.",
)
def oob_server(
    listen: str,
    advertise: str | None,
    zone: str,
    http_port: int,
    https_port: int,
    dns_port: int,
    api_keys: tuple[str, ...],
    api_keys_file: str | None,
    api_listen: str | None,
    api_port: int,
    api_cert: str | None,
    api_cert_key: str | None,
    api_cert_out: str | None,
    max_scan_events: int,
    event_ttl: float,
    scan_ttl: float,
    max_scans: int,
    max_total_events: int,
    hash_key: bool,
) -> None:
    """Run the OOB server alone (a public host with a delegated zone); prints interactions as JSON lines.

    With API keys (--api-key, --api-keys-file or FIREBRICK_OOB_API_KEYS) it also serves the HTTPS
    client API that `firebrick scan --oob-server URL --oob-key KEY` uses: one namespace per scan.
    """
    import asyncio  # on use: --help and --version stay light
    import ssl

    from firebrick.oob.api import APIConfig, APIKeyError, KeyRing, load_keys
    from firebrick.oob.server import OOBConfig

    if hash_key:
        key = sys.stdin.readline().strip()
        if len(key) < 16:
            raise UsageError("a key must be at least 16 characters")
        print(KeyRing.digest_line(key))
        return
    try:
        keys = load_keys(api_keys, api_keys_file)
    except APIKeyError as exc:
        raise UsageError(str(exc)) from None
    if (api_cert is None) != (api_cert_key is None):
        raise UsageError("--api-cert and --api-cert-key go together")
    if min(max_scan_events, max_scans, max_total_events) < 1 or min(event_ttl, scan_ttl) <= 0:
        raise UsageError("retention limits must be positive")
    config = OOBConfig(
        listen_host=listen,
        http_port=http_port,
        https_port=https_port,
        dns_port=dns_port,
        zone=zone,
        advertise_host=advertise,
    )
    api_config = APIConfig(
        host=api_listen or listen,
        port=api_port,
        cert_file=api_cert,
        key_file=api_cert_key,
        cert_out=api_cert_out,
        max_events=max_scan_events,
        event_ttl=event_ttl,
        scan_ttl=scan_ttl,
        max_scans=max_scans,
        max_total_events=max_total_events,
    )

    def show(interaction: Any) -> None:
        print(json.dumps(interaction.to_dict()), flush=True)

    def ready(server: Any, api: Any = None) -> None:
        err.print(
            f"OOB server for zone {server.zone}: http {listen}:{server.http_port}, "
            f"https {listen}:{server.https_port}, dns {listen}:{server.dns_port} (udp/tcp); "
            f"names answer {server.advertise_host}. Interactions follow as JSON lines.",
            highlight=False,
            soft_wrap=True,
        )
        if api is not None:
            pin = f"; certificate sha256 {api.tls_fingerprint}" if api.tls_fingerprint else ""
            err.print(
                f"client API on https://{api_config.host}:{api.port} with {len(keys)} key(s){pin}",
                highlight=False,
                soft_wrap=True,
            )

    try:
        asyncio.run(_serve_oob(config, api_config if len(keys) else None, keys, show, ready))
    except KeyboardInterrupt:
        pass
    except ValueError as exc:  # e.g. a wildcard listen address with nothing to advertise
        raise UsageError(f"cannot start the OOB server: {exc}") from None
    except (OSError, ssl.SSLError) as exc:
        raise UsageError(
            f"cannot start the OOB server: {getattr(exc, 'strerror', None) or exc}"
        ) from None


async def _serve_oob(config: Any, api_config: Any, keys: Any, show: Any, ready: Any) -> None:
    """The OOB listeners, and the client API beside them when keys are configured."""
    import asyncio  # on use: --help and --version stay light

    from firebrick.oob.server import serve_forever

    if api_config is None:
        await serve_forever(config, show, on_ready=ready)
        return
    from firebrick.oob.api import OOBAPI
    from firebrick.oob.server import OOBServer

    async with OOBServer(config) as server:
        server.subscribe(show)
        api = OOBAPI(server, keys, api_config)
        await api.start()
        try:
            ready(server, api)
            await asyncio.Event().wait()  # until cancelled (Ctrl-C, SIGTERM)
        finally:
            await api.stop()


REPORT_SHORT_HELP = {
    "report": "Re-render a stored scan or a JSON report.",
    "history": "List stored scans, newest first.",
    "show": "Show one stored scan.",
    "diff": "Compare two scans: new, resolved, drift.",
}


def _register_report_commands() -> None:
    try:
        from firebrick import cli_reports
    except ImportError:
        return
    for name in ("report", "history", "show", "diff"):
        command = getattr(cli_reports, name, None)
        if isinstance(command, click.Command):
            command.short_help = command.short_help or REPORT_SHORT_HELP.get(name)
            main_group.add_command(command, name)


_register_report_commands()


def _register_code_command() -> None:
    from firebrick.cli_code import code
    from firebrick.cli_fleet import fleet, worker
    from firebrick.cli_mcp import mcp
    from firebrick.cli_serve import serve

    main_group.add_command(worker, "worker")
    main_group.add_command(fleet, "fleet")
    main_group.add_command(code, "code")
    main_group.add_command(mcp, "mcp")
    main_group.add_command(serve, "serve")


_register_code_command()


def main(argv: list[str] | None = None) -> None:
    """Entry point: turns every error into one line and a documented exit code."""
    debug = "--debug" in (argv if argv is not None else sys.argv[1:])
    try:
        main_group.main(args=argv, prog_name="firebrick", standalone_mode=False)
    except SystemExit:
        raise
    except click.exceptions.Abort:
        fail("aborted", EXIT_USAGE)
    except click.ClickException as exc:
        fail(exc.format_message(), EXIT_USAGE)
    except FirebrickError as exc:
        fail(str(exc), exc.exit_code)
    except KeyboardInterrupt:
        fail("interrupted", EXIT_INCOMPLETE)
    except Exception as exc:  # an internal error: one line, the traceback only with --debug
        if debug:
            raise
        fail(
            f"internal error: {type(exc).__name__}: {exc} (run with --debug for the traceback)",
            EXIT_USAGE,
        )
    raise SystemExit(EXIT_OK)

"""Reporters: pure functions from a ScanResult to text (or bytes, for PDF). They never probe.

``FORMATS`` maps a format name (as given to ``--format``) to the module whose ``render(result)``
produces it. Adding a format is one module and one line here. Modules are imported on first use,
so a heavy or broken optional format (PDF needs weasyprint) cannot break the others.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

from firebrick.errors import UsageError
from firebrick.model import ScanResult, Severity

if TYPE_CHECKING:
    from firebrick.report.json_report import to_json
    from firebrick.report.terminal import render_text

FORMATS: dict[str, str] = {
    "text": "firebrick.report.terminal",
    "json": "firebrick.report.json_report",
    "sarif": "firebrick.report.sarif",
    "junit": "firebrick.report.junit",
    "html": "firebrick.report.html",
    "pdf": "firebrick.report.pdf",
    "markdown": "firebrick.report.markdown",
}
BINARY_FORMATS = frozenset({"pdf"})


def render(result: ScanResult, fmt: str, *, fail_on: Severity = Severity.MEDIUM) -> str | bytes:
    """Render ``result`` as ``fmt``; ``fail_on`` is the JUnit failure threshold.

    Raises UsageError naming the known formats for an unknown one.
    """
    if fmt not in FORMATS:
        raise UsageError(f"unknown report format {fmt!r} (known: {', '.join(FORMATS)})")
    if fmt == "json":
        from firebrick.report.json_report import to_json

        return to_json(result)
    if fmt == "text":
        from firebrick.report.terminal import render_text

        return render_text(result)
    module = importlib.import_module(FORMATS[fmt])
    if fmt == "junit":
        return module.render(result, fail_on=fail_on)  # type: ignore[no-any-return]
    return module.render(result)  # type: ignore[no-any-return]


def write(result: ScanResult, fmt: str, path: str, *, fail_on: Severity = Severity.MEDIUM) -> None:
    """Render ``result`` as ``fmt`` into the file ``path`` (OSError when it cannot be written).
    JSON is streamed to the file, never held whole in memory."""
    if fmt == "json":
        from firebrick.report.json_report import write_json

        with open(path, "w", encoding="utf-8", buffering=1 << 16) as out:
            write_json(result, out)
        return
    data = render(result, fmt, fail_on=fail_on)
    if isinstance(data, bytes):
        Path(path).write_bytes(data)
    else:
        Path(path).write_text(data, encoding="utf-8")


def __getattr__(name: str) -> Any:
    """``render_text`` and ``to_json`` are imported on first use: the terminal renderer pulls in
    rich's Markdown stack, which a JSON-only run (or ``--help``) never needs."""
    if name == "render_text":
        from firebrick.report.terminal import render_text

        return render_text
    if name == "to_json":
        from firebrick.report.json_report import to_json

        return to_json
    raise AttributeError(name)


__all__ = ["BINARY_FORMATS", "FORMATS", "render", "render_text", "to_json", "write"]

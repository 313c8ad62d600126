"""Reporters: pure functions from a ScanResult to text. They never probe.

``FORMATS`` maps a format name (as given to ``--format``) to a renderer. Adding a format is one
line: ``FORMATS["name"] = module.render`` (or :func:`register`). Formats whose module is not
installed yet are simply absent.
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Callable

from firebrick.errors import UsageError
from firebrick.model import ScanResult
from firebrick.report.json_report import to_json
from firebrick.report.terminal import render_text

Renderer = Callable[[ScanResult], str]

FORMATS: dict[str, Renderer] = {
    "text": render_text,
    "json": to_json,
}


def register(name: str, renderer: Renderer) -> None:
    """Add or replace a format."""
    FORMATS[name] = renderer


def _lazy(module: str) -> Renderer:
    # Import on first use so a heavy or broken optional format cannot break the others.
    def call(result: ScanResult) -> str:
        rendered: str = importlib.import_module(f"firebrick.report.{module}").render(result)
        return rendered

    call.__name__ = f"render_{module}"
    return call


# Text formats written by other modules of this package (pdf returns bytes: not in this table).
for _name in ("sarif", "junit", "html", "markdown"):
    if importlib.util.find_spec(f"firebrick.report.{_name}") is not None:
        FORMATS.setdefault(_name, _lazy(_name))


def render(result: ScanResult, fmt: str) -> str:
    """Render ``result`` in format ``fmt``; UsageError names the known formats."""
    try:
        renderer = FORMATS[fmt]
    except KeyError:
        known = ", ".join(sorted(FORMATS))
        raise UsageError(f"unknown report format {fmt!r} (known: {known})") from None
    return renderer(result)


__all__ = ["FORMATS", "Renderer", "register", "render", "render_text", "to_json"]

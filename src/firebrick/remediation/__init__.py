"""Render the Flask fix for a finding as Markdown.

The texts live as data in :mod:`firebrick.remediation.flask`; this module picks one (by kind, then
category, then a generic text) and, for SSRF fixes, appends the shared safe-fetch section with the
code from ``snippets/`` read at render time, so the printed fix is the code the lab runs.
"""

from __future__ import annotations

import re
from importlib import resources

from firebrick.model import Finding
from firebrick.remediation import extra as _extra  # noqa: F401 - merges the YAML fix texts
from firebrick.remediation import flask as texts

# Everything after this marker is the same for every SSRF finding; the terminal report prints it
# once and refers back to it (see split_shared).
SHARED_MARKER = "<!-- firebrick:shared-fix -->"
# Appears in the output when a snippet file is not installed; tests and packagers look for it.
SNIPPET_MISSING = "firebrick: remediation snippet not available"

SNIPPET_PACKAGE = "firebrick.remediation"
SNIPPET_DIR = "snippets"


def snippet_text(name: str) -> str | None:
    """The text of ``snippets/<name>``, or None when it is not installed."""
    try:
        return (resources.files(SNIPPET_PACKAGE) / SNIPPET_DIR / name).read_text("utf-8")
    except (FileNotFoundError, NotADirectoryError, ModuleNotFoundError, OSError):
        return None


def _fence(code: str, lang: str = "python") -> str:
    # A fence longer than any backtick run inside the code keeps the block intact.
    longest = max((len(run) for run in re.findall(r"`+", code)), default=0)
    ticks = "`" * max(3, longest + 1)
    return f"{ticks}{lang}\n{code.rstrip()}\n{ticks}\n"


def _snippet_section(name: str, heading: str, intro: str) -> str:
    code = snippet_text(name)
    parts = [f"#### {heading}\n"]
    if intro:
        parts.append(intro + "\n")
    if code is None:
        parts.append(
            f"> {SNIPPET_MISSING}: `{name}` is missing from this installation "
            f"(firebrick/remediation/{SNIPPET_DIR}/).\n"
        )
    else:
        parts.append(f"`{name}`:\n")
        parts.append(_fence(code))
    return "\n".join(parts)


def safe_fetch_section() -> str:
    """The shared SSRF fix: ssrfguard with the deny-table additions, then both snippets."""
    parts = [texts.SAFE_FETCH_INTRO.replace("{policy}", texts.SSRFGUARD_POLICY)]
    parts += [_snippet_section(*section) for section in texts.SNIPPET_SECTIONS]
    parts.append(texts.DEFENCE_IN_DEPTH)
    return "\n".join(parts)


def fix_for(finding: Finding) -> texts.Fix:
    """The fix entry for a finding: by kind, then by category, then the generic one."""
    return texts.KINDS.get(finding.kind) or texts.CATEGORIES.get(finding.category) or texts.GENERIC


def render(finding: Finding) -> str:
    """Markdown: why it matters, then the fix, written for a Flask developer."""
    fix = fix_for(finding)
    out = [f"#### Why it matters\n\n{fix.why}\n", f"#### Fix\n\n{fix.fix.rstrip()}\n"]
    if fix.safe_fetch:
        out.append(SHARED_MARKER + "\n")
        out.append(safe_fetch_section())
    return "\n".join(out)


def split_shared(markdown: str) -> tuple[str, str]:
    """Split a rendered fix into its finding-specific part and the shared safe-fetch part."""
    head, sep, tail = markdown.partition(SHARED_MARKER)
    return (head.rstrip() + "\n", tail.lstrip()) if sep else (markdown, "")


__all__ = [
    "SHARED_MARKER",
    "SNIPPET_MISSING",
    "fix_for",
    "render",
    "safe_fetch_section",
    "snippet_text",
    "split_shared",
]

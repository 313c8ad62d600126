"""Self-contained fix snippets: printed as remediation and imported by the lab's hardened app.

Each module here is written to be copied into a user's Flask app as is, so it imports nothing
from firebrick. ``source(name)`` returns a snippet's text for a report.
"""

from __future__ import annotations

from importlib import resources

SNIPPETS = ("safe_fetch_stdlib", "safe_fetch_ssrfguard")


def source(name: str) -> str:
    """The text of a snippet module, e.g. ``source("safe_fetch_stdlib")``."""
    if name not in SNIPPETS:
        raise KeyError(name)
    return resources.files(__name__).joinpath(f"{name}.py").read_text(encoding="utf-8")

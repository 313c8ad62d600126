"""The check registry: a check is a plain async generator function registered in CHECKS.

Adding a check is one module in this package and one line in CHECKS. A check receives a
ScanContext and yields Findings; it sends requests only through ``ctx.client`` and never formats
output.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

from firebrick.checks import ssrf
from firebrick.context import ScanContext
from firebrick.model import Finding

CheckFunc = Callable[[ScanContext], AsyncIterator[Finding]]


@dataclass(frozen=True)
class Check:
    name: str
    category: str
    run: CheckFunc
    modes: tuple[str, ...] = ("safe", "full")  # the modes it runs in; passive sends no probes
    needs_oob: bool = False
    # Checks whose results (ctx.state) this one reads: it starts when they have finished.
    after: tuple[str, ...] = ()


CHECKS: list[Check] = [
    Check("ssrf", "ssrf", ssrf.run, needs_oob=True),
]


def selected(names: list[str], mode: str) -> tuple[list[Check], list[tuple[Check, str]]]:
    """The checks to run for these options, and the ones skipped with the reason."""
    run: list[Check] = []
    skipped: list[tuple[Check, str]] = []
    for check in CHECKS:
        if names and check.name not in names and check.category not in names:
            skipped.append((check, "not selected with --check"))
        elif mode not in check.modes:
            skipped.append((check, f"does not run in {mode} mode"))
        else:
            run.append(check)
    return run, skipped

"""The check registry: a check is a plain async generator function registered in CHECKS.

Adding a check is one module in this package and one line in CHECKS. A check receives a
ScanContext and yields Findings; it sends requests only through ``ctx.client`` and never formats
output.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

from firebrick.checks import (
    authentication,
    bfla,
    bola,
    data_exposure,
    dns_hygiene,
    encryption,
    fetch_shell,
    graphql,
    input_validation,
    inventory,
    llm_security,
    property_authorization,
    rate_limiting,
    ssrf,
    unsafe_consumption,
)
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
    Check("dns_hygiene", "dns_hygiene", dns_hygiene.run, needs_oob=True, after=("ssrf",)),
    Check("input_validation", "input_validation", input_validation.run),
    Check("data_exposure", "data_exposure", data_exposure.run),
    Check("encryption", "encryption", encryption.run, after=("data_exposure",)),
    # Before unsafe_consumption: in safe mode a write operation's last writes go to the critical
    # question (does a shell expand the URL) before the consumption probes.
    Check("fetch_shell", "input_validation", fetch_shell.run, needs_oob=True, after=("ssrf",)),
    Check(
        "unsafe_consumption",
        "unsafe_consumption",
        unsafe_consumption.run,
        needs_oob=True,
        after=("ssrf", "fetch_shell"),
    ),
    Check("llm_security", "llm_security", llm_security.run, needs_oob=True),
    # After data_exposure: the tokens its plain GETs received (guest sessions, cookies) are
    # among the tokens whose claims and secrets authentication checks.
    Check("authentication", "authentication", authentication.run, after=("data_exposure",)),
    Check("bola", "bola", bola.run, after=("authentication",)),
    Check("bfla", "bfla", bfla.run, after=("authentication", "bola")),
    Check(
        "property_authorization",
        "property_authorization",
        property_authorization.run,
        after=("authentication", "bola", "bfla"),
    ),
    Check(
        "rate_limiting",
        "rate_limiting",
        rate_limiting.run,
        after=("authentication", "bola", "bfla", "property_authorization"),
    ),
    Check("inventory", "inventory", inventory.run),
    Check("graphql", "inventory", graphql.run),
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

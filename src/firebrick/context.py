"""ScanContext: what a check is handed (client, OOB server, surface, options) and how it reports
coverage and deferred OOB verdicts back to the engine."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from firebrick.http import ScopedClient
from firebrick.model import CoverageItem, Finding, Interaction, Operation, Param, Surface
from firebrick.options import ScanOptions

if TYPE_CHECKING:
    from firebrick.oob.endpoint import OOBEndpoint

# Called after the grace window with every interaction of the deferred tokens (may be empty).
LateVerdict = Callable[[dict[str, list[Interaction]]], list[Finding]]


@dataclass
class Deferred:
    tokens: set[str]
    verdict: LateVerdict
    issued_at: float = field(default_factory=time.monotonic)  # the grace window runs from here


@dataclass
class ScanContext:
    options: ScanOptions
    client: ScopedClient
    surface: Surface
    oob: OOBEndpoint | None = None  # local OOBServer or RemoteOOB: checks never ask which
    target_is_local: bool = False  # the target shares this machine's loopback
    coverage: list[CoverageItem] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    deferred: list[Deferred] = field(default_factory=list)
    # What one check learned for another (e.g. "ssrf.fetchers" for unsafe_consumption);
    # a reader declares the writer in Check.after.
    state: dict[str, Any] = field(default_factory=dict)

    def cover(
        self,
        check: str,
        category: str,
        op: Operation | None,
        param: Param | str | None,
        status: str,
        reason: str = "",
    ) -> None:
        """Record what was tested and how it ended (passed/failed/skipped/inconclusive)."""
        name = param.display if isinstance(param, Param) else param
        self.coverage.append(
            CoverageItem(check, category, op.key if op else None, name, status, reason)
        )

    def defer(self, tokens: set[str], verdict: LateVerdict) -> None:
        """Ask the engine to wait (briefly) for late interactions on tokens, then call verdict."""
        if tokens:
            self.deferred.append(Deferred(set(tokens), verdict))

    def warn(self, message: str) -> None:
        if message not in self.warnings:
            self.warnings.append(message)

"""ScanContext: what a check is handed (client, OOB server, surface, options) and how it reports
coverage and deferred OOB verdicts back to the engine."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from firebrick.http import ScopedClient
from firebrick.model import (
    Cause,
    CoverageItem,
    Exchange,
    Finding,
    Interaction,
    Operation,
    Outcome,
    Param,
    Surface,
    normalize_outcome,
)
from firebrick.options import ScanOptions

if TYPE_CHECKING:
    from firebrick.oob.endpoint import OOBEndpoint

# ctx.state keys the engine reads into the coverage summary: the operation keys kept out of the
# scan on purpose (--exclude, safe mode) and first-screen coverage notes (which tokens the JWT
# tests ran on, why BOLA could not run, ...).
EXCLUDED_OPERATIONS = "coverage.excluded_operations"
COVERAGE_NOTES = "coverage.notes"

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
        status: str | Outcome,
        reason: str = "",
        *,
        cause: Cause | str | None = None,
    ) -> None:
        """Record what was tested and how it ended.

        ``status`` is an Outcome (vulnerable, passed, refused, error, not_determined) or a legacy
        string: "failed" -> vulnerable, "inconclusive" -> not_determined, "skipped" ->
        not_determined (cause no_target). A refused test must name its ``cause``. Before
        recording "passed" for a probe, ask ``passed_if_reached``: passed is a claim that the
        probe reached the code under test.
        """
        outcome, implied = normalize_outcome(status)
        why = Cause(cause) if cause is not None else implied
        if outcome is Outcome.REFUSED and why is None:
            raise ValueError("a refused test needs a cause (auth, csrf, route_absent, ...)")
        name = param.display if isinstance(param, Param) else param
        self.coverage.append(
            CoverageItem(
                check,
                category,
                op.key if op else None,
                name,
                outcome.value,
                reason,
                why.value if why is not None else None,
            )
        )

    def refused(
        self,
        check: str,
        category: str,
        op: Operation | None,
        param: Param | str | None,
        cause: Cause | str,
        reason: str = "",
    ) -> None:
        """Record a test the target turned away before its logic ran (never a pass)."""
        self.cover(check, category, op, param, Outcome.REFUSED, reason, cause=cause)

    def passed_if_reached(
        self,
        check: str,
        category: str,
        op: Operation | None,
        param: Param | str | None,
        probe: Exchange | list[Exchange] | None,
        baseline: Exchange | None = None,
        reason: str = "",
    ) -> Outcome:
        """Record "passed" only if the probe reached the code (reach.judge_pass); otherwise the
        refusal with its cause, the error, or not_determined. Returns what was recorded."""
        from firebrick.reach import judge_many, judge_pass

        if isinstance(probe, list):
            verdict = judge_many(probe, baseline)
        else:
            verdict = judge_pass(probe, baseline)
        if verdict.outcome is Outcome.PASSED:
            text = reason or verdict.note
        else:
            text = f"{verdict.note}; {reason}" if reason else verdict.note
        self.cover(check, category, op, param, verdict.outcome, text, cause=verdict.cause)
        return verdict.outcome

    def defer(self, tokens: set[str], verdict: LateVerdict) -> None:
        """Ask the engine to wait (briefly) for late interactions on tokens, then call verdict."""
        if tokens:
            self.deferred.append(Deferred(set(tokens), verdict))

    def note(self, message: str) -> None:
        """A coverage note for the first screen (e.g. which tokens the JWT tests ran on)."""
        notes = self.state.setdefault(COVERAGE_NOTES, [])
        if message not in notes:
            notes.append(message)

    def exclude(self, op: Operation | str) -> None:
        """Mark an operation as kept out of the scan on purpose (counted as excluded)."""
        key = op if isinstance(op, str) else op.key
        excluded = self.state.setdefault(EXCLUDED_OPERATIONS, [])
        if key not in excluded:
            excluded.append(key)

    def warn(self, message: str) -> None:
        if message not in self.warnings:
            self.warnings.append(message)

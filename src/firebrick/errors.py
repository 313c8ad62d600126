"""Errors a user can cause. The CLI turns each into one line on stderr and a documented exit code."""

from __future__ import annotations


class FirebrickError(Exception):
    """Base class: str(error) is the one line the user sees."""

    exit_code = 3


class UsageError(FirebrickError):
    """Bad flag or option value."""


class OutOfScope(FirebrickError):
    """A request to an origin the scan is not allowed to touch."""


class SpecError(FirebrickError):
    """The API description could not be loaded or is not valid OpenAPI."""


class TargetUnreachable(FirebrickError):
    """The target did not answer at all: nothing could be scanned."""

    exit_code = 2


class BudgetExhausted(FirebrickError):
    """The request budget (per scan or per operation) or the time limit is spent."""

    exit_code = 2


class StoreError(FirebrickError):
    """The scan store could not be read or written."""

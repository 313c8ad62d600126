"""Did a probe reach the code under test? The refusal/reach classifier every check consults.

A check may only record "passed" when its probe was answered by the logic it tests. A probe that
the target turned away first (no or wrong credentials, a missing CSRF token, a route or method
that does not exist, a body rejected by validation, a rate limit) tells nothing about that logic:
it is *refused*, with its cause. ``judge_pass`` is the rule: passed needs a benign baseline for
the same input answered normally and the probe's answer of the same class.

Pure functions over recorded ``Exchange``s: nothing here sends a request.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from firebrick.model import Cause, Exchange, Outcome

# A 3xx to one of these is an authentication wall, not an answer (HTML apps redirect to login).
_LOGIN_LOCATION = re.compile(r"(log-?in|sign-?in|sign_in|/auth\b|/sso\b|/session/new)", re.I)
_CSRF_TEXT = re.compile(r"csrf|xsrf|request forgery", re.I)
_AUTH_STATUSES = frozenset({401, 403, 407})
_ROUTE_STATUSES = frozenset({404, 405, 501})
_INPUT_STATUSES = frozenset({400, 413, 415, 422})


def refusal(ex: Exchange | None) -> Cause | None:
    """The cause when the target turned the request away before its logic ran, else None."""
    if ex is None or ex.status is None:
        return None
    status = ex.status
    text = ex.body_text or ex.response_excerpt or ""
    if status in (400, 403, 419) and _CSRF_TEXT.search(text[:4096]):
        return Cause.CSRF  # Django 403 "CSRF verification failed", Laravel 419, Rails 422/400
    if status == 419:
        return Cause.CSRF
    if status in _AUTH_STATUSES:
        return Cause.AUTH
    if status in _ROUTE_STATUSES:
        return Cause.ROUTE_ABSENT
    if status in _INPUT_STATUSES:
        return Cause.INPUT_REJECTED
    if status == 429:
        return Cause.RATE_LIMITED
    if 300 <= status < 400:
        location = ex.response_headers.get("location", "")
        if location and _LOGIN_LOCATION.search(location):
            return Cause.AUTH
    return None


def answer_class(ex: Exchange | None) -> str:
    """A coarse class of an answer: error, a refusal cause, 2xx, 3xx, 4xx or 5xx."""
    if ex is None or ex.status is None:
        return "error"
    cause = refusal(ex)
    if cause is not None:
        return cause.value
    return f"{ex.status // 100}xx"


def reached(ex: Exchange | None) -> bool:
    """True when the answer came from the code behind the route (2xx, non-login 3xx, 5xx)."""
    return answer_class(ex) in ("2xx", "3xx", "5xx")


@dataclass(frozen=True)
class Verdict:
    outcome: Outcome
    cause: Cause | None = None
    note: str = ""  # why, for the coverage reason


def judge_pass(probe: Exchange | None, baseline: Exchange | None = None) -> Verdict:
    """May a test whose probe saw nothing wrong record "passed"?

    passed: the probe was answered normally (2xx/3xx) and, when a benign baseline for the same
    input was sent, the baseline was answered normally too and in the same class.
    refused: the probe (or the baseline: the operation turns away even benign input) was refused.
    error: no answer. not_determined: anything else (5xx, or answers of different classes).
    """
    if probe is None or probe.status is None:
        why = probe.error if probe is not None and probe.error else "no answer"
        return Verdict(Outcome.ERROR, None, f"probe failed: {why}")
    cause = refusal(probe)
    if baseline is not None and baseline.status is not None:
        base_cause = refusal(baseline)
        if base_cause is not None:
            return Verdict(
                Outcome.REFUSED, base_cause, f"even a benign value was refused ({baseline.status})"
            )
    if cause is not None:
        return Verdict(Outcome.REFUSED, cause, f"probe refused ({probe.status})")
    probe_class = answer_class(probe)
    if probe_class not in ("2xx", "3xx"):
        return Verdict(Outcome.NOT_DETERMINED, None, f"probe answered {probe.status}")
    if baseline is None:
        return Verdict(Outcome.PASSED, None, f"probe answered {probe.status}")
    if baseline.status is None:
        return Verdict(Outcome.NOT_DETERMINED, None, "the benign baseline got no answer")
    if answer_class(baseline) != probe_class:
        return Verdict(
            Outcome.NOT_DETERMINED,
            None,
            f"baseline answered {baseline.status}, probe {probe.status}",
        )
    return Verdict(Outcome.PASSED, None, f"baseline and probe answered {probe_class}")


def judge_many(probes: list[Exchange], baseline: Exchange | None = None) -> Verdict:
    """judge_pass over several probes of one test: passed only if some probe reached the code
    and none was refused in a way that hides the logic; otherwise the most telling refusal."""
    if not probes:
        return Verdict(Outcome.NOT_DETERMINED, None, "no probe was sent")
    verdicts = [judge_pass(p, baseline) for p in probes]
    if any(v.outcome is Outcome.PASSED for v in verdicts):
        passed = sum(v.outcome is Outcome.PASSED for v in verdicts)
        return Verdict(Outcome.PASSED, None, f"{passed}/{len(verdicts)} probes reached the code")
    for wanted in (Outcome.REFUSED, Outcome.NOT_DETERMINED, Outcome.ERROR):
        for v in verdicts:
            if v.outcome is wanted:
                return v
    return verdicts[0]


def blocking_refusal(ex: Exchange | None, expected: frozenset[Cause] = frozenset()) -> Cause | None:
    """The refusal cause that kept a probe from the code under test, ignoring the ``expected``
    ones (for a malformed-body test, 400 *is* the answer of the code under test)."""
    cause = refusal(ex)
    return None if cause is None or cause in expected else cause

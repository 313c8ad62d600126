"""What a scan really reached, and whether that is enough for a grade.

The engine calls ``summarize`` after the checks: operations discovered / reached / refused (by
cause) / excluded, inputs tested, and per category the share of planned tests that reached a
verdict. Below the thresholds here (docs/scoring.md, "Coverage and the grade") the grade is
*incomplete*: no letter, exit code 2, and hints that say what would fix it, with the numbers.

Pure: reads the coverage items, the findings and the answers the ScopedClient recorded per
operation; sends nothing.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence

from firebrick.model import (
    CATEGORIES,
    CategoryCoverage,
    CoverageItem,
    CoverageSummary,
    Exchange,
    Finding,
    ScanResult,
)
from firebrick.reach import reached, refusal

# Fewer operations than this and the grade is incomplete: a grade of one page says nothing.
MIN_OPERATIONS = 3
# Fewer operations than this and the first screen warns that discovery saw little.
WARN_OPERATIONS = 5
# Fewer than this share of the probed operations reached (the rest refused): most were refused.
MIN_REACHED_SHARE = 0.5
# Fewer than this share of the planned categories reached a verdict: most were not assessed.
MIN_ASSESSED_SHARE = 0.5

CAUSE_TEXT = {
    "auth": "401/403 (authentication)",
    "csrf": "CSRF token missing",
    "route_absent": "404/405 (route or method absent)",
    "input_rejected": "400/422 (input rejected before use)",
    "rate_limited": "429 (rate limited)",
    "error": "no answer (network error or timeout)",
}


# The 404 a framework gives for a path it has no route for (Werkzeug/Flask, Starlette/FastAPI,
# Express, Django, Spring). Any other 404 on a templated path is the view's own "no such object":
# the code ran.
_FRAMEWORK_404 = re.compile(
    r"<title>404 Not Found</title>|^\s*\{\s*\"detail\"\s*:\s*\"Not Found\"\s*\}\s*$|"
    r"Cannot (GET|POST|PUT|PATCH|DELETE) /|Page not found at /|Whitelabel Error Page",
    re.I,
)


def _object_absent(ex: Exchange) -> bool:
    return ex.status == 404 and not _FRAMEWORK_404.search((ex.body_text or "")[:2000])


_CREDENTIAL_HEADERS = frozenset(
    {"authorization", "cookie", "x-api-key", "api-key", "apikey", "x-auth-token", "x-access-token"}
)


def _credentialed(ex: Exchange) -> bool:
    return any(k.lower() in _CREDENTIAL_HEADERS for k in ex.request_headers)


_LOGIN_PATH = re.compile(r"(^|/)(login|log-in|signin|sign-in|session|sessions|token)(/|$)", re.I)


def _operation_state(answers: Sequence[Exchange], templated: bool = False, key: str = "") -> str:
    """ "reached", or the most common refusal cause among an operation's answers, or "error".

    On an operation with inputs (``/items/{id}``, ``?scan=``) a 404 from the view itself (not the
    framework's no-route page) means our made-up value named no object: the code ran. A login
    operation answering 401 to our made-up credentials is its code answering too.
    """
    if any(reached(ex) for ex in answers):
        return "reached"
    if templated and any(_object_absent(ex) for ex in answers):
        return "reached"
    if _LOGIN_PATH.search(key.partition(" ")[2]) and any(ex.status == 401 for ex in answers):
        return "reached"
    causes = Counter(c.value for ex in answers if (c := refusal(ex)) is not None)
    if causes:
        return causes.most_common(1)[0][0]
    return "error"


def summarize(
    coverage: Sequence[CoverageItem],
    findings: Iterable[Finding],
    operations: Sequence[str],
    answers: Mapping[str, Sequence[Exchange]],
    *,
    planned_categories: Iterable[str],
    assessed: Iterable[str],
    excluded: Iterable[str] = (),
    has_credentials: bool = False,
    credentials_refused: Iterable[str] = (),
    spec_given: bool = False,
    with_inputs: Iterable[str] = (),
    declared: Iterable[str] | None = None,
) -> CoverageSummary:
    """The coverage numbers of one scan and whether they are enough for a grade.

    ``answers``: operation key -> the answers its probes got (ScopedClient.op_answers).
    ``excluded``: operation keys the user or the safe mode kept out (never probed on purpose).
    """
    findings = list(findings)
    with_inputs = set(with_inputs)  # operations that take declared inputs (a 404 may be data)
    # operations a spec (or GraphQL introspection) declares; None: treat every one as declared
    declared = set(declared) if declared is not None else None
    excluded_set = set(excluded) & set(operations)
    # A finding proves its operation was reached. A "passed" item does not on its own: the
    # authentication check passes an operation *because* it refused us; reach is then read from
    # the answers the operation gave (ScopedClient.op_answers).
    judged_ops = {c.operation for c in coverage if c.operation and c.outcome.value == "vulnerable"}
    judged_ops |= {f.operation for f in findings if f.operation}
    refused: Counter[str] = Counter()
    reached_n = untested = 0
    for key in operations:
        if key in excluded_set:
            continue
        got = answers.get(key, ())
        takes = "{" in key or key in with_inputs
        state = _operation_state(got, takes, key) if got else None
        if state not in (None, "reached") and has_credentials:
            # With credentials given, an operation refused only to deliberately anonymous probes
            # (the authentication check's) was never tried as a user: untested, not refused.
            mine = [ex for ex in got if _credentialed(ex)]
            state = _operation_state(mine, takes, key) if mine else None
        if state == "route_absent" and declared is not None and key not in declared:
            state = None  # a guessed path (crawl, common paths) that is not there: not an operation
        if key in judged_ops or state == "reached":
            reached_n += 1
        elif state is not None:
            refused[state] += 1
        else:
            untested += 1

    outcomes = Counter(c.outcome.value for c in coverage if c.planned)
    reached_ops = {
        key
        for key in operations
        if key in judged_ops
        or _operation_state(answers.get(key, ()), "{" in key or key in with_inputs, key)
        == "reached"
    }
    # an input counts as tested when its test reached a verdict on an operation that answered
    inputs = {
        (c.operation, c.input)
        for c in coverage
        if c.input and c.outcome.is_verdict and (c.operation is None or c.operation in reached_ops)
    }

    finding_cats = Counter(f.category for f in findings)
    assessed_set = set(assessed)
    cats: list[CategoryCoverage] = []
    planned_set = [c for c in CATEGORIES if c in set(planned_categories)]
    for category in planned_set:
        items = [c for c in coverage if c.category == category and c.planned]
        verdicts = sum(c.outcome.is_verdict for c in items)
        planned = len(items)
        if finding_cats[category] and not verdicts:  # a finding is a verdict the items missed
            verdicts = 1
            planned = max(planned, 1)
        cats.append(CategoryCoverage(category, planned, verdicts))

    summary = CoverageSummary(
        operations_discovered=len(operations),
        operations_reached=reached_n,
        operations_refused=dict(refused.most_common()),
        operations_excluded=len(excluded_set),
        operations_untested=untested,
        inputs_tested=len(inputs),
        outcomes={k: outcomes[k] for k in sorted(outcomes)},
        categories=cats,
    )
    _judge(summary, assessed_set & set(planned_set), len(planned_set), has_credentials, spec_given)
    refused_creds = list(credentials_refused)
    if refused_creds:
        summary.hints.insert(
            0,
            f"the credentials given with {', '.join(refused_creds)} were refused where anonymous "
            "requests are refused too: renew or correct them",
        )
    return summary


def _judge(
    s: CoverageSummary, assessed: set[str], planned: int, has_credentials: bool, spec_given: bool
) -> None:
    """Fill graded, reasons and hints from the thresholds above."""
    considered = s.operations_discovered - s.operations_excluded
    refused_total = sum(n for cause, n in s.operations_refused.items() if cause != "error")
    if s.operations_discovered < MIN_OPERATIONS:
        s.reasons.append(
            f"only {s.operations_discovered} operation(s) found (a grade needs at least "
            f"{MIN_OPERATIONS})"
        )
        if not spec_given:
            s.hints.append(
                "give the API's OpenAPI document with --spec FILE-or-URL (discovery found "
                f"{s.operations_discovered} operation(s) by crawling)"
            )
    # Most refused: of the operations that answered our probes, fewer than half answered from
    # their code. Operations no check had a probe for (untested) do not count either way.
    answered = s.operations_reached + sum(s.operations_refused.values())
    if considered > 0 and s.operations_reached == 0:
        s.reasons.append(f"no operation was reached ({refused_total} of {considered} refused)")
    elif answered > 0 and s.operations_reached / answered < MIN_REACHED_SHARE:
        s.reasons.append(
            f"most operations refused: {s.operations_reached} of {answered} probed operations "
            f"reached (a grade needs {MIN_REACHED_SHARE:.0%})"
        )
    if planned and len(assessed) / planned < MIN_ASSESSED_SHARE:
        s.reasons.append(
            f"only {len(assessed)} of {planned} categories reached a verdict "
            f"(a grade needs {MIN_ASSESSED_SHARE:.0%})"
        )
    s.graded = not s.reasons
    if s.graded:
        return
    auth = s.operations_refused.get("auth", 0)
    if auth:
        who = "the credentials given were refused too; check them" if has_credentials else ""
        s.hints.append(
            f"{auth} operation(s) answered 401/403: give credentials with "
            "-H 'Authorization: Bearer TOKEN' or --identity NAME='Header: value'"
            + (f" ({who})" if who else "")
        )
    csrf = s.operations_refused.get("csrf", 0)
    if csrf:
        s.hints.append(
            f"{csrf} operation(s) refused for a missing CSRF token: give the session cookie and "
            "the token header (-H 'Cookie: ...' -H 'X-CSRFToken: ...')"
        )
    absent = s.operations_refused.get("route_absent", 0)
    if absent:
        s.hints.append(
            f"{absent} operation(s) answered 404/405: the spec may not match the deployment "
            "(check --spec and the target's base path)"
        )
    rejected = s.operations_refused.get("input_rejected", 0)
    if rejected:
        s.hints.append(
            f"{rejected} operation(s) rejected every input (400/422): a spec with request "
            "schemas and examples (--spec) lets the probes build valid requests"
        )
    limited = s.operations_refused.get("rate_limited", 0)
    if limited:
        s.hints.append(f"{limited} operation(s) answered 429: lower --rate")
    if not s.hints:
        s.hints.append(
            "give the API's spec (--spec), credentials (-H/--identity) or more --max-time"
        )


def discovery_warning(count: int) -> str | None:
    """The first-screen warning when discovery found fewer than a handful of operations."""
    if count >= WARN_OPERATIONS:
        return None
    return (
        f"discovery found only {count} operation(s): most of the API was not seen; give its "
        "OpenAPI document with --spec, or credentials if its pages need a login"
    )


def coverage_lines(result: ScanResult) -> list[str]:
    """The first-screen coverage lines (plain text; also used by markdown and the CI summary)."""
    s = result.coverage_summary
    if s is None:
        return []
    refused = ", ".join(f"{cause} {n}" for cause, n in s.operations_refused.items())
    lines = [
        f"Coverage: {s.operations_discovered} operations discovered, {s.operations_reached} "
        f"reached, {sum(s.operations_refused.values())} refused"
        + (f" ({refused})" if refused else "")
        + f", {s.operations_excluded} excluded, {s.operations_untested} untested; "
        f"{s.inputs_tested} inputs tested"
    ]
    shares = [f"{c.category} {c.verdicts}/{c.planned}" for c in s.categories if c.planned]
    if shares:
        lines.append("Tests with a verdict: " + ", ".join(shares))
    if not s.graded:
        lines.append("Grade incomplete: " + "; ".join(s.reasons))
        lines.extend(f"To fix: {h}" for h in s.hints)
    lines.extend(s.notes)
    return lines

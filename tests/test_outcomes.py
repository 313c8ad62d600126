"""The outcome ladder, the refusal/reach classifier, and the incomplete grade (pure parts).

The end-to-end behaviour on real servers (a token-everywhere API, exit code 2) is in
tests/test_truthful_lab.py.
"""

from __future__ import annotations

import pytest

from firebrick.context import ScanContext
from firebrick.coverage import MIN_OPERATIONS, summarize
from firebrick.http import ScopedClient
from firebrick.model import (
    Cause,
    CoverageItem,
    Exchange,
    Operation,
    Outcome,
    Surface,
    normalize_outcome,
)
from firebrick.options import ScanOptions
from firebrick.reach import judge_pass, reached, refusal
from firebrick.scoring import score_result, withhold_if_incomplete


def ex(status: int | None, body: str = "", **headers: str) -> Exchange:
    return Exchange(
        "GET",
        "http://127.0.0.1:1/x",
        status=status,
        body_text=body,
        response_headers={k.lower(): v for k, v in headers.items()},
        error=None if status is not None else "connection refused",
    )


@pytest.mark.parametrize(
    ("status", "body", "headers", "cause"),
    [
        (401, "", {}, Cause.AUTH),
        (403, "Forbidden", {}, Cause.AUTH),
        (403, "<h1>CSRF verification failed. Request aborted.</h1>", {}, Cause.CSRF),
        (419, "Page Expired", {}, Cause.CSRF),
        (400, '{"error": "The CSRF token is missing."}', {}, Cause.CSRF),
        (404, "", {}, Cause.ROUTE_ABSENT),
        (405, "", {}, Cause.ROUTE_ABSENT),
        (422, '{"detail": [{"loc": ["body", "url"]}]}', {}, Cause.INPUT_REJECTED),
        (400, "bad request", {}, Cause.INPUT_REJECTED),
        (429, "", {}, Cause.RATE_LIMITED),
        (302, "", {"location": "/accounts/login/?next=/api/x"}, Cause.AUTH),
        (302, "", {"location": "/dashboard"}, None),
        (200, "ok", {}, None),
        (500, "boom", {}, None),
    ],
)
def test_refusal_causes(status: int, body: str, headers: dict[str, str], cause: Cause) -> None:
    assert refusal(ex(status, body, **headers)) is cause


def test_reached_means_the_code_answered() -> None:
    assert reached(ex(200)) and reached(ex(500)) and reached(ex(302, location="/next"))
    assert not reached(ex(401)) and not reached(ex(None)) and not reached(ex(422))


def test_passed_needs_the_probe_to_reach_the_code() -> None:
    ok, refused = ex(200, "fine"), ex(401)
    assert judge_pass(ok).outcome is Outcome.PASSED
    assert judge_pass(ok, baseline=ex(200)).outcome is Outcome.PASSED
    # The API refuses everything: a refused probe is never a pass.
    v = judge_pass(refused)
    assert (v.outcome, v.cause) == (Outcome.REFUSED, Cause.AUTH)
    # A benign baseline refused too: the operation turns away even benign input.
    v = judge_pass(ok, baseline=ex(403, "CSRF token missing"))
    assert (v.outcome, v.cause) == (Outcome.REFUSED, Cause.CSRF)
    # The probe rejected by validation before use.
    v = judge_pass(ex(422), baseline=ok)
    assert (v.outcome, v.cause) == (Outcome.REFUSED, Cause.INPUT_REJECTED)
    # Answers of different classes: the probe may not have reached the same code.
    assert judge_pass(ex(302, location="/x"), baseline=ok).outcome is Outcome.NOT_DETERMINED
    assert judge_pass(ex(500), baseline=ok).outcome is Outcome.NOT_DETERMINED
    assert judge_pass(ex(None)).outcome is Outcome.ERROR


def test_legacy_statuses_map_onto_the_ladder() -> None:
    assert normalize_outcome("failed") == (Outcome.VULNERABLE, None)
    assert normalize_outcome("skipped") == (Outcome.NOT_DETERMINED, Cause.NO_TARGET)
    assert normalize_outcome("inconclusive") == (Outcome.NOT_DETERMINED, None)
    assert CoverageItem("c", "ssrf", None, None, "failed").status == "vulnerable"
    with pytest.raises(ValueError):
        normalize_outcome("maybe")


async def test_ctx_cover_keeps_the_old_strings_and_records_causes() -> None:
    async with ScopedClient("http://127.0.0.1:1") as client:
        ctx = ScanContext(ScanOptions(target="http://127.0.0.1:1"), client, Surface("x"))
        op = Operation("GET", "/a")
        ctx.cover("c", "ssrf", op, "query:url", "failed")
        ctx.cover("c", "ssrf", op, "query:url", "skipped", "nothing")
        ctx.refused("c", "ssrf", op, "query:url", Cause.AUTH, "401")
        got = ctx.passed_if_reached("c", "ssrf", op, "query:url", ex(401), ex(200))
        assert got is Outcome.REFUSED
        got = ctx.passed_if_reached("c", "ssrf", op, "query:url", ex(200), ex(200), "held")
        assert got is Outcome.PASSED
        with pytest.raises(ValueError):
            ctx.cover("c", "ssrf", op, None, "refused")  # a refusal must say why
    assert [(c.status, c.cause) for c in ctx.coverage] == [
        ("vulnerable", None),
        ("not_determined", "no_target"),
        ("refused", "auth"),
        ("refused", "auth"),
        ("passed", None),
    ]
    assert ctx.coverage[-1].reason == "held"


def _summary(ops: list[str], answers: dict[str, list[Exchange]], items: list[CoverageItem]):
    return summarize(
        items,
        [],
        ops,
        answers,
        planned_categories={"ssrf", "authentication"},
        assessed={c.category for c in items if c.outcome.is_verdict},
    )


def test_an_api_that_refuses_everything_gets_no_grade() -> None:
    ops = [f"GET /r{i}" for i in range(6)]
    answers = {k: [ex(401)] for k in ops}
    items = [CoverageItem("authentication", "authentication", None, "headers", "passed")]
    s = _summary(ops, answers, items)
    assert s.operations_reached == 0 and s.operations_refused == {"auth": 6}
    assert not s.graded
    assert any("no operation was reached" in r for r in s.reasons)
    assert any("6 operation(s) answered 401/403" in h and "-H" in h for h in s.hints)
    # scoring withholds the letter and says why
    _, score, letter, lines = score_result([], {"authentication"})
    assert letter == "A" and score == 100.0
    assert withhold_if_incomplete(letter, s, lines) is None
    assert "grade is incomplete" in lines[-1]


def test_few_operations_is_incomplete_and_enough_is_graded() -> None:
    items = [
        CoverageItem("ssrf", "ssrf", "GET /a", "query:url", "passed"),
        CoverageItem("authentication", "authentication", "GET /a", None, "passed"),
    ]
    few = [f"GET /o{i}" for i in range(MIN_OPERATIONS - 1)]
    s = _summary(few, {k: [ex(200)] for k in few}, items)
    assert not s.graded and any("operation(s) found" in r for r in s.reasons)
    enough = [f"GET /o{i}" for i in range(MIN_OPERATIONS + 2)]
    s = _summary(enough, {k: [ex(200)] for k in enough}, items)
    assert s.graded and s.operations_reached == len(enough)
    # most refused: graded no more
    answers = {k: [ex(403, "CSRF verification failed")] for k in enough[:4]}
    answers |= {k: [ex(200)] for k in enough[4:]}
    s = _summary(enough, answers, items)
    assert not s.graded and s.operations_refused == {"csrf": 4}
    assert any("CSRF" in h for h in s.hints)


def test_most_categories_without_a_verdict_is_incomplete() -> None:
    ops = [f"GET /o{i}" for i in range(6)]
    items = [
        CoverageItem("ssrf", "ssrf", "GET /o1", "query:url", "refused", "401", "auth"),
        CoverageItem("authentication", "authentication", "GET /o1", None, "not_determined"),
    ]
    s = _summary(ops, {k: [ex(200)] for k in ops}, items)
    assert not s.graded and any("0 of 2 categories" in r for r in s.reasons)
    assert [(c.category, c.planned, c.verdicts) for c in s.categories] == [
        ("authentication", 1, 0),
        ("ssrf", 1, 0),
    ]

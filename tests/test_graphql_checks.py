"""GraphQL with the endpoint itself as the target URL: every GraphQL check finds its lab
variant, and the hardened twin (same schema, introspection still on) comes out clean."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from firebrick.engine import run_scan
from firebrick.lab.reach_lab import ReachLab, serve_reach
from firebrick.model import ScanResult
from firebrick.options import ScanOptions
from firebrick.remediation import render

EXPECTED = {
    "graphql.field-suggestions",
    "graphql.ide-exposed",
    "graphql.batching-unbounded",
    "graphql.aliases-unbounded",
    "graphql.stack-trace",
    "input_validation.sql-error",
    "authentication.jwt-alg-none",
    "authentication.jwt-signature-not-verified",
    "ssrf.internal-read",
}


@pytest.fixture(scope="module")
def graphql_scans() -> Iterator[dict[str, ScanResult]]:
    labs: dict[str, ReachLab] = {v: serve_reach("graphql", v) for v in ("vulnerable", "hardened")}
    try:
        yield {
            v: asyncio.run(
                run_scan(
                    ScanOptions(
                        target=lab.url + "/graphql", rate=300, max_time=90, oob_listen="127.100.0.1"
                    )
                )
            )
            for v, lab in labs.items()
        }
    finally:
        for lab in labs.values():
            lab.stop()


def test_endpoint_as_target_is_probed_at_the_endpoint(graphql_scans: dict[str, ScanResult]) -> None:
    result = graphql_scans["vulnerable"]
    assert result.surface["graphql"] == "/graphql"
    urls = {e.url for f in result.findings for e in f.evidence.exchanges}
    assert not any("/graphql/graphql" in u for u in urls)
    assert any(u.endswith("/graphql") for u in urls)


def test_every_graphql_weakness_is_found(graphql_scans: dict[str, ScanResult]) -> None:
    kinds = {f.kind for f in graphql_scans["vulnerable"].findings}
    assert kinds >= EXPECTED, EXPECTED - kinds
    sql = next(
        f for f in graphql_scans["vulnerable"].findings if f.kind == "input_validation.sql-error"
    )
    assert sql.operation == "GRAPHQL /graphql query.user" and sql.input == "graphql:name"
    assert sql.evidence.details["database"].lower().startswith("sqlite")
    none = next(
        f for f in graphql_scans["vulnerable"].findings if f.kind == "authentication.jwt-alg-none"
    )
    assert none.input == "graphql:token"


def test_hardened_graphql_twin_is_clean(graphql_scans: dict[str, ScanResult]) -> None:
    result = graphql_scans["hardened"]
    assert result.surface["graphql"] == "/graphql"  # introspection on: every probe had targets
    kinds = {f.kind for f in result.findings}
    assert not kinds & EXPECTED, kinds & EXPECTED
    assert not any(k.startswith("graphql.") for k in kinds)
    # the probes reached the resolvers (not refused): the quote probe and the token probe passed
    passed = {
        (c.operation, c.input)
        for c in result.coverage
        if c.check == "graphql" and c.status == "passed"
    }
    assert ("GRAPHQL /graphql query.user", "graphql:name") in passed
    assert ("GRAPHQL /graphql query.me", "graphql:token") in passed
    ssrf = [
        c.status
        for c in result.coverage
        if c.check == "ssrf" and c.operation == "GRAPHQL /graphql query.preview"
    ]
    assert ssrf == ["passed"]


def test_graphql_fixes_are_written(graphql_scans: dict[str, ScanResult]) -> None:
    for f in graphql_scans["vulnerable"].findings:
        if f.kind.startswith("graphql."):
            assert "#### Fix" in render(f) and "generic" not in render(f).lower()[:40]

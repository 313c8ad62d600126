"""Truthful verdicts on the lab shapes of issue 9 (lab/truth_lab.py): real Flask apps on loopback,
real scans. Each vulnerable shape is found; each hardened twin stays clean; refused tests are
never "passed"; too little reach gives the *incomplete* grade and exit code 2.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from firebrick.engine import run_scan
from firebrick.lab.truth_lab import TOKENS, serve
from firebrick.model import ScanResult
from firebrick.options import ScanOptions
from support import run_firebrick

ROOT = Path(__file__).resolve().parents[1]
ALICE = {"Authorization": f"Bearer {TOKENS['alice']}"}
BOB = {"Authorization": f"Bearer {TOKENS['bob']}"}


def scan(shape: str, hardened: bool, **kw: Any) -> ScanResult:
    with serve(shape, hardened) as base:
        return asyncio.run(run_scan(ScanOptions(target=base, rate=300, max_time=90, **kw)))


def kinds(result: ScanResult) -> set[str]:
    return {f.kind for f in result.findings}


def firebrick(*args: str) -> subprocess.CompletedProcess[str]:
    env = {"PYTHONPATH": str(ROOT / "src"), "NO_COLOR": "1", "COLUMNS": "120"}
    return run_firebrick(*args, timeout=300, env=env)


# -- an API that needs a token everywhere ------------------------------------------------------
@pytest.fixture(scope="module")
def wall_anonymous() -> ScanResult:
    return scan("token-wall", hardened=False)


def test_token_wall_without_credentials_is_incomplete_not_a(wall_anonymous: ScanResult) -> None:
    r = wall_anonymous
    s = r.coverage_summary
    assert s is not None and not s.graded
    assert r.grade is None and r.grade_incomplete and r.to_dict()["grade_status"] == "incomplete"
    assert s.operations_reached == 0 and s.operations_refused.get("auth", 0) >= 6
    assert any("no operation was reached" in x for x in s.reasons)
    assert any("answered 401/403" in h and "-H 'Authorization: Bearer TOKEN'" in h for h in s.hints)
    # The ladder: a probe the wall refused is refused (auth), never passed. Only the checks
    # whose verdict *is* the refusal (authentication, bfla) pass on a walled operation.
    for item in r.coverage:
        if item.operation and item.operation.startswith("GET /api/") and item.status == "passed":
            assert item.check in ("authentication", "bfla"), item
    refused = [c for c in r.coverage if c.status == "refused"]
    assert refused and all(c.cause == "auth" for c in refused)
    data = [c for c in r.coverage if c.check == "data_exposure" and c.operation]
    assert data and all(c.status == "refused" for c in data)


def test_token_wall_cli_exit_code_2_and_first_screen(tmp_path: Path) -> None:
    with serve("token-wall", hardened=False) as base:
        out = tmp_path / "r.json"
        proc = firebrick("scan", base, "-q", "--rate", "300", "-f", "text", "-f", "json",
                         "-o", str(tmp_path / "r.txt"), "-o", str(out))  # fmt: skip
    assert proc.returncode == 2, proc.stderr
    assert "the grade is incomplete" in proc.stderr
    text = (tmp_path / "r.txt").read_text()
    first_screen = text[: text.index("Categories")]
    assert "Grade INCOMPLETE" in first_screen and "partial: not a grade" in first_screen
    assert "Coverage: 7 operations discovered, 0 reached, 7 refused (auth 7)" in first_screen
    assert "To fix: 7 operation(s) answered 401/403" in first_screen
    doc = json.loads(out.read_text())
    assert doc["grade"] is None and doc["grade_status"] == "incomplete"


def test_token_wall_with_the_token_finds_the_flaw_and_the_twin_is_clean() -> None:
    vulnerable = scan("token-wall", hardened=False, headers=ALICE)
    hardened = scan("token-wall", hardened=True, headers=ALICE)
    for r in (vulnerable, hardened):
        assert r.coverage_summary is not None and r.coverage_summary.graded
        assert r.coverage_summary.operations_reached >= 6
    assert any(
        f.kind == "data_exposure.secret" and f.operation == "GET /api/settings"
        for f in vulnerable.findings
    )
    assert hardened.findings == [] and hardened.grade == "A"


def test_refused_credentials_are_said_at_once() -> None:
    r = scan("token-wall", hardened=False, headers={"Authorization": "Bearer expired-or-wrong"})
    assert any("credentials given with -H were refused" in w for w in r.warnings)
    assert r.grade_incomplete and r.coverage_summary is not None
    assert "credentials given with -H were refused" in r.coverage_summary.hints[0]


@pytest.mark.parametrize(
    ("header", "why"),
    [
        ("Authorization:", "the value is empty"),
        ("Authorization: Bearer", "Bearer needs a credential"),
        ("Authorization: Bearer two words", "cannot contain spaces"),
        ("Authorization: Basic !!!", "base64 of user:password"),
        ("Cookie: session", "name=value"),
    ],
)
def test_malformed_credentials_are_a_usage_error(header: str, why: str) -> None:
    proc = firebrick("scan", "http://127.0.0.1:9", "-q", "-H", header)
    assert proc.returncode == 3
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("firebrick: error:") and why in lines[0]


# -- a single-page app whose API is named only in its bundle -----------------------------------
def test_spa_bundle_routes_are_discovered_and_scanned() -> None:
    vulnerable = scan("spa", hardened=False)
    hardened = scan("spa", hardened=True)
    for r in (vulnerable, hardened):
        ops = set(r.surface["operations"])
        assert {"GET /api/config", "GET /api/notes", "POST /api/notes", "GET /api/profile"} <= ops
        assert "GET /api/notes/{id}" in ops  # a template literal became a path parameter
        assert not any("discovery found only" in w for w in r.warnings)
        assert r.coverage_summary is not None and r.coverage_summary.graded
    assert "data_exposure.secret" in kinds(vulnerable)
    assert hardened.findings == []


# -- Swagger UI at a redirecting path --------------------------------------------------------
def test_swagger_ui_behind_a_redirect_is_followed_to_its_document() -> None:
    vulnerable = scan("swagger-redirect", hardened=False)
    hardened = scan("swagger-redirect", hardened=True)
    # embedded in swagger-ui-init.js (vulnerable) / named by url: (hardened)
    assert str(vulnerable.surface["spec"]).endswith("/api-docs/swagger-ui-init.js")
    assert str(hardened.surface["spec"]).endswith("/api-docs/swagger.json")
    for r in (vulnerable, hardened):
        assert "GET /api/items/{item_id}" in r.surface["operations"]
    assert any(
        f.kind == "data_exposure.secret" and f.operation == "GET /api/config"
        for f in vulnerable.findings
    )
    assert hardened.findings == []


# -- string ids readable across two identities -----------------------------------------------
def test_bola_with_string_ids_across_two_identities() -> None:
    ids = {"alice": ALICE, "bob": BOB}
    vulnerable = scan("string-ids", hardened=False, identities=ids)
    hardened = scan("string-ids", hardened=True, identities=ids)
    cross = [f for f in vulnerable.findings if f.kind == "bola.cross-identity"]
    assert cross and cross[0].operation == "GET /api/notes/{title}"
    assert cross[0].input == "path:title"
    assert hardened.findings == []
    assert any(
        c.check == "bola" and c.operation == "GET /api/notes/{title}" and c.status == "passed"
        for c in hardened.coverage
    )


def test_bola_says_why_it_cannot_run() -> None:
    r = scan("string-ids", hardened=True, headers=ALICE)
    notes = r.coverage_summary.notes if r.coverage_summary else []
    assert any("BOLA cross-identity not run" in n and "two needed" in n for n in notes)


# -- an app whose only finding is a likely SQL error ----------------------------------------------
def test_a_likely_high_finding_caps_the_grade_at_c() -> None:
    vulnerable = scan("likely-sql", hardened=False)
    hardened = scan("likely-sql", hardened=True)
    assert [(f.kind, f.severity.value, f.confidence.value) for f in vulnerable.findings] == [
        ("input_validation.sql-error", "high", "likely")
    ]
    assert vulnerable.score is not None and vulnerable.score >= 90  # an A without the cap
    assert vulnerable.grade == "C"
    assert hardened.findings == [] and hardened.grade == "A"


# -- JWT tests on every token found ------------------------------------------------------------
def test_jwt_tests_run_on_the_spec_example_token_and_say_so() -> None:
    vulnerable = scan("jwt-example", hardened=False)
    hardened = scan("jwt-example", hardened=True)
    weak = [f for f in vulnerable.findings if f.kind == "authentication.jwt-weak-secret"]
    assert weak and weak[0].evidence.details["source"] == "an example in the OpenAPI document"
    for r in (vulnerable, hardened):
        notes = r.coverage_summary.notes if r.coverage_summary else []
        assert "JWT tests ran on 1 token(s): an example in the OpenAPI document (HS256)" in notes
    item = next(
        c for c in hardened.coverage if c.input == "jwt (an example in the OpenAPI document)"
    )
    assert item.status == "passed"
    assert "secret 'secret' verifies it offline, but the target refused tokens it signs" in (
        item.reason
    )
    # the published example token itself is data_exposure's business, in both twins
    assert {f.category for f in hardened.findings} <= {"data_exposure"}
    assert not [f for f in hardened.findings if f.category == "authentication"]


# -- the books-by-title shape (measured on a third-party API, docs/real-apps.md) --------------
@pytest.fixture(scope="module")
def books_anonymous() -> tuple[ScanResult, ScanResult]:
    return scan("books-by-title", hardened=False), scan("books-by-title", hardened=True)


def _login_item(result: ScanResult) -> Any:
    return next(c for c in result.coverage if c.check == "authentication" and c.input == "login")


def test_login_enumeration_uses_a_user_the_api_lists(
    books_anonymous: tuple[ScanResult, ScanResult],
) -> None:
    vulnerable, hardened = books_anonymous
    enum = [f for f in vulnerable.findings if f.kind == "authentication.user-enumeration"]
    assert enum and enum[0].operation == "POST /api/login"
    assert "alice" in enum[0].evidence.payloads_worked  # listed by GET /api/users
    # the twin answers alike for a user that exists: a pass that reached the credential check
    item = _login_item(hardened)
    assert item.status == "passed" and "'alice'" in item.reason and "listed by" in item.reason


def test_login_without_a_known_user_is_not_a_pass() -> None:
    # the spec's example user does not exist and nothing lists users: "no such user" twice
    # proves nothing, so the test is not determined
    r = scan("books-by-title", hardened=True, exclude=["/api/users*", "/api/books*"])
    item = _login_item(r)
    assert item.status == "not_determined" and "no user is known to exist" in item.reason


def test_jwt_accepted_where_a_token_check_is_undeclared_and_the_example_id_is_absent(
    books_anonymous: tuple[ScanResult, ScanResult],
) -> None:
    vulnerable, hardened = books_anonymous
    weak = [f for f in vulnerable.findings if f.kind == "authentication.jwt-weak-secret"]
    # the forged token gets 404 (the example book is not there) where a bad signature gets 401
    assert weak and weak[0].operation == "GET /api/books/{book_title}"
    assert weak[0].evidence.exchanges[0].status == 404
    for r in (vulnerable, hardened):
        notes = r.coverage_summary.notes if r.coverage_summary else []
        assert "JWT tests ran on 1 token(s): an example in the OpenAPI document (HS256)" in notes
    item = next(
        c for c in hardened.coverage if c.input == "jwt (an example in the OpenAPI document)"
    )
    assert item.status == "passed"
    # Shared by both twins, not flaws of the shape: the published example token, and the public
    # user directory that the private-looking-path heuristic names (possible, not proven).
    shared = {"data_exposure.secret-in-spec", "authentication.unauthenticated-access"}
    assert {f.kind for f in hardened.findings} <= shared
    assert all(
        f.confidence.value == "possible" and f.operation == "GET /api/users"
        for f in hardened.findings
        if f.kind == "authentication.unauthenticated-access"
    )


def test_bola_on_titles_but_not_on_public_profiles() -> None:
    from firebrick.lab.truth_lab import books_token

    def ids(hardened: bool) -> dict[str, dict[str, str]]:
        return {
            u: {"Authorization": f"Bearer {books_token(u, hardened)}"} for u in ("alice", "bob")
        }

    vulnerable = scan("books-by-title", hardened=False, identities=ids(False))
    hardened = scan("books-by-title", hardened=True, identities=ids(True))
    cross = {f.operation for f in vulnerable.findings if f.kind == "bola.cross-identity"}
    # a profile that anyone reads without credentials is public, even when listed in A's answer
    assert cross == {"GET /api/books/{book_title}"}
    assert not [f for f in hardened.findings if f.category == "bola"]
    assert any(
        c.check == "bola" and c.operation == "GET /api/users/{username}" and "public" in c.reason
        for c in vulnerable.coverage
    )


# -- a URL built from parts and run through a shell (measured on a third-party GraphQL API) ------
def test_a_shell_that_expands_the_fetched_url_is_command_injection() -> None:
    vulnerable = scan("paste-import", hardened=False, mode="full")
    hardened = scan("paste-import", hardened=True, mode="full")
    inj = [f for f in vulnerable.findings if f.kind == "input_validation.command-injection"]
    # the REST import and the GraphQL mutation (a URL from four arguments) share the fetcher
    assert {f.operation for f in inj} == {
        "POST /api/pastes/import",
        "GRAPHQL /graphql mutation.importPaste",
    }
    assert all(f.confidence.value == "confirmed" and f.evidence.interactions for f in inj)
    assert "input_validation.command-injection" not in kinds(hardened)
    items = [c for c in hardened.coverage if c.check == "fetch_shell"]
    assert len(items) == 2 and all(c.status == "passed" and "no shell" in c.reason for c in items)
    # both twins fetch our URLs: the SSRF finding is shared, the shell is the difference
    assert "ssrf.internal-read" in kinds(vulnerable) and "ssrf.internal-read" in kinds(hardened)


def test_safe_mode_spends_a_write_on_the_shell_probe_before_consumption_probes() -> None:
    # The import creates a paste per request: safe mode's cap leaves few writes after the SSRF
    # stage; the shell question (critical) takes one before the unsafe-consumption probes.
    vulnerable = scan("paste-import", hardened=False)
    hardened = scan("paste-import", hardened=True)
    assert "input_validation.command-injection" in kinds(vulnerable)
    assert all(c.status == "passed" for c in hardened.coverage if c.check == "fetch_shell")
    assert "input_validation.command-injection" not in kinds(hardened)


def test_graphql_import_through_a_shell_and_an_excluded_mutation_is_no_path() -> None:
    with serve("paste-import", hardened=False) as base:
        r = asyncio.run(run_scan(ScanOptions(target=base, rate=300, max_time=90)))
    ops = {f.operation for f in r.findings if f.kind == "input_validation.command-injection"}
    assert "GRAPHQL /graphql mutation.importPaste" in ops  # the URL assembled from 4 arguments
    # deletePaste is kept out of safe mode; its key is no REST path to send OPTIONS to
    assert any(c.operation == "GRAPHQL /graphql mutation.deletePaste" for c in r.coverage)
    assert not any("%20mutation" in (c.operation or "") for c in r.coverage)

"""Scans behind a login: JSON login with short-lived tokens and two users, a Django-style form
app with CSRF on every POST, OAuth2 client credentials; each with its hardened twin."""

from __future__ import annotations

import asyncio
import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from firebrick.engine import run_scan
from firebrick.lab.reach_lab import OAUTH_CLIENT, ReachLab, serve_reach
from firebrick.model import Finding, ScanResult
from firebrick.options import ScanOptions
from firebrick.report import render
from support import run_firebrick

ROOT = Path(__file__).resolve().parents[1]
TWO_USERS = [("bob", "bob", "bob-pass-1"), ("alice", "alice", "alice-pass-2")]


def scan(url: str, **kw: Any) -> ScanResult:
    # the OOB server on the lab's "public internet" (127.100.0.0/16): the hardened fetchers
    # reach it, so a refused internal payload is a proven "passed"
    opts = ScanOptions(target=url, rate=300, max_time=90, oob_listen="127.100.0.1", **kw)
    return asyncio.run(run_scan(opts))


@pytest.fixture(scope="module")
def login_labs() -> Iterator[dict[str, ReachLab]]:
    labs = {v: serve_reach("login", v) for v in ("vulnerable", "hardened")}
    yield labs
    for lab in labs.values():
        lab.stop()


@pytest.fixture(scope="module")
def form_labs() -> Iterator[dict[str, ReachLab]]:
    labs = {v: serve_reach("form", v) for v in ("vulnerable", "hardened")}
    yield labs
    for lab in labs.values():
        lab.stop()


@pytest.fixture(scope="module")
def login_scans(login_labs: dict[str, ReachLab]) -> dict[str, ScanResult]:
    return {
        v: scan(lab.url, login="POST /api/login", login_users=list(TWO_USERS))
        for v, lab in login_labs.items()
    }


@pytest.fixture(scope="module")
def form_scans(form_labs: dict[str, ReachLab]) -> dict[str, ScanResult]:
    return {
        v: scan(lab.url, login="/login", username="alice", password="alice-pass-2")
        for v, lab in form_labs.items()
    }


def kinds(result: ScanResult, prefix: str) -> list[Finding]:
    return [f for f in result.findings if f.kind.startswith(prefix)]


def test_role_gated_ssrf_found_as_the_identity_that_can_reach_it(
    login_scans: dict[str, ScanResult],
) -> None:
    result = login_scans["vulnerable"]
    ssrf = [f for f in kinds(result, "ssrf.") if f.operation == "POST /api/staff/preview"]
    assert any(f.kind == "ssrf.internal-read" for f in ssrf), [f.kind for f in result.findings]
    # bob (the default identity, a customer) is refused 403; alice (an employee) reaches it
    assert all({e.identity for e in f.evidence.exchanges} == {"alice"} for f in ssrf)
    text = render(result, "text")
    assert "As: alice" in text


def test_tokens_expire_mid_scan_and_are_renewed(
    login_scans: dict[str, ScanResult], login_labs: dict[str, ReachLab]
) -> None:
    result = login_scans["vulnerable"]
    assert result.surface["identities"] == ["bob", "alice"]
    assert sum(result.surface["relogins"].values()) >= 1
    # a stale token never reached a check as a 401: every identity request after a relogin
    # was answered with the fresh token
    assert result.complete


def test_two_logins_give_cross_identity_bola(login_scans: dict[str, ScanResult]) -> None:
    assert kinds(login_scans["vulnerable"], "bola.cross-identity")
    assert not kinds(login_scans["hardened"], "bola.")


def test_login_api_hardened_twin_has_no_ssrf(login_scans: dict[str, ScanResult]) -> None:
    assert not kinds(login_scans["hardened"], "ssrf.")
    cov = [
        c.status
        for c in login_scans["hardened"].coverage
        if c.check == "ssrf" and c.operation == "POST /api/staff/preview"
    ]
    assert cov == ["passed"]  # reached as alice, fetched our URL, refused every internal one


def test_login_secrets_are_redacted(login_scans: dict[str, ScanResult]) -> None:
    doc = json.dumps(login_scans["vulnerable"].to_dict())
    for _, _, password in TWO_USERS:
        assert password not in doc


def test_form_app_csrf_and_onclick_reach_both_ssrf_inputs(
    form_scans: dict[str, ScanResult],
) -> None:
    result = form_scans["vulnerable"]
    where = {(f.operation, f.input) for f in kinds(result, "ssrf.internal-read")}
    # the form is only linked from an onclick handler and has no action attribute
    assert ("POST /tools/preview", "form:url") in where
    # the spec operation needs X-CSRFToken: sent from the csrftoken cookie
    assert ("POST /api/webhook-test", "json:url") in where
    ex = next(
        e
        for f in kinds(result, "ssrf.internal-read")
        if f.operation == "POST /api/webhook-test"
        for e in f.evidence.exchanges
    )
    assert ex.request_headers.get("x-csrftoken") == "<redacted>"


def test_form_app_hardened_twin_has_no_ssrf(form_scans: dict[str, ScanResult]) -> None:
    result = form_scans["hardened"]
    assert not kinds(result, "ssrf.")
    # the probes reached the guarded code (not refused by CSRF or the login) and it held
    status = {
        c.operation: c.status
        for c in result.coverage
        if c.check == "ssrf" and c.input in ("form:url", "json:url")
    }
    assert status == {"POST /tools/preview": "passed", "POST /api/webhook-test": "passed"}


def test_oauth2_client_credentials(login_labs: dict[str, ReachLab]) -> None:
    url = login_labs["vulnerable"].url
    result = scan(
        url,
        oauth2_token_url=url + "/oauth/token",
        oauth2_client_id=OAUTH_CLIENT[0],
        oauth2_client_secret=OAUTH_CLIENT[1],
        checks=["ssrf"],
    )
    ssrf = kinds(result, "ssrf.internal-read")
    assert ssrf and ssrf[0].evidence.exchanges[0].identity == "oauth2-client"
    assert OAUTH_CLIENT[1] not in json.dumps(result.to_dict())


def firebrick(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return run_firebrick(*args, env=env)


def test_wrong_password_is_one_line_exit_3(login_labs: dict[str, ReachLab]) -> None:
    proc = firebrick(
        "scan",
        login_labs["vulnerable"].url,
        "--no-store",
        "--login",
        "POST /api/login",
        "--username",
        "bob",
        "--password",
        "env:FB_TEST_PW",
        env={"FB_TEST_PW": "wrong"},
    )
    assert proc.returncode == 3, proc.stderr
    assert "Traceback" not in proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("firebrick: error:")]
    assert len(errors) == 1 and errors[0].startswith("firebrick: error: login as 'user' failed")
    assert "401" in errors[0] and "wrong" not in proc.stderr


def test_login_without_credentials_is_usage_error() -> None:
    proc = firebrick("scan", "http://127.0.0.1:9", "--no-store", "--login", "/login")
    assert proc.returncode == 3
    assert "--login needs --username/--password" in proc.stderr


def test_register_needs_full_mode() -> None:
    proc = firebrick("scan", "http://127.0.0.1:9", "--no-store", "--register")
    assert proc.returncode == 3
    assert "--register creates accounts: it needs --mode full" in proc.stderr


def test_form_app_is_django_and_fixes_say_so(form_scans: dict[str, ScanResult]) -> None:
    result = form_scans["vulnerable"]
    assert result.surface["facts"]["framework"]["name"] == "django"
    f = kinds(result, "ssrf.internal-read")[0]
    assert f.remediation.index("#### Fix") < f.remediation.index("This app is not Flask (Django)")
    assert "Django: call the same guarded fetch()" in f.remediation


def test_register_creates_two_identities_in_full_mode(login_labs: dict[str, ReachLab]) -> None:
    result = scan(
        login_labs["hardened"].url,
        mode="full",
        register=True,
        login="POST /api/login",
        checks=["bola", "authentication"],
    )
    assert result.surface["identities"] == ["registered-1", "registered-2"]
    used = {e.identity for f in result.findings for e in f.evidence.exchanges} | {
        i for i in result.surface["relogins"]
    }
    assert {"registered-1", "registered-2"} <= used
    assert "-Aa1" not in json.dumps(result.to_dict())  # the generated passwords are redacted


def test_script_and_data_links_followed_state_changing_ones_not(
    form_scans: dict[str, ScanResult], form_labs: dict[str, ReachLab]
) -> None:
    ops = set(form_scans["vulnerable"].surface["operations"])
    assert "GET /api/status" in ops  # from a data-endpoint attribute
    assert "GET /tools/preview" in ops  # from an onclick handler
    # /start-over is named only in an inline script; the side-effect classifier keeps it unsent
    assert form_labs["vulnerable"].app.config.get("start_over_hits", 0) == 0


def test_session_cookie_identities_pass_the_credential_check(
    form_scans: dict[str, ScanResult], login_scans: dict[str, ScanResult]
) -> None:
    # the start-of-scan credential check sends as the identity (its cookie jar, current token)
    for result in (form_scans["vulnerable"], login_scans["vulnerable"]):
        assert not [w for w in result.warnings if "were refused" in w], result.warnings

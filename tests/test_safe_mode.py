"""Issue 10: safe mode changes nothing, the user's scope, the write ledger, cleanup and restores.

Every scan here runs against the side-effect lab (lab/sideeffect_lab.py) served on loopback; the
lab counts every call and logs (method, path, status) of every request, and the tests compare
what the scanner did and reported with what the lab saw.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from flask import Flask

from firebrick.engine import run_scan
from firebrick.errors import UsageError
from firebrick.lab.sideeffect_lab import STATE_CHANGING, TOKEN, create_app
from firebrick.model import ScanResult
from firebrick.options import ScanOptions, load_options
from firebrick.report import render
from firebrick.report.terminal import render_text
from firebrick.sideeffects import (
    SAFE_CREATES_PER_OPERATION,
    SAFE_WRITES_PER_OPERATION,
    Rule,
    SendPolicy,
    classify,
    parse_rules,
    words,
)
from support import serve

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = json.loads((ROOT / "docs" / "scan-result.schema.json").read_text())
SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}
CREDS = {"Authorization": f"Bearer {TOKEN}"}


# -- the classifier -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("method", "path", "extra"),
    [
        ("GET", "/reset-db", {}),
        ("GET", "/start_over", {}),
        ("GET", "/startOver", {}),
        ("GET", "/difficulty/hard", {}),
        ("GET", "/api/admin/resetDatabase", {}),
        ("GET", "/api/db/reset", {}),
        ("POST", "/api/create_db", {}),
        ("GET", "/api/createTables", {}),
        ("GET", "/setup", {}),
        ("GET", "/install.php", {}),
        ("GET", "/api/seed", {}),
        ("GET", "/api/migrate", {}),
        ("GET", "/logout", {}),
        ("GET", "/sign-out", {}),
        ("GET", "/api/cache/flush", {}),
        ("GET", "/admin/shutdown", {}),
        ("GET", "/api/features/darkMode/toggle", {}),
        ("GET", "/api/users/7/disable", {}),
        ("GET", "/api/run", {}),
        ("POST", "/api/auth/register", {}),
        ("POST", "/api/signup", {}),
        ("DELETE", "/api/items/{id}", {}),
        ("GET", "/api/x", {"operation_id": "wipeAllData"}),
        ("GET", "/api/x", {"summary": "Resets the game to level one"}),
        ("GET", "/api/x", {"tags": ["Danger: purge"]}),
        ("GET", "/game", {"query": "action=reset"}),
    ],
)
def test_classifier_flags_state_changing_requests(
    method: str, path: str, extra: dict[str, Any]
) -> None:
    assert classify(method, path, **extra) is not None


@pytest.mark.parametrize(
    ("method", "path", "extra"),
    [
        ("GET", "/api/items", {}),
        ("GET", "/api/items/{id}", {}),
        ("GET", "/api/settings", {}),
        ("GET", "/api/dropdown-options", {}),
        ("GET", "/api/initial-state", {}),
        ("POST", "/api/webhooks", {"operation_id": "registerWebhook"}),
        ("POST", "/api/auth/login", {"summary": "Log in"}),
        ("GET", "/api/orders", {"summary": "List orders (use DELETE /orders/{id} to remove one)"}),
        ("GET", "/api/users", {"summary": "Registered users"}),
    ],
)
def test_classifier_leaves_ordinary_requests(method: str, path: str, extra: dict[str, Any]) -> None:
    assert classify(method, path, **extra) is None


def test_words_split_snake_camel_kebab() -> None:
    assert words("/api/resetDB_now/{id}/start-over") == [
        "api",
        "reset",
        "db",
        "now",
        "start",
        "over",
    ]


def test_rules_globs_methods_and_regexes() -> None:
    assert Rule.parse("/admin/*").matches("GET", "/admin/users/1")
    assert not Rule.parse("/admin/*").matches("GET", "/api/admin")
    assert Rule.parse("POST /api/items").matches("POST", "/api/items/")
    assert not Rule.parse("POST /api/items").matches("GET", "/api/items")
    assert Rule.parse("/users/*").matches("GET", "/users/{id}")  # the spec's template
    assert Rule.parse("* /x").matches("PATCH", "/x") and Rule.parse("get /x").matches("GET", "/x")
    assert Rule.parse("re:reset|wipe").matches("GET", "/api/v1/wipe")
    assert Rule.parse("^/api/v[0-9]+/").matches("DELETE", "/api/v2/x")
    with pytest.raises(UsageError, match="invalid regular expression"):
        Rule.parse("re:(")
    with pytest.raises(UsageError, match="unknown method"):
        Rule.parse("FETCH /x")


def test_include_exclude_from_toml_and_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    toml = tmp_path / "firebrick.toml"
    toml.write_text(
        '[scan]\nexclude = ["/admin/*", "POST /api/import"]\ninclude = "/api/*"\n'
        'assume-safe = "GET /api/run*"\n'
    )
    opts = load_options({"target": "http://127.0.0.1:1"}, toml)
    assert opts.exclude == ["/admin/*", "POST /api/import"] and opts.include == ["/api/*"]
    assert opts.assume_safe == ["GET /api/run*"]
    monkeypatch.setenv("FIREBRICK_ASSUME_SAFE", "GET /api/run*,/api/mode")
    assert load_options({"target": "http://127.0.0.1:1"}, toml).assume_safe == [
        "GET /api/run*",
        "/api/mode",
    ]
    monkeypatch.setenv("FIREBRICK_EXCLUDE", "/a/*,re:wipe")
    monkeypatch.setenv("FIREBRICK_CLEANUP", "yes")
    opts = load_options({"target": "http://127.0.0.1:1"}, toml)
    assert opts.exclude == ["/a/*", "re:wipe"] and opts.cleanup_enabled
    assert [r.text for r in parse_rules(opts.exclude, "--exclude")] == ["/a/*", "re:wipe"]
    # flags win over both
    opts = load_options({"target": "http://127.0.0.1:1", "exclude": ["/b"]}, toml)
    assert opts.exclude == ["/b"]
    assert ScanOptions(mode="full").cleanup_enabled and not ScanOptions().cleanup_enabled


def test_full_mode_sends_state_changing_only_where_included() -> None:
    policy = SendPolicy.from_options("full", [], [])
    assert policy.link_verdict("http://t/reset-db") is not None
    policy = SendPolicy.from_options("full", ["GET /reset-db"], [])
    assert policy.link_verdict("http://t/reset-db") is None
    safe = SendPolicy.from_options("safe", ["GET /reset-db"], [])
    assert "looks state-changing" in (safe.link_verdict("http://t/reset-db") or "")


def test_safe_mode_caps_creations_per_operation() -> None:
    policy = SendPolicy.from_options("safe", [], [])
    url = "http://t/api/items"
    for _ in range(SAFE_CREATES_PER_OPERATION):
        assert policy.request_verdict("POST", url, "ssrf", "POST /api/items") is None
        policy.note_write("POST", url, "POST /api/items", created=True, status=201)
    refused = policy.request_verdict("POST", url, "ssrf", "POST /api/items")
    assert refused == "skipped: safe mode creates at most 2 objects per operation"
    assert policy.request_verdict("POST", "http://t/api/other", "ssrf", None) is None
    for _ in range(100):  # refused writes (401/403/400) changed nothing: not counted
        policy.note_write("POST", "http://t/api/other", None, created=False, status=403)
    assert policy.request_verdict("POST", "http://t/api/other", "ssrf", None) is None
    assert policy.request_verdict("DELETE", "http://t/api/items/1", "ssrf", None) is not None
    full = SendPolicy.from_options("full", [], [])
    for _ in range(5):
        full.note_write("POST", url, "POST /api/items", created=True, status=201)
    assert full.request_verdict("POST", url, "ssrf", "POST /api/items") is None


def test_safe_mode_caps_writes_but_not_posts_that_read() -> None:
    policy = SendPolicy.from_options("safe", [], [])
    policy.approve([], post_reads={"POST /api/search"})
    url = "http://t/api/hooks"
    for sent in range(SAFE_WRITES_PER_OPERATION):
        assert policy.writes_left("POST /api/hooks") == SAFE_WRITES_PER_OPERATION - sent
        assert policy.request_verdict("POST", url, "ssrf", "POST /api/hooks") is None
        policy.note_write("POST", url, "POST /api/hooks", created=False, status=200)
    assert policy.writes_left("POST /api/hooks") == 0
    refused = policy.request_verdict("POST", url, "ssrf", "POST /api/hooks")
    assert (
        refused
        == f"skipped: safe mode sends at most {SAFE_WRITES_PER_OPERATION} writes per operation"
    )
    search = "http://t/api/search"
    for _ in range(3 * SAFE_WRITES_PER_OPERATION):  # a search sent by POST reads: not capped
        assert policy.request_verdict("POST", search, "injection", "POST /api/search") is None
        policy.note_write("POST", search, "POST /api/search", created=False, status=200)
    assert policy.writes_left("POST /api/search") is None
    assert SendPolicy.from_options("full", [], []).writes_left("POST /api/hooks") is None


def test_bad_rule_is_a_one_line_usage_error() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "firebrick", "scan", "http://127.0.0.1:1", "--exclude", "re:("],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT / "src")},
    )
    assert proc.returncode == 3
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("firebrick: error: --exclude"), proc.stderr


# -- scans of the lab -----------------------------------------------------------------------------
def _scan(app: Flask, **options: Any) -> ScanResult:
    with serve(app) as base:
        opts = ScanOptions(target=base, rate=500.0, max_time=60.0, **options)
        return asyncio.run(run_scan(opts))


def _writes_seen_by_lab(app: Flask) -> Counter[tuple[str, str, int]]:
    return Counter((m, p, s) for m, p, s in app.config["LOG"] if m not in SAFE_METHODS)


def _ledger(result: ScanResult) -> Counter[tuple[str, str, int | None]]:
    return Counter((w.method, w.path.split("?", 1)[0], w.status) for w in result.writes)


def _capped_writes_seen_by_lab(app: Flask) -> Counter[tuple[str, str]]:
    """Writes per (method, path) the lab saw that the safe-mode cap counts: not answered 4xx,
    and not to the login (a POST that reads)."""
    return Counter(
        (m, p)
        for m, p, s in app.config["LOG"]
        if m not in SAFE_METHODS and not 400 <= s < 500 and p != "/api/auth/login"
    )


def _skips(result: ScanResult) -> dict[str, str]:
    return {c.operation or "": c.reason for c in result.coverage if c.check == "scope"}


@pytest.fixture(scope="module")
def safe_run() -> Iterator[tuple[Flask, ScanResult]]:
    app = create_app("vulnerable")
    yield app, _scan(app)


def test_default_scan_calls_no_state_changing_route(safe_run: tuple[Flask, ScanResult]) -> None:
    app, result = safe_run
    calls = app.config["CALLS"]
    assert {p: calls[p] for p in STATE_CHANGING if calls[p]} == {}
    assert not any(p.startswith("/difficulty/") for p in calls)
    state = app.config["STATE"]
    assert state["resets"] == 0 and state["difficulty"] == "easy"
    assert set(state["accounts"]) == {"alice"}  # no account created
    assert calls["/api/auth/login"] > 0  # user enumeration used the login operation instead
    skips = _skips(result)
    for key in (
        "GET /api/admin/reset",
        "POST /api/auth/register",
        "GET /start_over",
        "GET /difficulty/hard",
        "GET /reset-db",
        "GET /game?action=reset",
        "GET /logout",
    ):
        assert skips.get(key, "").startswith("skipped: looks state-changing"), (key, skips)
    assert "GET /api/admin/reset" not in result.surface["operations"]


def test_ledger_lists_exactly_the_writes_the_lab_saw(safe_run: tuple[Flask, ScanResult]) -> None:
    app, result = safe_run
    assert _ledger(result) == _writes_seen_by_lab(app)
    assert result.writes  # the lab does take writes: SSRF probes create items
    created = [w for w in result.writes if w.created]
    assert created and all(w.created.startswith("/api/items/") for w in created)  # type: ignore[union-attr]
    per_op = Counter(w.operation or w.path for w in created)
    assert max(per_op.values()) <= SAFE_CREATES_PER_OPERATION
    assert all(w.cleanup is None for w in result.writes)  # --cleanup is off in safe mode
    items = [w for w in result.writes if w.method == "POST" and w.path == "/api/items"]
    assert items and all(w.operation == "POST /api/items" for w in items)
    assert any("remain on the target" in w for w in result.warnings)


def test_safe_scan_keeps_writes_per_operation_under_the_cap_and_finds_the_ssrf(
    safe_run: tuple[Flask, ScanResult],
) -> None:
    app, result = safe_run
    writes = _capped_writes_seen_by_lab(app)
    assert writes[("POST", "/api/link-preview")] > 2  # the SSRF went past stage 1
    assert max(writes.values()) <= SAFE_WRITES_PER_OPERATION, writes
    (finding,) = [
        f
        for f in result.findings
        if f.operation == "POST /api/link-preview" and f.kind.startswith("ssrf.internal")
    ]
    assert finding.kind == "ssrf.internal-read"  # the loopback read came back in the answer
    assert "Depth partly measured in safe mode:" in finding.description
    assert "--mode full runs them all" in finding.description


def test_hardened_link_preview_twin_is_clean_within_the_cap() -> None:
    app = create_app("hardened")
    result = _scan(app)
    assert not [f for f in result.findings if f.operation == "POST /api/link-preview"]
    statuses = {
        c.status
        for c in result.coverage
        if c.check == "ssrf" and c.operation == "POST /api/link-preview"
    }
    assert statuses and "passed" not in statuses  # every callback here is loopback: no verdict
    writes = _capped_writes_seen_by_lab(app)
    assert max(writes.values()) <= SAFE_WRITES_PER_OPERATION, writes
    assert _ledger(result) == _writes_seen_by_lab(app)


def test_ssrf_stage1_bundles_a_write_operations_inputs(safe_run: tuple[Flask, ScanResult]) -> None:
    app, result = safe_run
    ssrf = [w for w in result.writes if w.check == "ssrf" and w.path == "/api/items"]
    assert len(ssrf) == 2  # three URL inputs, two payload kinds, one request per kind
    stored = [i for i in app.config["STATE"]["items"].values() if i["id"] != 1]
    assert len(stored) == 2
    for item in stored:  # each request carried a payload in every URL input, each its own token
        urls = [item["image_url"], item["webhook_url"], item["homepage"]]
        assert all(isinstance(u, str) and u.startswith("http://") for u in urls), item
        assert len({u.rsplit("/", 1)[-1] for u in urls}) == 3
    inputs = {
        c.input for c in result.coverage if c.check == "ssrf" and c.operation == "POST /api/items"
    }
    assert {"json:image_url", "json:webhook_url", "json:homepage"} <= inputs


def test_ledger_in_json_and_on_the_first_screen(safe_run: tuple[Flask, ScanResult]) -> None:
    _, result = safe_run
    doc = json.loads(json.dumps(result.to_dict()))
    jsonschema.Draft202012Validator(SCHEMA).validate(doc)
    assert doc["writes"]["count"] == len(result.writes) == len(doc["writes"]["entries"])
    keys = set(SCHEMA["$defs"]["writeRecord"]["properties"])
    assert all(set(e) == keys for e in doc["writes"]["entries"])
    text = render_text(result)
    first_screen = text.split("Findings (")[0]
    assert f"Writes sent       {len(result.writes)} " in first_screen
    assert "Write ledger" in text
    html = render(result, "html")
    assert f"Write ledger ({len(result.writes)})" in html and "/api/items/2" in html
    assert f"{len(result.writes)} writes" in render(result, "markdown")


def test_exclude_removes_an_operation_everywhere() -> None:
    app = create_app("vulnerable")
    result = _scan(app, exclude=["/api/items*", "GET /about"])
    seen = {p for _, p, _ in app.config["LOG"]}
    assert not any(p.startswith("/api/items") for p in seen), seen
    assert "/about" not in seen
    assert not any(
        op.startswith(("GET /api/items", "POST /api/items")) for op in result.surface["operations"]
    )
    skips = _skips(result)
    assert skips["GET /api/items"].startswith("skipped: excluded by --exclude")
    assert skips["GET /about"].startswith("skipped: excluded by --exclude")
    assert _ledger(result) == _writes_seen_by_lab(app)


def test_assume_safe_overrules_the_classifier_never_delete_nor_exclude() -> None:
    policy = SendPolicy.from_options("safe", [], [], ["GET /api/reports/*", "*/items/*"])
    assert policy.link_verdict("http://t/api/reports/run") is None
    assert policy.link_verdict("http://t/reset-db") is not None  # not vouched for
    assert policy.request_verdict("DELETE", "http://t/api/items/1", "bola", None) is not None
    excluded = SendPolicy.from_options("safe", [], ["/api/reports/*"], ["/api/reports/*"])
    assert excluded.link_verdict("http://t/api/reports/run") is not None
    with pytest.raises(UsageError, match="--assume-safe"):
        SendPolicy.from_options("safe", [], [], ["re:("])


def test_assume_safe_lets_a_safe_scan_read_a_route_named_like_a_write() -> None:
    app = create_app("vulnerable")
    result = _scan(app, checks=["data_exposure"])
    assert app.config["CALLS"]["/api/reports/run"] == 0
    assert _skips(result)["GET /api/reports/run"].startswith("skipped: looks state-changing")
    app = create_app("vulnerable")
    result = _scan(app, checks=["data_exposure"], assume_safe=["GET /api/reports/run"])
    assert app.config["CALLS"]["/api/reports/run"] > 0
    assert "GET /api/reports/run" in result.surface["operations"]
    calls = app.config["CALLS"]
    assert {p: calls[p] for p in STATE_CHANGING if calls[p]} == {}  # the rest stays skipped


def test_full_mode_sends_included_state_changing_operation_only() -> None:
    app = create_app("vulnerable")
    result = _scan(app, mode="full", include=["GET /api/admin/*"])
    calls = app.config["CALLS"]
    assert calls["/api/admin/reset"] > 0  # the user named it
    assert calls["/reset-db"] == calls["/start_over"] == calls["/api/auth/register"] == 0
    assert "GET /api/admin/reset" in result.surface["operations"]


# -- full mode: restore verified, cleanup ----------------------------------------------------------
def _full(variant: str) -> tuple[Flask, ScanResult]:
    app = create_app(variant)
    result = _scan(
        app,
        mode="full",
        headers=dict(CREDS),
        checks=["property_authorization", "ssrf"],
    )
    return app, result


def _ma(result: ScanResult) -> list[Any]:
    return [f for f in result.findings if f.kind == "property_authorization.mass-assignment"]


def test_full_mode_mass_assignment_is_restored_and_verified() -> None:
    app, result = _full("vulnerable")
    (finding,) = _ma(result)
    assert "verified it by reading the object again" in finding.description
    assert finding.evidence.details["restored"] is True
    assert app.config["STATE"]["account"]["role"] == "user"
    notes = [w.note for w in result.writes if w.note]
    assert any("mass-assignment probe: role='admin'" in n for n in notes)
    assert any("restore of role='user': verified by reading back" in n for n in notes)
    assert not any(w.startswith("RESTORE FAILED") for w in result.warnings)
    # cleanup (default on in full mode): every item the probes created is deleted again
    created = [w for w in result.writes if w.created]
    assert created and all(w.cleanup == "deleted (204)" for w in created)
    assert set(app.config["STATE"]["items"]) == {1}
    deletes = [w for w in result.writes if w.check == "cleanup"]
    assert len(deletes) == len(created)
    assert _ledger(result) == _writes_seen_by_lab(app)
    assert app.config["CALLS"]["/api/admin/reset"] == 0  # full mode, not included


def test_full_mode_detects_a_200_creation_by_reading_it_back_and_deletes_it() -> None:
    app = create_app("vulnerable")
    result = _scan(app, mode="full", checks=["input_validation", "llm_security"])
    notes = [w for w in result.writes if w.path == "/api/notes" and w.status == 200]
    assert notes  # injection probes went through the write operation and each stored a note
    assert all(w.created and w.created.startswith("/api/notes/") for w in notes), notes
    assert all(w.cleanup == "deleted (204)" for w in notes)
    assert set(app.config["STATE"]["notes"]) == {1}
    # A completion answers 200 with a fresh id, but nothing reads it back: no creation.
    completions = [w for w in result.writes if w.path == "/api/completions" and w.status == 200]
    assert completions and not any(w.created for w in completions)
    assert app.config["STATE"]["completions"] == len(completions)
    assert _ledger(result) == _writes_seen_by_lab(app)


def test_hardened_twin_is_clean() -> None:
    app, result = _full("hardened")
    assert not _ma(result)
    assert any(
        c.check == "property_authorization" and c.input == "json:role" and c.status == "passed"
        for c in result.coverage
    )
    assert app.config["STATE"]["account"]["role"] == "user"


def test_object_the_app_chokes_on_is_restored_not_called_clean() -> None:
    app, result = _full("choking")
    (item,) = [
        c for c in result.coverage if c.check == "property_authorization" and c.input == "json:role"
    ]
    assert item.status == "not_determined" and "verified" in item.reason  # never "not applied"
    assert app.config["STATE"]["account"]["role"] == "user"


def test_failed_restore_is_a_first_screen_warning() -> None:
    app, result = _full("stuck")
    assert app.config["STATE"]["account"]["role"] == "admin"  # the lab refuses to lower it
    (finding,) = _ma(result)
    assert "could NOT restore it" in finding.description and "role='admin'" in finding.description
    assert finding.evidence.details["left_as"] == "admin"
    (warning,) = [w for w in result.warnings if w.startswith("RESTORE FAILED")]
    assert "GET /api/account" in warning and "'user'" in warning and "'admin'" in warning
    first_screen = render_text(result).split("Findings (")[0]
    assert "Restore failed" in first_screen and "GET /api/account" in first_screen

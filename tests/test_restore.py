"""Full mode restores what it changes and verifies it by reading back (restore.py, issue 10).

Every scan runs against the restore lab (lab/restore_lab.py) served on loopback: the lab keeps
its objects in ``app.config["STATE"]`` and logs every request, and the tests compare the lab's
own state before and after a full-mode scan with what the ledger, the warnings and the findings
say.
"""

from __future__ import annotations

import asyncio
import copy
import json
from collections import Counter
from collections.abc import Iterator
from typing import Any
from urllib.parse import unquote

import pytest
from flask import Flask

from firebrick.engine import run_scan
from firebrick.lab.restore_lab import SEED, TOKEN, create_app
from firebrick.model import Finding, ScanResult, WriteRecord
from firebrick.options import ScanOptions
from firebrick.report.terminal import render_text
from support import serve

SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}
READABLE = {"/api/notes/1": "notes", "/api/tags/1": "tags", "/api/profile": "profile"}


def _scan(variant: str, **extra: Any) -> tuple[Flask, dict[str, Any], ScanResult]:
    app = create_app(variant)
    before = copy.deepcopy(app.config["STATE"])
    with serve(app) as base:
        options = ScanOptions(
            target=base,
            spec=f"{base}/openapi.json",
            mode="full",
            headers={"Authorization": f"Bearer {TOKEN}"},
            rate=500.0,
            max_time=90.0,
            **extra,
        )
        result = asyncio.run(run_scan(options))
    return app, before, result


@pytest.fixture(scope="module")
def changing() -> Iterator[tuple[Flask, dict[str, Any], ScanResult]]:
    yield _scan("changing")


@pytest.fixture(scope="module")
def forward_only() -> Iterator[tuple[Flask, dict[str, Any], ScanResult]]:
    yield _scan("forward-only")


@pytest.fixture(scope="module")
def hardened() -> Iterator[tuple[Flask, dict[str, Any], ScanResult]]:
    yield _scan("hardened")


def _dump(value: Any) -> str:
    return json.dumps(value, sort_keys=True)


def _accepted(result: ScanResult, path: str) -> list[WriteRecord]:
    """The checks' writes to ``path`` that the target took (2xx), restores aside."""
    return [
        w
        for w in result.writes
        if w.path == path and w.check != "restore" and w.status is not None and w.status < 300
    ]


def _kind(result: ScanResult, kind: str) -> Finding:
    """The one finding of ``kind`` that a write made (its evidence holds a write)."""
    (finding,) = [
        f
        for f in result.findings
        if f.kind == kind and any(e.method not in SAFE_METHODS for e in f.evidence.exchanges)
    ]
    return finding


def test_every_object_is_put_back_byte_equal(
    changing: tuple[Flask, dict[str, Any], ScanResult],
) -> None:
    app, before, result = changing
    state = app.config["STATE"]
    for key in ("notes", "tags", "profile", "labels"):
        assert _dump(state[key]) == _dump(before[key]), key
    # the undocumented DELETE is never sent unless --include names it
    assert not [r for r in app.config["LOG"] if r[0] == "DELETE"]
    # the probes did change them: each object took a restore write that the lab accepted
    log = app.config["LOG"]
    for path in READABLE:
        restores = [w for w in result.writes if w.check == "restore" and w.path == path]
        assert any(w.status == 200 for w in restores), (path, restores)
        assert any((m, p, s) == (w.method, path, 200) for m, p, s in log for w in restores)
    # the tags object has no documented update: it went back through the PATCH the target took
    assert [
        w.method for w in result.writes if w.check == "restore" and w.path == "/api/tags/1"
    ] == ["PATCH"]


def test_ledger_says_restored_and_verified_for_each_write(
    changing: tuple[Flask, dict[str, Any], ScanResult],
) -> None:
    app, _, result = changing
    for path in READABLE:
        writes = _accepted(result, path)
        assert writes, path
        assert all("restored; verified" in (w.note or "") for w in writes), [w.note for w in writes]
    restores = [w for w in result.writes if w.check == "restore" and w.status == 200]
    assert restores and all("verified by reading back" in (w.note or "") for w in restores)
    # the ledger is still exactly the writes the lab saw, restores included
    ledger = Counter((w.method, unquote(w.path.split("?", 1)[0]), w.status) for w in result.writes)
    seen = Counter((m, p, s) for m, p, s in app.config["LOG"] if m not in SAFE_METHODS)
    assert ledger == seen
    assert not [w for w in result.warnings if w.startswith("RESTORE FAILED")]
    assert result.stats.requests_by_check["restore"] > 0


def test_findings_from_writes_say_the_object_was_restored(
    changing: tuple[Flask, dict[str, Any], ScanResult],
) -> None:
    _, _, result = changing
    for kind in ("authentication.method-bypass", "input_validation.undocumented-methods"):
        finding = _kind(result, kind)
        assert finding.evidence.details["restored"] is True, kind
        assert "verified it by reading the object again" in finding.description, kind


def test_write_only_object_is_listed_as_not_verifiable(
    changing: tuple[Flask, dict[str, Any], ScanResult],
) -> None:
    app, before, result = changing
    writes = _accepted(result, "/api/preferences")
    assert writes and all(
        w.note == "accepted; cannot verify (no read operation)" for w in writes
    ), [w.note for w in writes]
    assert app.config["STATE"]["write_only"] != before["write_only"]  # honest: it did change
    (warning,) = [w for w in result.warnings if "not restored or verified" in w]
    assert warning.startswith(f"{len(writes)} update requests") and "/api/preferences" in warning


def test_failed_restore_names_the_object_and_original_value(
    forward_only: tuple[Flask, dict[str, Any], ScanResult],
) -> None:
    app, before, result = forward_only
    state = app.config["STATE"]
    assert state["notes"][1]["status"] == "reviewed"  # the lab refuses to move it back
    # everything else went back, the note's other fields included (one field at a time)
    left = {k: v for k, v in state["notes"][1].items() if k != "status"}
    assert left == {k: v for k, v in before["notes"][1].items() if k != "status"}
    assert _dump(state["tags"]) == _dump(before["tags"])
    assert _dump(state["profile"]) == _dump(before["profile"])
    (warning,) = [w for w in result.warnings if w.startswith("RESTORE FAILED")]
    assert "GET /api/notes/1" in warning and "status='reviewed'" in warning
    assert "'draft'" in warning
    first_screen = render_text(result).split("Findings (")[0]
    assert "Restore failed" in first_screen and "GET /api/notes/1" in first_screen
    bypass = _kind(result, "authentication.method-bypass")
    assert "could NOT restore it: GET /api/notes/1 was left with status='reviewed'" in (
        bypass.description
    )
    assert bypass.evidence.details["restored"] is False
    assert bypass.evidence.details["left_as"] == {"status": "reviewed"}
    notes = [w.note for w in _accepted(result, "/api/notes/1")]
    assert notes and all(
        "restore failed: GET /api/notes/1 left with status='reviewed', original 'draft'"
        in (n or "")
        for n in notes
    ), notes
    assert any("refused (409)" in (w.note or "") for w in result.writes if w.check == "restore")


def test_hardened_twin_changes_nothing(
    hardened: tuple[Flask, dict[str, Any], ScanResult],
) -> None:
    app, before, result = hardened
    assert _dump(app.config["STATE"]) == _dump(before) == _dump(SEED)
    kinds = {f.kind for f in result.findings}
    assert "authentication.method-bypass" not in kinds
    assert "input_validation.undocumented-methods" not in kinds
    for path in READABLE:  # what it accepted (the spec's own example values) changed nothing
        assert all(
            (w.note or "").endswith("accepted; unchanged (read back)")
            for w in _accepted(result, path)
        )
    assert not [w for w in result.writes if w.check == "restore" and w.method not in SAFE_METHODS]
    assert not [w for w in result.warnings if "RESTORE FAILED" in w]
    # only the write-only object, which took its own example value, cannot be verified
    unverified = [w for w in result.warnings if "not restored" in w]
    assert all(w.endswith("(see the write ledger: PUT /api/preferences)") for w in unverified)


def test_included_delete_is_a_failed_restore_with_the_original_state() -> None:
    app, before, result = _scan("changing", include=["/api/*"], checks=["input_validation"])
    assert 1 not in app.config["STATE"]["labels"]  # the user asked for DELETEs: it was sent
    (delete,) = [w for w in result.writes if w.method == "DELETE"]
    assert delete.path == "/api/labels/1" and delete.status == 204
    assert delete.note is not None and delete.note.startswith(
        "restore failed: GET /api/labels/1 left with deleted, original "
    )
    (warning,) = [w for w in result.warnings if w.startswith("RESTORE FAILED")]
    assert "GET /api/labels/1 is deleted" in warning
    assert _dump(before["labels"][1]) in warning  # the original state, to put back by hand
    finding = next(
        f
        for f in result.findings
        if f.kind == "input_validation.undocumented-methods" and "DELETE" in f.title
    )
    assert "could NOT restore it: GET /api/labels/1 was left with deleted" in finding.description
    # the other objects this check changed went back
    assert _dump(app.config["STATE"]["tags"]) == _dump(before["tags"])

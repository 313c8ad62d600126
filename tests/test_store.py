"""The SQLite scan store: round trips, crash safety, corrupt files, and history/show commands."""

from __future__ import annotations

import json
import os
import selectors
import signal
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

from firebrick.cli_reports import history, show
from firebrick.errors import StoreError
from firebrick.store import Store, default_store_path, result_from_dict
from reportdata import TARGET, make_result

TESTS = Path(__file__).parent


def test_save_get_list_round_trip(tmp_path):
    store = Store(tmp_path / "scans.sqlite")
    first = make_result(started_at="2026-01-01T00:00:00Z")
    second = make_result(hostile=True, score=91.0, grade="A", started_at="2026-01-02T00:00:00Z")
    other = make_result(started_at="2026-01-03T00:00:00Z")
    other.target = "http://127.0.0.2:8000"
    ids = [store.save(r) for r in (first, second, other)]
    assert ids == sorted(ids) and len(set(ids)) == 3

    for scan_id, r in zip(ids, (first, second, other), strict=True):
        assert store.get(scan_id).to_dict() == r.to_dict()

    rows = store.list()
    assert [r.id for r in rows] == ids[::-1]  # newest first
    mine = store.list(TARGET + "/")  # a trailing slash names the same target
    assert [r.id for r in mine] == [ids[1], ids[0]]
    top = mine[0]
    assert (top.grade, top.score, top.findings, top.complete) == ("A", 91.0, 6, True)
    assert top.counts == {"critical": 2, "high": 1, "medium": 1, "low": 1, "info": 1}
    assert [r.id for r in store.list(limit=1)] == [ids[2]]
    assert store.latest(TARGET).to_dict() == second.to_dict()
    assert store.latest("http://127.0.0.9") is None
    with pytest.raises(StoreError, match="no scan with id 999"):
        store.get(999)


def test_result_from_dict_inverts_to_dict():
    r = make_result(hostile=True)
    back = result_from_dict(json.loads(json.dumps(r.to_dict())))
    assert back.to_dict() == r.to_dict()
    assert back.findings[0].evidence.exchanges[0].curl == r.findings[0].evidence.exchanges[0].curl
    with pytest.raises(ValueError, match="not a firebrick scan result"):
        result_from_dict({"runs": []})
    bad = r.to_dict()
    bad["findings"][0]["severity"] = "apocalyptic"
    with pytest.raises(ValueError):
        result_from_dict(bad)


def test_default_path_follows_xdg(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert default_store_path() == tmp_path / "xdg" / "firebrick" / "scans.sqlite"
    monkeypatch.delenv("XDG_DATA_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert default_store_path() == tmp_path / "home/.local/share/firebrick/scans.sqlite"
    # Store() with no path writes there, creating the folders.
    scan_id = Store().save(make_result())
    assert (tmp_path / "home/.local/share/firebrick/scans.sqlite").is_file()
    assert Store().get(scan_id).target == TARGET


WRITER = textwrap.dedent(
    """
    import sys
    sys.path.insert(0, sys.argv[2])
    from reportdata import make_result
    from firebrick.store import Store

    store = Store(sys.argv[1])
    result = make_result()
    # A big row makes each transaction long, so the kill is likely to land inside one.
    result.findings[0].evidence.exchanges[0].response_excerpt = "x" * 400_000
    for i in range(100_000):
        result.started_at = f"2026-01-01T00:00:{i % 60:02d}Z"
        print(store.save(result), flush=True)
    """
)


def _read_lines(proc: subprocess.Popen[str], count: int, timeout: float) -> list[str]:
    """Wait (on the pipe, not a sleep) until the writer reported ``count`` committed saves."""
    assert proc.stdout is not None
    lines: list[str] = []
    with selectors.DefaultSelector() as sel:
        sel.register(proc.stdout, selectors.EVENT_READ)
        while len(lines) < count:
            if not sel.select(timeout):
                raise AssertionError(f"writer reported only {len(lines)} saves in {timeout}s")
            line = proc.stdout.readline()
            if not line:
                raise AssertionError(f"writer exited early: {proc.stderr and proc.stderr.read()}")
            lines.append(line.strip())
    return lines


def test_writer_killed_mid_save_leaves_a_readable_store(tmp_path):
    path = tmp_path / "scans.sqlite"
    proc = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(path), str(TESTS)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        reported = _read_lines(proc, 3, timeout=30)
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        assert proc.stdout and proc.stderr
        proc.stdout.close()
        proc.stderr.close()
    assert proc.returncode == -signal.SIGKILL

    # SQLite itself agrees the file is sound (the WAL is recovered on open).
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    store = Store(path)
    ids = store.ids()
    assert {int(x) for x in reported} <= set(ids)  # every save reported as done is there
    expected = make_result().to_dict()
    for scan_id in ids:  # and every row there is whole
        loaded = store.get(scan_id).to_dict()
        excerpt = loaded["findings"][0]["evidence"]["exchanges"][0]["response_excerpt"]
        assert excerpt == "x" * 400_000
        assert loaded["findings"][1:] == expected["findings"][1:]
    assert len(store.list(limit=1000)) == len(ids)
    # The killed writer left no lock behind: the store takes new scans.
    new_id = store.save(make_result())
    assert new_id > max(ids) and store.get(new_id).to_dict() == expected


def test_corrupt_store_raises_store_error_one_line(tmp_path):
    path = tmp_path / "scans.sqlite"
    path.write_bytes(b"definitely not a sqlite database\n" * 200)
    store = Store(path)
    for call in (lambda: store.list(), lambda: store.get(1), lambda: store.save(make_result())):
        with pytest.raises(StoreError) as info:
            call()
        msg = str(info.value)
        assert str(path) in msg and "\n" not in msg
        assert "not a database" in msg
    with pytest.raises(StoreError, match="is a directory"):
        Store(tmp_path).list()
    with pytest.raises(StoreError, match="no such file"):
        Store(tmp_path / "none.sqlite").get(1)


def test_unreadable_row_is_a_store_error(tmp_path):
    path = tmp_path / "scans.sqlite"
    store = Store(path)
    scan_id = store.save(make_result())
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE scans SET result_json = '{broken' WHERE id = ?", (scan_id,))
    with pytest.raises(StoreError, match=f"scan {scan_id} is unreadable"):
        store.get(scan_id)


def test_history_and_show_commands(tmp_path):
    path = tmp_path / "scans.sqlite"
    store = Store(path)
    a = store.save(make_result(started_at="2026-01-01T00:00:00Z"))
    b = store.save(make_result(score=92.0, grade="A", started_at="2026-01-02T00:00:00Z"))
    runner = CliRunner()
    res = runner.invoke(history, ["--store", str(path)])
    assert res.exit_code == 0, res.output
    lines = res.output.splitlines()
    assert lines[0].split()[:3] == ["ID", "STARTED", "GRADE"]
    assert lines[1].split()[:4] == [str(b), "2026-01-02T00:00:00Z", "A", "92"]
    assert lines[2].split()[:5] == [str(a), "2026-01-01T00:00:00Z", "F", "58", "1/1/1/1/1"]
    res = runner.invoke(history, [TARGET, "--store", str(path), "--limit", "1", "--json"])
    assert [r["id"] for r in json.loads(res.output)] == [b]
    res = runner.invoke(history, ["http://127.0.0.9", "--store", str(path)])
    assert res.exit_code == 0 and "no scans stored" in res.output

    res = runner.invoke(show, [str(a), "--store", str(path), "--format", "markdown"])
    assert res.exit_code == 0 and res.output.startswith("## firebrick: grade F")
    res = runner.invoke(show, [str(a), "--store", str(path), "--format", "json"])
    assert json.loads(res.output)["grade"] == "F"
    res = runner.invoke(show, ["999", "--store", str(path)])
    assert res.exit_code == 3 and "no scan with id 999" in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1


def test_history_on_corrupt_store_exits_3(tmp_path):
    path = tmp_path / "scans.sqlite"
    path.write_bytes(b"\x00garbage" * 512)
    res = CliRunner().invoke(history, ["--store", str(path)])
    assert res.exit_code == 3
    assert res.stderr.startswith("firebrick: error: scan store") and "Traceback" not in res.output
    assert len(res.stderr.strip().splitlines()) == 1

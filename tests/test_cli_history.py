"""Scans land in the history store; --baseline gates only on new findings; a bad store or
baseline is one line and exit 3 and loses nothing already stored."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from support import run_firebrick

ROOT = Path(__file__).resolve().parents[1]


def firebrick(*args: str, env_store: Path) -> subprocess.CompletedProcess[str]:
    return run_firebrick(*args, env={"FIREBRICK_STORE": str(env_store)})


def test_demo_store_history_baseline(tmp_path: Path) -> None:
    store = tmp_path / "scans.sqlite"
    first = tmp_path / "first.json"
    proc = firebrick(
        "demo", "-q", "--store", str(store), "-f", "json", "-o", str(first), env_store=store
    )
    assert proc.returncode == 0, proc.stderr
    assert "stored as scan 1" in proc.stderr
    # The same findings again, gated against the first scan as baseline: nothing new, so it passes.
    proc = firebrick(
        "demo",
        "-q",
        "--store",
        str(store),
        "--fail-on",
        "high",
        "--baseline",
        str(first),
        "-f",
        "json",
        "-o",
        str(tmp_path / "second.json"),
        env_store=store,
    )
    assert proc.returncode == 0, proc.stderr
    # Without the baseline, the same gate fails on the lab's critical findings.
    proc = firebrick(
        "demo",
        "-q",
        "--no-store",
        "--fail-on",
        "high",
        "-f",
        "json",
        "-o",
        str(tmp_path / "third.json"),
        env_store=store,
    )
    assert proc.returncode == 1
    history = firebrick("history", "--json", env_store=store)
    assert history.returncode == 0, history.stderr
    rows = json.loads(history.stdout)
    assert len(rows) == 2
    # A diff of the two stored scans: nothing new, nothing resolved.
    diff = firebrick("diff", "1", "2", env_store=store)
    assert diff.returncode == 0, diff.stderr


def test_bad_baseline_is_one_line_and_keeps_the_store(tmp_path: Path) -> None:
    store = tmp_path / "scans.sqlite"
    proc = firebrick(
        "demo",
        "-q",
        "--store",
        str(store),
        "-f",
        "json",
        "-o",
        str(tmp_path / "a.json"),
        env_store=store,
    )
    assert proc.returncode == 0, proc.stderr
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    proc = firebrick("demo", "-q", "--store", str(store), "--baseline", str(bad), env_store=store)
    assert proc.returncode == 3
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert (
        len(lines) == 1
        and lines[0].startswith("firebrick: error:")
        and "Traceback" not in proc.stderr
    )
    assert len(json.loads(firebrick("history", "--json", env_store=store).stdout)) == 1

"""The progress display of a real scan of the lab: json (machines) and plain (logs) (issue 19)."""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

CHECKS = ("--check", "authentication", "--check", "bola")


@pytest.fixture(scope="module")
def lab_url() -> Iterator[str]:
    from firebrick.lab.runner import LabConfig, start_lab

    with start_lab(LabConfig(variant="vulnerable")) as lab:
        yield lab.base_url


def scan(url: str, tmp: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[1] / "src")}
    return subprocess.run(
        [sys.executable, "-m", "firebrick", "scan", url, *CHECKS, "--no-store", "--rate", "200",
         "--fail-on", "none", "-f", "json", "-o", str(tmp / "r.json"), *extra],
        capture_output=True, text=True, timeout=300, env=env,
    )  # fmt: skip


def test_json_progress_reports_counts_of_a_real_scan(lab_url: str, tmp_path: Path) -> None:
    proc = scan(lab_url, tmp_path, "--progress", "json")
    assert proc.returncode in (0, 2), proc.stderr  # 2: two checks reach too few operations
    events = [json.loads(line) for line in proc.stderr.splitlines() if line.startswith("{")]
    assert events[0]["event"] == "start" and events[-1]["event"] == "done"
    phases = [e["phase"] for e in events]
    assert phases.index("discovery") < phases.index("checks") < phases.index("done")
    last = events[-1]
    result = json.loads((tmp_path / "r.json").read_text())
    # what the display says at the end is what the scan did
    assert last["requests"] == result["stats"]["requests_sent"] > 0
    assert last["checks_done"] == last["checks_total"] == 2
    assert last["total"] == 2 * last["operations"] > 0 and last["done"] == last["total"]
    assert last["findings"] >= len(result["findings"]) > 0
    assert last["eta_s"] == 0.0 and last["elapsed_s"] > 0
    # counts only grow while the scan runs
    for a, b in itertools.pairwise(events):
        assert b["requests"] >= a["requests"] and b["elapsed_s"] >= a["elapsed_s"]
    # stdout stays the report's channel: nothing of the progress there
    assert '{"event"' not in proc.stdout


def test_plain_progress_is_one_line_per_phase_and_quiet_is_silent(
    lab_url: str, tmp_path: Path
) -> None:
    proc = scan(lab_url, tmp_path)  # not a terminal: auto is plain
    assert proc.returncode in (0, 2), proc.stderr  # 2: two checks reach too few operations
    lines = [x for x in proc.stderr.splitlines() if x.startswith("· ")]
    phases = [x[2:].split(":", 1)[0] for x in lines]
    assert phases[-1] == "done" and "discovery" in phases and "checks" in phases
    assert len(phases) == len(set(phases))  # one line per phase, not one per step
    assert "2 findings" not in lines[0] and " requests, " in lines[-1]
    quiet = scan(lab_url, tmp_path, "-q", "--progress", "json")
    assert quiet.returncode in (0, 2), quiet.stderr
    # -q: no progress in any form (the report's own "wrote ..." line stays)
    assert "· " not in quiet.stderr and '{"event"' not in quiet.stderr, quiet.stderr

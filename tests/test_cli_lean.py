"""The CLI renders only what an output asks for, and `--help`/`--version` import nothing heavy."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from firebrick.cli import emit
from reportdata import make_result

HEAVY = ("rich", "asyncio", "httpx", "aiohttp", "firebrick.engine", "firebrick.report.terminal")


@pytest.mark.parametrize("flag", ["--help", "--version"])
def test_help_and_version_import_nothing_heavy(flag: str) -> None:
    code = (
        "import sys\n"
        "from firebrick.cli import main\n"
        "try:\n"
        f"    main([{flag!r}])\n"
        "except SystemExit:\n"
        "    pass\n"
        f"print('LOADED', sorted(m for m in sys.modules if m.split('.')[0] in {HEAVY!r} "
        f"or m in {HEAVY!r}))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert "LOADED []" in proc.stdout, proc.stdout[-400:]
    assert ("Usage:" in proc.stdout) if flag == "--help" else ("firebrick, version" in proc.stdout)


def test_quiet_json_to_file_renders_no_terminal_report(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    result = make_result()
    out = tmp_path / "r.json"
    emit(result, ("json",), (str(out),), False, "high", quiet=True)
    assert json.loads(out.read_text())["grade"] == result.grade
    assert capsys.readouterr().out == ""


def test_terminal_report_still_shown_when_asked(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    result = make_result()
    out = tmp_path / "r.json"
    emit(result, ("json",), (str(out),), False, "high")  # not quiet: the person sees the report
    assert "Grade" in capsys.readouterr().out
    emit(result, ("json",), (str(out),), True, "high", quiet=True)  # --explain-score asks for it
    assert "x weight" in capsys.readouterr().out
    emit(result, ("text",), (), False, "high", quiet=True)  # text on stdout is an output
    assert "Grade" in capsys.readouterr().out

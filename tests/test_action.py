"""The GitHub Action: action.yml's shape, and run.sh under a fake GITHUB_* environment.

run.sh is exercised twice: against a stand-in `firebrick` (records its argv, writes real reports
from a hand-built result, exits with a chosen code) to pin the plumbing, and against the real CLI
scanning the real lab on loopback, end to end.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
ACTION = ROOT / "action"
RUN_SH = ACTION / "run.sh"
TESTS = Path(__file__).resolve().parent

pytestmark = pytest.mark.skipif(shutil.which("bash") is None, reason="run.sh needs bash")


def _outputs(path: Path) -> dict[str, str]:
    return dict(line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)


def _run(env_extra: dict[str, str], tmp_path: Path, timeout: float = 60) -> tuple[int, str]:
    gh_out, summary = tmp_path / "github_output", tmp_path / "step_summary"
    gh_out.touch()
    summary.write_text("previous step summary\n")
    env = {
        **os.environ,
        "GITHUB_OUTPUT": str(gh_out),
        "GITHUB_STEP_SUMMARY": str(summary),
        "GITHUB_ACTION_PATH": str(ACTION),
        "INPUT_OUTPUT_DIR": str(tmp_path / "reports"),
        **env_extra,
    }
    proc = subprocess.run(
        ["bash", str(RUN_SH)],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=tmp_path,
    )
    return proc.returncode, proc.stderr


def test_action_yml_is_a_composite_action_with_the_documented_interface():
    spec = yaml.safe_load((ACTION / "action.yml").read_text())
    assert spec["runs"]["using"] == "composite"
    assert {"url", "spec", "headers", "fail-below", "fail-on", "args"} <= set(spec["inputs"])
    assert spec["inputs"]["url"]["required"] is True
    assert {"score", "grade", "grade_status", "findings", "coverage"} <= set(spec["outputs"])
    steps = spec["runs"]["steps"]
    assert all(s.get("shell") == "bash" for s in steps if "run" in s)  # composite requires it
    # its own Python, without changing the job's, and a virtualenv (PEP 668 images)
    assert steps[0]["uses"].startswith("actions/setup-python@")
    assert steps[0]["with"]["update-environment"] is False
    install = steps[1]["run"]
    assert "-m venv" in install and '"$GITHUB_ACTION_PATH/.."' in install
    scan = next(s for s in steps if s.get("id") == "scan")
    assert "run.sh" in scan["run"]
    # Inputs reach the script as env, never spliced into shell source (script injection).
    assert "${{" not in scan["run"]
    assert scan["env"]["INPUT_HEADERS"] == "${{ inputs.headers }}"
    for name, out in spec["outputs"].items():
        assert out["value"] == f"${{{{ steps.scan.outputs.{name} }}}}"


STUB = textwrap.dedent(
    """\
    #!{python}
    import json, os, sys
    sys.path.insert(0, {tests!r})
    from reportdata import make_result
    from firebrick.cli_reports import render_format

    args = sys.argv[1:]
    with open(os.environ["STUB_ARGV"], "w") as fh:
        json.dump(args, fh)
    formats = [args[i + 1] for i, a in enumerate(args) if a == "--format"]
    outputs = [args[i + 1] for i, a in enumerate(args) if a == "--output"]
    result = make_result()
    for fmt, path in zip(formats, outputs):
        data = render_format(result, fmt)
        with open(path, "wb" if isinstance(data, bytes) else "w") as fh:
            fh.write(data)
    sys.exit(int(os.environ.get("STUB_EXIT", "0")))
    """
)


@pytest.fixture
def stub_firebrick(tmp_path: Path) -> Path:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    stub = bin_dir / "firebrick"
    stub.write_text(STUB.format(python=sys.executable, tests=str(TESTS)))
    stub.chmod(stub.stat().st_mode | stat.S_IXUSR)
    return bin_dir


def test_run_sh_passes_inputs_writes_outputs_and_summary(tmp_path, stub_firebrick):
    argv_file = tmp_path / "argv.json"
    code, stderr = _run(
        {
            "PATH": f"{stub_firebrick}{os.pathsep}{os.environ['PATH']}",
            "STUB_ARGV": str(argv_file),
            "STUB_EXIT": "1",
            "INPUT_URL": "http://127.0.0.1:5080",
            "INPUT_SPEC": "openapi.yaml",
            "INPUT_HEADERS": "Authorization: Bearer $(touch pwned) x\r\n\n  \nX-Tenant: a b\n",
            "INPUT_FAIL_BELOW": "C",
            "INPUT_FAIL_ON": "high",
            "INPUT_ARGS": "--mode  full --rate 5 *",
        },
        tmp_path,
    )
    assert code == 1, stderr  # firebrick's own exit code (1: gate failed) is the step's
    reports = tmp_path / "reports"
    args = json.loads(argv_file.read_text())
    assert args[:2] == ["scan", "http://127.0.0.1:5080"]
    pairs = [(args[i + 1], args[i + 3]) for i, a in enumerate(args) if a == "--format"]
    assert pairs == [
        ("json", str(reports / "firebrick.json")),
        ("sarif", str(reports / "firebrick.sarif")),
        ("markdown", str(reports / "firebrick.md")),
    ]
    headers = [args[i + 1] for i, a in enumerate(args) if a == "--header"]
    assert headers == ["Authorization: Bearer $(touch pwned) x", "X-Tenant: a b"]
    assert not (tmp_path / "pwned").exists()  # header text is data, never shell
    assert args[args.index("--spec") + 1] == "openapi.yaml"
    assert args[args.index("--fail-below") + 1] == "C"
    assert args[args.index("--fail-on") + 1] == "high"
    assert args[-5:] == ["--mode", "full", "--rate", "5", "*"]  # split on spaces, not globbed

    out = _outputs(tmp_path / "github_output")
    assert out["score"] == "58" and out["grade"] == "F" and out["findings"] == "5"
    assert out["sarif"] == str(reports / "firebrick.sarif")
    assert json.loads(Path(out["sarif"]).read_text())["version"] == "2.1.0"
    summary = (tmp_path / "step_summary").read_text()
    assert summary.startswith("previous step summary\n## firebrick: grade F (58/100)")


def test_run_sh_without_url_is_a_usage_error(tmp_path, stub_firebrick):
    code, stderr = _run(
        {"PATH": f"{stub_firebrick}{os.pathsep}{os.environ['PATH']}", "INPUT_URL": ""}, tmp_path
    )
    assert code == 3 and "'url' input is required" in stderr


def test_run_sh_when_the_scan_produced_nothing(tmp_path):
    # A firebrick that fails before writing any report (exit 3): outputs empty, summary says so.
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "firebrick").write_text("#!/bin/sh\necho 'firebrick: error: bad URL' >&2\nexit 3\n")
    (bin_dir / "firebrick").chmod(0o755)
    code, _ = _run(
        {"PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "INPUT_URL": "nota url"}, tmp_path
    )
    assert code == 3
    assert _outputs(tmp_path / "github_output") == {
        "score": "",
        "grade": "",
        "grade_status": "",
        "findings": "",
        "coverage": "",
    }
    assert "produced no report (exit code 3)" in (tmp_path / "step_summary").read_text()


def _real_cli_and_lab() -> str | None:
    try:
        import firebrick.cli  # noqa: F401
        from firebrick.lab.runner import LabConfig, start_lab  # noqa: F401
    except ImportError as exc:
        return f"firebrick.cli or the lab is not importable yet ({exc})"
    if shutil.which("firebrick") is None:
        return "the firebrick console script is not on PATH (pip install -e .)"
    return None


@pytest.mark.skipif(_real_cli_and_lab() is not None, reason=str(_real_cli_and_lab()))
def test_run_sh_scans_the_real_lab(tmp_path):
    from firebrick.lab.runner import LabConfig, start_lab
    from firebrick.store import result_from_dict

    with start_lab(LabConfig(variant="vulnerable")) as lab:
        code, stderr = _run(
            {
                "INPUT_URL": lab.base_url,
                "INPUT_FAIL_ON": "critical",
                "INPUT_HEADERS": "X-Firebrick-Test: action",
                "INPUT_ARGS": "-q --rate 200 --max-time 60",
            },
            tmp_path,
            timeout=120,
        )
    reports = tmp_path / "reports"
    result = result_from_dict(json.loads((reports / "firebrick.json").read_text()))
    assert result.complete, stderr
    # The vulnerable lab has confirmed critical SSRF: the critical gate must fail the step.
    assert any(f.severity.value == "critical" for f in result.findings)
    assert code == 1, stderr
    out = _outputs(tmp_path / "github_output")
    assert out["grade"] == result.grade and out["grade"] in "ABCDF"
    assert out["score"] == str(round(result.score or 0))
    assert int(out["findings"]) == len(result.findings) > 0
    assert "operations reached" in out["coverage"]
    sarif = json.loads((reports / "firebrick.sarif").read_text())
    assert len(sarif["runs"][0]["results"]) == len(result.findings)
    # code scanning's rule: a repository file for every result; the action wrote the fallback
    assert (tmp_path / ".firebrick" / "target.txt").read_text().strip() == lab.base_url
    uris = {
        loc["physicalLocation"]["artifactLocation"]["uri"]
        for r in sarif["runs"][0]["results"]
        for loc in r["locations"]
    }
    assert uris == {".firebrick/target.txt"}
    assert f"grade {result.grade}" in (tmp_path / "step_summary").read_text()

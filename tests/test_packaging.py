"""The distribution as a user installs it: `python -m build` makes a wheel and an sdist named
firebrick-scan; the wheel installs into a fresh virtual environment and works there (the command,
its data files, a real analysis)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_wheel_and_sdist_build_install_and_run(tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    # --no-isolation: build with the setuptools already installed (no download in the test)
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "build",
            "--no-isolation",
            "--skip-dependency-check",
            "--outdir",
            str(dist),
            str(ROOT),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    wheels = list(dist.glob("firebrick_scan-*.whl"))
    sdists = list(dist.glob("firebrick[_-]scan-*.tar.gz"))
    assert len(wheels) == 1 and len(sdists) == 1
    names = set(zipfile.ZipFile(wheels[0]).namelist())
    for needed in (
        "firebrick/report/data/sarif-2.1.0.schema.json",
        "firebrick/server/templates/scan.html",
        "firebrick/report/templates/report.html",  # the HTML/PDF report's template
        "firebrick/server/static/app.js",
        "firebrick/server/static/app.css",
        "firebrick/remediation/snippets/safe_fetch_stdlib.py",
        "firebrick/checks/data/common_jwt_secrets.txt",
    ):
        assert needed in names, needed
    assert not any(n.startswith(("tests/", "firebrick/tests/")) for n in names)

    env_dir = tmp_path / "venv"
    # The venv sees the already-installed dependencies; the wheel itself goes in with --no-deps,
    # so what is tested is this wheel, not a checkout on sys.path.
    venv.create(env_dir, system_site_packages=True, with_pip=True)
    py = env_dir / "bin" / "python"
    clean = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}  # nothing of the checkout
    subprocess.run(
        [py, "-m", "pip", "install", "-q", "--no-deps", str(wheels[0])],
        check=True,
        timeout=600,
        capture_output=True,
        env=clean,
    )
    where = subprocess.run(
        [py, "-c", "import firebrick; print(firebrick.__file__)"],
        capture_output=True,
        text=True,
        check=True,
        cwd=tmp_path,
        env={"PATH": "/usr/bin:/bin"},
    ).stdout.strip()
    assert where.startswith(str(env_dir)), where
    version = subprocess.run(
        [env_dir / "bin" / "firebrick", "--version"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={"PATH": "/usr/bin:/bin"},
    )
    assert version.returncode == 0 and "firebrick" in version.stdout
    report = tmp_path / "r.json"
    analysis = subprocess.run(
        [
            env_dir / "bin" / "firebrick",
            "code",
            str(ROOT / "tests" / "source_corpus"),
            "-q",
            "-f",
            "json",
            "-o",
            str(report),
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={"PATH": "/usr/bin:/bin"},
        timeout=600,
    )
    assert analysis.returncode == 1, analysis.stderr  # the corpus has high findings
    assert json.loads(report.read_text())["findings"]

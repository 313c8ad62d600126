"""Flask source awareness: `firebrick code PATH` on a corpus of vulnerable/guarded pairs, the
lab's own source, the remediation snippets, and `scan --source` joining both views."""

from __future__ import annotations

import copy
import importlib.util
import json
import re
import subprocess
from pathlib import Path

import jsonschema
import pytest

from firebrick.model import ScanResult
from firebrick.source import analyze
from firebrick.source.join import attach
from firebrick.source.project import load_project
from firebrick.source.routes import find_routes, match_operation
from support import run_firebrick, serve

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT / "tests" / "source_corpus"
LAB = ROOT / "src" / "firebrick" / "lab"
SCHEMA = json.loads((ROOT / "docs" / "scan-result.schema.json").read_text())


def expected(path: Path) -> set[tuple[str, str | None]]:
    out: set[tuple[str, str | None]] = set()
    for line in re.findall(r"^# expect: (.+)$", path.read_text(), re.M):
        if line.strip() == "none":
            continue
        kind, _, operation = line.strip().partition(" ")
        out.add((kind, operation or None))
    return out


@pytest.mark.parametrize("path", sorted(CORPUS.glob("*.py")), ids=lambda p: p.stem)
def test_corpus_file_reports_exactly_what_it_expects(path: Path) -> None:
    found = {(f.kind, f.operation) for f in analyze(path).findings}
    assert found == expected(path)


def test_corpus_has_vulnerable_and_guarded_twins_for_every_shape() -> None:
    shapes: dict[str, set[bool]] = {}
    for path in CORPUS.glob("*.py"):
        shape = re.search(r"^# shape: (\S+)", path.read_text(), re.M)
        assert shape, f"{path.name} names no shape"
        shapes.setdefault(shape.group(1), set()).add(bool(expected(path)))
    for shape, kinds in shapes.items():
        if shape in ("weak-guard", "rebinding", "redirect-follow"):
            continue  # guard-depth shapes: their clean twins are the fetch shape's guarded files
        assert kinds == {True, False}, f"shape {shape} lacks a vulnerable or a guarded file"


def test_lab_source_finds_every_vulnerable_ssrf_view_with_its_guard_depth() -> None:
    found = {(f.kind, f.operation, f.input) for f in analyze(LAB).findings}
    assert ("source.ssrf", "GET /api/image", "query:url") in found
    assert ("source.ssrf", "POST /api/webhooks", "json:callback_url") in found
    assert ("source.ssrf", "POST /api/import", "form:source_url") in found
    assert ("source.ssrf-weak-guard", "GET /api/preview", "query:link") in found  # denylist
    assert ("source.ssrf-rebinding", "GET /api/avatar", "query:src") in found  # resolve+refetch
    assert ("source.ssrf-redirect-unchecked", "GET /api/feed", "query:feed_url") in found
    assert ("source.open-redirect", "GET /api/redirect", "query:target") in found
    assert ("source.ssrf", "POST /graphql", "graphql:host") in found  # resolver arguments
    # /api/stock calls a fixed internal service by name: the caller picks only a path segment
    assert not any(op == "GET /api/stock" for _, op, _ in found)


def test_remediation_snippets_come_out_clean() -> None:
    analysis = analyze(ROOT / "src" / "firebrick" / "remediation")
    assert analysis.findings == []
    assert analysis.files >= 3


def test_routes_blueprints_methodview_restful_and_mapping() -> None:
    routes = find_routes(load_project(CORPUS))
    keys = {k for r in routes for k in r.operation_keys()}
    assert "POST /api/preview" in keys  # Blueprint(url_prefix="/api") + @bp.post
    assert {"GET /api/hooks", "POST /api/hooks"} <= keys  # MethodView via add_url_rule
    assert "GET /v1/fetch" in keys  # Flask-RESTful add_resource
    assert "GET /mirror/{target}" in keys  # <path:target> as a template
    # A black-box operation names its parameter differently: still the same route.
    route = match_operation(routes, "GET /mirror/{path}")
    assert route is not None and route.file == "fetch_path_param_vuln.py"
    lab = find_routes(load_project(LAB))
    assert match_operation(lab, "GRAPHQL /graphql mutation.importDocument") is not None


def test_scan_source_joins_black_box_findings_to_views(vulnerable_scan: ScanResult) -> None:
    result = copy.deepcopy(vulnerable_scan)  # the session's scan stays as other tests saw it
    attach(result, analyze(LAB))
    ssrf = [f for f in result.findings if f.category == "ssrf" and f.operation]
    assert ssrf and all(f.source is not None for f in ssrf)
    image = [f for f in ssrf if f.operation == "GET /api/image"]
    assert image and image[0].source is not None and image[0].source.file == "app.py"
    confirmed = [f for f in result.findings if f.evidence.details.get("source_confirmed")]
    confirmed_ops = {f.operation for f in confirmed}
    assert {"GET /api/image", "GET /api/avatar", "GET /api/redirect"} <= confirmed_ops
    assert result.source is not None and result.source["confirmed_both_sides"] == len(confirmed)
    # what both sides show is not listed twice
    static_ops = {(f.kind, f.operation) for f in result.source_findings}
    assert ("source.ssrf", "GET /api/image") not in static_ops
    doc = result.to_dict()
    jsonschema.validate(doc, SCHEMA)
    assert doc["findings"][0].get("source") or any(f.get("source") for f in doc["findings"])


def firebrick(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return run_firebrick(*args, cwd=cwd)


def test_code_command_gates_formats_and_errors(tmp_path: Path) -> None:
    vuln = CORPUS / "fetch_requests_vuln.py"
    proc = firebrick("code", str(vuln), "-f", "json", "-o", str(tmp_path / "r.json"), "-q")
    assert proc.returncode == 1, proc.stderr  # a high finding fails the default gate
    doc = json.loads((tmp_path / "r.json").read_text())
    jsonschema.validate(doc, SCHEMA)
    assert doc["mode"] == "source" and doc["grade"] != "A" and doc["score"] < 90
    finding = doc["findings"][0]
    assert finding["kind"] == "source.ssrf" and finding["source"]["line"] == 12
    assert "ssrfguard" in finding["remediation"]  # the same Flask fix as a scan prints

    clean = firebrick("code", str(CORPUS / "fetch_requests_ssrfguard.py"), "-q")
    assert clean.returncode == 0, clean.stdout + clean.stderr

    missing = firebrick("code", str(tmp_path / "nope"))
    assert missing.returncode == 3
    lines = [x for x in missing.stderr.splitlines() if x.strip()]
    assert len(lines) == 1 and lines[0].startswith("firebrick: error: source path not found")

    sarif_path = tmp_path / "r.sarif"
    firebrick("code", str(CORPUS), "-f", "sarif", "-o", str(sarif_path), "-q", cwd=tmp_path)
    run = json.loads(sarif_path.read_text())["runs"][0]
    loc = run["results"][0]["locations"][0]["physicalLocation"]
    assert loc["artifactLocation"]["uriBaseId"] == "%SRCROOT%"
    assert not loc["artifactLocation"]["uri"].startswith(("http:", "https:", "/"))
    assert loc["region"]["startLine"] >= 1


def test_scan_with_source_shows_file_and_line(tmp_path: Path) -> None:
    """A real app file, served for real, scanned with --source: the terminal names the line."""
    app_file = tmp_path / "app.py"
    app_file.write_text((CORPUS / "fetch_requests_vuln.py").read_text())
    spec = importlib.util.spec_from_file_location("corpus_app", app_file)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    with serve(module.app) as base:
        missing = firebrick("scan", base, "--source", str(tmp_path / "nope"), "--no-store")
        assert missing.returncode == 3 and "source path not found" in missing.stderr
        proc = firebrick(
            "scan",
            base,
            "--source",
            str(tmp_path),
            "--check",
            "ssrf",
            "--rate",
            "200",
            "--no-store",
            "--fail-on",
            "none",
        )
    assert "Traceback" not in proc.stderr
    assert "app.py:12" in proc.stdout, proc.stdout

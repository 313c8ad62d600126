"""SARIF, JUnit, HTML, PDF and Markdown reports, and the `report` command that re-renders them."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from importlib import resources
from pathlib import Path

import jsonschema
import pytest
from click.testing import CliRunner

from firebrick.cli_reports import report
from firebrick.model import Severity
from firebrick.report import html, junit, markdown, pdf, sarif
from reportdata import TARGET, XSS, internal_read, make_result, no_tls

OFFICIAL_SARIF_ID = (
    "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
)


# -- SARIF ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sarif_validator() -> jsonschema.Draft4Validator:
    text = (
        resources.files("firebrick.report")
        .joinpath("data/sarif-2.1.0.schema.json")
        .read_text(encoding="utf-8")
    )
    schema = json.loads(text)
    assert schema["id"] == OFFICIAL_SARIF_ID  # the OASIS schema, not a hand-written stand-in
    assert len(schema["definitions"]) > 50
    return jsonschema.Draft4Validator(schema, format_checker=jsonschema.FormatChecker())


def test_sarif_validates_against_official_schema(sarif_validator):
    for result in (make_result(), make_result(hostile=True), make_result([])):
        log = json.loads(sarif.render(result))
        errors = sorted(sarif_validator.iter_errors(log), key=str)
        assert not errors, errors[0].message
    # The validator is not a rubber stamp: a broken log fails.
    log = json.loads(sarif.render(make_result()))
    log["runs"][0]["results"][0]["level"] = "fatal"
    del log["version"]
    assert len(list(sarif_validator.iter_errors(log))) >= 2


def test_sarif_one_rule_per_kind_with_severity_and_help():
    result = make_result()
    second = internal_read()
    second.operation, second.input = "GET /proxy", "query:target"
    second.remediation = "a different fix that must not replace the first"
    result.findings.append(second)
    run = json.loads(sarif.render(result))["runs"][0]
    rules = run["tool"]["driver"]["rules"]
    assert run["tool"]["driver"]["name"] == "firebrick"
    assert run["tool"]["driver"]["version"] == "0.1.0"
    ids = [r["id"] for r in rules]
    assert len(ids) == len(set(ids)) == len({f.kind for f in result.findings})
    rule = rules[ids.index("ssrf.internal-read")]
    assert rule["properties"]["security-severity"] == "9.5"
    assert rule["properties"]["tags"][:2] == ["ssrf", "security"]
    assert rule["properties"]["tags"][2].startswith("external/cwe/cwe-")
    # the first of its kind: what it is, the fix, the references
    assert rule["help"]["text"] == internal_read().remediation
    assert internal_read().remediation.strip() in rule["help"]["markdown"]
    assert rule["help"]["markdown"].startswith(internal_read().description)
    assert rules[ids.index("encryption.no-tls")]["properties"]["security-severity"] == "5.5"
    assert rules[ids.index("ssrf.dns-lookup-only")]["properties"]["security-severity"] == "3.0"
    assert rules[ids.index("dns_hygiene.source-port")]["properties"]["security-severity"] == "0.0"

    results = run["results"]
    assert len(results) == len(result.findings)
    levels = {r["ruleId"]: r["level"] for r in results}
    assert levels == {
        "ssrf.internal-read": "error",
        "ssrf.blind-callback": "error",
        "ssrf.dns-lookup-only": "note",
        "encryption.no-tls": "warning",
        "dns_hygiene.source-port": "note",
    }
    for r, f in zip(results, result.findings, strict=True):
        assert rules[r["ruleIndex"]]["id"] == r["ruleId"] == f.kind
        assert r["partialFingerprints"] == {"firebrick/v1": f.fingerprint}
        assert r["properties"]["confidence"] == f.confidence.value
    first = results[0]
    # No source and no local spec: the documented fallback file, the URL in the message/props.
    physical = first["locations"][0]["physicalLocation"]
    assert physical["artifactLocation"] == {
        "uri": ".firebrick/target.txt",
        "uriBaseId": "%SRCROOT%",
    }
    assert physical["region"] == {"startLine": 1}
    assert first["properties"]["operationUrl"] == f"{TARGET}/fetch"
    assert f"{TARGET}/fetch" in first["message"]["text"]
    assert first["properties"]["curl"].startswith("curl ")
    assert first["properties"]["input"] == "query:url"
    assert "metadata canary" in first["message"]["text"]
    # A finding with no operation keeps the target in its properties.
    tls = results[[f.kind for f in result.findings].index("encryption.no-tls")]
    assert tls["properties"]["operationUrl"] == TARGET


def test_sarif_meets_github_code_scanning_constraints(tmp_path, monkeypatch):
    """What github/codeql-action/upload-sarif checks, on a result located by a local spec."""
    result = make_result()
    spec = tmp_path / "api" / "openapi.yaml"
    spec.parent.mkdir()
    spec.write_text(
        "openapi: 3.0.3\ninfo: {title: t, version: '1'}\npaths:\n"
        "  /preview:\n    get:\n      responses: {'200': {description: ok}}\n"
        "  /fetch:\n    post:\n      responses: {'200': {description: ok}}\n"
        "    get:\n      responses: {'200': {description: ok}}\n"
    )
    result.surface = {**result.surface, "spec": str(spec)}
    result.findings[0].references = ["https://cwe.mitre.org/data/definitions/918.html"]
    monkeypatch.chdir(tmp_path)  # the checkout: every location must be a file inside it
    log = json.loads(sarif.render(result))
    run = log["runs"][0]
    fetch = run["results"][0]
    physical = fetch["locations"][0]["physicalLocation"]
    assert physical["artifactLocation"] == {"uri": "api/openapi.yaml", "uriBaseId": "%SRCROOT%"}
    assert physical["region"]["startLine"] == 10  # the `get:` under `/fetch:`
    for r in run["results"]:
        for loc in r["locations"]:
            uri = loc["physicalLocation"]["artifactLocation"]["uri"]
            assert "://" not in uri and not uri.startswith("/")  # a repository-relative file
            assert loc["physicalLocation"]["region"]["startLine"] >= 1
        assert r["partialFingerprints"]["firebrick/v1"]
        assert r["level"] in ("error", "warning", "note", "none")
        assert r["message"]["text"]
    for rule in run["tool"]["driver"]["rules"]:
        assert rule["help"]["text"] and rule["help"]["markdown"]
        float(rule["properties"]["security-severity"])  # a number in a string
        assert "security" in rule["properties"]["tags"]
    ssrf = next(r for r in run["tool"]["driver"]["rules"] if r["id"] == "ssrf.internal-read")
    assert "external/cwe/cwe-918" in ssrf["properties"]["tags"]
    assert len(run["results"]) <= 25_000  # the upload's limit per run


def test_sarif_operation_url_is_a_valid_uri():
    assert sarif.operation_url(TARGET + "/", "GET /users/{id}") == f"{TARGET}/users/%7Bid%7D"
    assert (
        sarif.operation_url(TARGET, "GRAPHQL /graphql query.user") == f"{TARGET}/graphql#query.user"
    )
    assert sarif.operation_url(TARGET, None) == TARGET
    assert " " not in sarif.operation_url(TARGET, 'GET /a b"><svg>')


# -- JUnit ---------------------------------------------------------------------------------


def _cases(root: ET.Element) -> list[ET.Element]:
    return list(root.iter("testcase"))


FETCH = ("firebrick.ssrf.fetch", "GET /fetch query:url")
HOOK = ("firebrick.ssrf.fetch", "POST /webhooks json:hook.url")
TLS = ("firebrick.encryption.tls", "(target)")
PREVIEW = ("firebrick.ssrf.fetch", "GET /preview query:link")
# The info finding names no coverage item: it gets its own case in its category's suite.
PORTS = ("firebrick.dns_hygiene.findings", "(target)")


@pytest.mark.parametrize(
    ("gate", "failing"),
    [
        (Severity.CRITICAL, [FETCH]),
        (Severity.HIGH, [FETCH, HOOK]),
        (Severity.MEDIUM, [FETCH, HOOK, TLS]),
        (Severity.LOW, [FETCH, HOOK, TLS, PREVIEW]),
        (Severity.INFO, [FETCH, HOOK, TLS, PREVIEW, PORTS]),
    ],
)
def test_junit_failures_only_at_or_above_gate(gate, failing):
    result = make_result()
    root = ET.fromstring(junit.render(result, fail_on=gate))
    failed = [
        (c.get("classname"), c.get("name")) for c in _cases(root) if c.find("failure") is not None
    ]
    assert sorted(failed) == sorted(failing)
    assert int(root.get("failures")) == len(failed)
    # Every finding at or above the gate is named in a failure; no other finding is.
    failure_text = " ".join(
        c.find("failure").text or "" for c in _cases(root) if c.find("failure") is not None
    )
    for f in result.findings:
        assert (f.title in failure_text) == (f.severity.rank >= gate.rank), f.kind


def test_junit_counts_match_coverage_and_skips_carry_reasons():
    result = make_result()
    root = ET.fromstring(junit.render(result))
    cases = _cases(root)
    unattributed = 1  # the dns_hygiene finding names no coverage item
    assert len(cases) == len(result.coverage) + unattributed
    assert int(root.get("tests")) == len(cases)
    suites = {s.get("name"): s for s in root.iter("testsuite")}
    assert set(suites) == {c.check for c in result.coverage} | {"dns_hygiene.findings"}
    for name, s in suites.items():
        n = len([c for c in result.coverage if c.check == name]) or 1
        assert int(s.get("tests")) == n == len(s.findall("testcase"))
    skipped = {
        c.get("name") + "|" + c.get("classname"): c.find("skipped").get("message")
        for c in cases
        if c.find("skipped") is not None
    }
    assert len(skipped) == int(root.get("skipped")) == 4
    msgs = sorted(skipped.values())
    assert "mode safe" in msgs
    assert "no AI endpoint found" in msgs
    assert any(m.startswith("not determined: no delegated zone") for m in msgs)
    assert "refused (auth): probe refused (401)" in msgs  # a refusal is never a pass
    props = {p.get("name"): p.get("value") for p in root.iter("property")}
    assert props["coverage.0"].startswith("Coverage: 5 operations discovered, 4 reached")
    # A below-gate finding stays visible in the case's output.
    preview = next(c for c in cases if c.get("name") == "GET /preview query:link")
    assert preview.find("failure") is None
    assert "ssrf.dns-lookup-only" in preview.find("system-out").text


def test_junit_parses_with_junitparser(tmp_path):
    junitparser = pytest.importorskip("junitparser", reason="pip install junitparser")
    path = tmp_path / "firebrick.xml"
    path.write_text(junit.render(make_result(hostile=True)), encoding="utf-8")
    xml = junitparser.JUnitXml.fromfile(str(path))
    total = failures = skipped = 0
    for suite in xml:
        for case in suite:
            total += 1
            kinds = {type(r).__name__ for r in case.result}
            failures += "Failure" in kinds
            skipped += "Skipped" in kinds
    root = ET.parse(path).getroot()
    assert (total, failures, skipped) == (
        int(root.get("tests")),
        int(root.get("failures")),
        int(root.get("skipped")),
    )
    assert failures == 4


# -- HTML ----------------------------------------------------------------------------------

EXTERNAL = re.compile(
    r"""(?:src|href|action|srcset|poster)\s*=\s*["']?\s*(?:https?:)?//|url\(\s*["']?\s*(?:https?:)?//""",
    re.I,
)


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.style = ""
        self._in_style = False

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        self._in_style = tag == "style"

    def handle_endtag(self, tag):
        self._in_style = False

    def handle_data(self, data):
        if self._in_style:
            self.style += data


def _parse(doc: str) -> _Tags:
    p = _Tags()
    p.feed(doc)
    p.close()
    return p


def test_html_is_self_contained():
    doc = html.render(make_result())
    assert not EXTERNAL.search(doc)
    parsed = _parse(doc)
    for tag, attrs in parsed.tags:
        for name, value in attrs.items():
            assert not re.match(r"\s*(https?:)?//", value or ""), (tag, name, value)
    assert "@import" not in parsed.style and "url(" not in parsed.style
    assert not any(tag in ("script", "link", "img", "iframe", "object") for tag, _ in parsed.tags)
    csp = [a for t, a in parsed.tags if t == "meta" and a.get("http-equiv")]
    assert csp and "default-src 'none'" in csp[0]["content"]
    assert any(tag == "svg" for tag, _ in parsed.tags)  # the category chart, inline


def test_html_contains_grade_findings_evidence_fix_and_coverage():
    result = make_result()
    doc = html.render(result)
    assert '<div class="grade"' in doc and ">F</div>" in doc
    assert "score <b>58</b>/100" in doc
    for f in result.findings:
        assert html.e(f.title) in doc
    ex = result.findings[0].evidence.exchanges[0]
    assert html.e(ex.curl) in doc
    assert html.e(ex.response_excerpt) in doc
    assert "t4K3n01.oob.test." in doc  # the DNS name exactly as received, case kept
    assert "GET /t4k3n01" in doc
    # Remediation Markdown -> HTML: heading, fenced code, list.
    assert "<h2>Validate the resolved address</h2>" in doc
    assert '<pre><code class="language-python">from ssrfguard import safe_get' in doc
    assert "<li>never follow redirects blindly</li>" in doc
    assert "<code>SESSION_COOKIE_SECURE = True</code>" in doc
    for status in ("passed", "vulnerable", "not_determined (no_target)", "refused (auth)"):
        assert f">{status}</td>" in doc
    assert 'id="coverage-summary"' in doc and "5 operations discovered, 4 reached" in doc
    assert "no AI endpoint found" in doc
    assert "not assessed" in doc
    assert html.e(result.warnings[0]) in doc


def test_html_escapes_target_controlled_strings():
    doc = html.render(make_result(hostile=True))
    parsed = _parse(doc)
    assert not EXTERNAL.search(_markup_only(parsed))
    tags = {t for t, _ in parsed.tags}
    assert "script" not in tags and "img" not in tags and "iframe" not in tags
    # links only within the page (the findings index): never out, whatever the target sent
    links = [a for t, a in parsed.tags if t == "a"]
    assert links and all(set(a) == {"href"} for a in links)
    assert all(re.fullmatch(r"#finding-\d+", a["href"]) for a in links), links
    assert [t for t, _ in parsed.tags].count("style") == 1  # ours, in <head>
    for tag, attrs in parsed.tags:
        assert not any(name.startswith("on") for name in attrs), (tag, attrs)
        for value in attrs.values():
            assert not re.match(r"\s*(https?:)?//", value or "")
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in doc
    assert XSS not in doc
    assert "Reflected &lt;b&gt;bold&lt;/b&gt; &amp; &lt;i&gt;things&lt;/i&gt;" in doc
    # Markdown links/images in a fix are shown as text, never turned into href/src.
    assert "[docs](https://evil.test/docs)" in doc
    assert "@import url(//evil.test" not in parsed.style


def _markup_only(parsed: _Tags) -> str:
    """The tags and attributes as markup, without text content (escaped text is harmless)."""
    return (
        " ".join(
            f"<{t} " + " ".join(f'{k}="{v}"' for k, v in a.items()) + ">" for t, a in parsed.tags
        )
        + parsed.style
    )


def test_markdown_to_html_is_safe():
    out = html.markdown_to_html("# T\n\n<b onclick=x>hi</b> [l](javascript:alert(1))")
    assert "<h1>T</h1>" in out
    assert "<b" not in out and "href" not in out


# -- PDF -----------------------------------------------------------------------------------

needs_pdf = pytest.mark.skipif(
    not pdf.available() or not shutil.which("pdftoppm") or not shutil.which("pdftotext"),
    reason="PDF needs weasyprint (pip) and libpango-1.0-0 libpangoft2-1.0-0 "
    "libharfbuzz-subset0 fonts-dejavu-core poppler-utils (apt)",
)


@needs_pdf
def test_pdf_renders_and_shows_grade(tmp_path):
    data = pdf.render(make_result(hostile=True))
    assert data.startswith(b"%PDF-")
    path = tmp_path / "r.pdf"
    path.write_bytes(data)
    subprocess.run(
        ["pdftoppm", "-r", "40", "-f", "1", "-l", "1", "-png", str(path), str(tmp_path / "p")],
        check=True,
        timeout=60,
    )
    pngs = list(tmp_path.glob("p*.png"))
    assert len(pngs) == 1 and pngs[0].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    text = subprocess.run(
        ["pdftotext", "-layout", str(path), "-"],
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    ).stdout
    first_page = text.split("\f")[0]
    assert re.search(r"Grade\s+F", first_page)
    assert "firebrick report: http://127.0.0.1:5080" in first_page
    assert "<script>alert(1)</script>" in text  # shown as text, literally
    assert "Server fetches attacker URL" in text


def test_pdf_unavailable_is_a_clear_error(monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_weasy(name, *args, **kwargs):
        if name == "weasyprint":
            raise ImportError("No module named 'weasyprint'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_weasy)
    with pytest.raises(pdf.PdfUnavailable, match="pip install weasyprint"):
        pdf.render(make_result())


# -- Markdown ------------------------------------------------------------------------------


def test_markdown_summary_table_and_top_findings():
    result = make_result()
    for i in range(12):
        f = no_tls()
        f.operation = f"GET /extra/{i}"
        result.findings.append(f)
    md = markdown.render(result)
    lines = md.splitlines()
    assert lines[0] == "## firebrick: grade F (58/100)"
    assert "| Category | Score | Findings |" in lines
    cat_rows = [
        ln for ln in lines if re.match(r"\| [a-z_\\]+ \| (\d+|not assessed) \| \d+ \|$", ln)
    ]
    assert len(cat_rows) == len(result.categories)
    assert "| ssrf | 20 | 3 |" in lines
    assert "| bola | not assessed | 0 |" in lines
    start = lines.index("| Severity | Finding | Operation | Input | Evidence |")
    rows = [ln for ln in lines[start + 2 :] if ln.startswith("| ")]
    assert len(rows) == markdown.MAX_FINDINGS == 10
    assert "critical (confirmed)" in rows[0] and "`GET /fetch`" in rows[0]
    assert "`query:url`" in rows[0] and "metadata canary" in rows[0]
    assert f"{len(result.findings) - 10} more in the full report." in md
    # coverage first: what was reached, before the categories
    cov = next(i for i, ln in enumerate(lines) if ln.startswith("> Coverage: 5 operations"))
    assert cov < lines.index("| Category | Score | Findings |")
    assert "> JWT tests ran on 1 token: the spec example of POST /login  " in lines


def test_incomplete_grade_in_markdown_sarif_and_html():
    result = make_result(grade=None)
    assert result.coverage_summary is not None
    result.coverage_summary.graded = False
    result.coverage_summary.reasons = ["no operation was reached (5 of 5 refused)"]
    result.coverage_summary.hints = ["5 operation(s) answered 401/403: give credentials"]
    md = markdown.render(result)
    assert md.splitlines()[0] == "## firebrick: grade incomplete (58/100, partial)"
    assert any(ln.startswith("> To fix: 5 operation") for ln in md.splitlines())
    props = sarif.build(result)["runs"][0]["properties"]
    assert props["gradeStatus"] == "incomplete" and props["grade"] is None
    assert props["coverage"]["graded"] is False
    assert props["coverage"]["operations_discovered"] == 5
    assert "Grade incomplete: no operation was reached (5 of 5 refused)" in props["coverageLines"]
    doc = html.render(result)
    assert "Grade <b>incomplete</b>" in doc and "partial: not a grade" in doc


def test_markdown_is_link_free_and_escapes():
    md = markdown.render(make_result(hostile=True))
    assert "](" not in md and "<a " not in md
    outside_code = re.sub(r"`[^`\n]*`", "", md)
    assert "://" not in outside_code
    assert "<iframe" not in outside_code and "<b>" not in outside_code
    for ln in md.splitlines():
        if ln.startswith("| ") and ("critical" in ln or "high" in ln):
            assert ln.count(" | ") == 4  # no pipe from the target splits a cell


# -- `firebrick report` ----------------------------------------------------------------------


def test_report_command_renders_a_json_report(tmp_path):
    src = tmp_path / "scan.json"
    src.write_text(json.dumps(make_result().to_dict()), encoding="utf-8")
    out_sarif, out_md = tmp_path / "o" / "r.sarif", tmp_path / "r.md"
    res = CliRunner().invoke(
        report,
        [str(src), "-f", "sarif", "-o", str(out_sarif), "--format", "markdown", "-o", str(out_md)],
    )
    assert res.exit_code == 0, res.output
    assert json.loads(out_sarif.read_text())["version"] == "2.1.0"
    assert out_md.read_text().startswith("## firebrick: grade F")
    res = CliRunner().invoke(report, [str(src), "--format", "junit", "--fail-on", "critical"])
    assert res.exit_code == 0
    assert ET.fromstring(res.output).get("failures") == "1"


@pytest.mark.parametrize(
    ("content", "needle"),
    [("{not json", "not valid JSON"), ('{"hello": 1}', "not a firebrick scan result")],
)
def test_report_command_bad_input_is_one_line_exit_3(tmp_path, content, needle):
    src = tmp_path / "bad.json"
    src.write_text(content, encoding="utf-8")
    res = CliRunner().invoke(report, [str(src), "--format", "html"])
    assert res.exit_code == 3
    assert needle in res.stderr and len(res.stderr.strip().splitlines()) == 1
    assert "Traceback" not in res.output


def test_report_command_usage_errors_exit_3(tmp_path):
    res = CliRunner().invoke(report, [str(tmp_path / "missing.json"), "--format", "html"])
    assert res.exit_code == 3 and "neither a JSON report file nor a scan id" in res.stderr
    src = tmp_path / "scan.json"
    src.write_text(json.dumps(make_result().to_dict()), encoding="utf-8")
    res = CliRunner().invoke(report, [str(src), "--format", "docx"])
    assert res.exit_code == 3
    res = CliRunner().invoke(report, [str(src), "-f", "html", "-f", "sarif"])
    assert res.exit_code == 3 and "--output" in res.stderr


def test_reports_survive_json_round_trip(tmp_path):
    from firebrick.store import result_from_dict

    result = make_result(hostile=True)
    again = result_from_dict(json.loads(json.dumps(result.to_dict())))
    for mod in (sarif, html, markdown):
        assert mod.render(again) == mod.render(result)
    assert junit.render(again) == junit.render(result)


def test_schema_file_is_packaged():
    # pyproject's package-data ships **/*.json; the schema must live under the package.
    path = Path(sarif.__file__).parent / "data" / "sarif-2.1.0.schema.json"
    assert path.is_file()


def test_junit_and_sarif_survive_control_characters():
    # Response bodies are arbitrary bytes-as-text; XML 1.0 cannot carry most control characters.
    result = make_result()
    result.findings[0].evidence.summary = "NUL\x00 ESC\x1b[31m BEL\x07 ok"
    root = ET.fromstring(junit.render(result, fail_on=Severity.INFO))
    assert "NUL ESC[31m BEL ok" in root.find(".//failure").get("message")
    assert "\x00" in json.loads(sarif.render(result))["runs"][0]["results"][0]["message"]["text"]

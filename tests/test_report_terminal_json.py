"""Terminal/text and JSON reports: content, safety against hostile strings, and the JSON schema."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from rich.console import Console

from firebrick.errors import UsageError
from firebrick.model import CATEGORIES, ScanResult
from firebrick.report import FORMATS, render, write
from firebrick.report.json_report import to_json
from firebrick.report.terminal import print_report, render_text
from reportdata import RICH_MARKUP, sample_result, unscored_result

SCHEMA_PATH = Path(__file__).resolve().parents[1] / "docs" / "scan-result.schema.json"


@pytest.fixture(scope="module")
def result() -> ScanResult:
    return sample_result()


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(SCHEMA_PATH.read_text())
    return loaded


# ---------------------------------------------------------------- JSON


def test_json_report_validates_against_published_schema(result: ScanResult, schema) -> None:
    jsonschema.Draft202012Validator.check_schema(schema)
    doc = json.loads(to_json(result))
    jsonschema.Draft202012Validator(schema).validate(doc)
    assert doc["schema_version"] == "2.1"
    assert doc["grade"] == result.grade and doc["score"] == result.score
    assert [f["fingerprint"] for f in doc["findings"]] == [f.fingerprint for f in result.findings]
    # Non-JSON detail values (a set here) are rendered, not fatal.
    assert sorted(doc["findings"][0]["evidence"]["details"]["variants"]) == ["decimal", "hex"]
    # The full body stays out of reports; the curl line is in.
    first_ex = doc["findings"][0]["evidence"]["exchanges"][0]
    assert "body_text" not in first_ex
    assert first_ex["curl"].startswith("curl ")


def test_json_report_written_to_a_file_is_the_same_text(result: ScanResult, tmp_path) -> None:
    # Written piece by piece (a large scan's report is never one string): same bytes as to_json.
    path = tmp_path / "report.json"
    write(result, "json", str(path))
    assert path.read_text(encoding="utf-8") == to_json(result)
    write(result, "markdown", str(tmp_path / "report.md"))
    assert (tmp_path / "report.md").read_text(encoding="utf-8") == render(result, "markdown")


@pytest.mark.parametrize(
    "mutate",
    [
        lambda d: d.update(schema_version=2),
        lambda d: d["findings"][0].update(severity="severe"),
        lambda d: d["findings"][0].update(category="not-a-category"),
        lambda d: d["categories"][0].pop("assessed"),
        lambda d: d["coverage"][0].update(status="maybe"),
        lambda d: d["findings"][1]["evidence"]["interactions"][0].update(source_port="53"),
        lambda d: d.update(grade="E"),
    ],
)
def test_schema_rejects_malformed_reports(result: ScanResult, schema, mutate) -> None:
    doc = json.loads(to_json(result))
    mutate(doc)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(doc, schema, cls=jsonschema.Draft202012Validator)


def _schema_keys(node: dict[str, Any], schema: dict[str, Any]) -> set[str]:
    if "$ref" in node:
        node = schema["$defs"][node["$ref"].rsplit("/", 1)[-1]]
    return set(node.get("properties", {}))


def test_schema_documents_every_field_the_model_emits(result: ScanResult, schema) -> None:
    """The schema allows additions (1.x promise) so this test is what keeps it complete."""
    doc = json.loads(to_json(result))
    pairs: list[tuple[dict[str, Any], dict[str, Any]]] = [(doc, schema)]
    props = schema["properties"]
    pairs += [(doc["tool"], props["tool"]), (doc["stats"], props["stats"])]
    pairs += [(c, props["categories"]["items"]) for c in doc["categories"]]
    pairs += [(c, props["coverage"]["items"]) for c in doc["coverage"]]
    for f in doc["findings"]:
        pairs.append((f, props["findings"]["items"]))
        ev_schema = schema["$defs"]["finding"]["properties"]["evidence"]
        pairs.append((f["evidence"], ev_schema))
        ev_props = schema["$defs"]["evidence"]["properties"]
        pairs += [(e, ev_props["exchanges"]["items"]) for e in f["evidence"]["exchanges"]]
        pairs += [(i, ev_props["interactions"]["items"]) for i in f["evidence"]["interactions"]]
    for obj, node in pairs:
        keys = _schema_keys(node, schema)
        assert set(obj) == keys, f"undocumented or missing: {set(obj) ^ keys}"


def test_json_docs_mention_every_schema_field(schema) -> None:
    doc = (SCHEMA_PATH.parent / "json-report.md").read_text()
    names = set(schema["properties"])
    for definition in schema["$defs"].values():
        names |= set(definition.get("properties", {}))
    missing = sorted(n for n in names if f"`{n}`" not in doc)
    assert not missing, f"docs/json-report.md does not document {missing}"


# ---------------------------------------------------------------- text / terminal


def test_text_report_contains_what_a_reader_needs(result: ScanResult) -> None:
    text = render_text(result)
    assert f"Grade {result.grade}" in text
    assert f"Score {result.score:.1f} / 100" in text
    for category in CATEGORIES:
        assert category in text
    assert "not assessed" in text  # bola and llm_security
    for f in result.findings:
        assert f.title in text
        if f.evidence.exchanges:
            assert f.evidence.exchanges[0].curl in text  # whole, unbroken line
    assert "Payloads that worked: http://127.0.0.1:9/latest/meta-data/, http://2130706433/" in text
    assert "Payloads refused: file:///etc/passwd" in text
    assert "tok2b.Oob.Firebrick.test" in text  # DNS qname, case kept
    assert "127.0.0.53:40123" in text and "2023-11-14T22:13:21.000Z" in text
    assert "1 vulnerable, 1 passed, 0 refused, 0 error, 2 not_determined (4 tests)" in text
    assert "No delegated OOB zone" in text
    assert "412" in text and "http://127.0.0.1:5000" in text
    assert "\x1b[" not in text.replace(RICH_MARKUP, "")  # no colour codes in the text format


def test_text_report_fits_100_columns_except_copyable_lines(result: ScanResult) -> None:
    text = render_text(result)
    curls = {ex.curl for f in result.findings for ex in f.evidence.exchanges}
    for line in text.splitlines():
        if line.strip() in curls:
            continue
        assert len(line) <= 100, line


def test_hostile_strings_are_printed_literally(result: ScanResult) -> None:
    text = render_text(result)
    assert RICH_MARKUP.replace("\x1b", "") in text.replace("\x1b", "")
    assert "forged" in text and "[bold red]forged[/bold red]" in text


def test_ssrf_fix_is_printed_once_and_referred_to(result: ScanResult) -> None:
    text = render_text(result)
    assert text.count("POLICY = Policy(denied_networks=DENIED)") == 1
    assert "safe-fetch code for this fix is shown under finding 1 above" in text
    assert "safe_redirect_target" in text  # the open-redirect fix is its own


def test_explain_prints_the_score_arithmetic(result: ScanResult) -> None:
    assert "Score explanation" not in render_text(result)
    text = render_text(result, explain=True)
    assert "Score explanation" in text
    for line in result.score_explanation:
        assert line in text


def test_print_report_to_a_colour_terminal(result: ScanResult) -> None:
    buf = io.StringIO()
    console = Console(file=buf, force_terminal=True, width=100, color_system="truecolor")
    print_report(result, console)
    out = buf.getvalue()
    assert "\x1b[" in out  # styled
    assert "Internal metadata read through the url parameter" in out
    assert "[bold red]forged[/bold red]" in out  # markup in data stays data


def test_empty_unscored_result_renders() -> None:
    empty = unscored_result()
    text = render_text(empty)
    assert "not scored" in text and "No findings." in text and "INCOMPLETE" in text
    doc = json.loads(to_json(empty))
    jsonschema.validate(doc, json.loads(SCHEMA_PATH.read_text()))


# ---------------------------------------------------------------- registry


def test_format_registry(result: ScanResult) -> None:
    assert set(FORMATS) == {"text", "json", "sarif", "junit", "html", "pdf", "markdown"}
    assert json.loads(render(result, "json"))["target"] == result.target
    assert render(result, "text") == render_text(result)
    with pytest.raises(UsageError, match=r"unknown report format 'yaml'.*json"):
        render(result, "yaml")
    # every registered text format renders this result
    for fmt in sorted(set(FORMATS) - {"pdf"}):
        assert isinstance(render(result, fmt), str) and render(result, fmt)


def test_compact_terminal_report_keeps_every_finding_and_drops_the_fixes() -> None:
    import io

    from rich.console import Console

    from firebrick.report.terminal import print_report

    result = sample_result()
    full, compact = io.StringIO(), io.StringIO()
    print_report(result, Console(file=full, width=100, color_system=None))
    print_report(result, Console(file=compact, width=100, color_system=None), compact=True)
    for f in result.findings:
        assert f.title in compact.getvalue()
        if f.evidence.summary:
            assert f.evidence.summary in compact.getvalue()
    assert "Fix (Flask):" in full.getvalue() and "Fix (Flask):" not in compact.getvalue()
    assert len(compact.getvalue()) < len(full.getvalue()) / 2

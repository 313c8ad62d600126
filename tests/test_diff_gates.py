"""Scan diffs (keyed by fingerprint), CI gates, and the `diff` command."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from firebrick.cli_reports import diff_command
from firebrick.diff import diff, render_diff
from firebrick.errors import UsageError
from firebrick.gates import evaluate
from firebrick.model import Confidence, Severity
from firebrick.store import Store
from reportdata import blind_callback, dns_only, make_result, no_tls, redirect_follow, weak_ports


def before_after():
    before = make_result(started_at="2026-01-01T00:00:00Z")
    # Later scan: the internal read was fixed, a redirect-following fetch appeared, the blind
    # callback is now confirmed and its title reworded (same fingerprint: same finding).
    hook = blind_callback()
    hook.title = "Blind SSRF via webhook URL"
    hook.confidence = Confidence.CONFIRMED
    after = make_result(
        [hook, dns_only(), no_tls(), weak_ports(), redirect_follow()],
        score=71.0,
        grade="C",
        started_at="2026-01-08T00:00:00Z",
    )
    next(c for c in after.categories if c.category == "ssrf").score = 45.0
    return before, after


def test_diff_new_resolved_unchanged_and_drift():
    before, after = before_after()
    d = diff(before, after)
    assert [f.kind for f in d.new] == ["ssrf.redirect-follow"]
    assert [f.kind for f in d.resolved] == ["ssrf.internal-read"]
    assert sorted(f.kind for f in d.unchanged) == sorted(
        [
            "ssrf.blind-callback",
            "ssrf.dns-lookup-only",
            "encryption.no-tls",
            "dns_hygiene.source-port",
        ]
    )
    assert [(a.confidence, b.confidence) for a, b in d.changed] == [
        (Confidence.LIKELY, Confidence.CONFIRMED)
    ]
    assert d.score_delta == pytest.approx(71.0 - 58.4)
    assert (d.grade_a, d.grade_b, d.grade_change) == ("F", "C", 2)
    ssrf = next(c for c in d.categories if c.category == "ssrf")
    assert (ssrf.score_a, ssrf.score_b, ssrf.delta) == (20.0, 45.0, 25.0)
    assert (ssrf.findings_a, ssrf.findings_b) == (3, 3)
    bola = next(c for c in d.categories if c.category == "bola")
    assert bola.score_a is None and bola.delta is None  # not assessed is not 0
    assert d.regressed  # a new finding is a regression even when the score went up

    text = render_diff(d)
    assert "score 58 -> 71 (+13), grade F -> C" in text
    assert "findings: 1 new, 1 resolved, 4 unchanged (1 changed severity/confidence)" in text
    new_block = text.split("New:\n")[1].split("Resolved:\n")[0]
    assert "Fetcher follows redirects" in new_block and "GET /avatar query:image_url" in new_block
    assert "Server fetches attacker URL and returns internal content" in text.split("Resolved:")[1]
    assert "ssrf   20 ->  45 (+25)  findings 3 -> 3" in text
    assert "bola" not in text  # unchanged categories are not listed


def test_diff_of_identical_scans_is_empty():
    r = make_result()
    d = diff(r, make_result())
    assert (d.new, d.resolved, d.changed) == ([], [], [])
    assert len(d.unchanged) == len(r.findings) and not d.regressed
    assert "0 new, 0 resolved" in render_diff(d) and "Categories:" not in render_diff(d)


# -- gates ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("grade", "fail_below", "passed"),
    [("F", "C", False), ("C", "C", True), ("B", "C", True), ("D", "c", False), ("F", "F", True)],
)
def test_fail_below_grade(grade, fail_below, passed):
    out = evaluate(make_result(grade=grade), fail_below=fail_below)
    assert out.passed is passed
    assert bool(out.reasons) is not passed
    if not passed:
        assert out.reasons == [f"grade {grade} is below {fail_below.upper()}"]


def test_fail_below_without_a_grade_fails():
    out = evaluate(make_result(score=None, grade=None), fail_below="D")
    assert not out.passed and "no grade" in out.reasons[0]


def test_fail_on_severity():
    r = make_result([blind_callback(), dns_only()])  # worst: high
    assert not evaluate(r, fail_on=Severity.HIGH).passed
    assert not evaluate(r, fail_on="medium").passed
    assert evaluate(r, fail_on=Severity.CRITICAL).passed
    out = evaluate(r, fail_on=Severity.LOW)
    assert out.reasons == [
        "2 finding(s) at or above low, worst: [high] Server fetches attacker URL (blind) "
        "(POST /webhooks json:hook.url)"
    ]
    assert evaluate(r).passed  # no gate, no failure


def test_fail_on_counts_only_findings_new_since_baseline():
    before, after = before_after()
    # The redirect finding (high) is new; everything else at/above high was in the baseline.
    out = evaluate(after, fail_on=Severity.HIGH, baseline=before)
    assert not out.passed
    assert out.reasons[0].startswith("1 new finding(s) at or above high")
    assert "Fetcher follows redirects" in out.reasons[0]
    assert evaluate(after, fail_on=Severity.HIGH, baseline=after).passed
    # Without a baseline the old high finding counts too.
    assert evaluate(after, fail_on=Severity.HIGH).reasons[0].startswith("2 finding(s)")


def test_both_gates_report_both_reasons():
    out = evaluate(make_result(), fail_below="B", fail_on=Severity.CRITICAL)
    assert not out.passed and len(out.reasons) == 2


@pytest.mark.parametrize("kwargs", [{"fail_below": "E"}, {"fail_below": "A+"}, {"fail_on": "bad"}])
def test_bad_gate_values_are_usage_errors(kwargs):
    with pytest.raises(UsageError):
        evaluate(make_result(), **kwargs)


# -- `firebrick diff` ------------------------------------------------------------------------


def test_diff_command_with_files_and_store_ids(tmp_path):
    before, after = before_after()
    a_file = tmp_path / "a.json"
    a_file.write_text(json.dumps(before.to_dict()), encoding="utf-8")
    store_path = tmp_path / "scans.sqlite"
    b_id = Store(store_path).save(after)
    runner = CliRunner()
    res = runner.invoke(diff_command, [str(a_file), str(b_id), "--store", str(store_path)])
    assert res.exit_code == 0, res.output
    assert res.output == render_diff(diff(before, after))
    res = runner.invoke(
        diff_command, [str(a_file), str(b_id), "--store", str(store_path), "--json"]
    )
    data = json.loads(res.output)
    assert [f["kind"] for f in data["new"]] == ["ssrf.redirect-follow"]
    assert data["grade"] == {"a": "F", "b": "C"}


def test_diff_command_errors_exit_3(tmp_path):
    store_path = tmp_path / "scans.sqlite"
    a_file = tmp_path / "a.json"
    a_file.write_text(json.dumps(make_result().to_dict()), encoding="utf-8")
    runner = CliRunner()
    for args in (
        [str(a_file), "42"],  # no store yet
        [str(a_file), str(tmp_path / "nope.json")],
        [str(a_file)],  # missing argument: a usage error
    ):
        res = runner.invoke(diff_command, [*args, "--store", str(store_path)])
        assert res.exit_code == 3, (args, res.output)
        assert "Traceback" not in res.output


def test_diff_compares_only_what_both_scans_assessed() -> None:
    """A two-check rescan does not 'resolve' the findings of checks it did not run."""
    import copy

    from firebrick.diff import diff, render_diff
    from reportdata import make_result

    full = make_result()
    narrow = copy.deepcopy(full)
    kept = {"ssrf"}
    narrow.findings = [f for f in narrow.findings if f.category in kept]
    for c in narrow.categories:
        c.assessed = c.category in kept
    d = diff(full, narrow)
    other = [f for f in full.findings if f.category not in kept]
    assert other, "the fixture should have findings outside ssrf"
    assert d.resolved == []  # nothing that narrow could have seen went away
    assert {f.fingerprint for f in d.not_compared_resolved} == {f.fingerprint for f in other}
    assert "not compared" in render_diff(d)


def test_junit_from_scan_and_from_report_agree(tmp_path) -> None:
    """The same stored scan gives the same JUnit failures from `scan` and `report`."""
    import json
    import xml.etree.ElementTree as ET

    from click.testing import CliRunner

    from firebrick.cli_reports import report
    from firebrick.model import Severity
    from firebrick.report import junit
    from reportdata import make_result

    result = make_result()
    path = tmp_path / "r.json"
    path.write_text(json.dumps(result.to_dict()))
    from_scan = junit.render(result, fail_on=Severity.HIGH)  # scan's default gate
    out = tmp_path / "r.xml"
    run = CliRunner().invoke(report, [str(path), "-f", "junit", "-o", str(out)])
    assert run.exit_code == 0, run.output

    def failures(xml: str) -> int:
        return sum(1 for c in ET.fromstring(xml).iter("testcase") if c.find("failure") is not None)

    assert failures(out.read_text()) == failures(from_scan) > 0

"""Framework detection from answers the scan already has, and the per-framework fix line."""

from __future__ import annotations

from firebrick.discovery.framework import detect_framework
from firebrick.model import Confidence, Exchange, Finding, Severity
from firebrick.remediation import render
from firebrick.remediation.extra import annotate, framework_line


def ex(status: int = 200, body: str = "", url: str = "http://t/", **headers: str) -> Exchange:
    e = Exchange(
        "GET",
        url,
        status=status,
        response_headers={k.replace("_", "-"): v for k, v in headers.items()},
    )
    e.body_text = body
    return e


def test_django_from_cookies_and_forms() -> None:
    found = detect_framework(
        [
            ex(set_cookie="csrftoken=abc; Path=/; SameSite=Lax", server="gunicorn"),
            ex(body='<input type="hidden" name="csrfmiddlewaretoken" value="x">'),
        ]
    )
    assert found is not None and found["name"] == "django"
    assert "csrftoken cookie" in found["evidence"]


def test_express_fastapi_flask_and_nothing() -> None:
    assert (
        detect_framework([ex(404, "<pre>Cannot GET /nope</pre>", x_powered_by="Express")])["name"]
        == "express"
    )  # type: ignore[index]
    assert (
        detect_framework([ex(404, '{"detail":"Not Found"}', server="uvicorn")])["name"] == "fastapi"
    )  # type: ignore[index]
    assert detect_framework([ex(server="Werkzeug/3.1.3 Python/3.11.7")])["name"] == "flask"  # type: ignore[index]
    assert detect_framework([ex(server="nginx")]) is None  # one weak sign is not a verdict


def finding(kind: str, category: str) -> Finding:
    f = Finding(kind, category, "t", Severity.HIGH, Confidence.CONFIRMED, "GET /x")
    f.remediation = render(f)
    return f


def test_non_flask_fix_keeps_flask_first_then_one_framework_line() -> None:
    fw = {"name": "django", "label": "Django", "evidence": ["csrftoken cookie"]}
    f = annotate([finding("ssrf.internal-read", "ssrf")], fw)[0]
    text = f.remediation
    assert text.index("#### Fix") < text.index("This app is not Flask (Django)")
    # before the shared safe-fetch section, so the terminal prints it with the finding
    assert text.index("This app is not Flask") < text.index("<!-- firebrick:shared-fix -->")
    assert framework_line("django", f) in text and f.evidence.details["framework"] == "Django"


def test_flask_targets_are_left_alone() -> None:
    f = finding("bola.adjacent-id", "bola")
    assert annotate([f], {"name": "flask", "label": "Flask"})[0].remediation == f.remediation
    assert annotate([f], None)[0] is f


def test_every_framework_has_a_default_or_category_line() -> None:
    for name in ("django", "fastapi", "express", "rails", "laravel", "spring", "aspnet"):
        for category in ("ssrf", "authentication", "bola", "input_validation"):
            line = framework_line(name, finding(f"{category}.x", category))
            assert line, (name, category)

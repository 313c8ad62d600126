"""Which web framework serves the target, from what its answers already show.

No request of its own: it reads the exchanges of the scan (server and x-powered-by headers,
cookie names, error and debug pages, docs paths, CSRF conventions). Each sign adds a weight;
the best-scoring framework with at least ``MIN_SCORE`` becomes ``surface.facts["framework"]``,
with the signs as evidence. Fix texts then add one line for that framework (remediation/).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from firebrick.checks.patterns import debug_page
from firebrick.model import Exchange

MIN_SCORE = 2


@dataclass(frozen=True)
class Sign:
    framework: str
    where: str  # "header:<name>" | "cookie" | "body" | "path"
    regex: re.Pattern[str]
    weight: int
    note: str


def _s(framework: str, where: str, pattern: str, weight: int, note: str) -> Sign:
    return Sign(framework, where, re.compile(pattern, re.I), weight, note)


SIGNS: tuple[Sign, ...] = (
    _s("flask", "header:server", r"werkzeug", 3, "Server: Werkzeug"),
    _s("flask", "body", r"Werkzeug Debugger|werkzeug\.exceptions", 3, "Werkzeug page"),
    _s("django", "cookie", r"^(csrftoken|django_language)$", 3, "csrftoken cookie"),
    _s("django", "cookie", r"^sessionid$", 1, "sessionid cookie"),
    _s("django", "body", r"csrfmiddlewaretoken", 3, "csrfmiddlewaretoken field"),
    _s(
        "django",
        "body",
        r"You're seeing this error because you have <code>DEBUG = True</code>|django\.(core|db|http)\.",
        3,
        "Django error page",
    ),
    _s("django", "body", r"CSRF verification failed", 3, "Django CSRF page"),
    _s("fastapi", "header:server", r"uvicorn|hypercorn", 1, "Server: uvicorn"),
    _s(
        "fastapi",
        "body",
        r'^\{"detail":\s*"(Not Found|Method Not Allowed)"\}$',
        2,
        "FastAPI error body",
    ),
    _s("fastapi", "body", r"fastapi|/docs/oauth2-redirect", 2, "FastAPI docs"),
    _s("express", "header:x-powered-by", r"express", 4, "X-Powered-By: Express"),
    _s("express", "cookie", r"^connect\.sid$", 3, "connect.sid cookie"),
    _s("express", "body", r"<pre>Cannot (GET|POST|PUT|DELETE) /", 3, "Express 404 page"),
    _s("rails", "header:x-runtime", r".", 2, "X-Runtime header"),
    _s("rails", "cookie", r"^_[a-z0-9_]+_session$", 2, "Rails session cookie"),
    _s(
        "rails",
        "body",
        r'name="csrf-param" content="authenticity_token"|ActionController::',
        3,
        "Rails page",
    ),
    _s("laravel", "cookie", r"^laravel_session$", 4, "laravel_session cookie"),
    _s("laravel", "cookie", r"^XSRF-TOKEN$", 1, "XSRF-TOKEN cookie"),
    _s("laravel", "body", r"Illuminate\\|Whoops!", 3, "Laravel error page"),
    _s("spring", "body", r"Whitelabel Error Page|org\.springframework", 4, "Spring error page"),
    _s("spring", "cookie", r"^JSESSIONID$", 1, "JSESSIONID cookie"),
    _s("spring", "path", r"^/actuator(/|$)", 2, "/actuator"),
    _s("aspnet", "header:x-powered-by", r"ASP\.NET", 4, "X-Powered-By: ASP.NET"),
    _s("aspnet", "header:server", r"kestrel|Microsoft-IIS", 3, "Server: Kestrel/IIS"),
    _s("aspnet", "cookie", r"^(\.AspNetCore\.|ASP\.NET_SessionId)", 4, "ASP.NET cookie"),
)
LABELS = {
    "flask": "Flask",
    "django": "Django",
    "fastapi": "FastAPI",
    "express": "Express",
    "rails": "Ruby on Rails",
    "laravel": "Laravel",
    "spring": "Spring Boot",
    "aspnet": "ASP.NET Core",
}
_DEBUG_LABELS = {
    "werkzeug": "flask",
    "django": "django",
    "starlette": "fastapi",
    "express": "express",
}


def _cookie_names(ex: Exchange) -> list[str]:
    raw = ex.response_headers.get("set-cookie", "")
    # several Set-Cookie headers are joined with ", "; a name precedes each "="
    return re.findall(r"(?:^|,\s*)([^=;,\s]+)=", raw)


def detect_framework(exchanges: Iterable[Exchange]) -> dict[str, Any] | None:
    """{"name", "label", "score", "evidence": [notes]} for the most likely framework, or None."""
    scores: dict[str, int] = {}
    notes: dict[str, list[str]] = {}

    def hit(sign: Sign) -> None:
        if sign.note in notes.setdefault(sign.framework, []):
            return
        notes[sign.framework].append(sign.note)
        scores[sign.framework] = scores.get(sign.framework, 0) + sign.weight

    for i, ex in enumerate(exchanges):
        if ex.status is None or i > 3000:
            continue
        body = ex.body_text[:20000]
        cookies = _cookie_names(ex)
        path = urlsplit(ex.url).path
        for sign in SIGNS:
            if sign.where.startswith("header:"):
                value = ex.response_headers.get(sign.where[7:])
                if value and sign.regex.search(value):
                    hit(sign)
            elif sign.where == "cookie":
                if any(sign.regex.search(c) for c in cookies):
                    hit(sign)
            elif sign.where == "path":
                if ex.status == 200 and sign.regex.search(path):
                    hit(sign)
            elif body and sign.regex.search(
                body.strip() if sign.regex.pattern.startswith("^") else body
            ):
                hit(sign)
        if body:
            found = debug_page(body)
            name = _DEBUG_LABELS.get(found[0].name.split("-")[0]) if found else None
            if name:
                hit(Sign(name, "body", re.compile(""), 3, f"{LABELS[name]} debug page"))
    if not scores:
        return None
    best = max(scores, key=lambda k: scores[k])
    if scores[best] < MIN_SCORE:
        return None
    return {"name": best, "label": LABELS[best], "score": scores[best], "evidence": notes[best]}

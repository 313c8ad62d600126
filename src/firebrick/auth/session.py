"""One HTTP session per identity: its cookie jar and the CSRF token the target handed it.

The ScopedClient keeps one Session for the scan's own traffic (key None) and one per identity,
so a cookie one identity received (a login session) never rides on another identity's or an
anonymous request. Before every unsafe request the session adds the CSRF token it has seen, the
way a browser-side framework would: from a cookie (Django ``csrftoken`` -> ``X-CSRFToken``,
Angular/Laravel ``XSRF-TOKEN`` -> ``X-XSRF-TOKEN``), from a ``<meta name="csrf-token">`` tag
(-> ``X-CSRF-Token``) or a hidden form field (added to form bodies under its own name).
"""

from __future__ import annotations

import http.cookiejar
import re
from html.parser import HTMLParser
from typing import Any

import httpx

UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})

# cookie name (lower case) -> the header the matching framework reads
CSRF_COOKIES: dict[str, str] = {
    "csrftoken": "X-CSRFToken",  # Django
    "xsrf-token": "X-XSRF-TOKEN",  # Angular, Laravel
    "csrf-token": "X-CSRF-Token",
    "csrf_token": "X-CSRF-Token",
    "_csrf": "X-CSRF-Token",  # Express csurf (cookie mode)
    "csrf": "X-CSRF-Token",
}
# hidden form fields that carry a CSRF token
CSRF_FIELDS = frozenset(
    {
        "csrfmiddlewaretoken",
        "csrf_token",
        "_csrf",
        "_token",
        "authenticity_token",
        "csrf",
        "__requestverificationtoken",
        "xsrf_token",
    }
)
_META_NAMES = frozenset({"csrf-token", "csrf_token", "_csrf", "xsrf-token", "csrf-param"})
_HTML_LIMIT = 512_000  # only the start of a page is searched for tokens


class _RefuseAll(http.cookiejar.DefaultCookiePolicy):
    """The shared httpx jar stays empty: each Session keeps its own cookies."""

    def set_ok(self, cookie: http.cookiejar.Cookie, request: object) -> bool:
        return False


def no_cookie_jar() -> http.cookiejar.CookieJar:
    return http.cookiejar.CookieJar(policy=_RefuseAll())


class _TokenParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.meta: str | None = None
        self.field: tuple[str, str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k.lower(): (v or "") for k, v in attrs}
        if tag == "meta" and a.get("name", "").lower() in _META_NAMES and a.get("content"):
            if a["name"].lower() != "csrf-param":
                self.meta = a["content"]
        elif tag == "input" and a.get("name", "").lower() in CSRF_FIELDS and a.get("value"):
            self.field = (a["name"], a["value"])


_QUICK = re.compile(r"csrf|xsrf|authenticity_token|_token|verificationtoken", re.I)


class Session:
    def __init__(self) -> None:
        self.cookies = httpx.Cookies()
        self.meta_token: str | None = None
        self.form_field: tuple[str, str] | None = None  # (field name, token)

    # -- learning ----------------------------------------------------------------------------
    def absorb(self, response: httpx.Response | None, text: str) -> None:
        """Keep the response's cookies and any CSRF token its HTML carries."""
        if response is None:
            return
        if "set-cookie" in response.headers:
            self.cookies.extract_cookies(response)
        ctype = response.headers.get("content-type", "").lower()
        if "html" in ctype and _QUICK.search(text[:_HTML_LIMIT]):
            parser = _TokenParser()
            try:
                parser.feed(text[:_HTML_LIMIT])
            except Exception:  # html.parser is lenient; a hostile page just yields no token
                return
            if parser.meta:
                self.meta_token = parser.meta
            if parser.field:
                self.form_field = parser.field

    def csrf_cookie(self) -> tuple[str, str] | None:
        """(header, token) from a CSRF cookie in the jar."""
        for cookie in self.cookies.jar:
            header = CSRF_COOKIES.get(cookie.name.lower())
            if header and cookie.value:
                return header, cookie.value
        return None

    @property
    def has_csrf(self) -> bool:
        return bool(self.meta_token or self.form_field or self.csrf_cookie())

    def tokens(self) -> list[str]:
        """Every CSRF token value this session holds (they are secrets of the session)."""
        out = [t for t in (self.meta_token, self.form_field[1] if self.form_field else None) if t]
        pair = self.csrf_cookie()
        return out + ([pair[1]] if pair else [])

    # -- applying ----------------------------------------------------------------------------
    def csrf_headers(self, method: str) -> dict[str, str]:
        if method.upper() not in UNSAFE_METHODS:
            return {}
        headers: dict[str, str] = {}
        pair = self.csrf_cookie()
        if pair:
            headers[pair[0]] = pair[1]
        token = self.meta_token or (self.form_field[1] if self.form_field else None)
        if token:
            headers.setdefault("X-CSRF-Token", token)
            if not pair:  # a Django page rendered a token but the cookie is elsewhere
                headers.setdefault("X-CSRFToken", token)
        return headers

    def csrf_form(self, method: str, data: dict[str, Any]) -> dict[str, Any]:
        """A form body with the CSRF field filled in when the page's form had one."""
        if method.upper() not in UNSAFE_METHODS:
            return data
        if any(str(k).lower() in CSRF_FIELDS and v for k, v in data.items()):
            # a crawled form carries the token it was rendered with: refresh it if we know better
            name = next(k for k, v in data.items() if str(k).lower() in CSRF_FIELDS and v)
            fresh = self._field_token(str(name))
            return {**data, name: fresh} if fresh else data
        if self.form_field:
            return {**data, self.form_field[0]: self.form_field[1]}
        pair = self.csrf_cookie()
        if pair and pair[0] == "X-CSRFToken":
            return {**data, "csrfmiddlewaretoken": pair[1]}
        return data

    def _field_token(self, name: str) -> str | None:
        if self.form_field and self.form_field[0].lower() == name.lower():
            return self.form_field[1]
        pair = self.csrf_cookie()
        if pair and name.lower() == "csrfmiddlewaretoken":
            return pair[1]
        return None

    def apply(self, request: httpx.Request) -> None:
        """Add this session's cookies (unless the caller set its own Cookie header)."""
        if "cookie" not in request.headers and self.cookies:
            self.cookies.set_cookie_header(request)

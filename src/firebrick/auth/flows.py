"""Login flows: turn a user name and password (or an OAuth2 client) into credentials.

A login is one POST (after one GET of the login page when it is an HTML form, to learn its
fields, hidden inputs and CSRF token). The credential is the token in the JSON answer (a JSON
pointer, or the first of the usual field names) sent as ``Authorization: Bearer``, or the session
cookie the answer set (kept in the identity's own cookie jar).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import TYPE_CHECKING, Any
from urllib.parse import urljoin

from firebrick.errors import FirebrickError

if TYPE_CHECKING:
    from firebrick.http import ScopedClient
    from firebrick.model import Exchange

CHECK = "auth"  # requests of the login flows are counted under this name
TOKEN_FIELDS = (
    "access_token",
    "accessToken",
    "token",
    "jwt",
    "id_token",
    "idToken",
    "auth_token",
    "authToken",
    "session_token",
    "sessionToken",
    "bearer",
    "key",
)
USER_FIELDS = ("username", "email", "login", "user", "user_name", "userName", "name")
_REFRESH_MARGIN = 3.0  # seconds before expiry at which we log in again


class LoginFailed(FirebrickError):
    """A login flow did not yield credentials (wrong password, wrong login URL...)."""

    exit_code = 3


@dataclass
class LoginSpec:
    """How one identity logs in."""

    identity: str
    url: str  # absolute, or a path relative to the target
    method: str = "POST"
    username: str = ""
    password: str = ""
    body: str = "auto"  # auto | json | form
    fields: tuple[str, str] | None = None  # (user field, password field); None: guess
    token_pointer: str | None = None  # RFC 6901 JSON pointer into the answer
    header_template: str = "Authorization: Bearer {token}"


@dataclass
class OAuth2Spec:
    identity: str
    token_url: str
    client_id: str
    client_secret: str
    scope: str | None = None


@dataclass
class Credential:
    headers: dict[str, str] = field(default_factory=dict)
    expires_at: float | None = None  # time.monotonic() value
    token: str | None = None

    def expiring(self) -> bool:
        return self.expires_at is not None and time.monotonic() >= self.expires_at - _REFRESH_MARGIN


def json_pointer(doc: Any, pointer: str) -> Any:
    """RFC 6901: ``/data/token``; None when a step is missing."""
    if pointer in ("", "/"):
        return doc
    node = doc
    for raw in pointer.lstrip("/").split("/"):
        step = raw.replace("~1", "/").replace("~0", "~")
        if isinstance(node, dict):
            node = node.get(step)
        elif isinstance(node, list) and step.isdigit() and int(step) < len(node):
            node = node[int(step)]
        else:
            return None
    return node


def find_token(doc: Any, depth: int = 0) -> tuple[str, str] | None:
    """(field, token) for the first usual token field, breadth first, to depth 3."""
    if depth > 3 or not isinstance(doc, dict):
        return None
    lower = {str(k).lower(): k for k in doc}
    for name in TOKEN_FIELDS:
        key = lower.get(name.lower())
        value = doc.get(key) if key is not None else None
        if isinstance(value, str) and len(value) >= 8:
            return str(key), value
    for value in doc.values():
        found = find_token(value, depth + 1)
        if found:
            return found
    return None


def _expiry(doc: Any, token: str | None) -> float | None:
    """When the credential stops working: ``expires_in`` in the answer, else the JWT's exp."""
    if isinstance(doc, dict):
        for key in ("expires_in", "expiresIn"):
            value = doc.get(key)
            if isinstance(value, int | float) and value > 0:
                return time.monotonic() + float(value)
    if token and token.count(".") == 2:
        from firebrick.checks.jwt import parse

        parsed = parse(token)
        exp = parsed.claims.get("exp") if parsed is not None else None
        if isinstance(exp, int | float):
            return time.monotonic() + (float(exp) - time.time())
    return None


class _LoginForm(HTMLParser):
    """The first form with a password input: action, method, field names, hidden values."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.forms: list[dict[str, Any]] = []
        self._cur: dict[str, Any] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k.lower(): (v or "") for k, v in attrs}
        if tag == "form":
            self._cur = {
                "action": a.get("action", ""),
                "method": (a.get("method") or "post").upper(),
                "user": None,
                "password": None,
                "hidden": {},
            }
            self.forms.append(self._cur)
        elif tag == "input" and self._cur is not None and a.get("name"):
            kind = a.get("type", "text").lower()
            if kind == "password" and self._cur["password"] is None:
                self._cur["password"] = a["name"]
            elif kind == "hidden":
                self._cur["hidden"][a["name"]] = a.get("value", "")
            elif kind in ("text", "email") and self._cur["user"] is None:
                self._cur["user"] = a["name"]

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._cur = None


def login_form(html: str) -> dict[str, Any] | None:
    parser = _LoginForm()
    try:
        parser.feed(html[:512_000])
    except Exception:  # a hostile page yields no form
        return None
    return next((f for f in parser.forms if f["password"]), None)


def _json(ex: Exchange) -> Any:
    try:
        return json.loads(ex.body_text)
    except ValueError:
        return None


async def login(client: ScopedClient, spec: LoginSpec) -> Credential:
    """Log spec.identity in; raises LoginFailed with one line saying why."""
    client.add_secret(spec.password)
    url = client.url_for(spec.url)
    method = spec.method
    body_kind = spec.body
    user_field, pass_field = spec.fields or ("", "")
    extra: dict[str, str] = {}
    if body_kind in ("auto", "form"):
        # One GET: an HTML login page tells us its fields, hidden inputs and CSRF token (and the
        # session picks up the CSRF cookie); a JSON API answers 405 or JSON and we post JSON.
        page = await client.request(
            "GET",
            url,
            check=CHECK,
            identity=spec.identity,
            apply_credentials=False,
            use_user_headers=False,
        )
        form = login_form(page.body_text) if page.status == 200 else None
        if form is not None:
            body_kind = "form"
            url = urljoin(page.url, form["action"]) if form["action"] else page.url
            method = form["method"] if form["method"] in ("POST", "PUT") else "POST"
            user_field = user_field or form["user"] or "username"
            pass_field = pass_field or form["password"]
            extra = dict(form["hidden"])
        elif body_kind == "auto":
            body_kind = spec.body = "json"  # not a form: later logins skip the GET
    user_field = user_field or "username"
    pass_field = pass_field or "password"
    values = {**extra, user_field: spec.username, pass_field: spec.password}
    before = {c.name for c in client.session(spec.identity).cookies.jar}
    ex = await client.request(
        method,
        url,
        json=values if body_kind == "json" else None,
        data=values if body_kind == "form" else None,
        check=CHECK,
        identity=spec.identity,
        apply_credentials=False,
        use_user_headers=False,
    )
    where = f"{method} {url}"
    if ex.status is None:
        raise LoginFailed(f"login as {spec.identity!r} failed: {where}: {ex.error}")
    if ex.status >= 400:
        raise LoginFailed(
            f"login as {spec.identity!r} failed: {where} answered {ex.status} "
            "(check the user name, password, --login and --login-fields)"
        )
    doc = _json(ex)
    token: str | None = None
    if spec.token_pointer:
        found = json_pointer(doc, spec.token_pointer)
        if not isinstance(found, str) or not found:
            raise LoginFailed(
                f"login as {spec.identity!r}: no token at {spec.token_pointer} in the answer of {where}"
            )
        token = found
    else:
        hit = find_token(doc)
        token = hit[1] if hit else None
    session = client.session(spec.identity)
    new_cookies = {c.name for c in session.cookies.jar} - before
    csrf_only = all(
        c.lower() in ("csrftoken", "xsrf-token", "csrf_token", "_csrf") for c in new_cookies
    )
    if token is None and (not new_cookies or csrf_only):
        # a form login that "succeeded" with 200 and no session is a login page shown again
        raise LoginFailed(
            f"login as {spec.identity!r} failed: {where} answered {ex.status} with neither a token "
            "nor a session cookie (use --token-pointer if the token is in an unusual field)"
        )
    for cookie in session.cookies.jar:
        client.add_secret(cookie.value)
    cred = Credential(token=token, expires_at=_expiry(doc, token))
    if token:
        client.add_secret(token)
        name, _, value = spec.header_template.partition(":")
        cred.headers = {name.strip(): value.strip().replace("{token}", token)}
    return cred


async def oauth2_client_credentials(client: ScopedClient, spec: OAuth2Spec) -> Credential:
    """RFC 6749 4.4: client id and secret (HTTP Basic) for an access token."""
    import base64

    client.add_secret(spec.client_secret)
    basic = base64.b64encode(f"{spec.client_id}:{spec.client_secret}".encode()).decode()
    client.add_secret(basic)
    form = {"grant_type": "client_credentials"}
    if spec.scope:
        form["scope"] = spec.scope
    ex = await client.request(
        "POST",
        spec.token_url,
        data=form,
        headers={"Authorization": f"Basic {basic}", "Accept": "application/json"},
        check=CHECK,
        identity=spec.identity,
        apply_credentials=False,
        use_user_headers=False,
    )
    doc = _json(ex) if ex.status is not None else None
    token = doc.get("access_token") if isinstance(doc, dict) else None
    if ex.status != 200 or not isinstance(token, str) or not token:
        why = ex.error if ex.status is None else f"answered {ex.status}"
        raise LoginFailed(
            f"OAuth2 client credentials for {spec.client_id!r} failed: POST {spec.token_url} {why}"
        )
    client.add_secret(token)
    assert isinstance(doc, dict)
    kind = str(doc.get("token_type") or "Bearer")
    kind = "Bearer" if kind.lower() == "bearer" else kind
    return Credential(
        headers={"Authorization": f"{kind} {token}"}, token=token, expires_at=_expiry(doc, token)
    )

"""The dashboard: server-rendered pages (Jinja2, autoescaped) over the same Service as the API.

Progressive enhancement: every page works without JavaScript (forms post, a running scan's page
refreshes itself through <noscript>); with it, /static/app.js follows a scan's progress live over
server-sent events. Sessions are a random id in an HttpOnly, SameSite=Strict cookie; every form
carries a CSRF token bound to the session.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup

from firebrick.server.service import EVENTS, GRADES, Service, ServiceError

SESSION_COOKIE = "fb_session"
GRADE_COLOR = {"A": "#15803d", "B": "#4d7c0f", "C": "#b45309", "D": "#c2410c", "F": "#b91c1c"}


class Dashboard:
    def __init__(self, service: Service) -> None:
        self.service = service
        self.sessions: dict[str, str] = {}  # session id -> key id
        self.secret = secrets.token_bytes(32)  # CSRF tokens; sessions end with the process
        self.env = Environment(
            loader=PackageLoader("firebrick.server", "templates"),
            autoescape=select_autoescape(["html"]),
        )
        self.env.filters["md"] = _markdown
        self.env.globals["grade_color"] = lambda g: GRADE_COLOR.get(g or "", "#6b7280")

    # -- sessions --------------------------------------------------------------------------------
    def session_key(self, request: Request) -> str | None:
        sid = request.cookies.get(SESSION_COOKIE)
        return self.sessions.get(sid) if sid else None

    def csrf_token(self, request: Request) -> str:
        sid = request.cookies.get(SESSION_COOKIE, "")
        return hmac.new(self.secret, sid.encode(), hashlib.sha256).hexdigest()[:40]

    def check_csrf(self, request: Request, token: str) -> None:
        if not token or not hmac.compare_digest(token, self.csrf_token(request)):
            raise ServiceError(403, "csrf", "the form expired or did not come from this site")

    def key(self, request: Request) -> dict[str, Any]:
        auth = request.headers.get("authorization", "")
        if auth.lower().startswith("bearer "):  # an API client reading a page: same keys
            return self.service.authenticate(auth[7:].strip())
        key_id = self.session_key(request)
        row = (
            self.service.db.one(
                "SELECT * FROM api_keys WHERE id = ? AND revoked_at IS NULL", (key_id,)
            )
            if key_id
            else None
        )
        if row is None:
            raise ServiceError(401, "unauthorized", "log in with an API key")
        return row

    def login_redirect(self, request: Request) -> Response:
        return RedirectResponse(f"/login?next={quote(request.url.path)}", status_code=303)

    def render(
        self, request: Request, template: str, status: int = 200, **context: Any
    ) -> HTMLResponse:
        html = self.env.get_template(template).render(
            csrf=self.csrf_token(request), path=request.url.path, **context
        )
        return HTMLResponse(html, status_code=status)

    def error_page(self, request: Request, exc: ServiceError) -> HTMLResponse:
        return self.render(request, "error.html", status=exc.status, error=exc)

    # -- pages -----------------------------------------------------------------------------------
    def router(self) -> APIRouter:
        r = APIRouter(include_in_schema=False)
        svc = self.service

        @r.get("/login", response_class=HTMLResponse)
        def login_page(request: Request, next: str = "/") -> Any:
            return self.render(request, "login.html", next=_local(next), error=None)

        @r.post("/login")
        def login(request: Request, key: str = Form(""), next: str = Form("/")) -> Any:
            try:
                row = svc.authenticate(key.strip())
            except ServiceError as exc:
                return self.render(
                    request, "login.html", status=401, next=_local(next), error=exc.message
                )
            sid = secrets.token_urlsafe(32)
            self.sessions[sid] = row["id"]
            resp = RedirectResponse(_local(next), status_code=303)
            resp.set_cookie(
                SESSION_COOKIE,
                sid,
                httponly=True,
                samesite="strict",
                secure=request.url.scheme == "https",
                max_age=12 * 3600,
            )
            return resp

        @r.post("/logout")
        def logout(request: Request, csrf: str = Form("")) -> Any:
            self.check_csrf(request, csrf)
            self.sessions.pop(request.cookies.get(SESSION_COOKIE, ""), None)
            resp = RedirectResponse("/login", status_code=303)
            resp.delete_cookie(SESSION_COOKIE)
            return resp

        @r.get("/", response_class=HTMLResponse)
        def index(request: Request) -> Any:
            key = self.key(request)
            return self.render(request, "index.html", scans=svc.scans(limit=20, key=key))

        @r.post("/scans")
        async def new_scan(
            request: Request,
            csrf: str = Form(""),
            url: str = Form(""),
            spec_url: str = Form(""),
            mode: str = Form("safe"),
        ) -> Any:
            key = self.key(request)
            self.check_csrf(request, csrf)
            body: dict[str, Any] = {"url": url.strip(), "mode": mode}
            if spec_url.strip():
                body["spec_url"] = spec_url.strip()
            try:
                scan = await svc.submit(key, body)
            except ServiceError as exc:
                return self.render(
                    request,
                    "index.html",
                    status=exc.status,
                    scans=svc.scans(limit=20, key=key),
                    error=exc.message,
                    url=url,
                )
            return RedirectResponse(f"/scans/{scan['id']}", status_code=303)

        @r.get("/scans/{scan_id}", response_class=HTMLResponse)
        def scan_page(request: Request, scan_id: str) -> Any:
            key = self.key(request)
            scan = svc.scan(scan_id, key)
            result = svc.result(scan_id, key) if scan["status"] == "done" else None
            progress = svc.progress.get(scan_id)
            return self.render(
                request,
                "scan.html",
                scan=scan,
                result=result,
                doc=result.to_dict() if result else None,
                events=list(progress.events) if progress else [],
                chart=Markup(_category_chart(result)) if result else "",
            )

        @r.get("/targets", response_class=HTMLResponse)
        def target_page(request: Request, target: str) -> Any:
            key = self.key(request)
            scans = list(reversed(svc.scans(target=target, limit=100, key=key)))
            return self.render(
                request,
                "target.html",
                target=target,
                scans=scans,
                chart=Markup(_history_chart(scans)),
            )

        @r.get("/diff", response_class=HTMLResponse)
        def diff_page(request: Request, a: str, b: str) -> Any:
            from firebrick.diff import diff

            key = self.key(request)
            d = diff(svc.result(a, key), svc.result(b, key))
            return self.render(request, "diff.html", a=a, b=b, d=d)

        @r.get("/monitors", response_class=HTMLResponse)
        def monitors_page(request: Request) -> Any:
            key = self.key(request)
            return self.render(request, "monitors.html", monitors=svc.monitors(key), grades=GRADES)

        @r.post("/monitors")
        def monitors_create(
            request: Request,
            csrf: str = Form(""),
            url: str = Form(""),
            interval_s: int = Form(86400),
            fail_below: str = Form(""),
        ) -> Any:
            key = self.key(request)
            self.check_csrf(request, csrf)
            body: dict[str, Any] = {"url": url.strip(), "interval_s": interval_s}
            if fail_below:
                body["fail_below"] = fail_below
            try:
                svc.create_monitor(key, body)
            except ServiceError as exc:
                return self.render(
                    request,
                    "monitors.html",
                    status=exc.status,
                    monitors=svc.monitors(key),
                    grades=GRADES,
                    error=exc.message,
                )
            return RedirectResponse("/monitors", status_code=303)

        @r.post("/monitors/{monitor_id}/delete")
        def monitors_delete(request: Request, monitor_id: str, csrf: str = Form("")) -> Any:
            key = self.key(request)
            self.check_csrf(request, csrf)
            svc.delete_monitor(monitor_id, key)
            return RedirectResponse("/monitors", status_code=303)

        @r.get("/webhooks", response_class=HTMLResponse)
        def webhooks_page(request: Request) -> Any:
            key = self.key(request)
            hooks = svc.webhooks_list(key)
            logs = {h["id"]: svc.deliveries(h["id"], limit=10, key=key) for h in hooks}
            return self.render(
                request, "webhooks.html", hooks=hooks, logs=logs, events=EVENTS, secret=None
            )

        @r.post("/webhooks")
        def webhooks_create(request: Request, csrf: str = Form(""), url: str = Form("")) -> Any:
            key = self.key(request)
            self.check_csrf(request, csrf)
            try:
                hook, secret = svc.create_webhook(key, {"url": url.strip()})
            except ServiceError as exc:
                return self.render(
                    request,
                    "webhooks.html",
                    status=exc.status,
                    hooks=svc.webhooks_list(key),
                    logs={},
                    events=EVENTS,
                    secret=None,
                    error=exc.message,
                )
            hooks = svc.webhooks_list(key)
            logs = {h["id"]: svc.deliveries(h["id"], limit=10, key=key) for h in hooks}
            return self.render(
                request,
                "webhooks.html",
                hooks=hooks,
                logs=logs,
                events=EVENTS,
                secret={"id": hook["id"], "value": secret},
            )

        @r.post("/webhooks/{webhook_id}/delete")
        def webhooks_delete(request: Request, webhook_id: str, csrf: str = Form("")) -> Any:
            key = self.key(request)
            self.check_csrf(request, csrf)
            svc.delete_webhook(webhook_id, key)
            return RedirectResponse("/webhooks", status_code=303)

        @r.get("/keys", response_class=HTMLResponse)
        def keys_page(request: Request) -> Any:
            key = self.key(request)
            keys = svc.list_keys() if key["admin"] else [svc._public_key(key)]
            return self.render(request, "keys.html", keys=keys, me=key, created=None)

        @r.post("/keys")
        def keys_create(request: Request, csrf: str = Form(""), name: str = Form("")) -> Any:
            key = self.key(request)
            self.check_csrf(request, csrf)
            if not key["admin"]:
                raise ServiceError(403, "forbidden", "only an admin key creates keys")
            record, secret = svc.create_key(name.strip() or "key")
            return self.render(
                request,
                "keys.html",
                keys=svc.list_keys(),
                me=key,
                created={"name": record["name"], "key": secret},
            )

        @r.post("/keys/{key_id}/revoke")
        def keys_revoke(request: Request, key_id: str, csrf: str = Form("")) -> Any:
            key = self.key(request)
            self.check_csrf(request, csrf)
            if not key["admin"]:
                raise ServiceError(403, "forbidden", "only an admin key revokes keys")
            svc.revoke_key(key_id)
            return RedirectResponse("/keys", status_code=303)

        return r


def _local(path: str) -> str:
    """Only same-site paths after login (no open redirect of our own)."""
    if not path.startswith("/") or path.startswith(("//", "/\\")) or "\\" in path:
        return "/"
    return path


def _markdown(text: str) -> Markup:
    from firebrick.report.html import markdown_to_html

    return Markup(markdown_to_html(text or ""))


def _esc(text: str) -> str:
    return str(Markup.escape(text))


def _category_chart(result: Any) -> str:
    """Horizontal bars, one per assessed category, as inline SVG (no script, no CDN)."""
    rows = [c for c in result.categories]
    height = 22 * len(rows) + 10
    out = [
        f'<svg class="chart" role="img" aria-label="Category scores" viewBox="0 0 520 {height}" '
        f'xmlns="http://www.w3.org/2000/svg">'
    ]
    for i, c in enumerate(rows):
        y = 5 + i * 22
        out.append(f'<text x="0" y="{y + 14}" class="label">{_esc(c.category)}</text>')
        if c.assessed and c.score is not None:
            width = max(2, int(3 * c.score))
            color = "#15803d" if c.score >= 90 else "#b45309" if c.score >= 70 else "#b91c1c"
            out.append(
                f'<rect x="180" y="{y + 2}" width="{width}" height="16" fill="{color}" rx="2">'
                f"<title>{_esc(c.category)}: {c.score:.1f}</title></rect>"
                f'<text x="{186 + width}" y="{y + 14}" class="value">{c.score:.0f}</text>'
            )
        else:
            out.append(f'<text x="180" y="{y + 14}" class="muted">not assessed</text>')
    out.append("</svg>")
    return "".join(out)


def _history_chart(scans: list[dict[str, Any]]) -> str:
    """Score over time for one target (oldest left), as inline SVG."""
    points = [s for s in scans if s.get("score") is not None]
    if not points:
        return '<p class="muted">No finished scan yet.</p>'
    width, height = 520, 160
    step = (width - 40) / max(1, len(points) - 1)
    coords = [
        (20 + i * step, height - 20 - (height - 40) * float(s["score"]) / 100)
        for i, s in enumerate(points)
    ]
    line = " ".join(f"{x:.1f},{y:.1f}" for x, y in coords)
    dots = "".join(
        f'<circle cx="{x:.1f}" cy="{y:.1f}" r="4"><title>{_esc(s["created_at"])}: '
        f"{_esc(str(s['grade']))} {float(s['score']):.1f}</title></circle>"
        for (x, y), s in zip(coords, points, strict=True)
    )
    return (
        f'<svg class="chart history" role="img" aria-label="Score over time" '
        f'viewBox="0 0 {width} {height}" xmlns="http://www.w3.org/2000/svg">'
        f'<line x1="20" y1="{height - 20}" x2="{width - 20}" y2="{height - 20}" class="axis"/>'
        f'<polyline points="{line}" class="line"/>{dots}</svg>'
    )

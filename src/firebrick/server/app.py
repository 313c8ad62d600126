"""The ASGI app: REST API, dashboard, static assets, security headers, JSON errors."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib import resources
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from firebrick import __version__
from firebrick.server.api import error_response, router
from firebrick.server.dashboard import Dashboard
from firebrick.server.service import Service, ServiceError

# Everything the dashboard loads comes from here: no CDN, no inline script or style.
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
    "Cache-Control": "no-store",
}


def create_app(service: Service, *, start_service: bool = True) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if start_service:
            await service.start()
        try:
            yield
        finally:
            if start_service:
                await service.stop()

    app = FastAPI(
        title="firebrick",
        version=__version__,
        description="Black-box API security scanning as a service: scans, reports, monitors, "
        "signed webhooks. Authenticate with `Authorization: Bearer <API key>`.",
        openapi_url="/api/v1/openapi.json",
        docs_url=None,  # Swagger UI would load assets from a CDN; the document is enough
        redoc_url=None,
        lifespan=lifespan,
    )
    dashboard = Dashboard(service)
    app.include_router(router(service, dashboard.session_key))
    app.include_router(dashboard.router())
    static = resources.files("firebrick.server") / "static"
    app.mount("/static", StaticFiles(directory=str(static)), name="static")

    @app.middleware("http")
    async def security_headers(request: Request, call_next: Any) -> Any:
        response = await call_next(request)
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        window = getattr(request.state, "ratelimit", None)
        if window:  # the caller's key's limit (IETF RateLimit header fields)
            limit, remaining, reset = window
            response.headers["RateLimit-Limit"] = str(limit)
            response.headers["RateLimit-Remaining"] = str(max(0, remaining))
            response.headers["RateLimit-Reset"] = str(reset)
        if request.url.scheme == "https":
            response.headers.setdefault("Strict-Transport-Security", "max-age=31536000")
        return response

    @app.exception_handler(ServiceError)
    async def service_error(request: Request, exc: ServiceError) -> Any:
        if not request.url.path.startswith("/api/") and exc.status == 401:
            return dashboard.login_redirect(request)
        if not request.url.path.startswith("/api/"):
            return dashboard.error_page(request, exc)
        return error_response(exc)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> Any:
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(x) for x in first.get("loc", ()) if x != "body")
        message = f"{where}: {first.get('msg', 'invalid')}" if where else "invalid request"
        return JSONResponse(
            {"error": {"code": "invalid_request", "message": message}}, status_code=422
        )

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Any:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return JSONResponse(
            {"error": {"code": code, "message": str(exc.detail)}}, status_code=exc.status_code
        )

    return app

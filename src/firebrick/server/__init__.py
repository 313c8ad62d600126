"""`firebrick serve`: the scanning service (REST API, dashboard, monitors, webhooks).

See docs/server.md. ``create_app`` builds the ASGI app around a ``Service``. The names are
imported on use, so that ``firebrick.server.client`` (the CLI's side) does not load FastAPI.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from firebrick.server.app import create_app
    from firebrick.server.service import Service, ServiceConfig

__all__ = ["Service", "ServiceConfig", "create_app"]


def __getattr__(name: str) -> Any:
    if name == "create_app":
        from firebrick.server.app import create_app

        return create_app
    if name in ("Service", "ServiceConfig"):
        from firebrick.server import service

        return getattr(service, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

"""`firebrick serve`: the scanning service (REST API, dashboard, monitors, webhooks).

See docs/server.md. ``create_app`` builds the ASGI app around a ``Service``.
"""

from firebrick.server.app import create_app
from firebrick.server.service import Service, ServiceConfig

__all__ = ["Service", "ServiceConfig", "create_app"]

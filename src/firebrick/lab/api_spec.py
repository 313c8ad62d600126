"""OpenAPI 3.1 fragments for the lab's user/object/admin API (lab/api_lab.py), merged into the
document lab/openapi.py serves. The same document for both variants: only the views differ.

Not in the spec on purpose: /api/v1 and /api/v1/catalog (an old version left running),
/metrics and /docs (found by probing), HEAD of /api/reports.
"""

from __future__ import annotations

from typing import Any

from firebrick.lab.api_lab import SPEC_EXAMPLE_TOKEN
from firebrick.lab.spec_parts import json_response

_BEARER: list[dict[str, list[str]]] = [{"bearerAuth": []}]


_ok = json_response


def _denied() -> dict[str, Any]:
    return {"401": {"description": "Authentication required"}}


def _get(
    op_id: str,
    summary: str,
    tags: list[str],
    *,
    secured: bool = True,
    params: list[dict[str, Any]] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    op: dict[str, Any] = {
        "operationId": op_id,
        "summary": summary,
        "tags": tags,
        "responses": {"200": _ok(), **(_denied() if secured else {})},
    }
    if secured:
        op["security"] = _BEARER
    if params:
        op["parameters"] = params
    op.update(extra)
    return {"get": op}


def _id_param(name: str, example: int) -> dict[str, Any]:
    return {
        "name": name,
        "in": "path",
        "required": True,
        "schema": {"type": "integer"},
        "example": example,
    }


def paths() -> dict[str, Any]:
    login_body = {
        "type": "object",
        "required": ["username", "password"],
        "properties": {
            "username": {"type": "string", "example": "alice"},
            "password": {"type": "string", "format": "password", "example": "correct-horse"},
        },
    }
    token_schema = {
        "type": "object",
        "properties": {"token": {"type": "string"}, "token_type": {"type": "string"}},
    }
    me_put = {
        "type": "object",
        "properties": {
            "display_name": {"type": "string", "example": "Alice"},
            "email": {"type": "string", "format": "email", "example": "alice@example.com"},
        },
    }
    limit = {
        "name": "limit",
        "in": "query",
        "schema": {"type": "integer", "maximum": 100},
        "example": 20,
    }
    offset = {"name": "offset", "in": "query", "schema": {"type": "integer"}, "example": 0}
    return {
        "/api/me": {
            **_get("getMe", "The caller's account", ["users"]),
            "put": {
                "operationId": "updateMe",
                "summary": "Update the caller's profile",
                "tags": ["users"],
                "security": _BEARER,
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": me_put}},
                },
                "responses": {"200": _ok(), **_denied()},
            },
        },
        "/api/auth/login": {
            "post": {
                "operationId": "login",
                "summary": "Exchange a username and password for a bearer token",
                "tags": ["auth"],
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": login_body}},
                },
                "responses": {
                    "200": {
                        "description": "A token",
                        "content": {"application/json": {"schema": token_schema}},
                    },
                    "401": {"description": "Invalid credentials"},
                },
            }
        },
        "/api/me/preferences": _get("getPreferences", "The caller's preferences", ["users"]),
        "/api/reports": _get("listReports", "Financial reports", ["reports"]),
        "/api/orders": _get("listOrders", "The caller's orders", ["orders"]),
        "/api/orders/{order_id}": _get(
            "getOrder", "One order", ["orders"], params=[_id_param("order_id", 1001)]
        ),
        "/api/invoices/{invoice_id}": _get(
            "getInvoice", "One invoice", ["billing"], params=[_id_param("invoice_id", 502)]
        ),
        "/api/legacy/export": _get("legacyExport", "Export (legacy clients)", ["reports"]),
        "/api/admin/users": _get("adminListUsers", "All users (administrators)", ["admin"]),
        "/api/admin/stats": _get("adminStats", "Business statistics (administrators)", ["admin"]),
        "/api/events": _get("listEvents", "Order events", ["orders"], secured=False),
        "/api/products": _get(
            "listProducts", "Product catalogue", ["catalog"], secured=False, params=[limit, offset]
        ),
        "/api/v2/catalog": _get("getCatalog", "Catalogue categories", ["catalog"], secured=False),
        "/api/catalog/legacy": _get(
            "getCatalogLegacy",
            "Catalogue categories (old)",
            ["catalog"],
            secured=False,
            deprecated=True,
        ),
    }


def components() -> dict[str, Any]:
    return {
        "securitySchemes": {
            "bearerAuth": {
                "type": "http",
                "scheme": "bearer",
                "bearerFormat": "JWT",
                # A sample token in the prose, as many API docs have (curl examples).
                "description": "POST /api/auth/login returns the token; send it as "
                f"`Authorization: Bearer {SPEC_EXAMPLE_TOKEN}`.",
            }
        }
    }

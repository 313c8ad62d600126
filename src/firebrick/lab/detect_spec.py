"""OpenAPI fragment for the endpoints of detect_lab.py (merged by lab/openapi.py)."""

from __future__ import annotations

from typing import Any

from firebrick.lab.detect_lab import DEBUG_PAGES
from firebrick.lab.spec_parts import json_response, query_param


def _json_body(properties: dict[str, Any], required: list[str]) -> dict[str, Any]:
    return {
        "required": True,
        "content": {
            "application/json": {
                "schema": {"type": "object", "required": required, "properties": properties}
            }
        },
    }


_BEARER: list[dict[str, list[str]]] = [{"bearerAuth": []}]


def _path(name: str, example: Any, kind: str = "string") -> dict[str, Any]:
    return {
        "name": name,
        "in": "path",
        "required": True,
        "schema": {"type": kind},
        "example": example,
    }


def _get(op_id: str, summary: str, params: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    tags = extra.pop("tags", ["shop"])
    return {
        "get": {
            "operationId": op_id,
            "summary": summary,
            "tags": tags,
            "parameters": params,
            "responses": {"200": extra.pop("response", json_response())},
            **extra,
        }
    }


def paths() -> dict[str, Any]:
    out: dict[str, Any] = {
        "/api/shop/products": _get(
            "shopProducts", "Products of a category", [query_param("category", "Category", "home")]
        ),
        "/api/shop/orders/search": {
            "post": {
                "operationId": "searchOrders",
                "summary": "Search orders",
                "tags": ["shop"],
                "requestBody": _json_body(
                    {
                        "filter": {
                            "type": "object",
                            "properties": {
                                "customer": {"type": "string", "example": "ada"},
                                "limit": {"type": "integer", "example": 5},
                            },
                        }
                    },
                    ["filter"],
                ),
                "responses": {"200": json_response()},
            }
        },
        "/api/shop/login": {
            "post": {
                "operationId": "shopLogin",
                "summary": "Log in to the shop",
                "tags": ["shop"],
                "requestBody": _json_body(
                    {
                        "username": {"type": "string", "example": "ada"},
                        "password": {"type": "string", "example": "hunter2"},
                    },
                    ["username", "password"],
                ),
                "responses": {"200": json_response(), "401": json_response()},
            }
        },
        "/api/shop/report": _get(
            "salesReport", "A titled sales report", [query_param("title", "Report title", "sales")]
        ),
        "/api/shop/label": _get(
            "label",
            "A label from the X-Label header",
            [
                {
                    "name": "X-Label",
                    "in": "header",
                    "required": True,
                    "schema": {"type": "string"},
                    "example": "new",
                }
            ],
        ),
        "/shop/search": {
            **_get(
                "shopSearchPage",
                "The shop's HTML search page",
                [query_param("q", "Search text", "lamp")],
                response={
                    "description": "HTML",
                    "content": {"text/html": {"schema": {"type": "string"}}},
                },
            ),
            "post": {
                "operationId": "shopSearchForm",
                "summary": "The search form, posted",
                "tags": ["shop"],
                "requestBody": {
                    "content": {
                        "application/x-www-form-urlencoded": {
                            "schema": {
                                "type": "object",
                                "properties": {"q": {"type": "string", "example": "lamp"}},
                            }
                        }
                    }
                },
                "responses": {"200": {"description": "HTML"}},
            },
        },
        "/api/partner/catalog": _get("partnerCatalog", "Catalogue for partner sites", []),
        "/api/shop/categories/{slug}": _get(
            "shopCategory", "Products of a category (by slug)", [_path("slug", "home")]
        ),
        "/api/shop/banner": _get(
            "shopBanner",
            "A banner in the visitor's theme (cookie)",
            [
                {
                    "name": "theme",
                    "in": "cookie",
                    "required": False,
                    "schema": {"type": "string"},
                    "example": "light",
                }
            ],
        ),
        "/api/vault/guest": _get("vaultGuest", "A guest session token", [], tags=["vault"]),
        "/api/vault/items": _get(
            "vaultItems", "The caller's vault", [], security=_BEARER, tags=["vault"]
        ),
        "/api/vault/v2/guest": _get(
            "vaultGuestV2", "A guest session token (RS256)", [], tags=["vault"]
        ),
        "/api/vault/v2/items": _get(
            "vaultItemsV2",
            "The caller's vault (RS256 tokens)",
            [],
            security=_BEARER,
            tags=["vault"],
        ),
        "/api/shop/me": {
            **_get("shopMe", "The caller's own profile", [], security=_BEARER),
            "patch": {
                "operationId": "updateShopMe",
                "summary": "Update the caller's profile",
                "tags": ["shop"],
                "requestBody": _json_body(
                    {"display_name": {"type": "string", "example": "Ada"}}, []
                ),
                "security": _BEARER,
                "responses": {"200": json_response()},
            },
        },
        "/api/shop/accounts/{name}": _get(
            "shopAccount", "A registered account", [_path("name", "grace")]
        ),
        "/api/shop/payments": {
            "post": {
                "operationId": "createPayment",
                "summary": "Pay an amount",
                "tags": ["shop"],
                "requestBody": _json_body(
                    {
                        "amount": {"type": "number", "example": 12.5},
                        "currency": {"type": "string", "example": "EUR"},
                    },
                    ["amount"],
                ),
                "security": _BEARER,
                "responses": {"201": json_response()},
            }
        },
        "/api/shop/payments/{pay_id}": {
            **_get("getPayment", "A payment", [_path("pay_id", 1, "integer")], security=_BEARER),
            "delete": {
                "operationId": "deletePayment",
                "summary": "Cancel a payment",
                "tags": ["shop"],
                "parameters": [_path("pay_id", 1, "integer")],
                "security": _BEARER,
                "responses": {"204": {"description": "cancelled"}},
            },
        },
        "/api/shop/users/{name}/profile": {
            **_get(
                "userProfile", "A user's public profile", [_path("name", "ada")], security=_BEARER
            ),
            "put": {
                "operationId": "updateUserProfile",
                "summary": "Update a user's profile",
                "tags": ["shop"],
                "parameters": [_path("name", "ada")],
                "requestBody": _json_body({"bio": {"type": "string", "example": "hello"}}, []),
                "security": _BEARER,
                "responses": {"200": json_response()},
            },
        },
        "/api/staff/reports": _get(
            "staffReports", "Monthly reports (staff role)", [], security=_BEARER, tags=["staff"]
        ),
        "/api/shop/auth/register": {
            "post": {
                "operationId": "authRegister",
                "summary": "Create an account",
                "tags": ["shop"],
                "requestBody": _json_body(
                    {
                        "username": {"type": "string", "example": "grace"},
                        "password": {"type": "string", "example": "a-long-passphrase"},
                    },
                    ["username", "password"],
                ),
                "responses": {"201": json_response()},
            }
        },
        "/shop/help/login": {
            "post": {
                "operationId": "helpLoginDemo",
                "summary": "Help page: a demo sign-in form",
                "tags": ["shop"],
                "requestBody": {
                    "content": {
                        "application/x-www-form-urlencoded": {
                            "schema": {
                                "type": "object",
                                "properties": {
                                    "username": {"type": "string", "example": "ada"},
                                    "password": {"type": "string", "example": "x"},
                                },
                            }
                        }
                    }
                },
                "responses": {"200": {"description": "HTML"}},
            }
        },
        "/api/shop/settings": _get("shopSettings", "The caller's settings", [], security=_BEARER),
        "/api/shop/users/me": _get("shopUserMe", "The caller's user record", [], security=_BEARER),
        "/api/shop/users/{name}": {
            **_get(
                "shopUser",
                "A user by name",
                [
                    {
                        "name": "name",
                        "in": "path",
                        "required": True,
                        "schema": {"type": "string"},
                        "example": "ada",
                    }
                ],
                security=_BEARER,
            ),
            "delete": {
                "operationId": "deleteShopUser",
                "summary": "Delete a user (staff)",
                "tags": ["shop"],
                "parameters": [
                    {"name": "name", "in": "path", "required": True, "schema": {"type": "string"}}
                ],
                "security": _BEARER,
                "responses": {"204": {"description": "deleted"}},
            },
        },
    }
    for framework in DEBUG_PAGES:
        out[f"/api/fw/{framework}/items"] = _get(
            f"{framework}Items",
            f"Items ({framework} service)",
            [query_param("page", "Page number", "1")],
        )
    return out


def leaky_examples(doc: dict[str, Any]) -> None:
    """The vulnerable variant's document: a live-looking key in an example, beside an example
    password (the evidence must show where the key is without printing the password)."""
    from firebrick.lab.web_lab import FAKE_STRIPE_KEY

    body = doc["paths"]["/api/shop/login"]["post"]["requestBody"]["content"]["application/json"]
    body["example"] = {
        "username": "ada",
        "password": LEAKY_EXAMPLE_PASSWORD,
        "payment_key": FAKE_STRIPE_KEY,
    }


LEAKY_EXAMPLE_PASSWORD = "lab-example-" + "pass-4411"

"""The OpenAPI 3.1 document the lab serves at /openapi.json (same for both variants)."""

from __future__ import annotations

from typing import Any

from firebrick.lab.spec_parts import json_response, query_param

_ERROR = {"$ref": "#/components/schemas/Error"}


def _query(name: str, description: str, example: str) -> dict[str, Any]:
    return query_param(name, description, example, fmt="uri")


_json = json_response


def _errors(*codes: str) -> dict[str, Any]:
    text = {
        "400": "The input is missing or not allowed",
        "502": "The upstream fetch failed",
    }
    return {code: _json(_ERROR, text[code]) for code in codes}


def build_spec(title: str = "Firebrick Lab Media API", version: str = "1.4.0") -> dict[str, Any]:
    """The document, as a dict; every endpoint of the lab with realistic names."""
    binary = {"description": "The fetched image", "content": {"image/*": {}}}
    paths: dict[str, Any] = {
        "/api/health": {
            "get": {
                "operationId": "getHealth",
                "summary": "Liveness probe",
                "tags": ["ops"],
                "responses": {"200": _json({"type": "object"})},
            }
        },
        "/api/image": {
            "get": {
                "operationId": "fetchImage",
                "summary": "Fetch a remote image and return it (thumbnail proxy)",
                "tags": ["media"],
                "parameters": [_query("url", "Image URL", "https://images.example.com/cat.png")],
                "responses": {"200": binary, **_errors("400", "502")},
            }
        },
        "/api/webhooks": {
            "post": {
                "operationId": "registerWebhook",
                "summary": "Register a webhook; a test event is delivered to it immediately",
                "tags": ["webhooks"],
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "required": ["callback_url"],
                                "properties": {
                                    "callback_url": {
                                        "type": "string",
                                        "format": "uri",
                                        "example": "https://hooks.example.com/firebrick",
                                    },
                                    "event": {"type": "string", "example": "order.created"},
                                },
                            }
                        }
                    },
                },
                "responses": {
                    "202": _json(
                        {"type": "object", "properties": {"status": {"type": "string"}}},
                        "Accepted",
                    ),
                    **_errors("400", "502"),
                },
            }
        },
        "/api/redirect": {
            "get": {
                "operationId": "redirectTo",
                "summary": "Send the browser on to another page after login",
                "tags": ["auth"],
                "parameters": [
                    _query("target", "Where to go next", "https://www.example.com/welcome")
                ],
                "responses": {"302": {"description": "Redirect"}, **_errors("400")},
            }
        },
        "/api/preview": {
            "get": {
                "operationId": "previewLink",
                "summary": "Build a link preview (title and content) for a URL",
                "tags": ["media"],
                "parameters": [_query("link", "Page to preview", "https://www.example.com/")],
                "responses": {"200": _json({"type": "object"}), **_errors("400", "502")},
            }
        },
        "/api/avatar": {
            "get": {
                "operationId": "fetchAvatar",
                "summary": "Import a profile picture from a URL",
                "tags": ["users"],
                "parameters": [_query("src", "Avatar URL", "https://avatars.example.com/u/1.png")],
                "responses": {"200": binary, **_errors("400", "502")},
            }
        },
        "/api/feed": {
            "get": {
                "operationId": "readFeed",
                "summary": "Read an RSS/Atom feed",
                "tags": ["media"],
                "parameters": [_query("feed_url", "Feed URL", "https://blog.example.com/feed.xml")],
                "responses": {"200": _json({"type": "object"}), **_errors("400", "502")},
            }
        },
        "/api/import": {
            "post": {
                "operationId": "importDocument",
                "summary": "Import a document from a URL",
                "tags": ["documents"],
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/x-www-form-urlencoded": {
                            "schema": {
                                "type": "object",
                                "required": ["source_url"],
                                "properties": {
                                    "source_url": {
                                        "type": "string",
                                        "format": "uri",
                                        "example": "https://docs.example.com/report.pdf",
                                    }
                                },
                            }
                        }
                    },
                },
                "responses": {
                    "200": _json(
                        {"type": "object", "properties": {"imported": {"type": "integer"}}}
                    ),
                    **_errors("400", "502"),
                },
            }
        },
        "/api/stock": {
            "get": {
                "operationId": "getStock",
                "summary": "Stock level of a warehouse (from the inventory service)",
                "tags": ["inventory"],
                "parameters": [
                    {
                        "name": "warehouse",
                        "in": "query",
                        "required": True,
                        "schema": {"type": "string", "enum": ["north", "south", "east"]},
                        "example": "north",
                    }
                ],
                "responses": {"200": _json({"type": "object"}), **_errors("400", "502")},
            }
        },
        "/graphql": {
            "post": {
                "operationId": "graphql",
                "summary": "GraphQL endpoint (introspection enabled)",
                "tags": ["graphql"],
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "required": ["query"],
                                "properties": {
                                    "query": {"type": "string", "example": "{ health }"},
                                    "variables": {"type": "object"},
                                    "operationName": {"type": "string"},
                                },
                            }
                        }
                    },
                },
                "responses": {"200": _json({"type": "object"})},
            }
        },
    }
    from firebrick.lab import web_spec  # issue 5's endpoints

    paths.update(web_spec.paths())
    from firebrick.lab import api_spec  # issue 4's endpoints

    paths.update(api_spec.paths())
    from firebrick.lab import detect_spec  # issue 14's endpoints

    paths.update(detect_spec.paths())
    schemes = {
        **web_spec.components().get("securitySchemes", {}),
        **api_spec.components()["securitySchemes"],
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": title,
            "version": version,
            "description": "Media, webhook and document import API (firebrick lab).",
        },
        "paths": paths,
        "components": {
            "schemas": {
                "Error": {
                    "type": "object",
                    "properties": {"error": {"type": "string"}, "detail": {"type": "string"}},
                    "required": ["error"],
                }
            },
            **web_spec.components(),
            "securitySchemes": schemes,
        },
    }

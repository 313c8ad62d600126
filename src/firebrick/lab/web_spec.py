"""OpenAPI fragments for the endpoints of web_lab.py and llm_lab.py (merged by lab/openapi.py).

The document is the same for both variants: it documents what the hardened API means to offer
(GET only on /api/web/links, JSON bodies on /api/web/notes, a bearer token on /api/chat).
"""

from __future__ import annotations

from typing import Any

from firebrick.lab.spec_parts import json_response, query_param

_ok = json_response


def _q(
    name: str, example: str, description: str, fmt: str | None = None, required: bool = True
) -> dict[str, Any]:
    return query_param(name, description, example, fmt, required)


def paths() -> dict[str, Any]:
    return {
        "/api/web/search": {
            "get": {
                "operationId": "searchProducts",
                "summary": "Search the product catalogue",
                "tags": ["web"],
                "parameters": [_q("q", "lamp", "Text to search for")],
                "responses": {"200": _ok()},
            }
        },
        "/api/web/greet": {
            "get": {
                "operationId": "greet",
                "summary": "A greeting for a name",
                "tags": ["web"],
                "parameters": [_q("name", "Ada", "Who to greet")],
                "responses": {"200": _ok()},
            }
        },
        "/api/web/notes": {
            "post": {
                "operationId": "createNote",
                "summary": "Create a note",
                "tags": ["web"],
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "required": ["title"],
                                "properties": {
                                    "title": {"type": "string", "example": "Shopping"},
                                    "body": {"type": "string", "example": "milk, bread"},
                                },
                            }
                        }
                    },
                },
                "responses": {
                    "201": _ok(description="Created"),
                    "400": _ok(description="Invalid body"),
                    "415": _ok(description="Not JSON"),
                },
            }
        },
        "/api/web/links": {
            "get": {
                "operationId": "getLinks",
                "summary": "Links to this API's resources",
                "tags": ["web"],
                "responses": {"200": _ok()},
            }
        },
        "/api/web/session": {
            "get": {
                "operationId": "startSession",
                "summary": "Start a browser session (sets a cookie)",
                "tags": ["web"],
                "responses": {"200": _ok()},
            }
        },
        "/api/profile": {
            "get": {
                "operationId": "getProfile",
                "summary": "The current user's profile",
                "tags": ["users"],
                "security": [{"bearerAuth": []}],
                "responses": {
                    "200": _ok(
                        {
                            "type": "object",
                            "properties": {
                                "name": {"type": "string", "example": "Ada Lovelace"},
                                "email": {"type": "string", "example": "a***@example.com"},
                            },
                        }
                    )
                },
            }
        },
        "/api/web/unfurl": {
            "get": {
                "operationId": "unfurlLink",
                "summary": "Fetch a page for a link card and return it",
                "tags": ["media"],
                "parameters": [_q("url", "https://www.example.com/", "Page to unfurl", fmt="uri")],
                "responses": {
                    "200": {"description": "The page", "content": {"text/html": {}}},
                    "400": _ok(description="URL not allowed"),
                    "502": _ok(description="Fetch failed"),
                },
            }
        },
        "/api/chat": {
            "post": {
                "operationId": "chat",
                "summary": "Chat with the support assistant (LLM)",
                "tags": ["llm"],
                "security": [{"bearerAuth": []}],
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "required": ["messages"],
                                "properties": {
                                    "messages": {
                                        "type": "array",
                                        "items": {
                                            "type": "object",
                                            "properties": {
                                                "role": {
                                                    "type": "string",
                                                    "enum": ["user", "assistant"],
                                                },
                                                "content": {"type": "string"},
                                            },
                                        },
                                        "example": [{"role": "user", "content": "Hello"}],
                                    }
                                },
                            }
                        }
                    },
                },
                "responses": {
                    "200": _ok(),
                    "400": _ok(description="Invalid body"),
                    "401": _ok(description="Authentication required"),
                },
            }
        },
    }


def components() -> dict[str, Any]:
    return {"securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer"}}}

"""Building blocks of the lab's OpenAPI document, shared by its fragments (openapi.py,
api_spec.py, web_spec.py)."""

from __future__ import annotations

from typing import Any


def json_response(schema: dict[str, Any] | None = None, description: str = "OK") -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": schema or {"type": "object"}}},
    }


def query_param(
    name: str,
    description: str,
    example: str,
    fmt: str | None = None,
    required: bool = True,
) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "string"}
    if fmt:
        schema["format"] = fmt
    return {
        "name": name,
        "in": "query",
        "required": required,
        "description": description,
        "schema": schema,
        "example": example,
    }

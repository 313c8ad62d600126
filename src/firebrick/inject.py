"""Build a valid request for an operation with chosen values placed in chosen inputs.

Every active check needs the same thing: "send this operation, with this value in that input and
plausible values everywhere else". The values of inputs a check does not target come from the
spec (example, default, enum) or from the schema's type.
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from firebrick.model import Exchange, InputKind, Location, Operation, Param


@dataclass
class RequestSpec:
    method: str
    path: str
    params: list[tuple[str, str]] = field(default_factory=list)
    headers: dict[str, str] = field(default_factory=dict)
    json: Any = None
    data: dict[str, str] | None = None


def placeholder(param: Param, url_filler: Callable[[], str] | None = None) -> Any:
    """A plausible value for an input the check is not targeting."""
    schema = param.schema or {}
    for key in ("example", "default"):
        if schema.get(key) is not None:
            return schema[key]
    if param.example is not None:
        return param.example
    if schema.get("enum"):
        return schema["enum"][0]
    if InputKind.URL in param.kinds and url_filler is not None:
        # Never a real third-party URL: a vulnerable target would fetch it.
        return url_filler()
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "string")
    if kind in ("integer", "number") or InputKind.PORT in param.kinds:
        return 1 if InputKind.PORT not in param.kinds else 80
    if kind == "boolean":
        return False
    if kind == "array":
        return []
    if kind == "object":
        return {}
    if InputKind.HOST in param.kinds:
        return "localhost.invalid"
    return "firebrick"


def _set_path(body: dict[str, Any], keys: tuple[str, ...], value: Any) -> None:
    """Place value at keys; discovery writes "[]" for "the first item of an array"."""
    node: Any = body
    for key, nxt_key in itertools.pairwise(keys):
        child: Any = [] if nxt_key == "[]" else {}
        if key == "[]":
            if not node:
                node.append(child)
            elif not isinstance(node[0], type(child)):
                node[0] = child
            node = node[0]
            continue
        if not isinstance(node.get(key), type(child)):
            node[key] = child
        node = node[key]
    if keys[-1] == "[]":
        node[:] = [value]
    else:
        node[keys[-1]] = value


def _graphql_literal_type(type_str: str) -> str:
    return type_str  # introspection already gives e.g. "String!", "[String]", "Int"


def build(
    op: Operation,
    values: dict[str, Any],
    url_filler: Callable[[], str] | None = None,
    extra_headers: dict[str, str] | None = None,
) -> RequestSpec:
    """values maps Param.display (e.g. "query:url", "json:hook.url") to the value to send.

    Inputs named in values that the operation does not declare (guessed query params, probe
    headers) are sent too, by their location prefix.
    """
    spec = RequestSpec(method=op.method, path=op.path, headers=dict(extra_headers or {}))
    declared = {p.display for p in op.params}
    body: dict[str, Any] = {}
    form: dict[str, str] = {}
    gql_vars: dict[str, Any] = {}
    path = op.path
    for param in op.params:
        if param.display in values:
            value = values[param.display]
        elif (
            param.location in (Location.PATH, Location.GRAPHQL)
            or param.required
            or param.location
            in (
                Location.JSON,
                Location.FORM,
            )
        ):
            if param.guessed:
                continue
            value = placeholder(param, url_filler)
        else:
            continue
        if param.location is Location.PATH:
            path = path.replace("{" + param.name + "}", str(value))
        elif param.location is Location.QUERY:
            spec.params.append((param.name, _text(value)))
        elif param.location is Location.HEADER:
            spec.headers[param.name] = _text(value)
        elif param.location is Location.COOKIE:
            cookie = spec.headers.get("Cookie")
            spec.headers["Cookie"] = (
                cookie + "; " if cookie else ""
            ) + f"{param.name}={_text(value)}"
        elif param.location is Location.JSON:
            _set_path(body, param.json_path or (param.name,), value)
        elif param.location is Location.FORM:
            form[param.name] = _text(value)
        elif param.location is Location.GRAPHQL:
            gql_vars[param.name] = _coerce_graphql(
                value, op.graphql.arguments.get(param.name, "String") if op.graphql else "String"
            )
    for display, value in values.items():  # undeclared inputs: guessed params and probe headers
        if display in declared:
            continue
        loc, _, name = display.partition(":")
        if loc == "query":
            spec.params.append((name, _text(value)))
        elif loc == "header":
            spec.headers[name] = _text(value)
    spec.path = re.sub(r"\{[^}]+\}", "1", path)  # any path param left: a harmless id
    if op.graphql is not None:
        gf = op.graphql
        decl = ", ".join(
            f"${n}: {_graphql_literal_type(t)}" for n, t in gf.arguments.items() if n in gql_vars
        )
        args = ", ".join(f"{n}: ${n}" for n in gf.arguments if n in gql_vars)
        call = f"{gf.name}({args})" if args else gf.name
        query = f"{gf.operation_type}{'(' + decl + ')' if decl else ''} {{ {call} {gf.selection} }}"
        spec.method = "POST"
        # op.path is where to send it (an absolute URL when the target URL is the endpoint)
        spec.path = op.path if "://" in op.path else gf.endpoint_path
        spec.json = {"query": query, "variables": gql_vars}
    elif op.body_content_type and "form" in op.body_content_type:
        spec.data = form
    elif body or op.body_content_type == "application/json":
        spec.json = body
    return spec


def _text(value: Any) -> str:
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _coerce_graphql(value: Any, type_str: str) -> Any:
    base = type_str.strip("[]!")
    if base == "Int":
        try:
            return int(value)
        except (TypeError, ValueError):
            return 1
    if base == "Float":
        try:
            return float(value)
        except (TypeError, ValueError):
            return 1.0
    if base == "Boolean":
        return bool(value)
    return value if isinstance(value, str) else _text(value)


async def send(
    ctx_client: Any,
    op: Operation,
    values: dict[str, Any],
    *,
    check: str,
    url_filler: Callable[[], str] | None = None,
    extra_headers: dict[str, str] | None = None,
    follow_redirects: bool = False,
) -> Exchange:
    """Build and send through the ScopedClient (charged to the check and the operation)."""
    spec = build(op, values, url_filler, extra_headers)
    return await ctx_client.request(
        spec.method,
        spec.path,
        params=spec.params or None,
        headers=spec.headers or None,
        json=spec.json,
        data=spec.data,
        check=check,
        op_key=op.key,
        follow_redirects=follow_redirects,
    )

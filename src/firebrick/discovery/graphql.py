"""GraphQL endpoint detection and introspection.

Detection sends ``{__typename}``, a query every GraphQL server answers and that reads no data.
Introspection is the standard query from graphql-core; each Query and Mutation field becomes an
Operation whose arguments are GRAPHQL params.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from graphql import get_introspection_query

from firebrick.model import GraphQLField, Location, Operation, Param
from firebrick.safejson import safe_json_loads

if TYPE_CHECKING:
    from firebrick.discovery.crawl import DiscoveryClient

__all__ = [
    "GRAPHQL_PATHS",
    "GraphQLResult",
    "detect_graphql",
    "discover_graphql",
    "operations_from_introspection",
    "type_string",
]

GRAPHQL_PATHS: tuple[str, ...] = ("/graphql", "/api/graphql", "/graphql/v1")
_MAX_DETECT = 4  # detection requests at most
_INPUT_DEPTH = 3

_SCALAR_SCHEMA: dict[str, dict[str, Any]] = {
    "String": {"type": "string"},
    "ID": {"type": "string"},
    "Int": {"type": "integer"},
    "Float": {"type": "number"},
    "Boolean": {"type": "boolean"},
}


@dataclass
class GraphQLResult:
    endpoint: str | None = None  # path from the origin, e.g. /graphql
    introspection: bool | None = None  # None: not tried
    operations: list[Operation] = field(default_factory=list)


def _json(text: str) -> Any:
    return safe_json_loads(text)


async def detect_graphql(client: DiscoveryClient, candidates: Iterable[str]) -> str | None:
    """The first candidate path that answers ``{__typename}`` like a GraphQL server."""
    tried: list[str] = []
    for path in candidates:
        if path in tried:
            continue
        if len(tried) >= _MAX_DETECT:
            break
        tried.append(path)
        ex = await client.request("POST", client.origin + path, json={"query": "{__typename}"})
        if ex is None:
            break
        body = _json(ex.body_text) if ex.status is not None else None
        data = body.get("data") if isinstance(body, dict) else None
        if isinstance(data, dict) and isinstance(data.get("__typename"), str):
            return path
    return None


def type_string(ref: dict[str, Any] | None) -> str:
    """GraphQL type reference from introspection -> ``[String!]!`` notation."""
    if not ref:
        return ""
    kind = ref.get("kind")
    if kind == "NON_NULL":
        return type_string(ref.get("ofType")) + "!"
    if kind == "LIST":
        return "[" + type_string(ref.get("ofType")) + "]"
    return str(ref.get("name") or "")


def _named(ref: dict[str, Any] | None) -> dict[str, Any]:
    while ref and ref.get("kind") in ("NON_NULL", "LIST"):
        ref = ref.get("ofType")
    return ref or {}


class _Types:
    def __init__(self, schema: dict[str, Any]) -> None:
        self.by_name: dict[str, dict[str, Any]] = {
            t["name"]: t for t in schema.get("types") or [] if isinstance(t, dict) and t.get("name")
        }

    def selection(self, ref: dict[str, Any] | None) -> str:
        named = _named(ref)
        if named.get("kind") in ("SCALAR", "ENUM", None):
            return ""
        full = self.by_name.get(named.get("name") or "", {})
        if full.get("kind") in ("OBJECT", "INTERFACE"):
            names = [
                f["name"]
                for f in full.get("fields") or []
                if not any(a["type"].get("kind") == "NON_NULL" for a in f.get("args") or [])
                and _named(f.get("type")).get("kind") in ("SCALAR", "ENUM")
            ]
            if names:
                return "{ " + " ".join(names) + " }"
        return "{ __typename }"  # unions, or objects with no scalar field

    def schema_for(self, ref: dict[str, Any] | None, depth: int = 0) -> dict[str, Any]:
        """A JSON-schema-like description of an argument type, so checks can build values."""
        ts = type_string(ref)
        named = _named(ref)
        name = named.get("name") or ""
        base: dict[str, Any]
        if name in _SCALAR_SCHEMA:
            base = dict(_SCALAR_SCHEMA[name])
        elif named.get("kind") == "ENUM":
            values = [v["name"] for v in self.by_name.get(name, {}).get("enumValues") or []]
            base = {"type": "string", "enum": values}
        elif named.get("kind") == "INPUT_OBJECT" and depth < _INPUT_DEPTH:
            full = self.by_name.get(name, {})
            props = {
                f["name"]: self.schema_for(f.get("type"), depth + 1)
                for f in full.get("inputFields") or []
            }
            required = [
                f["name"]
                for f in full.get("inputFields") or []
                if (f.get("type") or {}).get("kind") == "NON_NULL"
            ]
            base = {"type": "object", "properties": props}
            if required:
                base["required"] = required
        else:
            base = {}
        # a list type wraps the item schema
        inner = ref
        while inner and inner.get("kind") == "NON_NULL":
            inner = inner.get("ofType")
        if inner and inner.get("kind") == "LIST":
            base = {"type": "array", "items": base}
        base["x-graphql-type"] = ts
        return base


def _default_value(text: Any) -> Any:
    # introspection prints defaults as GraphQL literals; JSON-compatible ones parse as JSON
    if not isinstance(text, str):
        return None
    parsed = _json(text)
    return parsed if parsed is not None else text.strip('"')


def operations_from_introspection(schema: dict[str, Any], endpoint: str) -> list[Operation]:
    """Operations for every Query and Mutation field of an introspection ``__schema``."""
    types = _Types(schema)
    ops: list[Operation] = []
    for op_type, key in (("query", "queryType"), ("mutation", "mutationType")):
        root_name = (schema.get(key) or {}).get("name")
        if not root_name:
            continue
        root = types.by_name.get(root_name, {})
        for f in root.get("fields") or []:
            name = f.get("name")
            if not name or name.startswith("__"):
                continue
            args = f.get("args") or []
            gql = GraphQLField(
                endpoint_path=endpoint,
                operation_type=op_type,
                name=name,
                arguments={a["name"]: type_string(a.get("type")) for a in args},
                selection=types.selection(f.get("type")),
            )
            params = [
                Param(
                    name=a["name"],
                    location=Location.GRAPHQL,
                    schema=types.schema_for(a.get("type")),
                    required=(a.get("type") or {}).get("kind") == "NON_NULL"
                    and a.get("defaultValue") is None,
                    example=_default_value(a.get("defaultValue")),
                )
                for a in args
            ]
            ops.append(
                Operation(
                    method="POST",
                    path=endpoint,
                    params=params,
                    source="graphql",
                    operation_id=name,
                    summary=(f.get("description") or "").strip().splitlines()[0]
                    if f.get("description")
                    else "",
                    tags=[op_type],
                    body_content_type="application/json",
                    deprecated=bool(f.get("isDeprecated")),
                    graphql=gql,
                )
            )
    return ops


async def discover_graphql(client: DiscoveryClient, hints: Iterable[str] = ()) -> GraphQLResult:
    """Find a GraphQL endpoint (hinted paths first, then the usual ones) and introspect it."""
    candidates: list[str] = []
    if client.base_path:  # the target URL may be the endpoint itself (https://host/graphql)
        candidates.append(client.base_path)
    for hint in hints:
        path = urlsplit(hint).path if "://" in hint else hint
        if path and path not in candidates:
            candidates.append(path)
    for path in GRAPHQL_PATHS:
        for full in (client.base_path + path, path):
            if full not in candidates:
                candidates.append(full)
    result = GraphQLResult()
    endpoint = await detect_graphql(client, candidates)
    if endpoint is None:
        return result
    result.endpoint = endpoint
    ex = await client.request(
        "POST",
        client.origin + endpoint,
        json={"query": get_introspection_query(descriptions=True), "operationName": None},
    )
    body = _json(ex.body_text) if ex is not None and ex.status is not None else None
    schema = (body.get("data") or {}).get("__schema") if isinstance(body, dict) else None
    if not isinstance(schema, dict):
        result.introspection = False
        return result
    result.introspection = True
    result.operations = operations_from_introspection(schema, endpoint)
    if client.base_path:
        # Operation paths are relative to the target URL, and the endpoint is a path from the
        # origin: with a target like https://host/graphql, "/graphql" would become
        # /graphql/graphql. The absolute URL is sent as is.
        for op in result.operations:
            op.path = client.origin + endpoint
    return result

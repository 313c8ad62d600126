"""Discovery: a target URL (+ optional spec) -> Surface.

It finds operations (spec, crawl, well-known paths, GraphQL introspection), labels inputs that
look like URLs/hosts (params.py) and notes facts. It never judges and never sends attack
payloads; every request goes through the Fetcher (the scan's ScopedClient).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, Protocol
from urllib.parse import urlsplit

from firebrick.discovery.bundles import bundle_operations
from firebrick.discovery.crawl import DiscoveryClient, crawl_site
from firebrick.discovery.docs_ui import follow_docs_ui
from firebrick.discovery.graphql import GraphQLResult, discover_graphql
from firebrick.discovery.openapi import (
    DEFAULT_MAX_SPEC_BYTES,
    LoadedSpec,
    fetch_spec,
    operations_from_spec,
    probe_spec,
)
from firebrick.discovery.params import GUESSED_PARAM_NAMES, classify_all
from firebrick.errors import TargetUnreachable
from firebrick.model import Exchange, Location, Operation, Param, Surface
from firebrick.offload import offload

__all__ = ["DEFAULT_MAX_REQUESTS", "Fetcher", "discover"]

# Whole no-spec discovery stays under this many requests (root, spec probes, common paths,
# crawl, GraphQL detection and introspection).
DEFAULT_MAX_REQUESTS = 40
DEFAULT_MAX_OPERATIONS = 500  # ScanOptions.max_operations
_GRAPHQL_RESERVE = 5  # requests kept back from the crawl for GraphQL detection + introspection


class Fetcher(Protocol):
    """What discovery needs from the scan's HTTP client (firebrick.http.ScopedClient)."""

    base_url: str  # target origin (+ base path), no trailing slash

    async def request(
        self,
        method: str,
        url: str,
        *,
        params: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
        json: Any = None,
        data: dict[str, Any] | None = None,
        content: bytes | str | None = None,
        check: str = "discovery",
        op_key: str | None = None,
    ) -> Exchange:
        """Send one request. ``url`` is absolute (in scope) or relative to base_url. Never raises
        for HTTP errors; network errors come back as Exchange(status=None, error=...); raises
        firebrick.errors.OutOfScope for another origin."""
        ...


def _template_regex(path: str) -> re.Pattern[str]:
    parts = re.split(r"(\{[^}]*\})", path)
    return re.compile(
        "^" + "".join("[^/]+" if p.startswith("{") else re.escape(p) for p in parts) + "/?$"
    )


def _auth_warning(exchanges: list[Exchange]) -> str | None:
    statuses = [e.status for e in exchanges if e.status is not None and e.status != 404]
    denied = sum(1 for s in statuses if s in (401, 403))
    if len(statuses) >= 2 and denied * 2 > len(statuses):
        return (
            f"most discovery requests were answered 401/403 ({denied} of {len(statuses)}): "
            "the scan needs credentials: pass --header"
        )
    return None


class _SpecIndex:
    """Which (method, path) a spec's path templates cover. Indexed by method and segment count,
    whole-segment parameters matched without regexes: a 20,000-operation spec is checked in
    microseconds per path, not by 20,000 regexes."""

    def __init__(self, ops: list[Operation]) -> None:
        self.by_shape: dict[tuple[str, int], list[tuple[str | re.Pattern[str] | None, ...]]] = {}
        for op in ops:
            segments = op.path.rstrip("/").split("/")
            key = (op.method, len(segments))
            self.by_shape.setdefault(key, []).append(tuple(self._segment(s) for s in segments))

    @staticmethod
    def _segment(segment: str) -> str | re.Pattern[str] | None:
        if "{" not in segment:
            return segment
        if re.fullmatch(r"\{[^{}]*\}", segment):
            return None  # any non-empty segment
        return _template_regex(segment)  # a parameter inside a segment: rare, a regex

    def knows(self, op: Operation) -> bool:
        segments = op.path.rstrip("/").split("/")
        for template in self.by_shape.get((op.method, len(segments)), ()):
            if all(
                (t is None and s) or t == s or (isinstance(t, re.Pattern) and t.match(s))
                for t, s in zip(template, segments, strict=True)
            ):
                return True
        return False


def sample_operations(ops: list[Operation], keep: int) -> list[Operation]:
    """At most ``keep`` operations, spread over the whole surface: every distinct first path
    segment (resource) gets its share, then evenly spaced picks fill the rest; order is kept."""
    if len(ops) <= keep:
        return list(ops)
    chosen: set[int] = set()
    firsts: dict[str, int] = {}
    for i, op in enumerate(ops):
        head = op.path.strip("/").split("/", 1)[0]
        firsts.setdefault(f"{op.method} {head}", i)
    for i in list(firsts.values())[:keep]:
        chosen.add(i)
    step = len(ops) / max(1, keep - len(chosen)) if keep > len(chosen) else 0
    pos = 0.0
    while len(chosen) < keep and step:
        chosen.add(int(pos) % len(ops))
        pos += step
        if pos >= len(ops):  # wrapped: take the first not yet chosen
            pos = next((j for j in range(len(ops)) if j not in chosen), 0) + 0.5
    return [op for i, op in enumerate(ops) if i in chosen]


def _add_guessed(op: Operation) -> None:
    have = {p.name.lower() for p in op.params if p.location is Location.QUERY}
    for name in GUESSED_PARAM_NAMES:
        if name not in have:
            op.params.append(
                Param(name=name, location=Location.QUERY, schema={"type": "string"}, guessed=True)
            )


async def discover(
    fetcher: Fetcher,
    *,
    spec: str | None = None,
    crawl: bool = True,
    guess_params: bool = True,
    max_pages: int = 30,
    max_requests: int = DEFAULT_MAX_REQUESTS,
    link_filter: Callable[[str], str | None] | None = None,
    max_spec_bytes: int = DEFAULT_MAX_SPEC_BYTES,
    max_operations: int = DEFAULT_MAX_OPERATIONS,
) -> Surface:
    """Find the target's operations and facts.

    ``spec``: a file path or a URL on the target's origin; raises SpecError (one line) when it is
    not a valid OpenAPI 2.0/3.0/3.1 document. Without a spec, the usual locations are probed.
    ``crawl``: follow same-origin links and probe a few common API paths (at most ``max_pages``
    pages). ``guess_params``: declare common URL-carrying query names on GET endpoints found
    without a spec. ``max_requests`` caps everything discovery sends. ``link_filter`` (the scan's
    SendPolicy.link_verdict) says which crawled links must not be followed; they are listed in
    ``facts["links_not_followed"]``.
    ``max_spec_bytes`` bounds a spec document; beyond ``max_operations`` a sample is kept
    (``facts["operations_left_out"]``).
    Raises TargetUnreachable when the target does not answer at all.
    """
    client = DiscoveryClient(fetcher, max_requests)
    surface = Surface(base_url=client.base_url)
    warnings: list[str] = []

    # The target itself: proves it answers, gives facts, seeds the crawl.
    root_url = client.base_url if client.base_path else client.origin + "/"
    root = await client.get(root_url)
    slow = root is not None and (root.error or "").startswith(("TotalTimeout", "ReadTimeout"))
    if slow:  # it accepts connections but answers too slowly: scan on, bounded by the wall
        warnings.append(
            f"target {client.base_url} accepted the connection but did not answer within "
            "--timeout; results will be thin"
        )
    elif root is not None and root.status is None:
        raise TargetUnreachable(
            f"target {client.base_url} did not answer: {root.error or 'no response'}"
        )

    loaded: LoadedSpec | None = None
    if spec:
        # The user's spec is authoritative: unreachable or invalid ends the scan (SpecError),
        # rather than a scan of a different surface than the one they asked for.
        loaded = await fetch_spec(client, spec, strict=True, max_bytes=max_spec_bytes)
    if loaded is None:
        loaded = await probe_spec(client, max_bytes=max_spec_bytes)
    if loaded is None and root is not None:
        # Swagger UI / ReDoc pages (also at redirecting paths) name or embed the document.
        loaded = await follow_docs_ui(client, [root])
    warnings += client.warnings

    spec_ops: list[Operation] = []
    if loaded is not None:
        spec_ops, base_path = await offload(operations_from_spec, loaded, client.base_url)
        surface.base_url = client.origin + base_path
        surface.spec_url = loaded.source
        surface.spec_version = loaded.version
        warnings += loaded.warnings
    spec_templates = _SpecIndex(spec_ops)
    spec_path = urlsplit(loaded.source).path if loaded and "://" in loaded.source else None

    def known_to_spec(op: Operation) -> bool:
        return spec_templates.knows(op)

    found_ops: list[Operation] = []
    hints: list[str] = [op.path for op in spec_ops if "graphql" in op.path.lower()]
    if crawl and root is not None:
        # A single-page app names its API only in the scripts its page loads.
        bundled = [op for op in await bundle_operations(client, [root]) if not known_to_spec(op)]
        found_ops += bundled
        if bundled:
            surface.facts["bundle_routes"] = len(bundled)
    if crawl:
        result = await crawl_site(
            client,
            [root] if root is not None else [],
            max_pages=max_pages,
            reserve=_GRAPHQL_RESERVE,
            link_filter=link_filter,
        )
        surface.facts["links_not_followed"] = result.not_followed
        hints += result.graphql_hints
        have = {op.key for op in found_ops}
        found_ops += [
            op
            for op in result.operations
            if not known_to_spec(op) and op.path != spec_path and op.key not in have
        ]

    try:
        gql = await discover_graphql(client, hints)
    except (RecursionError, ValueError, TypeError, KeyError, AttributeError) as exc:
        # a hostile introspection answer: GraphQL stays unknown, the scan goes on
        warnings.append(f"GraphQL discovery failed on a malformed answer ({type(exc).__name__})")
        gql = GraphQLResult()
    if gql.endpoint is not None:
        surface.graphql_endpoint = gql.endpoint
        surface.facts["graphql_introspection"] = gql.introspection
        # the endpoint's plain GET/POST seen by the crawl is the GraphQL operations now
        found_ops = [op for op in found_ops if op.path.rstrip("/") != gql.endpoint.rstrip("/")]
        if gql.introspection is False:
            warnings.append(
                f"GraphQL endpoint {gql.endpoint} does not allow introspection: "
                "its operations are unknown"
            )

    if guess_params:
        for op in found_ops:
            if op.method == "GET":
                _add_guessed(op)

    surface.operations = spec_ops + gql.operations + found_ops
    if len(surface.operations) > max_operations:
        total = len(surface.operations)
        surface.operations = sample_operations(surface.operations, max_operations)
        surface.facts["operations_total"] = total
        left_out = total - len(surface.operations)
        surface.facts["operations_left_out"] = left_out
        warnings.append(
            f"the API has {total} operations: {len(surface.operations)} were sampled for testing "
            f"and {left_out} left out (--max-operations {max_operations})"
        )
    await offload(classify_all, surface)

    surface.facts.update(client.facts)
    surface.facts["content_types"] = sorted(client.content_types)
    surface.facts["tls"] = urlsplit(client.base_url).scheme.lower() == "https"
    surface.facts["spec_found_at"] = loaded.source if loaded is not None else None
    surface.facts["discovery_requests"] = client.sent

    auth = _auth_warning(client.exchanges)
    if auth:
        warnings.append(auth)
    if client.exhausted:
        warnings.append(
            "the scan's request budget ran out during discovery: the surface is partial"
        )
    if not surface.operations:
        warnings.append(
            "no operations found: pass an OpenAPI spec with --spec or check the target URL"
        )
    surface.warnings = warnings
    return surface

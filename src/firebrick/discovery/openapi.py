"""OpenAPI 2.0 / 3.0 / 3.1 documents -> Operations.

Loading: JSON or YAML, from a file or from a URL on the target's origin (through the scoped
client). External ``$ref`` documents are loaded the same way up front (files only for a spec that
is itself a file; URLs only on the target's origin), so neither validation nor resolution ever
opens a connection of its own. Validation is openapi-spec-validator's; ``$ref`` resolution is
``referencing`` (the library jsonschema and openapi-spec-validator build on), with every ``$ref``
checked up front because the validator does not follow all of them in 3.1.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeVar
from urllib.parse import unquote, urldefrag, urljoin, urlsplit
from urllib.request import url2pathname

import yaml
from referencing import Registry, Resource
from referencing.exceptions import NoSuchResource, Unresolvable
from referencing.jsonschema import DRAFT202012

from firebrick.discovery.params import schema_types
from firebrick.discovery.spec_validation import (
    FULL_CHECK_MAX_OPERATIONS,
    count_operations,
    structural_error,
)
from firebrick.errors import SpecError
from firebrick.model import Location, Operation, Param
from firebrick.offload import offload

if TYPE_CHECKING:
    from firebrick.discovery.crawl import DiscoveryClient

_T = TypeVar("_T", covariant=True)


class Resolver(Protocol[_T]):
    """What this module uses of a ``referencing`` resolver (the class itself is private)."""

    def lookup(self, ref: str) -> Any: ...


__all__ = [
    "SPEC_PATHS",
    "LoadedSpec",
    "SpecUnreachable",
    "fetch_spec",
    "operations_from_spec",
    "parse_document",
    "prepare_spec",
    "probe_spec",
    "spec_version",
]

# Where specs usually live, in probing order (relative to the target base URL, then the root).
SPEC_PATHS: tuple[str, ...] = (
    "/openapi.json",
    "/openapi.yaml",
    "/swagger.json",
    "/swagger.yaml",
    "/v3/api-docs",
    "/v2/api-docs",
    "/api-docs",
    "/api/openapi.json",
    "/api/swagger.json",
    "/swagger/v1/swagger.json",
    "/docs/openapi.json",
    "/apispec_1.json",
    "/api/spec",
)
# At the origin root too when the target has a base path; kept short for the request budget.
_ROOT_SPEC_PATHS: tuple[str, ...] = (
    "/openapi.json",
    "/swagger.json",
    "/v3/api-docs",
    "/apispec_1.json",
)

MAX_BODY_DEPTH = 6
_MAX_EXTERNAL_DOCS = 20
_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
# OpenAPI 3 says these header parameters are ignored (the body / security define them).
_IGNORED_HEADERS = frozenset({"accept", "content-type", "authorization"})
_SWAGGER2_SCHEMA_KEYS = (
    "type",
    "format",
    "items",
    "enum",
    "default",
    "pattern",
    "minimum",
    "maximum",
    "minLength",
    "maxLength",
    "collectionFormat",
)
_LOCATIONS = {
    "path": Location.PATH,
    "query": Location.QUERY,
    "header": Location.HEADER,
    "cookie": Location.COOKIE,
}


class SpecUnreachable(SpecError):
    """The spec URL did not answer with a document (discovery turns this into a warning)."""


@dataclass
class LoadedSpec:
    document: dict[str, Any]
    version: str  # "2.0", "3.0.3", "3.1.0", ...
    source: str  # file path or URL, as given
    base_uri: str  # absolute URI of the root document
    documents: dict[str, Any] = field(default_factory=dict)  # every document by absolute URI
    warnings: list[str] = field(default_factory=list)
    strict: bool = True


# ---------------------------------------------------------------------------------------------
# Parsing


# A spec document larger than this is refused (file or served; docs/cli.md): separate from the
# per-response cap, because real specs run to megabytes.
DEFAULT_MAX_SPEC_BYTES = 32 * 1024 * 1024
# YAML anchors/aliases: real specs use a few; an alias bomb uses them to expand a 1 KiB document
# into billions of nodes. Both the number of aliases and the expanded size are bounded.
MAX_YAML_ALIASES = 100
MAX_EXPANDED_NODES = 2_000_000


class _AliasBudget(yaml.YAMLError):
    pass


class _Loader(yaml.SafeLoader):
    """SafeLoader that keeps dates as strings (specs are JSON data, not Python objects) and
    refuses more than MAX_YAML_ALIASES aliases."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._aliases = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            self._aliases += 1
            if self._aliases > MAX_YAML_ALIASES:
                raise _AliasBudget(f"more than {MAX_YAML_ALIASES} YAML aliases (an alias bomb?)")
        return super().compose_node(parent, index)


_Loader.yaml_implicit_resolvers = {
    key: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for key, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _expanded_size(root: Any) -> int:
    """Nodes of the document once every alias is expanded, counted without expanding (shared
    subtrees are counted once per reference from a memo), stopping past MAX_EXPANDED_NODES."""
    memo: dict[int, int] = {}

    def size(node: Any, depth: int) -> int:
        if not isinstance(node, (dict, list)):
            return 1
        if id(node) in memo:
            return memo[id(node)]
        if depth > 500:
            raise _AliasBudget("the document is nested more than 500 levels deep")
        children = node.values() if isinstance(node, dict) else node
        total = 1
        for child in children:
            total += size(child, depth + 1)
            if total > MAX_EXPANDED_NODES:
                break
        memo[id(node)] = total
        return total

    return size(root, 0)


def _str_keys(node: Any) -> Any:
    # YAML turns `200:` into an int key; OpenAPI (and the validator) want strings.
    if isinstance(node, dict):
        return {str(k): _str_keys(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_str_keys(v) for v in node]
    return node


def _one_line(text: str, limit: int = 240) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def parse_document(text: str, where: str) -> Any:
    """JSON or YAML text -> data; SpecError with one line on a syntax error."""
    stripped = text.lstrip("\ufeff").strip()
    if not stripped:
        raise SpecError(f"{where}: the document is empty")
    if stripped.startswith(("{", "[")):
        try:
            return json.loads(stripped)
        except json.JSONDecodeError as e:
            raise SpecError(
                f"{where}: not valid JSON: {e.msg} at line {e.lineno} column {e.colno}"
            ) from None
        except RecursionError:
            raise SpecError(f"{where}: the JSON document is nested too deeply") from None
    try:
        doc = yaml.load(stripped, Loader=_Loader)  # a SafeLoader subclass
        if _expanded_size(doc) > MAX_EXPANDED_NODES:
            raise _AliasBudget(
                f"its aliases expand to more than {MAX_EXPANDED_NODES:,} nodes (an alias bomb?)"
            )
        return _str_keys(doc)
    except RecursionError:
        raise SpecError(f"{where}: the YAML document is nested too deeply") from None
    except _AliasBudget as e:
        raise SpecError(f"{where}: refused: {e}") from None
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark
        at = f" at line {mark.line + 1} column {mark.column + 1}" if mark is not None else ""
        raise SpecError(
            _one_line(f"{where}: not valid YAML: {e.problem or e.context}{at}")
        ) from None
    except yaml.YAMLError as e:
        raise SpecError(_one_line(f"{where}: not valid YAML: {e}")) from None


def spec_version(doc: Any) -> str | None:
    """``"2.0"`` / ``"3.x.y"`` for an OpenAPI or Swagger 2.0 document, else None."""
    if not isinstance(doc, dict):
        return None
    openapi = doc.get("openapi")
    if openapi is not None and str(openapi).startswith("3"):
        return str(openapi)
    if str(doc.get("swagger", "")) in ("2.0", "2"):
        return "2.0"
    return None


def _check_kind(doc: Any, where: str) -> str:
    if not isinstance(doc, dict):
        raise SpecError(f"{where}: not an OpenAPI document (the top level is not an object)")
    version = spec_version(doc)
    if version is not None:
        return version
    if "swaggerVersion" in doc:
        raise SpecError(f"{where}: Swagger 1.x is not supported; convert it to OpenAPI 3")
    if "openapi" in doc or "swagger" in doc:
        found = doc.get("openapi", doc.get("swagger"))
        raise SpecError(f"{where}: unsupported OpenAPI version {found!r} (2.0, 3.0 and 3.1 are)")
    raise SpecError(
        f"{where}: not an OpenAPI or Swagger document (no 'openapi' or 'swagger' field)"
    )


# ---------------------------------------------------------------------------------------------
# Loading (with external documents)


def _is_url(spec: str) -> bool:
    return bool(re.match(r"^https?://", spec, re.I))


def _refs(node: Any, where: str = "#") -> Iterator[tuple[str, str]]:
    """Every ($ref value, JSON pointer where it sits) in a document; examples are data, skipped."""
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str):
            yield ref, where
        for key, value in node.items():
            if key == "example":
                continue
            child = f"{where}/{key.replace('~', '~0').replace('/', '~1')}"
            if key == "examples" and isinstance(value, dict):
                for name, ex in value.items():  # Example Objects: only their own $ref counts
                    if isinstance(ex, dict) and isinstance(ex.get("$ref"), str):
                        yield ex["$ref"], f"{child}/{name}"
                continue
            if key == "examples" and isinstance(value, list):
                continue
            yield from _refs(value, child)
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _refs(value, f"{where}/{i}")


async def _load_external(
    client: DiscoveryClient | None, root_uri: str, root: dict[str, Any], where: str, strict: bool
) -> tuple[dict[str, Any], list[str]]:
    documents: dict[str, Any] = {root_uri: root}
    warnings: list[str] = []
    pending = [root_uri]
    root_is_file = root_uri.startswith("file:")
    while pending:
        uri = pending.pop(0)
        for ref, _ in _refs(documents[uri]):
            target = urldefrag(urljoin(uri, ref))[0]
            if not target or target in documents:
                continue
            try:
                if len(documents) >= _MAX_EXTERNAL_DOCS:
                    raise SpecError(f"{where}: more than {_MAX_EXTERNAL_DOCS} referenced documents")
                documents[target] = await _load_one(client, target, root_is_file, where)
            except SpecError as e:
                if strict:
                    raise
                warnings.append(str(e))
                documents[target] = {}
                continue
            pending.append(target)
    return documents, warnings


async def _load_one(
    client: DiscoveryClient | None, uri: str, root_is_file: bool, where: str
) -> Any:
    scheme = urlsplit(uri).scheme.lower()
    if scheme == "file":
        if not root_is_file:
            raise SpecError(
                f"{where}: a $ref to a local file ({uri}) in a spec served by the target"
            )
        path = Path(url2pathname(unquote(urlsplit(uri).path)))
        try:
            text = path.read_text(encoding="utf-8-sig")
        except OSError as e:
            raise SpecError(
                f"{where}: referenced file {path} cannot be read: {e.strerror}"
            ) from None
        return parse_document(text, str(path))
    if scheme in ("http", "https") and client is not None and client.in_scope(uri):
        ex = await client.get(uri)
        if ex is None or ex.status is None or not 200 <= ex.status < 300:
            status = "no answer" if ex is None or ex.status is None else f"HTTP {ex.status}"
            raise SpecError(f"{where}: referenced document {uri} could not be fetched ({status})")
        return parse_document(ex.body_text, uri)
    raise SpecError(
        f"{where}: $ref to {uri} is outside the target's origin; bundle the spec into one file"
    )


def _no_retrieve(uri: str) -> Resource[Any]:
    raise NoSuchResource(uri)


def _registry(documents: dict[str, Any]) -> Registry[Any]:
    registry: Registry[Any] = Registry(retrieve=_no_retrieve)  # type: ignore[call-arg]
    return registry.with_resources(
        (uri, DRAFT202012.create_resource(doc)) for uri, doc in documents.items()
    )


def _pointer_text(pointer: str) -> str:
    """``#/paths/~1hooks/post`` -> ``paths['/hooks'].post`` (what a person searches for)."""
    out = ""
    for raw in pointer.lstrip("#").split("/")[1:]:
        key = raw.replace("~1", "/").replace("~0", "~")
        if key.isdigit():
            out += f"[{key}]"
        elif re.fullmatch(r"[A-Za-z_$][\w$-]*", key):
            out += f".{key}"
        else:
            out += f"[{key!r}]"
    return out.lstrip(".") or "the document root"


def _check_refs(documents: dict[str, Any], where: str) -> str | None:
    """One line describing the first $ref that does not resolve, or None."""
    registry = _registry(documents)
    for uri, doc in documents.items():
        resolver = registry.resolver(base_uri=uri)
        for ref, at in _refs(doc):
            try:
                resolver.lookup(ref)
            except Unresolvable:
                place = _pointer_text(at) + ("" if len(documents) == 1 else f" of {uri}")
                return f"{where}: $ref {ref!r} at {place} does not resolve"
    return None


class _OfflineHandlers(dict[str, Any]):
    """Resolver handlers for openapi-spec-validator that serve only documents already loaded.

    jsonschema-path falls back to urlopen() for any scheme it has no handler for, so this claims
    every scheme: validation must never open a connection of its own.
    """

    def __init__(self, documents: dict[str, Any]) -> None:
        super().__init__()
        self.documents = documents

    def __contains__(self, key: object) -> bool:
        return True

    def __getitem__(self, key: str) -> Any:
        return self._serve

    def _serve(self, uri: str) -> Any:
        doc = self.documents.get(urldefrag(uri)[0])
        if doc is None:
            raise NoSuchResource(uri)
        return doc


def _validation_error(doc: dict[str, Any], base_uri: str, documents: dict[str, Any]) -> str | None:
    from jsonschema.exceptions import best_match
    from jsonschema_path import SchemaPath
    from openapi_spec_validator.shortcuts import get_validator_cls

    # openapi-spec-validator switches to jsonschema-rs when it is installed (we install it for
    # spec_validation), which rewords its errors; keep the jsonschema wording users know. It
    # gains little there: its own semantic checks are the slow part.
    os.environ.setdefault("OPENAPI_SPEC_VALIDATOR_SCHEMA_VALIDATOR_BACKEND", "jsonschema")

    try:
        cls = get_validator_cls(doc)
        sp = SchemaPath.from_dict(doc, base_uri=base_uri, handlers=_OfflineHandlers(documents))
        error = next(iter(cls(sp).iter_errors()), None)
    except Unresolvable as e:
        return f"$ref {getattr(e, 'ref', '')!r} does not resolve"
    except Exception as e:  # the validator's own failures must not become tracebacks
        return _one_line(f"{type(e).__name__}: {e}")
    if error is None:
        return None
    if error.context:
        # "is not valid under any of the given schemas": the closest sub-error says more
        with contextlib.suppress(Exception):
            error = best_match(error.context) or error
    parts = [str(p).replace("~", "~0").replace("/", "~1") for p in error.absolute_path]
    at = _pointer_text("#/" + "/".join(parts)) if parts else ""
    return _one_line(error.message, 200) + (f" (at {at})" if at else "")


def _validate_once(
    doc: dict[str, Any],
    version: str,
    base_uri: str,
    documents: dict[str, Any],
    warnings: list[str],
    source: str,
) -> str | None:
    """The document's first problem, or None (see spec_validation: structure, then semantics
    for documents of moderate size)."""
    operations = count_operations(doc)
    if operations <= FULL_CHECK_MAX_OPERATIONS:
        # openapi-spec-validator words its errors best: let it speak when it is affordable
        return _validation_error(doc, base_uri, documents)
    structural = structural_error(doc, version)
    if structural is not None:
        message, where = structural
        parts = [p.replace("~", "~0").replace("/", "~1") for p in where]
        at = _pointer_text("#/" + "/".join(parts)) if parts else ""
        return _one_line(message, 200) + (f" (at {at})" if at else "")
    warnings.append(
        f"{source}: {operations} operations: checked against the OpenAPI schema only; the "
        f"deeper checks (path parameters, defaults) run on specs of up to "
        f"{FULL_CHECK_MAX_OPERATIONS} operations"
    )
    return None


def prepare_spec(
    doc: Any,
    *,
    source: str,
    base_uri: str,
    documents: dict[str, Any] | None = None,
    strict: bool = True,
) -> LoadedSpec:
    """Check kind, $refs and validity of an already parsed document.

    ``strict``: raise SpecError (one line) on any problem; otherwise keep what can be used and
    list the problems in ``LoadedSpec.warnings`` (for specs discovery found by itself).
    """
    version = _check_kind(doc, source)
    documents = dict(documents or {})
    documents.setdefault(base_uri, doc)
    loaded = LoadedSpec(
        document=doc,
        version=version,
        source=source,
        base_uri=base_uri,
        documents=documents,
        strict=strict,
    )
    problem = _check_refs(documents, source)
    if problem is None:
        invalid = _validate_once(doc, version, base_uri, documents, loaded.warnings, source)
        if invalid is not None:
            label = "Swagger 2.0" if version == "2.0" else f"OpenAPI {version}"
            problem = f"{source}: invalid {label} document: {invalid}"
    if problem is not None:
        if strict:
            raise SpecError(problem)
        loaded.warnings.append(problem + " (used as far as possible)")
    return loaded


def _too_big(where: str, max_bytes: int) -> SpecError:
    return SpecError(
        f"{where}: the document is larger than {max_bytes:,} bytes (--max-spec-bytes); refused"
    )


async def fetch_spec(
    client: DiscoveryClient | None,
    spec: str,
    *,
    strict: bool = True,
    max_bytes: int = DEFAULT_MAX_SPEC_BYTES,
) -> LoadedSpec:
    """Load a spec from a file path or from a URL on the target's origin."""
    if _is_url(spec):
        if client is None or not client.in_scope(spec):
            raise SpecError(
                f"spec URL {spec} is not on the target's origin; download it and pass the file"
            )
        ex = await client.get(spec, max_bytes=max_bytes + 1)
        if ex is None or ex.status is None:
            why = "request budget spent" if ex is None else (ex.error or "no answer")
            raise SpecUnreachable(f"spec URL {spec} is unreachable: {_one_line(why, 120)}")
        if not 200 <= ex.status < 300:
            raise SpecUnreachable(f"spec URL {spec} answered HTTP {ex.status}")
        if ex.response_size > max_bytes:
            raise _too_big(spec, max_bytes)
        doc = await offload(parse_document, ex.body_text, spec)
        base_uri = urldefrag(spec)[0]
    else:
        raw = spec[len("file://") :] if spec.startswith("file://") else spec
        path = Path(raw).expanduser()
        try:
            if path.is_file() and path.stat().st_size > max_bytes:
                raise _too_big(spec, max_bytes)
            text = path.read_text(encoding="utf-8-sig")
        except FileNotFoundError:
            raise SpecError(f"spec file not found: {spec}") from None
        except (OSError, UnicodeDecodeError) as e:
            raise SpecError(f"spec file {spec} cannot be read: {_one_line(str(e), 120)}") from None
        doc = await offload(parse_document, text, spec)
        base_uri = path.resolve().as_uri()
    _check_kind(doc, spec)
    documents, warnings = await _load_external(client, base_uri, doc, spec, strict)
    loaded = await offload(
        functools.partial(
            prepare_spec, doc, source=spec, base_uri=base_uri, documents=documents, strict=strict
        )
    )
    loaded.warnings[:0] = warnings
    return loaded


async def probe_spec(
    client: DiscoveryClient, *, max_bytes: int = DEFAULT_MAX_SPEC_BYTES
) -> LoadedSpec | None:
    """Try the usual spec locations; the first document that is OpenAPI/Swagger wins.

    A document at a spec location that is cut (over ``max_bytes``) or cannot be parsed is
    skipped with a warning in ``client.warnings`` (the scan goes on without it)."""
    urls = [client.url(p) for p in SPEC_PATHS]
    if client.base_path:
        urls += [client.url(p, root=True) for p in _ROOT_SPEC_PATHS]
    seen: set[str] = set()
    for url in urls:
        if url in seen:
            continue
        seen.add(url)
        ex = await client.get(url, max_bytes=max_bytes + 1)
        if ex is None:
            return None
        if ex.status != 200 or not ex.body_text.strip():
            continue
        if ex.response_size > max_bytes:
            client.warnings.append(
                f"the API description at {url} is larger than {max_bytes:,} bytes and was not "
                "used; pass it with --spec (and a larger --max-spec-bytes)"
            )
            continue
        looks_like_spec = re.search(r"\b(openapi|swagger)\b", ex.body_text[:4096]) is not None
        try:
            doc = await offload(parse_document, ex.body_text, url)
        except SpecError as exc:
            if looks_like_spec:
                client.warnings.append(f"an API description was found but not used: {exc}")
            continue
        if spec_version(doc) is None:
            continue
        try:
            documents, warnings = await _load_external(client, url, doc, url, strict=False)
            loaded = await offload(
                functools.partial(
                    prepare_spec, doc, source=url, base_uri=url, documents=documents, strict=False
                )
            )
        except SpecError as exc:
            client.warnings.append(f"an API description was found but not used: {exc}")
            continue
        loaded.warnings[:0] = warnings
        return loaded
    return None


# ---------------------------------------------------------------------------------------------
# Walking the document


def _join(base_path: str, path: str) -> str:
    return (base_path.rstrip("/") + "/" + path.lstrip("/")) if base_path else "/" + path.lstrip("/")


def _substitute(url: str, variables: Any) -> str:
    variables = variables if isinstance(variables, dict) else {}

    def repl(m: re.Match[str]) -> str:
        var = variables.get(m.group(1))
        if isinstance(var, dict):
            if var.get("default") is not None:
                return str(var["default"])
            if isinstance(var.get("enum"), list) and var["enum"]:
                return str(var["enum"][0])
        return ""

    return re.sub(r"\{([^}]*)\}", repl, url)


def server_base_path(server_url: str | None, target_base_url: str) -> str:
    """The base path the scanner uses for a spec server URL, resolved against the target.

    The host of an absolute server URL is never used: the scanner always sends to the target
    the user gave. A missing server or ``/`` means "where the target is".
    """
    target_path = urlsplit(target_base_url).path.rstrip("/")
    if server_url is None or server_url.strip() in ("", "/", "."):
        return target_path
    url = server_url.strip()
    if re.match(r"^[a-zA-Z][a-zA-Z0-9+.\-]*://", url) or url.startswith("//"):
        path = urlsplit(url if "://" in url else "http:" + url).path
    else:
        path = urlsplit(urljoin(target_base_url.rstrip("/") + "/", url)).path
    return path.rstrip("/")


class _Walker:
    def __init__(self, spec: LoadedSpec) -> None:
        self.spec = spec
        self.doc = spec.document
        self.registry = _registry(spec.documents)
        self.root = self.registry.resolver(base_uri=spec.base_uri)
        self.v2 = spec.version == "2.0"
        self.broken: set[str] = set()

    def deref(self, node: Any, resolver: Resolver[Any]) -> tuple[Any, Resolver[Any]]:
        hops = 0
        while isinstance(node, dict) and isinstance(node.get("$ref"), str):
            ref = node["$ref"]
            hops += 1
            if hops > 32:  # a $ref chain that loops on itself
                return {}, resolver
            try:
                resolved = resolver.lookup(ref)
            except Unresolvable:
                if self.spec.strict:
                    raise SpecError(f"{self.spec.source}: $ref {ref!r} does not resolve") from None
                self.broken.add(ref)
                return {}, resolver
            siblings = {k: v for k, v in node.items() if k != "$ref"}
            node, resolver = resolved.contents, resolved.resolver
            if siblings and isinstance(node, dict):
                node = {**node, **siblings}  # 3.1 allows keywords beside $ref
        return node, resolver

    # -- schemas ------------------------------------------------------------------------------

    def flatten(self, schema: Any, resolver: Resolver[Any], depth: int = 0) -> dict[str, Any]:
        """Schema with allOf merged and oneOf/anyOf variants' properties united (for walking)."""
        schema, resolver = self.deref(schema, resolver)
        if not isinstance(schema, dict):
            return {}
        if depth > MAX_BODY_DEPTH:
            return schema
        out = {k: v for k, v in schema.items() if k not in ("allOf", "oneOf", "anyOf")}
        props: dict[str, Any] = {}
        required: list[str] = list(schema.get("required") or [])
        for key in ("allOf", "oneOf", "anyOf"):
            for part in schema.get(key) or []:
                sub = self.flatten(part, resolver, depth + 1)
                for name, prop in (sub.get("properties") or {}).items():
                    props.setdefault(name, (prop, sub.get("x-fb-resolver", resolver)))
                if key == "allOf":
                    required += list(sub.get("required") or [])
                for k, v in sub.items():
                    if k not in ("properties", "required") and not k.startswith("x-fb-"):
                        out.setdefault(k, v)
        own = schema.get("properties") or {}
        merged: dict[str, Any] = {name: (prop, resolver) for name, prop in own.items()}
        for name, pair in props.items():
            merged.setdefault(name, pair)
        if merged:
            out["properties"] = {name: prop for name, (prop, _) in merged.items()}
            out["x-fb-resolvers"] = {name: r for name, (_, r) in merged.items()}
        if required:
            out["required"] = required
        out["x-fb-resolver"] = resolver
        return out

    def clean(self, schema: dict[str, Any], resolver: Resolver[Any]) -> dict[str, Any]:
        """A leaf schema for Param.schema: no walker bookkeeping, items dereferenced."""
        out = {k: v for k, v in schema.items() if not k.startswith("x-fb-")}
        items = out.get("items")
        if isinstance(items, dict) and "$ref" in items:
            resolved, _ = self.deref(items, resolver)
            out["items"] = resolved if isinstance(resolved, dict) else {}
        return out

    def body_params(
        self,
        schema: Any,
        resolver: Resolver[Any],
        location: Location,
        example: Any = None,
    ) -> list[Param]:
        out: list[Param] = []
        self._walk(schema, resolver, (), 0, True, example, location, out)
        return out

    def _walk(
        self,
        schema: Any,
        resolver: Resolver[Any],
        path: tuple[str, ...],
        depth: int,
        required: bool,
        example: Any,
        location: Location,
        out: list[Param],
    ) -> None:
        flat = self.flatten(schema, resolver)
        resolver = flat.get("x-fb-resolver", resolver)
        types = schema_types(flat)
        props = flat.get("properties") or {}
        form = location is Location.FORM
        if depth < MAX_BODY_DEPTH and props and (not form or depth == 0):
            req = set(flat.get("required") or [])
            resolvers = flat.get("x-fb-resolvers") or {}
            for name, sub in props.items():
                sub_example = example.get(name) if isinstance(example, dict) else None
                self._walk(
                    sub,
                    resolvers.get(name, resolver),
                    (*path, name),
                    depth + 1,
                    required and name in req,
                    sub_example,
                    location,
                    out,
                )
            return
        if depth < MAX_BODY_DEPTH and not form and ("array" in types or "items" in flat):
            items = self.flatten(flat.get("items") or {}, resolver)
            if items.get("properties"):
                item_example = example[0] if isinstance(example, list) and example else None
                self._walk(
                    items,
                    items.get("x-fb-resolver", resolver),
                    (*path, "[]"),
                    depth + 1,
                    required,
                    item_example,
                    location,
                    out,
                )
                return
        leaf = self.clean(flat, resolver)
        if example is None:
            example = _schema_example(leaf)
        name = next((p for p in reversed(path) if p != "[]"), "(body)")
        out.append(
            Param(
                name=name,
                location=location,
                schema=leaf,
                required=required and bool(path),
                example=example,
                json_path=path if location is Location.JSON else (),
            )
        )

    # -- parameters ---------------------------------------------------------------------------

    def _example_from(self, obj: dict[str, Any], resolver: Resolver[Any]) -> Any:
        if obj.get("example") is not None:
            return obj["example"]
        examples = obj.get("examples")
        if isinstance(examples, dict):
            for ex in examples.values():
                ex, _ = self.deref(ex, resolver)
                if isinstance(ex, dict) and "value" in ex:
                    return ex["value"]
        return obj.get("x-example")

    def parameter(self, raw: Any, resolver: Resolver[Any]) -> tuple[dict[str, Any], Any] | None:
        p, r = self.deref(raw, resolver)
        if not isinstance(p, dict) or not p.get("name") or not p.get("in"):
            return None
        return p, r

    def params_of(
        self, path_item: dict[str, Any], op: dict[str, Any], resolver: Resolver[Any]
    ) -> tuple[list[Param], list[tuple[dict[str, Any], Resolver[Any]]]]:
        """Non-body params, and (for 2.0) the body/formData parameter objects."""
        merged: dict[tuple[str, str], tuple[dict[str, Any], Resolver[Any]]] = {}
        for raw in list(path_item.get("parameters") or []) + list(op.get("parameters") or []):
            got = self.parameter(raw, resolver)
            if got is not None:
                p, r = got
                merged[(str(p["in"]), str(p["name"]))] = (p, r)  # operation level overrides
        params: list[Param] = []
        body: list[tuple[dict[str, Any], Resolver[Any]]] = []
        for (where, name), (p, r) in merged.items():
            if where in ("body", "formData"):
                body.append((p, r))
                continue
            location = _LOCATIONS.get(where)
            if location is None:
                continue
            if location is Location.HEADER and name.lower() in _IGNORED_HEADERS:
                continue
            if self.v2:
                schema = {k: p[k] for k in _SWAGGER2_SCHEMA_KEYS if k in p}
            else:
                schema, sr = self.deref(p.get("schema") or {}, r)
                content = p.get("content")
                if not schema and isinstance(content, dict) and content:
                    media = next(iter(content.values()))
                    schema, sr = self.deref((media or {}).get("schema") or {}, r)
                schema = self.clean(self.flatten(schema, sr), sr) if schema else {}
            example = self._example_from(p, r)
            if example is None:
                example = _schema_example(schema)
            params.append(
                Param(
                    name=name,
                    location=location,
                    schema=schema,
                    required=bool(p.get("required")) or location is Location.PATH,
                    example=example,
                )
            )
        return params, body

    # -- operations ---------------------------------------------------------------------------

    def operations(self, target_base_url: str) -> tuple[list[Operation], str]:
        doc = self.doc
        if self.v2:
            base = doc.get("basePath")
            doc_base = server_base_path(base if isinstance(base, str) else None, target_base_url)
        else:
            doc_base = server_base_path(_first_server(doc.get("servers")), target_base_url)
        ops: list[Operation] = []
        paths = doc.get("paths") or {}
        if not isinstance(paths, dict):
            return ops, doc_base
        for template, raw_item in paths.items():
            if not isinstance(template, str) or not template.startswith("/"):
                continue
            item, item_resolver = self.deref(raw_item, self.root)
            if not isinstance(item, dict):
                continue
            item_base = doc_base
            if not self.v2 and _first_server(item.get("servers")) is not None:
                item_base = server_base_path(_first_server(item["servers"]), target_base_url)
            for method in _METHODS:
                raw_op = item.get(method)
                if not isinstance(raw_op, dict):
                    continue
                base = item_base
                if not self.v2 and _first_server(raw_op.get("servers")) is not None:
                    base = server_base_path(_first_server(raw_op["servers"]), target_base_url)
                ops.append(self.operation(method, template, base, item, raw_op, item_resolver))
        if self.broken:
            refs = ", ".join(sorted(self.broken)[:3])
            self.spec.warnings.append(f"{self.spec.source}: unresolved $ref ignored: {refs}")
        return ops, doc_base

    def operation(
        self,
        method: str,
        template: str,
        base_path: str,
        item: dict[str, Any],
        raw: dict[str, Any],
        resolver: Resolver[Any],
    ) -> Operation:
        params, body_objs = self.params_of(item, raw, resolver)
        full_path = _join(base_path, template)
        declared = {p.name for p in params if p.location is Location.PATH}
        for name in re.findall(r"\{([^}]+)\}", template):
            if name not in declared:  # a template variable the spec forgot to declare
                params.append(
                    Param(
                        name=name, location=Location.PATH, schema={"type": "string"}, required=True
                    )
                )
        content_type: str | None = None
        if self.v2:
            content_type, body_params = self._v2_body(raw, body_objs)
        else:
            content_type, body_params = self._v3_body(raw.get("requestBody"), resolver)
        params += body_params
        security = raw["security"] if "security" in raw else self.doc.get("security")
        summary = raw.get("summary") or (raw.get("description") or "").strip().split("\n", 1)[0]
        return Operation(
            method=method.upper(),
            path=full_path,
            params=params,
            source="spec",
            operation_id=raw.get("operationId"),
            summary=str(summary or ""),
            tags=[str(t) for t in raw.get("tags") or []],
            body_content_type=content_type,
            security_declared=_security_required(security),
            deprecated=bool(raw.get("deprecated")),
        )

    def _v2_body(
        self, raw: dict[str, Any], body_objs: list[tuple[dict[str, Any], Resolver[Any]]]
    ) -> tuple[str | None, list[Param]]:
        if not body_objs:
            return None, []
        consumes = [str(c).lower() for c in raw.get("consumes") or self.doc.get("consumes") or []]
        form_fields = [(p, r) for p, r in body_objs if p.get("in") == "formData"]
        if form_fields:
            multipart = any(p.get("type") == "file" for p, _ in form_fields) or (
                "multipart/form-data" in consumes
                and "application/x-www-form-urlencoded" not in consumes
            )
            ct = "multipart/form-data" if multipart else "application/x-www-form-urlencoded"
            params = []
            for p, _ in form_fields:
                schema = {k: p[k] for k in _SWAGGER2_SCHEMA_KEYS if k in p}
                example = p.get("x-example")
                params.append(
                    Param(
                        name=str(p["name"]),
                        location=Location.FORM,
                        schema=schema,
                        required=bool(p.get("required")),
                        example=example if example is not None else _schema_example(schema),
                    )
                )
            return ct, params
        p, r = body_objs[0]
        json_types = [c for c in consumes if "json" in c]
        if consumes and not json_types:
            return consumes[0], []  # XML or other bodies: nothing discovery can walk
        ct = _normalize_json_type(json_types[0]) if json_types else "application/json"
        return ct, self.body_params(p.get("schema") or {}, r, Location.JSON, p.get("x-example"))

    def _v3_body(self, raw_body: Any, resolver: Resolver[Any]) -> tuple[str | None, list[Param]]:
        if raw_body is None:
            return None, []
        body, r = self.deref(raw_body, resolver)
        content = body.get("content") if isinstance(body, dict) else None
        if not isinstance(content, dict) or not content:
            return None, []
        chosen = _choose_media_type(list(content))
        media = content[chosen] if isinstance(content[chosen], dict) else {}
        ct = chosen.split(";", 1)[0].strip().lower()
        example = self._example_from(media, r)
        schema = media.get("schema") or {}
        if "json" in ct:
            return _normalize_json_type(ct), self.body_params(schema, r, Location.JSON, example)
        if ct in ("application/x-www-form-urlencoded", "multipart/form-data"):
            return ct, self.body_params(schema, r, Location.FORM, example)
        return ct, []


def _first_server(servers: Any) -> str | None:
    if isinstance(servers, list) and servers and isinstance(servers[0], dict):
        url = servers[0].get("url")
        if isinstance(url, str):
            return _substitute(url, servers[0].get("variables"))
    return None


def _choose_media_type(types: list[str]) -> str:
    lowered = [(t, t.split(";", 1)[0].strip().lower()) for t in types]
    for want in (
        lambda t: t == "application/json",
        lambda t: "json" in t,
        lambda t: t == "application/x-www-form-urlencoded",
        lambda t: t == "multipart/form-data",
    ):
        for original, t in lowered:
            if want(t):
                return original
    return types[0]


def _normalize_json_type(ct: str) -> str:
    ct = ct.split(";", 1)[0].strip().lower()
    # application/json, application/*+json keep their name; odd "text/json" style becomes json
    return ct if ct == "application/json" or ct.endswith("+json") else "application/json"


def _schema_example(schema: dict[str, Any]) -> Any:
    if schema.get("example") is not None:
        return schema["example"]
    examples = schema.get("examples")
    if isinstance(examples, list) and examples:
        return examples[0]
    return None


def _security_required(security: Any) -> bool:
    # [] or a list containing {} (anonymous allowed) means no credentials are required
    if not isinstance(security, list) or not security:
        return False
    return all(isinstance(req, dict) and req for req in security)


def operations_from_spec(spec: LoadedSpec, target_base_url: str) -> tuple[list[Operation], str]:
    """Operations of a loaded spec, with paths from the target origin; and the spec's base path.

    Every path is the spec's base path (its ``servers[0]`` / ``basePath`` resolved against the
    target URL, host ignored) joined with the path template.
    """
    return _Walker(spec).operations(target_base_url.rstrip("/"))

"""Which inputs look like they carry URLs, hosts, ports, paths or ids.

Discovery only labels inputs here; checks decide what to send. Names are matched on their
snake_case / camelCase / kebab-case segments (``avatarUrl`` -> ``avatar``, ``url``), schema formats
and example values count too, and values count more than names (REFERENCE.md).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from typing import Any

from firebrick.model import InputKind, Location, Operation, Param, Surface

__all__ = [
    "GUESSED_PARAM_NAMES",
    "build_json_body",
    "classify",
    "classify_all",
    "classify_value",
    "example_of",
    "name_segments",
    "url_assemblies",
]

# The compact top-25 of URL-carrying names, declared as guessed query params on endpoints found
# without a spec. The SSRF check sends them all at once, each with its own token.
GUESSED_PARAM_NAMES: tuple[str, ...] = (
    "url",
    "uri",
    "link",
    "src",
    "source",
    "callback",
    "callback_url",
    "webhook",
    "target",
    "dest",
    "redirect",
    "redirect_uri",
    "return_url",
    "next",
    "feed",
    "host",
    "domain",
    "site",
    "image_url",
    "img",
    "file",
    "path",
    "fetch",
    "proxy",
    "to",
)

# A segment anywhere in the name is enough: these words rarely mean anything but a URL.
_URL_SEGMENTS = frozenset(
    {
        "url",
        "urls",
        "uri",
        "uris",
        "link",
        "links",
        "href",
        "src",
        "callback",
        "callbacks",
        "webhook",
        "webhooks",
        "hook",
        "endpoint",
        "redirect",
        "proxy",
        "fetch",
        "feed",
        "rss",
        "jwks",
        "upstream",
        "referrer",
        "referer",
        "website",
        "homepage",
        "imgurl",
        "iri",
        "site",
    }
)
# Common words that carry URLs in the field but mean other things too: only the whole name counts
# (``to`` is a URL candidate, ``toDate`` is not).
_URL_WHOLE_NAMES = frozenset(
    {
        "source",
        "target",
        "dest",
        "destination",
        "return",
        "returnto",
        "next",
        "continue",
        "goto",
        "out",
        "to",
        "view",
        "show",
        "open",
        "window",
        "navigation",
        "reference",
        "ref",
        "html",
        "data",
        "load",
        "preview",
        "image",
        "img",
        "thumbnail",
        "avatar",
        "logo",
        "icon",
        "download",
        "import",
        "api",
        "location",
        "service",
        "origin",
        "openidconfiguration",
        "wsdl",
        "xml",
        "document",
    }
)
_HOST_SEGMENTS = frozenset(
    {
        "host",
        "hosts",
        "hostname",
        "hostnames",
        "domain",
        "domains",
        "subdomain",
        "server",
        "servers",
        "addr",
        "ip",
        "ips",
        "ipaddr",
        "ipaddress",
        "fqdn",
        "site",
        "nameserver",
        "resolver",
        "dns",
    }
)
_PORT_SEGMENTS = frozenset({"port", "ports"})
_PATH_SEGMENTS = frozenset(
    {"path", "paths", "dir", "directory", "folder", "file", "files", "filename", "filepath"}
)
_PATH_WHOLE_NAMES = frozenset({"page", "template", "include", "pathname"})
_ID_SEGMENTS = frozenset({"id", "ids", "uuid", "guid", "pk", "oid"})
# A trailing segment like these turns ``urlId`` / ``hostType`` into something that is not a URL.
_QUALIFIER_SUFFIXES = frozenset(
    {
        "id",
        "ids",
        "uuid",
        "guid",
        "count",
        "size",
        "type",
        "kind",
        "length",
        "len",
        "format",
        "mode",
        "enabled",
        "flag",
        "timeout",
        "limit",
        "max",
        "min",
        "status",
        "version",
        "hash",
        "style",
        "width",
        "height",
        "color",
        "label",
        "title",
        "description",
        "desc",
    }
)
_BOOLEAN_PREFIXES = frozenset({"is", "has", "use", "enable", "allow", "should", "can"})
# Integer values under these names are counters or amounts, not object ids.
_NOT_ID_NAMES = frozenset(
    {
        "limit",
        "count",
        "size",
        "page",
        "offset",
        "max",
        "min",
        "per",
        "timeout",
        "port",
        "year",
        "month",
        "day",
        "age",
        "qty",
        "quantity",
        "amount",
        "price",
        "total",
        "width",
        "height",
        "version",
        "level",
        "depth",
        "skip",
        "take",
        "top",
        "retries",
        "ttl",
    }
)

_URL_FORMATS = frozenset({"uri", "url", "uri-reference", "iri", "iri-reference", "uri-template"})
_HOST_FORMATS = frozenset({"hostname", "idn-hostname", "ipv4", "ipv6"})
_ID_FORMATS = frozenset({"uuid"})

# Two-letter country TLDs all count; longer ones only from this list (internal names included).
_COMMON_TLDS = frozenset(
    [
        "com",
        "net",
        "org",
        "edu",
        "gov",
        "mil",
        "int",
        "info",
        "biz",
        "name",
        "pro",
        "aero",
        "coop",
        "museum",
        "io",
        "dev",
        "app",
        "ai",
        "cloud",
        "tech",
        "xyz",
        "site",
        "online",
        "store",
        "shop",
        "blog",
        "news",
        "live",
        "media",
        "design",
        "page",
        "host",
        "website",
        "space",
        "link",
        "click",
        "systems",
        "services",
        "network",
        "digital",
        "agency",
        "company",
        "solutions",
        "email",
        "global",
        "world",
        "top",
        "club",
        "internal",
        "local",
        "localhost",
        "localdomain",
        "lan",
        "home",
        "corp",
        "intranet",
        "private",
        "test",
        "example",
        "invalid",
        "onion",
        "arpa",
        "amazonaws",
        "azure",
        "google",
    ]
)
_CAMEL = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|\d+")
_SCHEME_URL = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.\-]*://")
_HOST_PORT = re.compile(
    r"^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9](?:[A-Za-z0-9.\-]*[A-Za-z0-9])?):(\d{1,5})$"
)
_HOSTNAME = re.compile(
    r"^(?=.{4,253}$)(?:[A-Za-z0-9](?:[A-Za-z0-9\-]{0,61}[A-Za-z0-9])?\.)+([A-Za-z]{2,24})\.?$"
)
_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
# A dotted name ending like these is a file, not a host (``report.pdf``, ``config.yaml``).
_FILE_EXTENSIONS = frozenset(
    {
        "txt",
        "json",
        "png",
        "jpg",
        "jpeg",
        "gif",
        "svg",
        "webp",
        "ico",
        "html",
        "htm",
        "pdf",
        "csv",
        "xml",
        "js",
        "css",
        "py",
        "log",
        "yaml",
        "yml",
        "zip",
        "gz",
        "tgz",
        "tar",
        "md",
        "conf",
        "cfg",
        "ini",
        "doc",
        "docx",
        "xls",
        "xlsx",
        "mp3",
        "mp4",
        "exe",
        "sh",
        "php",
        "asp",
        "aspx",
        "jsp",
        "bak",
        "sql",
        "db",
        "toml",
        "env",
        "key",
        "pem",
    }
)


def name_segments(name: str) -> list[str]:
    """Lower-case segments of a name: ``avatarUrl`` -> ``["avatar", "url"]``; ``X-Forwarded-Host``
    -> ``["x", "forwarded", "host"]``."""
    out: list[str] = []
    for chunk in re.split(r"[^A-Za-z0-9]+", name):
        out.extend(m.group(0).lower() for m in _CAMEL.finditer(chunk))
    return out


def _whole(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


def _kinds_from_name(name: str) -> set[InputKind]:
    segs = name_segments(name)
    if not segs:
        return set()
    whole = _whole(name)
    kinds: set[InputKind] = set()
    last = segs[-1]
    if last in _ID_SEGMENTS or whole in {"id", "uuid", "guid"}:
        kinds.add(InputKind.ID)
    if last in _PORT_SEGMENTS:
        return {InputKind.PORT}  # serverPort, proxy_port: the port, not the server
    if segs[0] in _BOOLEAN_PREFIXES and len(segs) > 1:
        return kinds  # isUrlValid, useProxy: a flag about the thing, not the thing
    if last in _QUALIFIER_SUFFIXES and len(segs) > 1:
        return kinds
    seg_set = set(segs)
    if seg_set & _URL_SEGMENTS or whole in _URL_WHOLE_NAMES:
        kinds.add(InputKind.URL)
    if seg_set & _HOST_SEGMENTS:
        kinds.add(InputKind.HOST)
    if seg_set & _PORT_SEGMENTS:
        kinds.add(InputKind.PORT)
    if seg_set & _PATH_SEGMENTS or whole in _PATH_WHOLE_NAMES:
        kinds.add(InputKind.PATH)
    # Both a URL word and a host/path word (``hostUrl``, ``proxyHost``, ``urlPath``): the last
    # segment says what the value is. ``site`` alone stays both: a URL or a bare host.
    if last != "site":
        if InputKind.URL in kinds and last in _HOST_SEGMENTS | _PATH_SEGMENTS:
            kinds.discard(InputKind.URL)
        elif InputKind.URL in kinds and last in _URL_SEGMENTS:
            kinds -= {InputKind.HOST, InputKind.PATH}
    return kinds


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text.strip("[]"))
    except ValueError:
        return False
    return True


def classify_value(value: Any, *, name: str = "") -> set[InputKind]:
    """Kinds suggested by one example/default value."""
    if isinstance(value, bool) or value is None:
        return set()
    if isinstance(value, int):
        segs = set(name_segments(name))
        if segs & _PORT_SEGMENTS and 0 < value < 65536:
            return {InputKind.PORT}
        if segs & _NOT_ID_NAMES:
            return set()
        return {InputKind.ID}
    if isinstance(value, list | tuple):
        out: set[InputKind] = set()
        for item in list(value)[:5]:
            out |= classify_value(item, name=name)
        return out
    if not isinstance(value, str):
        return set()
    text = value.strip()
    if not text or any(c.isspace() for c in text):
        return set()
    if _SCHEME_URL.match(text) or text.startswith("//"):
        return {InputKind.URL}
    if _is_ip(text):
        return {InputKind.HOST}
    hp = _HOST_PORT.match(text)
    if hp and (_is_ip(hp.group(1)) or any(c.isalpha() for c in hp.group(1))):
        return {InputKind.HOST}  # not "12:30"
    if text.startswith("/") or text.startswith("./") or text.startswith("../"):
        return {InputKind.PATH}
    if _UUID.match(text) or text.isdigit():
        if text.isdigit() and set(name_segments(name)) & (_NOT_ID_NAMES | _PORT_SEGMENTS):
            return set()
        return {InputKind.ID}
    if text.lower() in {"localhost", "localhost."}:
        return {InputKind.HOST}
    m = _HOSTNAME.match(text)
    if m and "@" not in text:
        tld = m.group(1).lower()
        # ``order.created`` is an event name, ``report.pdf`` a file: only real-looking TLDs count
        if tld not in _FILE_EXTENSIONS and (len(tld) == 2 or tld in _COMMON_TLDS):
            return {InputKind.HOST}
    return set()


def example_of(param: Param) -> list[Any]:
    """Every value discovery knows for the param: example, schema example(s), default, enum."""
    values: list[Any] = []
    if param.example is not None:
        values.append(param.example)
    schema = param.schema or {}
    for key in ("example", "default"):
        if schema.get(key) is not None:
            values.append(schema[key])
    examples = schema.get("examples")
    if isinstance(examples, list):
        values.extend(examples[:3])
    enum = schema.get("enum")
    if isinstance(enum, list):
        values.extend(enum[:3])
    return values


def schema_types(schema: dict[str, Any]) -> set[str]:
    """The JSON-schema ``type`` as a set (OpenAPI 3.1 allows a list of types)."""
    t = schema.get("type")
    if isinstance(t, str):
        return {t}
    if isinstance(t, list):
        return {x for x in t if isinstance(x, str)}
    return set()


def _kinds_from_schema(schema: dict[str, Any]) -> set[InputKind]:
    kinds: set[InputKind] = set()
    fmt = schema.get("format")
    items = schema.get("items")
    if not isinstance(fmt, str) and isinstance(items, dict):
        fmt = items.get("format")
    if isinstance(fmt, str):
        fmt = fmt.lower()
        if fmt in _URL_FORMATS:
            kinds.add(InputKind.URL)
        elif fmt in _HOST_FORMATS:
            kinds.add(InputKind.HOST)
        elif fmt in _ID_FORMATS:
            kinds.add(InputKind.ID)
    return kinds


def classify(param: Param) -> set[InputKind]:
    """What the input looks like it carries; ``{OTHER}`` when nothing matches."""
    schema = param.schema or {}
    kinds = _kinds_from_name(param.name)
    types = schema_types(schema)
    # A number or a flag cannot carry a URL, host or path, whatever its name says.
    if types and types <= {"integer", "number", "boolean", "null"}:
        kinds -= {InputKind.URL, InputKind.HOST, InputKind.PATH}
        if "boolean" in types:
            kinds -= {InputKind.ID, InputKind.PORT}
    kinds |= _kinds_from_schema(schema)
    for value in example_of(param):
        kinds |= classify_value(value, name=param.name)
    return kinds or {InputKind.OTHER}


def classify_all(surface: Surface) -> None:
    """Fill ``Param.kinds`` for every input of every operation (in place)."""
    for op in surface.operations:
        for param in op.params:
            param.kinds = classify(param)


# ---------------------------------------------------------------------------------------------
# URLs the server builds from separate inputs

_SCHEME_SEGMENTS = frozenset({"scheme", "protocol", "proto"})


def _role(param: Param) -> str | None:
    segs = set(name_segments(param.name))
    kinds = param.kinds or classify(param)
    if segs & _SCHEME_SEGMENTS:
        return "scheme"
    if InputKind.PORT in kinds:
        return "port"
    if InputKind.HOST in kinds and InputKind.URL not in kinds:
        return "host"
    if InputKind.HOST in kinds and segs & _HOST_SEGMENTS:
        return "host"
    if InputKind.PATH in kinds and InputKind.URL not in kinds:
        return "path"
    return None


def _group_key(param: Param) -> tuple[str, ...]:
    # Fields of one nested object belong together: {"primary": {"host", "port"}, "backup": {...}}
    if param.json_path:
        return (param.location.value, *param.json_path[:-1])
    return ()


def url_assemblies(op: Operation) -> list[dict[str, Param]]:
    """The shapes where the server likely builds a URL from separate inputs.

    Returns one dict per shape with keys among ``scheme``, ``host``, ``port``, ``path``; ``host``
    is always present. Inputs are grouped by the JSON object that holds them, falling back to the
    operation's top-level inputs for missing parts.
    """
    groups: dict[tuple[str, ...], dict[str, Param]] = {}
    for param in op.params:
        if param.guessed:
            continue  # guessed names are declared for single-URL probes, not assemblies
        role = _role(param)
        if role is None:
            continue
        groups.setdefault(_group_key(param), {}).setdefault(role, param)
    root = groups.get((), {})
    out: list[dict[str, Param]] = []
    for key, roles in groups.items():
        if "host" not in roles:
            continue
        shape = dict(roles)
        if key != ():
            for role, param in root.items():
                if role != "host":
                    shape.setdefault(role, param)
        out.append({r: shape[r] for r in ("scheme", "host", "port", "path") if r in shape})
    return out


# ---------------------------------------------------------------------------------------------
# JSON bodies from leaf params

ARRAY_ITEM = "[]"  # json_path element meaning "the items of this array"


def _default_for(param: Param) -> Any:
    for value in example_of(param):
        return value
    types = schema_types(param.schema)
    if "integer" in types:
        return 1
    if "number" in types:
        return 1.0
    if "boolean" in types:
        return True
    if "array" in types:
        return []
    if "object" in types:
        return {}
    return "test"


def build_json_body(
    params: Iterable[Param], values: dict[tuple[str, ...], Any] | None = None
) -> Any:
    """Rebuild a JSON body from an operation's JSON leaf params.

    ``values`` maps a ``json_path`` to the value to put there (the probe); every other leaf gets
    its example or a plain value of its type. A ``"[]"`` element in a json_path means "inside
    the first item of this array".
    """
    values = values or {}
    body: Any = None
    for param in params:
        if param.location is not Location.JSON:
            continue
        path = param.json_path or (param.name,)
        value = values[path] if path in values else _default_for(param)
        body = _set_path(body, list(path), value)
    return {} if body is None else body


def _set_path(node: Any, path: list[str], value: Any) -> Any:
    if not path:
        return value
    head, rest = path[0], path[1:]
    if head == ARRAY_ITEM:
        lst = node if isinstance(node, list) else []
        if not lst:
            lst.append(None)
        lst[0] = _set_path(lst[0], rest, value)
        return lst
    obj = node if isinstance(node, dict) else {}
    obj[head] = _set_path(obj.get(head), rest, value)
    return obj

"""The discovery client (request cap, facts) and the same-origin crawl.

The crawl reads what the target already shows: HTML links and forms, paths inside JSON answers,
and a handful of well-known API paths. It only sends GET requests to links it found (never
submits forms, never follows off-origin links, never fetches logout-like links) and stays under
a request cap so that discovery without a spec costs about 40 requests.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urldefrag, urljoin, urlsplit

from firebrick.errors import BudgetExhausted, OutOfScope
from firebrick.model import Exchange, Location, Operation, Param
from firebrick.offload import offload
from firebrick.safejson import safe_json_loads

if TYPE_CHECKING:
    from firebrick.discovery import Fetcher

__all__ = [
    "COMMON_API_PATHS",
    "CrawlResult",
    "DiscoveryClient",
    "crawl_site",
    "extract_html",
    "extract_json_urls",
    "origin_of",
]

# Probed once each, relative to the target base URL (GraphQL paths are probed by graphql.py).
COMMON_API_PATHS: tuple[str, ...] = ("/api", "/api/v1", "/health", "/status", "/version")

# Links whose GET may end the session or change state on badly written apps: recorded, not fetched.
_UNSAFE_LINK = re.compile(r"log-?out|sign-?out|log_out|sign_out|delete|remove|destroy", re.I)
_STATIC_EXT = re.compile(
    r"\.(css|js|mjs|map|png|jpe?g|gif|svg|webp|ico|bmp|woff2?|ttf|eot|otf|mp[34]|webm|avi|"
    r"mov|zip|gz|tgz|tar|7z|rar|pdf|docx?|xlsx?|pptx?)$",
    re.I,
)
_SKIP_LINK_REL = frozenset(
    {"stylesheet", "icon", "shortcut", "apple-touch-icon", "preload", "prefetch", "dns-prefetch",
     "preconnect", "manifest", "mask-icon", "modulepreload", "font"}
)  # fmt: skip
_PATH_LIKE = re.compile(r"^/(?!/)[A-Za-z0-9._~!$&'()*+,;=:@%/\-?#\[\]]*$")
_ID_SEGMENT = re.compile(
    r"^(\d+|[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}|"
    r"[0-9a-fA-F]{16,})$"
)
_MAX_PER_SHAPE = 2  # /items/1 and /items/2 are enough of /items/{id}
# Crawl budgets (besides the page and request caps): a crawl trap (every page links 1,000 new
# pages and forms) must not grow the surface or the queue without bound.
MAX_LINKS_PER_PAGE = 200
MAX_FORMS_PER_PAGE = 20
MAX_INPUTS_PER_FORM = 50
MAX_CRAWL_OPERATIONS = 300
MAX_QUEUE = 1000
MAX_HTML_CHARS = 256 * 1024  # of a page parsed for links and forms
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


def _media_type(headers: dict[str, str]) -> str:
    for k, v in headers.items():
        if k.lower() == "content-type":
            return v.split(";", 1)[0].strip().lower()
    return ""


def _header(headers: dict[str, str], name: str) -> str | None:
    name = name.lower()
    for k, v in headers.items():
        if k.lower() == name:
            return v
    return None


class DiscoveryClient:
    """Wraps the Fetcher: counts requests, stops at the cap, and notes facts from every answer."""

    def __init__(self, fetcher: Fetcher, max_requests: int) -> None:
        self.fetcher = fetcher
        self.base_url = fetcher.base_url.rstrip("/")
        self.origin = origin_of(self.base_url)
        self.base_path = urlsplit(self.base_url).path.rstrip("/")
        self.max_requests = max_requests
        self.sent = 0
        self.exhausted = False
        self.exchanges: list[Exchange] = []
        self.facts: dict[str, Any] = {}
        self.content_types: set[str] = set()
        self.warnings: list[str] = []  # e.g. a spec found but cut or unparsable

    @property
    def remaining(self) -> int:
        return 0 if self.exhausted else max(0, self.max_requests - self.sent)

    def url(self, path: str, *, root: bool = False) -> str:
        """Absolute URL for a path under the target base path (or under the origin root)."""
        prefix = self.origin if root else self.origin + self.base_path
        return prefix + "/" + path.lstrip("/")

    def in_scope(self, url: str) -> bool:
        return origin_of(url) == self.origin

    async def request(self, method: str, url: str, **kwargs: Any) -> Exchange | None:
        """Send one request; None when the cap is reached or the URL is out of scope."""
        if self.remaining <= 0:
            return None
        self.sent += 1
        try:
            ex = await self.fetcher.request(method, url, check="discovery", **kwargs)
        except OutOfScope:
            return None
        except BudgetExhausted:
            self.exhausted = True  # the scan-wide budget is spent: stop quietly
            return None
        self.exchanges.append(ex)
        self._note(ex)
        return ex

    async def get(self, url: str, **kwargs: Any) -> Exchange | None:
        return await self.request("GET", url, **kwargs)

    def _note(self, ex: Exchange) -> None:
        if ex.status is None:
            return
        server = _header(ex.response_headers, "server")
        if server and "server" not in self.facts:
            self.facts["server"] = server
        powered = _header(ex.response_headers, "x-powered-by")
        if powered and "powered_by" not in self.facts:
            self.facts["powered_by"] = powered
        ct = _media_type(ex.response_headers)
        if ct:
            self.content_types.add(ct)


# ---------------------------------------------------------------------------------------------
# Extraction


@dataclass
class FormInfo:
    action: str
    method: str
    enctype: str
    inputs: list[Param] = field(default_factory=list)


_INPUT_TYPE_SCHEMA: dict[str, dict[str, Any]] = {
    "url": {"type": "string", "format": "uri"},
    "email": {"type": "string", "format": "email"},
    "number": {"type": "number"},
    "range": {"type": "number"},
    "checkbox": {"type": "string"},
    "date": {"type": "string", "format": "date"},
    "file": {"type": "string", "format": "binary"},
}


# URLs written into JavaScript: a quoted string that is a same-site path or an http(s) URL,
# e.g. location.href='/tools', fetch("/api/items"), window.open('https://host/x').
_SCRIPT_URL = re.compile(
    r"""(?P<q>['"`])(?P<url>(?:https?://[^\s'"`<>]{1,300}|/(?!/)[A-Za-z0-9_\-./?=&%~+:@!$,;]{0,300}))(?P=q)"""
)
_SCRIPT_LIMIT = 200_000  # characters of inline script searched per page
_MAX_SCRIPT_LINKS = 50
_STATIC = re.compile(
    r"\.(?:css|js|mjs|map|png|jpe?g|gif|svg|ico|woff2?|ttf|eot|webp|mp4)(?:\?|$)", re.I
)


def script_urls(text: str) -> list[str]:
    """Paths and URLs quoted in inline JavaScript (handlers, scripts, data-* values)."""
    out: list[str] = []
    for m in _SCRIPT_URL.finditer(text[:_SCRIPT_LIMIT]):
        url = m.group("url")
        if url in ("/",) or _STATIC.search(url) or "${" in url or "{{" in url:
            continue
        if url not in out:
            out.append(url)
        if len(out) >= _MAX_SCRIPT_LINKS:
            break
    return out


class _PageParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.links: list[str] = []
        self.script_links: list[str] = []  # from inline scripts, on* handlers, data-* attributes
        self._script: list[str] | None = None
        self.forms: list[FormInfo] = []
        self.base_href: str | None = None
        self._form: FormInfo | None = None
        self._textarea: Param | None = None
        self._select: Param | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k.lower(): (v or "") for k, v in attrs}
        for attr, text in a.items():
            if not text:
                continue
            if attr.startswith("on"):  # onclick="location.href='/x'"
                self.script_links += script_urls(text)
            elif attr.startswith("data-"):  # data-url="/x", data-href, data-endpoint ...
                v = text.strip()
                if v.startswith(("/", "http://", "https://")) and not v.startswith("//"):
                    self.script_links.append(v)
                else:
                    self.script_links += script_urls(text)
        if tag == "script" and not a.get("src"):
            self._script = []
        if tag == "base" and a.get("href") and self.base_href is None:
            self.base_href = a["href"]
        elif tag in ("a", "area") and a.get("href"):
            self.links.append(a["href"])
        elif tag == "link" and a.get("href"):
            rels = set(a.get("rel", "").lower().split())
            if not rels & _SKIP_LINK_REL:
                self.links.append(a["href"])
        elif tag in ("iframe", "frame") and a.get("src"):
            self.links.append(a["src"])
        elif tag == "form":
            self._form = FormInfo(
                action=a.get("action", ""),
                method=(a.get("method") or "get").upper(),
                enctype=(a.get("enctype") or "application/x-www-form-urlencoded").lower(),
            )
            self.forms.append(self._form)
        elif self._form is not None and tag in ("input", "button", "textarea", "select"):
            name = a.get("name")
            if not name:
                return
            itype = a.get("type", "text").lower() if tag == "input" else tag
            if tag == "button" or itype in ("submit", "reset", "button", "image"):
                return  # buttons name the click, not data the server reads
            schema = dict(_INPUT_TYPE_SCHEMA.get(itype, {"type": "string"}))
            value: Any = a.get("value") or None
            if itype == "checkbox" and value is None:
                value = "on"
            param = Param(name=name, location=Location.FORM, schema=schema, example=value)
            param.required = "required" in a
            if itype == "hidden":
                param.schema["x-hidden"] = True
            self._form.inputs.append(param)
            if tag == "textarea":
                self._textarea = param
            elif tag == "select":
                self._select = param
        elif tag == "option" and self._select is not None and self._select.example is None:
            self._select.example = a.get("value") or None

    def handle_data(self, data: str) -> None:
        if self._script is not None:
            self._script.append(data)
        if self._textarea is not None and data.strip() and self._textarea.example is None:
            self._textarea.example = data.strip()

    def handle_endtag(self, tag: str) -> None:
        if tag == "script" and self._script is not None:
            self.script_links += script_urls("".join(self._script))
            self._script = None
        if tag == "form":
            self._form = None
        elif tag == "textarea":
            self._textarea = None
        elif tag == "select":
            self._select = None


def extract_html(text: str, page_url: str) -> tuple[list[str], list[FormInfo]]:
    """Absolute link URLs and forms (with absolute actions) found in an HTML page."""
    parser = _PageParser()
    try:
        parser.feed(text)
        parser.close()
    except Exception:  # html.parser is lenient; a pathological page just yields less
        pass
    base = urljoin(page_url, parser.base_href) if parser.base_href else page_url
    links = []
    for href in [*parser.links, *parser.script_links[:_MAX_SCRIPT_LINKS]]:
        href = href.strip()
        if not href or href.startswith(("#", "javascript:", "mailto:", "tel:", "data:")):
            continue
        links.append(urldefrag(urljoin(base, href))[0])
    for form in parser.forms:
        form.action = urldefrag(urljoin(base, form.action.strip() or page_url))[0]
    return links, parser.forms


def extract_json_urls(data: Any, origin: str, *, limit: int = 200) -> list[str]:
    """Absolute paths ("/x/y") and URLs on ``origin`` found anywhere in a JSON document."""
    found: list[str] = []

    def walk(node: Any, depth: int) -> None:
        if len(found) >= limit or depth > 20:
            return
        if isinstance(node, dict):
            for v in node.values():
                walk(v, depth + 1)
        elif isinstance(node, list):
            for v in node:
                walk(v, depth + 1)
        elif isinstance(node, str) and len(node) <= 500:
            s = node.strip()
            if _PATH_LIKE.match(s):
                found.append(origin + s)
            elif s.lower().startswith(origin) and (len(s) == len(origin) or s[len(origin)] in "/?"):
                found.append(s)

    walk(data, 0)
    return found


def _parse_json(ex: Exchange) -> Any:
    ct = _media_type(ex.response_headers)
    text = ex.body_text.strip()
    if "json" not in ct and not text.startswith(("{", "[")):
        return None
    return safe_json_loads(text)


def _is_html(ex: Exchange) -> bool:
    ct = _media_type(ex.response_headers)
    if "html" in ct:
        return True
    return not ct and ex.body_text.lstrip()[:15].lower().startswith(("<!doctype html", "<html"))


# ---------------------------------------------------------------------------------------------
# Crawl


@dataclass
class CrawlResult:
    operations: list[Operation] = field(default_factory=list)
    # statuses of the pages fetched, by URL (without query), for warnings
    fetched: dict[str, int | None] = field(default_factory=dict)
    graphql_hints: list[str] = field(default_factory=list)  # paths that mention graphql
    # Links the send policy refused (sideeffects.SendPolicy.link_verdict): "GET /path" -> reason
    not_followed: dict[str, str] = field(default_factory=dict)
    left_out: int = 0  # operations seen but not kept (crawl operation budget)


def _shape(path: str) -> str:
    return "/".join("{id}" if _ID_SEGMENT.match(seg) else seg for seg in path.split("/"))


class _OpBook:
    """Operations keyed by (method, path), merging params found in several places."""

    def __init__(self) -> None:
        self.ops: dict[tuple[str, str], Operation] = {}
        self.shapes: dict[tuple[str, str], int] = {}
        self.left_out = 0  # operations not kept: MAX_CRAWL_OPERATIONS reached

    def add(
        self,
        method: str,
        path: str,
        params: Iterable[Param] = (),
        *,
        source: str = "crawl",
        body_content_type: str | None = None,
    ) -> Operation | None:
        key = (method, path)
        op = self.ops.get(key)
        if op is None:
            if len(self.ops) >= MAX_CRAWL_OPERATIONS:
                self.left_out += 1
                return None
            shape = (method, _shape(path))
            if self.shapes.get(shape, 0) >= _MAX_PER_SHAPE:
                return None
            self.shapes[shape] = self.shapes.get(shape, 0) + 1
            op = Operation(method=method, path=path, source=source)
            self.ops[key] = op
        if body_content_type and not op.body_content_type:
            op.body_content_type = body_content_type
        known = {(p.location, p.name) for p in op.params}
        for p in params:
            if len(known) >= MAX_INPUTS_PER_FORM:
                break
            if (p.location, p.name) not in known:
                op.params.append(p)
                known.add((p.location, p.name))
        return op


def _query_params(query: str) -> list[Param]:
    out: list[Param] = []
    seen: set[str] = set()
    for name, value in parse_qsl(query, keep_blank_values=True):
        if name and name not in seen:
            seen.add(name)
            out.append(
                Param(
                    name=name,
                    location=Location.QUERY,
                    schema={"type": "string"},
                    example=value if value != "" else None,
                )
            )
    return out


async def crawl_site(
    client: DiscoveryClient,
    start: list[Exchange],
    *,
    max_pages: int,
    reserve: int = 0,
    probe_paths: Iterable[str] = COMMON_API_PATHS,
    skip_paths: Iterable[str] = (),
    link_filter: Callable[[str], str | None] | None = None,
) -> CrawlResult:
    """Breadth-first same-origin crawl from pages already fetched, plus a few common API paths.

    ``reserve`` requests of the client's cap are left for later steps (GraphQL). ``skip_paths``
    are paths already known (e.g. from a spec) that need no operation of their own.
    ``link_filter`` says why a link must not be followed (it looks state-changing, or the user
    excluded it); such links are neither fetched nor operations, only listed in ``not_followed``.
    """
    result = CrawlResult()
    book = _OpBook()
    skip = set(skip_paths)
    queue: list[str] = []
    queued: set[str] = set()
    queued_shapes: dict[str, int] = {}
    pages = 0
    baseline_body: str | None = start[0].body_text if start else None

    def budget_left() -> bool:
        return pages < max_pages and client.remaining > reserve

    form_ops: set[tuple[str, str]] = set()

    def enqueue(url: str) -> None:
        if _CONTROL.search(url) or not client.in_scope(url):
            return  # a raw NUL or line break in a link is hostile or broken: not a URL to send
        parts = urlsplit(url)
        path = parts.path or "/"
        if "graphql" in path.lower() and path not in result.graphql_hints:
            result.graphql_hints.append(path)
        if _STATIC_EXT.search(path):
            return
        why = link_filter(url) if link_filter is not None else None
        if why is None and link_filter is None and _UNSAFE_LINK.search(path):
            why = "skipped: looks state-changing"
        if why is not None:
            shown = path + (f"?{parts.query}" if parts.query else "")
            result.not_followed.setdefault(f"GET {shown}", why)
            return  # neither fetched nor an operation: checks would hit it too
        if path not in skip:
            book.add("GET", path, _query_params(parts.query))
        if path in queued or len(queue) >= MAX_QUEUE:
            return
        shape = _shape(path)
        if queued_shapes.get(shape, 0) >= _MAX_PER_SHAPE:
            return
        queued_shapes[shape] = queued_shapes.get(shape, 0) + 1
        queued.add(path)
        queue.append(url)

    async def absorb(ex: Exchange, url: str) -> None:
        if ex.status is None:
            return
        if 300 <= ex.status < 400:
            loc = _header(ex.response_headers, "location")
            if loc:
                enqueue(urljoin(url, loc))
            return
        if _is_html(ex):
            page = ex.body_text[:MAX_HTML_CHARS]
            # a large page is parsed off the loop: the scan's wall and Ctrl-C stay responsive
            links, forms = (
                extract_html(page, url)
                if len(page) < 65536
                else await offload(extract_html, page, url)
            )
            for link in links[:MAX_LINKS_PER_PAGE]:
                enqueue(link)
            for form in forms[:MAX_FORMS_PER_PAGE]:
                if not client.in_scope(form.action):
                    continue
                parts = urlsplit(form.action)
                path = parts.path or "/"
                if form.method == "GET":
                    params = _query_params(parts.query)
                    for p in form.inputs:
                        params.append(
                            Param(
                                name=p.name,
                                location=Location.QUERY,
                                schema=p.schema,
                                required=p.required,
                                example=p.example,
                            )
                        )
                    book.add("GET", path, params)
                    form_ops.add(("GET", path))
                else:
                    ct = (
                        "multipart/form-data"
                        if "multipart" in form.enctype
                        else "application/x-www-form-urlencoded"
                    )
                    params = _query_params(parts.query) + list(form.inputs)
                    book.add(form.method, path, params, body_content_type=ct)
            return
        # a large JSON answer is parsed off the loop, like a large page
        data = _parse_json(ex) if len(ex.body_text) < 65536 else await offload(_parse_json, ex)
        if data is not None:
            for found in extract_json_urls(data, client.origin)[:MAX_LINKS_PER_PAGE]:
                enqueue(found)

    # Pages already fetched (the target root) seed the crawl.
    for seed in start:
        url = seed.url
        pages += 1
        result.fetched[urlsplit(url).path or "/"] = seed.status
        if seed.status is not None and seed.status not in (404, 410):
            path = urlsplit(url).path or "/"
            if path not in skip:
                book.add("GET", path, _query_params(urlsplit(url).query))
        queued.add(urlsplit(url).path or "/")
        await absorb(seed, url)

    # Well-known API paths: one GET each; kept only when the answer looks like an endpoint.
    for path in probe_paths:
        if not budget_left():
            break
        url = client.url(path)
        p = urlsplit(url).path
        if p in queued:
            continue
        queued.add(p)
        ex = await client.get(url)
        if ex is None:
            break
        pages += 1
        result.fetched[p] = ex.status
        if ex.status is None:
            continue
        if baseline_body is not None and ex.body_text == baseline_body and ex.status == 200:
            continue  # a catch-all (SPA) answer, not an endpoint
        if ex.status == 405:
            allow = _header(ex.response_headers, "allow") or ""
            for m in (x.strip().upper() for x in allow.split(",")):
                if m and m not in ("HEAD", "OPTIONS") and p not in skip:
                    book.add(m, p, source="probe")
            continue
        if ex.status < 300 or ex.status in (400, 401, 403, 422):
            if p not in skip:
                book.add("GET", p, source="probe")
            await absorb(ex, url)

    # Breadth-first over the links found, one at a time (the scoped client paces requests).
    while queue and budget_left():
        url = queue.pop(0)
        ex = await client.get(url)
        if ex is None:
            break
        pages += 1
        path = urlsplit(url).path or "/"
        result.fetched[path] = ex.status
        if ex.status is None or ex.status in (404, 410):
            # a dead link is not an operation (unless a form also points there)
            if ("GET", path) not in form_ops:
                book.ops.pop(("GET", path), None)
            continue
        await absorb(ex, url)

    result.operations = list(book.ops.values())
    result.left_out = book.left_out
    return result

"""Follow Swagger UI and ReDoc pages to the OpenAPI documents they render.

Real APIs often publish their spec only through a documentation page: Swagger UI at a path that
redirects (``/api-docs`` -> ``/api-docs/``), configured in an inline script or in
``swagger-ui-init.js`` / ``swagger-initializer.js`` (``url: "..."``, ``urls: [{url: ...}]``, or
the whole document embedded as ``"swaggerDoc": {...}`` by swagger-ui-express), and ReDoc pages
(``<redoc spec-url="...">``, ``Redoc.init("...")``). This module reads those pages and scripts
(same origin only, through the DiscoveryClient and its request cap) and loads the first document
that is OpenAPI/Swagger.
"""

from __future__ import annotations

import json
import re
from urllib.parse import urljoin

from firebrick.discovery.crawl import DiscoveryClient
from firebrick.discovery.openapi import (
    LoadedSpec,
    _load_external,
    parse_document,
    prepare_spec,
    spec_version,
)
from firebrick.errors import SpecError
from firebrick.model import Exchange

# Documentation pages, in probing order (relative to the target base URL). Redirects inside the
# origin are followed by the client, so /api-docs reaches /api-docs/.
DOCS_PAGES: tuple[str, ...] = (
    "/api-docs",
    "/docs",
    "/swagger",
    "/swagger-ui.html",
    "/swagger-ui/",
    "/redoc",
    "/api/docs",
)
MAX_SCRIPTS = 3  # init scripts read per page
MAX_CANDIDATES = 4  # spec URLs tried

_UI_MARK = re.compile(r"swagger-ui|SwaggerUIBundle|redoc|swagger-initializer|swagger-ui-init", re.I)
_SCRIPT_SRC = re.compile(r"<script[^>]+src\s*=\s*[\"']([^\"']+)[\"']", re.I)
_INIT_SCRIPT = re.compile(r"(init|initializer|config|swagger|redoc)[^/]*\.js(\?|$)", re.I)
_URL_KEY = re.compile(r"""(?<![\w-])["']?(?:url|configUrl|specUrl)["']?\s*:\s*["']([^"']+)["']""")
_SPEC_URL_ATTR = re.compile(r"""spec-url\s*=\s*["']([^"']+)["']""", re.I)
_REDOC_INIT = re.compile(r"""Redoc\.init\(\s*["']([^"']+)["']""")
_EMBEDDED = re.compile(r"""["']?(?:swaggerDoc|spec)["']?\s*:\s*\{""")
_NOT_SPEC = re.compile(r"\.(css|png|svg|ico|html?)(\?|$)|^(data|javascript|mailto):", re.I)


def looks_like_docs_ui(ex: Exchange | None) -> bool:
    if ex is None or ex.status != 200:
        return False
    return bool(_UI_MARK.search(ex.body_text[:200_000]))


def spec_urls(text: str, page_url: str) -> list[str]:
    """Candidate spec URLs named by a docs page or its init script, absolute, in order."""
    found: list[str] = []
    for rx in (_SPEC_URL_ATTR, _REDOC_INIT, _URL_KEY):
        for m in rx.finditer(text):
            value = m.group(1).strip()
            if not value or _NOT_SPEC.search(value) or "{" in value:
                continue
            absolute = urljoin(page_url, value)
            if absolute not in found:
                found.append(absolute)
    return found


def embedded_documents(text: str) -> list[dict[str, object]]:
    """OpenAPI documents embedded in a script (swagger-ui-express ``"swaggerDoc": {...}``)."""
    out: list[dict[str, object]] = []
    decoder = json.JSONDecoder()
    for m in _EMBEDDED.finditer(text):
        try:
            doc, _end = decoder.raw_decode(text, m.end() - 1)
        except ValueError:
            continue
        if isinstance(doc, dict) and spec_version(doc) is not None:
            out.append(doc)
    return out


async def _load(client: DiscoveryClient, url: str, doc: dict[str, object]) -> LoadedSpec | None:
    try:
        documents, warnings = await _load_external(client, url, doc, url, strict=False)
        loaded = prepare_spec(doc, source=url, base_uri=url, documents=documents, strict=False)
    except SpecError:
        return None
    loaded.warnings[:0] = warnings
    return loaded


async def _try_url(client: DiscoveryClient, url: str) -> LoadedSpec | None:
    if not client.in_scope(url):
        return None
    ex = await client.get(url)
    if ex is None or ex.status != 200 or not ex.body_text.strip():
        return None
    try:
        doc = parse_document(ex.body_text, url)
    except SpecError:
        return None
    if spec_version(doc) is None:
        return None
    return await _load(client, url, doc)


def _page_url(ex: Exchange) -> str:
    return ex.url


async def from_page(client: DiscoveryClient, page: Exchange) -> LoadedSpec | None:
    """The spec a Swagger UI / ReDoc page renders, or None."""
    page_url = _page_url(page)
    texts: list[tuple[str, str]] = [(page.body_text, page_url)]
    scripts = [urljoin(page_url, s) for s in _SCRIPT_SRC.findall(page.body_text)]
    init = [s for s in scripts if _INIT_SCRIPT.search(s) and client.in_scope(s)]
    for script in init[:MAX_SCRIPTS]:
        ex = await client.get(script)
        if ex is not None and ex.status == 200:
            texts.append((ex.body_text, script))
    for text, where in texts:
        for doc in embedded_documents(text):
            loaded = await _load(client, where, doc)
            if loaded is not None:
                return loaded
    tried = 0
    for text, where in texts:
        for url in spec_urls(text, where):
            if tried >= MAX_CANDIDATES:
                return None
            tried += 1
            loaded = await _try_url(client, url)
            if loaded is not None:
                return loaded
    return None


async def follow_docs_ui(client: DiscoveryClient, pages: list[Exchange]) -> LoadedSpec | None:
    """Pages already fetched first (the root may be the docs page), then the usual doc paths."""
    seen: set[str] = set()
    for page in pages:
        seen.add(page.url)
        if looks_like_docs_ui(page):
            loaded = await from_page(client, page)
            if loaded is not None:
                return loaded
    for path in DOCS_PAGES:
        url = client.url(path)
        if url in seen or client.remaining <= 0:
            continue
        seen.add(url)
        ex = await client.get(url)
        if ex is None:
            return None
        if ex.url in seen and ex.url != url:
            continue  # a redirect to a page already read
        seen.add(ex.url)
        if looks_like_docs_ui(ex):
            loaded = await from_page(client, ex)
            if loaded is not None:
                return loaded
    return None

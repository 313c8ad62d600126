"""Discovery that reaches further: routes in JavaScript bundles, Swagger UI / ReDoc configs.

The pure extraction is tested here on the shapes seen in the field; tests/test_truthful_lab.py
scans real apps that serve them.
"""

from __future__ import annotations

import json

from firebrick.discovery.bundles import routes_in
from firebrick.discovery.docs_ui import embedded_documents, spec_urls

PAGE = "http://127.0.0.1:5000/api-docs/"


def test_bundle_routes_with_methods_templates_and_base_urls() -> None:
    js = (
        'const api=axios.create({baseURL:"/api"});'
        'fetch("/api/notes",{method:"POST",body:x});'
        "fetch(`/api/notes/${note.title}`);"
        'axios.delete("/api/users/"+u.name);'
        'api.get("/profile");'
        "http.put('/api/v1/settings', y);"
        'const css="/static/app.css", home="/about", bare="/api";'
    )
    routes = routes_in(js)
    assert routes["/api/notes"] == {"POST"}
    assert "/api/notes/{title}" in routes
    assert routes["/api/users/{id}"] == {"DELETE"}
    assert routes["/api/profile"] == {"GET"}  # relative call on the baseURL instance
    assert routes["/api/v1/settings"] == {"PUT"}
    assert not {"/static/app.css", "/about", "/api"} & set(routes)


def test_swagger_ui_configs_name_their_documents() -> None:
    init = 'SwaggerUIBundle({url: "./swagger.json", dom_id: "#swagger-ui"})'
    assert spec_urls(init, PAGE) == ["http://127.0.0.1:5000/api-docs/swagger.json"]
    multi = 'urls: [{url: "/v1/openapi.json", name: "v1"}, {"url": "/v2/openapi.yaml"}]'
    assert spec_urls(multi, PAGE) == [
        "http://127.0.0.1:5000/v1/openapi.json",
        "http://127.0.0.1:5000/v2/openapi.yaml",
    ]
    redoc = '<redoc spec-url="/openapi.yaml"></redoc>'
    assert spec_urls(redoc, PAGE) == ["http://127.0.0.1:5000/openapi.yaml"]
    init_call = "Redoc.init('/docs/spec.json', {}, document.getElementById('r'))"
    assert spec_urls(init_call, PAGE) == ["http://127.0.0.1:5000/docs/spec.json"]
    # stylesheets and scripts are not documents
    assert spec_urls('{url: "./swagger-ui.css"}', PAGE) == []


def test_swagger_ui_express_embeds_the_document() -> None:
    doc = {"openapi": "3.0.0", "info": {"title": "x", "version": "1"}, "paths": {}}
    script = f'window.onload=function(){{var options = {{"swaggerDoc": {json.dumps(doc)}}};}}'
    assert embedded_documents(script) == [doc]
    assert embedded_documents('var options = {"swaggerDoc": {"not": "a spec"}}') == []

"""Large specs are validated once, structurally (linear), and still refused when invalid; small
specs keep openapi-spec-validator's full checks and wording."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from firebrick.discovery.openapi import fetch_spec, operations_from_spec
from firebrick.discovery.spec_validation import FULL_CHECK_MAX_OPERATIONS
from firebrick.errors import SpecError

BIG = FULL_CHECK_MAX_OPERATIONS + 50


def _op(i: int, v2: bool) -> dict[str, Any]:
    if v2:
        param = {"name": "url", "in": "query", "type": "string", "format": "uri"}
    else:
        param = {"name": "url", "in": "query", "schema": {"type": "string", "format": "uri"}}
    return {
        "get": {
            "operationId": f"op{i}",
            "parameters": [param],
            "responses": {"200": {"description": "ok"}},
        }
    }


def big_doc(version: str, n: int = BIG) -> dict[str, Any]:
    v2 = version == "2.0"
    doc: dict[str, Any] = {
        "info": {"title": "big", "version": "1"},
        "paths": {f"/r{i}": _op(i, v2) for i in range(n)},
    }
    doc["swagger" if v2 else "openapi"] = version
    return doc


def load(tmp_path: Path, doc: dict[str, Any]) -> Any:
    path = tmp_path / "spec.json"
    path.write_text(json.dumps(doc))
    return asyncio.run(fetch_spec(None, str(path)))


@pytest.mark.parametrize("version", ["2.0", "3.0.3", "3.1.0"])
def test_big_valid_spec_read_in_full_with_one_warning(tmp_path: Path, version: str) -> None:
    loaded = load(tmp_path, big_doc(version))
    ops, _ = operations_from_spec(loaded, "http://127.0.0.1:5000")
    assert len(ops) == BIG
    assert [w for w in loaded.warnings if "checked against the OpenAPI schema only" in w]


@pytest.mark.parametrize("version", ["2.0", "3.0.3", "3.1.0"])
def test_big_invalid_spec_is_refused_naming_the_place(tmp_path: Path, version: str) -> None:
    doc = big_doc(version)
    doc["paths"][f"/r{BIG - 1}"]["get"]["parameters"][0]["in"] = "nowhere"  # deep in the document
    with pytest.raises(SpecError) as info:
        load(tmp_path, doc)
    message = str(info.value)
    assert "invalid" in message and f"paths['/r{BIG - 1}'].get.parameters[0]" in message
    assert "\n" not in message and len(message) < 400


def test_big_spec_missing_required_field(tmp_path: Path) -> None:
    doc = big_doc("3.0.3")
    del doc["info"]["version"]
    with pytest.raises(SpecError, match=r"\"version\" is a required property \(at info\)"):
        load(tmp_path, doc)


def test_small_spec_keeps_the_full_semantic_checks(tmp_path: Path) -> None:
    # A path template variable that is not declared: the JSON Schema cannot see it,
    # openapi-spec-validator can.
    doc = big_doc("3.0.3", n=3)
    doc["paths"]["/r1/{missing}"] = doc["paths"].pop("/r1")
    with pytest.raises(SpecError, match="missing"):
        load(tmp_path, doc)
    assert not load(tmp_path, big_doc("3.0.3", n=3)).warnings

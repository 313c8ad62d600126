"""Validating an OpenAPI document once, in time linear in its size.

Two passes, chosen by size:

1. **Structure** (every document): the document against the official OpenAPI JSON Schema of its
   version (2.0, 3.0, 3.1; the copies openapi-spec-validator ships), with jsonschema-rs, a
   compiled validator. It is linear and fast (about 10 ms for 5,000 operations, where
   openapi-spec-validator takes about 10 s on this machine and grows faster than the document).
2. **Semantics** (documents up to ``FULL_CHECK_MAX_OPERATIONS`` operations): openapi-spec-validator,
   which also checks what the schema cannot say (path parameters declared, defaults that fit
   their schema, ...) and words its errors the way users know. Beyond that size it is skipped and
   the scan says so in one warning.

Validation never opens a connection (offline, no retriever) and runs once per document, in
discovery, never on a request path.
"""

from __future__ import annotations

import importlib.util
import json
from functools import cache
from pathlib import Path
from typing import Any

__all__ = ["FULL_CHECK_MAX_OPERATIONS", "count_operations", "structural_error"]

# Above this many operations only the structural pass runs (openapi-spec-validator costs about
# 1.5 ms per operation here and grows faster than linearly).
FULL_CHECK_MAX_OPERATIONS = 300

_METHODS = frozenset({"get", "put", "post", "delete", "options", "head", "patch", "trace"})


def count_operations(doc: dict[str, Any]) -> int:
    paths = doc.get("paths")
    if not isinstance(paths, dict):
        return 0
    return sum(
        sum(1 for m in item if m in _METHODS) for item in paths.values() if isinstance(item, dict)
    )


def _schema_dir(version: str) -> str:
    if version == "2.0":
        return "v2.0"
    return "v3.1" if version.startswith("3.1") else "v3.0"


@cache
def _validator(folder: str) -> Any:
    """A compiled validator for one OpenAPI version, or None when jsonschema-rs is missing."""
    try:
        import jsonschema_rs
    except ImportError:  # pragma: no cover - a declared dependency; keep working without it
        return None
    # Found without importing openapi_spec_validator (its import alone costs about 0.3 s).
    spec = importlib.util.find_spec("openapi_spec_validator")
    if spec is None or not spec.submodule_search_locations:
        return None
    package = Path(next(iter(spec.submodule_search_locations)))
    text = (package / "resources" / "schemas" / folder / "schema.json").read_text(encoding="utf-8")

    def refuse(uri: str) -> Any:  # validation never fetches anything
        raise ValueError(f"not fetched: {uri}")

    return jsonschema_rs.validator_for(json.loads(text), retriever=refuse)


def structural_error(doc: dict[str, Any], version: str) -> tuple[str, list[str]] | None:
    """(message, instance path) of the first schema violation, None when valid.

    None too when the structural validator is unavailable (then only the semantic pass runs).
    """
    validator = _validator(_schema_dir(version))
    if validator is None:
        return None
    for error in validator.iter_errors(doc):
        return str(error.message), [str(p) for p in error.instance_path]
    return None

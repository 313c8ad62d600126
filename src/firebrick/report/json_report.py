"""The JSON report: ScanResult.to_dict() as indented JSON (schema: docs/scan-result.schema.json)."""

from __future__ import annotations

import base64
import dataclasses
import json
from enum import Enum
from typing import IO, Any

from firebrick.model import ScanResult


def _default(value: Any) -> Any:
    # Checks may leave non-JSON values in evidence.details; render them rather than fail a report.
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, set | frozenset):
        return sorted(value, key=repr)
    if isinstance(value, tuple):
        return list(value)
    if isinstance(value, bytes | bytearray):
        try:
            return bytes(value).decode("utf-8")
        except UnicodeDecodeError:
            return "base64:" + base64.b64encode(bytes(value)).decode("ascii")
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        to_dict = getattr(value, "to_dict", None)
        return to_dict() if callable(to_dict) else dataclasses.asdict(value)
    return str(value)


def to_dict(result: ScanResult) -> dict[str, Any]:
    """The JSON-safe dict that to_json writes (round-tripped so every value is plain JSON)."""
    loaded: dict[str, Any] = json.loads(to_json(result))
    return loaded


def to_json(result: ScanResult) -> str:
    """The report as JSON text, indented by 2, UTF-8 characters kept, trailing newline."""
    return json.dumps(result.to_dict(), indent=2, ensure_ascii=False, default=_default) + "\n"


def write_json(result: ScanResult, out: IO[str]) -> None:
    """The same text as to_json, written piece by piece: a large scan's report never exists as
    one string (nor as the list of pieces json.dumps joins), which bounds its peak memory."""
    json.dump(result.to_dict(), out, indent=2, ensure_ascii=False, default=_default)
    out.write("\n")

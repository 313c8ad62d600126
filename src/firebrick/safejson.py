"""JSON from a target we cannot trust: parse without crashing, refuse absurd nesting.

``json.loads`` raises RecursionError on a document nested about 1,000 levels deep, and every
recursive walker in the checks would do the same a little below that. An answer nested deeper
than MAX_DEPTH is treated like an answer that is not JSON at all.
"""

from __future__ import annotations

import json
from typing import Any

MAX_DEPTH = 200


def depth_of(data: Any, limit: int = MAX_DEPTH) -> int:
    """Nesting depth of parsed JSON (iterative; stops counting past ``limit``)."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(data, 1)]
    while stack:
        node, depth = stack.pop()
        if not isinstance(node, (dict, list)):
            continue
        deepest = max(deepest, depth)
        if deepest > limit:
            return deepest
        children = node.values() if isinstance(node, dict) else node
        stack.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))
    return deepest


def safe_json_loads(text: str | bytes, max_depth: int = MAX_DEPTH) -> Any:
    """Parsed JSON, or None when the text is not JSON or is nested deeper than ``max_depth``."""
    if len(text) > 65536 and text.rstrip()[-1:] not in (
        ("}", "]") if isinstance(text, str) else (b"}", b"]")
    ):
        return None  # a large answer cut at the size cap: not JSON, and not worth parsing to say so
    try:
        data = json.loads(text)
    except (ValueError, RecursionError, TypeError):
        return None
    if isinstance(data, (dict, list)) and depth_of(data, max_depth) > max_depth:
        return None
    return data

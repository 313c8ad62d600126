"""Redaction of the user's secrets from a finished ScanResult, in every field of every finding,
exchange, warning and fact, before anything is rendered or stored.

A secret is a value the user handed us to authenticate (``-H`` values, ``--identity`` values,
URL userinfo and the Authorization header made from it). The target may reflect it anywhere (a
body, a header, an error page); the record of our own request already masks user headers
(http.py). Each secret is also matched percent-encoded, JSON-escaped and base64-encoded (Basic
credentials). Values shorter than MIN_SECRET_LEN are not redacted: "1" cannot be told apart from
every other "1" in a report.
"""

from __future__ import annotations

import base64
import json
import re
from dataclasses import fields, is_dataclass
from enum import Enum
from typing import Any
from urllib.parse import quote, quote_plus

MIN_SECRET_LEN = 4
MASK = "<redacted>"


def variants(secret: str) -> set[str]:
    out = {secret, quote(secret, safe=""), quote_plus(secret), json.dumps(secret)[1:-1]}
    scheme, _, rest = secret.partition(" ")
    if rest and scheme.lower() in ("bearer", "basic", "token", "digest"):
        out |= variants(rest)  # the credential alone, without its scheme
        if scheme.lower() == "basic":
            try:
                decoded = base64.b64decode(rest, validate=True).decode()
            except ValueError:
                decoded = ""
            _user, sep, password = decoded.partition(":")
            if sep:
                out |= {decoded, password} if len(password) >= MIN_SECRET_LEN else {decoded}
    if len(secret) >= 3:
        out.add(base64.b64encode(secret.encode()).decode().rstrip("="))
    return {v for v in out if len(v) >= MIN_SECRET_LEN}


def pattern_for(secrets: list[str]) -> re.Pattern[str] | None:
    found: set[str] = set()
    for s in secrets:
        if s and len(s) >= MIN_SECRET_LEN:
            found |= variants(s)
    if not found:
        return None
    # longest first, so a secret containing another is masked whole
    return re.compile("|".join(re.escape(v) for v in sorted(found, key=len, reverse=True)))


def redact_text(text: str, secrets: list[str]) -> str:
    rx = pattern_for(secrets)
    return rx.sub(MASK, text) if rx else text


def redact_result(result: Any, secrets: list[str]) -> Any:
    """Mask every secret in every string inside ``result`` (dataclasses, dicts, lists), in place;
    returns ``result``."""
    rx = pattern_for(secrets)
    if rx is None:
        return result
    seen: set[int] = set()

    def clean(value: Any) -> Any:
        if isinstance(value, Enum):  # Severity etc. are str enums: keep them as they are
            return value
        if isinstance(value, str):
            return rx.sub(MASK, value) if value else value
        if id(value) in seen:
            return value
        if is_dataclass(value) and not isinstance(value, type):
            seen.add(id(value))
            for f in fields(value):
                setattr(value, f.name, clean(getattr(value, f.name)))
            return value
        if isinstance(value, dict):
            seen.add(id(value))
            items = [(clean(k), clean(v)) for k, v in value.items()]
            value.clear()
            value.update(items)
            return value
        if isinstance(value, list):
            seen.add(id(value))
            value[:] = [clean(v) for v in value]
            return value
        if isinstance(value, tuple):
            return tuple(clean(v) for v in value)
        return value

    return clean(result)

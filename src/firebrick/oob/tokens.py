"""Payload tokens: one per payload, so every interaction names the payload that caused it.

A token is a DNS-safe label (lower-case letters and digits, starting with a letter) so the same
string works in a URL path, a host name and a DNS query name. Matching is case-insensitive
because resolvers that use 0x20 encoding randomise the case of the names they send.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator

TOKEN_PREFIX = "fb"
TOKEN_ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789"
TOKEN_RANDOM_CHARS = 10
TOKEN_LENGTH = len(TOKEN_PREFIX) + TOKEN_RANDOM_CHARS

TOKEN_RE: re.Pattern[str] = re.compile(r"fb[a-z0-9]{10}", re.IGNORECASE)

# Bound the work spent searching attacker-controlled text for tokens.
_MAX_SCAN_CHARS = 65536


def new_token() -> str:
    """A fresh random token: ``fb`` + 10 chars of ``[a-z0-9]`` (about 51 bits)."""
    return TOKEN_PREFIX + "".join(secrets.choice(TOKEN_ALPHABET) for _ in range(TOKEN_RANDOM_CHARS))


def is_token(text: str) -> bool:
    """True when ``text`` is exactly one token (any letter case)."""
    return len(text) == TOKEN_LENGTH and TOKEN_RE.fullmatch(text) is not None


def candidates(text: str) -> Iterator[str]:
    """Every token-shaped substring of ``text``, lower-cased, in order of position.

    Overlapping candidates are included (``re.finditer`` would skip them), so a known token that
    directly follows other token-like characters is still found.
    """
    lowered = text[:_MAX_SCAN_CHARS].lower()
    start = lowered.find(TOKEN_PREFIX)
    while start != -1:
        piece = lowered[start : start + TOKEN_LENGTH]
        if TOKEN_RE.fullmatch(piece):
            yield piece
        start = lowered.find(TOKEN_PREFIX, start + 1)

"""JWT helpers for the authentication check: find, parse, forge and crack tokens.

Standard library only (hmac, hashlib, base64, json). Forged tokens are built here and sent only
to the scan's target by the check, on read-only requests; cracking is offline against a bundled
list of common secrets (data/common_jwt_secrets.txt), never against the target.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import time
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from typing import Any

# Three base64url segments, the first two starting with '{"' (eyJ); the signature may be empty.
JWT_RE = re.compile(r"\beyJ[A-Za-z0-9_-]{5,}\.eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*")
HMAC_ALGS = {"HS256": hashlib.sha256, "HS384": hashlib.sha384, "HS512": hashlib.sha512}
# Claim names whose presence in a token means the token carries data it should not.
SENSITIVE_CLAIMS = {
    "password",
    "passwd",
    "pwd",
    "password_hash",
    "passwordhash",
    "pwd_hash",
    "hash",
    "secret",
    "client_secret",
    "api_key",
    "apikey",
    "private_key",
    "ssn",
    "credit_card",
    "card_number",
    "cvv",
    "pin",
    "otp_secret",
    "totp_secret",
    "mfa_secret",
    "refresh_token",
    "access_key",
    "aws_secret_access_key",
}


def b64url_decode(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def b64url_encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _json_segment(obj: dict[str, Any]) -> str:
    return b64url_encode(json.dumps(obj, separators=(",", ":")).encode())


@dataclass
class Token:
    raw: str
    header: dict[str, Any]
    claims: dict[str, Any]
    signature: str
    source: str = ""  # where it was met: "user header Authorization", "spec example", ...
    trusted_origin: bool = False  # issued by the target (its key), not just a document example
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def alg(self) -> str:
        return str(self.header.get("alg", ""))

    @property
    def signing_input(self) -> bytes:
        head, payload, _ = self.raw.split(".")
        return f"{head}.{payload}".encode()


def parse(raw: str, source: str = "") -> Token | None:
    """A Token for a compact JWS string, or None when it is not one."""
    parts = raw.strip().split(".")
    if len(parts) != 3:
        return None
    try:
        header = json.loads(b64url_decode(parts[0]))
        claims = json.loads(b64url_decode(parts[1]))
    except (ValueError, UnicodeDecodeError):
        return None
    if not isinstance(header, dict) or not isinstance(claims, dict) or "alg" not in header:
        return None
    return Token(raw.strip(), header, claims, parts[2], source)


def find_tokens(text: str, source: str = "") -> list[Token]:
    """Every distinct JWT in a text (a header value, a body, a document)."""
    out: dict[str, Token] = {}
    for match in JWT_RE.finditer(text or ""):
        tok = parse(match.group(0), source)
        if tok is not None and tok.raw not in out:
            out[tok.raw] = tok
    return list(out.values())


def sign(header: dict[str, Any], claims: dict[str, Any], secret: str | bytes | None) -> str:
    """A compact JWT: HMAC-signed with secret for HS*, or unsigned for alg none (secret None)."""
    head = _json_segment(header)
    body = _json_segment(claims)
    alg = str(header.get("alg", "none"))
    if secret is None or alg.lower() == "none":
        return f"{head}.{body}."
    key = secret.encode() if isinstance(secret, str) else secret
    digest = HMAC_ALGS.get(alg.upper(), hashlib.sha256)
    sig = hmac.new(key, f"{head}.{body}".encode(), digest).digest()
    return f"{head}.{body}.{b64url_encode(sig)}"


def verify_hmac(token: Token, secret: str | bytes) -> bool:
    digest = HMAC_ALGS.get(token.alg.upper())
    if digest is None:
        return False
    key = secret.encode() if isinstance(secret, str) else secret
    expected = hmac.new(key, token.signing_input, digest).digest()
    try:
        given = b64url_decode(token.signature)
    except ValueError:
        return False
    return hmac.compare_digest(expected, given)


@lru_cache(maxsize=1)
def common_secrets() -> tuple[str, ...]:
    """The bundled list of common HMAC secrets (comments and blank lines dropped)."""
    text = (resources.files("firebrick.checks") / "data" / "common_jwt_secrets.txt").read_text(
        "utf-8"
    )
    seen: dict[str, None] = {}
    for line in text.splitlines():
        if line.strip() and not line.startswith("#"):
            seen.setdefault(line.rstrip("\n"), None)
    return tuple(seen)


def crack(token: Token, extra: list[str] | None = None) -> str | None:
    """The HMAC secret of token if it is a common one (offline, a few hundred HMACs)."""
    if token.alg.upper() not in HMAC_ALGS or not token.signature:
        return None
    for secret in [*(extra or []), *common_secrets()]:
        if verify_hmac(token, secret):
            return secret
    return None


def alg_none(token: Token) -> list[str]:
    """Unsigned variants of token (the spellings libraries have accepted)."""
    out = []
    for alg in ("none", "None", "NONE"):
        header = {k: v for k, v in token.header.items() if k != "kid"} | {"alg": alg}
        out.append(sign(header, token.claims, None))
    return out


def tampered_signature(token: Token) -> str:
    """token with its signature replaced: a server that accepts it does not verify signatures."""
    head, body, sig = token.raw.split(".")
    raw = b64url_decode(sig) if sig else b"\0" * 32
    flipped = bytes(b ^ 0x5A for b in raw) or b"\x5a" * 32
    return f"{head}.{body}.{b64url_encode(flipped)}"


def expired(token: Token, secret: str) -> str:
    """token re-signed with secret, expired an hour ago."""
    now = int(time.time())
    claims = dict(token.claims) | {"exp": now - 3600, "iat": now - 7200}
    claims.pop("nbf", None)
    return sign(token.header, claims, secret)


def missing_claims(token: Token) -> list[str]:
    return [c for c in ("exp", "iss", "aud") if c not in token.claims]


def sensitive_claims(token: Token) -> list[str]:
    found = []
    for name, value in token.claims.items():
        norm = re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()
        if (norm in SENSITIVE_CLAIMS or name.lower() in SENSITIVE_CLAIMS) and value not in (
            None,
            "",
            [],
            {},
        ):
            found.append(name)
    return found


def lifetime(token: Token) -> float | None:
    """Seconds between iat (or now) and exp, when exp is a number."""
    exp = token.claims.get("exp")
    if not isinstance(exp, (int, float)):
        return None
    iat = token.claims.get("iat")
    start = iat if isinstance(iat, (int, float)) else time.time()
    return float(exp) - float(start)

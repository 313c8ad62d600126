"""JWT helpers for the authentication check: find, parse, forge and crack tokens.

Standard library only (hmac, hashlib, base64, json). Forged tokens are built here and sent only
to the scan's target by the check, on read-only requests; cracking is offline against a bundled
list of common secrets (data/common_jwt_secrets.txt), never against the target.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import json
import re
import time
from collections.abc import Iterator
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


# -- short secrets, brute-forced offline within a time budget -----------------------------------
BRUTE_BUDGET_S = 3.0  # per token; benchmarks/bench_jwt_crack.py measures the rate
_DIGITS = "0123456789"
_LOWER = "abcdefghijklmnopqrstuvwxyz"


def short_secrets() -> Iterator[bytes]:
    """Every all-digit secret of 1-6 characters (PINs, "123456", six-digit numbers), then every
    lowercase secret of 1-4: 1,586,364 candidates, cheapest and likeliest first."""
    for alphabet, longest in ((_DIGITS, 6), (_LOWER, 4)):
        for n in range(1, longest + 1):
            for combo in itertools.product(alphabet, repeat=n):
                yield "".join(combo).encode()


@dataclass
class BruteResult:
    secret: str | None
    tried: int
    seconds: float
    exhausted: bool  # every candidate was tried (a miss then proves the secret is not short)


def crack_short(token: Token, budget_s: float = BRUTE_BUDGET_S) -> BruteResult:
    """Try short_secrets() against an HMAC token until found, exhausted or out of time.

    A tight loop: the HMAC is computed by hand from the padded key (two hashlib calls per
    candidate, no hmac object), which is about twice as fast as ``hmac.new``.
    """
    digest = HMAC_ALGS.get(token.alg.upper())
    started = time.perf_counter()
    if digest is None or not token.signature:
        return BruteResult(None, 0, 0.0, False)
    try:
        target = b64url_decode(token.signature)
    except ValueError:
        return BruteResult(None, 0, 0.0, False)
    msg = token.signing_input
    block = digest().block_size
    ipad, opad = bytes(x ^ 0x36 for x in range(256)), bytes(x ^ 0x5C for x in range(256))
    deadline = started + budget_s
    tried = 0
    for key in short_secrets():
        padded = key.ljust(block, b"\0")  # every candidate is shorter than a block
        inner = digest(padded.translate(ipad))
        inner.update(msg)
        if digest(padded.translate(opad) + inner.digest()).digest() == target:
            return BruteResult(key.decode(), tried + 1, time.perf_counter() - started, False)
        tried += 1
        if tried & 0x3FFF == 0 and time.perf_counter() > deadline:
            return BruteResult(None, tried, time.perf_counter() - started, False)
    return BruteResult(None, tried, time.perf_counter() - started, True)


# -- RS256/ES256 -> HS256 key confusion ------------------------------------------------------------
# Where apps publish the public key that verifies their tokens.
PUBLIC_KEY_PATHS = (
    "/.well-known/jwks.json",
    "/jwks.json",
    "/.well-known/openid-configuration",
    "/jwt.pub",
    "/public.pem",
    "/pubkey.pem",
    "/public_key.pem",
    "/keys/public.pem",
    "/.well-known/public.pem",
    "/api/jwks",
)
_PEM = re.compile(
    r"-----BEGIN (?:RSA )?PUBLIC KEY-----[A-Za-z0-9+/=\s]+-----END (?:RSA )?PUBLIC KEY-----"
)


def public_keys(text: str) -> list[tuple[str, bytes]]:
    """(label, PEM bytes) for every public key in a PEM file or a JWKS document.

    A verifier that takes the algorithm from the token uses its key *file* as the HMAC secret,
    so the exact PEM bytes matter: each key is offered as found, with and without a final
    newline, and (for JWKS) in the two encodings libraries write (SPKI and PKCS#1).
    """
    out: list[tuple[str, bytes]] = []
    for m in _PEM.finditer(text):
        pem = m.group(0).strip().encode()
        out += [("PEM", pem + b"\n"), ("PEM", pem)]
    try:
        doc = json.loads(text)
    except ValueError:
        doc = None
    keys = doc.get("keys") if isinstance(doc, dict) else None
    for jwk in keys if isinstance(keys, list) else []:
        out += _jwk_pems(jwk)
    return list(dict.fromkeys(out))


def _jwk_pems(jwk: Any) -> list[tuple[str, bytes]]:
    if not isinstance(jwk, dict):
        return []
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

    try:
        if jwk.get("kty") == "RSA":
            n = int.from_bytes(b64url_decode(str(jwk["n"])), "big")
            e = int.from_bytes(b64url_decode(str(jwk["e"])), "big")
            key: Any = rsa.RSAPublicNumbers(e, n).public_key()
            formats = [
                serialization.PublicFormat.SubjectPublicKeyInfo,
                serialization.PublicFormat.PKCS1,
            ]
        elif jwk.get("kty") == "EC" and jwk.get("crv") == "P-256":
            x = int.from_bytes(b64url_decode(str(jwk["x"])), "big")
            y = int.from_bytes(b64url_decode(str(jwk["y"])), "big")
            key = ec.EllipticCurvePublicNumbers(x, y, ec.SECP256R1()).public_key()
            formats = [serialization.PublicFormat.SubjectPublicKeyInfo]
        else:
            return []
    except (KeyError, ValueError, TypeError):
        return []
    label = f"JWKS kid {jwk.get('kid')}" if jwk.get("kid") else "JWKS"
    out = []
    for fmt in formats:
        pem = key.public_bytes(serialization.Encoding.PEM, fmt)
        out += [(label, pem), (label, pem.rstrip(b"\n"))]
    return out


def confusion_token(claims: dict[str, Any], pem: bytes, kid: str | None = None) -> str:
    """An HS256 token over claims whose HMAC secret is the public key's PEM text."""
    header: dict[str, Any] = {"alg": "HS256", "typ": "JWT"}
    if kid:
        header["kid"] = kid
    return sign(header, claims, pem)

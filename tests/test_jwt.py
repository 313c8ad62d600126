"""JWT helpers: parsing, forging and offline cracking (no network)."""

from __future__ import annotations

import time

from firebrick.checks import jwt


def test_sign_parse_verify_round_trip() -> None:
    raw = jwt.sign({"alg": "HS256", "typ": "JWT"}, {"sub": "alice"}, "s3cr3t-that-is-long")
    tok = jwt.parse(raw)
    assert tok is not None and tok.claims == {"sub": "alice"} and tok.alg == "HS256"
    assert jwt.verify_hmac(tok, "s3cr3t-that-is-long")
    assert not jwt.verify_hmac(tok, "other")


def test_find_tokens_in_text_and_rejects_garbage() -> None:
    raw = jwt.sign({"alg": "HS256"}, {"sub": "bob"}, "k")
    found = jwt.find_tokens(f"Authorization: Bearer {raw} and again {raw}", "doc")
    assert [t.raw for t in found] == [raw]
    assert jwt.parse("eyJhbGciOi.notjson.x") is None
    assert jwt.find_tokens("no tokens here") == []


def test_crack_finds_common_secret_and_not_a_random_one() -> None:
    assert "secret" in jwt.common_secrets() and len(jwt.common_secrets()) >= 300
    weak = jwt.parse(jwt.sign({"alg": "HS256"}, {"sub": "a"}, "your-256-bit-secret"))
    assert weak is not None and jwt.crack(weak) == "your-256-bit-secret"
    strong = jwt.parse(jwt.sign({"alg": "HS256"}, {"sub": "a"}, "f" * 64 + "not-in-any-list"))
    assert strong is not None and jwt.crack(strong) is None


def test_forgeries() -> None:
    tok = jwt.parse(jwt.sign({"alg": "HS256", "kid": "k1"}, {"sub": "a"}, "secret"))
    assert tok is not None
    none = [jwt.parse(v) for v in jwt.alg_none(tok)]
    assert all(
        t is not None and t.signature == "" and t.alg.lower() == "none" and "kid" not in t.header
        for t in none
    )
    bad = jwt.parse(jwt.tampered_signature(tok))
    assert bad is not None and bad.claims == tok.claims and not jwt.verify_hmac(bad, "secret")
    old = jwt.parse(jwt.expired(tok, "secret"))
    assert old is not None and old.claims["exp"] < time.time() and jwt.verify_hmac(old, "secret")


def test_claim_hygiene() -> None:
    tok = jwt.parse(
        jwt.sign({"alg": "HS256"}, {"sub": "a", "passwordHash": "x", "email": "a@example.com"}, "k")
    )
    assert tok is not None
    assert jwt.missing_claims(tok) == ["exp", "iss", "aud"]
    assert jwt.sensitive_claims(tok) == ["passwordHash"]

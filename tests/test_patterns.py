"""Secret and personal-data patterns, Luhn and redaction (checks/patterns.py)."""

from __future__ import annotations

from firebrick.checks import patterns

# Assembled at run time: no literal key-shaped strings in the repository.
AWS = "AKIA" + "IOSFODNN7EXAMPLE"
STRIPE = "sk_" + "live_" + "4eC39HqLyjWDarjtT1zdp7dc"
GITHUB = "ghp_" + "A" * 20 + "b" * 16
JWT = (
    "eyJhbGciOiJIUzI1NiJ9."
    + "eyJzdWIiOiIxMjM0NTY3ODkwIn0."
    + "dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U"
)


def names(text: str) -> set[str]:
    return {m.pattern.name for m in patterns.scan_text(text)}


def test_luhn_and_cards() -> None:
    assert patterns.luhn_ok("4111111111111111")
    assert not patterns.luhn_ok("4111111111111112")
    assert patterns.is_card("4111 1111 1111 1111")
    assert patterns.is_card("5500-0000-0000-0004")
    assert not patterns.is_card("1234 5678 9012 3456")  # no issuer prefix / Luhn
    assert not patterns.is_card("0000000000000000")
    assert "card" in names("pay with 4111 1111 1111 1111 today")
    assert "card" not in names("order 4111 1111 1111 1112")  # fails Luhn


def test_secret_formats() -> None:
    found = names(
        f"{AWS} {STRIPE} {GITHUB} token={JWT} -----BEGIN RSA PRIVATE KEY----- AIza" + "x" * 35
    )
    assert {
        "aws-access-key",
        "stripe-key",
        "github-token",
        "jwt",
        "private-key",
        "google-api-key",
    } <= found


def test_personal_data_needs_context_for_national_ids() -> None:
    assert "us-ssn" in names('{"ssn": "123-45-6789"}')
    assert "us-ssn" not in names("build 123-45-6789")  # digits alone are not an id
    assert "email" in names("mail ada@example.com")
    assert "email" not in names("logo@2x.png")
    assert "phone" in names("call +44 20 7946 0958")


def test_internal_addresses() -> None:
    found = names("upstream 10.1.2.3 via db1.prod.corp.internal, public 8.8.8.8, local 127.0.0.1")
    assert found == {"internal-ip", "internal-host"}


def test_traces() -> None:
    text = 'Traceback (most recent call last):\n  File "/app/x.py", line 3, in view\n'
    assert {"python-traceback", "python-frame"} <= names(text)


def test_redaction_never_shows_the_whole_value() -> None:
    shown = patterns.redact(STRIPE)
    assert STRIPE not in shown and shown.startswith(STRIPE[:4]) and shown.endswith("chars)")
    m = next(patterns.scan_text(f"key: {AWS}!"))
    ctx = patterns.context(f"key: {AWS}!", m)
    assert AWS not in ctx and "key:" in ctx
    assert patterns.redact("abc") == "…"

"""Secret and personal-data patterns, Luhn and redaction (checks/patterns.py)."""

from __future__ import annotations

import pytest

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


# -- SQL error signatures and framework debug pages (issue 14) ------------------------------
SQL_SAMPLES = [
    ('sqlite3.OperationalError: unrecognized token: "\'"', "SQLite"),
    ('SQLITE_ERROR: near "x": syntax error', "SQLite"),
    ("SequelizeDatabaseError: SQLITE_ERROR: incomplete input", "SQLite"),
    ("(sqlalchemy.exc.OperationalError) (sqlite3.OperationalError) near", "SQLite"),
    ('ERROR:  syntax error at or near "x"', "PostgreSQL"),
    ("psycopg2.errors.SyntaxError: unterminated quoted string", "PostgreSQL"),
    (
        "You have an error in your SQL syntax; check the manual that corresponds to your "
        "MariaDB server version",
        "MySQL/MariaDB",
    ),
    ("pymysql.err.ProgrammingError: (1064, ...)", "MySQL/MariaDB"),
    ("Unclosed quotation mark after the character string ''.", "Microsoft SQL Server"),
    ("ORA-01756: quoted string not properly terminated", "Oracle"),
    ("django.db.utils.ProgrammingError: relation does not exist", "ORM/driver"),
    ("SequelizeDatabaseError: relation missing", "ORM/driver"),
    ("org.hibernate.exception.SQLGrammarException: could not extract", "ORM/driver"),
]


@pytest.mark.parametrize(("text", "label"), SQL_SAMPLES)
def test_sql_error_names_the_database(text: str, label: str) -> None:
    from firebrick.checks.patterns import DB_ERRORS, sql_error

    found = sql_error(text)
    assert found is not None and found[0] == label
    assert DB_ERRORS.search(text)


@pytest.mark.parametrize(
    "text",
    ["Hello O'Brien", '{"error": "not found"}', "SELECT is a word", "syntax of the query"],
)
def test_sql_error_quiet_on_plain_text(text: str) -> None:
    from firebrick.checks.patterns import sql_error

    assert sql_error(text) is None


DEBUG_SAMPLES = [
    ("<title>Werkzeug Debugger</title>", "werkzeug"),
    (
        "You&#x27;re seeing this error because you have <code>DEBUG = True</code> in your",
        "django",
    ),
    ('<p class="traceback-title">Traceback</p>', "starlette"),
    ("at Layer.handle (/app/node_modules/express/lib/router/layer.js:95:5)", "express"),
    ("<title>Action Controller: Exception caught</title>", "rails"),
    (
        "at org.springframework.web.servlet.DispatcherServlet.doDispatch(DispatcherServlet.java:1)",
        "spring",
    ),
    ("<h1>Server Error in '/' Application.</h1>", "aspnet"),
]


@pytest.mark.parametrize(("text", "framework"), DEBUG_SAMPLES)
def test_debug_page_names_the_framework(text: str, framework: str) -> None:
    from firebrick.checks.patterns import debug_page

    found = debug_page(text)
    assert found is not None and found[0].name == framework


def test_debug_page_quiet_on_plain_error() -> None:
    from firebrick.checks.patterns import debug_page

    assert debug_page('{"error": "internal error"}') is None
    assert debug_page("<h1>Internal Server Error</h1>") is None

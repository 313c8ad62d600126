"""Patterns for secrets, personal data and internal details in text, plus Luhn and redaction.

Shared by data_exposure (responses and spec examples), encryption (which responses carry
personal data and so need Cache-Control) and llm_security. Every match is reported redacted:
enough characters to find it in the response, never the whole value.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterator
from dataclasses import dataclass


@dataclass(frozen=True)
class Pattern:
    name: str  # stable id, e.g. "aws-access-key"
    label: str  # for humans
    kind: str  # "secret" | "pii" | "internal" | "trace"
    regex: re.Pattern[str]
    group: int = 0  # which group holds the value to redact


@dataclass(frozen=True)
class Match:
    pattern: Pattern
    value: str  # the raw value (never put this in a report; use .redacted)
    start: int

    @property
    def redacted(self) -> str:
        return redact(self.value)


SECRETS: tuple[Pattern, ...] = (
    Pattern(
        "aws-access-key",
        "AWS access key id",
        "secret",
        re.compile(r"\b((?:AKIA|ASIA|AGPA|AIDA|AROA|ANPA|ANVA|AIPA)[A-Z0-9]{16})\b"),
        1,
    ),
    Pattern(
        "aws-secret-key",
        "AWS secret access key",
        "secret",
        re.compile(r"(?i)aws.{0,20}?secret.{0,20}?['\"=:\s]+([A-Za-z0-9/+=]{40})\b"),
        1,
    ),
    Pattern(
        "stripe-key",
        "Stripe secret key",
        "secret",
        re.compile(r"\b((?:sk|rk)_(?:live|test)_[0-9A-Za-z]{16,99})\b"),
        1,
    ),
    Pattern(
        "github-token",
        "GitHub token",
        "secret",
        re.compile(r"\b((?:ghp|gho|ghu|ghs|ghr)_[A-Za-z0-9]{36}|github_pat_[A-Za-z0-9_]{60,90})\b"),
        1,
    ),
    Pattern(
        "slack-token",
        "Slack token",
        "secret",
        re.compile(r"\b(xox[abposr]-[0-9A-Za-z-]{10,80})\b"),
        1,
    ),
    Pattern(
        "slack-webhook",
        "Slack webhook URL",
        "secret",
        re.compile(r"(https://hooks\.slack\.com/services/T[0-9A-Z]+/B[0-9A-Z]+/[0-9A-Za-z]+)"),
        1,
    ),
    Pattern(
        "google-api-key",
        "Google API key",
        "secret",
        re.compile(r"\b(AIza[0-9A-Za-z_\-]{35})(?![0-9A-Za-z_\-])"),
        1,
    ),
    Pattern(
        "private-key",
        "private key (PEM)",
        "secret",
        re.compile(r"(-----BEGIN (?:RSA |EC |DSA |OPENSSH |ENCRYPTED )?PRIVATE KEY-----)"),
    ),
    Pattern(
        "jwt",
        "JSON Web Token",
        "secret",
        re.compile(r"\b(eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,})"),
        1,
    ),
)

PII: tuple[Pattern, ...] = (
    Pattern(
        "email",
        "email address",
        "pii",
        re.compile(r"\b([A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9.-]+\.[A-Za-z]{2,24})\b"),
        1,
    ),
    # International (+CC) or North American formatted numbers; bare digit runs are too noisy.
    Pattern(
        "phone",
        "phone number",
        "pii",
        re.compile(
            r"(?<![\w+])(\+[1-9]\d{0,2}[ .-]?(?:\(\d{1,4}\)[ .-]?)?\d{2,4}[ .-]?\d{3,4}[ .-]?\d{3,4}"
            r"|\(\d{3}\) ?\d{3}-\d{4})(?!\w)"
        ),
        1,
    ),
    Pattern(
        "card", "payment card number", "pii", re.compile(r"(?<!\d)((?:\d[ -]?){12,18}\d)(?!\d)"), 1
    ),
    # A national id is only reported with context (the field or label names it): digits alone
    # match order numbers and timestamps.
    Pattern(
        "us-ssn",
        "US social security number",
        "pii",
        re.compile(r"(?i)(?:ssn|social.?security(?:.?number)?)\W{1,4}(\d{3}-\d{2}-\d{4})\b"),
        1,
    ),
    Pattern(
        "uk-nino",
        "UK national insurance number",
        "pii",
        re.compile(
            r"(?i)(?:nino|national.?insurance(?:.?number)?)\W{1,4}([A-CEGHJ-PR-TW-Z]{2}\s?\d{2}\s?\d{2}\s?\d{2}\s?[A-D])\b"
        ),
        1,
    ),
)

TRACES: tuple[Pattern, ...] = (
    Pattern(
        "python-traceback",
        "Python traceback",
        "trace",
        re.compile(r"(Traceback \(most recent call last\):)"),
    ),
    Pattern(
        "python-frame",
        "Python stack frame",
        "trace",
        re.compile(r"(File \"[^\"]{1,300}\", line \d+, in \w+)"),
    ),
    Pattern(
        "java-trace",
        "Java stack trace",
        "trace",
        re.compile(r"(\bat [a-z][\w$]*(?:\.[\w$]+){2,}\([\w$]+\.java:\d+\))"),
    ),
    Pattern(
        "werkzeug-debugger",
        "Werkzeug debugger page",
        "trace",
        re.compile(r"(Werkzeug Debugger|__debugger__)"),
    ),
)

# -- framework debug pages ------------------------------------------------------------------
# What each framework prints when debug mode is left on: its own page, named in the finding.
# Label = the framework. Checked in order: the most specific page first.
DEBUG_PAGES: tuple[Pattern, ...] = (
    Pattern(
        "werkzeug",
        "Werkzeug (Flask) debugger",
        "debug",
        re.compile(
            r"(Werkzeug Debugger|__debugger__|The debugger caught an exception in your WSGI application)"
        ),
    ),
    Pattern(
        "django",
        "Django (DEBUG = True)",
        "debug",
        re.compile(
            r"(You(?:'|&#x27;|&#39;)re seeing this error because you have <code>DEBUG = True</code>|"
            r"Django Version:</th>|Using the URLconf defined in <code>[\w.]+</code>|"
            r"<th>Exception Type:</th>.{0,400}Django)",
            re.S,
        ),
    ),
    Pattern(
        "starlette",
        "Starlette/FastAPI (debug=True)",
        "debug",
        re.compile(
            r"(<p class=\"traceback-title\">Traceback</p>|starlette/middleware/errors\.py|"
            r"starlette[/\\](?:routing|applications|middleware)\S*\.py|fastapi[/\\]routing\.py)"
        ),
    ),
    Pattern(
        "express",
        "Express/Node.js stack trace",
        "debug",
        re.compile(
            r"(node_modules[/\\]express[/\\]lib[/\\]\S+\.js:\d+:\d+|"
            r"\bat (?:[\w$.<>\[\] ]+ )?\((?:/|[A-Za-z]:\\|file://|node:)[^()\s]*\.(?:js|mjs|cjs|ts):\d+:\d+\))"
        ),
    ),
    Pattern(
        "rails",
        "Ruby on Rails (development error page)",
        "debug",
        re.compile(
            r"(Action Controller: Exception caught|<h1>Routing Error</h1>|Rails\.root: |"
            r"app/(?:controllers|models|views)/\S+\.rb:\d+:in [`'])"
        ),
    ),
    Pattern(
        "spring",
        "Spring Boot (stack trace in the error page)",
        "debug",
        re.compile(
            r"(Whitelabel Error Page[\s\S]{0,2000}\bat [a-z][\w$]*(?:\.[\w$]+){2,}\(|"
            r"\bat org\.springframework\.[\w$.]+\([\w$]+\.java:\d+\)|"
            r"\"trace\"\s*:\s*\"[\w.$]+(?:Exception|Error)[^\"]{0,200}\\n\\tat )"
        ),
    ),
    Pattern(
        "aspnet",
        "ASP.NET (detailed errors)",
        "debug",
        re.compile(
            r"(Server Error in '[^']*' Application|An unhandled exception occurred while processing the request|"
            r"ASP\.NET is configured to show verbose error messages|Microsoft\.AspNetCore\.Diagnostics|"
            r"\bat [\w.`<>]+\([^)]*\) in [^\n<]{1,200}\.cs:line \d+)"
        ),
    ),
)


def debug_page(text: str) -> tuple[Pattern, str] | None:
    """The framework whose debug page or stack trace text is: (pattern, matched text), or None."""
    for pattern in DEBUG_PAGES:
        m = pattern.regex.search(text)
        if m:
            return pattern, m.group(0)[:160]
    return None


# Hostnames that only make sense inside a network.
_INTERNAL_NAME = re.compile(
    r"(?<![\w.-])((?:[a-z0-9-]+\.)+(?:internal|local|lan|corp|intranet|localdomain|cluster\.local))(?![\w.-])",
    re.I,
)
_IPV4 = re.compile(r"(?<![\d.])((?:\d{1,3}\.){3}\d{1,3})(?![\d.])")

# -- SQL error signatures --------------------------------------------------------------------
# Shared by the injection engine (checks/injection.py) and the GraphQL checks: one place to add a
# database. Each pattern's label names the database or ORM, so a finding can say which one spoke.
# Sources: the messages each driver/ORM prints for a syntax error or a stray quote (SQLite's C
# API and Python module, libpq, MySQL/MariaDB clients, SQL Server's providers, Oracle's ORA-
# codes, and the wrappers SQLAlchemy, Django, Sequelize, Hibernate, ActiveRecord, TypeORM add).
SQL_ERRORS: tuple[Pattern, ...] = (
    Pattern(
        "sqlite",
        "SQLite",
        "sql",
        re.compile(
            r"(SQLITE_ERROR|SQLITE_CONSTRAINT|sqlite3\.\w*(?:Error|Warning)\b|SQLite3?::\w*Exception|"
            r"SQLiteException|System\.Data\.SQLite|SQLite/JDBCDriver|org\.sqlite\.\w+|"
            r"Warning.{0,40}\bsqlite_|SQLite error \d+|unrecognized token: \S{1,40}|"
            r"near \"[^\"]{0,40}\": syntax error|incomplete input\b.{0,20}SQL)"
        ),
    ),
    Pattern(
        "postgresql",
        "PostgreSQL",
        "sql",
        re.compile(
            r"(PostgreSQL.{0,40}ERROR|Warning.{0,40}\Wpg_\w+|valid PostgreSQL result|Npgsql\.|"
            r"PG::\w*(?:Error|Invalid)|org\.postgresql\.(?:util|jdbc)|PSQLException|"
            r"psycopg2?\.(?:errors\.)?\w*Error|psycopg\.errors|asyncpg\.exceptions|"
            r"syntax error at or near|unterminated quoted string at or near|"
            r"ERROR:\s+parser: parse error)"
        ),
    ),
    Pattern(
        "mysql",
        "MySQL/MariaDB",
        "sql",
        re.compile(
            r"(SQL syntax.{0,60}(?:MySQL|MariaDB)|check the manual that (?:corresponds to|fits) your "
            r"(?:MySQL|MariaDB)|Warning.{0,40}\Wmysqli?_\w+|MySQLSyntaxErrorException|"
            r"valid MySQL result|MySqlClient\.|MySqlException|com\.mysql\.(?:cj\.)?jdbc|"
            r"pymysql\.err\.\w+|MySQLdb\.\w*(?:Error|_exceptions)|mysql\.connector\.errors|"
            r"ER_PARSE_ERROR|ER_BAD_FIELD_ERROR|Unknown column '[^']{1,60}' in '[^']{1,30}'|"
            r"Pdo[./_\\]Mysql|SQLSTATE\[42000\]: Syntax error or access violation|mysql_fetch)"
        ),
    ),
    Pattern(
        "mssql",
        "Microsoft SQL Server",
        "sql",
        re.compile(
            r"(Unclosed quotation mark after the character string|Incorrect syntax near|"
            r"Driver.{0,20}SQL[-_ ]*Server|OLE DB.{0,20}SQL Server|Microsoft OLE DB|"
            r"\[SQL Server\]|ODBC SQL Server Driver|ODBC Driver \d+ for SQL Server|"
            r"SQL Server Native Client|System\.Data\.SqlClient\.SqlException|"
            r"Microsoft\.Data\.SqlClient|com\.microsoft\.sqlserver\.jdbc|"
            r"Warning.{0,40}\W(?:mssql|sqlsrv)_\w+|pyodbc\.\w*Error)"
        ),
    ),
    Pattern(
        "oracle",
        "Oracle",
        "sql",
        re.compile(
            r"(\bORA-\d{5}\b|Oracle error|Oracle.{0,20}Driver|Warning.{0,40}\W(?:oci|ora)_\w+|"
            r"quoted string not properly terminated|SQL command not properly ended|"
            r"oracle\.jdbc|cx_Oracle\.\w+|oracledb\.exceptions|OracleException)"
        ),
    ),
    Pattern(
        "orm",
        "ORM/driver",
        "sql",
        re.compile(
            r"(sqlalchemy\.exc\.\w+|django\.db\.utils\.\w+|Sequelize\w*Error|"
            r"org\.hibernate\.(?:exception|QueryException|hql)\S*|HibernateException|"
            r"ActiveRecord::StatementInvalid|QueryFailedError|PrismaClient\w*Error|"
            r"peewee\.\w*Error|Doctrine\\DBAL\\\S+|java\.sql\.SQL\w*Exception|"
            r"SQLSTATE\[\w+\]|OperationalError|ProgrammingError: .{0,40}syntax|"
            r"unterminated quoted string)"
        ),
    ),
)

# One alternation of every signature (kept for callers that only ask "any database error?").
DB_ERRORS = re.compile("|".join(f"(?:{p.regex.pattern})" for p in SQL_ERRORS), re.I)


def sql_error(text: str) -> tuple[str, str] | None:
    """The first SQL error signature in text: (database label, the matched text), or None.

    A specific database wins over the generic ORM wrappers: SQLAlchemy prints
    ``(sqlite3.OperationalError)`` and the database is the more useful name.
    """
    for pattern in SQL_ERRORS:
        m = pattern.regex.search(text)
        if m:
            return pattern.label, m.group(0)[:120]
    return None


def luhn_ok(digits: str) -> bool:
    """The Luhn checksum of a card number (digits only)."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 1:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


_CARD_PREFIX = re.compile(r"^(?:4|5[1-5]|2[2-7]|3[47]|6(?:011|5)|35|3[068])")


def is_card(text: str) -> bool:
    """A plausible card: 13-19 digits, a known issuer prefix, Luhn valid, not one repeated digit."""
    digits = re.sub(r"[ -]", "", text)
    if not 13 <= len(digits) <= 19 or len(set(digits)) < 2:
        return False
    return bool(_CARD_PREFIX.match(digits)) and luhn_ok(digits)


def redact(value: str, keep: int = 4) -> str:
    """Show the first and last few characters: ``AKIA…MPLE (20 chars)``; short values fully masked."""
    value = value.strip()
    if len(value) <= keep * 2 + 2:
        return value[:2] + "…" if len(value) > 4 else "…"
    return f"{value[:keep]}…{value[-keep:]} ({len(value)} chars)"


def _private_ip(text: str) -> bool:
    try:
        ip = ipaddress.ip_address(text)
    except ValueError:
        return False
    return ip.is_private and not ip.is_loopback and not ip.is_unspecified and not ip.is_link_local


def scan_text(
    text: str, kinds: tuple[str, ...] = ("secret", "pii", "internal", "trace")
) -> Iterator[Match]:
    """Every match in text, by kind. Cards must pass Luhn; internal IPs must be private."""
    groups: list[Pattern] = []
    if "secret" in kinds:
        groups += SECRETS
    if "pii" in kinds:
        groups += PII
    if "trace" in kinds:
        groups += TRACES
    for pattern in groups:
        for m in pattern.regex.finditer(text):
            value = m.group(pattern.group)
            if pattern.name == "card" and not is_card(value):
                continue
            if pattern.name == "email" and value.lower().endswith((".png", ".jpg", ".svg", ".gif")):
                continue  # retina image names (logo@2x.png)
            yield Match(pattern, value, m.start(pattern.group))
    if "internal" in kinds:
        for m in _IPV4.finditer(text):
            if _private_ip(m.group(1)):
                yield Match(INTERNAL_IP, m.group(1), m.start(1))
        for m in _INTERNAL_NAME.finditer(text):
            yield Match(INTERNAL_HOST, m.group(1), m.start(1))


INTERNAL_IP = Pattern("internal-ip", "private IP address", "internal", _IPV4, 1)
INTERNAL_HOST = Pattern("internal-host", "internal host name", "internal", _INTERNAL_NAME, 1)


# A value assigned to a secret-looking name: ``password = "x"``, ``"api_key": "x"``, and the
# settings tables of debug pages (``<td>SECRET_KEY</td><td><pre>'x'</pre>``).
_ASSIGNED_SECRET = re.compile(
    r"(?i)((?:secret|passw(?:or)?d|passwd|pwd|token|api[_-]?key|private[_-]?key|credential)s?\w*"
    r"(?:&#x27;|&#39;|&quot;|['\"])?\s*(?:=&gt;|=|:|(?:\s*</?\w[^>]{0,40}>)+)"
    r"(?:\s*<\w[^>]{0,40}>)*\s*(?:&#x27;|&#39;|&quot;|['\"])?)"
    r"([^\s'\"<>&,;]{4,})"
)


def redact_assigned(text: str) -> str:
    """Mask values of secret-looking names and every known key shape in text."""
    # Passwords are masked whole: unlike a key id, a prefix of one helps guess it.
    text = _ASSIGNED_SECRET.sub(lambda m: f"{m.group(1)}… ({len(m.group(2))} chars)", text)
    for match in scan_text(text, ("secret",)):
        text = text.replace(match.value, match.redacted)
    return text


def context(text: str, match: Match, width: int = 24) -> str:
    """The text around a match with the value itself redacted: where to look, not what it is.

    Only the match's own line, and neighbouring secrets (an example password beside the key
    we found) are masked too.
    """
    line_start = text.rfind("\n", 0, match.start) + 1
    line_end = text.find("\n", match.start + len(match.value))
    line_end = len(text) if line_end < 0 else line_end
    start = max(line_start, match.start - width)
    end = min(line_end, match.start + len(match.value) + width)
    before = redact_assigned(text[start : match.start])
    after = redact_assigned(text[match.start + len(match.value) : end])
    return (before + match.redacted + after).replace("\n", " ")

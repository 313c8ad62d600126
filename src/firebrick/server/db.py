"""The service's database: SQLite by default, PostgreSQL in production, one SQL dialect.

Statements use ``?`` placeholders and portable types; the PostgreSQL driver (psycopg 3) gets them
as ``%s``. Schema changes are numbered migrations, applied in order in one transaction each and
recorded in ``fb_migrations``; a database newer than this code is refused, never downgraded.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from firebrick.errors import UsageError

# (version, statements). Append only: a released migration never changes.
MIGRATIONS: list[tuple[int, list[str]]] = [
    (
        1,
        [
            """CREATE TABLE api_keys (
                id TEXT PRIMARY KEY,
                name TEXT NOT NULL,
                key_hash TEXT NOT NULL UNIQUE,
                admin INTEGER NOT NULL DEFAULT 0,
                scans_per_day INTEGER NOT NULL,
                requests_per_minute INTEGER NOT NULL,
                verify_token TEXT NOT NULL,
                created_at TEXT NOT NULL,
                revoked_at TEXT
            )""",
            """CREATE TABLE scans (
                id TEXT PRIMARY KEY,
                key_id TEXT NOT NULL,
                target TEXT NOT NULL,
                request_json TEXT NOT NULL,
                status TEXT NOT NULL,
                created_at TEXT NOT NULL,
                started_at TEXT,
                finished_at TEXT,
                grade TEXT,
                score REAL,
                findings INTEGER,
                error TEXT,
                monitor_id TEXT,
                result_json TEXT
            )""",
            "CREATE INDEX scans_target ON scans (target, created_at)",
            "CREATE INDEX scans_key ON scans (key_id, created_at)",
            """CREATE TABLE monitors (
                id TEXT PRIMARY KEY,
                key_id TEXT NOT NULL,
                target TEXT NOT NULL,
                request_json TEXT NOT NULL,
                interval_s INTEGER NOT NULL,
                fail_below TEXT,
                enabled INTEGER NOT NULL DEFAULT 1,
                next_run_at REAL NOT NULL,
                last_scan_id TEXT,
                created_at TEXT NOT NULL
            )""",
            """CREATE TABLE webhooks (
                id TEXT PRIMARY KEY,
                key_id TEXT NOT NULL,
                url TEXT NOT NULL,
                secret TEXT NOT NULL,
                events TEXT NOT NULL,
                enabled INTEGER NOT NULL DEFAULT 1,
                created_at TEXT NOT NULL
            )""",
            """CREATE TABLE deliveries (
                id TEXT PRIMARY KEY,
                webhook_id TEXT NOT NULL,
                event TEXT NOT NULL,
                payload TEXT NOT NULL,
                status TEXT NOT NULL,
                attempts INTEGER NOT NULL DEFAULT 0,
                response_status INTEGER,
                error TEXT,
                created_at TEXT NOT NULL,
                delivered_at TEXT
            )""",
            "CREATE INDEX deliveries_webhook ON deliveries (webhook_id, created_at)",
        ],
    ),
]
MIGRATIONS.append(
    (
        2,
        [
            # the fleet: how many times a scan was started (a killed worker's scan runs again)
            # and whether the service has sent its events (workers finish scans it did not run)
            "ALTER TABLE scans ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0",
            "ALTER TABLE scans ADD COLUMN notified INTEGER NOT NULL DEFAULT 0",
        ],
    )
)
SCHEMA_VERSION = MIGRATIONS[-1][0]


class Database:
    """A small synchronous connection wrapper; the service calls it from worker threads."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._lock = threading.RLock()
        if url.startswith(("postgresql://", "postgres://")):
            try:
                import psycopg
            except ImportError:
                raise UsageError(
                    "PostgreSQL needs psycopg: pip install 'firebrick-scan[postgres]'"
                ) from None
            try:
                self._pg: Any = psycopg.connect(url, autocommit=False)
            except psycopg.Error as exc:
                raise UsageError(f"cannot connect to the database: {exc}".strip()) from None
            self.kind = "postgresql"
            self._sqlite: sqlite3.Connection | None = None
        else:
            path = url.removeprefix("sqlite:///") if url.startswith("sqlite:") else url
            Path(path).expanduser().parent.mkdir(parents=True, exist_ok=True)
            self._sqlite = sqlite3.connect(
                str(Path(path).expanduser()), check_same_thread=False, timeout=30
            )
            self._sqlite.execute("PRAGMA journal_mode=WAL")
            self._sqlite.execute("PRAGMA foreign_keys=ON")
            self.kind = "sqlite"
        self.migrate()

    def close(self) -> None:
        with self._lock:
            if self._sqlite is not None:
                self._sqlite.close()
            else:
                self._pg.close()

    def _sql(self, sql: str) -> str:
        return sql.replace("?", "%s") if self.kind == "postgresql" else sql

    @contextmanager
    def transaction(self) -> Iterator[Any]:
        """A cursor in one transaction: committed on success, rolled back on any error."""
        with self._lock:
            conn: Any = self._sqlite if self._sqlite is not None else self._pg
            cur = conn.cursor()
            try:
                if self.kind == "sqlite":
                    cur.execute("BEGIN IMMEDIATE")
                yield _Cursor(cur, self._sql)
                conn.commit()
            except BaseException:
                conn.rollback()
                raise
            finally:
                cur.close()

    def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        with self.transaction() as cur:
            cur.execute(sql, params)

    def all(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        with self.transaction() as cur:
            cur.execute(sql, params)
            return cur.rows()

    def one(self, sql: str, params: Sequence[Any] = ()) -> dict[str, Any] | None:
        rows = self.all(sql, params)
        return rows[0] if rows else None

    def version(self) -> int:
        with self.transaction() as cur:
            cur.execute(
                "CREATE TABLE IF NOT EXISTS fb_migrations (version INTEGER PRIMARY KEY, "
                "applied_at TEXT NOT NULL)"
            )
            cur.execute("SELECT MAX(version) AS v FROM fb_migrations")
            row = cur.rows()[0]
        return int(row["v"] or 0)

    def migrate(self) -> None:
        from datetime import UTC, datetime

        current = self.version()
        if current > SCHEMA_VERSION:
            raise UsageError(
                f"the database is at schema {current}, newer than this firebrick ({SCHEMA_VERSION})"
            )
        for version, statements in MIGRATIONS:
            if version <= current:
                continue
            with self.transaction() as cur:
                for statement in statements:
                    cur.execute(statement)
                cur.execute(
                    "INSERT INTO fb_migrations (version, applied_at) VALUES (?, ?)",
                    (version, datetime.now(UTC).isoformat(timespec="seconds")),
                )


class _Cursor:
    def __init__(self, cur: Any, translate: Any) -> None:
        self._cur = cur
        self._translate = translate

    def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        self._cur.execute(self._translate(sql), tuple(params))

    def rows(self) -> list[dict[str, Any]]:
        if self._cur.description is None:
            return []
        names = [d[0] for d in self._cur.description]
        return [dict(zip(names, row, strict=True)) for row in self._cur.fetchall()]

    @property
    def rowcount(self) -> int:
        return int(self._cur.rowcount)

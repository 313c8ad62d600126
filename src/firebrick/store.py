"""Scan history in SQLite (stdlib sqlite3): one row per scan, the full JSON plus indexed columns.

Durability: WAL journal, synchronous=FULL, and each save is ONE transaction, so a process killed
in the middle of a save leaves either the whole row or nothing, and the file stays readable.
Connections are short-lived (one per call): several processes (CLI runs, a server, a CI job)
can share one store; writers wait on SQLite's lock for up to ``timeout`` seconds.
"""

from __future__ import annotations

import builtins
import json
import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any

from firebrick.errors import StoreError
from firebrick.model import (
    CategoryCoverage,
    CategoryScore,
    Confidence,
    CoverageItem,
    CoverageSummary,
    Evidence,
    Exchange,
    Finding,
    Interaction,
    ScanResult,
    ScanStats,
    Severity,
    SourceLocation,
    WriteRecord,
)

SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS scans (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    target        TEXT NOT NULL,
    target_key    TEXT NOT NULL,
    started_at    TEXT NOT NULL,
    finished_at   TEXT NOT NULL,
    mode          TEXT NOT NULL,
    tool_version  TEXT NOT NULL,
    complete      INTEGER NOT NULL,
    score         REAL,
    grade         TEXT,
    findings      INTEGER NOT NULL,
    critical      INTEGER NOT NULL,
    high          INTEGER NOT NULL,
    medium        INTEGER NOT NULL,
    low           INTEGER NOT NULL,
    info          INTEGER NOT NULL,
    result_json   TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS scans_target ON scans (target_key, started_at);
CREATE INDEX IF NOT EXISTS scans_started ON scans (started_at);
"""

_SUMMARY_COLUMNS = (
    "id, target, started_at, finished_at, mode, tool_version, complete, score, grade, "
    "findings, critical, high, medium, low, info"
)


def default_store_path() -> Path:
    """``$XDG_DATA_HOME/firebrick/scans.sqlite``, else ``~/.local/share/firebrick/scans.sqlite``."""
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local/share")
    return Path(base) / "firebrick" / "scans.sqlite"


def _target_key(target: str) -> str:
    """Scans of ``http://h/`` and ``http://h`` are the same target's history."""
    return target.strip().rstrip("/").lower()


@dataclass
class ScanSummary:
    """One history row, without loading the full result."""

    id: int
    target: str
    started_at: str
    finished_at: str
    mode: str
    tool_version: str
    complete: bool
    score: float | None
    grade: str | None
    findings: int
    counts: dict[str, int] = field(default_factory=dict)  # severity value -> count

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "target": self.target,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "mode": self.mode,
            "tool_version": self.tool_version,
            "complete": self.complete,
            "score": self.score,
            "grade": self.grade,
            "findings": self.findings,
            "counts": dict(self.counts),
        }


class Store:
    def __init__(self, path: str | os.PathLike[str] | None = None, timeout: float = 10.0) -> None:
        self.path = Path(path) if path is not None else default_store_path()
        self.timeout = timeout
        self._initialized = False

    # -- plumbing ---------------------------------------------------------------------------

    def _fail(self, exc: BaseException, doing: str) -> StoreError:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        return StoreError(f"scan store {self.path}: cannot {doing}: {reason}")

    @contextmanager
    def _connect(self, write: bool) -> Iterator[sqlite3.Connection]:
        if self.path.is_dir():
            raise StoreError(f"scan store {self.path}: is a directory, not a SQLite file")
        if write:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise self._fail(exc, "create its folder") from exc
        elif not self.path.exists():
            raise StoreError(f"scan store {self.path}: no such file (no scan saved yet)")
        try:
            # isolation_level=None: we issue BEGIN/COMMIT ourselves, so a save is exactly one
            # transaction and nothing is left open between statements.
            conn = sqlite3.connect(self.path, timeout=self.timeout, isolation_level=None)
        except sqlite3.Error as exc:
            raise self._fail(exc, "open") from exc
        try:
            if not self._initialized:
                self._init(conn, write)
            # Per connection: a committed save is on disk before save() returns.
            conn.execute("PRAGMA synchronous=FULL")
            yield conn
        except sqlite3.DatabaseError as exc:
            raise self._fail(exc, "read or write") from exc
        finally:
            conn.close()

    def _init(self, conn: sqlite3.Connection, write: bool) -> None:
        # Reading the header fails here for a file that is not SQLite ("file is not a database").
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise StoreError(
                f"scan store {self.path}: written by a newer firebrick (schema {version})"
            )
        if write or version == 0:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("BEGIN IMMEDIATE")
            for stmt in filter(None, (s.strip() for s in _SCHEMA.split(";"))):
                conn.execute(stmt)
            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            conn.execute("COMMIT")
        self._initialized = True

    # -- API --------------------------------------------------------------------------------

    def save(self, result: ScanResult) -> int:
        """Store one result; returns its id. All or nothing."""
        data = result.to_dict()
        counts = {s.value: 0 for s in Severity}
        for f in result.findings:
            counts[f.severity.value] += 1
        row = (
            result.target,
            _target_key(result.target),
            result.started_at,
            result.finished_at,
            result.mode,
            result.tool_version,
            int(result.complete),
            result.score,
            result.grade,
            len(result.findings),
            counts["critical"],
            counts["high"],
            counts["medium"],
            counts["low"],
            counts["info"],
            json.dumps(data, ensure_ascii=False, separators=(",", ":"), default=_json_default),
        )
        with self._connect(write=True) as conn:
            conn.execute("BEGIN IMMEDIATE")
            try:
                cur = conn.execute(
                    "INSERT INTO scans (target, target_key, started_at, finished_at, mode, "
                    "tool_version, complete, score, grade, findings, critical, high, medium, "
                    "low, info, result_json) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                    row,
                )
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            rowid = cur.lastrowid
        assert rowid is not None
        return int(rowid)

    def get(self, scan_id: int) -> ScanResult:
        with self._connect(write=False) as conn:
            row = conn.execute("SELECT result_json FROM scans WHERE id = ?", (scan_id,)).fetchone()
        if row is None:
            raise StoreError(f"scan store {self.path}: no scan with id {scan_id}")
        try:
            return result_from_dict(json.loads(row[0]))
        except (ValueError, KeyError, TypeError) as exc:
            raise StoreError(
                f"scan store {self.path}: scan {scan_id} is unreadable: {exc}"
            ) from exc

    def list(self, target: str | None = None, limit: int = 20) -> list[ScanSummary]:
        """Newest first; only ``target``'s scans when given."""
        if not self.path.exists():
            return []
        sql = f"SELECT {_SUMMARY_COLUMNS} FROM scans"
        args: tuple[Any, ...] = ()
        if target is not None:
            sql += " WHERE target_key = ?"
            args = (_target_key(target),)
        sql += " ORDER BY started_at DESC, id DESC LIMIT ?"
        args += (max(0, int(limit)),)
        with self._connect(write=False) as conn:
            rows = conn.execute(sql, args).fetchall()
        return [_summary(r) for r in rows]

    def latest(self, target: str) -> ScanResult | None:
        rows = self.list(target, limit=1)
        return self.get(rows[0].id) if rows else None

    def ids(self) -> builtins.list[int]:
        """Every stored id, oldest first."""
        if not self.path.exists():
            return []
        with self._connect(write=False) as conn:
            return [r[0] for r in conn.execute("SELECT id FROM scans ORDER BY id")]


def _json_default(value: Any) -> Any:
    # Checks may leave non-JSON values in evidence.details; store them rather than lose the scan.
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, set | frozenset | tuple):
        return sorted(value, key=repr) if not isinstance(value, tuple) else list(value)
    if isinstance(value, bytes | bytearray):
        return bytes(value).decode("utf-8", "replace")
    to_dict = getattr(value, "to_dict", None)
    if callable(to_dict):
        return to_dict()
    return str(value)


def _summary(r: tuple[Any, ...]) -> ScanSummary:
    return ScanSummary(
        id=r[0],
        target=r[1],
        started_at=r[2],
        finished_at=r[3],
        mode=r[4],
        tool_version=r[5],
        complete=bool(r[6]),
        score=r[7],
        grade=r[8],
        findings=r[9],
        counts={"critical": r[10], "high": r[11], "medium": r[12], "low": r[13], "info": r[14]},
    )


# -- JSON -> ScanResult ---------------------------------------------------------------------


def _exchange(d: dict[str, Any]) -> Exchange:
    return Exchange(
        method=d["method"],
        url=d["url"],
        request_headers=dict(d.get("request_headers") or {}),
        request_body=d.get("request_body"),
        status=d.get("status"),
        response_headers=dict(d.get("response_headers") or {}),
        response_excerpt=d.get("response_excerpt") or "",
        response_size=int(d.get("response_size") or 0),
        elapsed_ms=float(d.get("elapsed_ms") or 0.0),
        error=d.get("error"),
    )


def _interaction(d: dict[str, Any]) -> Interaction:
    return Interaction(
        protocol=d["protocol"],
        token=d.get("token"),
        source_ip=d.get("source_ip", ""),
        source_port=int(d.get("source_port") or 0),
        time=float(d.get("time") or 0.0),
        listener=d.get("listener", "public"),
        raw=d.get("raw") or "",
        http_method=d.get("http_method"),
        http_path=d.get("http_path"),
        http_host=d.get("http_host"),
        dns_qname=d.get("dns_qname"),
        dns_qtype=d.get("dns_qtype"),
        dns_txid=d.get("dns_txid"),
    )


def _finding(d: dict[str, Any]) -> Finding:
    ev = d.get("evidence") or {}
    return Finding(
        kind=d["kind"],
        category=d["category"],
        title=d.get("title", ""),
        severity=Severity(d["severity"]),
        confidence=Confidence(d["confidence"]),
        operation=d.get("operation"),
        input=d.get("input"),
        description=d.get("description") or "",
        evidence=Evidence(
            summary=ev.get("summary") or "",
            exchanges=[_exchange(x) for x in ev.get("exchanges") or []],
            interactions=[_interaction(x) for x in ev.get("interactions") or []],
            payloads_worked=list(ev.get("payloads_worked") or []),
            payloads_failed=list(ev.get("payloads_failed") or []),
            details=dict(ev.get("details") or {}),
        ),
        remediation=d.get("remediation") or "",
        references=list(d.get("references") or []),
        source=_source_location(d.get("source")),
        cwe=_cwe(d.get("cwe")),
    )


def _source_location(d: Any) -> SourceLocation | None:
    if not isinstance(d, dict) or "file" not in d:
        return None
    return SourceLocation(
        file=str(d["file"]),
        line=int(d.get("line") or 0),
        function=str(d.get("function") or ""),
        route=d.get("route"),
        via=[str(v) for v in d.get("via") or []],
    )


def _coverage_summary(d: dict[str, Any] | None) -> CoverageSummary | None:
    if not isinstance(d, dict):
        return None
    fields = {k: v for k, v in d.items() if k in CoverageSummary.__dataclass_fields__}
    fields["categories"] = [
        CategoryCoverage(c["category"], int(c["planned"]), int(c["verdicts"]))
        for c in d.get("categories") or []
    ]
    return CoverageSummary(**fields)


def _cwe(value: Any) -> int | None:
    """``"CWE-89"`` (JSON report) -> 89; anything else -> None."""
    if isinstance(value, str) and value.upper().startswith("CWE-") and value[4:].isdigit():
        return int(value[4:])
    return None


def result_from_dict(d: dict[str, Any]) -> ScanResult:
    """Inverse of ``ScanResult.to_dict()`` (the JSON report). Raises ValueError when ``d`` is
    not a firebrick scan result. Derived fields (fingerprint, curl) are recomputed, not read."""
    if not isinstance(d, dict) or "target" not in d or "findings" not in d:
        raise ValueError("not a firebrick scan result (no target/findings)")
    tool = d.get("tool") or {}
    stats = d.get("stats") or {}
    try:
        return ScanResult(
            target=d["target"],
            started_at=d.get("started_at") or "",
            finished_at=d.get("finished_at") or "",
            mode=d.get("mode") or "safe",
            tool_version=tool.get("version") or d.get("tool_version") or "",
            score=d.get("score"),
            grade=d.get("grade"),
            categories=[
                CategoryScore(
                    category=c["category"],
                    assessed=bool(c.get("assessed")),
                    score=c.get("score"),
                    weight=float(c.get("weight") or 0.0),
                    findings=int(c.get("findings") or 0),
                )
                for c in d.get("categories") or []
            ],
            findings=[_finding(f) for f in d["findings"]],
            coverage=[
                CoverageItem(
                    check=c["check"],
                    category=c["category"],
                    operation=c.get("operation"),
                    input=c.get("input"),
                    # reports before schema 2.0 used passed/failed/skipped/inconclusive:
                    # CoverageItem maps them onto the outcome ladder
                    status=c["status"],
                    reason=c.get("reason") or "",
                    cause=c.get("cause"),
                )
                for c in d.get("coverage") or []
            ],
            warnings=list(d.get("warnings") or []),
            stats=ScanStats(
                requests_sent=int(stats.get("requests_sent") or 0),
                requests_by_check=dict(stats.get("requests_by_check") or {}),
                oob_interactions=int(stats.get("oob_interactions") or 0),
                duration_s=float(stats.get("duration_s") or 0.0),
                operations=int(stats.get("operations") or 0),
                inputs_tested=int(stats.get("inputs_tested") or 0),
            ),
            complete=bool(d.get("complete", True)),
            interrupted=bool(d.get("interrupted", False)),
            surface=dict(d.get("surface") or {}),
            score_explanation=list(d.get("score_explanation") or []),
            coverage_summary=_coverage_summary(d.get("coverage_summary")),
            source=dict(d["source"]) if isinstance(d.get("source"), dict) else None,
            source_findings=[_finding(f) for f in d.get("source_findings") or []],
            writes=[
                WriteRecord(
                    method=w["method"],
                    path=w["path"],
                    status=w.get("status"),
                    check=w.get("check") or "",
                    operation=w.get("operation"),
                    created=w.get("created"),
                    cleanup=w.get("cleanup"),
                    note=w.get("note"),
                )
                for w in (d.get("writes") or {}).get("entries") or []
            ],
        )
    except (KeyError, TypeError, AttributeError) as exc:
        raise ValueError(f"not a firebrick scan result: bad or missing field {exc}") from exc

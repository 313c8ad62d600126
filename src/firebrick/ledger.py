"""The write ledger: every request other than GET/HEAD/OPTIONS the scan sent, and --cleanup.

The ScopedClient (the only sender) hands each exchange to ``WriteLedger.record``; the ledger keeps
the method, path, status and, when the answer says so (``201 Created``, or a ``Location`` on a
2xx; the id from the JSON answer), what the write created. At the end of the scan ``cleanup`` deletes created
objects where the surface has a matching delete operation, and notes the outcome on the entry.
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING
from urllib.parse import urljoin, urlsplit

from firebrick.model import Exchange, Operation, WriteRecord
from firebrick.sideeffects import SAFE_METHODS

if TYPE_CHECKING:
    from firebrick.http import ScopedClient

_ID_KEYS = ("id", "uuid", "_id", "pk", "key", "slug")


def _path(url: str) -> str:
    parts = urlsplit(url)
    return (parts.path or "/") + (f"?{parts.query}" if parts.query else "")


def created_ref(ex: Exchange) -> str | None:
    """The id or Location of what a write created, when the answer names one."""
    if ex.status is None or not 200 <= ex.status < 300:
        return None
    location = ex.response_headers.get("location")
    if location:
        return _path(urljoin(ex.url, location))
    if ex.status != 201:
        return None  # a 200 with an id is an answer (a chat completion, an update), not a creation
    try:
        data = json.loads(ex.body_text) if ex.body_text.strip().startswith("{") else None
    except ValueError:
        return None
    if isinstance(data, dict):
        for key in _ID_KEYS:
            value = data.get(key)
            if isinstance(value, (str, int)) and not isinstance(value, bool) and str(value):
                return str(value)
    return "(201 Created, no id in the answer)"


class WriteLedger:
    def __init__(self) -> None:
        self.entries: list[WriteRecord] = []
        self._by_exchange: dict[int, WriteRecord] = {}  # id(Exchange) -> its entry

    def record(self, exchange: Exchange, check: str, op_key: str | None) -> WriteRecord | None:
        """Note one exchange that went on the wire; GET/HEAD/OPTIONS are not writes."""
        if exchange.method.upper() in SAFE_METHODS:
            return None
        entry = WriteRecord(
            method=exchange.method.upper(),
            path=_path(exchange.url),
            status=exchange.status,
            check=check,
            operation=op_key,
            created=created_ref(exchange),
        )
        self.entries.append(entry)
        self._by_exchange[id(exchange)] = entry
        return entry

    def annotate(self, exchange: Exchange, note: str) -> None:
        """Say on the ledger what a write was for (e.g. a restore and whether it was verified)."""
        entry = self._by_exchange.get(id(exchange))
        if entry is not None:
            entry.note = f"{entry.note}; {note}" if entry.note else note

    def created(self) -> list[WriteRecord]:
        return [e for e in self.entries if e.created and e.check != "cleanup"]

    def created_paths(self) -> set[str]:
        """Where this scan's creations live (a Location, or the create path + the id)."""
        out: set[str] = set()
        for entry in self.created():
            ref = entry.created or ""
            if ref.startswith("/"):
                out.add(ref.split("?", 1)[0].rstrip("/"))
            elif not ref.startswith("("):
                out.add(f"{entry.path.split('?', 1)[0].rstrip('/')}/{ref}")
        return out

    async def cleanup(self, client: ScopedClient, operations: list[Operation]) -> int:
        """Delete what this scan created where a matching delete exists; returns deletions sent."""
        deletes = [op for op in operations if op.method == "DELETE" and op.graphql is None]
        sent = 0
        for entry in self.created():
            target = _delete_target(entry, deletes)
            if target is None:
                entry.cleanup = "not deleted: no matching delete operation"
                continue
            path, op_key = target
            try:
                ex = await client.request("DELETE", path, check="cleanup", op_key=op_key)
            except Exception as exc:  # budget/deadline: say so on the entry, never crash the report
                entry.cleanup = f"not deleted: {exc}"
                continue
            sent += 1
            ok = ex.status is not None and (200 <= ex.status < 300 or ex.status in (404, 410))
            code = ex.status if ex.status is not None else ex.error
            entry.cleanup = f"deleted ({code})" if ok else f"delete failed ({code})"
        return sent


def _delete_target(entry: WriteRecord, deletes: list[Operation]) -> tuple[str, str] | None:
    """(path to DELETE, its operation key) for a created object, or None."""
    ref = entry.created or ""
    if ref.startswith("("):
        return None  # created, but the answer did not say what
    collection = entry.path.split("?", 1)[0].rstrip("/")
    if ref.startswith("/"):  # a Location: delete exactly that, if a delete operation matches it
        for op in deletes:
            if _template(op.path).fullmatch(ref.split("?", 1)[0].rstrip("/")):
                return ref, op.key
        return None
    for op in deletes:  # POST /items -> DELETE /items/{id}
        head, _, last = op.path.rstrip("/").rpartition("/")
        if head == collection and last.startswith("{") and last.endswith("}"):
            return f"{collection}/{ref}", op.key
    return None


def _template(path: str) -> re.Pattern[str]:
    parts = re.split(r"(\{[^}]*\})", path.rstrip("/"))
    return re.compile("".join("[^/]+" if p.startswith("{") else re.escape(p) for p in parts))

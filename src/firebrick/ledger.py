"""The write ledger: every request other than GET/HEAD/OPTIONS the scan sent, and --cleanup.

The ScopedClient (the only sender) hands each exchange to ``WriteLedger.record``; the ledger keeps
the method, path, status and, when the answer says so (``201 Created``, or a ``Location`` on a
2xx; the id from the JSON answer), what the write created. A ``200`` to a POST on a collection
(``POST /notes``) whose JSON carries an id is a creation only once confirmed: the id was in no
earlier answer of that operation nor in the collection's listing, and ``GET /notes/{id}`` (when
the surface has it) reads the object (``confirm_target`` / ``confirm``). A chat completion or a
search answer carries an id too, but no such read confirms it. At the end of the scan
``cleanup`` deletes created objects where the surface has a matching delete operation, and notes
the outcome on the entry.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING
from urllib.parse import urljoin, urlsplit

from firebrick.model import Exchange, Operation, WriteRecord
from firebrick.safejson import safe_json_loads
from firebrick.sideeffects import SAFE_METHODS

if TYPE_CHECKING:
    from firebrick.http import ScopedClient

_ID_KEYS = ("id", "uuid", "_id", "pk", "key", "slug")


def _path(url: str) -> str:
    parts = urlsplit(url)
    return (parts.path or "/") + (f"?{parts.query}" if parts.query else "")


def _answer_id(ex: Exchange) -> tuple[str, str] | None:
    """(key, value) of the id in a JSON object answer, or None."""
    data = safe_json_loads(ex.body_text) if ex.body_text.lstrip().startswith("{") else None
    if isinstance(data, dict):
        for key in _ID_KEYS:
            value = data.get(key)
            if isinstance(value, (str, int)) and not isinstance(value, bool) and str(value):
                return key, str(value)
    return None


def _ids_in(body: str, key: str) -> set[str]:
    """Every ``key`` value of the JSON objects in ``body`` (a listing: a list, or lists inside)."""
    doc = safe_json_loads(body) if body.lstrip().startswith(("{", "[")) else None
    found: set[str] = set()
    stack = [doc]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            if isinstance(node.get(key), (str, int)) and not isinstance(node.get(key), bool):
                found.add(str(node[key]))
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return found


def created_ref(ex: Exchange) -> str | None:
    """The id or Location of what a write created, when the answer names one."""
    if ex.status is None or not 200 <= ex.status < 300:
        return None
    location = ex.response_headers.get("location")
    if location:
        return _path(urljoin(ex.url, location))
    if ex.status != 201:
        return None  # a 200 with an id: see WriteLedger.confirm_target
    found = _answer_id(ex)
    return found[1] if found else "(201 Created, no id in the answer)"


class WriteLedger:
    def __init__(self) -> None:
        self.entries: list[WriteRecord] = []
        self._by_exchange: dict[int, WriteRecord] = {}  # id(Exchange) -> its entry
        # Set by the engine from the surface: "POST /notes" -> ("/notes", "GET /notes/{id}",
        # "GET /notes" or None), the collections a 200 answer may have created an object in.
        self.item_reads: dict[str, tuple[str, str, str | None]] = {}
        self._ids_answered: dict[str, set[str]] = {}  # op key -> ids its 200 answers carried

    def watch_collections(self, operations: list[Operation]) -> None:
        """Note POSTs on a collection whose items the surface can read back by id."""
        reads = {op.path.rstrip("/"): op for op in operations if op.method == "GET"}
        for op in operations:
            if op.method != "POST" or op.graphql is not None:
                continue
            collection = op.path.rstrip("/")
            if not collection or collection.rsplit("/", 1)[-1].startswith("{"):
                continue  # POST /notes/{id}: acts on an item, creates no new one
            item = next(
                (
                    r
                    for path, r in reads.items()
                    if path.rpartition("/")[0] == collection
                    and path.rpartition("/")[2].startswith("{")
                ),
                None,
            )
            if item is not None:
                listing = reads.get(collection)
                self.item_reads[op.key] = (
                    collection,
                    item.key,
                    listing.key if listing is not None else None,
                )

    def confirm_target(
        self, entry: WriteRecord, exchange: Exchange, earlier: list[Exchange]
    ) -> tuple[str, str, str] | None:
        """For a 200 to a watched POST: (path to read, its operation key, id) when the answer
        carries an id that no earlier answer of the operation nor the collection's listing
        (``earlier``: the scan's answers of the listing) had; None otherwise."""
        watched = self.item_reads.get(entry.operation or "")
        if entry.created or watched is None or exchange.status != 200:
            return None
        found = _answer_id(exchange)
        if found is None:
            return None
        key, value = found
        seen = self._ids_answered.setdefault(entry.operation or "", set())
        fresh = value not in seen and not any(value in _ids_in(e.body_text, key) for e in earlier)
        seen.add(value)
        if not fresh or "/" in value or "?" in value:
            return None
        collection, item_key, _ = watched
        return f"{collection}/{value}", item_key, value

    def confirm(self, entry: WriteRecord, path: str, read: Exchange, value: str) -> bool:
        """The read-back of a 200 answer's id: the object is there, so the write created it."""
        if read.status is None or not 200 <= read.status < 300:
            return False
        found = _answer_id(read)
        if found is None or found[1] != value:
            return False
        entry.created = path
        return True

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

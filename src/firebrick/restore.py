"""Full mode puts back what it changes: snapshot before a write, restore after, verify by reading.

The ScopedClient (the only sender) asks ``Restorer.before_write`` before every full-mode write
(PUT/PATCH/POST/DELETE) that a check sends, and hands it the answer (``after_write``), so no
check can forget it:

- **Which object.** The write's concrete path when a GET operation of the surface reads it
  (``PUT /notes/7`` -> ``GET /notes/7``); for an action sub-path with no GET of its own
  (``POST /users/7/promote``) the parent object (``GET /users/7``). A collection (a GET path with
  an ``/{id}`` child: ``POST /items`` creates, ``--cleanup`` deletes what it made) and objects this
  scan created are not snapshotted. No read operation: the ledger says ``accepted; cannot verify
  (no read operation)``, never "restored".
- **Snapshot.** One GET, before the first write, as the identity and with the headers the write
  uses (2xx JSON object); cached per (identity, path), so a hundred probes of one object cost one
  read. When that identity cannot read it (an anonymous method-bypass write, a cross-identity
  write), the scan's own credentials read it instead, and restore it.
- **When.** At the end of the scan, before ``--cleanup``: the checks run concurrently, and a
  restore at the end of one check would race with another check's probe of the same object
  (turning its "applied" into "not applied"); one read-back per object is also cheaper than one
  per check. Probes whose verdict depends on the restore (mass assignment, cross-identity writes)
  call ``restore`` at once; the end pass then skips objects nobody wrote since.
- **Restore.** Read back; if the object differs from the snapshot (timestamps and version
  counters aside), put it back: a PUT of the snapshot minus read-only fields (``id``,
  ``created_at`` ...; only the documented body fields plus the changed ones when the PUT
  documents its body), a PATCH of the changed fields, or, where the surface documents neither,
  the method the target just accepted; each attempt is read back and compared again. First as
  the identity that read the snapshot, then as each identity whose write was accepted.
- **Truth.** Each accepted write's ledger entry says ``restored; verified``, ``accepted;
  unchanged (read back)`` or ``restore failed: GET /notes/7 left with status='reviewed',
  original 'draft'``; a failed restore is a ``RESTORE FAILED`` first-screen warning, and the
  findings whose evidence holds such a write say what state the object was left in.

Restore requests are labelled ``restore`` (``requests_by_check``) and are not held back by the
scan's request budget (they are bounded: one read per object and identity, and at most a few
writes and reads per changed object); the time limit still applies.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from firebrick.model import Exchange, Location, Operation
from firebrick.safejson import safe_json_loads

CHECK = "restore"
# Traffic the layer never watches: its own, --cleanup's, logins, discovery's GraphQL POSTs.
UNWATCHED_CHECKS = frozenset({CHECK, "cleanup", "auth", "discovery"})
WRITE_METHODS = frozenset({"PUT", "PATCH", "POST", "DELETE"})
# Distinct objects snapshotted per read operation: injected path values (``/notes/1'``) are
# new paths each, and must not cost a read each without bound.
MAX_OBJECTS_PER_OPERATION = 12
MAX_FIELD_ATTEMPTS = 6  # a refused restore is retried one field at a time, for this many fields
# Never sent back, and not compared: what the server owns (ids, timestamps, versions, links).
_SERVER_OWNED = re.compile(
    r"^(id|_id|uuid|guid|pk|created|updated|modified|created_at|updated_at|modified_at|"
    r"last_modified|lastmodified|createdat|updatedat|etag|version|revision|_rev|_version|href|"
    r"self|links|_links|.*_at|.*At)$"
)
_VOLATILE = re.compile(r"^(updated|modified|updated_at|modified_at|last_modified|lastmodified|"
                       r"updatedat|etag|version|revision|_rev|_version|last_seen|last_login|"
                       r".*_at|.*At)$")  # fmt: skip
_ABSENT = "(absent)"
COLLECTION = "a collection, not one object"


def _volatile(key: str) -> bool:
    return bool(_VOLATILE.match(key)) and key not in ("created_at", "createdAt")


def _template(path: str) -> re.Pattern[str]:
    parts = re.split(r"(\{[^}]*\})", path.rstrip("/") or "/")
    return re.compile("".join("[^/]+" if p.startswith("{") else re.escape(p) for p in parts) + "/?")


def _brief(value: Any, limit: int = 200) -> str:
    text = json.dumps(value, sort_keys=True, default=str)
    return text if len(text) <= limit else text[: limit - 3] + "..."


@dataclass(frozen=True)
class Caller:
    """How a request is sent: the identity, the caller's headers, and whether the user's -H
    headers and the identity's credentials are added (as ScopedClient.request takes them)."""

    who: str | None
    headers: tuple[tuple[str, str], ...]
    use_user_headers: bool = True
    apply_credentials: bool = True

    @property
    def header_dict(self) -> dict[str, str]:
        return dict(self.headers)


# Sends one request as a Caller: (caller, method, path, json body or None) -> Exchange.
Sender = Callable[[Caller, str, str, Any], Awaitable[Exchange]]


@dataclass
class Restore:
    """How putting an object back went: verified by reading it again, or not."""

    obj: str  # the read, e.g. "GET /api/notes/7"
    changes: list[tuple[str, Any, Any]]  # (field, original, value read back) before restoring
    verified: bool
    left: list[tuple[str, Any, Any]] = field(default_factory=list)  # (field, original, now)

    @property
    def restored(self) -> bool:
        """Something had changed and was put back."""
        return self.verified and bool(self.changes)

    def _first(self) -> tuple[str, Any, Any]:
        rows = self.left or self.changes
        return rows[0] if rows else ("(object)", _ABSENT, _ABSENT)

    @property
    def name(self) -> str:
        return str(self._first()[0])

    @property
    def original(self) -> Any:
        return self._first()[1]

    @property
    def now(self) -> Any:
        return self._first()[2]

    def _olds(self) -> str:
        return _fields(self.changes) or "the object"

    def _lefts(self) -> str:
        return ", ".join(
            f"{n} (it was {o})" if k == "(object)" else f"{k}={n!r} (it was {o!r})"
            for k, o, n in self.left
        )

    @property
    def sentence(self) -> str:
        """For a finding: what state the object was left in."""
        if self.verified and not self.changes:
            return f"{self.obj} read back unchanged after the scan."
        if self.verified:
            return (
                f"firebrick put the old value back ({self._olds()}) and verified it "
                "by reading the object again."
            )
        return (
            f"firebrick could NOT restore it: {self.obj} was left with {self._lefts()}; "
            "set it back by hand."
        )

    @property
    def ledger_note(self) -> str:
        if self.verified:
            return "restored; verified" if self.changes else "accepted; unchanged (read back)"
        left = ", ".join(
            f"{n}, original {o}" if k == "(object)" else f"{k}={n!r}, original {o!r}"
            for k, o, n in self.left
        )
        return f"restore failed: {self.obj} left with {left}"

    @property
    def warning(self) -> str:
        """The first-screen warning (report/terminal.py shows it as "Restore failed")."""
        if len(self.left) == 1 and self.left[0][0] == "(object)":
            _, o, n = self.left[0]
            return (
                f"RESTORE FAILED: {self.obj} is {n} after the scan's writes; its original state "
                f"was {o}. Set it back by hand."
            )
        if len(self.left) == 1:
            k, o, n = self.left[0]
            return (
                f"RESTORE FAILED: {self.obj} has {k}={n!r} after the scan's writes; its original "
                f"value was {o!r}. Set it back by hand."
            )
        nows = ", ".join(f"{k}={n!r}" for k, _, n in self.left)
        olds = ", ".join(f"{k}={o!r}" for k, o, _ in self.left)
        return (
            f"RESTORE FAILED: {self.obj} has {nows} after the scan's writes; its original values "
            f"were {olds}. Set them back by hand."
        )


@dataclass
class Tracked:
    """One object the scan wrote to: its snapshot, and what was written since."""

    path: str  # the concrete path that reads it
    reader: Caller  # who read the snapshot (and restores it first)
    data: dict[str, Any] | None  # the object before the first write; None: unreadable
    why: str = ""  # why it cannot be verified (data None)
    writers: list[Caller] = field(default_factory=list)  # callers whose writes went through
    methods: list[str] = field(default_factory=list)  # methods the target accepted on it
    pending: list[Exchange] = field(default_factory=list)  # writes since the last restore
    dirty: bool = False  # a write went through since the last restore
    result: Restore | None = None  # the last restore's outcome
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    @property
    def obj(self) -> str:
        return f"GET {self.path}"


@dataclass
class Watch:
    """What ``before_write`` decided for one write: the object it touches, or why none."""

    tracked: Tracked | None
    why: str = ""  # no object: "no read operation", "a collection" ...
    caller: Caller | None = None


class Restorer:
    def __init__(
        self,
        send: Sender,
        default: Callable[[], Caller],
        key: Callable[[Caller], tuple[Any, ...]],
        annotate: Callable[[Exchange, str], None],
    ):
        self._send = send
        self._annotate = annotate  # a note on the exchange's ledger entry
        self._default = default  # the scan's own credentials: read what a writer cannot
        self._key = key  # (identity, credentials) of a caller: whose view of an object
        self._reads: list[tuple[Operation, re.Pattern[str]]] = []
        self._updates: dict[str, list[tuple[Operation, re.Pattern[str]]]] = {}
        self._collections: list[re.Pattern[str]] = []
        self._graphql: set[str] = set()
        self._objects: dict[tuple[Any, ...], asyncio.Future[Tracked]] = {}
        self._per_read: dict[str, set[str]] = {}  # read template -> concrete paths snapshotted
        self._by_exchange: dict[int, Tracked] = {}
        # id(Exchange) -> (the write, why what it changed cannot be verified)
        self._unverified: dict[int, tuple[Exchange, str]] = {}
        self._results: dict[int, Restore] = {}  # id(Exchange) -> the restore that covered it
        self._created: Callable[[], set[str]] = set
        self.stopped = False  # set when the end pass did not run (time limit, interrupt)

    # -- set-up ----------------------------------------------------------------------------------
    def set_surface(self, operations: list[Operation]) -> None:
        plain = [op for op in operations if op.graphql is None]
        self._graphql = {op.graphql.endpoint_path for op in operations if op.graphql is not None}
        self._reads = [(op, _template(op.path)) for op in plain if op.method == "GET"]
        self._updates = {
            m: [(op, _template(op.path)) for op in plain if op.method == m]
            for m in ("PUT", "PATCH")
        }
        paths = {op.path.rstrip("/") for op in plain}
        # /items is a collection when /items/{id} exists beside it
        self._collections = [
            _template(p)
            for p in {op.path.rstrip("/") for op in plain if op.method == "GET"}
            if any(q.startswith(p + "/{") and q.count("/") == p.count("/") + 1 for q in paths)
        ]

    def set_created(self, created: Callable[[], set[str]]) -> None:
        """Where the scan's own creations live (ledger): never snapshotted, --cleanup owns them."""
        self._created = created

    # -- before and after a write ------------------------------------------------------------------
    def _read_for(self, path: str) -> tuple[str | None, str, str]:
        """(concrete path to GET, its read template, why not) for a written path."""
        if any(rx.fullmatch(path) for rx in self._collections):
            return None, "", COLLECTION
        for op, rx in self._reads:
            if rx.fullmatch(path):
                return path, op.path, ""
        parent = path.rstrip("/").rpartition("/")[0]
        if parent and not any(rx.fullmatch(parent) for rx in self._collections):
            for op, rx in self._reads:
                if rx.fullmatch(parent):
                    return parent, op.path, ""  # an action sub-path: its object is the parent
        return None, "", "no read operation"

    async def before_write(self, caller: Caller, method: str, path: str) -> Watch | None:
        """Snapshot the object ``method path`` is about to change (once per identity and
        object). None: not a write the layer watches."""
        if method not in WRITE_METHODS or "{" in path or path in self._graphql:
            return None
        if path.rstrip("/") in self._created():
            return None  # this scan created it: --cleanup deletes it, nothing to put back
        read_path, template, why = self._read_for(path)
        if read_path is None:
            return Watch(None, why, caller)
        seen = self._per_read.setdefault(template, set())
        if read_path not in seen and len(seen) >= MAX_OBJECTS_PER_OPERATION:
            return Watch(None, f"more than {MAX_OBJECTS_PER_OPERATION} objects of GET {template}")
        seen.add(read_path)
        tracked = await self._object(caller, read_path)
        return Watch(tracked, tracked.why if tracked.data is None else "", caller)

    async def _object(self, caller: Caller, path: str, fallback: bool = True) -> Tracked:
        key = (self._key(caller), path)
        future = self._objects.get(key)
        if future is None:
            future = self._objects[key] = asyncio.get_running_loop().create_future()
            try:
                future.set_result(await self._snapshot(caller, path, fallback))
            except BaseException as exc:  # budget, deadline: the next write asks again
                del self._objects[key]
                future.set_exception(exc)
                future.exception()  # retrieved: whoever waits gets it, nobody is warned twice
                raise
        return await asyncio.shield(future)

    async def _snapshot(self, caller: Caller, path: str, fallback: bool) -> Tracked:
        ex = await self._send(caller, "GET", path, None)
        data = _object_of(ex)
        if data is not None:
            return Tracked(path, caller, data)
        if fallback and self._key(caller) != self._key(self._default()):
            # The writer cannot read it (anonymous, another identity): the scan's own
            # credentials read it, and restore it.
            mine = await self._object(self._default(), path, fallback=False)
            if mine.data is not None:
                return mine
        answered = (
            "no JSON object" if ex.status is not None and 200 <= ex.status < 300 else _answer(ex)
        )
        return Tracked(path, caller, None, why=f"GET {path} answered {answered}")

    def after_write(self, watch: Watch, ex: Exchange) -> None:
        if ex.status is not None and 400 <= ex.status < 500:
            return  # refused: nothing changed
        tracked = watch.tracked
        if (
            tracked is None
            and (ex.status == 201 or "location" in ex.response_headers or watch.why == COLLECTION)
            and ex.method == "POST"
        ):
            return  # a creation: the ledger lists what it made, --cleanup deletes it
        if tracked is None or tracked.data is None:
            if ex.status is not None and 200 <= ex.status < 300:
                self._unverified[id(ex)] = (ex, watch.why)
            if tracked is None:
                return
            # kept: a probe may hand its own reading of the object to restore()
        # 2xx, 3xx (a form's redirect), 5xx and no answer at all may each have changed it
        self._by_exchange[id(ex)] = tracked
        tracked.pending.append(ex)
        tracked.dirty = True
        if watch.caller is not None and watch.caller not in tracked.writers:
            tracked.writers.append(watch.caller)
        if ex.method not in tracked.methods and ex.status is not None and ex.status < 300:
            tracked.methods.append(ex.method)

    # -- restoring ---------------------------------------------------------------------------------
    def tracked_for(self, ex: Exchange) -> Tracked | None:
        return self._by_exchange.get(id(ex))

    async def restore(self, ex: Exchange, before: dict[str, Any] | None = None) -> Restore | None:
        """Put back the object ``ex`` wrote to, now, and verify it (a probe's own restore).
        ``before``: the probe's own reading of the object, used when the layer could not read it.
        None: the write was not watched (not accepted, no read operation)."""
        tracked = self._by_exchange.get(id(ex))
        if tracked is None:
            return None
        if tracked.data is None:
            if before is None:
                return None
            tracked.data = before
            for write in tracked.pending:
                self._unverified.pop(id(write), None)
        return await self._restore(tracked)

    async def restore_all(self) -> int:
        """The end pass: every object written since its last restore. Returns how many."""
        done = 0
        for tracked in self.objects():
            if tracked.dirty:
                await self._restore(tracked)
                done += 1
        return done

    def objects(self) -> list[Tracked]:
        unique: dict[int, Tracked] = {}
        for future in self._objects.values():
            if future.done() and not future.cancelled() and future.exception() is None:
                t = future.result()
                if t.data is not None:
                    unique.setdefault(id(t), t)
        return list(unique.values())

    async def _restore(self, tracked: Tracked) -> Restore:
        async with tracked.lock:
            tracked.dirty = False
            covered, tracked.pending = tracked.pending, []
            result = await self._put_back(tracked)
            tracked.result = result
            for ex in covered:
                self._annotate(ex, result.ledger_note)
                self._results[id(ex)] = result
            return result

    async def _put_back(self, tracked: Tracked) -> Restore:
        before = tracked.data or {}
        now_ex = await self._send(tracked.reader, "GET", tracked.path, None)
        changes = _changes(before, now_ex)
        if not changes:
            return Restore(tracked.obj, [], True)
        left, now = changes, _object_of(now_ex)
        callers: list[Caller] = []  # the reader (the owner), each writer, the scan's own
        for caller in (tracked.reader, *tracked.writers, self._default()):
            if all(self._key(caller) != self._key(c) for c in callers):
                callers.append(caller)
        attempts = self._attempts(tracked, changes)
        for caller in callers:
            for method, body in attempts:
                left, now = await self._attempt(tracked, caller, method, body, changes, left, now)
                if not left:
                    return Restore(tracked.obj, changes, True)
        # Refused as a whole (a status that only moves forward ...): one field at a time, the
        # others as they are now, so that only what truly cannot go back stays changed.
        if len(left) > 1 and now is not None and attempts:
            method, body = attempts[0]
            for name, original, _ in list(left)[:MAX_FIELD_ATTEMPTS]:
                if name not in before or now is None:
                    continue
                one = {name: original}
                if method == "PUT":
                    one = {k: now.get(k, v) for k, v in body.items()} | one
                left, now = await self._attempt(
                    tracked, tracked.reader, method, one, [(name, original, None)], left, now
                )
        return Restore(tracked.obj, changes, not left, left)

    async def _attempt(
        self,
        tracked: Tracked,
        caller: Caller,
        method: str,
        body: dict[str, Any],
        changes: list[tuple[str, Any, Any]],
        left: list[tuple[str, Any, Any]],
        now: dict[str, Any] | None,
    ) -> tuple[list[tuple[str, Any, Any]], dict[str, Any] | None]:
        """One restore write, read back when the target took it: (what still differs, the
        object as read now)."""
        what = f"restore of {_fields(changes)}"
        ex = await self._send(caller, method, tracked.path, body)
        if ex.status is None or not 200 <= ex.status < 300:
            self._annotate(ex, f"{what}: refused ({_answer(ex)})")
            return left, now
        read = await self._send(tracked.reader, "GET", tracked.path, None)
        left = _changes(tracked.data or {}, read)
        verdict = (
            "verified by reading back" if not left else f"FAILED, read back {_fields(left, 2)}"
        )
        self._annotate(ex, f"{what}: {verdict}")
        return left, _object_of(read)

    def _attempts(
        self, tracked: Tracked, changes: list[tuple[str, Any, Any]]
    ) -> list[tuple[str, dict[str, Any]]]:
        before = tracked.data or {}
        writable = {k: v for k, v in before.items() if not _SERVER_OWNED.match(k)}
        names = [k for k, _, _ in changes if k in before and k != "(object)"]
        changed = {k: before[k] for k in names} or writable
        put = self._update("PUT", tracked.path)
        patch = self._update("PATCH", tracked.path)
        full = writable
        if put is not None:
            documented = _body_fields(put)
            if documented:  # the fields the PUT takes, plus whatever changed
                full = {k: v for k, v in writable.items() if k in documented} | changed
        out: list[tuple[str, dict[str, Any]]] = []
        if put is not None:
            out.append(("PUT", full))
        if patch is not None:
            out.append(("PATCH", changed))
        if put is None and patch is None:  # no documented update: the method the target took
            for method in tracked.methods:
                if method in ("PUT", "PATCH"):
                    out.append((method, full if method == "PUT" else changed))
        if put is not None and changed != full:
            out.append(("PUT", changed))  # a PUT that takes a partial body
        unique: list[tuple[str, dict[str, Any]]] = []
        for attempt in out:
            if attempt not in unique:
                unique.append(attempt)
        return unique

    def _update(self, method: str, path: str) -> Operation | None:
        return next((op for op, rx in self._updates.get(method, []) if rx.fullmatch(path)), None)

    # -- the end of the scan -----------------------------------------------------------------------
    def finish(self) -> list[Restore]:
        """Say on the ledger what became of every watched write; the failed restores."""
        failed: list[Restore] = []
        for tracked in self.objects():
            if tracked.pending:  # the end pass never ran for these (time limit, interrupt)
                result = Restore(
                    tracked.obj,
                    [],
                    False,
                    [("(object)", _brief(tracked.data), "not read back: the scan stopped first")],
                )
                tracked.result = result
                for ex in tracked.pending:
                    self._annotate(ex, result.ledger_note)
                    self._results[id(ex)] = result
                tracked.pending = []
            if tracked.result is not None and not tracked.result.verified:
                failed.append(tracked.result)
        for ex, why in self._unverified.values():
            self._annotate(ex, f"accepted; cannot verify ({why})")
        return failed

    def result_for(self, ex: Exchange) -> Restore | None:
        """What became of the object ``ex`` wrote to: the restore that covered it, or the last
        one when that failed (the state the object was left in)."""
        tracked = self._by_exchange.get(id(ex))
        mine = self._results.get(id(ex))
        if tracked is None or mine is None:
            return None
        final = tracked.result
        return final if final is not None and not final.verified else mine

    def unverified(self, ex: Exchange) -> str | None:
        """Why an accepted write cannot be verified ("no read operation" ...), if it cannot."""
        found = self._unverified.get(id(ex))
        return found[1] if found else None


def _object_of(ex: Exchange) -> dict[str, Any] | None:
    """The JSON object a 2xx read answered, or None."""
    if ex.status is None or not 200 <= ex.status < 300:
        return None
    text = ex.body_text.lstrip()
    if not text.startswith("{"):
        return None
    data = safe_json_loads(ex.body_text)
    return data if isinstance(data, dict) and data else None


def _answer(ex: Exchange) -> str:
    return str(ex.status) if ex.status is not None else (ex.error or "no answer")


def _changes(before: dict[str, Any], now_ex: Exchange) -> list[tuple[str, Any, Any]]:
    """(field, original, now) for every field that differs (server-kept timestamps aside)."""
    now = _object_of(now_ex)
    if now is None:
        gone = "deleted" if now_ex.status in (404, 410) else f"unreadable ({_answer(now_ex)})"
        return [("(object)", _brief(before), gone)]
    out: list[tuple[str, Any, Any]] = []
    for key, value in before.items():
        if not _volatile(key) and now.get(key, _ABSENT) != value:
            out.append((key, value, now.get(key, _ABSENT)))
    for key, value in now.items():
        if key not in before and not _volatile(key):
            out.append((key, _ABSENT, value))
    return out


def _fields(changes: list[tuple[str, Any, Any]], which: int = 1) -> str:
    return ", ".join(
        "the whole object" if c[0] == "(object)" else f"{c[0]}={c[which]!r}" for c in changes
    )


def _body_fields(op: Operation) -> set[str]:
    return {
        p.json_path[0] if p.json_path else p.name
        for p in op.params
        if p.location is Location.JSON and len(p.json_path) <= 1
    }

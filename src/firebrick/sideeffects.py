"""What a scan may send: the side-effect classifier and the user's scope (--include/--exclude).

Real apps change state on requests a scanner thinks harmless: a plain ``GET /reset-db``, a crawled
link to ``/start_over`` or ``/difficulty/hard``, a registration operation. This module decides, for
every operation and every crawled link, whether it *looks* state-changing (words in the path,
operationId, summary and tags, matched on snake/camel/kebab segments, and the method), and combines
that with the user's ``--include``/``--exclude`` rules and the mode into one ``SendPolicy``:

- discovery asks it before following a link (``link_verdict``);
- the engine drops every operation it refuses from the surface, with one coverage line each, so no
  check (and no burst or baseline) ever picks it;
- the ScopedClient asks it before every request (``request_verdict``): a request it refuses is not
  sent (a safety net for paths a check builds itself), and in safe mode it caps the objects one
  operation may create.

Safe mode never sends a state-changing operation, whatever the user includes; full mode sends one
only where an ``--include`` rule names it.
"""

from __future__ import annotations

import fnmatch
import re
from collections import Counter
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, urlsplit

from firebrick.errors import UsageError
from firebrick.model import InputKind, Operation

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

# Safe mode: at most this many writes per operation that created something (201 or Location);
# later writes to that operation are not sent. Documented in docs/checks.md.
SAFE_CREATES_PER_OPERATION = 2
# Safe mode: at most this many writes (POST/PUT/PATCH, GraphQL mutations) per operation in all.
# The SSRF check plans its depth ladder through a write operation to fit (checks/ssrf.py: stage 1
# is bundled across inputs, depth goes in adaptive rounds, at most 5 rungs). Not counted: POSTs
# that read (GraphQL queries, logins, searches: ``reads_by_post``) and writes answered 4xx.
SAFE_WRITES_PER_OPERATION = 8
# POST routes that only read: searches, lookups, queries, filters (injection probes them in safe
# mode as it does GETs).
READ_POST = re.compile(r"(^|/)(search|lookup|query|find|filter)(/|$)", re.I)

# Verbs (and nouns used as verbs in routes) that change state when a request reaches them.
_WORDS: dict[str, str] = {
    w: w
    for w in (
        "reset", "delete", "remove", "drop", "destroy", "purge", "flush", "clear", "wipe",
        "erase", "truncate", "init", "initialize", "initialise", "reinit", "setup", "install",
        "uninstall", "reinstall", "seed", "reseed", "migrate", "migration", "migrations",
        "restart", "shutdown", "reboot", "halt", "kill", "logout", "signout", "logoff",
        "toggle", "enable", "disable", "activate", "deactivate", "import", "run", "exec",
        "execute", "upgrade", "downgrade", "rebuild", "restore", "rollback", "revert",
        "register", "signup", "unsubscribe", "difficulty", "mode", "switch", "startover",
        "factoryreset", "createdb", "dropdb", "resetdb", "initdb", "seeddb", "cleardb",
        "wipedb", "flushdb", "flushall", "reindex", "invalidate", "revoke", "rotate",
        "regenerate", "ban", "unban", "impersonate",
    )
}  # fmt: skip
# Two-word phrases (adjacent segments): "start over", "log out", "sign up", "new game" ...
_PHRASES: dict[tuple[str, str], str] = {
    ("start", "over"): "start over",
    ("log", "out"): "logout",
    ("log", "off"): "logout",
    ("sign", "out"): "signout",
    ("sign", "up"): "signup",
    ("new", "game"): "new game",
    ("set", "level"): "level switch",
    ("set", "theme"): "mode switch",
    ("factory", "reset"): "reset",
    ("shut", "down"): "shutdown",
    ("set", "up"): "setup",
    ("create", "account"): "creates an account",
    ("create", "user"): "creates an account",
}
# "create" next to a database word: create-db, createDatabase, create_tables ...
_DB_WORDS = frozenset({"db", "database", "databases", "schema", "table", "tables"})
_DB_VERBS = frozenset({"create", "build", "populate", "fill", "load"})
# "register"/"signup" create accounts unless another noun follows (registerWebhook).
_ACCOUNT_WORDS = frozenset({"register", "signup"})
_ACCOUNT_NOUNS = frozenset({"user", "users", "account", "accounts", "me", "new", "form"})
_CAMEL = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|\d+")
_SPLIT = re.compile(r"[^A-Za-z0-9]+")
# Words in the summary count only among its first few: "Resets the game" is a reset,
# "Lists items (delete them with DELETE /items/{id})" is not.
_SUMMARY_WORDS = 3


def words(text: str) -> list[str]:
    """Lower-case words of ``text`` split on non-alphanumerics and camelCase: ``resetDB_now`` ->
    [reset, db, now]; ``{id}`` path templates are dropped."""
    out: list[str] = []
    for chunk in _SPLIT.split(re.sub(r"\{[^}]*\}", " ", text)):
        out += [w.lower() for w in _CAMEL.findall(chunk)]
    return out


def _stems(word: str) -> set[str]:
    """The word and its plain English stems (resets, deleted, wiping -> reset, delete, wipe)."""
    out = {word}
    if len(word) >= 5:
        for suffix in ("s", "es", "ing"):  # not "ed": "List deleted items" reads
            if word.endswith(suffix):
                base = word[: -len(suffix)]
                out |= {base, base + "e"}
    return out


def _match_words(ws: list[str]) -> str | None:
    for i, w in enumerate(ws):
        for stem in _stems(w):
            if stem in _ACCOUNT_WORDS and i + 1 < len(ws) and ws[i + 1] not in _ACCOUNT_NOUNS:
                continue  # registerWebhook creates a webhook (a write), not an account
            if stem in _WORDS:
                return _WORDS[stem]
        if i + 1 < len(ws):
            phrase = _PHRASES.get((w, ws[i + 1]))
            if phrase:
                return phrase
        if w in _DB_VERBS and any(x in _DB_WORDS for x in ws[i + 1 : i + 3]):
            return f"{w} {ws[i + 1]}"
    return None


_STATIC_ASSET = re.compile(r"\.(m?js|css|map|png|jpe?g|gif|svg|ico|woff2?|ttf)$", re.I)


def classify(
    method: str,
    path: str,
    *,
    operation_id: str | None = None,
    summary: str = "",
    tags: list[str] | None = None,
    query: str = "",
) -> str | None:
    """Why a request to this operation looks state-changing (a short phrase), or None.

    ``query`` is a crawled link's query string: ``/game?action=reset`` is a reset."""
    if method.upper() == "DELETE":
        return "DELETE method"
    if method.upper() in ("GET", "HEAD") and _STATIC_ASSET.search(path):
        return None  # a script or stylesheet (swagger-ui-init.js, app.reset.css) changes nothing
    sources = [
        ("path", words(path)),
        ("operationId", words(operation_id or "")),
        ("summary", words(summary)[:_SUMMARY_WORDS]),
        ("tag", [w for t in tags or [] for w in words(t)]),
        (
            "query",
            [w for kv in parse_qsl(query, keep_blank_values=True) for w in words(" ".join(kv))],
        ),
    ]
    for where, ws in sources:
        hit = _match_words(ws)
        if hit:
            return f"{hit!r} in the {where}"
    return None


def classify_operation(op: Operation) -> str | None:
    """classify() for a discovered operation (GraphQL fields are judged by their name)."""
    if op.graphql is not None:
        hit = None
        if op.graphql.operation_type == "mutation":
            hit = _match_words(words(op.graphql.name))
        reason = f"{hit!r} in the mutation name" if hit else None
    else:
        reason = classify(
            op.method, op.path, operation_id=op.operation_id, summary=op.summary, tags=op.tags
        )
    # "Import from a URL" is the SSRF surface safe mode exists to test: the probe sends our own
    # URL (writes ledgered and capped per operation). Crawled import links stay unfollowed.
    if (
        reason
        and reason.startswith("'import'")
        and any(p.kinds & {InputKind.URL, InputKind.HOST} for p in op.params)
    ):
        return None
    return reason


# -- the user's scope ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Rule:
    """One ``--include``/``--exclude`` value: ``[METHOD ]PATTERN``.

    PATTERN is a glob on the path (``*`` matches any characters, ``/`` included: ``/admin/*``,
    ``*/reset*``) or, written ``re:...`` or starting with ``^``, a regular expression searched in
    the path. Paths are matched as the spec writes them (``/users/{id}``) and as sent
    (``/users/7``)."""

    text: str
    method: str | None
    pattern: re.Pattern[str]

    @classmethod
    def parse(cls, raw: str, flag: str = "--exclude") -> Rule:
        text = raw.strip()
        method: str | None = None
        head, sep, rest = text.partition(" ")
        if sep and (head.isalpha() or head == "*") and rest.strip():
            if head.upper() not in {
                "GET", "HEAD", "OPTIONS", "POST", "PUT", "PATCH", "DELETE", "TRACE", "GRAPHQL", "*",
            }:  # fmt: skip
                raise UsageError(f"{flag} {raw!r}: unknown method {head!r}")
            method = None if head == "*" else head.upper()
            text = rest.strip()
        if not text:
            raise UsageError(f"{flag} {raw!r}: empty pattern")
        if text.startswith("re:") or text.startswith("^"):
            source = text[3:] if text.startswith("re:") else text
            try:
                pattern = re.compile(source)
            except re.error as exc:
                raise UsageError(f"{flag} {raw!r}: invalid regular expression: {exc}") from None
        else:
            if not text.startswith(("/", "*")):
                text = "/" + text
            pattern = re.compile(fnmatch.translate(text))
        return cls(raw.strip(), method, pattern)

    def matches(self, method: str, path: str) -> bool:
        if self.method is not None and self.method != method.upper():
            return False
        path = path or "/"
        if self.pattern.pattern.startswith("(?s:"):  # a glob: the whole path
            return bool(self.pattern.fullmatch(path)) or bool(
                self.pattern.fullmatch(path.rstrip("/") or "/")
            )
        return bool(self.pattern.search(path))


def _path_template(path: str) -> re.Pattern[str]:
    parts = re.split(r"(\{[^}]*\})", path.rstrip("/") or "/")
    return re.compile("".join("[^/]+" if p.startswith("{") else re.escape(p) for p in parts) + "/?")


def parse_rules(values: list[str] | str | None, flag: str) -> list[Rule]:
    """Rules from repeated flags, a toml list, or a comma/newline separated env value."""
    if not values:
        return []
    if isinstance(values, str):
        values = [v for v in re.split(r"[,\n]", values)]
    return [Rule.parse(v, flag) for v in values if v.strip()]


@dataclass
class SendPolicy:
    """Mode + the user's rules: what may be discovered, crawled and sent."""

    mode: str = "safe"
    include: list[Rule] = field(default_factory=list)
    exclude: list[Rule] = field(default_factory=list)
    # --assume-safe: the user vouches these only read (the classifier's words are overruled).
    assume_safe: list[Rule] = field(default_factory=list)
    creates_cap: int = SAFE_CREATES_PER_OPERATION
    writes_cap: int = SAFE_WRITES_PER_OPERATION
    # What the client refused to send: (method, path, reason), for coverage lines.
    refused: list[tuple[str, str, str]] = field(default_factory=list)
    # The operations the engine let into the scan (judged with everything discovery knew).
    approved: set[str] = field(default_factory=set)
    _approved_paths: list[tuple[str, re.Pattern[str]]] = field(default_factory=list)
    _reads: set[str] = field(default_factory=set)  # POSTs that read (not capped)
    _approved_keys: list[str] = field(default_factory=list)
    _creates: Counter[str] = field(default_factory=Counter)
    _writes: Counter[str] = field(default_factory=Counter)

    @classmethod
    def from_options(
        cls, mode: str, include: list[str], exclude: list[str], assume_safe: list[str] | None = None
    ) -> SendPolicy:
        return cls(
            mode=mode,
            include=parse_rules(include, "--include"),
            exclude=parse_rules(exclude, "--exclude"),
            assume_safe=parse_rules(assume_safe, "--assume-safe"),
        )

    def approve(self, operations: list[Operation], post_reads: set[str] | None = None) -> None:
        """The surface after filtering: requests to these operations are not judged again.
        ``post_reads``: keys of POST operations that only read (logins, searches), which the
        safe-mode write cap does not count (GraphQL queries neither)."""
        self.approved = {op.key for op in operations}
        self._reads = {
            op.key
            for op in operations
            if op.graphql is not None and op.graphql.operation_type == "query"
        } | (post_reads or set())
        rest = [op for op in operations if op.graphql is None]
        self._approved_paths = [(op.method, _path_template(op.path)) for op in rest]
        self._approved_keys = [op.key for op in rest]

    def capped_key(self, method: str, url: str, op_key: str | None) -> str | None:
        """The key a write is counted under for the safe-mode caps (None: not counted). The
        client sends the writes of one key one at a time, so the caps hold exactly."""
        if self.mode == "full" or method.upper() in SAFE_METHODS or op_key in self._reads:
            return None
        return op_key or f"{method.upper()} {urlsplit(url).path or '/'}"

    def writes_left(self, op_key: str) -> int | None:
        """Safe mode: how many more counted writes ``op_key`` may take (None: no cap, full mode;
        a check plans its probes with it)."""
        if self.mode == "full" or op_key in self._reads:
            return None
        if self._creates[op_key] >= self.creates_cap:
            return 0
        return max(0, self.writes_cap - self._writes[op_key])

    def _is_approved(self, method: str, path: str, op_key: str | None) -> bool:
        if op_key is not None and op_key in self.approved:
            return True
        # A check that names no operation (an OPTIONS for the Allow header, a HEAD) on the path
        # of an approved operation: the path was judged, and these methods read.
        return any(
            (m == method or method in SAFE_METHODS) and rx.fullmatch(path)
            for m, rx in self._approved_paths
        )

    def operation_for(self, method: str, path: str) -> str | None:
        """The approved operation a request went to (method and path template), if one matches."""
        path = path.split("?", 1)[0]
        for key, (m, rx) in zip(self._approved_keys, self._approved_paths, strict=True):
            if m == method.upper() and rx.fullmatch(path):
                return key
        return None

    def _included(self, method: str, path: str) -> bool:
        return any(r.matches(method, path) for r in self.include)

    def _scope_reason(self, method: str, path: str) -> str | None:
        for rule in self.exclude:
            if rule.matches(method, path):
                return f"excluded by --exclude {rule.text!r}"
        if self.include and not self._included(method, path):
            return "outside --include"
        return None

    def _effect_reason(self, method: str, path: str, why: str | None) -> str | None:
        if why is None:
            return None
        if method.upper() != "DELETE" and any(r.matches(method, path) for r in self.assume_safe):
            return None  # the user vouched it only reads (--assume-safe); DELETE never
        if self.mode == "full" and self._included(method, path):
            return None  # the user named it: full mode may send it
        if self.mode == "full":
            return f"skipped: looks state-changing ({why}); --include it to test it in full mode"
        return f"skipped: looks state-changing ({why})"

    def operation_verdict(self, op: Operation) -> str | None:
        """Why ``op`` must stay out of the scan (None: it may be scanned)."""
        path = op.graphql.endpoint_path if op.graphql is not None else op.path
        scope = self._scope_reason(op.method, path)
        if scope:
            return f"skipped: {scope}"
        return self._effect_reason(op.method, path, classify_operation(op))

    def link_verdict(self, url: str) -> str | None:
        """Why the crawler must not fetch this same-origin link (None: it may)."""
        parts = urlsplit(url)
        path = parts.path or "/"
        scope = self._scope_reason("GET", path)
        if scope:
            return f"skipped: {scope}"
        return self._effect_reason("GET", path, classify("GET", path, query=parts.query))

    def request_verdict(self, method: str, url: str, check: str, op_key: str | None) -> str | None:
        """Asked by the ScopedClient before each request: why it must not be sent, or None."""
        if check == "cleanup":
            return None  # deleting what this scan created: see ledger.cleanup
        path = urlsplit(url).path or "/"
        method = method.upper()
        reason = self._scope_reason(method, path)
        if reason and (check not in ("discovery", "auth") or not reason.startswith("outside")):
            # discovery must read the root and the spec even when --include names only a part
            return f"skipped: {reason}"
        if check == "auth":
            return None  # the login and --register flows the user configured by name
        # An approved operation was judged with its operationId, summary, tags and inputs; any
        # other request (a path a check built itself, a redirect) is judged by its method and path.
        why = None if self._is_approved(method, path, op_key) else classify(method, path)
        reason = self._effect_reason(method, path, why)
        if reason is None and method == "DELETE" and self.mode != "full":
            reason = "skipped: safe mode never sends DELETE"
        key = self.capped_key(method, url, op_key) if reason is None else None
        if key is not None:
            if self._creates[key] >= self.creates_cap:
                reason = (
                    f"skipped: safe mode creates at most {self.creates_cap} objects per operation"
                )
            elif self._writes[key] >= self.writes_cap:
                reason = f"skipped: safe mode sends at most {self.writes_cap} writes per operation"
        if reason:
            self.refused.append((method, path, reason))
        return reason

    def note_write(
        self, method: str, url: str, op_key: str | None, created: bool, status: int | None = None
    ) -> None:
        """Count a write that was sent (and whether it created something) for the safe-mode caps.
        A write the target turned away with a 4xx (401/403 before the right identity, 400, 404)
        changed nothing and is not counted."""
        key = self.capped_key(method, url, op_key)
        if key is None or (status is not None and 400 <= status < 500):
            return
        self._writes[key] += 1
        if created:
            self._creates[key] += 1

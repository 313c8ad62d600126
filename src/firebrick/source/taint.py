"""Taint from request data (and configuration) into outbound requests and redirects.

A small flow-sensitive interpreter over each function's statements. A value's taint is a set of
labels:

- ``req:<location>:<name>`` request data (``req:query:url``, ``req:json:callback_url``,
  ``req:path:target``…), ``resp`` an answer fetched from a tainted URL (its redirect Location or
  body), ``cfg`` / ``cfg-http`` a host from the environment or app config (``cfg-http``: its
  default is a plain ``http://`` URL), ``p<i>`` the i-th parameter (for function summaries).
- A guard relabels what it checked: ``req:query:url|resolve``. Guards, weakest first: ``scheme``
  (scheme only), ``denylist`` (string checks), ``literal`` (ipaddress on the text, no lookup),
  ``resolve`` (resolve then check, but the fetch resolves again: rebinding), ``allow`` (an
  allowlist of hosts), ``strong`` (ssrfguard or the safe-fetch snippet).

Where in the URL the taint sits matters: ``f"https://api.example.com/u/{name}"`` does not let the
caller choose the host, ``f"http://{host}/x"`` and ``urljoin(base, t)`` do. Sinks report only the
labels that reach the scheme or authority.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from firebrick.source.project import Module, child_statements, dotted

Labels = frozenset[str]
EMPTY: Labels = frozenset()

GUARD_STRENGTH = {
    "": 0,
    "scheme": 1,
    "denylist": 2,
    "literal": 3,
    "resolve": 4,
    "allow": 5,
    "strong": 6,
}

# flask.request attributes that carry caller data, and the input location each maps to.
REQUEST_ATTRS = {
    "args": "query",
    "values": "query",
    "form": "form",
    "json": "json",
    "get_json": "json",
    "data": "body",
    "get_data": "body",
    "stream": "body",
    "headers": "header",
    "cookies": "cookie",
    "files": "file",
    "view_args": "path",
}

_METHODS = ("get", "post", "put", "patch", "delete", "head", "options")
# Module-level functions that send a request: dotted name -> index of the URL argument.
FETCH_FUNCS: dict[str, int] = {
    **{f"requests.{m}": 0 for m in _METHODS},
    "requests.request": 1,
    **{f"httpx.{m}": 0 for m in _METHODS},
    "httpx.request": 1,
    "httpx.stream": 1,
    "urllib.request.urlopen": 0,
    "urllib3.request": 1,
    "aiohttp.request": 1,
}
# Client constructors -> library; their instances' get/post/… and request/stream send.
CLIENT_CTORS = {
    "requests.Session": "requests",
    "requests.session": "requests",
    "requests.sessions.Session": "requests",
    "httpx.Client": "httpx",
    "httpx.AsyncClient": "httpx",
    "urllib3.PoolManager": "urllib3",
    "urllib3.poolmanager.PoolManager": "urllib3",
    "aiohttp.ClientSession": "aiohttp",
    "pycurl.Curl": "pycurl",
}
# Calls whose result still carries their argument's URL text.
PROPAGATORS = {
    "urllib.request.Request",
    "urllib.parse.urlparse",
    "urllib.parse.urlsplit",
    "urllib.parse.urljoin",
    "urllib.parse.urlunparse",
    "urllib.parse.urlunsplit",
    "urllib.parse.unquote",
    "urllib.parse.quote",
    "str",
    "httpx.URL",
    "yarl.URL",
    "furl.furl",
    "os.path.join",
    "posixpath.join",
}
REDIRECT_FUNCS = {"flask.redirect", "werkzeug.utils.redirect", "flask.helpers.redirect"}
# Library validators by name: what they check.
LIBRARY_GUARDS = {
    "url_has_allowed_host_and_scheme": "allow",  # Django
    "is_safe_url": "allow",
    "validators.url": "scheme",  # syntax only
}
_SAFE_FETCH_NAME = re.compile(r"(^|_)(safe|guarded)_(fetch|get|request|open|urlopen)$")
_CHECK_NAME = re.compile(
    r"(check|valid|verify|guard|allow|safe|sanitize|block|deny|permit|whitelist|allowlist|trusted)",
    re.I,
)
_FAIL_NAME = re.compile(r"(block|denied|deny|forbid|internal|private|unsafe|banned|bad)", re.I)
_HOSTY = re.compile(r"(host|netloc|domain|hostname|authority)", re.I)
_RESOLVERS = {
    "socket.getaddrinfo",
    "socket.gethostbyname",
    "socket.gethostbyname_ex",
    "dns.resolver.resolve",
    "dns.resolver.query",
}
_CONFIG_READS = ("os.environ", "os.getenv", "os.environ.get")


def base_of(label: str) -> str:
    return label.split("|", 1)[0]


def guard_of(label: str) -> str:
    return label.split("|", 1)[1] if "|" in label else ""


def relabel(labels: Labels, guard: str) -> Labels:
    """Mark attacker-controlled labels as checked by ``guard`` (a stronger guard wins)."""
    out = set()
    for lab in labels:
        base, old = base_of(lab), guard_of(lab)
        if base.startswith(("req", "resp", "p")) and not base.startswith("param"):
            new = guard if GUARD_STRENGTH.get(guard, 0) > GUARD_STRENGTH.get(old, 0) else old
            out.add(f"{base}|{new}" if new else base)
        else:
            out.add(lab)
    return frozenset(out)


def is_attacker(label: str) -> bool:
    return base_of(label).startswith(("req", "resp"))


@dataclass
class Value:
    """An abstract value: its labels and, for built strings, its pieces (text or a sub-value)."""

    labels: Labels = EMPTY
    pieces: tuple[str | Value, ...] | None = None  # None: an opaque value
    client: str | None = None  # a client instance of this library (requests, httpx…, "safe")
    client_kwargs: dict[str, ast.AST] = field(default_factory=dict)


def host_labels(value: Value) -> Labels:
    """The labels that reach the scheme or authority of the URL this value is."""
    if value.pieces is None:
        return value.labels
    text = ""
    slots: list[Value] = []
    for piece in value.pieces:
        if isinstance(piece, str):
            text += piece
        else:
            text += chr(0xE000 + len(slots))
            slots.append(piece)
    if not slots:
        return EMPTY
    sep = text.find("://")
    if sep >= 0:
        start = sep + 3
    elif text.startswith("//"):
        start = 2
    elif text and ord(text[0]) >= 0xE000:  # a value first: it decides scheme and host
        first = slots[ord(text[0]) - 0xE000]
        rest = text[1:]
        if rest.startswith("://"):
            start = 4
        else:
            return host_labels(first)
    else:
        return EMPTY  # a relative path: the host is the app's own
    end = len(text)
    for i in range(start, len(text)):
        if text[i] in "/?#":
            end = i
            break
    out: set[str] = set()
    for ch in text[:end]:
        if ord(ch) >= 0xE000:
            out |= host_labels(slots[ord(ch) - 0xE000])
    return frozenset(out)


def leading_text(value: Value) -> str:
    """The constant text a URL starts with (to see ``http://``), through nested pieces."""
    if value.pieces is None:
        return ""
    out = ""
    for piece in value.pieces:
        if isinstance(piece, str):
            out += piece
        else:
            inner = leading_text(piece)
            out += inner
            if not inner or "cfg-http" in piece.labels:
                return out + ("http://" if "cfg-http" in piece.labels and not inner else "")
        if "://" in out:
            return out
    return out


@dataclass
class Sink:
    """An outbound request or a redirect whose target carries labels."""

    kind: str  # "fetch" | "redirect" | "safe-fetch"
    call: str  # e.g. "requests.get", "httpx.Client.stream", "flask.redirect"
    line: int
    labels: Labels  # labels reaching the host (for redirects: the target's host)
    all_labels: Labels
    follows_redirects: bool | str = False  # str: the parameter that decides it
    verify_off: bool = False
    no_timeout: bool = False
    plain_http: bool = False
    via: tuple[str, ...] = ()  # helper calls it went through: "helper (file:line)"
    redirects_explicit: bool = False  # turned on in the code, not a library default


@dataclass
class Summary:
    """What a function does with its parameters, for its callers."""

    params: list[str] = field(default_factory=list)
    defaults: dict[str, ast.AST] = field(default_factory=dict)
    returns: Labels = EMPTY  # p<i> labels mean "returns (part of) parameter i"
    returns_pieces: Value | None = None
    sinks: list[Sink] = field(default_factory=list)  # sinks reached by p<i> labels
    guards: dict[int, str] = field(default_factory=dict)  # parameter index -> guard kind
    file: str = ""
    line: int = 0
    name: str = ""


@dataclass
class FunctionInfo:
    node: ast.FunctionDef | ast.AsyncFunctionDef
    module: Module
    qualname: str
    summary: Summary = field(default_factory=Summary)
    _guard: str | None = None
    _names: frozenset[str] | None = None

    @property
    def guard(self) -> str:
        """What kind of URL check this function is ('' for none), judged once."""
        if self._guard is None:
            self._guard = guard_kind(self.node, self.module)
        return self._guard

    @property
    def names(self) -> frozenset[str]:
        if self._names is None:
            self._names = frozenset(n.id for n in ast.walk(self.node) if isinstance(n, ast.Name))
        return self._names


class Analyzer:
    """Summaries for every project function, then sinks per function."""

    def __init__(self, modules: Iterable[Module]) -> None:
        self.modules = list(modules)
        self.functions: list[FunctionInfo] = []
        self.by_name: dict[str, list[FunctionInfo]] = {}  # bare and dotted names
        self.globals: dict[str, dict[str, Value]] = {}
        for module in self.modules:
            self._index(module, module.tree, "")
        for module in self.modules:
            self.globals[module.path] = self._module_env(module)

    def _index(self, module: Module, node: ast.AST, prefix: str) -> None:
        for child in child_statements(node):
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
                qual = f"{prefix}{child.name}"
                info = FunctionInfo(child, module, qual)
                args = child.args
                info.summary.params = [a.arg for a in (*args.posonlyargs, *args.args)]
                positional = [*args.posonlyargs, *args.args]
                for a, d in zip(
                    positional[len(positional) - len(args.defaults) :], args.defaults, strict=False
                ):
                    info.summary.defaults[a.arg] = d
                for a, kd in zip(args.kwonlyargs, args.kw_defaults, strict=False):
                    info.summary.params.append(a.arg)
                    if kd is not None:
                        info.summary.defaults[a.arg] = kd
                info.summary.file, info.summary.line, info.summary.name = (
                    module.path,
                    child.lineno,
                    qual,
                )
                self.functions.append(info)
                self.by_name.setdefault(child.name, []).append(info)
                self.by_name.setdefault(f"{module.name}.{child.name}", []).append(info)
                self._index(module, child, f"{qual}.<locals>.")
            elif isinstance(child, ast.ClassDef):
                self._index(module, child, f"{prefix}{child.name}.")
            else:
                self._index(module, child, prefix)

    def _module_env(self, module: Module) -> dict[str, Value]:
        interp = _Interp(self, module, None, {})
        for stmt in module.tree.body:
            if isinstance(stmt, ast.Assign | ast.AnnAssign):
                interp.stmt(stmt)
        return interp.env

    def summarize(self, rounds: int = 3) -> None:
        """Compute summaries; a few rounds let helper-of-helper chains settle."""
        for _ in range(rounds):
            for info in self.functions:
                env = {
                    name: Value(frozenset({f"p{i}"}), None)
                    for i, name in enumerate(info.summary.params)
                }
                interp = _Interp(self, info.module, info, env)
                interp.block(info.node.body)
                s = info.summary
                s.returns = interp.returns.labels
                s.returns_pieces = interp.returns
                s.sinks = [
                    k for k in interp.sinks if any(base_of(x).startswith("p") for x in k.labels)
                ]
                s.guards = interp.param_guards()

    def analyse(self, info: FunctionInfo, sources: dict[str, Labels]) -> list[Sink]:
        """Sinks in one function, with ``sources`` (parameter -> labels) as request data."""
        env: dict[str, Value] = {}
        for i, name in enumerate(info.summary.params):
            env[name] = Value(sources.get(name, frozenset({f"p{i}"})), None)
        interp = _Interp(self, info.module, info, env)
        interp.block(info.node.body)
        return interp.sinks

    def resolve(self, module: Module, func: ast.AST) -> FunctionInfo | None:
        """The project function a call's ``func`` names, if any."""
        name = dotted(func, module.imports)
        if name is None:
            return None
        candidates = self.by_name.get(name) or []
        if (
            not candidates
            and isinstance(func, ast.Attribute)
            and isinstance(func.value, ast.Name)
            and func.value.id in ("self", "cls")
        ):  # self.helper(...) / cls.helper(...): a method of the same module
            candidates = [f for f in self.by_name.get(func.attr, []) if f.module is module]
        if not candidates:
            return None
        same = [c for c in candidates if c.module is module]
        return (same or candidates)[-1]


def _terminates(body: list[ast.stmt]) -> bool:
    """Does this block always leave (raise, return, abort(), continue, break)?"""
    if not body:
        return False
    last = body[-1]
    if isinstance(last, ast.Raise | ast.Return | ast.Continue | ast.Break):
        return True
    if isinstance(last, ast.Expr) and isinstance(last.value, ast.Call):
        f = last.value.func
        name = f.attr if isinstance(f, ast.Attribute) else f.id if isinstance(f, ast.Name) else ""
        return name in ("abort", "exit", "_exit")
    if isinstance(last, ast.If):
        return _terminates(last.body) and _terminates(last.orelse)
    return False


class _Interp:
    def __init__(
        self,
        analyzer: Analyzer,
        module: Module,
        info: FunctionInfo | None,
        env: dict[str, Value],
    ) -> None:
        self.a = analyzer
        self.module = module
        self.info = info
        self.env = env
        self.sinks: list[Sink] = []
        self.returns = Value(EMPTY, None)
        self.guard_marks: dict[str, str] = {}  # parameter name -> strongest guard applied

    # ---- values --------------------------------------------------------------------------
    def lookup(self, name: str) -> Value:
        if name in self.env:
            return self.env[name]
        return self.a.globals.get(self.module.path, {}).get(name, Value())

    def value(self, node: ast.AST | None) -> Value:
        if node is None:
            return Value()
        if isinstance(node, ast.Constant):
            return Value(EMPTY, (node.value,) if isinstance(node.value, str) else None)
        if isinstance(node, ast.Name):
            return self.lookup(node.id)
        if isinstance(node, ast.JoinedStr):
            pieces: list[str | Value] = []
            for part in node.values:
                if isinstance(part, ast.Constant) and isinstance(part.value, str):
                    pieces.append(part.value)
                elif isinstance(part, ast.FormattedValue):
                    pieces.append(self.value(part.value))
            return self._built(pieces)
        if isinstance(node, ast.BinOp):
            left, right = self.value(node.left), self.value(node.right)
            if isinstance(node.op, ast.Add):
                return self._built([left, right])
            if (
                isinstance(node.op, ast.Mod)
                and left.pieces
                and all(isinstance(p, str) for p in left.pieces)
            ):
                fmt = "".join(p for p in left.pieces if isinstance(p, str))
                args = node.right.elts if isinstance(node.right, ast.Tuple) else [node.right]
                return self._format(re.split(r"%[-#0 +]*\d*(?:\.\d+)?[sdrifx]", fmt), args)
            return Value(left.labels | right.labels, None)
        if isinstance(node, ast.Subscript | ast.Attribute):
            source = self._request_source(node)
            if source:
                return Value(source, None)
            cfg = self._config_source(node)
            if cfg:
                return Value(cfg, None)
            inner = self.value(node.value)
            if isinstance(node, ast.Subscript):
                key = node.slice
                if isinstance(key, ast.Constant) and isinstance(key.value, str):
                    # data["callback_url"] of request JSON: name the input
                    return Value(frozenset(_named(x, key.value) for x in inner.labels), None)
                return Value(inner.labels, None)
            return Value(inner.labels, None, inner.client, inner.client_kwargs)
        if isinstance(node, ast.Call):
            return self.call(node)
        if isinstance(node, ast.IfExp):
            a, b = self.value(node.body), self.value(node.orelse)
            return Value(a.labels | b.labels, a.pieces if a.labels else b.pieces)
        if isinstance(node, ast.BoolOp):
            vals = [self.value(v) for v in node.values]
            labels = frozenset().union(*(v.labels for v in vals))
            first = next((v for v in vals if v.labels), vals[0])
            return Value(labels, first.pieces)
        if isinstance(node, ast.Dict | ast.List | ast.Tuple | ast.Set):
            elts = [*(node.values if isinstance(node, ast.Dict) else node.elts)]
            labels = frozenset().union(*(self.value(e).labels for e in elts)) if elts else EMPTY
            return Value(labels, None)
        if isinstance(node, ast.Await):
            return self.value(node.value)
        if isinstance(node, ast.Starred):
            return self.value(node.value)
        if isinstance(node, ast.NamedExpr):
            v = self.value(node.value)
            self.env[node.target.id] = v
            return v
        return Value()

    def _built(self, parts: list[str | Value]) -> Value:
        pieces: list[str | Value] = []
        labels: set[str] = set()
        for p in parts:
            if (
                isinstance(p, Value)
                and p.pieces is not None
                and all(isinstance(x, str) for x in p.pieces)
            ):
                pieces.extend(p.pieces)  # a constant: inline its text
            else:
                pieces.append(p)
                if isinstance(p, Value):
                    labels |= p.labels
        return Value(frozenset(labels), tuple(pieces))

    def _format(self, texts: list[str], args: list[ast.expr]) -> Value:
        parts: list[str | Value] = []
        for i, text in enumerate(texts):
            parts.append(text)
            if i < len(texts) - 1:
                parts.append(self.value(args[i]) if i < len(args) else Value())
        return self._built(parts)

    def _request_source(self, node: ast.AST) -> Labels:
        """``request.args["url"]``, ``request.args.get("url")``, ``request.get_json()["u"]``…"""
        name_hint = "?"
        if isinstance(node, ast.Subscript):
            key = node.slice
            if isinstance(key, ast.Constant) and isinstance(key.value, str):
                name_hint = key.value
            node = node.value
        if isinstance(node, ast.Call):
            if (
                node.args
                and isinstance(node.args[0], ast.Constant)
                and isinstance(node.args[0].value, str)
            ):
                name_hint = node.args[0].value if name_hint == "?" else name_hint
            node = node.func
        chain = dotted(node, self.module.imports) or ""
        parts = chain.split(".")
        if len(parts) >= 3 and parts[0] == "flask" and parts[1] == "request":
            loc = REQUEST_ATTRS.get(parts[2])
            if loc:
                return frozenset({f"req:{loc}:{name_hint}"})
        if chain.endswith(".parse_args"):  # Flask-RESTful reqparse
            return frozenset({f"req:query:{name_hint}"})
        return EMPTY

    def _config_source(self, node: ast.AST) -> Labels:
        target = node.value if isinstance(node, ast.Subscript) else node
        chain = dotted(target, self.module.imports) or ""
        if (
            chain == "os.environ"
            or chain.endswith(".config")
            or chain.startswith("django.conf.settings")
        ):
            return frozenset({"cfg"})
        return EMPTY

    def call(self, node: ast.Call) -> Value:
        name = dotted(node.func, self.module.imports) or ""
        last = name.rsplit(".", 1)[-1]
        args = [self.value(a) for a in node.args]
        kwargs = {k.arg: self.value(k.value) for k in node.keywords if k.arg}
        receiver = self.value(node.func.value) if isinstance(node.func, ast.Attribute) else None

        source = self._request_source(node)
        if source:
            return Value(source, None)
        if name in ("os.getenv", "os.environ.get") or (
            isinstance(node.func, ast.Attribute)
            and node.func.attr == "get"
            and (dotted(node.func.value, self.module.imports) or "").endswith(
                (".config", "os.environ")
            )
        ):
            default = node.args[1] if len(node.args) > 1 else None
            plain = (
                isinstance(default, ast.Constant)
                and isinstance(default.value, str)
                and default.value.startswith("http://")
            )
            return Value(frozenset({"cfg", "cfg-http"} if plain else {"cfg"}), None)

        # A client instance: remember its library and constructor arguments.
        if name in CLIENT_CTORS:
            return Value(
                EMPTY, None, CLIENT_CTORS[name], {k.arg: k.value for k in node.keywords if k.arg}
            )
        if name.startswith("ssrfguard.") and last[:1].isupper():
            return Value(EMPTY, None, "safe", {})

        # Sends.
        if name in FETCH_FUNCS:
            lib = name.split(".")[0]
            return self._send(node, name, lib, FETCH_FUNCS[name], args, kwargs, {})
        if receiver is not None and receiver.client and isinstance(node.func, ast.Attribute):
            meth = node.func.attr
            if receiver.client == "safe":
                self._safe(node, name or meth, args)
                return Value(self._resp(args[:1]), None)
            if receiver.client == "pycurl":
                if meth == "setopt" and len(node.args) >= 2:
                    opt = node.args[0]
                    if isinstance(opt, ast.Attribute) and opt.attr == "URL":
                        self._send(node, "pycurl.setopt(URL)", "pycurl", 1, args, kwargs, {})
                return Value()
            index = {m: 0 for m in _METHODS} | {"request": 1, "stream": 1, "urlopen": 1}
            if meth in index:
                call = f"{CLIENT_CTORS_INV.get(receiver.client, receiver.client)}.{meth}"
                return self._send(
                    node, call, receiver.client, index[meth], args, kwargs, receiver.client_kwargs
                )
        if name.startswith("ssrfguard.") or _SAFE_FETCH_NAME.search(last):
            self._safe(node, name, args)
            return Value(self._resp(args[:1]), None)
        if name in REDIRECT_FUNCS:
            target = args[0] if args else kwargs.get("location", Value())
            self._redirect(node, name, target)
            return Value()
        if last in ("Response", "make_response") and "headers" in kwargs:
            self._headers_redirect(node, next(k.value for k in node.keywords if k.arg == "headers"))

        # Library guards called for their value (``if not is_safe_url(t)`` handled in `if`).
        if name in LIBRARY_GUARDS or last in LIBRARY_GUARDS:
            return Value()

        # Project helpers: apply their summary.
        helper = self.a.resolve(self.module, node.func)
        if helper is not None and (self.info is None or helper is not self.info):
            return self._apply(helper, node, args, kwargs)

        if name in PROPAGATORS or last in (
            "urljoin",
            "urlunparse",
            "urlunsplit",
            "urlparse",
            "urlsplit",
            "Request",
        ):
            if last == "urljoin" and len(args) >= 2:
                base, ref = args[0], args[1]
                if host_labels(ref):  # an absolute reference replaces the base's host
                    return Value(base.labels | ref.labels, None)
                return self._built([base, ref])
            labels = frozenset().union(*(a.labels for a in args)) if args else EMPTY
            labels |= kwargs["url"].labels if "url" in kwargs else EMPTY
            first = args[0] if args else kwargs.get("url", Value())
            return Value(labels, first.pieces)
        if isinstance(node.func, ast.Attribute) and receiver is not None:
            meth = node.func.attr
            if (
                meth == "format"
                and receiver.pieces
                and all(isinstance(p, str) for p in receiver.pieces)
            ):
                fmt = "".join(p for p in receiver.pieces if isinstance(p, str))
                texts = re.split(r"\{[^{}]*\}", fmt)
                named = [k.value for k in node.keywords]
                return self._format(texts, [*node.args, *named])
            if meth == "join" and args:  # "".join([...]) keeps the parts' labels
                return Value(args[0].labels | receiver.labels, None)
            if meth == "get" and receiver.labels and node.args:
                key = node.args[0]
                if isinstance(key, ast.Constant) and isinstance(key.value, str):
                    return Value(frozenset(_named(x, key.value) for x in receiver.labels), None)
            # A method on a tainted value (strip, lower, get, json, headers…) keeps its taint.
            if receiver.labels and meth not in ("startswith", "endswith", "count", "find", "index"):
                return Value(
                    receiver.labels, receiver.pieces if meth in ("strip", "lower") else None
                )
        if last in (
            "int",
            "float",
            "bool",
            "len",
            "hash",
            "isinstance",
            "uuid4",
            "escape",
            "url_for",
        ):
            return Value()
        return Value()

    def _resp(self, args: list[Value]) -> Labels:
        """An answer fetched from an attacker-chosen URL is attacker-controlled too."""
        return frozenset({"resp"}) if any(is_attacker(x) for a in args for x in a.labels) else EMPTY

    def _kw_node(self, node: ast.Call, name: str) -> ast.AST | None:
        for k in node.keywords:
            if k.arg == name:
                return k.value
        return None

    def _const(self, node: ast.AST | None) -> object:
        return node.value if isinstance(node, ast.Constant) else ...

    def _send(
        self,
        node: ast.Call,
        call: str,
        lib: str,
        index: int,
        args: list[Value],
        kwargs: dict[str, Value],
        ctor: dict[str, ast.AST],
    ) -> Value:
        url = args[index] if index < len(args) else kwargs.get("url", Value())
        follows: bool | str
        if lib == "httpx":
            f = self._kw_node(node, "follow_redirects") or ctor.get("follow_redirects")
            follows = self._flag(f, False)
        elif lib == "requests":
            f = self._kw_node(node, "allow_redirects")
            follows = self._flag(f, not call.endswith(".head"))
        elif lib == "urllib3":
            follows = self._flag(self._kw_node(node, "redirect"), True)
        elif lib == "aiohttp":
            follows = self._flag(self._kw_node(node, "allow_redirects"), True)
        elif lib == "urllib":
            follows = True
        else:
            follows = False
        explicit = any(
            self._const(self._kw_node(node, k) or ctor.get(k)) is True
            for k in ("follow_redirects", "allow_redirects", "redirect")
        )
        verify = self._kw_node(node, "verify") or ctor.get("verify")
        ssl_kw = self._kw_node(node, "ssl")
        verify_off = self._const(verify) is False or self._const(ssl_kw) is False
        timeout = self._kw_node(node, "timeout") or ctor.get("timeout")
        no_timeout = (lib in ("requests", "urllib") and timeout is None) or (
            timeout is not None and self._const(timeout) is None
        )
        lead = leading_text(url).lower()
        sink = Sink(
            "fetch",
            call,
            node.lineno,
            host_labels(url),
            url.labels,
            follows,
            verify_off,
            no_timeout,
            lead.startswith("http://") or "cfg-http" in url.labels,
            redirects_explicit=explicit,
        )
        self.sinks.append(sink)
        return Value(self._resp([url]), None)

    def _flag(self, node: ast.AST | None, default: bool) -> bool | str:
        if node is None:
            return default
        if isinstance(node, ast.Constant):
            return bool(node.value)
        if isinstance(node, ast.Name) and self.info and node.id in self.info.summary.params:
            return node.id  # decided by the caller
        return default

    def _safe(self, node: ast.Call, call: str, args: list[Value]) -> None:
        """A safe fetcher checks what it fetches: the argument counts as guarded from here on."""
        if node.args:
            self._mark(node.args[0], "strong")

    def _redirect(self, node: ast.AST, call: str, target: Value) -> None:
        line = getattr(node, "lineno", 0)
        self.sinks.append(Sink("redirect", call, line, host_labels(target), target.labels))

    def _headers_redirect(self, node: ast.AST, headers: ast.AST) -> None:
        if isinstance(headers, ast.Dict):
            for k, v in zip(headers.keys, headers.values, strict=False):
                if isinstance(k, ast.Constant) and str(k.value).lower() == "location":
                    self._redirect(node, "Location header", self.value(v))

    def _apply(
        self, helper: FunctionInfo, node: ast.Call, args: list[Value], kwargs: dict[str, Value]
    ) -> Value:
        s = helper.summary
        bound: dict[int, Value] = {}
        offset = (
            1 if s.params[:1] in (["self"], ["cls"]) and isinstance(node.func, ast.Attribute) else 0
        )
        for i, v in enumerate(args):
            if i + offset < len(s.params):
                bound[i + offset] = v
        for k, v in kwargs.items():
            if k in s.params:
                bound[s.params.index(k)] = v

        def subst(labels: Labels) -> Labels:
            out: set[str] = set()
            for lab in labels:
                base, guard = base_of(lab), guard_of(lab)
                if re.fullmatch(r"p\d+", base):
                    arg = bound.get(int(base[1:]))
                    if arg is not None:
                        out |= relabel(arg.labels, guard) if guard else arg.labels
                else:
                    out.add(lab)
            return frozenset(out)

        for i, kind in self._guards_of(helper, bound).items():
            arg_node = self._arg_node(node, s, i, offset)
            if arg_node is not None:
                self._mark(arg_node, kind)
        for sink in s.sinks:
            labels = subst(sink.labels)
            if not labels:
                continue
            follows = sink.follows_redirects
            if isinstance(follows, str):
                idx = s.params.index(follows) if follows in s.params else -1
                arg_node = self._arg_node(node, s, idx, offset) if idx >= 0 else None
                if arg_node is None:
                    arg_node = s.defaults.get(follows)
                follows = self._flag(arg_node, False)
            self.sinks.append(
                Sink(
                    sink.kind,
                    sink.call,
                    node.lineno,
                    labels,
                    subst(sink.all_labels),
                    follows,
                    sink.verify_off,
                    sink.no_timeout,
                    sink.plain_http,
                    (f"{s.name} ({s.file}:{sink.line})", *sink.via),
                    redirects_explicit=sink.redirects_explicit,
                )
            )
        returned = subst(s.returns)
        first = node.args[0] if node.args else None
        if isinstance(first, ast.Constant) and isinstance(first.value, str):
            # _arg("url") returning request.args.get(name): name the input after the key
            returned = frozenset(_named(x, first.value) for x in returned)
        return Value(returned, None)

    def _guards_of(self, helper: FunctionInfo, bound: dict[int, Value]) -> dict[int, str]:
        """Which arguments a call checks: the helper's own marks, and, for a function that
        refuses (raise / abort / return False) after inspecting a parameter, that parameter.
        Judged only for arguments that carry attacker data (it costs a walk of the helper)."""
        out = dict(helper.summary.guards)
        attacker = [
            i
            for i, v in bound.items()
            if any(is_attacker(x) or base_of(x).startswith("p") for x in v.labels)
        ]
        if attacker and helper.guard:
            for i in attacker:
                name = helper.summary.params[i]
                if name in helper.names and GUARD_STRENGTH[helper.guard] > GUARD_STRENGTH.get(
                    out.get(i, ""), 0
                ):
                    out[i] = helper.guard
        return out

    def _arg_node(self, node: ast.Call, s: Summary, index: int, offset: int) -> ast.AST | None:
        pos = index - offset
        if 0 <= pos < len(node.args):
            return node.args[pos]
        name = s.params[index] if 0 <= index < len(s.params) else None
        for k in node.keywords:
            if k.arg == name:
                return k.value
        return None

    def _mark(self, node: ast.AST, guard: str) -> None:
        """Record that what ``node`` names was checked by ``guard``."""
        names = {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}
        for name in names:
            if name in self.env or name in self.a.globals.get(self.module.path, {}):
                v = self.lookup(name)
                self.env[name] = Value(
                    relabel(v.labels, guard), v.pieces, v.client, v.client_kwargs
                )
            if self.info and name in self.info.summary.params:
                old = self.guard_marks.get(name, "")
                if GUARD_STRENGTH[guard] > GUARD_STRENGTH.get(old, 0):
                    self.guard_marks[name] = guard
        # Variables derived from a checked one (``parts = urlsplit(url)``) are checked too:
        # handled by relabelling every env entry that shares the checked labels.
        checked = frozenset().union(*(self.lookup(n).labels for n in names)) if names else EMPTY
        bases = {base_of(x) for x in checked if is_attacker(x) or base_of(x).startswith("p")}
        for var, v in list(self.env.items()):
            if any(base_of(x) in bases for x in v.labels):
                self.env[var] = Value(relabel(v.labels, guard), v.pieces, v.client, v.client_kwargs)

    def param_guards(self) -> dict[int, str]:
        if not self.info:
            return {}
        out: dict[int, str] = {}
        for name, guard in self.guard_marks.items():
            out[self.info.summary.params.index(name)] = guard
        return out

    # ---- statements ----------------------------------------------------------------------
    def block(self, body: list[ast.stmt]) -> bool:
        """Interpret statements in order; True when the block always leaves."""
        # Statements after one that always leaves are dead code and are not interpreted.
        return any(self.stmt(stmt) for stmt in body)

    def stmt(self, node: ast.stmt) -> bool:
        if isinstance(node, ast.Assign):
            if (
                len(node.targets) == 1
                and isinstance(node.targets[0], ast.Tuple | ast.List)
                and isinstance(node.value, ast.Tuple | ast.List)
                and len(node.targets[0].elts) == len(node.value.elts)
            ):  # a, b = x, y: element by element
                for t, e in zip(node.targets[0].elts, node.value.elts, strict=False):
                    self._bind(t, self.value(e))
                return False
            v = self.value(node.value)
            for t in node.targets:
                self._bind(t, v)
                self._location_header(t, v, node)
            return False
        if isinstance(node, ast.AnnAssign):
            if node.value is not None:
                self._bind(node.target, self.value(node.value))
            return False
        if isinstance(node, ast.AugAssign):
            cur = self.value(node.target)
            self._bind(node.target, self._built([cur, self.value(node.value)]))
            return False
        if isinstance(node, ast.Expr):
            self.value(node.value)
            return _terminates([node])  # abort(400) leaves like raise
        if isinstance(node, ast.Return):
            v = self.value(node.value)
            self._tuple_redirect(node)
            self.returns = Value(self.returns.labels | v.labels, v.pieces or self.returns.pieces)
            return True
        if isinstance(node, ast.Raise):
            return True
        if isinstance(node, ast.If):
            return self._if(node)
        if isinstance(node, ast.For | ast.AsyncFor):
            self._bind(node.target, self.value(node.iter))
            before = dict(self.env)
            self.block(node.body)
            self._merge(before, dict(self.env))
            self.block(node.orelse)
            return False
        if isinstance(node, ast.While):
            self.value(node.test)
            before = dict(self.env)
            self.block(node.body)
            self._merge(before, dict(self.env))
            return False
        if isinstance(node, ast.With | ast.AsyncWith):
            for item in node.items:
                v = self.value(item.context_expr)
                if item.optional_vars is not None:
                    self._bind(item.optional_vars, v)
            return self.block(node.body)
        if isinstance(node, ast.Try):
            before = dict(self.env)
            left = self.block(node.body)
            after_body = dict(self.env)
            outs = [] if left else [after_body]
            for h in node.handlers:
                self.env = dict(before)
                if not self.block(h.body):
                    outs.append(dict(self.env))
            self.env = after_body
            if not left:
                self.block(node.orelse)
            if outs:
                merged = outs[0]
                for o in outs[1:]:
                    merged = _merge_envs(merged, o)
                self.env = merged
            self.block(node.finalbody)
            return left and all(_terminates(h.body) for h in node.handlers)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            return False  # nested definitions are analysed as functions of their own
        return False

    def _bind(self, target: ast.AST, v: Value) -> None:
        if isinstance(target, ast.Name):
            self.env[target.id] = v
        elif isinstance(target, ast.Tuple | ast.List):
            for t in target.elts:
                self._bind(t, Value(v.labels, None, v.client, v.client_kwargs))
        elif isinstance(target, ast.Starred):
            self._bind(target.value, v)

    def _location_header(self, target: ast.AST, v: Value, node: ast.stmt) -> None:
        # resp.headers["Location"] = target
        if (
            isinstance(target, ast.Subscript)
            and isinstance(target.slice, ast.Constant)
            and str(target.slice.value).lower() == "location"
        ):
            self._redirect(node, "Location header", v)

    def _tuple_redirect(self, node: ast.Return) -> None:
        # return "", 302, {"Location": target}
        if isinstance(node.value, ast.Tuple):
            for elt in node.value.elts:
                if isinstance(elt, ast.Dict):
                    self._headers_redirect(node, elt)

    def _merge(self, a: dict[str, Value], b: dict[str, Value]) -> None:
        self.env = _merge_envs(a, b)

    def _if(self, node: ast.If) -> bool:
        self.value(node.test)
        check = self._condition(node.test)
        before = dict(self.env)
        if check and not check[2]:  # ``if allowed(u): fetch(u)``: the body runs on a pass
            self._mark(check[0], check[1])
        left_body = self.block(node.body)
        after_body = dict(self.env)
        self.env = dict(before)
        if check and check[2]:  # ``if not allowed(u): abort()``: what follows runs on a pass
            self._mark(check[0], check[1])
        left_else = self.block(node.orelse)
        after_else = dict(self.env)
        if left_body and left_else:
            return True
        if left_body:
            self.env = after_else
        elif left_else:
            self.env = after_body
        else:
            self.env = _merge_envs(after_body, after_else)
        return False

    def _condition(self, test: ast.AST) -> tuple[ast.AST, str, bool] | None:
        """(checked expression, guard kind, negated) when ``test`` looks like a URL check.

        ``negated`` is True when the branch runs on failure (``if not ok(u)``, ``if h not in
        ALLOWED``, ``if h in BLOCKED``): what follows the branch is the checked path.
        """
        negated = False
        if isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not):
            test, negated = test.operand, True
        if isinstance(test, ast.BoolOp):
            found = [c for v in test.values if (c := self._condition(v))]
            if not found:
                return None
            # ``if bad_a or bad_b: leave`` and ``if ok_a and ok_b: use`` pass only when every
            # check passed: the strongest one holds. Otherwise one passing check is enough.
            failure = all(c[2] for c in found)
            every = isinstance(test.op, ast.Or) == failure
            pick = max if every else min
            chosen = pick(found, key=lambda c: GUARD_STRENGTH[c[1]])
            return chosen[0], chosen[1], negated != chosen[2]
        if isinstance(test, ast.Attribute) and self._attacker(test):
            # ``if parts.netloc: refuse``: relative targets only; ``if not parts.scheme``…
            if test.attr in ("netloc", "hostname", "host"):
                return test, "allow", not negated
            if test.attr == "scheme":
                return test, "scheme", not negated
        if isinstance(test, ast.Call):
            name = dotted(test.func, self.module.imports) or ""
            last = name.rsplit(".", 1)[-1]
            if not test.args:
                return None
            arg = test.args[0]
            if not self._attacker(arg):
                return None
            if last in LIBRARY_GUARDS or name in LIBRARY_GUARDS:
                return arg, LIBRARY_GUARDS.get(name) or LIBRARY_GUARDS[last], negated
            if last in ("startswith", "endswith") and isinstance(test.func, ast.Attribute):
                return self._prefix_check(test, negated)
            # ``is_blocked(u)`` is true on failure, ``is_allowed(u)`` on a pass.
            inverted = bool(_FAIL_NAME.search(last))
            helper = self.a.resolve(self.module, test.func)
            if helper is not None:
                kind = helper.summary.guards.get(0) or helper.guard
                if kind:
                    return arg, kind, negated != inverted
            if _CHECK_NAME.search(last):
                return arg, "denylist", negated != inverted  # unknown: trust it only a little
            return None
        if isinstance(test, ast.Compare) and len(test.ops) == 1:
            left, op, right = test.left, test.ops[0], test.comparators[0]
            if isinstance(op, ast.In | ast.NotIn):
                subject = left if self._attacker(left) else right if self._attacker(right) else None
                if subject is None:
                    return None
                is_in = isinstance(op, ast.In)
                if subject is right:  # "localhost" in url: a substring denylist
                    return subject, "denylist", negated != is_in
                if _is_scheme(left):  # scheme in ("http", "https"): passes when in
                    return subject, "scheme", negated != (not is_in)
                allow = _looks_allowlist(right)
                deny = _looks_denylist(right)
                is_not_in = isinstance(op, ast.NotIn)
                if allow or (not deny and is_not_in):
                    # ``h not in ALLOWED: leave`` / ``h in ALLOWED: fetch``
                    return subject, "allow", negated != is_not_in
                return subject, "denylist", negated != (not is_not_in)
            if isinstance(op, ast.Eq | ast.NotEq):
                subject = left if self._attacker(left) else right if self._attacker(right) else None
                other = right if subject is left else left
                if subject is None or not isinstance(other, ast.Constant):
                    return None
                kind = "scheme" if _is_scheme(subject) else "allow"
                if kind == "allow" and str(other.value) == "":  # netloc == "": relative only
                    kind = "allow"
                return subject, kind, negated != isinstance(op, ast.NotEq)
        return None

    def _prefix_check(self, test: ast.Call, negated: bool) -> tuple[ast.AST, str, bool] | None:
        assert isinstance(test.func, ast.Attribute)
        subject = test.func.value
        consts = [a.value for a in test.args if isinstance(a, ast.Constant)]
        if isinstance(test.args[0], ast.Tuple):
            consts = [e.value for e in test.args[0].elts if isinstance(e, ast.Constant)]
        texts = [str(c) for c in consts]
        if not texts:
            return None
        if test.func.attr == "startswith":
            if all(t in ("//", "/\\") for t in texts):
                return subject, "allow", not negated  # ``if t.startswith("//"): refuse``
            if all("://" in t and t.split("://", 1)[1].count("/") >= 1 for t in texts):
                return subject, "allow", negated  # a full origin with its slash: exact host
            if all(t.startswith("/") for t in texts):
                return subject, "allow", negated  # relative paths only (redirect checks)
            if all(t in ("http://", "https://", "http", "https") for t in texts):
                return subject, "scheme", negated
        internal = ("localhost", "127.", "169.254", "10.", "192.168", "0.0.0.0", "[::")
        if any(i in t for t in texts for i in internal):
            return subject, "denylist", not negated  # ``if u.startswith("http://127."): abort``
        return subject, "denylist", negated  # a prefix without its slash: a weak allowlist

    def _attacker(self, node: ast.AST) -> bool:
        return any(is_attacker(x) or base_of(x).startswith("p") for x in self.value(node).labels)


CLIENT_CTORS_INV = {
    "requests": "requests.Session",
    "httpx": "httpx.Client",
    "urllib3": "urllib3.PoolManager",
    "aiohttp": "aiohttp.ClientSession",
}


def _merge_envs(a: dict[str, Value], b: dict[str, Value]) -> dict[str, Value]:
    """Join two branches: union of labels; a guard holds only if it holds on both."""
    out = dict(a)
    for k, vb in b.items():
        va = a.get(k)
        if va is None:
            out[k] = vb
            continue
        labels = set(va.labels | vb.labels)
        # the same base checked in one branch only: keep the weaker (unchecked) label
        for lab in list(labels):
            weaker = [x for x in labels if base_of(x) == base_of(lab) and x != lab]
            for w in weaker:
                if GUARD_STRENGTH.get(guard_of(w), 0) < GUARD_STRENGTH.get(guard_of(lab), 0):
                    labels.discard(lab)
        out[k] = Value(
            frozenset(labels),
            va.pieces if va.pieces == vb.pieces else None,
            va.client or vb.client,
            va.client_kwargs or vb.client_kwargs,
        )
    return out


def _named(label: str, name: str) -> str:
    base, sep, guard = label.partition("|")
    if base.startswith("req:") and base.endswith(":?"):
        base = base[:-1] + name
    return base + sep + guard


def _is_scheme(node: ast.AST) -> bool:
    return isinstance(node, ast.Attribute) and node.attr == "scheme"


def _plain_name(node: ast.AST) -> str:
    """``x`` of a name, ``attr`` of ``obj.attr``; "" for anything else."""
    if isinstance(node, ast.Name):
        return node.id
    return node.attr if isinstance(node, ast.Attribute) else ""


def _looks_allowlist(node: ast.AST) -> bool:
    return bool(re.search(r"allow|white|trusted|permitted|known|safe", _plain_name(node), re.I))


def _looks_denylist(node: ast.AST) -> bool:
    if isinstance(node, ast.Tuple | ast.List | ast.Set):
        texts = [str(e.value) for e in node.elts if isinstance(e, ast.Constant)]
        return any(t in ("localhost", "127.0.0.1", "0.0.0.0", "169.254.169.254") for t in texts)
    return bool(
        re.search(
            r"block|black|deny|denied|forbid|banned|internal|private", _plain_name(node), re.I
        )
    )


def guard_kind(fn: ast.FunctionDef | ast.AsyncFunctionDef, module: Module) -> str:
    """What kind of URL check a function is, judged from its body; '' when it is none.

    A check refuses (raise, abort, return False) and inspects a URL or host. Its strength comes
    from what it looks at: a resolver lookup, ipaddress on the text, string comparisons, an
    allowlist, or only the scheme.
    """
    nodes = list(ast.walk(fn))
    refuses = any(
        isinstance(n, ast.Raise)
        or (
            isinstance(n, ast.Return)
            and isinstance(n.value, ast.Constant)
            and n.value.value is False
        )
        or (
            isinstance(n, ast.Call)
            and (dotted(n.func, module.imports) or "").rsplit(".", 1)[-1] == "abort"
        )
        for n in nodes
    )
    returns_bool = any(
        isinstance(n, ast.Return) and isinstance(n.value, ast.Compare | ast.BoolOp | ast.UnaryOp)
        for n in nodes
    )
    if not (refuses or returns_bool):
        return ""
    names = {dotted(n.func, module.imports) or "" for n in nodes if isinstance(n, ast.Call)}
    attrs = {n.attr for n in nodes if isinstance(n, ast.Attribute)}
    if any(n.startswith("ssrfguard") for n in names) or any(
        _SAFE_FETCH_NAME.search(n) for n in names
    ):
        return "strong"
    looks_at_url = bool(attrs & {"hostname", "netloc", "scheme", "host"}) or any(
        n.endswith(("urlparse", "urlsplit")) for n in names
    )
    if not looks_at_url and not _CHECK_NAME.search(fn.name):
        return ""
    if names & _RESOLVERS:
        return "resolve"
    allow_names = [
        n for n in nodes if isinstance(n, ast.Name | ast.Attribute) and _looks_allowlist(n)
    ]
    has_not_in = any(
        isinstance(n, ast.Compare) and any(isinstance(o, ast.NotIn) for o in n.ops) for n in nodes
    )
    if allow_names and has_not_in:
        return "allow"
    if any(n.startswith("ipaddress.") for n in names) or attrs & {
        "is_private",
        "is_loopback",
        "is_global",
        "is_link_local",
        "is_reserved",
    }:
        return "literal"
    string_checks = (
        any(
            isinstance(n, ast.Compare)
            and any(isinstance(o, ast.In | ast.NotIn | ast.Eq) for o in n.ops)
            for n in nodes
        )
        or "startswith" in attrs
        or "endswith" in attrs
    )
    host_checks = bool(attrs & {"hostname", "netloc", "host"}) or any(
        isinstance(n, ast.Name) and _HOSTY.search(n.id) for n in nodes
    )
    if string_checks and host_checks:
        return "denylist"
    if "scheme" in attrs:
        return "scheme"
    return ""

"""Flask routes found in the syntax tree: method, path template, file, line, view function.

Covers ``@app.route``/``@bp.get``…, blueprints with ``url_prefix`` (on ``Blueprint(...)`` or on
``register_blueprint``), ``add_url_rule`` (functions and ``MethodView.as_view``), ``MethodView``
classes, and Flask-RESTful ``api.add_resource`` / flask-smorest ``@blp.route`` on classes.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field

from firebrick.source.project import Module, Project, child_statements, dotted

HTTP_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")
_DECORATOR_METHODS = {"get", "post", "put", "patch", "delete"}
_PARAM = re.compile(r"<(?:[^:<>]+:)?([^<>]+)>")
_BLUEPRINT_CTORS = ("Blueprint",)  # flask.Blueprint, flask_smorest.Blueprint, APIBlueprint…


@dataclass
class Route:
    methods: tuple[str, ...]
    path: str  # Flask rule with the blueprint prefix applied, e.g. /api/users/<int:id>
    file: str
    line: int
    function: str  # qualified name of the view, e.g. create_app.<locals>.image or Items.get
    node: ast.FunctionDef | ast.AsyncFunctionDef = field(repr=False, compare=False)
    params: tuple[str, ...] = ()  # the rule's variables, which are request data

    @property
    def template(self) -> str:
        """The rule as an OpenAPI-style template: /api/users/{id}."""
        return _PARAM.sub(lambda m: "{" + m.group(1) + "}", self.path)

    def operation_keys(self) -> list[str]:
        return [f"{m} {self.template}" for m in self.methods]


def _const_str(node: ast.AST | None) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def _kw(call: ast.Call, name: str) -> ast.AST | None:
    for k in call.keywords:
        if k.arg == name:
            return k.value
    return None


def _methods(call: ast.Call, default: tuple[str, ...] = ("GET",)) -> tuple[str, ...]:
    node = _kw(call, "methods")
    if isinstance(node, ast.List | ast.Tuple | ast.Set):
        found = tuple(
            v.upper() for e in node.elts if (v := _const_str(e)) and v.upper() in HTTP_METHODS
        )
        return found or default
    return default


def _join(prefix: str, rule: str) -> str:
    if not prefix:
        return rule
    return prefix.rstrip("/") + ("/" + rule.lstrip("/") if rule else "")


def _blueprint_prefixes(module: Module) -> dict[str, str]:
    """Variables holding a ``Blueprint(..., url_prefix=...)`` -> their prefix."""
    out: dict[str, str] = {}
    for node in module.nodes:
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Call):
            name = dotted(node.value.func, module.imports) or ""
            if name.rsplit(".", 1)[-1] in _BLUEPRINT_CTORS:
                prefix = _const_str(_kw(node.value, "url_prefix")) or ""
                for t in node.targets:
                    if isinstance(t, ast.Name):
                        out[t.id] = prefix
    return out


def _register_prefixes(project: Project) -> dict[str, str]:
    """``app.register_blueprint(bp, url_prefix="/x")`` anywhere: blueprint variable -> prefix."""
    out: dict[str, str] = {}
    for module in project.modules:
        for node in module.nodes:
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "register_blueprint"
                and node.args
            ):
                prefix = _const_str(_kw(node, "url_prefix"))
                target = node.args[0]
                if prefix and isinstance(target, ast.Name):
                    out[target.id] = prefix
    return out


def _route_decorator(
    dec: ast.AST, prefixes: dict[str, str]
) -> tuple[str, tuple[str, ...], str] | None:
    """(rule, methods, receiver) for ``@x.route(rule, methods=…)`` / ``@x.get(rule)``."""
    if not (isinstance(dec, ast.Call) and isinstance(dec.func, ast.Attribute)):
        return None
    attr = dec.func.attr
    rule = _const_str(dec.args[0]) if dec.args else _const_str(_kw(dec, "rule"))
    if rule is None:
        return None
    receiver = dec.func.value.id if isinstance(dec.func.value, ast.Name) else ""
    path = _join(prefixes.get(receiver, ""), rule)
    if attr == "route":
        return path, _methods(dec), receiver
    if attr in _DECORATOR_METHODS:
        return path, (attr.upper(),), receiver
    return None


def _class_methods(cls: ast.ClassDef) -> list[ast.FunctionDef | ast.AsyncFunctionDef]:
    return [
        n
        for n in cls.body
        if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef) and n.name.upper() in HTTP_METHODS
    ]


def _params(rule: str) -> tuple[str, ...]:
    return tuple(_PARAM.findall(rule))


def find_routes(project: Project) -> list[Route]:
    registered = _register_prefixes(project)
    routes: list[Route] = []
    for module in project.modules:
        prefixes = {**_blueprint_prefixes(module), **registered}
        classes: dict[str, ast.ClassDef] = {}
        for node in module.nodes:
            if isinstance(node, ast.ClassDef):
                classes[node.name] = node
        for qual, node in _functions_and_classes(module.tree):
            if isinstance(node, ast.ClassDef):
                for dec in node.decorator_list:  # flask-smorest: @blp.route("/items") on a class
                    found = _route_decorator(dec, prefixes)
                    if found:
                        for meth in _class_methods(node):
                            routes.append(
                                Route(
                                    (meth.name.upper(),),
                                    found[0],
                                    module.path,
                                    meth.lineno,
                                    f"{qual}.{meth.name}",
                                    meth,
                                    _params(found[0]),
                                )
                            )
                continue
            for dec in node.decorator_list:
                found = _route_decorator(dec, prefixes)
                if found:
                    rule, methods, _ = found
                    routes.append(
                        Route(methods, rule, module.path, node.lineno, qual, node, _params(rule))
                    )
        routes += _rules_and_resources(module, prefixes, classes)
    return routes


def _rules_and_resources(
    module: Module, prefixes: dict[str, str], classes: dict[str, ast.ClassDef]
) -> list[Route]:
    """``add_url_rule(rule, endpoint, view_func)`` and ``api.add_resource(Resource, rule…)``."""
    functions = {
        n.name: n for n in module.nodes if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)
    }
    out: list[Route] = []
    for node in module.nodes:
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
            continue
        receiver = node.func.value.id if isinstance(node.func.value, ast.Name) else ""
        prefix = prefixes.get(receiver, "")
        if node.func.attr == "add_url_rule" and node.args:
            rule = _const_str(node.args[0])
            view = _kw(node, "view_func") or (node.args[2] if len(node.args) > 2 else None)
            if rule is None or view is None:
                continue
            path = _join(prefix, rule)
            cls = _as_view_class(view, classes)
            if cls is not None:
                for meth in _class_methods(cls):
                    out.append(
                        Route(
                            (meth.name.upper(),),
                            path,
                            module.path,
                            meth.lineno,
                            f"{cls.name}.{meth.name}",
                            meth,
                            _params(rule),
                        )
                    )
            elif isinstance(view, ast.Name) and view.id in functions:
                fn = functions[view.id]
                out.append(
                    Route(_methods(node), path, module.path, fn.lineno, fn.name, fn, _params(rule))
                )
        elif node.func.attr == "add_resource" and node.args:
            cls_node = node.args[0]
            cls = classes.get(cls_node.id) if isinstance(cls_node, ast.Name) else None
            if cls is None:
                continue
            for rule_node in node.args[1:]:
                rule = _const_str(rule_node)
                if rule is None:
                    continue
                for meth in _class_methods(cls):
                    out.append(
                        Route(
                            (meth.name.upper(),),
                            _join(prefix, rule),
                            module.path,
                            meth.lineno,
                            f"{cls.name}.{meth.name}",
                            meth,
                            _params(rule),
                        )
                    )
    return out


def _as_view_class(view: ast.AST, classes: dict[str, ast.ClassDef]) -> ast.ClassDef | None:
    # X.as_view("name")
    if (
        isinstance(view, ast.Call)
        and isinstance(view.func, ast.Attribute)
        and view.func.attr == "as_view"
        and isinstance(view.func.value, ast.Name)
    ):
        return classes.get(view.func.value.id)
    return None


def _functions_and_classes(
    tree: ast.AST, prefix: str = ""
) -> list[tuple[str, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef]]:
    """Every function and class with its qualified name, nested ones included."""
    out: list[tuple[str, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef]] = []
    for node in child_statements(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            qual = f"{prefix}{node.name}"
            out.append((qual, node))
            inner = f"{qual}.<locals>." if not isinstance(node, ast.ClassDef) else f"{qual}."
            out += _functions_and_classes(node, inner)
        else:
            out += _functions_and_classes(node, prefix)
    return out


def match_operation(routes: list[Route], operation: str | None) -> Route | None:
    """The route serving a black-box operation key (``GET /api/users/{id}``), if any.

    Path parameters match whatever their names; a GraphQL operation maps to the route serving
    its endpoint with POST.
    """
    if not operation:
        return None
    parts = operation.split(" ")
    if parts[0] == "GRAPHQL" and len(parts) >= 2:
        method, path = "POST", parts[1]
    elif len(parts) >= 2:
        method, path = parts[0].upper(), parts[1]
    else:
        return None
    want = _segments(path)
    best: Route | None = None
    for route in routes:
        methods = set(route.methods) | ({"HEAD"} if "GET" in route.methods else set())
        if method not in methods:
            continue
        have = _segments(route.template)
        if len(have) != len(want):
            continue
        if all(
            h == w or (h.startswith("{") and w.startswith("{"))
            for h, w in zip(have, want, strict=True)
        ):
            literal = sum(not h.startswith("{") for h in have)
            if best is None or literal > sum(
                not s.startswith("{") for s in _segments(best.template)
            ):
                best = route
    return best


def _segments(path: str) -> list[str]:
    path = path.split("?")[0]
    return [("{}" if s.startswith("{") else s) for s in path.strip("/").split("/")]

"""Load a Python project for static analysis: its files, their syntax trees and import aliases.

Nothing here imports or runs the project: files are read as text and parsed with ``ast``.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from pathlib import Path

# Folders that hold other people's code or build output, never the app under analysis.
SKIP_DIRS = frozenset(
    {
        ".git",
        ".hg",
        ".tox",
        ".nox",
        ".venv",
        "venv",
        "env",
        "node_modules",
        "site-packages",
        "__pycache__",
        "build",
        "dist",
        ".mypy_cache",
        ".ruff_cache",
        ".pytest_cache",
    }
)
MAX_FILE_BYTES = 1 << 20  # a larger .py file is generated or vendored: skipped with a warning


@dataclass
class Module:
    """One parsed file: its path (relative to the project root), dotted name, tree and imports."""

    path: str  # relative, with forward slashes: what reports and SARIF show
    name: str  # dotted module name guessed from the path (``src/`` stripped)
    tree: ast.Module
    # local alias -> fully qualified dotted name, e.g. "r" -> "requests", "urlopen" ->
    # "urllib.request.urlopen", "sf" -> "app.safe_fetch"
    imports: dict[str, str] = field(default_factory=dict)
    text: str = field(default="", repr=False)
    _nodes: list[ast.AST] | None = field(default=None, repr=False)

    @property
    def nodes(self) -> list[ast.AST]:
        """Every node of the tree, walked once (route and guard searches read it many times)."""
        if self._nodes is None:
            self._nodes = list(ast.walk(self.tree))
        return self._nodes


@dataclass
class Project:
    root: Path
    modules: list[Module] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    lines: int = 0


def _module_name(rel: Path) -> str:
    parts = list(rel.with_suffix("").parts)
    if parts and parts[0] == "src":
        parts = parts[1:]
    if parts and parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts) or rel.stem


def _imports(tree: ast.Module, module_name: str) -> dict[str, str]:
    aliases: dict[str, str] = {}
    package = module_name.rpartition(".")[0]
    for node in _statements(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                if a.asname:
                    aliases[a.asname] = a.name
                else:  # `import urllib.request` binds `urllib`
                    top = a.name.split(".")[0]
                    aliases.setdefault(top, top)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative import: resolve against this module's package
                anchor = package.split(".") if package else []
                anchor = anchor[: len(anchor) - (node.level - 1)] if node.level > 1 else anchor
                base = ".".join([*anchor, base] if base else anchor)
            for a in node.names:
                aliases[a.asname or a.name] = f"{base}.{a.name}" if base else a.name
    return aliases


def _statements(tree: ast.AST) -> list[ast.AST]:
    out: list[ast.AST] = []
    todo = [tree]
    while todo:
        node = todo.pop()
        out.append(node)
        todo.extend(child_statements(node))
    return out


def load_project(path: str | Path) -> Project:
    """Parse every .py file under ``path`` (or ``path`` itself); unreadable files become warnings."""
    root = Path(path)
    if not root.exists():
        raise FileNotFoundError(str(root))
    files = [root] if root.is_file() else sorted(_walk(root))
    base = root.parent if root.is_file() else root
    project = Project(root=base)
    for file in files:
        rel = file.relative_to(base)
        try:
            if file.stat().st_size > MAX_FILE_BYTES:
                project.warnings.append(f"{rel.as_posix()}: larger than 1 MiB, not analysed")
                continue
            text = file.read_text("utf-8", errors="replace")
            tree = ast.parse(text, filename=str(rel))
        except (OSError, SyntaxError, ValueError, RecursionError) as exc:
            project.warnings.append(f"{rel.as_posix()}: not analysed ({type(exc).__name__})")
            continue
        name = _module_name(rel)
        project.lines += text.count("\n") + 1
        project.modules.append(Module(rel.as_posix(), name, tree, _imports(tree, name), text))
    return project


def _walk(root: Path) -> list[Path]:
    out: list[Path] = []
    for entry in sorted(root.iterdir()):
        if entry.is_symlink():
            continue
        if entry.is_dir():
            if entry.name not in SKIP_DIRS and not entry.name.startswith("."):
                out += _walk(entry)
        elif entry.suffix == ".py":
            out.append(entry)
    return out


def dotted(node: ast.AST, imports: dict[str, str]) -> str | None:
    """The fully qualified dotted name of a Name/Attribute chain (``r.get`` -> ``requests.get``)."""
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    head = imports.get(node.id, node.id)
    return ".".join([head, *reversed(parts)])


def child_statements(node: ast.AST) -> list[ast.AST]:
    """The statements directly inside ``node`` (bodies, branches, handlers), not expressions:
    enough to find every function and class, far cheaper than walking every node."""
    out: list[ast.AST] = []
    for name in ("body", "orelse", "finalbody", "handlers", "cases"):
        value = getattr(node, name, None)
        if isinstance(value, list):
            out.extend(v for v in value if isinstance(v, ast.AST))
    return out

"""Reads the import graph of crm/ with `ast` (no module is imported), for test_architecture.py.

What counts as an import: `import x`, `from x import y` (relative ones resolved), and
`importlib.import_module("x")` with a literal name, at module level or inside a function: a
function-level (lazy) import hides a circle from Python, not from a reader, so it counts the same.
Imports under `if TYPE_CHECKING:` do not count: they never run (the models name each other by
SQLAlchemy string names and import only for the type checker).
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

#: What crm/core may import besides crm.core itself: the extension objects and the command group.
CORE_MAY_IMPORT = ("crm.extensions", "crm.cli")


@dataclass(frozen=True)
class Import:
    path: str  #: the importing file, relative to the project root ("crm/billing/webhook.py")
    module: str  #: the dotted module imported ("crm.join.services", "stripe")
    line: int

    @property
    def source_folder(self) -> str | None:
        """The domain folder the importing file is in (crm/<folder>/...), None for crm/*.py."""
        parts = self.path.split("/")
        return parts[1] if len(parts) > 2 else None


def modules(root: Path) -> Iterator[Path]:
    """Every Python file of the package `root` / crm."""
    yield from sorted((root / "crm").rglob("*.py"))


def _module_name(root: Path, path: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _walk(node: ast.AST) -> Iterator[ast.AST]:
    """ast.walk, minus the bodies of `if TYPE_CHECKING:` blocks."""
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.If) and _is_type_checking(child.test):
            for other in child.orelse:
                yield other
                yield from _walk(other)
            continue
        yield child
        yield from _walk(child)


def imports_of(root: Path, path: Path) -> Iterator[Import]:
    """The imports one file makes (see the module docstring for what counts)."""
    rel = path.relative_to(root).as_posix()
    name = _module_name(root, path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=rel)
    for node in _walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield Import(rel, alias.name, node.lineno)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            for alias in node.names:
                # `from crm import i18n` imports the package crm.i18n, `from crm.x import f` crm.x.
                sub = f"{target}.{alias.name}"
                yield Import(rel, sub if _is_package_or_module(root, sub) else target, node.lineno)
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "import_module"
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            yield Import(rel, node.args[0].value, node.lineno)


def _is_package_or_module(root: Path, dotted: str) -> bool:
    path = root.joinpath(*dotted.split("."))
    return path.is_dir() or path.with_suffix(".py").is_file()


def all_imports(root: Path) -> list[Import]:
    return [found for path in modules(root) for found in imports_of(root, path)]


def domain_folders(root: Path) -> set[str]:
    """The folders of crm/ that are packages: core and every domain."""
    return {p.parent.name for p in (root / "crm").glob("*/__init__.py")}


def target_folder(module: str, folders: set[str]) -> str | None:
    parts = module.split(".")
    if parts[0] == "crm" and len(parts) > 1 and parts[1] in folders:
        return parts[1]
    return None


def folder_edges(imports: Iterable[Import], folders: set[str]) -> dict[tuple[str, str], list[Import]]:
    """(from folder, to folder) -> the imports making that arrow."""
    edges: dict[tuple[str, str], list[Import]] = {}
    for found in imports:
        source, target = found.source_folder, target_folder(found.module, folders)
        if source is None or target is None or source == target:
            continue
        edges.setdefault((source, target), []).append(found)
    return edges


def cycles(edges: Iterable[tuple[str, str]]) -> list[list[str]]:
    """The strongly connected components with more than one folder (each one is a circle)."""
    graph: dict[str, set[str]] = {}
    for a, b in edges:
        graph.setdefault(a, set()).add(b)
        graph.setdefault(b, set())
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:  # Tarjan's algorithm; the graph has a few dozen nodes
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph[node]):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return sorted(found)


def core_domain_imports(imports: Iterable[Import]) -> list[Import]:
    """Imports from crm/core of anything under crm but crm.core and CORE_MAY_IMPORT."""
    return [
        found
        for found in imports
        if found.source_folder == "core"
        and (found.module == "crm" or found.module.startswith("crm."))
        and not found.module.startswith("crm.core")
        and not any(found.module == ok or found.module.startswith(ok + ".") for ok in CORE_MAY_IMPORT)
    ]


def devtools_imports(imports: Iterable[Import]) -> list[Import]:
    return [found for found in imports if found.module.split(".")[0] == "devtools"]


def is_stripe_gateway(path: str) -> bool:
    """crm/billing/stripe_gateway.py, any crm/billing/stripe_gateway*.py, or a gateway package."""
    return path.startswith("crm/billing/stripe_gateway") and path.endswith(".py")


def stripe_imports(imports: Iterable[Import]) -> list[Import]:
    return [
        found
        for found in imports
        if found.module.split(".")[0] == "stripe" and not is_stripe_gateway(found.path)
    ]


def long_modules(root: Path, limit: int) -> dict[str, int]:
    """Files of crm/ over `limit` lines -> their line count."""
    counts = {
        path.relative_to(root).as_posix(): len(path.read_text(encoding="utf-8").splitlines())
        for path in modules(root)
    }
    return {path: n for path, n in counts.items() if n > limit}


def _model_named(node: ast.expr) -> str | None:
    """`Payment` for `Payment`, `models.Payment` or `Payment.__table__`."""
    if isinstance(node, ast.Attribute) and node.attr == "__table__":
        node = node.value
    if isinstance(node, ast.Name):
        return node.id
    return node.attr if isinstance(node, ast.Attribute) else None


def rows_written(root: Path, models: Iterable[str]) -> list[tuple[str, int, str]]:
    """(file, line, model) wherever crm/ builds a row of one of `models` (`Payment(...)`) or
    inserts them in bulk (`insert(Payment.__table__)`, `insert(Payment)`)."""
    wanted = set(models)
    found = []
    for path in modules(root):
        rel = path.relative_to(root).as_posix()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=rel)):
            if not isinstance(node, ast.Call):
                continue
            name = _model_named(node.func)
            if name == "insert" and node.args:
                name = _model_named(node.args[0])
            if name in wanted:
                found.append((rel, node.lineno, name))
    return found

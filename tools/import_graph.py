"""The import graph of aio_etcd, read with ast: its circles and its largest files.

    python tools/import_graph.py [PACKAGE_DIR]

Two graphs: every import (those inside functions and under ``TYPE_CHECKING``
included), and those run at import time only (module level, outside
``if TYPE_CHECKING:``). A circle is a strongly connected component of more
than one module. ``from pkg import mod`` is an edge to ``pkg.mod`` alone; ``from pkg import
name`` one to ``pkg`` (its ``__init__``).
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path


def modules(root: Path) -> dict[str, Path]:
    found = {}
    for path in sorted(root.rglob("*.py")):
        parts = list(path.relative_to(root.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def imports(name: str, path: Path, known: set[str], import_time: bool) -> set[str]:
    tree = ast.parse(path.read_text(), str(path))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()

    def add(target: str) -> None:
        # The module itself (the longest known name): a package's __init__
        # runs first, but counting that edge would put every module that
        # imports a sibling in one circle with the package.
        while target and target not in known:
            target = target.rpartition(".")[0]
        if target:
            found.add(target)

    def visit(nodes: list[ast.stmt]) -> None:
        for node in nodes:
            if isinstance(node, ast.Import):
                for alias in node.names:
                    add(alias.name)
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package
                    for _ in range(node.level - 1):
                        base = base.rpartition(".")[0]
                    base = f"{base}.{node.module}" if node.module else base
                else:
                    base = node.module or ""
                names = [f"{base}.{alias.name}" for alias in node.names]
                for target in [n for n in names if n in known] or [base]:
                    add(target)
            elif isinstance(node, ast.If) and import_time and _is_type_checking(node):
                visit(node.orelse)
            elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and import_time:
                continue
            else:
                for field in ("body", "orelse", "finalbody", "handlers"):
                    inner = getattr(node, field, None)
                    if isinstance(inner, list):
                        visit([n for n in inner if isinstance(n, ast.stmt)] + [
                            s for h in inner if isinstance(h, ast.ExceptHandler) for s in h.body
                        ])

    visit(tree.body)
    found.discard(name)
    return found


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one node (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    result: list[list[str]] = []
    sys.setrecursionlimit(10000)

    def connect(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for succ in graph[node]:
            if succ not in index:
                connect(succ)
                low[node] = min(low[node], low[succ])
            elif succ in on_stack:
                low[node] = min(low[node], index[succ])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                result.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            connect(node)
    return sorted(result)


def main(argv: list[str]) -> int:
    root = Path(argv[0] if argv else Path(__file__).resolve().parent.parent / "aio_etcd")
    found = modules(root)
    known = set(found)
    for import_time in (False, True):
        graph = {name: imports(name, path, known, import_time) for name, path in found.items()}
        found_circles = circles(graph)
        what = "import-time imports" if import_time else "all imports (lazy and TYPE_CHECKING included)"
        print(f"{what}: {len(found_circles)} circle(s)")
        for circle in found_circles:
            print("   ", " ".join(circle))
    sizes = sorted(((sum(1 for _ in path.open()), name) for name, path in found.items()), reverse=True)
    print("largest files (lines):")
    for lines, name in sizes[:8]:
        print(f"    {lines:5d} {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

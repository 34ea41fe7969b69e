"""What ``import aio_etcd`` loads: the v2 client only; the v3 client comes with its first use."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path


def loaded_after(code: str) -> list[str]:
    probe = f"import sys\n{code}\nprint(' '.join(sorted(m for m in sys.modules if m.startswith('aio_etcd'))))"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    return done.stdout.split()


def test_import_aio_etcd_loads_no_v3_module() -> None:
    loaded = loaded_after("import aio_etcd as etcd\nfrom aio_etcd.lock import Lock\netcd.Client()")
    assert "aio_etcd.client" in loaded
    assert [m for m in loaded if m.startswith("aio_etcd.v3")] == []
    assert "aio_etcd.v2on3._keys" not in loaded


def test_a_v2_client_on_a_v3_store_loads_the_v3_client_when_built() -> None:
    loaded = loaded_after("import aio_etcd as etcd\netcd.Client(api='v3')")
    assert "aio_etcd.v3.client" in loaded
    assert "aio_etcd.v2on3._keys" in loaded


CORE = Path(__file__).resolve().parents[2] / "aio_etcd" / "_core"


def _imported(path: Path) -> list[tuple[int, str]]:
    """Every module a file imports (absolute names; relative ones resolved), lazy imports included."""
    package = "aio_etcd._core"
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = package
            for _ in range(node.level - 1):
                base = base.rpartition(".")[0]
            if not node.level:
                found.append((node.lineno, node.module or ""))
            elif node.module:
                found.append((node.lineno, f"{base}.{node.module}"))
            else:  # from .. import name: the module aio_etcd.name
                found += [(node.lineno, f"{base}.{alias.name}") for alias in node.names]
    return found


def test_the_core_imports_nothing_of_aio_etcd_outside_itself_but_the_exceptions() -> None:
    modules = sorted(CORE.glob("*.py"))
    assert len(modules) >= 8
    strays = [
        f"{path.name}:{line}: {name}"
        for path in modules
        for line, name in _imported(path)
        if name.split(".")[0] == "aio_etcd" and not name.startswith("aio_etcd._core") and name != "aio_etcd.exceptions"
    ]
    assert strays == []


def _code_strings(tree: ast.AST) -> list[tuple[int, str]]:
    """The string constants of a module that are not docstrings."""
    docs = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                docs.add(id(first.value))
    return [
        (node.lineno, node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docs
    ]


def test_the_core_names_no_path_or_header_of_an_etcd_api() -> None:
    api_words = ("/v2", "/v3", "X-Etcd", "errorCode", "grpc")
    found = [
        f"{path.name}:{line}: {text!r}"
        for path in sorted(CORE.glob("*.py"))
        for line, text in _code_strings(ast.parse(path.read_text()))
        if any(word.lower() in text.lower() for word in api_words)
    ]
    assert found == []


def test_the_check_above_sees_a_stray_import(tmp_path: Path) -> None:
    stray = tmp_path / "stray.py"
    stray.write_text("from ..v3 import errors\nfrom .. import _v2\nimport aio_etcd.client\nfrom .members import M\n")
    found = [name for _, name in _imported(stray)]
    assert found == ["aio_etcd.v3", "aio_etcd._v2", "aio_etcd.client", "aio_etcd._core.members"]

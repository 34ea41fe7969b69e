"""The api choice is made in one place: :func:`aio_etcd._choose.choose`.

The facade, the recipes, the watches, auth and the command line never ask
which API they talk to; what a backend cannot serve it refuses itself. These
tests read the source (an AST walk), so a branch on the api mode, or a reach
into another module's private names, fails here wherever it comes back.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import aio_etcd as etcd
from aio_etcd._choose import APIS, AutoKeys, choose
from aio_etcd._http import AiohttpTransport
from aio_etcd._v2.keys import HttpKeys
from aio_etcd.cluster import Cluster

PACKAGE = Path(etcd.__file__).parent

#: The modules that must not look at the api mode (the backends themselves included).
NO_MODE = [
    "client.py",
    "auth.py",
    "watch.py",
    "lock.py",
    "_lockwait.py",
    "keepalive.py",
    "_backend.py",
    "_v2/keys.py",
    "v2on3/_backend.py",
    *(f"cli/{p.name}" for p in sorted((PACKAGE / "cli").glob("*.py"))),
]

#: Names the mode branches of the past were made of.
MODE_NAMES = {"_v3_store", "_keys3", "_auto", "_v3_changes", "_from_v3", "_use_v3", "_init_api"}
MODES = set(APIS)


def _named_api(node: ast.expr) -> bool:
    return (isinstance(node, ast.Name) and node.id == "api") or (isinstance(node, ast.Attribute) and node.attr == "api")


def _constants(node: ast.expr) -> set[str]:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return {node.value}
    if isinstance(node, ast.Tuple | ast.List | ast.Set):
        return {e.value for e in node.elts if isinstance(e, ast.Constant) and isinstance(e.value, str)}
    return set()


def mode_branches(source: str) -> list[tuple[int, str]]:
    """Where ``source`` singles out an api mode: ``api == "v3"``, ``x.api in ("v2",)``, a
    ``_v3_store()``... (Checking a value against all of v2, v3 and auto is validation, not a branch.)"""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Compare):
            sides = [node.left, *node.comparators]
            if any(_named_api(side) for side in sides):
                named = set().union(*(_constants(side) for side in sides)) & MODES
                if named and named != MODES:
                    found.append((node.lineno, ast.unparse(node)))
        elif isinstance(node, ast.Attribute) and node.attr in MODE_NAMES:
            found.append((node.lineno, ast.unparse(node)))
    return found


def foreign_privates(source: str) -> list[tuple[int, str]]:
    """Private names of other modules reached on an object (``client._send``): not on
    ``self``, not a private module, not a name this module defines itself."""
    tree = ast.parse(source)
    modules = {alias.asname or alias.name for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)
               for alias in node.names if alias.name.startswith("_")}
    own = {node.name for node in ast.walk(tree) if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)}
    own |= {node.attr for node in ast.walk(tree) if isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store)}
    found = []
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Attribute)
            and node.attr.startswith("_")
            and not node.attr.startswith("__")
            and node.attr not in own
            and not (isinstance(node.value, ast.Name) and node.value.id in {"self", "cls", *modules})
        ):
            found.append((node.lineno, ast.unparse(node)))
    return found


@pytest.mark.parametrize("module", NO_MODE)
def test_no_module_but_the_choice_branches_on_the_api(module: str) -> None:
    assert mode_branches((PACKAGE / module).read_text()) == []


def test_the_check_sees_the_branches_of_the_past() -> None:
    past = 'if client.api == "v3":\n    pass\nkeys3 = await self._v3_store()\nif api in ("v2",):\n    pass\n'
    assert sorted(line for line, _ in mode_branches(past)) == [1, 3, 4]
    assert mode_branches('if api not in ("v2", "v3", "auto"):\n    raise ValueError(api)\n') == []
    reached = foreign_privates("self._client._send(call)\nclient._headers\nself._backend.send(call)\n")
    assert sorted(reached) == [(1, "self._client._send"), (2, "client._headers")]


@pytest.mark.parametrize("module", ["client.py", "auth.py", "watch.py", "_backend.py", "_choose.py",
                                    "_v2/keys.py", "v2on3/_backend.py"])
def test_the_facade_and_the_backends_use_no_private_name_of_another_object(module: str) -> None:
    assert foreign_privates((PACKAGE / module).read_text()) == []


def test_the_choice() -> None:
    assert isinstance(etcd.Client().backend, HttpKeys)
    assert isinstance(etcd.Client(api="auto").backend, AutoKeys)
    assert etcd.Client(api="auto").api == "auto"
    from aio_etcd.v2on3._backend import StoreKeys

    on_v3 = etcd.Client(api="v3", host=(("127.0.0.1", 4001), ("127.0.0.1", 4002)))
    assert isinstance(on_v3.backend, StoreKeys) and on_v3.api == "v3"
    # One session: the v3 client's members are the client's, and no v2 member list or transport is made.
    assert on_v3.v3_client is not None and on_v3.machines_cache == on_v3.v3_client.members_known
    assert not [v for v in vars(on_v3.backend).values() if isinstance(v, HttpKeys | Cluster | AiohttpTransport)]
    assert on_v3.machines_cache == ["http://127.0.0.1:4001", "http://127.0.0.1:4002"]
    with pytest.raises(ValueError, match="api"):
        choose("v4", etcd.Client()._options)

"""The api choice is made in one place: :func:`aio_etcd._choose.choose`.

The facade, the recipes, the watches, auth and the command line never ask
which API they talk to; what a backend cannot serve it refuses itself. These
tests read the source (an AST walk), so a branch on the api mode, or a reach
into another module's private names, fails here wherever it comes back.
"""

from __future__ import annotations

import ast
import asyncio
import base64
import json
from pathlib import Path

import pytest
from scripted import Scripted, Sent, etcd_json
from scripted import node as key_node

import aio_etcd as etcd
from aio_etcd._choose import APIS, AutoKeys, choose
from aio_etcd._core import AiohttpTransport, Cluster, Exchange, Response
from aio_etcd._v2.keys import HttpKeys
from aio_etcd.testing import EtcdCluster

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
        if isinstance(node, ast.ImportFrom) and node.module and not node.module.rpartition(".")[2].startswith("_"):
            # ``from ..client import _key_path``: a private name of a public module (``from . import
            # _answers`` names a private module)
            found += [(node.lineno, f"{node.module}.{a.name}") for a in node.names
                      if a.name.startswith("_") and not a.name.startswith("__")]
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
    assert foreign_privates("from ..client import Client, _key_path\nfrom ._write import _copy\n") == [
        (1, "client._key_path")
    ]


@pytest.mark.parametrize("module", ["client.py", "auth.py", "watch.py", "_backend.py", "_choose.py",
                                    "_v2/keys.py", "_v2/follow.py", "v2on3/_backend.py", "v2on3/_cluster.py", "lock.py",
                                    "_lockwait.py",
                                    *(f"migrate/{p.name}" for p in sorted((PACKAGE / "migrate").glob("*.py")))])
def test_the_facade_and_the_backends_use_no_private_name_of_another_object(module: str) -> None:
    assert foreign_privates((PACKAGE / module).read_text()) == []


#: The v3 client and its service modules (the gRPC transport's modules, ``v3/_grpc/``, are not walked).
V3_MODULES = [f"v3/{p.name}" for p in sorted((PACKAGE / "v3").glob("*.py"))]


@pytest.mark.parametrize("module", V3_MODULES)
def test_the_v3_services_use_the_client_through_its_session_not_its_private_names(module: str) -> None:
    assert foreign_privates((PACKAGE / module).read_text()) == []


def test_no_v3_service_module_imports_the_v3_client() -> None:
    """The services state what they use of their client as a Protocol; only the client imports them."""
    for module in V3_MODULES:
        if module == "v3/client.py" or module == "v3/__init__.py":
            continue
        tree = ast.parse((PACKAGE / module).read_text())
        imported = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
        assert "client" not in imported, module


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


def _v35(sent: Sent) -> Response:
    if sent.path == "/version":
        return etcd_json({"etcdserver": "3.5.1", "etcdcluster": "3.5.0"})
    if sent.path == "/v2/keys/":
        return etcd_json({"action": "get", "node": {"key": "/", "dir": True}})
    return key_node(sent)


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _v36(sent: Sent) -> Response:
    if sent.path == "/version":
        return etcd_json({"etcdserver": "3.6.16", "etcdcluster": "3.6.0"})
    assert sent.path == "/v3/kv/range", sent.path
    kv = {"key": b64(b"/k"), "value": b64(b"on v3"), "mod_revision": "7", "create_revision": "7", "version": "1"}
    body = {"header": {"cluster_id": str(0xC0FFEE), "revision": "7"}, "kvs": [kv]}
    return Response.build(200, json.dumps(body).encode(), sent.url, {"Content-Type": "application/json"})


async def test_auto_decides_once_at_the_first_keys_call_and_keeps_v2() -> None:
    transport = Scripted(_v35)
    async with etcd.Client(api="auto", transport=transport) as client:
        await client.versions()  # asks, but does not decide
        assert client.api == "auto" and isinstance(client.backend, AutoKeys)
        results = await asyncio.gather(*(client.read("/k") for _ in range(3)))
        assert [r.value for r in results] == ["v"] * 3
        assert client.api == "v2" and client.v3_client is None
        await client.read("/k")
    # /version twice (versions(), then the choice), the v2 probe once, four reads.
    assert [s.path for s in transport.sent].count("/version") == 2
    assert [s.path for s in transport.sent].count("/v2/keys/") == 1
    assert len(transport.bases()) == 1 + 4


async def test_auto_on_a_server_without_v2_sends_everything_through_the_v3_client() -> None:
    transport = Scripted(_v36)
    async with etcd.Client(api="auto", transport=transport) as client:
        assert (await client.read("/k")).value == "on v3"
        assert client.api == "v3" and client.v3_client is not None
        assert client.expected_cluster_id == "c0ffee"  # the v3 client's, in hex
        await client.versions()
    assert [s.path for s in transport.sent] == ["/version", "/v3/kv/range", "/version"]


async def test_api_v3_on_a_server_with_both_apis_sends_v2_requests_through_its_one_session(
    etcd_server: EtcdCluster, etcd_prefix: str
) -> None:
    async with etcd_server.client(api="v3") as client:
        # A v2 answer first (its cluster id is hex in X-Etcd-Cluster-Id), then v3's (decimal, in
        # the JSON): one cluster to the one member list, in either order.
        listed = await client.api_execute_json("/v2/members", "GET")
        assert [m["clientURLs"] for m in listed["members"]] == [[etcd_server.url]]
        assert (await client.write(etcd_prefix + "/k", "v")).value == "v"
        missing = await client.api_execute(client.key_endpoint + "/no-such-key", "GET", raise_for_status=False)
        assert missing.status == 404
        assert client.api == "v3" and client.expected_cluster_id is not None
        assert client.machines_cache == [etcd_server.url]


def test_the_lock_asks_the_backend_for_its_queue() -> None:
    from aio_etcd._choose import DecidingQueue
    from aio_etcd.lock import AppendQueue, Lock
    from aio_etcd.v2on3._lock import MutexQueue

    on_v2 = Lock(etcd.Client(lock_prefix="/locks"), "name")
    assert isinstance(on_v2._places, AppendQueue) and on_v2.path == "/locks/name"
    on_v3 = Lock(etcd.Client(api="v3", lock_prefix="/locks"), "name")
    assert isinstance(on_v3._places, MutexQueue) and on_v3.path == "name"  # etcd's own layout
    on_auto = Lock(etcd.Client(api="auto", lock_prefix="/locks"), "name")
    assert isinstance(on_auto._places, DecidingQueue) and on_auto.path == "/locks/name"  # until decided


async def test_a_lock_with_auto_takes_the_queue_of_the_backend_chosen() -> None:
    from aio_etcd.lock import Lock

    async with etcd.Client(api="auto", lock_prefix="/locks", transport=Scripted(_v36)) as client:
        lock = Lock(client, "name")
        entries, revision = await lock._queue()
        assert client.api == "v3" and lock.path == "name" and revision == 7
        assert [entry.key for entry in entries] == ["/k"]  # the scripted range's one key


class _Seen:
    """An observer that keeps the paths it was told of."""

    def __init__(self) -> None:
        self.paths: list[str] = []

    def on_request(self, exchange: Exchange) -> None:
        self.paths.append(exchange.url.split("://", 1)[1].split("/", 1)[1])

    def on_response(self, exchange: Exchange, response: Response, duration: float) -> None:
        pass

    def on_failure(self, exchange: Exchange, error: BaseException, duration: float) -> None:
        pass


@pytest.mark.parametrize("api", ["v2", "v3"])
async def test_the_observer_goes_through_options_to_the_backend_in_use(api: str) -> None:
    seen = _Seen()
    handler = _v35 if api == "v2" else _v36
    async with etcd.Client(api=api, transport=Scripted(handler), observer=seen, allow_reconnect=False) as client:
        await client.read("/k")
        await client.versions()  # with api="v3" too: through the v3 client's core, seen
    assert seen.paths == (["v2/keys/k", "version"] if api == "v2" else ["v3/kv/range", "version"])

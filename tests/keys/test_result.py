"""EtcdResult on its own: fields, walking, copies, equality (no server needed)."""

from __future__ import annotations

from typing import Any

import pytest

from aio_etcd import EtcdResult


def _tree() -> dict[str, Any]:
    return {
        "action": "get",
        "node": {
            "key": "/t",
            "dir": True,
            "modifiedIndex": 3,
            "createdIndex": 3,
            "nodes": [
                {"key": "/t/a", "value": "1", "modifiedIndex": 4, "createdIndex": 4},
                {
                    "key": "/t/b",
                    "dir": True,
                    "nodes": [{"key": "/t/b/c", "value": "2", "ttl": 5, "expiration": "2026-01-01T00:00:00Z"}],
                },
                {"key": "/t/empty", "dir": True},
            ],
        },
        "prevNode": {"key": "/t", "dir": True, "modifiedIndex": 2},
    }


def test_fields_and_walks() -> None:
    result = EtcdResult.from_response(_tree(), etcd_index=9, raft_index=11, created=True)
    assert (result.action, result.key, result.dir, result.value) == ("get", "/t", True, None)
    assert (result.etcd_index, result.raft_index, result.newKey) == (9, 11, True)
    assert [n.key for n in result.get_subtree()] == ["/t", "/t/a", "/t/b", "/t/b/c", "/t/empty"]
    assert [n.key for n in result.leaves] == ["/t/a", "/t/b/c", "/t/empty"]
    assert [n.key for n in result.children] == [n.key for n in result.leaves]
    leaf = next(n for n in result.leaves if n.key == "/t/b/c")
    assert (leaf.value, leaf.ttl, leaf.expiration, leaf.action, leaf.etcd_index) == (
        "2",
        5,
        "2026-01-01T00:00:00Z",
        None,
        None,
    )
    assert result._prev_node is not None and result._prev_node.modifiedIndex == 2
    plain = EtcdResult("get", {"key": "/k", "value": "v"})
    assert list(plain.leaves) == [plain]


def test_assignment_changes_only_that_result() -> None:
    body = _tree()
    result = EtcdResult.from_response(body)
    first = next(result.leaves)
    first.value = "changed"
    first.action = "mine"
    assert first.value == "changed" and first.action == "mine"
    again = next(result.leaves)
    assert again.value == "1" and again.action is None
    assert body["node"]["nodes"][0]["value"] == "1"

    copy = result.copy()
    copy.value = "x"
    copy.etcd_index = 99
    assert result.value is None and result.etcd_index is None
    assert copy.action == "get" and copy == copy.copy()


def test_equality_and_repr() -> None:
    one = EtcdResult("get", {"key": "/k", "value": "v", "modifiedIndex": 1})
    two = EtcdResult("set", {"key": "/k", "value": "v", "modifiedIndex": 1})
    assert one == two  # node fields, not the action
    two.value = "w"
    assert one != two
    assert repr(one) == "<EtcdResult action='get' key='/k' value='v' modifiedIndex=1>"
    assert "dir=True children=3" in repr(EtcdResult.from_response(_tree()))
    assert one != "not a result"


def test_nodes_keep_the_shape_of_the_tree() -> None:
    tree = EtcdResult(
        "get",
        {
            "key": "/d",
            "dir": True,
            "nodes": [
                {"key": "/d/a", "value": "1"},
                {"key": "/d/sub", "dir": True, "nodes": [{"key": "/d/sub/b", "value": "2"}]},
                {"key": "/d/empty", "dir": True},
            ],
        },
    )
    assert [(n.key, n.dir) for n in tree.nodes] == [("/d/a", False), ("/d/sub", True), ("/d/empty", True)]
    assert [n.key for n in tree.nodes[1].nodes] == ["/d/sub/b"]
    assert tree.nodes[0].nodes == [] and tree.nodes[2].nodes == []
    assert [n.key for n in tree.leaves] == ["/d/a", "/d/sub/b", "/d/empty"]  # leaves flatten it


# -- the exception classes ------------------------------------------------------------------


def _public_exception_classes() -> list[type[BaseException]]:
    import aio_etcd
    from aio_etcd import migrate, v3

    found: dict[str, type[BaseException]] = {}
    for module in (aio_etcd, v3, migrate):
        for name in module.__all__:
            obj = getattr(module, name)
            if isinstance(obj, type) and issubclass(obj, BaseException):
                found[f"{module.__name__}.{name}"] = obj
    return [found[name] for name in sorted(found)]


@pytest.mark.parametrize("cls", _public_exception_classes(), ids=lambda cls: f"{cls.__module__}.{cls.__name__}")
def test_every_public_exception_takes_a_message_alone(cls: type[BaseException]) -> None:
    # Users raise these in tests of their own code; the extra fields stay optional.
    exc = cls("something went wrong")
    assert "something went wrong" in str(exc)
    with pytest.raises(cls):
        raise exc


def test_v3_server_errors_take_their_usual_codes() -> None:
    from aio_etcd import v3

    denied = v3.EtcdPermissionDenied("x")
    assert (denied.code, denied.grpc_message, denied.status) == (7, "x", None)
    assert v3.EtcdNoLeader("no leader").code == 14
    assert v3.EtcdWatchCompacted("gone", 12).compact_revision == 12
    assert v3.EtcdLeaseNotFound("x", 5, "etcdserver: requested lease not found", 404).status == 404

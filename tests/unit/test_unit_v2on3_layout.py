"""The v2 key space's layout in v3 and the v2 nodes built from v3 keys (pure, no etcd needed)."""

from __future__ import annotations

import datetime
from types import SimpleNamespace
from typing import Any

import pytest
from gateway_json import kv

from aio_etcd.exceptions import EtcdKeyNotFound, EtcdNotFile
from aio_etcd.v2on3._layout import Layout, NodeTTL, ancestors, error, hidden, parent


def test_names_with_and_without_a_prefix() -> None:
    bare = Layout()
    assert bare.file("/a/b") == b"/a/b"
    assert bare.marker("/a") == b"/a/"
    assert bare.below("/a") == (b"/a/", b"/a0")  # '0' is the byte after '/'
    assert bare.below("/") == (b"/", b"0")
    app = Layout("/app")
    assert app.file("/a") == b"/app/a"
    assert app.below("/") == (b"/app/", b"/app0")
    assert app.name(b"/app/a/b") == "/a/b"
    assert app.name(b"/app/a/") == "/a/"  # a marker keeps its slash
    assert app.action == b"/app!aio_etcd/action"  # outside the key space: '!' sorts before '/'
    with pytest.raises(ValueError):
        Layout("/app/")


def test_paths() -> None:
    assert parent("/a/b/c") == "/a/b" and parent("/a") == "/"
    assert ancestors("/a/b/c") == ["/a", "/a/b"] and ancestors("/a") == []
    assert hidden("_x") and hidden("a/_x") and not hidden("a_x") and not hidden("a/b_")


def test_v2_errors() -> None:
    missing = error(100, "/a", 7)
    assert isinstance(missing, EtcdKeyNotFound)
    assert missing.payload == {"errorCode": 100, "message": "Key not found", "cause": "/a", "index": 7}
    assert isinstance(error(102, "/a", 7), EtcdNotFile)


def test_a_file_node() -> None:
    layout = Layout("/p")
    now = datetime.datetime(2026, 1, 2, 3, 4, 5, 600000, tzinfo=datetime.timezone.utc)
    node = layout.file_node(kv(b"/p/a", b"v", create=3, mod=5, lease=9), {9: NodeTTL(20, now)})
    assert node == {
        "key": "/a", "value": "v", "modifiedIndex": 5, "createdIndex": 3,
        "ttl": 20, "expiration": "2026-01-02T03:04:25.600000Z",
    }
    # a lease that is gone gives no TTL; an empty value is ""
    bare = {"key": "/a", "value": "", "modifiedIndex": 1, "createdIndex": 1}
    assert layout.file_node(kv(b"/p/a", lease=9), {}) == bare


def test_a_tree() -> None:
    layout = Layout()
    kvs = [  # in key order, as a range answers
        kv(b"/d/", create=2),  # /d's marker
        kv(b"/d/_hidden", b"h", create=4),
        kv(b"/d/a", b"1", create=3),
        kv(b"/d/e/", create=7),  # an empty directory, kept by its marker
        kv(b"/d/sub/_y/z", b"3", create=5),
        kv(b"/d/sub/x", b"2", create=6),
    ]
    full = layout.tree("/d", kvs, {})
    assert full["key"] == "/d" and full["dir"] and full["createdIndex"] == 2
    assert [n["key"] for n in full["nodes"]] == ["/d/a", "/d/e", "/d/sub"]
    sub = full["nodes"][2]
    assert sub["dir"] and [n["key"] for n in sub["nodes"]] == ["/d/sub/x"]
    # unmarked: made (as in v2) with the oldest key below it, hidden or not
    assert sub["createdIndex"] == sub["modifiedIndex"] == 5
    assert full["nodes"][1] == {"key": "/d/e", "dir": True, "modifiedIndex": 7, "createdIndex": 7}


def test_the_root_and_an_unmarked_directory() -> None:
    layout = Layout()
    root = layout.tree("/", [kv(b"/b", b"2", create=9), kv(b"/a/x", b"1", create=4)], {})
    assert "key" not in root and root["dir"]
    assert [n["key"] for n in root["nodes"]] == ["/a", "/b"]
    assert "createdIndex" not in root  # the root has no indexes in v2
    made = layout.tree("/a", [kv(b"/a/x", create=4), kv(b"/a/y", create=8)], {})
    assert made["createdIndex"] == made["modifiedIndex"] == 4
    assert layout.tree("/e", [], {}) == {"key": "/e", "dir": True}


def _view(raw: bytes, value: bytes = b"", create: int = 1, mod: int | None = None, lease: int = 0) -> Any:
    """A key-value read as :class:`aio_etcd.v3.KV` views are (etcd's messages over gRPC)."""
    return SimpleNamespace(key=raw, value=value, create_revision=create, mod_revision=mod or create, lease=lease)


def _runs(name: str = "k") -> list[tuple[bytes, bytes, int, int]]:
    """A tree whose directories hold runs of plain keys, and runs broken by what a directory may hold."""
    rows: list[tuple[bytes, bytes, int, int]] = []
    for number in range(6):  # /t/plain: keys only (one on a lease)
        rows.append((f"/p/t/plain/{name}{number}".encode(), b"v%d" % number, 20 - number, 7 if number == 3 else 0))
    rows += [  # /t/mixed: a hidden key and a sub-directory among its keys, a marker first
        (b"/p/t/mixed/", b"", 40, 0),
        (b"/p/t/mixed/_h", b"h", 31, 0),
        (b"/p/t/mixed/a", b"1", 33, 0),
        (b"/p/t/mixed/b", b"2", 32, 7),
        (b"/p/t/mixed/c/x", b"3", 30, 0),
        (b"/p/t/mixed/d", b"4", 34, 0),
    ]
    return sorted(rows)


def test_runs_of_keys_taken_at_once() -> None:
    layout = Layout("/p")
    now = datetime.datetime(2026, 1, 2, 3, 4, 5, tzinfo=datetime.timezone.utc)
    ttls = {7: NodeTTL(20, now)}
    rows = _runs()
    views = layout.tree("/t", [_view(k, v, create=c, mod=c + 1, lease=ls) for k, v, c, ls in rows], ttls, views=True)
    gateway = layout.tree("/t", [kv(k, v, create=c, mod=c + 1, lease=ls) for k, v, c, ls in rows], ttls)
    assert views == gateway
    mixed, plain = views["nodes"]
    assert [n["key"] for n in plain["nodes"]] == [f"/t/plain/k{n}" for n in range(6)]
    assert plain["createdIndex"] == plain["modifiedIndex"] == 15  # the oldest key in the run
    assert plain["nodes"][3]["ttl"] == 20 and "ttl" not in plain["nodes"][2]
    assert plain["nodes"][0] == {"key": "/t/plain/k0", "value": "v0", "modifiedIndex": 21, "createdIndex": 20}
    assert [n["key"] for n in mixed["nodes"]] == ["/t/mixed/a", "/t/mixed/b", "/t/mixed/c", "/t/mixed/d"]
    assert mixed["createdIndex"] == 40 and mixed["nodes"][1]["ttl"] == 20  # its marker's
    assert mixed["nodes"][2] == {"key": "/t/mixed/c", "dir": True, "nodes": [
        {"key": "/t/mixed/c/x", "value": "3", "modifiedIndex": 31, "createdIndex": 30}
    ], "modifiedIndex": 30, "createdIndex": 30}  # fmt: skip
    assert views["createdIndex"] == 15
    # Left for the caller with their leases instead: the same nodes, in key order.
    leased: list[tuple[dict[str, Any], int]] = []
    later = layout.tree("/t", [_view(k, v, create=c, lease=ls) for k, v, c, ls in rows], {}, views=True, leased=leased)
    assert [(node["key"], lease) for node, lease in leased] == [("/t/mixed/b", 7), ("/t/plain/k3", 7)]
    assert all("ttl" not in node for node, _ in leased)
    assert later["nodes"][1]["nodes"][3] is leased[1][0]
    # Names that do not sort as their bytes (not ASCII) are gone over one by one: the same tree.
    wide = _runs("é")
    tree = layout.tree("/t", [_view(k, v, create=c, mod=c + 1, lease=ls) for k, v, c, ls in wide], ttls, views=True)
    assert [n["key"] for n in tree["nodes"][1]["nodes"]] == [f"/t/plain/é{n}" for n in range(6)]
    assert tree["nodes"][0] == mixed and tree["nodes"][1]["createdIndex"] == 15

"""The v2 key space's layout in v3 and the v2 nodes built from v3 keys (pure, no etcd needed)."""

from __future__ import annotations

import datetime

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

"""Keys, result trees and the server's error codes, against a real etcd."""

from __future__ import annotations

import pytest

import aio_etcd as etcd

#: Each test runs on the v2 API and on the v2 keys API over a v3 store (tests/conftest.py).
BOTH_APIS = True

SPECIAL = [" ", "?", "#", "%", "&", "+", "=", "%2F", "é", "日本", "a b?c=d&e#f"]


@pytest.mark.parametrize("piece", SPECIAL)
async def test_special_characters_round_trip(etcd_client: etcd.Client, etcd_prefix: str, piece: str) -> None:
    key = f"{etcd_prefix}/x{piece}y"
    written = await etcd_client.write(key, f"value {piece}")
    assert written.key == key
    assert (await etcd_client.read(key)).value == f"value {piece}"
    # Nothing else appeared: the directory holds exactly that key.
    listing = await etcd_client.read(etcd_prefix, recursive=True)
    assert [leaf.key for leaf in listing.leaves] == [key]
    assert (await etcd_client.pop(key)).value == f"value {piece}"


async def test_query_like_key_does_not_touch_its_prefix(etcd_client: etcd.Client, etcd_prefix: str) -> None:
    await etcd_client.write(etcd_prefix + "/a", "original")
    await etcd_client.write(etcd_prefix + "/a?b=c", "other")
    await etcd_client.write(etcd_prefix + "/a#frag", "third")
    assert (await etcd_client.read(etcd_prefix + "/a")).value == "original"
    await etcd_client.delete(etcd_prefix + "/a?b=c")
    assert (await etcd_client.read(etcd_prefix + "/a")).value == "original"


async def test_key_without_leading_slash(etcd_client: etcd.Client, etcd_prefix: str) -> None:
    written = await etcd_client.write(etcd_prefix.lstrip("/") + "/k", "v")
    assert written.key == etcd_prefix + "/k"


async def test_values_with_special_characters(etcd_client: etcd.Client, etcd_prefix: str) -> None:
    value = "a=b&c+d %20 ?#\n日本"
    await etcd_client.write(etcd_prefix + "/v", value)
    assert (await etcd_client.read(etcd_prefix + "/v")).value == value
    await etcd_client.write(etcd_prefix + "/v", "new", prevValue=value)
    assert (await etcd_client.read(etcd_prefix + "/v")).value == "new"
    await etcd_client.delete(etcd_prefix + "/v", prevValue="new")
    assert not await etcd_client.contains(etcd_prefix + "/v")


async def test_sorted_recursive_tree(etcd_client: etcd.Client, etcd_prefix: str) -> None:
    for name in ["c", "a", "b/z", "b/y"]:
        await etcd_client.write(f"{etcd_prefix}/t/{name}", name)
    tree = await etcd_client.read(etcd_prefix + "/t", recursive=True, sorted=True)
    assert [n.key for n in tree.get_subtree()] == [
        f"{etcd_prefix}/t",
        f"{etcd_prefix}/t/a",
        f"{etcd_prefix}/t/b",
        f"{etcd_prefix}/t/b/y",
        f"{etcd_prefix}/t/b/z",
        f"{etcd_prefix}/t/c",
    ]
    assert [n.value for n in tree.leaves] == ["a", "b/y", "b/z", "c"]
    # Without recursive, a directory lists its children but not theirs.
    shallow = await etcd_client.read(etcd_prefix + "/t", sorted=True)
    subdir = [n for n in shallow.get_subtree() if n.key == f"{etcd_prefix}/t/b"]
    assert subdir and subdir[0].dir


async def test_hidden_keys(etcd_client: etcd.Client, etcd_prefix: str) -> None:
    await etcd_client.write(etcd_prefix + "/h/_hidden", "secret")
    await etcd_client.write(etcd_prefix + "/h/shown", "plain")
    listing = await etcd_client.read(etcd_prefix + "/h", recursive=True)
    assert [n.key for n in listing.leaves] == [etcd_prefix + "/h/shown"]
    assert (await etcd_client.read(etcd_prefix + "/h/_hidden")).value == "secret"


async def test_a_listing_gives_each_child_its_indexes(etcd_client: etcd.Client, etcd_prefix: str) -> None:
    """A read without recursive lists the children: keys with values, directories with their
    indexes (the oldest write in them) but not their contents; a directory holding only hidden
    keys is listed too, and the directory read has the index of its first write."""
    c, p = etcd_client, etcd_prefix
    first = await c.write(p + "/d/x", "1")
    await c.write(p + "/d/y/z", "2")
    hid = await c.write(p + "/h/_x", "3")
    a = await c.write(p + "/a", "4")
    await c.write(p + "/_hidden", "5")
    made = await c.write(p + "/m", None, dir=True)
    listing = await c.read(p)
    assert (listing.dir, listing.createdIndex, listing.modifiedIndex) == (True, first.createdIndex, first.createdIndex)
    children = {n.key: (n.dir, n.value, n.createdIndex, n.modifiedIndex) for n in listing.children}
    assert children == {
        p + "/a": (False, "4", a.createdIndex, a.modifiedIndex),
        p + "/d": (True, None, first.createdIndex, first.createdIndex),
        p + "/h": (True, None, hid.createdIndex, hid.createdIndex),
        p + "/m": (True, None, made.createdIndex, made.createdIndex),
    }
    assert all("nodes" not in raw for raw in listing._children)
    # The whole tree: the same directories and indexes, /h without children (its key is hidden).
    tree = await c.read(p, recursive=True)
    assert (tree.createdIndex, tree.modifiedIndex) == (first.createdIndex, first.createdIndex)
    tops = {n["key"]: (n.get("dir", False), n.get("createdIndex"), len(n.get("nodes", []))) for n in tree._children}
    assert tops == {
        p + "/a": (False, a.createdIndex, 0),
        p + "/d": (True, first.createdIndex, 2),
        p + "/h": (True, hid.createdIndex, 0),
        p + "/m": (True, made.createdIndex, 0),
    }


async def test_directory_with_ttl(etcd_client: etcd.Client, etcd_prefix: str) -> None:
    created = await etcd_client.write(etcd_prefix + "/d", None, dir=True, ttl=100)
    assert created.dir and created.value is None and created.ttl == 100
    read = await etcd_client.read(etcd_prefix + "/d")
    assert read.dir and read.ttl is not None and read.ttl <= 100
    # An empty directory is its own only leaf (python-etcd's rule).
    assert [n.key for n in read.leaves] == [etcd_prefix + "/d"]
    removed = await etcd_client.delete(etcd_prefix + "/d", dir=True)
    assert removed.action == "delete"


async def test_pop_returns_previous_node(etcd_client: etcd.Client, etcd_prefix: str) -> None:
    written = await etcd_client.write(etcd_prefix + "/p", "was")
    popped = await etcd_client.pop(etcd_prefix + "/p")
    assert (popped.key, popped.value, popped.modifiedIndex) == (written.key, "was", written.modifiedIndex)
    assert popped.action == "delete"
    with pytest.raises(etcd.EtcdKeyNotFound):
        await etcd_client.pop(etcd_prefix + "/p")


async def test_prev_node(etcd_client: etcd.Client, etcd_prefix: str) -> None:
    first = await etcd_client.write(etcd_prefix + "/p", "one")
    assert first.prev_node is None
    second = await etcd_client.write(etcd_prefix + "/p", "two")
    assert second.prev_node is not None
    assert (second.prev_node.value, second.prev_node.modifiedIndex) == ("one", first.modifiedIndex)
    assert second._prev_node is second.prev_node  # python-etcd's name
    deleted = await etcd_client.delete(etcd_prefix + "/p")
    assert deleted.prev_node is not None and deleted.prev_node.value == "two"


async def test_no_value_on_success(etcd_client: etcd.Client, etcd_prefix: str) -> None:
    result = await etcd_client.write(etcd_prefix + "/n", "v", noValueOnSuccess=True)
    assert result.value is None
    assert (await etcd_client.read(etcd_prefix + "/n")).value == "v"


async def test_result_headers_and_equality(etcd_client: etcd.Client, etcd_prefix: str) -> None:
    written = await etcd_client.write(etcd_prefix + "/e", "v")
    assert written.etcd_index == written.modifiedIndex
    # v3 answers carry no raft index (their header has the term only).
    assert (written.raft_index is None) == (etcd_client.api == "v3")
    first = await etcd_client.read(etcd_prefix + "/e")
    second = await etcd_client.read(etcd_prefix + "/e")
    assert first == second
    assert "'/" in repr(first) and "value='v'" in repr(first)
    second.value = "changed"
    assert first != second


async def test_quorum_read(etcd_client: etcd.Client, etcd_prefix: str) -> None:
    await etcd_client.write(etcd_prefix + "/q", "v")
    assert (await etcd_client.read(etcd_prefix + "/q", quorum=True)).value == "v"


async def test_misspelled_option_is_a_type_error(etcd_client: etcd.Client, etcd_prefix: str) -> None:
    with pytest.raises(TypeError):
        await etcd_client.write(etcd_prefix + "/k", "v", prevvalue="x")  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        await etcd_client.read(etcd_prefix + "/k", waitindex=3)  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        await etcd_client.delete(etcd_prefix + "/k", recursve=True)  # type: ignore[call-arg]


async def test_invalid_combinations_are_refused_before_sending(etcd_client: etcd.Client, etcd_prefix: str) -> None:
    # EtcdValueError, as in python-etcd: an EtcdException and a ValueError.
    with pytest.raises(etcd.EtcdValueError, match="directory has no value"):
        await etcd_client.write(etcd_prefix + "/d", "value", dir=True)
    with pytest.raises(etcd.EtcdValueError, match="refresh"):
        await etcd_client.write(etcd_prefix + "/d", "value", refresh=True, ttl=5)
    with pytest.raises(etcd.EtcdValueError, match="waitIndex"):
        await etcd_client.read(etcd_prefix + "/d", waitIndex=5)
    assert not await etcd_client.contains(etcd_prefix + "/d")
    with pytest.raises(TypeError):
        await etcd_client.read(42)  # type: ignore[arg-type]


# -- the error codes a real server produces ---------------------------------------------


async def _expect(exc_class: type[etcd.EtcdException], code: int, call: object) -> etcd.EtcdException:
    with pytest.raises(exc_class) as info:
        await call  # type: ignore[misc]
    assert info.value.error_code == code
    assert info.value.payload is not None and info.value.payload["errorCode"] == code
    assert "message" in info.value.payload
    assert type(info.value) is exc_class
    return info.value


async def test_error_codes_from_the_server(etcd_client: etcd.Client, etcd_prefix: str) -> None:
    c, p = etcd_client, etcd_prefix
    await c.write(p + "/file", "v")
    await c.write(p + "/dir/child", "v")

    missing = await _expect(etcd.EtcdKeyNotFound, 100, c.read(p + "/missing"))
    assert missing.payload is not None and missing.payload["cause"] == p + "/missing"
    assert missing.index is not None
    await _expect(etcd.EtcdCompareFailed, 101, c.write(p + "/file", "x", prevValue="nope"))
    await _expect(etcd.EtcdNotFile, 102, c.write(p + "/dir", "x"))
    await _expect(etcd.EtcdNotDir, 104, c.write(p + "/file/below", "x"))
    await _expect(etcd.EtcdAlreadyExist, 105, c.write(p + "/file", "x", prevExist=False))
    await _expect(etcd.EtcdRootReadOnly, 107, c.delete("/", recursive=True))
    await _expect(etcd.EtcdDirNotEmpty, 108, c.delete(p + "/dir", dir=True))
    await _expect(etcd.EtcdValueError, 201, c.write(p + "/file", "x", prevValue=""))
    if c.api == "v2":  # raw /v2 form bodies: a v3 store has no v2 endpoint to send them to
        await _expect(etcd.EtcdValueError, 202, c.api_execute(c.key_endpoint + p + "/file", "PUT", data={"ttl": "x"}))
        await _expect(
            etcd.EtcdValueError, 203, c.api_execute(c.key_endpoint + p + "/file", "PUT", data={"prevIndex": "x"})
        )
        await _expect(etcd.EtcdValueError, 209, c.api_execute(c.key_endpoint + p + "/file?wait=true", "PUT"))
        await _expect(
            etcd.EtcdValueError,
            211,
            c.api_execute(c.key_endpoint + p + "/file", "PUT", data={"value": "x", "refresh": "true", "ttl": "5"}),
        )
        await _expect(
            etcd.EtcdValueError, 212, c.api_execute(c.key_endpoint + p + "/file", "PUT", data={"refresh": "true"})
        )
    await _expect(etcd.EtcdKeyNotFound, 100, c.write(p + "/nothing", "x", prevExist=True))
    await _expect(etcd.EtcdKeyNotFound, 100, c.refresh(p + "/nothing", ttl=5))


async def test_error_classes_are_catchable_by_family(etcd_client: etcd.Client, etcd_prefix: str) -> None:
    with pytest.raises(etcd.EtcdKeyError):
        await etcd_client.read(etcd_prefix + "/missing")
    await etcd_client.write(etcd_prefix + "/present", "x")
    with pytest.raises(ValueError):
        await etcd_client.write(etcd_prefix + "/present", "x", prevValue="y")
    with pytest.raises(etcd.EtcdException):
        await etcd_client.delete(etcd_prefix + "/missing")


@pytest.mark.parametrize("key", ["/a//b", "/a/./b", "/a/../b", "//a", "/a/.."])
async def test_keys_etcd_would_rewrite_are_refused(etcd_client: etcd.Client, key: str) -> None:
    with pytest.raises(ValueError, match="segment"):
        await etcd_client.write(key, "v")


async def test_trailing_slash_names_the_directory(etcd_client: etcd.Client, etcd_prefix: str) -> None:
    await etcd_client.write(etcd_prefix + "/d/k", "v")
    listing = await etcd_client.read(etcd_prefix + "/d/")
    assert listing.dir and [n.key for n in listing.leaves] == [etcd_prefix + "/d/k"]

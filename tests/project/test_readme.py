"""Each example of the 2018 README, as written, against a real etcd."""

from __future__ import annotations

import asyncio

import pytest
from conftest import no_watchers

import aio_etcd as etcd
from aio_etcd.testing import wait_for_watchers

#: Each test runs on the v2 API and on the v2 keys API over a v3 store (tests/conftest.py).
BOTH_APIS = True


async def test_write_and_set(etcd_client: etcd.Client, etcd_prefix: str) -> None:
    key = etcd_prefix + "/nodes/n1"
    written = await etcd_client.write(key, 1)
    assert (written.key, written.value, written.action) == (key, "1", "set")
    assert written.newKey is True
    again = await etcd_client.set(key, 1)
    assert again.newKey is False
    assert again.modifiedIndex is not None and again.modifiedIndex > (written.modifiedIndex or 0)


async def test_write_with_ttl(etcd_client: etcd.Client, etcd_prefix: str) -> None:
    key = etcd_prefix + "/nodes/n2"
    await etcd_client.write(key, 2, ttl=4)
    result = await etcd_client.read(key)
    assert result.value == "2"
    assert result.ttl is not None and 0 < result.ttl <= 4
    assert result.expiration is not None


async def test_read_and_get(etcd_client: etcd.Client, etcd_prefix: str) -> None:
    key = etcd_prefix + "/nodes/n2"
    await etcd_client.write(key, 2)
    assert (await etcd_client.read(key)).value == "2"
    assert (await etcd_client.get(key)).value == "2"


async def test_recursive_read(etcd_client: etcd.Client, etcd_prefix: str) -> None:
    await etcd_client.write(etcd_prefix + "/nodes/n1", 1)
    await etcd_client.write(etcd_prefix + "/nodes/deep/n2", 2)
    tree = await etcd_client.read(etcd_prefix + "/nodes", recursive=True)
    assert tree.dir
    assert {(leaf.key, leaf.value) for leaf in tree.leaves} == {
        (etcd_prefix + "/nodes/n1", "1"),
        (etcd_prefix + "/nodes/deep/n2", "2"),
    }


async def test_read_missing_key(etcd_client: etcd.Client, etcd_prefix: str) -> None:
    with pytest.raises(etcd.EtcdKeyNotFound):
        await etcd_client.read(etcd_prefix + "/invalid/path")


async def test_delete(etcd_client: etcd.Client, etcd_prefix: str) -> None:
    key = etcd_prefix + "/nodes/n1"
    await etcd_client.write(key, 1)
    deleted = await etcd_client.delete(key)
    assert deleted.action == "delete"
    assert not await etcd_client.contains(key)


async def test_compare_and_swap(etcd_client: etcd.Client, etcd_prefix: str) -> None:
    key = etcd_prefix + "/nodes/n2"
    await etcd_client.write(key, 4)
    await etcd_client.write(key, 2, prevValue=4)
    assert (await etcd_client.read(key)).value == "2"
    with pytest.raises(etcd.EtcdCompareFailed):
        await etcd_client.write(key, 3, prevValue=4)

    fresh = etcd_prefix + "/nodes/n3"
    created = await etcd_client.write(fresh, 2, prevExist=False)
    assert created.action == "create" and created.newKey
    with pytest.raises(etcd.EtcdAlreadyExist):
        await etcd_client.write(fresh, 2, prevExist=False)

    current = await etcd_client.read(key)
    await etcd_client.write(key, 5, prevIndex=current.modifiedIndex)
    with pytest.raises(etcd.EtcdCompareFailed):
        await etcd_client.write(key, 6, prevIndex=current.modifiedIndex)

    await etcd_client.test_and_set(key, 7, 5)
    assert (await etcd_client.read(key)).value == "7"
    with pytest.raises(etcd.EtcdCompareFailed):
        await etcd_client.test_and_set(key, 8, 5)


async def test_update(etcd_client: etcd.Client, etcd_prefix: str) -> None:
    key = etcd_prefix + "/foo"
    await etcd_client.write(key, "bar")
    result = await etcd_client.read(key)
    assert result.value == "bar"
    result.value += "bar"
    updated = await etcd_client.update(result)
    assert updated.value == "barbar"

    # Someone else writes in between: the stale result cannot be written back.
    stale = await etcd_client.read(key)
    await etcd_client.write(key, "theirs")
    stale.value = "mine"
    with pytest.raises(ValueError):
        await etcd_client.update(stale)
    assert (await etcd_client.read(key)).value == "theirs"


async def test_watch_examples(etcd_client: etcd.Client, etcd_prefix: str) -> None:
    key = etcd_prefix + "/nodes/n1"
    await etcd_client.write(key, "start")
    result = await etcd_client.read(key)
    start = result.modifiedIndex
    assert start is not None

    waiter = asyncio.create_task(etcd_client.read(key, wait=True, waitIndex=start + 1))
    changed = await etcd_client.write(key, "changed")
    event = await waiter
    assert (event.value, event.modifiedIndex) == ("changed", changed.modifiedIndex)

    # From an index in the past: the change at that index comes back at once.
    past = await etcd_client.read(key, wait=True, waitIndex=start)
    assert past.modifiedIndex == start and past.value == "start"

    before = await no_watchers(etcd_client)
    watcher = asyncio.create_task(etcd_client.watch(key))
    # A watch without an index sees changes made after the server registered
    # it: wait for the server's watcher count to show it before writing.
    await wait_for_watchers(etcd_client, before + 1)
    third = await etcd_client.write(key, "third")
    assert (await watcher).modifiedIndex == third.modifiedIndex

    again = await etcd_client.watch(key, index=(changed.modifiedIndex or 0) + 1)
    assert again.modifiedIndex == third.modifiedIndex


async def test_watch_with_wait_for_times_out(etcd_client: etcd.Client, etcd_prefix: str) -> None:
    with pytest.raises(asyncio.TimeoutError):
        await asyncio.wait_for(etcd_client.read(etcd_prefix + "/quiet", wait=True), timeout=0.3)
    # The client is still usable afterwards.
    await etcd_client.write(etcd_prefix + "/quiet", 1)


async def test_refresh(etcd_client: etcd.Client, etcd_prefix: str) -> None:
    key = etcd_prefix + "/nodes/n1"
    written = await etcd_client.write(key, "value", ttl=30)
    watcher = asyncio.create_task(etcd_client.watch(key, index=(written.modifiedIndex or 0) + 1))
    refreshed = await etcd_client.refresh(key, ttl=600)
    assert refreshed.value == "value"
    assert refreshed.ttl is not None and refreshed.ttl > 30
    # Watchers are not told about a refresh: the next event they see is a real write.
    real = await etcd_client.write(key, "other", ttl=30)
    event = await watcher
    assert event.modifiedIndex == real.modifiedIndex and event.value == "other"


async def test_machines_and_leader(etcd_client: etcd.Client, etcd_server: object) -> None:
    machines = await etcd_client.machines()
    assert machines == [etcd_client.base_uri]
    leader = await etcd_client.leader()
    assert leader["clientURLs"] == machines
    assert leader["id"] in await etcd_client.members()


async def test_append(etcd_client: etcd.Client, etcd_prefix: str) -> None:
    directory = etcd_prefix + "/dir/name"
    x = await etcd_client.write(directory, "value", append=True)
    assert x.key is not None and x.key.startswith(directory + "/")
    assert x.value == "value" and x.newKey
    second = await etcd_client.write(directory, "value2", append=True)
    assert second.key is not None and second.key > x.key


async def test_list_directory(etcd_client: etcd.Client, etcd_prefix: str) -> None:
    directory = etcd_prefix + "/dir/name"
    await etcd_client.write(directory, "value1", append=True)
    await etcd_client.write(directory, "value2", append=True)
    listing = await etcd_client.get(directory)
    lines = [result.key + ": " + result.value for result in listing.children if result.key and result.value]
    assert len(lines) == 2
    assert sorted(line.split(": ")[1] for line in lines) == ["value1", "value2"]
    first = next(listing.children)
    assert first.value in ("value1", "value2")


async def test_client_constructor_forms() -> None:
    # Constructing does no I/O, so every README form works without a server.
    clients = [
        etcd.Client(),
        etcd.Client(port=4002),
        etcd.Client(host="127.0.0.1", port=4003),
        etcd.Client(host=(("127.0.0.1", 4001), ("127.0.0.1", 4002), ("127.0.0.1", 4003))),
        etcd.Client(host="127.0.0.1", port=4003, allow_redirect=False),
        etcd.Client(srv_domain="example.com", protocol="https"),
        etcd.Client(host="api.example.com", protocol="https", port=443, version_prefix="/etcd"),
        etcd.Client(lock_prefix="/my_etcd_root/_locks"),
    ]
    assert clients[1].port == 4002
    assert clients[3].allow_reconnect and clients[3].machines_cache[1] == "http://127.0.0.1:4002"
    assert clients[4].allow_redirect is False
    assert clients[6].base_uri == "https://api.example.com:443"
    assert clients[6].key_endpoint == "/etcd/keys"
    assert clients[7].lock_prefix == "/my_etcd_root/_locks"
    for client in clients:
        await client.close()

"""The distributed Lock against a real etcd: exclusion, queueing, TTLs, keep-alive, cancellation."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator
from typing import Any

import pytest
from conftest import MakeClient

import aio_etcd as etcd
from aio_etcd import v3
from aio_etcd.lock import Lock

#: Each test runs on the v2 API and on the v2 keys API over a v3 store (tests/conftest.py).
BOTH_APIS = True

# Bounds for waits that end on an event; reaching one means the feature is broken.
EVENT_TIMEOUT = 10.0


@pytest.fixture
async def lock_name(etcd_client: etcd.Client, etcd_prefix: str) -> AsyncIterator[str]:
    """A lock name unique to the test; afterwards its queue must be empty (nothing leaked).

    Also removes what the test wrote under ``etcd_prefix``.
    """
    name = "lock" + etcd_prefix.replace("/", "-")
    yield name
    path = Lock(etcd_client, name).path
    left = await _queue(etcd_client, path)
    for directory in ((path,) if etcd_client.api == "v2" else ()) + (etcd_prefix,):
        if await etcd_client.contains(directory):
            await etcd_client.delete(directory, dir=True, recursive=True)
    assert left == [], f"the test left lock keys behind: {left}"


@pytest.fixture
async def other_client(make_client: MakeClient) -> AsyncIterator[etcd.Client]:
    """A second client, standing for another process."""
    async with make_client() as client:
        yield client


# The lock's keys, looked at from outside: on the v2 API they are v2 keys in
# the directory lock.path; with api="v3" they are v3 keys <lock.path>/<hex>
# (etcd's own lock layout), which the v2 calls of the client do not reach.


def _v3(client: etcd.Client) -> v3.Client | None:
    return client.v3_client if client.api == "v3" else None


async def _queue(client: etcd.Client, path: str) -> list[tuple[str | None, str | None]]:
    """The (key, value) pairs of a lock's queue, in order."""
    store = _v3(client)
    if store is not None:
        found = await store.range(path + "/", prefix=True, sort=("create", "asc"))
        return [(kv.key_text, kv.text) for kv in found.kvs if "/" not in kv.key_text[len(path) + 1 :]]
    try:
        listing = await client.read(path, sorted=True)
    except etcd.EtcdKeyNotFound:
        return []
    return [(node.key, node.value) for node in listing.leaves if not node.dir]


async def _index(client: etcd.Client, path: str) -> int:
    store = _v3(client)
    if store is not None:
        return await store.revision()
    try:
        return (await client.read(path)).etcd_index or 0
    except etcd.EtcdKeyNotFound as exc:
        return exc.index or 0


async def _ttl(client: etcd.Client, key: str) -> int | None:
    """The TTL left to a lock's key (``None``: none); with api="v3", its lease's."""
    store = _v3(client)
    if store is None:
        return (await client.read(key)).ttl
    kv = await store.get(key)
    assert kv is not None, f"{key} is gone"
    return (await store.time_to_live(kv.lease)).ttl if kv.lease else None


async def _value(client: etcd.Client, key: str) -> str | None:
    store = _v3(client)
    if store is None:
        return (await client.read(key)).value
    kv = await store.get(key)
    assert kv is not None, f"{key} is gone"
    return kv.text


async def _created(client: etcd.Client, key: str) -> int | None:
    store = _v3(client)
    if store is None:
        return (await client.read(key)).createdIndex
    kv = await store.get(key)
    return None if kv is None else kv.create_revision


async def _exists(client: etcd.Client, key: str) -> bool:
    store = _v3(client)
    return await client.contains(key) if store is None else await store.get(key) is not None


async def _delete(client: etcd.Client, key: str) -> None:
    store = _v3(client)
    if store is None:
        await client.delete(key)
    else:
        assert (await store.delete(key)).deleted == 1


async def _overwrite(client: etcd.Client, key: str, value: str) -> None:
    store = _v3(client)
    if store is None:
        await client.write(key, value, prevExist=True)
    else:
        await store.put(key, value)


async def _next_key(
    client: etcd.Client, path: str, index: int, value: str | None = None, timeout: float = EVENT_TIMEOUT
) -> str:
    """The next key created in the queue at ``path`` after ``index`` (holding ``value``, if given).

    :raises asyncio.TimeoutError: (or ``EtcdWatchTimedOut``) none within ``timeout``.
    """
    store = _v3(client)
    if store is None:
        while True:
            event = await client.watch(path, index=index + 1, recursive=True, timeout=timeout)
            if event.prev_node is None and event.key is not None and value in (None, event.value):
                return event.key
            index = event.modifiedIndex or index + 1

    async def created() -> str:
        async with store.watch(path + "/", prefix=True, start_revision=index + 1) as events:
            async for event in events:
                if event.type == "PUT" and event.kv.version == 1 and value in (None, event.kv.text):
                    return event.kv.key_text
        raise AssertionError("the watch ended")

    return await asyncio.wait_for(created(), timeout)


async def start_waiter(client: etcd.Client, lock: Lock, **kwargs: Any) -> asyncio.Task[bool]:
    """Start ``lock.acquire(**kwargs)`` in a task; return once its key is in the queue."""
    index = await _index(client, lock.path)
    task = asyncio.create_task(lock.acquire(**kwargs))
    loop = asyncio.get_running_loop()
    key = await _next_key(client, lock.path, index, lock.uuid)  # the waiter's new key
    # The watch may see the key before the waiter has the answer to its own write.
    deadline = loop.time() + EVENT_TIMEOUT
    while lock.key != key:
        assert loop.time() < deadline and not task.done(), "the waiter never took its key"
        await asyncio.sleep(0.001)
    return task


async def test_readme_sequence(make_client: MakeClient, etcd_prefix: str, lock_name: str) -> None:
    if hasattr(etcd, "Lock"):
        assert etcd.Lock is Lock
    async with make_client(lock_prefix=etcd_prefix + "/_locks") as client:
        lock = Lock(client, "my_lock_name")
        if client.api == "v2":
            assert lock.path == etcd_prefix + "/_locks/my_lock_name"
        else:  # etcd's own lock layout, outside lock_prefix: the lock of `etcdctl lock my_lock_name`
            assert lock.path == "my_lock_name"
        assert not lock.is_acquired
        assert await lock.acquire(blocking=True, lock_ttl=None) is True
        assert lock.is_acquired
        key = lock.key
        assert key is not None and key.startswith(lock.path + "/")
        assert len(key.rsplit("/", 1)[1]) == (20 if client.api == "v2" else 32)
        assert (await _value(client, key), await _ttl(client, key)) == (lock.uuid, None)

        token = lock.fencing_token
        assert await lock.acquire(lock_ttl=60) is True  # renew
        ttl = await _ttl(client, key)
        assert ttl is not None and 50 < ttl <= 60
        assert (lock.key, lock.fencing_token) == (key, token)  # the same key, at its place in the queue
        await lock.release()
        assert not lock.is_acquired
        assert not await _exists(client, key)

        async with Lock(client, "customer1") as my_lock:
            assert my_lock.is_acquired
            held = my_lock.key
            assert held is not None
            assert await _ttl(client, held) is not None
            await my_lock.acquire(lock_ttl=60)
            ttl = await _ttl(client, held)
            assert ttl is not None and 50 < ttl <= 60
        assert not my_lock.is_acquired
        assert not await _exists(client, held)
        assert await _queue(client, lock.path) == []
        assert await _queue(client, my_lock.path) == []


async def test_twenty_holders_exclude_each_other(
    etcd_client: etcd.Client, other_client: etcd.Client, lock_name: str, etcd_prefix: str
) -> None:
    counter = etcd_prefix + "/counter"
    await etcd_client.write(counter, 0)
    loop = asyncio.get_running_loop()
    intervals: list[tuple[float, float]] = []

    async def increment(client: etcd.Client) -> None:
        value = int((await client.read(counter)).value or 0)
        await asyncio.sleep(0)  # let the others run while "holding" a stale value
        await client.write(counter, value + 1)

    async def worker(i: int) -> None:
        client = etcd_client if i % 2 else other_client
        lock = Lock(client, lock_name)
        if i % 3:
            async with lock:
                start = loop.time()
                await increment(client)
                intervals.append((start, loop.time()))
        else:
            assert await lock.acquire(lock_ttl=10)
            try:
                start = loop.time()
                await increment(client)
                intervals.append((start, loop.time()))
            finally:
                await lock.release()
        assert not lock.is_acquired

    await asyncio.wait_for(asyncio.gather(*(worker(i) for i in range(20))), 60)
    assert (await etcd_client.read(counter)).value == "20"
    intervals.sort()
    assert len(intervals) == 20
    for (_, end), (next_start, _) in itertools.pairwise(intervals):
        assert end <= next_start, "two holders held the lock at once"


async def test_non_blocking_acquire_while_held(etcd_client: etcd.Client, lock_name: str) -> None:
    holder = Lock(etcd_client, lock_name)
    assert await holder.acquire(lock_ttl=30)
    other = Lock(etcd_client, lock_name)
    assert await other.acquire(blocking=False) is False
    assert not other.is_acquired and other.key is None
    assert await _queue(etcd_client, holder.path) == [(holder.key, holder.uuid)]

    # A timeout gives up the same way, leaving nothing behind.
    assert await other.acquire(timeout=0.2) is False
    assert await other.acquire(timeout=0) is False
    assert await _queue(etcd_client, holder.path) == [(holder.key, holder.uuid)]

    await holder.release()
    assert await other.acquire(blocking=False) is True
    await other.release()


async def test_wait_for_timeout_removes_the_key(etcd_client: etcd.Client, lock_name: str) -> None:
    holder = Lock(etcd_client, lock_name)
    async with holder:
        waiter = Lock(etcd_client, lock_name)
        for _ in range(3):
            with pytest.raises(asyncio.TimeoutError):
                await asyncio.wait_for(waiter.acquire(lock_ttl=None), 0.2)
            assert await _queue(etcd_client, holder.path) == [(holder.key, holder.uuid)]
            assert waiter.key is None and not waiter.is_acquired


async def test_dead_holder_is_replaced_after_its_ttl(
    make_client: MakeClient, etcd_client: etcd.Client, lock_name: str
) -> None:
    async with make_client() as doomed:
        holder = Lock(doomed, lock_name)
        assert await holder.acquire(lock_ttl=2)
        dead_key = holder.key
    # The holder's client is gone and never released. A waiter whose own TTL
    # is shorter than the wait keeps its key alive while waiting.
    waiter = Lock(etcd_client, lock_name)
    assert await waiter.acquire(lock_ttl=1, timeout=EVENT_TIMEOUT) is True
    assert await _queue(etcd_client, waiter.path) == [(waiter.key, waiter.uuid)]
    assert waiter.key != dead_key
    # The TTL was reset when the lock was acquired.
    assert waiter.key is not None
    # v3: a lease of 2 s at least (etcd's minimum), and its TTL left is rounded down
    assert await _ttl(etcd_client, waiter.key) in ((1,) if etcd_client.api == "v2" else (1, 2))
    await waiter.release()


async def test_cancelled_waiter_leaves_no_key(etcd_client: etcd.Client, lock_name: str) -> None:
    holder = Lock(etcd_client, lock_name)
    assert await holder.acquire(lock_ttl=30)
    first = Lock(etcd_client, lock_name)
    first_task = await start_waiter(etcd_client, first, lock_ttl=None)
    second = Lock(etcd_client, lock_name)
    second_task = await start_waiter(etcd_client, second, lock_ttl=30)
    assert [key for key, _ in await _queue(etcd_client, holder.path)] == [holder.key, first.key, second.key]

    # second watches first's key; cancelling first must hand second on to holder.
    first_task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await first_task
    assert first.key is None and not first.is_acquired
    assert await _queue(etcd_client, holder.path) == [(holder.key, holder.uuid), (second.key, second.uuid)]
    # second woke up, but holder is still ahead of it: it must go on waiting.
    index = await _index(etcd_client, holder.path)
    with pytest.raises((etcd.EtcdWatchTimedOut, asyncio.TimeoutError)):
        await _next_key(etcd_client, holder.path, index, timeout=0.3)
    assert not second_task.done() and not second.is_acquired

    await holder.release()
    assert await asyncio.wait_for(second_task, EVENT_TIMEOUT) is True
    assert second.is_acquired
    await second.release()


async def test_cancelled_while_creating_the_key(etcd_client: etcd.Client, lock_name: str) -> None:
    holder = Lock(etcd_client, lock_name)
    assert await holder.acquire(lock_ttl=30)
    for _ in range(5):
        waiter = Lock(etcd_client, lock_name)
        since = await _index(etcd_client, holder.path)
        task = asyncio.create_task(waiter.acquire(lock_ttl=None))
        # Cancel as soon as etcd made its key: the answer is on its way, or just in.
        await _next_key(etcd_client, holder.path, since)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert await _queue(etcd_client, holder.path) == [(holder.key, holder.uuid)]
    await holder.release()


async def test_async_with_outlives_its_ttl(etcd_client: etcd.Client, lock_name: str) -> None:
    lock = Lock(etcd_client, lock_name, ttl=2)
    other = Lock(etcd_client, lock_name)
    async with lock:
        key = lock.key
        assert key is not None
        assert 0 < (await _ttl(etcd_client, key) or 0) <= 2
        await asyncio.sleep(3.2)  # longer than the TTL: only the keep-alive keeps the key
        assert await other.acquire(blocking=False) is False
        assert (await _value(etcd_client, key), lock.key, lock.is_acquired) == (lock.uuid, key, True)
        assert await lock.check()
    assert not lock.is_acquired
    assert await _queue(etcd_client, lock.path) == []


async def test_keepalive_notices_a_lost_key(etcd_client: etcd.Client, lock_name: str) -> None:
    lock = Lock(etcd_client, lock_name, ttl=3, keepalive_interval=0.2)
    with pytest.raises(etcd.EtcdLockExpired):
        async with lock:
            assert lock.key is not None and not lock.lost.is_set()
            await _delete(etcd_client, lock.key)
            await asyncio.wait_for(lock.lost.wait(), EVENT_TIMEOUT)  # the keep-alive found the key gone
            assert not lock.is_acquired
            assert lock.key is None
    assert not lock.is_acquired


async def test_async_with_releases_on_exception_and_cancellation(etcd_client: etcd.Client, lock_name: str) -> None:
    lock = Lock(etcd_client, lock_name)
    with pytest.raises(KeyError):
        async with lock:
            raise KeyError("boom")
    assert not lock.is_acquired
    assert await _queue(etcd_client, lock.path) == []

    entered = asyncio.Event()

    async def hold_forever() -> None:
        async with Lock(etcd_client, lock_name):
            entered.set()
            await asyncio.Event().wait()

    task = asyncio.create_task(hold_forever())
    await asyncio.wait_for(entered.wait(), EVENT_TIMEOUT)
    assert len(await _queue(etcd_client, lock.path)) == 1
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await _queue(etcd_client, lock.path) == []
    assert await lock.acquire(blocking=False)
    await lock.release()


async def test_lock_names_do_not_interfere(etcd_client: etcd.Client, lock_name: str) -> None:
    a = Lock(etcd_client, lock_name + "-a")
    b = Lock(etcd_client, lock_name + "-a-b")
    c = Lock(etcd_client, lock_name + "-a/c")  # a lock below another lock's directory
    assert await a.acquire(blocking=False, lock_ttl=30)
    assert await b.acquire(blocking=False, lock_ttl=30)
    assert await c.acquire(blocking=False, lock_ttl=30)
    assert await a.check() and await b.check() and await c.check()
    assert await Lock(etcd_client, lock_name + "-a").acquire(blocking=False) is False
    for lock in (a, b, c):
        await lock.release()
    for lock in (c, b, a):
        assert await _queue(etcd_client, lock.path) == []
        if etcd_client.api == "v2":
            await etcd_client.delete(lock.path, dir=True, recursive=True)


async def test_across_two_clients(etcd_client: etcd.Client, other_client: etcd.Client, lock_name: str) -> None:
    mine = Lock(etcd_client, lock_name)
    theirs = Lock(other_client, lock_name)
    assert await mine.acquire(lock_ttl=30)
    assert await theirs.acquire(blocking=False) is False
    task = await start_waiter(etcd_client, theirs, lock_ttl=30)
    assert not task.done()
    await mine.release()
    assert await asyncio.wait_for(task, EVENT_TIMEOUT) is True
    assert theirs.is_acquired and await theirs.check()
    assert await mine.acquire(blocking=False) is False
    await theirs.release()


async def test_release_twice_and_is_acquired(etcd_client: etcd.Client, lock_name: str) -> None:
    lock = Lock(etcd_client, lock_name)
    await lock.release()  # never acquired: nothing to do
    assert lock.is_acquired is False
    assert await lock.acquire(lock_ttl=30)
    assert lock.is_acquired is True
    assert await lock.check() is True
    await lock.release()
    assert lock.is_acquired is False
    await lock.release()
    assert lock.is_acquired is False
    assert await lock.check() is False


async def test_release_never_deletes_another_key(etcd_client: etcd.Client, lock_name: str) -> None:
    lock = Lock(etcd_client, lock_name)
    assert await lock.acquire(lock_ttl=30)
    key = lock.key
    assert key is not None
    await _overwrite(etcd_client, key, "someone-else")
    await lock.release()
    assert not lock.is_acquired and lock.key is None
    assert await _value(etcd_client, key) == "someone-else"
    await _delete(etcd_client, key)


async def test_key_deleted_while_held(etcd_client: etcd.Client, lock_name: str) -> None:
    lock = Lock(etcd_client, lock_name)
    assert await lock.acquire(lock_ttl=30)
    assert lock.key is not None
    await _delete(etcd_client, lock.key)
    assert lock.is_acquired  # local knowledge until something asks etcd
    assert await lock.check() is False
    assert lock.is_acquired is False
    await lock.release()  # nothing left to release

    assert await lock.acquire(lock_ttl=30)  # a lost lock can be acquired again
    assert lock.key is not None
    await _delete(etcd_client, lock.key)
    with pytest.raises(etcd.EtcdLockExpired):
        await lock.acquire(lock_ttl=30)  # renewing finds it gone
    assert not lock.is_acquired
    await lock.release()


async def test_key_deleted_while_waiting(etcd_client: etcd.Client, lock_name: str) -> None:
    holder = Lock(etcd_client, lock_name)
    assert await holder.acquire(lock_ttl=30)
    waiter = Lock(etcd_client, lock_name)
    task = await start_waiter(etcd_client, waiter, lock_ttl=30)
    assert waiter.key is not None
    await _delete(etcd_client, waiter.key)
    with pytest.raises(etcd.EtcdLockExpired):
        await asyncio.wait_for(task, EVENT_TIMEOUT)
    assert not waiter.is_acquired and waiter.key is None
    assert await _queue(etcd_client, holder.path) == [(holder.key, holder.uuid)]
    await holder.release()


async def test_waiters_acquire_in_order(etcd_client: etcd.Client, lock_name: str) -> None:
    holder = Lock(etcd_client, lock_name)
    assert await holder.acquire(lock_ttl=30)
    order: list[int] = []

    async def wait_then_release(i: int, lock: Lock, acquiring: asyncio.Task[bool]) -> None:
        assert await acquiring
        order.append(i)
        await lock.release()

    workers = []
    for i in range(6):
        lock = Lock(etcd_client, lock_name)
        acquiring = await start_waiter(etcd_client, lock, lock_ttl=30)
        workers.append(asyncio.create_task(wait_then_release(i, lock, acquiring)))
    await holder.release()
    await asyncio.wait_for(asyncio.gather(*workers), EVENT_TIMEOUT)
    assert order == list(range(6))


async def test_set_uuid_finds_the_key_again(
    etcd_client: etcd.Client, other_client: etcd.Client, lock_name: str
) -> None:
    before = Lock(other_client, lock_name)
    assert await before.acquire(lock_ttl=30)
    # "After a restart": a new Lock object given the old uuid takes over the key.
    after = Lock(etcd_client, lock_name)
    assert await after.set_uuid(before.uuid) is True
    assert (after.uuid, after.key, after.is_acquired) == (before.uuid, before.key, False)
    assert await after.acquire(lock_ttl=20) is True
    assert after.key == before.key
    assert after.key is not None
    assert await _ttl(etcd_client, after.key) in ((20,) if etcd_client.api == "v2" else (19, 20))
    with pytest.raises(RuntimeError):
        await after.set_uuid("another")
    await after.release()
    assert await _queue(etcd_client, after.path) == []

    fresh = Lock(etcd_client, lock_name)
    assert await fresh.set_uuid("chosen-uuid") is False
    assert fresh.uuid == "chosen-uuid"
    assert await fresh.acquire(lock_ttl=30)
    assert await _queue(etcd_client, fresh.path) == [(fresh.key, "chosen-uuid")]
    await fresh.release()


async def test_fencing_token_and_holder(etcd_client: etcd.Client, other_client: etcd.Client, lock_name: str) -> None:
    first, second = Lock(etcd_client, lock_name), Lock(other_client, lock_name)
    assert first.fencing_token is None
    assert await first.holder() is None
    assert await first.acquire(lock_ttl=30)
    assert first.key is not None
    first_token = first.fencing_token
    assert first_token == await _created(etcd_client, first.key)
    assert await second.holder() == first.uuid
    waiter = await start_waiter(other_client, second, lock_ttl=30)
    assert second.fencing_token is None  # waiting is not holding
    await first.release()
    assert first.fencing_token is None
    assert await asyncio.wait_for(waiter, EVENT_TIMEOUT)
    token = second.fencing_token
    assert token is not None and first_token is not None and token > first_token
    assert await first.holder() == second.uuid
    await second.release()
    assert await first.acquire(lock_ttl=30)
    assert first.fencing_token is not None and first.fencing_token > token  # a later holder, a larger token
    await first.release()


async def test_argument_checks(etcd_client: etcd.Client, lock_name: str) -> None:
    with pytest.raises(ValueError):
        Lock(etcd_client, "")
    with pytest.raises(ValueError):
        Lock(etcd_client, lock_name, ttl=0)
    with pytest.raises(ValueError):
        Lock(etcd_client, lock_name, ttl=5, keepalive_interval=5)
    lock = Lock(etcd_client, lock_name)
    with pytest.raises(ValueError):
        await lock.acquire(lock_ttl=0)  # etcd would expire the key at once
    with pytest.raises(ValueError):
        await lock.acquire(blocking=False, timeout=1)
    assert lock.key is None

    holder = Lock(etcd_client, lock_name)
    assert await holder.acquire(lock_ttl=30)
    task = await start_waiter(etcd_client, lock, lock_ttl=30)
    with pytest.raises(RuntimeError):
        await lock.acquire()  # one acquire per Lock object at a time
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await holder.release()

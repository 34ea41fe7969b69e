"""aio_etcd.v3 locks and elections on real etcd: FIFO, fencing, timeouts, cancellation, lost leases."""

from __future__ import annotations

import asyncio

import pytest

from aio_etcd import v3
from aio_etcd.v3 import txn as T


async def _keys(etcd: v3.Client, name: str) -> int:
    return (await etcd.range(name + "/", prefix=True, count_only=True)).count


async def test_lock_is_exclusive_and_first_come_first_served(etcd_v3_client: v3.Client, etcd_prefix: str) -> None:
    name = etcd_prefix + "-lock"
    order: list[int] = []
    holding = 0

    async def worker(n: int, queued: asyncio.Event) -> None:
        nonlocal holding
        lock = etcd_v3_client.lock(name, ttl=10)
        task = asyncio.ensure_future(lock.acquire())
        while await _keys(etcd_v3_client, name) < n + 1 and not task.done():  # noqa: ASYNC110 (server state)
            await asyncio.sleep(0.01)
        queued.set()
        await task
        holding += 1
        assert holding == 1
        order.append(n)
        await asyncio.sleep(0.05)
        holding -= 1
        await lock.release()

    tasks = []
    for n in range(4):  # each joins the queue only after the one before it did
        queued = asyncio.Event()
        tasks.append(asyncio.create_task(worker(n, queued)))
        await queued.wait()
    await asyncio.wait_for(asyncio.gather(*tasks), 30)
    assert order == [0, 1, 2, 3]
    assert await _keys(etcd_v3_client, name) == 0


async def test_fenced_write_and_fencing_token(etcd_v3_client: v3.Client, etcd_prefix: str) -> None:
    async with etcd_v3_client.lock(etcd_prefix + "-job", ttl=10) as lock:
        assert lock.key.startswith((etcd_prefix + "-job/").encode()) and lock.revision > 0
        kv = await etcd_v3_client.get(lock.key)
        assert kv is not None and kv.create_revision == lock.revision
        done = await etcd_v3_client.txn().if_(lock.owned()).then(T.put(etcd_prefix + "/out", b"x")).commit()
        assert done.succeeded
        stale = lock.owned()
    refused = await etcd_v3_client.txn().if_(stale).then(T.put(etcd_prefix + "/out", b"late")).commit()
    assert not refused.succeeded
    assert await _keys(etcd_v3_client, etcd_prefix + "-job") == 0


async def test_timeout_and_cancellation_leave_no_key(etcd_v3_client: v3.Client, etcd_prefix: str) -> None:
    name = etcd_prefix + "-busy"
    async with etcd_v3_client.lock(name, ttl=10):
        with pytest.raises(v3.EtcdLockTimeout) as caught:
            async with etcd_v3_client.lock(name, ttl=10, timeout=0.5):
                raise AssertionError("not reached")
        assert isinstance(caught.value, TimeoutError)
        waiting = asyncio.create_task(etcd_v3_client.lock(name, ttl=10).acquire())
        while await _keys(etcd_v3_client, name) < 2:  # noqa: ASYNC110 (server state: the waiter queued)
            await asyncio.sleep(0.01)
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting
        assert await _keys(etcd_v3_client, name) == 1  # only the holder's
        leases = await etcd_v3_client.leases()
    assert await _keys(etcd_v3_client, name) == 0
    assert not set(await etcd_v3_client.leases()) - set(leases)


async def test_a_lost_lock_raises_on_exit(etcd_v3_client: v3.Client, etcd_prefix: str) -> None:
    with pytest.raises(v3.EtcdLeaseLost):
        async with etcd_v3_client.lock(etcd_prefix + "-lost", ttl=5) as lock:
            assert lock.lease is not None
            await etcd_v3_client.revoke(lock.lease.id)  # as if it had expired
            await asyncio.wait_for(lock.lost.wait(), 10)
    assert await _keys(etcd_v3_client, etcd_prefix + "-lost") == 0


async def test_election(etcd_v3_client: v3.Client, etcd_prefix: str) -> None:
    election = etcd_v3_client.election(etcd_prefix + "-leader", ttl=10)
    assert await election.leader() is None
    seen: list[bytes | None] = []
    observed = asyncio.Event()

    async def observe() -> None:
        async for kv in election.observe():
            seen.append(None if kv is None else kv.value)
            observed.set()
            if len(seen) == 4:
                return

    observer = asyncio.create_task(observe())
    await observed.wait()
    async with election.campaign(b"node-1") as term:
        leader = await election.leader()
        assert leader is not None and leader.value == b"node-1" and leader.key == term.key
        second = asyncio.create_task(election.campaign(b"node-2", timeout=20).__aenter__())
        await term.proclaim(b"node-1 ready")
        assert (await election.leader()).value == b"node-1 ready"  # type: ignore[union-attr]
        done = await etcd_v3_client.txn().if_(term.owned()).then(T.get(term.key)).commit()
        assert done.succeeded
    next_term = await asyncio.wait_for(second, 20)
    assert (await election.leader()).value == b"node-2"  # type: ignore[union-attr]
    await next_term.resign()
    await asyncio.wait_for(observer, 10)
    assert seen == [None, b"node-1", b"node-1 ready", b"node-2"]
    assert await election.leader() is None
    with pytest.raises(v3.EtcdNotLeader):
        await term.proclaim(b"stale")

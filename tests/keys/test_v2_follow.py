"""The v2 follow engine (aio_etcd._v2.follow.Changes) on real etcd: the changes after an index,
each once and in order, from v2's history and then from a stream, across a member that fails."""

from __future__ import annotations

import asyncio

import pytest

import aio_etcd as etcd
from aio_etcd._v2.follow import Changes
from aio_etcd.testing import EtcdCluster

pytestmark = pytest.mark.timeout(90)


async def _take(changes: Changes, count: int) -> list[tuple[str | None, str | None, int | None]]:
    got = []
    for _ in range(count):
        item = await asyncio.wait_for(changes.queue.get(), 20)
        assert not isinstance(item, BaseException), item
        got.append((item.key, item.action, item.modifiedIndex))
    return got


async def test_the_history_then_the_stream_each_change_once(etcd_server: EtcdCluster, etcd_prefix: str) -> None:
    async with etcd_server.client() as client:
        first = await client.write(etcd_prefix + "/a", "1")
        assert first.modifiedIndex is not None
        written = [first, await client.write(etcd_prefix + "/b", "2"), await client.delete(etcd_prefix + "/a")]
        await client.write(etcd_prefix + "-beside", "x")  # not under the prefix
        changes = Changes(client.backend, etcd_prefix, first.modifiedIndex - 1)
        await changes.start()
        try:
            written += [await client.write(etcd_prefix + "/c/d", "3"), await client.write(etcd_prefix + "/b", "4")]
            got = await _take(changes, 5)
            assert got == [(r.key, r.action, r.modifiedIndex) for r in written]
            assert changes.queue.empty() and changes.after == written[-1].modifiedIndex
        finally:
            await changes.close()


async def _a_leader(cluster: EtcdCluster, gone: int) -> None:
    for _ in range(400):
        leader = await asyncio.to_thread(cluster.leader_index)
        if leader is not None and leader != gone:
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the members left elected no leader")


async def test_the_stream_moves_to_another_member_without_loss_or_repeat(etcd_prefix: str) -> None:
    with EtcdCluster(size=3, v2=True) as cluster:
        async with cluster.client() as client:
            start = await client.write(etcd_prefix + "/k", "0")
            assert start.modifiedIndex is not None
            changes = Changes(client.backend, etcd_prefix, start.modifiedIndex)
            await changes.start()
            try:
                before = await client.write(etcd_prefix + "/k", "1")
                assert await _take(changes, 1) == [(before.key, "set", before.modifiedIndex)]
                on = cluster.client_urls.index(client.backend.current_member)
                cluster.stop_member(on)  # the stream breaks; the writes go on on the others
                # once they have a leader: a write held through the election would end as of
                # unknown outcome (it is never sent twice), and this test is about the stream
                await _a_leader(cluster, on)
                written = [await client.write(etcd_prefix + f"/k{i}", str(i)) for i in range(5)]
                got = await _take(changes, 5)
                assert got == [(r.key, "set", r.modifiedIndex) for r in written]
                assert client.backend.current_member != cluster.client_urls[on]
                last = await client.write(etcd_prefix + "/k", "last")
                assert await _take(changes, 1) == [(last.key, "set", last.modifiedIndex)]
                assert changes.queue.empty()
            finally:
                await changes.close()


async def test_a_v3_store_has_no_v2_stream(etcd_v3_server: EtcdCluster, etcd_prefix: str) -> None:
    async with etcd_v3_server.client() as client:
        with pytest.raises(etcd.EtcdException, match="no v3 form"):
            await Changes(client.backend, etcd_prefix, 0).start()

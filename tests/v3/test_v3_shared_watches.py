"""Watches that ask for the same thing share one etcd watch on a member's stream, and each still
sees exactly what a watch of its own would (real etcd, one member).

Sharing is a property of the multiplexed streams: the gateway's websocket, or
gRPC's Watch stream (``AIO_ETCD_V3_TRANSPORT=grpc``). etcd's own count of its
watchers tells whether a watch joined or got one of its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import urllib.request
from collections.abc import AsyncIterator

import pytest

from aio_etcd import v3
from aio_etcd.testing import EtcdCluster, v3_transport
from aio_etcd.v3 import _shared

MODES = ["grpc"] if v3_transport() == "grpc" else ["websocket", "http"]


@pytest.fixture(params=MODES)
async def etcd3(request: pytest.FixtureRequest, etcd_v3_server: EtcdCluster) -> AsyncIterator[v3.Client]:
    mode = "auto" if request.param == "grpc" else request.param
    await watchers_become(etcd_v3_server.url, 0)  # the HTTP streams of a test before are gone
    async with etcd_v3_server.v3_client(watch_transport=mode) as client:
        assert client.watch_transport == request.param
        yield client


def watchers(url: str) -> int:
    """etcd's own count of its open watchers (from the member's metrics at ``url``)."""
    with urllib.request.urlopen(url + "/metrics", timeout=5) as resp:
        text = resp.read().decode()
    found = re.search(r"^etcd_debugging_mvcc_watcher_total (\S+)$", text, re.M)
    assert found is not None
    return int(float(found.group(1)))


async def watchers_become(url: str, count: int) -> int:
    """etcd's count once it is ``count`` (within 5 s; then as it is). An HTTP stream's watcher goes
    when etcd notices the closed connection, soon after the watch is left, not before it returns."""
    for _ in range(100):
        now = await asyncio.to_thread(watchers, url)
        if now == count:
            break
        await asyncio.sleep(0.05)
    return now


async def take(events: v3.Watch, count: int) -> list[v3.Event]:
    got = []
    async for event in events:
        got.append(event)
        if len(got) == count:
            break
    return got


async def test_identical_watches_share_one_etcd_watcher_and_each_sees_every_event(
    etcd3: v3.Client, etcd_v3_server: EtcdCluster, etcd_prefix: str
) -> None:
    before = await asyncio.to_thread(watchers, etcd_v3_server.url)
    async with contextlib.AsyncExitStack() as stack:
        same = [await stack.enter_async_context(etcd3.watch(etcd_prefix, prefix=True)) for _ in range(50)]
        assert await asyncio.to_thread(watchers, etcd_v3_server.url) == before + 1
        # Anything else asked for is a watch of its own.
        await stack.enter_async_context(etcd3.watch(etcd_prefix, prefix=True, prev_kv=True))
        await stack.enter_async_context(etcd3.watch(etcd_prefix))
        assert await asyncio.to_thread(watchers, etcd_v3_server.url) == before + 3
        puts = [await etcd3.put(f"{etcd_prefix}/{i}", str(i)) for i in range(3)]
        seen = await asyncio.wait_for(asyncio.gather(*(take(w, 3) for w in same)), 20)
    assert all([e.mod_revision for e in events] == [p.revision for p in puts] for events in seen)
    assert all(w.revision == puts[-1].revision for w in same)
    assert await watchers_become(etcd_v3_server.url, before) == before


async def test_a_watch_that_joins_sees_nothing_acknowledged_before_it_was_made(
    etcd3: v3.Client, etcd_prefix: str
) -> None:
    async with etcd3.watch(etcd_prefix) as first:
        for i in range(30):  # the write before may still be on its way to the shared watch
            before = await etcd3.put(etcd_prefix, f"before {i}")
            async with etcd3.watch(etcd_prefix) as second:
                after = await etcd3.put(etcd_prefix, f"after {i}")
                (only,) = await asyncio.wait_for(take(second, 1), 10)
            both = await asyncio.wait_for(take(first, 2), 10)
            assert (only.kv.value, only.mod_revision) == (f"after {i}".encode(), after.revision)
            assert second.created_revision >= before.revision
            assert [e.kv.value for e in both] == [f"before {i}".encode(), f"after {i}".encode()]


async def test_a_watch_from_a_revision_the_shared_one_has_passed_gets_its_own(
    etcd3: v3.Client, etcd_v3_server: EtcdCluster, etcd_prefix: str
) -> None:
    before = await asyncio.to_thread(watchers, etcd_v3_server.url)
    async with etcd3.watch(etcd_prefix) as first:
        a = await etcd3.put(etcd_prefix, b"a")
        await asyncio.wait_for(take(first, 1), 10)
        async with etcd3.watch(etcd_prefix, start_revision=a.revision) as again:
            assert await asyncio.to_thread(watchers, etcd_v3_server.url) == before + 2
            await etcd3.put(etcd_prefix, b"b")
            history = await asyncio.wait_for(take(again, 2), 10)
            (b,) = await asyncio.wait_for(take(first, 1), 10)
    assert [e.kv.value for e in history] == [b"a", b"b"] and b.kv.value == b"b"


async def test_a_watch_from_right_after_what_the_shared_one_handed_out_joins(
    etcd3: v3.Client, etcd_v3_server: EtcdCluster, etcd_prefix: str
) -> None:
    """As a watch reopened from where it stopped, all caught up, would."""
    before = await asyncio.to_thread(watchers, etcd_v3_server.url)
    async with etcd3.watch(etcd_prefix) as first:
        a = await etcd3.put(etcd_prefix, b"a")
        (seen,) = await asyncio.wait_for(take(first, 1), 10)
        await etcd3.put(etcd_prefix + "/elsewhere", b"")  # the store moves on; the watch has nothing new
        async with etcd3.watch(etcd_prefix, start_revision=seen.mod_revision + 1) as reopened:
            b = await etcd3.put(etcd_prefix, b"b")
            assert await asyncio.to_thread(watchers, etcd_v3_server.url) == before + 1
            c = await etcd3.put(etcd_prefix, b"c")
            got = await asyncio.wait_for(take(reopened, 2), 10)
        rest = await asyncio.wait_for(take(first, 2), 10)
    assert seen.mod_revision == a.revision
    assert [(e.kv.value, e.mod_revision) for e in got] == [(b"b", b.revision), (b"c", c.revision)]
    assert [e.kv.value for e in rest] == [b"b", b"c"]


async def test_a_watch_from_a_revision_to_come_joins_and_starts_there(
    etcd3: v3.Client, etcd_v3_server: EtcdCluster, etcd_prefix: str
) -> None:
    before = await asyncio.to_thread(watchers, etcd_v3_server.url)
    async with etcd3.watch(etcd_prefix) as first:
        now = await etcd3.put(etcd_prefix, b"0")
        async with etcd3.watch(etcd_prefix, start_revision=now.revision + 3) as later:
            assert await asyncio.to_thread(watchers, etcd_v3_server.url) == before + 1
            puts = [await etcd3.put(etcd_prefix, str(i)) for i in range(1, 5)]
            seen = await asyncio.wait_for(take(later, 2), 10)
            everything = await asyncio.wait_for(take(first, 5), 10)
    assert [e.mod_revision for e in seen] == [p.revision for p in puts[2:]] == [now.revision + 3, now.revision + 4]
    assert [e.kv.value for e in everything] == [b"0", b"1", b"2", b"3", b"4"]


async def test_the_last_watch_to_leave_cancels_the_etcd_watch(
    etcd3: v3.Client, etcd_v3_server: EtcdCluster, etcd_prefix: str
) -> None:
    before = await asyncio.to_thread(watchers, etcd_v3_server.url)
    watches = [etcd3.watch(etcd_prefix) for _ in range(3)]
    for w in watches:
        await w.__aenter__()
    for w in watches[:2]:
        await w.__aexit__(None, None, None)
    with pytest.raises(StopAsyncIteration):
        await watches[0].__anext__()  # a watch that left ends; the others go on
    assert await asyncio.to_thread(watchers, etcd_v3_server.url) == before + 1
    put = await etcd3.put(etcd_prefix, b"x")
    (event,) = await asyncio.wait_for(take(watches[2], 1), 10)
    assert event.mod_revision == put.revision
    await watches[2].__aexit__(None, None, None)
    assert await watchers_become(etcd_v3_server.url, before) == before
    # A watch made now gets a new etcd watch, not the cancelled one.
    async with etcd3.watch(etcd_prefix) as fresh:
        assert await asyncio.to_thread(watchers, etcd_v3_server.url) == before + 1
        put = await etcd3.put(etcd_prefix, b"y")
        (event,) = await asyncio.wait_for(take(fresh, 1), 10)
    assert event.mod_revision == put.revision


async def test_a_watch_cancelled_by_etcd_is_not_joined(etcd3: v3.Client, etcd_prefix: str) -> None:
    first = await etcd3.put(etcd_prefix, b"1")
    second = await etcd3.put(etcd_prefix, b"2")
    await etcd3.compact(second.revision)
    async with etcd3.watch(etcd_prefix, start_revision=first.revision) as old:
        with pytest.raises(v3.EtcdCompacted):
            await asyncio.wait_for(take(old, 1), 10)  # etcd cancelled it; the watch is still open
        async with etcd3.watch(etcd_prefix) as new:  # joined to the cancelled one, it would see nothing
            put = await etcd3.put(etcd_prefix, b"3")
            (event,) = await asyncio.wait_for(take(new, 1), 10)
    assert event.mod_revision == put.revision


async def test_a_watch_above_the_compaction_is_not_cancelled_with_a_shared_one_below_it(
    etcd3: v3.Client, etcd_prefix: str
) -> None:
    """etcd creates a watch from a compacted revision and cancels it a moment later: a watch that
    joined it meanwhile, from a revision etcd still has, reads on by itself."""
    first = await etcd3.put(etcd_prefix, b"1")
    for i in range(5):
        await etcd3.put(etcd_prefix, str(i))
    last = await etcd3.put(etcd_prefix, b"x")
    await etcd3.compact(last.revision - 1)
    for kind in ("after the last write", "at the last write", "none"):
        start = {"after the last write": last.revision + 1, "at the last write": last.revision, "none": 0}[kind]
        async with (
            etcd3.watch(etcd_prefix, start_revision=first.revision) as old,
            etcd3.watch(etcd_prefix, start_revision=start) as kept,
        ):
            with pytest.raises(v3.EtcdCompacted):
                await asyncio.wait_for(take(old, 1), 10)
            put = await etcd3.put(etcd_prefix, b"y")
            events = await asyncio.wait_for(take(kept, 2 if start == last.revision else 1), 10)
        expected = [last.revision, put.revision] if start == last.revision else [put.revision]
        assert [e.mod_revision for e in events] == expected, kind
        last = put


async def test_a_watch_that_falls_far_behind_reads_on_by_itself_without_loss(
    etcd3: v3.Client, etcd_prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_shared, "BACKLOG", 5)
    async with etcd3.watch(etcd_prefix) as reader, etcd3.watch(etcd_prefix) as idle:
        puts = []
        for i in range(20):  # the reader keeps up; the other is not read
            puts.append(await etcd3.put(etcd_prefix, str(i)))
            (event,) = await asyncio.wait_for(take(reader, 1), 10)
            assert event.mod_revision == puts[-1].revision
        late = await asyncio.wait_for(take(idle, 20), 10)
    assert [e.mod_revision for e in late] == [p.revision for p in puts]
    assert idle.resumes >= 1 and reader.resumes == 0

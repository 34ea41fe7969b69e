"""aio_etcd.v3 watches on real etcd: established on entry, filters, big lines, compaction, closing.

Each test runs twice: watches multiplexed on a websocket (the default without
credentials) and one HTTP stream per watch (the default with them).
"""

from __future__ import annotations

import asyncio
import re
import urllib.request
from collections.abc import AsyncIterator

import pytest

from aio_etcd import v3
from aio_etcd.testing import EtcdCluster, v3_transport

#: How watches reach etcd: on the gateway, a shared websocket or one HTTP stream per watch;
#: on gRPC (``AIO_ETCD_V3_TRANSPORT=grpc``), one shared Watch stream per member, whatever is asked.
MODES = ["grpc"] if v3_transport() == "grpc" else ["websocket", "http"]
SHARED = ("websocket", "grpc")


@pytest.fixture(params=MODES)
async def etcd3(request: pytest.FixtureRequest, etcd_v3_server: EtcdCluster) -> AsyncIterator[v3.Client]:
    mode = "auto" if request.param == "grpc" else request.param
    async with etcd_v3_server.v3_client(watch_transport=mode) as client:
        assert client.watch_transport == request.param
        yield client


def _watchers(server: EtcdCluster) -> int:
    """etcd's own count of open watchers (its metrics)."""
    with urllib.request.urlopen(server.url + "/metrics", timeout=5) as resp:
        text = resp.read().decode()
    found = re.search(r"^etcd_debugging_mvcc_watcher_total (\S+)$", text, re.M)
    assert found is not None
    return int(float(found.group(1)))


async def _take(events: v3.Watch, count: int) -> list[v3.Event]:
    got = []
    async for event in events:
        got.append(event)
        if len(got) == count:
            break
    return got


async def test_a_write_right_after_entering_is_seen(etcd3: v3.Client, etcd_prefix: str) -> None:
    for _ in range(5):  # established on entry, every time
        async with etcd3.watch(etcd_prefix, prefix=True) as events:
            put = await etcd3.put(etcd_prefix + "/k", b"v")
            (event,) = await asyncio.wait_for(_take(events, 1), 10)
        assert (event.type, event.kv.key, event.kv.value) == ("PUT", (etcd_prefix + "/k").encode(), b"v")
        assert event.mod_revision == put.revision and events.revision == put.revision


async def test_events_prev_kv_and_deletes(etcd3: v3.Client, etcd_prefix: str) -> None:
    async with etcd3.watch(etcd_prefix + "/", prefix=True, prev_kv=True) as events:
        await etcd3.put(etcd_prefix + "/a", b"1")
        await etcd3.put(etcd_prefix + "/a", b"2")
        await etcd3.delete(etcd_prefix + "/a")
        first, second, gone = await asyncio.wait_for(_take(events, 3), 10)
    assert first.prev_kv is None
    assert second.prev_kv is not None and second.prev_kv.value == b"1"
    assert gone.type == "DELETE" and gone.prev_kv is not None and gone.prev_kv.value == b"2"


async def test_filters_and_start_revision(etcd3: v3.Client, etcd_prefix: str) -> None:
    first = await etcd3.put(etcd_prefix + "/a", b"1")
    await etcd3.delete(etcd_prefix + "/a")
    await etcd3.put(etcd_prefix + "/b", b"2")
    async with etcd3.watch(etcd_prefix + "/", prefix=True, start_revision=first.revision) as events:
        history = await asyncio.wait_for(_take(events, 3), 10)
    assert [(e.type, e.kv.key[-1:]) for e in history] == [("PUT", b"a"), ("DELETE", b"a"), ("PUT", b"b")]
    async with etcd3.watch(
        etcd_prefix + "/", prefix=True, start_revision=first.revision, filters={"noput"}
    ) as events:
        (only,) = await asyncio.wait_for(_take(events, 1), 10)
    assert only.type == "DELETE"


async def test_a_line_larger_than_512_kib_is_read(etcd3: v3.Client, etcd_prefix: str) -> None:
    big = bytes(range(256)) * 3000  # 768,000 bytes: with prev_kv, a line of about 2 MB of base64
    async with etcd3.watch(etcd_prefix, prev_kv=True) as events:
        await etcd3.put(etcd_prefix, big)
        await etcd3.put(etcd_prefix, big[::-1])
        _, second = await asyncio.wait_for(_take(events, 2), 20)
    assert second.kv.value == big[::-1] and second.prev_kv is not None and second.prev_kv.value == big


async def test_compacted_start_raises(etcd3: v3.Client, etcd_prefix: str) -> None:
    first = await etcd3.put(etcd_prefix, b"1")
    second = await etcd3.put(etcd_prefix, b"2")
    await etcd3.compact(second.revision)
    with pytest.raises(v3.EtcdCompacted) as caught:
        async with etcd3.watch(etcd_prefix, start_revision=first.revision) as events:
            await asyncio.wait_for(_take(events, 1), 10)
    assert caught.value.compact_revision == second.revision
    assert isinstance(caught.value, v3.EtcdWatchCanceled)


@pytest.mark.parametrize("mode", MODES)
async def test_leaving_closes_the_stream(etcd_v3_server: EtcdCluster, etcd_prefix: str, mode: str) -> None:
    async with etcd_v3_server.v3_client(watch_transport="auto" if mode == "grpc" else mode) as etcd:
        before = await asyncio.to_thread(_watchers, etcd_v3_server)
        async with etcd.watch(etcd_prefix) as first, etcd.watch(etcd_prefix + "/x"):
            assert await asyncio.to_thread(_watchers, etcd_v3_server) == before + 2
            assert first.member == etcd.current_member
        if mode in SHARED:  # leaving waited for etcd's confirmation of the cancels
            assert await asyncio.to_thread(_watchers, etcd_v3_server) == before
        for _ in range(100):  # etcd drops a watcher as soon as it notices the closed connection
            if await asyncio.to_thread(_watchers, etcd_v3_server) == before:
                break
            await asyncio.sleep(0.05)
        assert await asyncio.to_thread(_watchers, etcd_v3_server) == before


async def test_many_watches_leave_ordinary_calls_working(etcd3: v3.Client, etcd_prefix: str) -> None:
    count = 150  # past aiohttp's default pool of 100 connections
    watches = [etcd3.watch(f"{etcd_prefix}/{i}") for i in range(count)]
    try:
        await asyncio.gather(*(w.__aenter__() for w in watches))
        await asyncio.wait_for(etcd3.put(etcd_prefix + "/7", b"x"), 5)
        (event,) = await asyncio.wait_for(_take(watches[7], 1), 5)
        assert event.kv.value == b"x"
        if etcd3.watch_transport in SHARED:
            assert etcd3._mux is not None and etcd3._mux.sockets == 1  # all on one socket
    finally:
        for w in watches:
            w.close()


async def test_using_a_watch_without_entering_it_is_an_error(etcd3: v3.Client) -> None:
    watch = etcd3.watch("/k")
    with pytest.raises(v3.EtcdException, match="async with"):
        await watch.__anext__()


async def _check_progress(events: v3.Watch, count: int) -> list[tuple[int, int]]:
    """Take ``count`` events, noting ``events.revision`` after each: ``(mod_revision, revision)``."""
    seen = []
    async for event in events:
        seen.append((event.mod_revision, events.revision))
        if len(seen) == count:
            break
    return seen


def _assert_checkpoints_lose_nothing(seen: list[tuple[int, int]]) -> None:
    """A restart from ``revision + 1`` after any event must see every event not taken yet."""
    for i, (mod, revision) in enumerate(seen):
        later = [m for m, _ in seen[i + 1 :]]
        assert all(revision < m for m in later), f"after event {i} @{mod}, revision {revision} skips {later[:3]}"
        if later and later[0] > mod:  # its whole revision was taken: progress shows it
            assert revision >= mod, (i, mod, revision)
    assert seen[-1][1] == seen[-1][0]


async def test_revision_waits_for_every_event_of_a_transaction(etcd3: v3.Client, etcd_prefix: str) -> None:
    async with etcd3.watch(etcd_prefix + "/", prefix=True) as events:
        before = events.revision
        done = await etcd3.txn().then(*(v3.txn.put(f"{etcd_prefix}/k{i}", b"v") for i in range(1, 4))).commit()
        seen = await asyncio.wait_for(_check_progress(events, 3), 10)
    assert [mod for mod, _ in seen] == [done.revision] * 3
    # The first two of the three keys written at one revision leave it below that revision.
    assert [revision for _, revision in seen] == [before, before, done.revision]


async def test_revision_of_a_late_watch_follows_the_events_taken(etcd3: v3.Client, etcd_prefix: str) -> None:
    first = 0
    for i in range(120):  # revisions of 1 to 3 keys each, and some the watch does not see
        keys = [f"{etcd_prefix}/w/{i}-{j}" for j in range(i % 3 + 1)]
        done = await etcd3.txn().then(*(v3.txn.put(k, b"x") for k in keys)).commit()
        first = first or done.revision
        if i % 10 == 0:
            await etcd3.put(etcd_prefix + "/other", b"y")
    total = sum(i % 3 + 1 for i in range(120))
    # From an old revision, etcd sends many revisions in one line.
    async with etcd3.watch(etcd_prefix + "/w/", prefix=True, start_revision=first) as events:
        seen = await asyncio.wait_for(_check_progress(events, total), 20)
    assert len(seen) == total
    _assert_checkpoints_lose_nothing(seen)

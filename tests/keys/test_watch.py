"""Watches against a real etcd: wait, eternal_watch, cancellation, history window."""

from __future__ import annotations

import asyncio

import pytest
from conftest import no_watchers

import aio_etcd as etcd
from aio_etcd.testing import wait_for_watchers

#: Each test runs on the v2 API and on the v2 keys API over a v3 store (tests/conftest.py).
BOTH_APIS = True


async def _watchers(client: etcd.Client) -> int:
    return int((await client.store_stats()).get("watchers", 0))


async def _until_fewer_watchers(client: etcd.Client, limit: int) -> None:
    """Wait until the server holds fewer than ``limit`` watchers (it notices closed ones)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 10
    while await _watchers(client) >= limit:
        assert loop.time() < deadline, "cancelled watches stayed registered on the server"
        await asyncio.sleep(0.02)


async def test_watch_sees_next_change(etcd_client: etcd.Client, etcd_prefix: str) -> None:
    key = etcd_prefix + "/w"
    before = await no_watchers(etcd_client)
    task = asyncio.create_task(etcd_client.watch(key))
    await wait_for_watchers(etcd_client, before + 1)
    written = await etcd_client.write(key, "new")
    event = await task
    assert (event.action, event.value, event.modifiedIndex) == ("set", "new", written.modifiedIndex)


async def test_recursive_watch(etcd_client: etcd.Client, etcd_prefix: str) -> None:
    first = await etcd_client.write(etcd_prefix + "/dir/a", 1)
    await etcd_client.write(etcd_prefix + "/dir/sub/b", 2)
    event = await etcd_client.watch(etcd_prefix + "/dir", index=(first.modifiedIndex or 0) + 1, recursive=True)
    assert (event.key, event.value) == (etcd_prefix + "/dir/sub/b", "2")
    with pytest.raises(etcd.EtcdWatchTimedOut):
        # Not recursive: a child's change is not an event of the directory.
        await etcd_client.watch(etcd_prefix + "/dir", index=(first.modifiedIndex or 0) + 1, timeout=0.3)


async def test_watch_timeout_per_call(etcd_client: etcd.Client, etcd_prefix: str) -> None:
    with pytest.raises(etcd.EtcdWatchTimedOut) as info:
        await etcd_client.watch(etcd_prefix + "/quiet", timeout=0.2)
    assert isinstance(info.value, etcd.EtcdConnectionFailed)
    assert info.value.cause is not None


async def test_cancelled_watch_leaves_no_watcher(etcd_client: etcd.Client, etcd_prefix: str) -> None:
    before = await no_watchers(etcd_client)
    for _ in range(5):
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(etcd_client.watch(etcd_prefix + "/quiet"), timeout=0.1)
    # The connections were closed, so the server drops the watchers.
    await _until_fewer_watchers(etcd_client, before + 1)
    # And the client still works, watches included.
    written = await etcd_client.write(etcd_prefix + "/quiet", "x")
    event = await etcd_client.watch(etcd_prefix + "/quiet", index=written.modifiedIndex)
    assert event.value == "x"


async def test_eternal_watch_plain_callback_sees_every_event(etcd_client: etcd.Client, etcd_prefix: str) -> None:
    key = etcd_prefix + "/ew"
    start = (await etcd_client.write(key, 0)).modifiedIndex or 0
    # Writes made before the watch starts are still delivered: they are in etcd's history.
    written = [await etcd_client.write(key, i) for i in range(1, 6)]
    seen: list[etcd.EtcdResult] = []

    def callback(event: etcd.EtcdResult) -> None:
        seen.append(event)
        if len(seen) == 5:
            raise etcd.StopWatching

    next_index = await etcd_client.eternal_watch(key, callback, index=start + 1)
    assert [e.modifiedIndex for e in seen] == [w.modifiedIndex for w in written]
    assert [e.value for e in seen] == ["1", "2", "3", "4", "5"]
    assert next_index == (written[-1].modifiedIndex or 0) + 1


async def test_eternal_watch_async_callback_and_resume(etcd_client: etcd.Client, etcd_prefix: str) -> None:
    key = etcd_prefix + "/ew"
    start = (await etcd_client.write(key + "/x", 0)).modifiedIndex or 0
    changes = [await etcd_client.write(f"{key}/{name}", name) for name in "abc"]
    seen: list[str | None] = []

    async def callback(event: etcd.EtcdResult) -> None:
        assert event.key is not None
        current = await etcd_client.read(event.key)  # a callback that does I/O of its own
        assert current.modifiedIndex == event.modifiedIndex
        seen.append(event.key)
        raise etcd.StopWatching

    index = start + 1
    for _ in changes:
        index = await etcd_client.eternal_watch(key, callback, index=index, recursive=True) or 0
    assert seen == [c.key for c in changes]
    assert index == (changes[-1].modifiedIndex or 0) + 1


async def test_event_index_cleared(etcd_client: etcd.Client, etcd_prefix: str) -> None:
    key = etcd_prefix + "/old"
    stale = (await etcd_client.write(key, "first")).modifiedIndex or 0
    # etcd v2 keeps the last 1000 events; push the first one out of the window.
    # A v3 store keeps its history until it is compacted: compact it instead.
    other = etcd_prefix + "/filler"
    for chunk in range(0, 1010, 101):
        await asyncio.gather(*(etcd_client.write(f"{other}{i % 10}", i) for i in range(chunk, chunk + 101)))
    last = await etcd_client.write(key, "latest")
    if etcd_client.api == "v3":
        assert etcd_client.v3_client is not None and last.modifiedIndex is not None
        await etcd_client.v3_client.compact(last.modifiedIndex)

    with pytest.raises(etcd.EtcdEventIndexCleared) as info:
        await etcd_client.watch(key, index=stale + 1)
    assert info.value.error_code == 401

    seen: list[etcd.EtcdResult] = []
    got_snapshot = asyncio.Event()

    def callback(event: etcd.EtcdResult) -> None:
        seen.append(event)
        got_snapshot.set()
        if len(seen) == 2:
            raise etcd.StopWatching

    async def write_after_snapshot() -> etcd.EtcdResult:
        # Anything written after the snapshot has a higher index than the one
        # the watch resumes from, so it is delivered however late the watch starts.
        await got_snapshot.wait()
        return await etcd_client.write(key, "after")

    writer = asyncio.create_task(write_after_snapshot())
    await etcd_client.eternal_watch(key, callback, index=stale + 1)
    after = await writer
    # First the snapshot read in place of the lost events, then the next real event.
    assert (seen[0].action, seen[0].value, seen[0].modifiedIndex) == ("get", "latest", last.modifiedIndex)
    assert (seen[1].value, seen[1].modifiedIndex) == ("after", after.modifiedIndex)


async def test_a_thousand_pending_watches_do_not_block_the_client(
    etcd_client: etcd.Client, etcd_prefix: str
) -> None:
    key = etcd_prefix + "/many"
    start = (await etcd_client.write(key, "start")).modifiedIndex or 0
    watchers = [asyncio.create_task(etcd_client.watch(key, index=start + 1)) for _ in range(1000)]
    # Different keys too: each needs its own request, still no starvation.
    others = [asyncio.create_task(etcd_client.watch(f"{etcd_prefix}/other{i}")) for i in range(50)]
    reads = [etcd_client.read(key) for _ in range(100)]
    writes = [etcd_client.write(f"{etcd_prefix}/side{i}", i) for i in range(100)]
    results = await asyncio.wait_for(asyncio.gather(*reads, *writes), 30)
    assert len(results) == 200
    assert not any(w.done() for w in watchers)

    woke = await etcd_client.write(key, "wake")
    events = await asyncio.wait_for(asyncio.gather(*watchers), 30)
    assert {(e.value, e.modifiedIndex) for e in events} == {("wake", woke.modifiedIndex)}
    # Each caller has its own result object.
    events[0].value = "changed by one caller"
    assert events[1].value == "wake"
    for task in others:
        task.cancel()
    await asyncio.gather(*others, return_exceptions=True)


async def test_shared_watch_cancellation_is_per_caller(etcd_client: etcd.Client, etcd_prefix: str) -> None:
    key = etcd_prefix + "/shared"
    start = (await etcd_client.write(key, "start")).modifiedIndex or 0
    first = asyncio.create_task(etcd_client.watch(key, index=start + 1))
    second = asyncio.create_task(etcd_client.watch(key, index=start + 1))
    timed = asyncio.create_task(etcd_client.watch(key, index=start + 1, timeout=0.2))
    with pytest.raises(etcd.EtcdWatchTimedOut):
        await timed
    first.cancel()
    with pytest.raises(asyncio.CancelledError):
        await first
    written = await etcd_client.write(key, "next")
    assert (await asyncio.wait_for(second, 10)).modifiedIndex == written.modifiedIndex


async def test_watch_iter(etcd_client: etcd.Client, etcd_prefix: str) -> None:
    key = etcd_prefix + "/iter"
    idle = await no_watchers(etcd_client)
    start = (await etcd_client.write(key, "start")).modifiedIndex or 0
    written = [await etcd_client.write(key, i) for i in range(3)]
    events = etcd_client.watch_iter(key, index=start + 1)
    seen = []
    async for event in events:
        seen.append(event.modifiedIndex)
        if len(seen) == 3:
            break
    assert seen == [w.modifiedIndex for w in written]
    await events.aclose()

    # Cancelling a task blocked in the iterator ends it cleanly. (The server
    # drops the closed watch's watcher a moment later: wait, or it is counted.)
    await _until_fewer_watchers(etcd_client, idle + 1)
    before = idle

    async def follow() -> None:
        async for _ in etcd_client.watch_iter(key):
            pass

    task = asyncio.create_task(follow())
    await wait_for_watchers(etcd_client, before + 1)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_watch_after_a_timed_out_watch_starts_afresh(etcd_client: etcd.Client, etcd_prefix: str) -> None:
    key = etcd_prefix + "/again"
    before = await no_watchers(etcd_client)
    with pytest.raises(etcd.EtcdWatchTimedOut):
        await etcd_client.watch(key, timeout=0.1)
    await _until_fewer_watchers(etcd_client, before + 1)
    follow = asyncio.create_task(etcd_client.watch(key))
    await wait_for_watchers(etcd_client, before + 1)
    written = await etcd_client.write(key, "v")
    assert (await asyncio.wait_for(follow, 10)).modifiedIndex == written.modifiedIndex

"""aio_etcd.v3 on a real 3-member etcd (v3 only): failover, watches that resume, lost quorum.

One cluster serves the module; the ``cluster`` fixture restarts (or resumes)
any member a test stopped.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import urllib.request

import pytest

from aio_etcd import v3
from aio_etcd.testing import EtcdCluster, v3_transport

pytestmark = pytest.mark.timeout(120)

#: The module's own cluster (``three``, ``cluster``) serves v3 only.
V2 = False

#: Watch modes: the gateway's two, or gRPC's one shared Watch stream (``AIO_ETCD_V3_TRANSPORT=grpc``).
MODES = ["grpc"] if v3_transport() == "grpc" else ["websocket", "http"]


def _watching(mode: str) -> dict[str, str]:
    """The client options of a watch mode."""
    return {"transport": v3_transport(), "watch_transport": "auto" if mode == "grpc" else mode}


async def _leader(cluster: EtcdCluster) -> int:
    for _ in range(200):
        index = await asyncio.to_thread(cluster.leader_index)
        if index is not None:
            return index
        await asyncio.sleep(0.05)
    raise AssertionError("the cluster has no leader")


def _ordered(cluster: EtcdCluster, first: int) -> list[tuple[str, int]]:
    endpoints = list(cluster.endpoints)
    endpoints.insert(0, endpoints.pop(first))
    return endpoints


async def _watch_through_trouble(cluster: EtcdCluster, prefix: str, trouble: str, mode: str) -> None:
    """Write 0..149 while the watch's member is killed or frozen at 50; the watch sees each once, in order."""
    leader = await _leader(cluster)
    follower = (leader + 1) % 3
    async with (
        v3.Client(*_ordered(cluster, follower), watch_probe_interval=0.5, **_watching(mode)) as watcher,
        v3.Client(*_ordered(cluster, leader), transport=v3_transport()) as writer,
    ):
        async with watcher.watch(prefix + "/", prefix=True) as events:
            assert events.member == cluster.members[follower].client_url

            async def write() -> None:
                for i in range(150):
                    if i == 50:
                        if trouble == "kill":
                            cluster.stop_member(follower, kill=True)
                        else:
                            cluster.pause_member(follower)
                    await writer.put(f"{prefix}/{i % 7}", str(i))

            writing = asyncio.create_task(write())
            seen = [int(event.kv.value) for event in await asyncio.wait_for(_take(events, 150), 60)]
            await writing
        assert seen == list(range(150))
        assert events.resumes >= 1 and events.member != cluster.members[follower].client_url


async def _take(events: v3.Watch, count: int) -> list[v3.Event]:
    got = []
    async for event in events:
        got.append(event)
        if len(got) == count:
            break
    return got


@pytest.mark.parametrize("mode", MODES)
async def test_watch_resumes_after_its_member_dies(cluster: EtcdCluster, etcd_prefix: str, mode: str) -> None:
    await _watch_through_trouble(cluster, etcd_prefix, "kill", mode)


@pytest.mark.parametrize("mode", MODES)
async def test_watch_resumes_after_its_member_freezes(cluster: EtcdCluster, etcd_prefix: str, mode: str) -> None:
    await _watch_through_trouble(cluster, etcd_prefix, "freeze", mode)


async def test_reads_fail_over_and_a_write_to_a_frozen_member_is_outcome_unknown(
    cluster: EtcdCluster, etcd_prefix: str
) -> None:
    leader = await _leader(cluster)
    frozen = (leader + 1) % 3
    async with (
        v3.Client(*_ordered(cluster, frozen), transport=v3_transport()) as etcd,
        v3.Client(*_ordered(cluster, frozen), transport=v3_transport()) as fresh,
    ):
        await etcd.put(etcd_prefix, b"before")
        # Connected before the freeze (a gRPC connection to a frozen member is never
        # ready, so a write made on a new one certainly never left, and goes elsewhere).
        await fresh.get(etcd_prefix)
        cluster.pause_member(frozen)  # returns once it is stopped: the read cannot slip in before
        kv = await etcd.get(etcd_prefix)  # replayed on another member
        assert kv is not None and kv.value == b"before"
        assert etcd.current_member != cluster.members[frozen].client_url
        # `fresh` is still pinned to the frozen member: its write is sent there.
        with pytest.raises(v3.EtcdOutcomeUnknown):
            await fresh.put(etcd_prefix, b"maybe")


async def test_reads_and_writes_after_the_leader_is_killed(cluster: EtcdCluster, etcd_prefix: str) -> None:
    leader = await _leader(cluster)
    async with v3.Client(*_ordered(cluster, leader), transport=v3_transport()) as etcd:
        await etcd.put(etcd_prefix, b"1")
        cluster.stop_member(leader, kill=True)
        kv = await etcd.get(etcd_prefix)
        assert kv is not None and kv.value == b"1"
        written = None
        for _ in range(50):  # a write during the election may be refused or of unknown outcome
            try:
                written = await etcd.put(etcd_prefix, b"2")
                break
            except (v3.EtcdOutcomeUnknown, v3.EtcdUnavailable):
                await asyncio.sleep(0.1)
        assert written is not None
        kv = await etcd.get(etcd_prefix)
        assert kv is not None and kv.value == b"2" and kv.mod_revision == written.revision


def _watchers(cluster: EtcdCluster, skip: int | None = None) -> dict[str, int]:
    """etcd's own count of open watchers, per running member (but ``skip``, which may be frozen)."""
    counts = {}
    for index, member in enumerate(cluster.members):
        if member.running and index != skip:
            with urllib.request.urlopen(member.client_url + "/metrics", timeout=5) as resp:
                found = re.search(r"^etcd_debugging_mvcc_watcher_total (\S+)$", resp.read().decode(), re.M)
            assert found is not None
            counts[member.client_url] = int(float(found.group(1)))
    return counts


@pytest.mark.parametrize("trouble", ["kill", "freeze"])
@pytest.mark.parametrize("mode", MODES)
async def test_shared_watches_move_together_without_loss_or_repeat(
    cluster: EtcdCluster, etcd_prefix: str, mode: str, trouble: str
) -> None:
    """20 identical watches share one etcd watch; their member dies or freezes mid-way; each still
    sees every write once, in order, and they share again where they went."""
    leader = await _leader(cluster)
    follower = (leader + 1) % 3
    async with (
        v3.Client(*_ordered(cluster, follower), watch_probe_interval=0.5, **_watching(mode)) as watcher,
        v3.Client(*_ordered(cluster, leader), transport=v3_transport()) as writer,
        contextlib.AsyncExitStack() as stack,
    ):
        before = await asyncio.to_thread(_watchers, cluster)
        watches = [await stack.enter_async_context(watcher.watch(etcd_prefix + "/", prefix=True)) for _ in range(20)]
        during = await asyncio.to_thread(_watchers, cluster)
        assert sum(during.values()) == sum(before.values()) + 1

        async def write() -> None:
            for i in range(150):
                if i == 50:
                    if trouble == "kill":
                        cluster.stop_member(follower, kill=True)
                    else:
                        cluster.pause_member(follower)
                await writer.put(f"{etcd_prefix}/{i % 7}", str(i))

        writing = asyncio.create_task(write())
        seen = await asyncio.wait_for(asyncio.gather(*(_take(w, 150) for w in watches)), 60)
        await writing
        assert all([int(e.kv.value) for e in events] == list(range(150)) for events in seen)
        assert all(w.resumes >= 1 for w in watches)
        moved_to = {w.member for w in watches}
        assert cluster.members[follower].client_url not in moved_to
        after = await asyncio.to_thread(_watchers, cluster, follower)
        # One etcd watch on each member they moved to, not one per watch.
        assert sum(after.values()) - sum(before[url] for url in after) == len(moved_to)


@pytest.mark.parametrize("mode", MODES)
async def test_a_watch_refuses_a_member_without_quorum(cluster: EtcdCluster, etcd_prefix: str, mode: str) -> None:
    cluster.stop_member(1)
    cluster.stop_member(2)
    async with v3.Client(cluster.endpoints[0], read_timeout=3, **_watching(mode)) as etcd:
        for _ in range(100):  # until the member itself notices
            if not (await etcd.status(cluster.members[0].client_url)).leader:
                break
            await asyncio.sleep(0.1)
        with pytest.raises((v3.EtcdNoLeader, v3.EtcdConnectionFailed)):
            async with etcd.watch(etcd_prefix):
                pass
        kv = await etcd.range(etcd_prefix, serializable=True)  # a member's own copy needs no quorum
        assert kv.count == 0


async def test_member_list_is_learned(cluster: EtcdCluster) -> None:
    async with v3.Client(cluster.endpoints[0], allow_reconnect=True, transport=v3_transport()) as etcd:
        assert sorted(await etcd.sync_members()) == sorted(cluster.client_urls)
        assert len(await etcd.members()) == 3


async def test_a_lock_waiter_whose_member_dies_queues_again(cluster: EtcdCluster, etcd_prefix: str) -> None:
    leader = await _leader(cluster)
    follower = (leader + 1) % 3
    name = etcd_prefix + "-lock"
    async with (
        v3.Client(*_ordered(cluster, leader), transport=v3_transport()) as holder_client,
        v3.Client(*_ordered(cluster, follower), transport=v3_transport()) as waiter,
    ):

        async def queue() -> list[bytes]:
            return [kv.key for kv in await holder_client.range(name + "/", prefix=True, sort=("create", "asc"))]

        async with holder_client.lock(name, ttl=10) as held:
            waiting = asyncio.create_task(waiter.lock(name, ttl=5, timeout=60).acquire())
            while len(keys := await queue()) < 2:  # noqa: ASYNC110 (server state)
                await asyncio.sleep(0.02)
            first_try = keys[1]
            cluster.stop_member(follower, kill=True)  # the waiter's member, mid-wait
            while first_try in (keys := await queue()) or len(keys) < 2:  # noqa: ASYNC110 (server state)
                await asyncio.sleep(0.02)
            assert not waiting.done() and held.is_acquired and keys[0] == held.key
        lock = await asyncio.wait_for(waiting, 30)
        try:
            assert await queue() == [lock.key] == [keys[1]]  # its first key went with its lease
        finally:
            await lock.release()


async def test_observe_continues_across_failover(cluster: EtcdCluster, etcd_prefix: str) -> None:
    leader = await _leader(cluster)
    follower = (leader + 1) % 3
    name = etcd_prefix + "-election"
    async with (
        v3.Client(*_ordered(cluster, follower), watch_probe_interval=0.5, transport=v3_transport()) as observer,
        v3.Client(*_ordered(cluster, leader), transport=v3_transport()) as candidate,
    ):
        seen: list[bytes | None] = []
        counted = [asyncio.Event() for _ in range(3)]

        async def observe() -> None:
            async for kv in observer.election(name).observe():
                seen.append(None if kv is None else kv.value)
                counted[len(seen) - 1].set()
                if len(seen) == 3:
                    return

        watching = asyncio.create_task(observe())
        await asyncio.wait_for(counted[0].wait(), 10)
        election = candidate.election(name, ttl=5)
        async with election.campaign(b"a") as term:
            await asyncio.wait_for(counted[1].wait(), 10)
            cluster.stop_member(follower, kill=True)  # the observer's member
            await term.proclaim(b"b")
            await asyncio.wait_for(watching, 30)
    assert seen == [None, b"a", b"b"]

"""Writes under faults on a real 3-member cluster: a member paused (SIGSTOP) while a write waits at it.

What is checked is the consistency contract: a call that returned OK happened
once, between its call and its return; a copy of it that a paused member
still holds never lands later over newer writes. Each test pauses members of
its own cluster and resumes them before it ends.

The cluster elects slowly (5 s election timeout), so that a paused leader
leaves the others without a leader for long enough that every step below
happens while the write's first attempt is still held by the paused member.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

import aio_etcd as etcd
from aio_etcd import v3
from aio_etcd.testing import EtcdCluster, v3_transport
from aio_etcd.v3 import txn as T

pytestmark = pytest.mark.timeout(90)

MODES = [m.strip() for m in os.environ.get("AIO_ETCD_TEST_APIS", "v2,v3").split(",") if m.strip()]
SLOW_ELECTIONS = ["--election-timeout", "5000", "--heartbeat-interval", "100"]


@pytest.fixture(scope="module", params=MODES)
def cluster(request: pytest.FixtureRequest) -> Iterator[EtcdCluster]:
    """``[v2]``: the v2 API on etcd 3.5; ``[v3]``: a v3-only cluster (``api="v3"`` and aio_etcd.v3)."""
    with EtcdCluster(size=3, v2=request.param == "v2", extra_args=SLOW_ELECTIONS) as server:
        yield server


@pytest.fixture
def api(cluster: EtcdCluster) -> str:
    return "v2" if cluster.v2 else "v3"


@contextlib.contextmanager
def paused(cluster: EtcdCluster, *indexes: int) -> Iterator[None]:
    """Members ``indexes`` frozen (SIGSTOP) inside the block, running again after it."""
    for index in indexes:
        cluster.pause_member(index)
    try:
        yield
    finally:
        for index in indexes:
            cluster.resume_member(index)


def endpoints(cluster: EtcdCluster, first: int) -> tuple[tuple[str, int], ...]:
    """Every member, ``first`` first."""
    ends = cluster.endpoints
    return (ends[first], *(e for i, e in enumerate(ends) if i != first))


def others(cluster: EtcdCluster, index: int) -> tuple[tuple[str, int], ...]:
    return tuple(e for i, e in enumerate(cluster.endpoints) if i != index)


@contextlib.asynccontextmanager
async def client_of(
    cluster: EtcdCluster, api: str, hosts: tuple[tuple[str, int], ...], **options: Any
) -> AsyncIterator[etcd.Client]:
    options.setdefault("v3_transport", v3_transport())
    async with etcd.Client(host=hosts, api=api, **options) as client:
        yield client


async def status(client: v3.Client, member: str) -> tuple[int, int]:
    """``(member id, leader id)`` of one member (the leader id 0 while it knows none)."""
    answer = await client.status(member)
    return answer.member_id, answer.leader or 0


async def new_leader(cluster: EtcdCluster, paused_index: int) -> None:
    """Wait until the members that run elected a leader other than the paused one."""
    running = [m.client_url for i, m in enumerate(cluster.members) if i != paused_index]
    async with v3.Client(*others(cluster, paused_index), allow_reconnect=False, transport=v3_transport()) as c:
        for _ in range(300):
            try:
                seen = [await status(c, url) for url in running]
            except etcd.EtcdException:
                seen = []
            leaders = {leader for _, leader in seen}
            # Every running member names the same leader, and it is one of them.
            if seen and len(leaders) == 1 and leaders <= {member for member, _ in seen}:
                return
            await asyncio.sleep(0.1)
    raise AssertionError("the running members elected no new leader")


async def settle(cluster: EtcdCluster, api: str, index: int) -> None:
    """After member ``index`` ran again: a write made through it alone, so that whatever it
    still held was proposed before, and is applied by the time this returns."""
    async with client_of(cluster, api, (cluster.endpoints[index],), allow_reconnect=False) as only:
        for _ in range(100):
            try:
                await only.write("/faults/sync", "x", timeout=5)
                return
            except etcd.EtcdException:
                await asyncio.sleep(0.1)
    raise AssertionError(f"member {index} did not take a write after it ran again")


async def test_an_acknowledged_write_is_never_undone_by_a_late_copy(cluster: EtcdCluster, api: str) -> None:
    leader = cluster.leader_index()
    assert leader is not None
    async with client_of(cluster, api, endpoints(cluster, leader)) as a, client_of(
        cluster, api, others(cluster, leader)
    ) as b:
        await a.write("/faults/k", "init")
        assert a.base_uri.endswith(f":{cluster.endpoints[leader][1]}")  # a talks to the leader
        outcome: str
        with paused(cluster, leader):
            try:
                await a.write("/faults/k", "old")
                outcome = "ok"
            except etcd.EtcdOutcomeUnknown as exc:
                outcome = "settled" if exc.settled else "unknown"
            await new_leader(cluster, leader)
            await b.write("/faults/k", "new")
            assert (await b.read("/faults/k", quorum=True)).value == "new"
        await settle(cluster, api, leader)
        final = (await b.read("/faults/k", quorum=True)).value
    if api == "v3":
        # On a v3 store the write is repeated safely: the caller never notices the pause.
        assert outcome == "ok"
    else:
        # Over v2 nothing can guard a second copy: the write is not sent again.
        assert outcome == "unknown"
    if outcome == "ok":
        assert final == "new", "an acknowledged write was applied again after a newer one"


async def test_an_acknowledged_delete_never_removes_a_newer_value(cluster: EtcdCluster, api: str) -> None:
    leader = cluster.leader_index()
    assert leader is not None
    async with client_of(cluster, api, endpoints(cluster, leader)) as a, client_of(
        cluster, api, others(cluster, leader)
    ) as b:
        await a.write("/faults/d", "init")
        with paused(cluster, leader):
            try:
                await a.delete("/faults/d")
                deleted = True
            except etcd.EtcdOutcomeUnknown:
                deleted = False
            await new_leader(cluster, leader)
            await b.write("/faults/d", "new")
        await settle(cluster, api, leader)
        try:
            final = (await b.read("/faults/d", quorum=True)).value
        except etcd.EtcdKeyNotFound:
            final = None  # the paused member's copy of an unknown delete landed: allowed, it was not acknowledged
    if api == "v3":
        assert deleted
    if deleted:
        assert final == "new", "an acknowledged delete was applied again after a newer write"


@pytest.mark.parametrize("client_kind", ["keys", "v3"])
async def test_a_compare_and_swap_waits_for_its_member_while_it_answers(
    cluster: EtcdCluster, api: str, client_kind: str
) -> None:
    """With both followers paused the leader holds a proposal it cannot commit; once they run
    again it commits it. The caller waits for that answer instead of giving up after
    attempt_timeout (1 s) with an outcome it could not resolve."""
    if client_kind == "v3" and cluster.v2:
        pytest.skip("the v3 client runs on the v3-only cluster")
    leader = cluster.leader_index()
    assert leader is not None
    followers = [i for i in range(3) if i != leader]
    loop = asyncio.get_running_loop()
    if client_kind == "keys":
        async with client_of(cluster, api, endpoints(cluster, leader)) as a:
            await a.write("/faults/cas", "1")
            with paused(cluster, *followers):
                started = loop.time()
                swap = asyncio.ensure_future(a.write("/faults/cas", "2", prevValue="1"))
                await asyncio.sleep(2.5)  # the fault's length, not a synchronisation
                assert not swap.done(), "the call ended while its member held it"
            result = await swap
            assert result.value == "2"
            assert loop.time() - started >= 2.5
            assert (await a.read("/faults/cas", quorum=True)).value == "2"
        return
    async with v3.Client(*endpoints(cluster, leader), transport=v3_transport()) as c:
        await c.put("/faults/cas3", b"1")
        with paused(cluster, *followers):
            swap3 = asyncio.ensure_future(
                c.txn().if_(T.value("/faults/cas3") == b"1").then(T.put("/faults/cas3", b"2")).commit()
            )
            await asyncio.sleep(2.5)
            assert not swap3.done(), "the call ended while its member held it"
        assert (await swap3).succeeded
        kv = await c.get("/faults/cas3")
        assert kv is not None and kv.value == b"2"


async def test_a_not_found_error_names_an_index_at_which_the_key_did_not_exist(
    cluster: EtcdCluster, api: str
) -> None:
    """Reads racing with the creation of the keys they read: the index of every "not found"
    is one at which the key was indeed missing (a watch from index + 1 sees its creation)."""
    count = 150
    async with client_of(cluster, api, cluster.endpoints) as writer, client_of(
        cluster, api, cluster.endpoints
    ) as reader:
        missed: dict[int, int] = {}
        reader_ahead = asyncio.Event()

        async def write_all() -> None:
            await reader_ahead.wait()  # the reader waits for each key as it is written
            for i in range(count):
                await writer.write(f"/faults/nf/{i}", "x")

        async def read_all() -> None:
            for i in range(count):
                while True:
                    try:
                        await reader.read(f"/faults/nf/{i}", quorum=True)
                        break
                    except etcd.EtcdKeyNotFound as exc:
                        index = exc.index
                        assert index is not None
                        missed[i] = max(missed.get(i, 0), index)
                        reader_ahead.set()

        await asyncio.gather(write_all(), read_all())
        assert missed, "no read raced with a creation: the test proved nothing"
        for i, index in missed.items():
            created = (await reader.read(f"/faults/nf/{i}")).createdIndex
            assert created is not None, f"/faults/nf/{i}"
            assert created > index, f"/faults/nf/{i}: not found at {index}, created at {created}"
        await writer.delete("/faults/nf", recursive=True)

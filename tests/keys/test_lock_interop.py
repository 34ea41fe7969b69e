"""One lock, three kinds of holders: ``aio_etcd.Lock`` on ``Client(api="v3")``,
``aio_etcd.v3`` ``client.lock()`` (etcd's Lock service) and ``etcdctl lock``
(Go's ``concurrency.Mutex``), on a real etcd without the v2 API.

Each holder increments a counter read-modify-write under the lock and records
the store revision of its read and of its write. Holders that exclude each
other lose no increment, and their [read, write] intervals of revisions do
not overlap. The etcd and etcdctl used are those of ``etcd_v3_server`` (etcd
3.5.1, or the one ``ETCD_BIN`` names: 3.6/3.7 builds keep etcdctl beside etcd).
"""

from __future__ import annotations

import asyncio
import itertools
import os
import sys
import uuid
from pathlib import Path

import pytest

import aio_etcd as etcd
from aio_etcd import v3
from aio_etcd.lock import Lock
from aio_etcd.testing import EtcdCluster, v3_transport

ROOT = Path(__file__).resolve().parents[2]

#: Rounds of each in-process worker, and the etcdctl holders (processes) in all.
ROUNDS = 4
LOCK_WORKERS = 3
V3_WORKERS = 3
ETCDCTL_HOLDERS = 6
ETCDCTL_AT_ONCE = 3

#: The critical section of an etcdctl holder: read the counter, let others
#: run, write it plus one; print the revisions of the read and the write, and
#: the creation revision of the lock's key (etcdctl names the key in ETCD_LOCK_KEY;
#: its ETCD_LOCK_REV is the revision of etcdctl's last answer, not the key's).
INCREMENT = """
import asyncio, os, sys
from aio_etcd import v3

async def main(url, counter):
    host, port = url.rsplit("/", 1)[1].rsplit(":", 1)
    async with v3.Client((host, int(port))) as client:
        mine = await client.get(os.environ["ETCD_LOCK_KEY"])
        read = await client.range(counter)
        await asyncio.sleep(0.05)
        put = await client.put(counter, int(read.kvs[0].value) + 1)
    print("holder", read.revision, put.revision, mine.create_revision, os.environ["ETCD_LOCK_KEY"])

asyncio.run(main(sys.argv[1], sys.argv[2]))
"""


async def test_three_kinds_of_holders_exclude_each_other(etcd_v3_server: EtcdCluster, tmp_path: Path) -> None:
    name = f"interop-{uuid.uuid4().hex[:12]}"
    counter = f"/{name}-counter"
    etcdctl = str(Path(etcd_v3_server.binary or "").parent / "etcdctl")
    script = tmp_path / "increment.py"
    script.write_text(INCREMENT)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    # (read revision, write revision, fencing token, kind) of every critical section.
    sections: list[tuple[int, int, int, str]] = []

    async with etcd_v3_server.client(api="v3") as client, etcd_v3_server.v3_client() as v3client:
        await v3client.put(counter, 0)

        async def increment(kind: str, token: int) -> None:
            read = await v3client.range(counter)
            await asyncio.sleep(0.05)  # others run meanwhile: without exclusion they read the same value
            put = await v3client.put(counter, int(read.kvs[0].value) + 1)
            sections.append((read.revision, put.revision, token, kind))

        async def lock_worker() -> None:
            for _ in range(ROUNDS):
                async with Lock(client, name, ttl=10) as lock:
                    assert lock.fencing_token is not None
                    await increment("Lock", lock.fencing_token)

        async def v3_worker() -> None:
            for _ in range(ROUNDS):
                async with v3client.lock(name, ttl=10) as held:
                    assert held.key.startswith(name.encode() + b"/")
                    await increment("v3.lock", held.revision)

        at_once = asyncio.Semaphore(ETCDCTL_AT_ONCE)

        async def etcdctl_holder() -> None:
            async with at_once:
                process = await asyncio.create_subprocess_exec(
                    etcdctl,
                    f"--endpoints={etcd_v3_server.url}",
                    "lock",
                    name,
                    "--",
                    sys.executable,
                    str(script),
                    etcd_v3_server.url,
                    counter,
                    stdout=asyncio.subprocess.PIPE,
                    stderr=asyncio.subprocess.PIPE,
                    env=env,
                )
                out, err = await process.communicate()
            assert process.returncode == 0, err.decode()
            line = next(line for line in out.decode().splitlines() if line.startswith("holder "))
            _, read, put, token, key = line.split()
            assert key.startswith(name + "/")
            sections.append((int(read), int(put), int(token), "etcdctl"))

        workers = [lock_worker() for _ in range(LOCK_WORKERS)]
        workers += [v3_worker() for _ in range(V3_WORKERS)]
        workers += [etcdctl_holder() for _ in range(ETCDCTL_HOLDERS)]
        await asyncio.wait_for(asyncio.gather(*workers), 120)

        total = (LOCK_WORKERS + V3_WORKERS) * ROUNDS + ETCDCTL_HOLDERS
        kv = await v3client.get(counter)
        assert kv is not None
        assert len(sections) == total
        assert {kind for *_, kind in sections} == {"Lock", "v3.lock", "etcdctl"}
        sections.sort(key=lambda section: section[1])
        overlaps = [(before, after) for before, after in itertools.pairwise(sections) if after[0] < before[1]]
        lost = total - int(kv.value)
        assert (overlaps, lost) == ([], 0), f"{len(overlaps)} overlaps ({overlaps[:3]}), {lost} increments lost"
        # Each later holder has a larger fencing token, whichever kind it is.
        tokens = [token for _, _, token, _ in sections]
        assert tokens == sorted(tokens) and len(set(tokens)) == len(tokens)
        # Nothing is left in the lock's queue.
        assert len(await v3client.range(name + "/", prefix=True)) == 0
        await v3client.delete(counter)


async def _queued(v3client: v3.Client, name: str, start: int) -> tuple[str, str, int]:
    """The next key created in the queue of ``name`` after revision ``start``: (key, value, revision)."""
    async with v3client.watch(name + "/", prefix=True, start_revision=start + 1) as events:
        async for event in events:
            if event.type == "PUT" and event.kv.version == 1:
                return event.kv.key_text, event.kv.text, event.kv.create_revision
    raise AssertionError("the watch ended")


async def test_fifo_and_cancellation_across_kinds(etcd_v3_server: EtcdCluster) -> None:
    name = f"interop-{uuid.uuid4().hex[:12]}"
    marks = f"/{name}-order/"
    etcdctl = str(Path(etcd_v3_server.binary or "").parent / "etcdctl")
    endpoints = f"--endpoints={etcd_v3_server.url}"
    async with etcd_v3_server.client(api="v3") as client, etcd_v3_server.v3_client() as v3client:
        async with v3client.lock(name, ttl=10) as held:
            # A holder that is not a Lock: a Lock sees it, and does not get ahead of it.
            lock = Lock(client, name)
            assert await lock.holder() == ""
            assert await lock.acquire(blocking=False) is False
            assert await lock.acquire(timeout=0.2) is False
            assert [kv.key for kv in await v3client.range(name + "/", prefix=True)] == [held.key]

            # A cancelled waiter leaves no key that would hold up the others.
            start = await v3client.revision()
            waiting = asyncio.create_task(lock.acquire(lock_ttl=10))
            key, value, _ = await asyncio.wait_for(_queued(v3client, name, start), 10)
            assert value == lock.uuid and key.startswith(name + "/")
            waiting.cancel()
            with pytest.raises(asyncio.CancelledError):
                await waiting
            assert [kv.key for kv in await v3client.range(name + "/", prefix=True)] == [held.key]

            # Four waiters of three kinds queue behind the holder, in this order.
            async def by_lock(mark: str) -> None:
                async with Lock(client, name, ttl=10):
                    await v3client.put(marks + mark, "")

            async def by_v3(mark: str) -> None:
                async with v3client.lock(name, ttl=10):
                    await v3client.put(marks + mark, "")

            async def by_etcdctl(mark: str) -> None:
                process = await asyncio.create_subprocess_exec(
                    etcdctl, endpoints, "lock", name, "--", etcdctl, endpoints, "put", marks + mark, "",
                    stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
                )  # fmt: skip
                _, err = await process.communicate()
                assert process.returncode == 0, err.decode()

            waiters = []
            revisions = []
            for mark, waiter in (("1", by_lock), ("2", by_v3), ("3", by_etcdctl), ("4", by_lock)):
                start = await v3client.revision()
                waiters.append(asyncio.create_task(waiter(mark)))
                revisions.append((await asyncio.wait_for(_queued(v3client, name, start), 20))[2])
            assert revisions == sorted(revisions)
            await asyncio.sleep(0.3)
            assert not any(task.done() for task in waiters)  # nobody got ahead of the holder
        await asyncio.wait_for(asyncio.gather(*waiters), 60)
        order = sorted((await v3client.range(marks, prefix=True)).kvs, key=lambda kv: kv.create_revision)
        assert [kv.key_text[len(marks) :] for kv in order] == ["1", "2", "3", "4"]
        assert len(await v3client.range(name + "/", prefix=True)) == 0
        await v3client.delete(marks, prefix=True)


async def test_keys_are_outside_the_clients_prefixes(etcd_v3_server: EtcdCluster) -> None:
    # etcdctl and the v3 client look at <name>/: so does a Lock whose client has a v3_prefix and a lock_prefix.
    name = f"interop-{uuid.uuid4().hex[:12]}"
    async with (
        etcd_v3_server.client(api="v3", v3_prefix="/app", lock_prefix="/mylocks") as client,
        etcd_v3_server.v3_client() as v3client,
    ):
        lock = Lock(client, name)
        assert await lock.acquire(lock_ttl=10)
        assert lock.path == name and lock.key is not None and lock.key.startswith(name + "/")
        kv = await v3client.get(lock.key)
        assert kv is not None and kv.text == lock.uuid and kv.create_revision == lock.fencing_token
        with pytest.raises(v3.EtcdLockTimeout):
            async with v3client.lock(name, ttl=10, timeout=0.3):
                pass
        await lock.release()
        async with v3client.lock(name, ttl=10, timeout=10) as held:
            assert lock.fencing_token is None and held.revision > kv.create_revision
        assert len(await v3client.range(name + "/", prefix=True)) == 0


#: The TTL of the locks held through a leader kill: room for an election on a busy machine (3 s
#: lost the lock in one CI run: a holder gives up when no keep-alive got through within its TTL).
KILL_TTL = 6


async def test_a_leader_kill_costs_no_lock() -> None:
    # The keep-alive of a held Lock (a lease of 6 s) and of a waiting v3 lock
    # go on through an election: the holder keeps the lock, the waiter waits.
    name = f"interop-{uuid.uuid4().hex[:12]}"
    with EtcdCluster(size=3, v2=False) as cluster:
        leader = None
        for _ in range(200):
            leader = await asyncio.to_thread(cluster.leader_index)
            if leader is not None:
                break
            await asyncio.sleep(0.05)
        assert leader is not None
        endpoints = list(cluster.endpoints)
        endpoints.insert(0, endpoints.pop(leader))  # talk to the leader first: the hardest case
        async with (
            etcd.Client(host=tuple(endpoints), api="v3", v3_transport=v3_transport()) as client,
            v3.Client(*endpoints, transport=v3_transport()) as v3client,
            v3.Client(*reversed(endpoints), transport=v3_transport()) as observer,
        ):
            async with Lock(client, name, ttl=KILL_TTL) as lock:
                assert lock.key is not None
                start = await observer.revision()
                waiter = asyncio.create_task(v3client.lock(name, ttl=KILL_TTL).acquire())
                await asyncio.wait_for(_queued(observer, name, start), 20)
                await asyncio.to_thread(cluster.stop_member, leader, kill=True)
                await asyncio.sleep(KILL_TTL + 2)  # longer than the TTL: only the keep-alives keep the keys
                assert lock.is_acquired and not lock.lost.is_set() and await lock.check()
                assert not waiter.done()
                # The holder's key was never deleted (it would be, had its lease run out).
                kv = await observer.get(lock.key)
                assert kv is not None and kv.create_revision == lock.fencing_token
                token = lock.fencing_token
            held = await asyncio.wait_for(waiter, 20)
            assert token is not None and held.revision > token
            await held.release()
            assert len(await observer.range(name + "/", prefix=True)) == 0

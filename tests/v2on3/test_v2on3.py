"""Client(api="v3"): the v2 keys API on a v3 store, on real etcd (3.5.1; 3.6/3.7 with ETCD_BIN).

The v2 tests themselves run in this mode too (``BOTH_APIS`` in test_keys,
test_watch, test_lock, test_readme); these tests cover what is particular to
it: the layout in v3, atomicity under concurrency, api="auto", failover.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
from collections.abc import AsyncIterator
from typing import Any

import pytest
from conftest import no_watchers

import aio_etcd as etcd
from aio_etcd import v3
from aio_etcd.testing import EtcdCluster, wait_for_watchers

pytestmark = pytest.mark.timeout(120)

#: The module's own 3-member cluster (``three``) serves v3 only: its client takes api="v3".
V2 = False


@pytest.fixture
async def keys(etcd_v3_server: EtcdCluster) -> AsyncIterator[etcd.Client]:
    async with etcd_v3_server.client() as client:
        assert client.api == "v3"
        yield client


@pytest.fixture
async def raw(etcd_v3_server: EtcdCluster) -> AsyncIterator[v3.Client]:
    async with etcd_v3_server.v3_client() as client:
        yield client


async def _raw_tree(raw: v3.Client, prefix: str) -> dict[bytes, tuple[bytes, bool]]:
    """Every v3 key under ``prefix``: its value and whether it has a lease."""
    found = await raw.range(prefix.encode(), prefix=True)
    return {kv.key: (kv.value, bool(kv.lease)) for kv in found.kvs}


async def test_the_layout_in_v3(keys: etcd.Client, raw: v3.Client, etcd_prefix: str) -> None:
    p = etcd_prefix
    await keys.write(p + "/a/b", "1")
    await keys.write(p + "/svc/web/1", "10.0.0.1", ttl=30)
    await keys.write(p + "/empty", None, dir=True)
    await keys.write(p + "/gone/k", "x")
    await keys.delete(p + "/gone/k")
    first = await keys.write(p + "/q", "job", append=True)
    assert await _raw_tree(raw, p) == {
        f"{p}/a/b".encode(): (b"1", False),  # a key is a v3 key of the same name and value
        f"{p}/svc/web/".encode(): (b"", False),  # the directory of a key with a TTL has a marker
        f"{p}/svc/web/1".encode(): (b"10.0.0.1", True),  # a TTL is a lease
        f"{p}/empty/".encode(): (b"", False),  # an empty directory is its marker
        f"{p}/gone/".encode(): (b"", False),  # a directory emptied by a delete keeps a marker
        f"{first.key}".encode(): (b"job", False),
    }
    kv = await raw.get(f"{p}/svc/web/1")
    assert kv is not None and 28 <= (await raw.time_to_live(kv.lease)).ttl <= 30
    assert first.key is not None and len(first.key.rsplit("/", 1)[1]) == 20
    # And the other way: keys a v3 program writes are v2 keys and directories.
    await raw.put(f"{p}/from-v3/x", b"y")
    listing = await keys.read(p + "/from-v3", recursive=True)
    assert listing.dir and [(n.key, n.value) for n in listing.leaves] == [(f"{p}/from-v3/x", "y")]
    assert (await keys.read(p + "/a/b")).modifiedIndex == (await raw.get(f"{p}/a/b")).mod_revision  # type: ignore[union-attr]


async def test_a_prefix_keeps_the_key_space_apart(
    etcd_v3_server: EtcdCluster, raw: v3.Client, etcd_prefix: str
) -> None:
    async with etcd_v3_server.client(v3_prefix="/tenant-a") as tenant:
        await tenant.write(etcd_prefix + "/k", "v")
        assert (await tenant.read(etcd_prefix + "/k")).key == etcd_prefix + "/k"
    kv = await raw.get(f"/tenant-a{etcd_prefix}/k")
    assert kv is not None and kv.value == b"v"
    assert await raw.get(f"{etcd_prefix}/k") is None
    with pytest.raises(ValueError, match="prefix"):
        etcd.Client(api="v3", v3_prefix="/ends-with/")


async def test_concurrent_compare_and_swap_loses_no_update(keys: etcd.Client, etcd_prefix: str) -> None:
    key = etcd_prefix + "/counter"
    await keys.write(key, 0)

    async def add(times: int) -> int:
        conflicts = 0
        for _ in range(times):
            while True:
                current = await keys.read(key)
                try:
                    await keys.write(key, int(current.value or 0) + 1, prevIndex=current.modifiedIndex)
                    break
                except etcd.EtcdCompareFailed:
                    conflicts += 1
        return conflicts

    conflicts = await asyncio.gather(*(add(10) for _ in range(20)))
    assert (await keys.read(key)).value == "200"  # every increment counted once
    assert sum(conflicts) > 0  # and they did race


async def test_concurrent_appends_are_named_in_creation_order(keys: etcd.Client, etcd_prefix: str) -> None:
    queue = etcd_prefix + "/queue"

    async def append(worker: int) -> list[etcd.EtcdResult]:
        return [await keys.write(queue, f"{worker}-{i}", append=True) for i in range(10)]

    made = list(itertools.chain(*await asyncio.gather(*(append(w) for w in range(10)))))
    names = [r.key for r in made]
    assert len(set(names)) == 100
    by_creation = sorted(made, key=lambda r: r.createdIndex or 0)
    assert [r.key for r in by_creation] == sorted(names)  # a later key always sorts after
    listing = await keys.read(queue, sorted=True)
    assert [n.value for n in listing.leaves] == [r.value for r in by_creation]


async def test_only_one_of_racing_creates_wins(keys: etcd.Client, etcd_prefix: str) -> None:
    key = etcd_prefix + "/leader"
    outcomes = await asyncio.gather(
        *(keys.write(key, f"candidate-{i}", prevExist=False) for i in range(20)), return_exceptions=True
    )
    won = [o for o in outcomes if isinstance(o, etcd.EtcdResult)]
    assert len(won) == 1 and won[0].action == "create"
    assert all(isinstance(o, etcd.EtcdAlreadyExist) for o in outcomes if o not in won)
    assert (await keys.read(key)).value == won[0].value


async def test_a_key_and_a_directory_of_one_name_never_both_exist(
    keys: etcd.Client, raw: v3.Client, etcd_prefix: str
) -> None:
    for round_no in range(10):
        name = f"{etcd_prefix}/race{round_no}"
        outcomes = await asyncio.gather(
            keys.write(name, "a key"), keys.write(name + "/child", "in a directory"), return_exceptions=True
        )
        refused = [o for o in outcomes if isinstance(o, Exception)]
        assert len(refused) == 1 and isinstance(refused[0], (etcd.EtcdNotFile, etcd.EtcdNotDir))
        stored = await _raw_tree(raw, name)
        assert (name.encode() in stored) != any(k.startswith(name.encode() + b"/") for k in stored)


async def test_refused_writes_leave_nothing_behind(keys: etcd.Client, raw: v3.Client, etcd_prefix: str) -> None:
    await keys.write(etcd_prefix + "/file", "v")
    before = await _raw_tree(raw, etcd_prefix)
    for call in (
        keys.write(etcd_prefix + "/file/below", "x"),
        keys.write(etcd_prefix + "/file", "x", prevValue="nope"),
        keys.write(etcd_prefix + "/file", None, dir=True, prevExist=False),
        keys.delete(etcd_prefix + "/file", prevIndex=1),
        keys.write(etcd_prefix + "/file", "x", append=True),
    ):
        with pytest.raises(etcd.EtcdException):
            await call
    assert await _raw_tree(raw, etcd_prefix) == before


async def test_a_watch_sees_neither_refreshes_nor_directory_bookkeeping(keys: etcd.Client, etcd_prefix: str) -> None:
    key = etcd_prefix + "/svc/a"
    written = await keys.write(key, "up", ttl=30)
    start = (written.modifiedIndex or 0) + 1
    await keys.refresh(key, ttl=60)  # another TTL: a new lease under the key
    await keys.refresh(key, ttl=60)  # the same TTL: the lease is renewed
    deleted = await keys.delete(key)  # its directory keeps a marker
    event = await keys.watch(etcd_prefix + "/svc", index=start, recursive=True, timeout=10)
    assert (event.action, event.key, event.modifiedIndex) == ("delete", key, deleted.modifiedIndex)
    made = await keys.write(etcd_prefix + "/svc/new", None, dir=True)
    event = await keys.watch(etcd_prefix + "/svc", index=(deleted.modifiedIndex or 0) + 1, recursive=True, timeout=10)
    assert (event.action, event.key, event.dir) == ("set", etcd_prefix + "/svc/new", True)
    assert event.modifiedIndex == made.modifiedIndex


async def test_an_expired_key_is_an_expire_event(keys: etcd.Client, etcd_prefix: str) -> None:
    key = etcd_prefix + "/short"
    written = await keys.write(key, "v", ttl=2)
    event = await keys.watch(key, index=(written.modifiedIndex or 0) + 1, timeout=15)
    assert (event.action, event.key) == ("expire", key)
    assert event.prev_node is not None and event.prev_node.value == "v"
    assert (await keys.read(etcd_prefix)).dir  # its directory outlives it


async def test_watch_iter_and_eternal_watch_follow_one_v3_watch(
    keys: etcd.Client, etcd_prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # One v3 watch per event started each in the past, which etcd catches up
    # only every 100 ms: watch_iter fell behind any write rate above 10/s.
    v3_client = keys.v3_client
    assert v3_client is not None
    opened: list[v3.Watch] = []
    real_watch = v3_client.watch

    def counting_watch(*args: Any, **options: Any) -> v3.Watch:
        opened.append(real_watch(*args, **options))
        return opened[-1]

    monkeypatch.setattr(v3_client, "watch", counting_watch)
    top = etcd_prefix + "/rate"
    start = (await keys.write(top + "/start", "0")).modifiedIndex or 0

    async def changes(count: int, first: int) -> list[etcd.EtcdResult]:
        done = []
        for i in range(first, first + count):
            if i % 10 == 9:
                done.append(await keys.delete(f"{top}/k{(i - 1) % 7}"))
            else:
                done.append(await keys.write(f"{top}/k{i % 7}", i))
        return done

    expected = await changes(40, 0)  # in the history when the iterator starts
    seen: list[tuple[str | None, str | None, int | None]] = []
    events = keys.watch_iter(top, index=start + 1, recursive=True)
    async for event in events:
        seen.append((event.action, event.key, event.modifiedIndex))
        if len(seen) == 20:
            expected += await changes(40, 40)  # and while it runs
        if len(seen) == 80:
            break
    await events.aclose()
    assert seen == [(e.action, e.key, e.modifiedIndex) for e in expected]  # in order, none lost or twice
    assert len(opened) == 1
    await no_watchers(keys)  # closed with the iterator

    got: list[int | None] = []

    def callback(event: etcd.EtcdResult) -> None:
        got.append(event.modifiedIndex)
        if len(got) == 80:
            raise etcd.StopWatching

    index = await keys.eternal_watch(top, callback, index=start + 1, recursive=True)
    assert got == [e.modifiedIndex for e in expected] and index == (expected[-1].modifiedIndex or 0) + 1
    assert len(opened) == 2
    await no_watchers(keys)


async def test_auto_picks_the_api_the_server_has(etcd_server: EtcdCluster, etcd_v3_server: EtcdCluster) -> None:
    async with etcd.Client(host=etcd_server.host, port=etcd_server.port, api="auto") as on_v2:
        assert on_v2.api == "auto"
        await on_v2.write("/auto-probe", "v")
        assert on_v2.api == "v2" and on_v2.v3_client is None
    async with etcd_v3_server.client(api="auto") as on_v3:  # on the transport of AIO_ETCD_V3_TRANSPORT
        assert (await on_v3.write("/auto-probe", "v")).value == "v"
        assert on_v3.api == "v3" and on_v3.v3_client is not None
    with pytest.raises(ValueError, match="api"):
        etcd.Client(api="v4")


@pytest.mark.parametrize("transport", ["gateway", "grpc"])
async def test_the_v3_transport_carries_the_keys_and_the_http_requests(
    etcd_v3_server: EtcdCluster, etcd_prefix: str, transport: str
) -> None:
    # v3_transport picks the v3 client's transport; the requests made as they are (/version,
    # /metrics, api_execute) are HTTP, which gRPC does not carry: on gRPC a gateway client of the
    # same members sends them, and they answer as on the gateway.
    async with etcd_v3_server.client(v3_transport=transport) as client:
        assert client.v3_client is not None and client.v3_client.transport == transport
        await client.write(etcd_prefix + "/t", "v", ttl=30)
        await no_watchers(client)  # store_stats: the /metrics of the member watched
        watcher = asyncio.ensure_future(client.watch(etcd_prefix + "/t"))
        await wait_for_watchers(client, 1)
        await client.write(etcd_prefix + "/t", "w")
        assert (await watcher).value == "w"
        versions = await client.versions()
        assert versions["etcdserver"].startswith("3.") and versions["etcdcluster"].startswith("3.")
        answer = await client.api_execute("/health", "GET")
        assert answer.status == 200 and b"true" in answer.body
        assert (await client.read(etcd_prefix + "/t")).value == "w"
    with pytest.raises(ValueError, match="v3_transport"):
        etcd.Client(api="v3", v3_transport="http")
    with pytest.raises(ValueError, match="exclude each other"):
        etcd.Client(api="v3", v3_transport="grpc", transport=object())  # type: ignore[arg-type]


async def test_failover_and_a_watch_across_a_member_kill(three: EtcdCluster, etcd_prefix: str) -> None:
    async with three.client() as client:
        key = etcd_prefix + "/ha"
        written = await client.write(key, "before")
        pinned = client.base_uri
        victim = next(i for i, m in enumerate(three.members) if m.client_url == pinned)
        watching = asyncio.create_task(client.watch(key, index=(written.modifiedIndex or 0) + 1))
        await asyncio.sleep(0)
        three.stop_member(victim, kill=True)
        try:
            after = await client.write(key, "after")  # another member takes it
            assert (await client.read(key)).value == "after"
            event = await asyncio.wait_for(watching, 30)  # the watch resumed on another member
            assert (event.value, event.modifiedIndex) == ("after", after.modifiedIndex)
            assert client.base_uri != pinned
        finally:
            three.start_member(victim)


async def _app_view(client: etcd.Client, top: str) -> list[tuple[str | None, str | None, bool]]:
    """What an app reads of its tree: every node, in order, with its value and kind."""
    tree = await client.read(top, recursive=True, sorted=True)
    return [(node.key, node.value, node.dir) for node in tree.get_subtree()]


async def test_an_app_moves_from_v2_to_api_v3_after_a_migration(
    etcd_server: EtcdCluster, etcd_v3_server: EtcdCluster, etcd_prefix: str
) -> None:
    from aio_etcd.migrate import migrate

    top = etcd_prefix + "/app"
    async with etcd_server.client() as on_v2:  # the app on its v2 server
        await on_v2.write(top + "/cfg/a", "1")
        await on_v2.write(top + "/cfg/deep/b", "2")
        await on_v2.write(top + "/svc/web/1", "10.0.0.1", ttl=60)
        await on_v2.write(top + "/empty", None, dir=True)
        for job in ("j1", "j2"):
            await on_v2.write(top + "/jobs", job, append=True)
        await on_v2.write(top + "/_hidden", "h")
        before = await _app_view(on_v2, top)
        async with etcd_v3_server.v3_client() as dest:
            report = await migrate(on_v2, dest, prefix=top, keep_empty_dirs=True, verify_after=True)
        assert report.differences == [] and report.conflicts == []
    async with etcd_v3_server.client(api="v3") as on_v3:
        assert await _app_view(on_v3, top) == before  # the same tree, node for node
        svc = await on_v3.read(top + "/svc/web/1")
        assert svc.value == "10.0.0.1" and svc.ttl is not None and 50 <= svc.ttl <= 60
        # The app goes on: its queue stays in order, its directories outlive their keys.
        third = await on_v3.write(top + "/jobs", "j3", append=True)
        jobs = await on_v3.read(top + "/jobs", sorted=True)
        assert [n.value for n in jobs.leaves] == ["j1", "j2", "j3"]
        assert third.key == max(n.key or "" for n in jobs.leaves)
        await on_v3.delete(top + "/svc/web/1")
        assert (await on_v3.read(top + "/svc/web")).dir
        assert (await on_v3.read(top + "/empty")).dir


async def test_no_value_is_an_empty_value(keys: etcd.Client, raw: v3.Client, etcd_prefix: str) -> None:
    await keys.write(etcd_prefix + "/none", None)  # v2 stores a write without a value as ""
    assert (await keys.read(etcd_prefix + "/none")).value == ""
    kv = await raw.get(etcd_prefix + "/none")
    assert kv is not None and kv.value == b""


async def test_a_refresh_never_renews_a_lease_other_keys_share(
    keys: etcd.Client, raw: v3.Client, etcd_prefix: str
) -> None:
    # What a migration writes: keys that expire within half a second of each other share a lease.
    shared = await raw.grant(30)
    for name in ("a", "b"):
        await raw.put(f"{etcd_prefix}/{name}", b"v", lease=shared)
    refreshed = await keys.refresh(etcd_prefix + "/a", ttl=30)  # the lease's own TTL, but not this client's
    assert refreshed.ttl == 30 and refreshed.value == "v"
    a, b = await raw.get(f"{etcd_prefix}/a"), await raw.get(f"{etcd_prefix}/b")
    assert a is not None and b is not None
    assert a.lease not in (0, shared.id) and b.lease == shared.id  # /a moved; /b's lease was not renewed


async def test_the_leases_a_client_remembers_are_bounded(
    keys: etcd.Client, etcd_prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from aio_etcd.v2on3 import _keys
    from aio_etcd.v2on3._backend import StoreKeys

    monkeypatch.setattr(_keys, "REMEMBERED", 2)
    backend = keys.backend
    assert isinstance(backend, StoreKeys)
    store = backend.store
    store.granted.clear()
    written = [await keys.write(f"{etcd_prefix}/k{i}", "v", ttl=30) for i in range(5)]
    assert len(store.granted) == 2  # a service writing TTL keys all day holds no more
    v3 = keys.v3_client
    assert v3 is not None
    before = await v3.get(f"{etcd_prefix}/k4")
    newest = await keys.refresh(f"{etcd_prefix}/k4", ttl=30)  # remembered: its lease is renewed in place
    after = await v3.get(f"{etcd_prefix}/k4")
    assert before is not None and after is not None and after.lease == before.lease
    # As in v2, the refresh takes an index.
    assert (newest.modifiedIndex or 0) > (written[4].modifiedIndex or 0)
    oldest = await keys.refresh(f"{etcd_prefix}/k0", ttl=30)  # forgotten: the key moves to a new lease
    assert (oldest.modifiedIndex or 0) > (written[4].modifiedIndex or 0) and oldest.ttl == 30


async def test_a_listing_reads_the_children_only(
    keys: etcd.Client, etcd_prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A read without recursive passes over what large sub-directories hold: each range stops
    at a limit, and one that was inside a sub-directory from its first key on is followed by
    one past it."""
    from aio_etcd.v2on3 import _reads

    monkeypatch.setattr(_reads, "LIST_BATCH", 4)
    monkeypatch.setattr(_reads, "LIST_PEEK", 2)
    p = etcd_prefix
    await keys.write(p + "/a", "1")
    # Written last to first: the oldest is the last in key order, never in the first range.
    big = [await keys.write(f"{p}/big/k{i:03}", "v") for i in reversed(range(30))]
    made = await keys.write(p + "/m", None, dir=True, ttl=60)
    await keys.write(p + "/m/x", "2")
    await keys.write(p + "/_h", "3")
    await keys.write(p + "/hid/_x", "4")
    files = [await keys.write(f"{p}/z{i}", str(i)) for i in range(6)]  # more than a range holds
    await keys.write(p + "/zz/y/x", "5")
    seen = _count_reads(keys, monkeypatch)
    listing = await keys.read(p)
    read = [key for _, kvs in seen for key in kvs]
    children = {n.key: (n.dir, n.value, n.createdIndex, n.ttl is not None) for n in listing.children}
    assert children == {
        p + "/a": (False, "1", listing.createdIndex, False),
        p + "/big": (True, None, big[0].createdIndex, False),
        p + "/hid": (True, None, children[p + "/hid"][2], False),
        p + "/m": (True, None, made.createdIndex, True),
        **{f"{p}/z{i}": (False, str(i), files[i].createdIndex, False) for i in range(6)},
        p + "/zz": (True, None, children[p + "/zz"][2], False),
    }
    assert children[p + "/hid"][2] < files[0].createdIndex < children[p + "/zz"][2]
    # Of the 30 keys in /big, two ranges' worth at most, and the oldest (for its index).
    assert len([k for k in read if k.startswith(f"{p}/big/".encode())]) <= 2 * 4 + 1
    assert f"{p}/big/k000".encode() in read and f"{p}/zz/y/x".encode() in read  # /zz: its first and oldest
    # The same children as the whole tree read at once shows, with their indexes.
    whole = await keys.read(p, recursive=True)
    tops = {n["key"]: (n.get("dir", False), n.get("createdIndex")) for n in whole._children}
    assert {k: (v[0], v[2]) for k, v in children.items()} == tops


def _count_reads(keys: etcd.Client, monkeypatch: pytest.MonkeyPatch) -> list[tuple[dict[str, Any], list[bytes]]]:
    """Every range the v2-on-v3 store of ``keys`` sends from now on: its body, the keys it read."""
    from aio_etcd.v2on3._backend import StoreKeys

    backend = keys.backend
    assert isinstance(backend, StoreKeys)
    store = backend.store
    seen: list[tuple[dict[str, Any], list[bytes]]] = []
    call = store._call

    async def counting(path: str, body: dict[str, Any], **kw: Any) -> dict[str, Any]:
        answer = await call(path, body, **kw)
        if path == "/v3/kv/range":
            seen.append((body, [base64.b64decode(kv["key"]) for kv in answer.get("kvs") or []]))
        return answer

    monkeypatch.setattr(store, "_call", counting)
    ranged = store._range_message

    async def counting_messages(start: bytes, end: bytes, name: str, timeout: Any, **fields: Any) -> Any:
        # Over gRPC the listing's ranges and recursive reads take etcd's messages: the same, as bodies.
        answer = await ranged(start, end, name, timeout, **fields)
        body = {key: str(value) for key, value in fields.items() if value and key in ("limit", "revision")}
        seen.append((body, [kv.key for kv in answer.kvs]))
        return answer

    monkeypatch.setattr(store, "_range_message", counting_messages)
    return seen


async def _fill(raw: v3.Client, keys: list[str]) -> None:
    """Plain v3 puts of ``keys`` (value ``v``), up to 100 to a transaction."""
    for at in range(0, len(keys), 100):
        txn = raw.txn()
        txn.then(*(v3.txn.put(key, b"v") for key in keys[at : at + 100]))
        await txn.commit()


def _children(result: etcd.EtcdResult) -> list[tuple[Any, ...]]:
    """What a listing and a whole read agree on; a TTL only whether there is one (see :func:`_ttls_agree`)."""
    return [
        (
            n.get("key"),
            n.get("dir", False),
            n.get("value"),
            n.get("createdIndex"),
            n.get("modifiedIndex"),
            n.get("ttl") is not None,
        )
        for n in result._children
    ]


def _ttls_agree(one: etcd.EtcdResult, other: etcd.EtcdResult) -> bool:
    """The children's TTLs a second apart at most (one may pass between two reads)."""
    ttls = [{n["key"]: n["ttl"] for n in r._children if n.get("ttl") is not None} for r in (one, other)]
    return ttls[0].keys() == ttls[1].keys() and all(abs(ttls[0][k] - ttls[1][k]) <= 1 for k in ttls[0])


async def test_a_listing_passes_over_large_sub_directories(
    keys: etcd.Client, raw: v3.Client, etcd_prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Sub-directories of many keys each: the listing reads its children, a short range of each
    sub-directory (then one past it) and the oldest key of those without a marker, never what
    they hold; the children and their indexes are those of the whole tree read at once."""
    from aio_etcd.v2on3 import _reads

    monkeypatch.setattr(_reads, "LIST_BATCH", 100)
    monkeypatch.setattr(_reads, "LIST_HOP_KEYS", 64)  # 150 keys a sub-directory are many
    p = etcd_prefix
    names = [f"{p}/d{d:02}/k{k:03}" for d in range(12) for k in range(150)]
    names += [f"{p}/d03/deep/k{k:03}" for k in range(50)] + [f"{p}/d05/_hidden/k{k}" for k in range(20)]
    names += [f"{p}/_h/x{k:03}" for k in range(200)]  # a hidden sub-directory of many keys
    names += [f"{p}/f{k}" for k in range(5)] + [f"{p}/d07a", f"{p}/d07b"]  # files between sub-directories
    await _fill(raw, names[::-1])  # the oldest key of each sub-directory is its last
    await keys.write(p + "/m", None, dir=True, ttl=60)  # a marker, a TTL
    await _fill(raw, [f"{p}/m/k{k:03}" for k in range(300)])
    await keys.write(p + "/_x", "hidden")
    await keys.write(p + "/only/_y", "hidden")  # a directory holding only a hidden key is listed
    await keys.write(p + "/d00/t", "x", ttl=60)
    seen = _count_reads(keys, monkeypatch)
    for _ in range(5):
        # The server is shared: another test's key may reach its TTL between the reads and move
        # the revision. Only a listing read between two whole reads of one revision counts.
        whole = await keys.read(p, recursive=True)
        seen.clear()
        listing = await keys.read(p)
        listed = list(seen)
        if (await keys.read(p, recursive=True)).etcd_index == whole.etcd_index:
            break
    seen = listed
    (ttl,) = [n for n in whole.leaves if n.key == p + "/d00/t"]
    assert ttl.value == "x" and ttl.ttl in (59, 60) and ttl.expiration is not None
    assert _children(listing) == _children(whole) and len(listing._children) == 12 + 5 + 2 + 2
    assert _ttls_agree(listing, whole)
    assert (listing.createdIndex, listing.modifiedIndex) == (whole.createdIndex, whole.modifiedIndex)
    assert listing.etcd_index == whole.etcd_index  # nothing written between: the same revision
    # What it read of the 3,000 keys in sub-directories: the first range, then a step of each.
    inside = [k for _, read in seen for k in read if k.count(b"/") > p.count("/") + 1]
    assert len(inside) <= _reads.LIST_BATCH + 14 * _reads.LIST_STEP, len(inside)
    assert len(seen) <= 2 * 14 + 6, len(seen)  # a range and a lookup per sub-directory, at most
    assert {body.get("revision") for body, _ in seen[1:]} == {str(whole.etcd_index)}  # one snapshot


async def test_a_listing_reads_little_of_a_huge_sub_directory(
    keys: etcd.Client, raw: v3.Client, etcd_prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from aio_etcd.v2on3 import _reads

    """The directory's own indexes come from its oldest key, here in a hidden sub-directory
    passed over; one sub-directory's from its marker."""
    p = etcd_prefix
    first = await raw.put(f"{p}/_hidden/k0000", b"v")  # the oldest key in the directory
    await _fill(raw, [f"{p}/_hidden/k{k:04}" for k in range(1, 1500)])
    await keys.write(p + "/a", "1")
    await keys.write(p + "/big2", None, dir=True)  # a marker, newer than the oldest key below it
    await _fill(raw, [f"{p}/big2/k{k:04}" for k in range(2000)] + [f"{p}/big/k{k:04}" for k in range(4000)])
    await keys.write(p + "/big2/old", "x")
    await keys.write(p + "/z", "2")
    whole = await keys.read(p, recursive=True)
    seen = _count_reads(keys, monkeypatch)
    listing = await keys.read(p)
    assert [(n.key, n.dir) for n in listing.children] == [(p + "/a", False), (p + "/big", True),
                                                          (p + "/big2", True), (p + "/z", False)]  # fmt: skip
    assert _children(listing) == _children(whole)
    assert listing.createdIndex == listing.modifiedIndex == whole.createdIndex == first.revision
    read = [k for _, kvs in seen for k in kvs if k.startswith((f"{p}/big".encode(), f"{p}/_hidden/".encode()))]
    # The first range, a step of the next two, and three oldest keys.
    assert len(read) <= _reads.LIST_BATCH + 2 * _reads.LIST_STEP + 3, len(read)
    assert len(seen) <= 9, len(seen)


async def test_a_listing_reads_on_through_small_sub_directories(
    keys: etcd.Client, raw: v3.Client, etcd_prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Sub-directories of a few keys: reading them costs less than a request each."""
    p = etcd_prefix
    await _fill(raw, [f"{p}/d{d:03}/k{k}" for d in range(400) for k in range(3)] + [f"{p}/f{k}" for k in range(50)])
    whole = await keys.read(p, recursive=True)
    seen = _count_reads(keys, monkeypatch)
    listing = await keys.read(p)
    assert _children(listing) == _children(whole) and len(listing._children) == 450
    assert len(seen) <= 6, [body for body, _ in seen]  # not a request per sub-directory


async def test_a_listing_reads_on_once_the_sub_directories_turn_small(
    keys: etcd.Client, raw: v3.Client, etcd_prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Passing over a large sub-directory, then meeting many small ones: once the average
    falls, the ranges read on and grow, not a short one (and a lookup) per sub-directory."""
    from aio_etcd.v2on3 import _reads

    monkeypatch.setattr(_reads, "LIST_BATCH", 100)
    monkeypatch.setattr(_reads, "LIST_HOP_KEYS", 64)
    p = etcd_prefix
    small = [f"{p}/b{d:03}/k{k}" for d in range(300) for k in range(2)]
    await _fill(raw, [f"{p}/a/k{k:04}" for k in range(3000)] + small)
    whole = await keys.read(p, recursive=True)
    seen = _count_reads(keys, monkeypatch)
    listing = await keys.read(p)
    assert _children(listing) == _children(whole) and len(listing._children) == 301
    assert len(seen) <= 24, [(body.get("limit"), len(read)) for body, read in seen]


async def test_a_listing_compacted_between_its_ranges_is_read_again(
    keys: etcd.Client, raw: v3.Client, etcd_prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The ranges of a listing read one revision; when it is compacted before the listing
    is read, the listing is read again, whole, at a newer one."""
    from aio_etcd.v2on3 import _reads

    monkeypatch.setattr(_reads, "LIST_BATCH", 20)
    p = etcd_prefix
    await _fill(raw, [f"{p}/d{d}/k{k:02}" for d in range(3) for k in range(40)])
    seen = _count_reads(keys, monkeypatch)
    backend = keys.backend
    store = backend.store  # type: ignore[attr-defined]
    call = store._call
    compacted: list[int] = []

    async def compacting(path: str, body: dict[str, Any], **kw: Any) -> dict[str, Any]:
        answer = await call(path, body, **kw)
        if path == "/v3/kv/range" and body.get("limit") and not compacted:  # the listing's first range
            put = await raw.put(p + "/late", b"w")
            await raw.compact(put.revision)
            compacted.append(put.revision)
        return answer

    monkeypatch.setattr(store, "_call", compacting)
    ranged = store._range_message

    async def compacting_messages(start: bytes, end: bytes, name: str, timeout: Any, **fields: Any) -> Any:
        answer = await ranged(start, end, name, timeout, **fields)
        if fields.get("limit") and not compacted:  # the listing's first range, over gRPC
            put = await raw.put(p + "/late", b"w")
            await raw.compact(put.revision)
            compacted.append(put.revision)
        return answer

    monkeypatch.setattr(store, "_range_message", compacting_messages)
    listing = await keys.read(p)
    assert [n.key for n in listing.children] == [p + "/d0", p + "/d1", p + "/d2", p + "/late"]
    assert (listing.etcd_index or 0) >= compacted[0]
    assert any(int(body.get("revision") or 0) >= compacted[0] for body, _ in seen)


async def test_changes_without_an_action_record_read_as_before(
    keys: etcd.Client, raw: v3.Client, etcd_prefix: str
) -> None:
    """Writes of an older aio_etcd, of the migrator and of plain v3 programs record no action:
    a put that changes only the lease stays a refresh, a deleted key whose lease is gone
    an expiry, and a range delete one delete per key."""
    p = etcd_prefix
    await keys.write(p + "/o/k", "v")
    grant = await raw.grant(60)
    moved = await raw.put(f"{p}/o/k", "v", lease=grant)  # an older client's refresh: another lease
    changed = await keys.write(p + "/o/k", "w")
    event = await keys.watch(p + "/o/k", index=moved.revision)
    assert (event.action, event.modifiedIndex) == ("set", changed.modifiedIndex)

    short = await raw.grant(2)
    await raw.put(f"{p}/o/t", "x", lease=short)
    deleted = await raw.delete(f"{p}/o/t")
    await raw.revoke(short)  # the lease gone: the delete cannot be told from its end
    event = await keys.watch(p + "/o/t", index=deleted.revision)
    assert event.action == "expire"

    await keys.write(p + "/o/d/a", "1")
    await keys.write(p + "/o/d/b", "2")
    swept = await raw.delete(f"{p}/o/d/", prefix=True)
    events = keys.watch_iter(p + "/o", index=swept.revision, recursive=True)
    try:
        seen = [await asyncio.wait_for(anext(events), 10) for _ in range(2)]
    finally:
        await events.aclose()
    assert [(e.action, e.key) for e in seen] == [("delete", f"{p}/o/d/a"), ("delete", f"{p}/o/d/b")]


async def test_the_action_records_of_sets_and_deletes(keys: etcd.Client, raw: v3.Client, etcd_prefix: str) -> None:
    """The layout's records (aio_etcd.v2on3): what each write leaves at its revision."""
    p = etcd_prefix

    async def record_of(result: etcd.EtcdResult) -> bytes | None:
        found = (await raw.range("!aio_etcd/action", revision=result.modifiedIndex or 0)).kvs
        return found[0].value if found and found[0].mod_revision == result.modifiedIndex else None

    assert await record_of(await keys.write(p + "/a/k", "v")) is None  # a set without a TTL: none
    assert await record_of(await keys.write(p + "/a/k", "v", ttl=30)) == b"set"
    assert await record_of(await keys.delete(p + "/a/k")) == b"delete"
    await keys.write(p + "/a/b c/k", "v")
    assert await record_of(await keys.delete(p + "/a/b c", recursive=True)) == f"delete {p}/a/b c".encode()


async def test_a_tree_keeps_names_and_values_that_are_not_utf8(
    etcd_v3_server: EtcdCluster, raw: v3.Client, etcd_prefix: str
) -> None:
    """Bytes that are not UTF-8 (written by a v3 client) read as v2 reads such bytes: escaped, not an error."""
    p = etcd_prefix
    await raw.put(f"{p}/t/a", b"on a lease", lease=await raw.grant(60))  # met before the first bad value
    await raw.put(f"{p}/t/ok", b"fine")
    await raw.put(f"{p}/t/bad", b"\xff\xfe")
    await raw.put(p.encode() + b"/t/n\xe9", b"v")
    for transport in ("grpc", "gateway"):  # the trees are built from etcd's messages, or from its JSON
        async with etcd_v3_server.client(v3_transport=transport) as client:
            tree = await client.read(p + "/t", recursive=True)
            assert {leaf.key: (leaf.value, leaf.ttl is not None) for leaf in tree.leaves} == {
                p + "/t/a": ("on a lease", True),
                p + "/t/bad": ("\udcff\udcfe", False),
                p + "/t/n\udce9": ("v", False),
                p + "/t/ok": ("fine", False),
            }, transport
            assert (await client.read(p + "/t/bad")).value == "\udcff\udcfe"

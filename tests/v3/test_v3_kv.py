"""aio_etcd.v3 keys, ranges, transactions, leases and errors on a real etcd serving only v3."""

from __future__ import annotations

import asyncio

import pytest

from aio_etcd import v3
from aio_etcd.v3 import txn as T


async def test_put_get_delete_round_trip(etcd_v3_client: v3.Client, etcd_prefix: str) -> None:
    key = etcd_prefix + "/a"
    put = await etcd_v3_client.put(key, "héllo")
    kv = await etcd_v3_client.get(key)
    assert kv is not None
    assert (kv.key, kv.value, kv.text, kv.version) == (key.encode(), "héllo".encode(), "héllo", 1)
    assert kv.create_revision == kv.mod_revision == put.revision
    again = await etcd_v3_client.put(key, b"2", prev_kv=True)
    assert again.prev_kv is not None and again.prev_kv.value == "héllo".encode()
    deleted = await etcd_v3_client.delete(key, prev_kv=True)
    assert deleted.deleted == 1 and [p.value for p in deleted.prev_kvs] == [b"2"]
    assert await etcd_v3_client.get(key) is None
    assert (await etcd_v3_client.delete(key)).deleted == 0


@pytest.mark.parametrize(
    "suffix",
    [b"/nul\0byte", b"/slash/", b"/q?x=1", b"/hash#h", b"/pct%2F", b"/\xff\xfe not utf-8", b"/ \t\n"],
)
async def test_any_byte_in_a_key(etcd_v3_client: v3.Client, etcd_prefix: str, suffix: bytes) -> None:
    key = etcd_prefix.encode() + suffix
    await etcd_v3_client.put(key, suffix)
    kv = await etcd_v3_client.get(key)
    assert kv is not None and kv.key == key and kv.value == suffix
    found = await etcd_v3_client.range(etcd_prefix, prefix=True)
    assert [k.key for k in found] == [key]  # nothing else was touched


async def test_range_options(etcd_v3_client: v3.Client, etcd_prefix: str) -> None:
    for i in range(6):
        await etcd_v3_client.put(f"{etcd_prefix}/k{i}", str(i))
    page = await etcd_v3_client.range(etcd_prefix + "/", prefix=True, limit=2, sort=("key", "desc"))
    assert [kv.key_text for kv in page] == [f"{etcd_prefix}/k5", f"{etcd_prefix}/k4"]
    assert page.more and page.count == 6
    count = await etcd_v3_client.range(etcd_prefix + "/", prefix=True, count_only=True)
    assert count.count == 6 and count.kvs == []
    keys = await etcd_v3_client.range(etcd_prefix + "/", prefix=True, keys_only=True)
    assert [kv.value for kv in keys] == [b""] * 6
    ranged = await etcd_v3_client.range(f"{etcd_prefix}/k1", range_end=f"{etcd_prefix}/k3")
    assert [kv.text for kv in ranged] == ["1", "2"]
    old_revision = page.revision
    await etcd_v3_client.put(f"{etcd_prefix}/k0", "changed")
    then = await etcd_v3_client.range(f"{etcd_prefix}/k0", revision=old_revision)
    assert then.kvs[0].text == "0"
    local = await etcd_v3_client.range(f"{etcd_prefix}/k0", serializable=True)
    assert local.kvs[0].text == "changed"
    with pytest.raises(ValueError, match="sort is"):
        await etcd_v3_client.range(etcd_prefix, sort=("size", "asc"))


async def test_scan_reads_every_page_at_one_revision(etcd_v3_client: v3.Client, etcd_prefix: str) -> None:
    for i in range(7):
        await etcd_v3_client.put(f"{etcd_prefix}/{i}", str(i))
    seen = []
    async for kv in etcd_v3_client.scan(etcd_prefix + "/", prefix=True, page=3):
        seen.append(kv.text)
        if len(seen) == 1:  # written after the scan began: not part of its revision
            await etcd_v3_client.put(f"{etcd_prefix}/9", "late")
    assert seen == [str(i) for i in range(7)]


async def test_create_is_put_if_absent(etcd_v3_client: v3.Client, etcd_prefix: str) -> None:
    key = etcd_prefix + "/once"
    assert await etcd_v3_client.create(key, b"first") is True
    assert await etcd_v3_client.create(key, b"second") is False
    kv = await etcd_v3_client.get(key)
    assert kv is not None and kv.value == b"first"


async def test_txn_branches_and_typed_responses(etcd_v3_client: v3.Client, etcd_prefix: str) -> None:
    a, b = etcd_prefix + "/a", etcd_prefix + "/b"
    rev = (await etcd_v3_client.put(a, b"1")).revision
    await etcd_v3_client.put(b, b"x")
    await etcd_v3_client.put(etcd_prefix + "/tmp/1", b"t")
    result = await (
        etcd_v3_client.txn()
        .if_(T.value(a) == b"1", T.version(b) > 0, T.create(etcd_prefix + "/c") == 0, T.mod(a) < rev + 1)
        .then(T.put(a, b"2"), T.get(b), T.delete(etcd_prefix + "/tmp/", prefix=True))
        .else_(T.get(a))
        .commit()
    )
    assert result.succeeded
    put, got, deleted = result.responses
    assert isinstance(put, v3.Put) and isinstance(got, v3.Range) and isinstance(deleted, v3.Delete)
    assert [kv.value for kv in got.kvs] == [b"x"] and deleted.deleted == 1
    failed = await etcd_v3_client.txn().if_(T.value(a) != b"2").then(T.put(a, b"3")).else_(T.get(a)).commit()
    assert not failed.succeeded
    (current,) = failed.responses
    assert isinstance(current, v3.Range) and current.kvs[0].value == b"2"
    nested = await etcd_v3_client.txn().then(T.txn().if_(T.value(a) == b"2").then(T.get(a))).commit()
    inner = nested.responses[0]
    assert isinstance(inner, v3.TxnResult) and inner.succeeded


async def test_txn_refusals(etcd_v3_client: v3.Client, etcd_prefix: str) -> None:
    with pytest.raises(v3.EtcdInvalidArgument, match="too many operations"):
        await etcd_v3_client.txn().then(*(T.put(f"{etcd_prefix}/{i}", b"") for i in range(129))).commit()
    with pytest.raises(v3.EtcdInvalidArgument, match="duplicate key"):
        await etcd_v3_client.txn().then(T.put(etcd_prefix, b"1"), T.put(etcd_prefix, b"2")).commit()
    with pytest.raises(TypeError):
        etcd_v3_client.txn().if_(T.version(etcd_prefix) == "1")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        etcd_v3_client.txn().then("put")  # type: ignore[arg-type]


async def test_errors_map_to_classes(etcd_v3_client: v3.Client, etcd_prefix: str) -> None:
    with pytest.raises(v3.EtcdFutureRevision):
        await etcd_v3_client.range(etcd_prefix, revision=10**9)
    with pytest.raises(v3.EtcdRequestTooLarge):
        await etcd_v3_client.put(etcd_prefix, b"x" * (2 * 1024 * 1024 - 4096))
    with pytest.raises(v3.EtcdLeaseNotFound):
        await etcd_v3_client.put(etcd_prefix, b"x", lease=0x1234)
    with pytest.raises(v3.EtcdKeyNotFound):
        await etcd_v3_client.put(etcd_prefix + "/missing", b"", ignore_value=True)
    with pytest.raises(v3.EtcdServerError) as caught:
        await etcd_v3_client.revoke(0x1234)
    assert isinstance(caught.value, v3.EtcdLeaseNotFound) and caught.value.code == 5
    assert "lease revoke" in str(caught.value)


async def test_compaction(etcd_v3_client: v3.Client, etcd_prefix: str) -> None:
    first = await etcd_v3_client.put(etcd_prefix, b"1")
    second = await etcd_v3_client.put(etcd_prefix, b"2")
    await etcd_v3_client.compact(second.revision)
    with pytest.raises(v3.EtcdCompacted) as caught:
        await etcd_v3_client.range(etcd_prefix, revision=first.revision)
    assert caught.value.code == 11
    with pytest.raises(v3.EtcdCompacted):
        await etcd_v3_client.compact(first.revision)


async def test_leases(etcd_v3_client: v3.Client, etcd_prefix: str) -> None:
    grant = await etcd_v3_client.grant(30)
    await etcd_v3_client.put(etcd_prefix, b"v", lease=grant)
    info = await etcd_v3_client.time_to_live(grant.id, keys=True)
    assert info.id == grant.id and info.granted_ttl == 30 and 0 < info.ttl <= 30
    assert info.keys == [etcd_prefix.encode()]
    assert grant.id in await etcd_v3_client.leases()
    assert await etcd_v3_client.keep_alive_once(grant) == 30
    await etcd_v3_client.revoke(grant.id)
    assert await etcd_v3_client.get(etcd_prefix) is None
    assert (await etcd_v3_client.time_to_live(grant.id)).ttl == -1
    with pytest.raises(v3.EtcdLeaseNotFound):
        await etcd_v3_client.keep_alive_once(grant.id)


async def test_a_lease_never_granted_is_refused_not_dropped(etcd_v3_client: v3.Client, etcd_prefix: str) -> None:
    lease = etcd_v3_client.lease(10)  # not entered: never granted, id 0 ("no lease" to etcd)
    attempts = [
        lambda: etcd_v3_client.put(etcd_prefix + "/put", b"v", lease=lease),
        lambda: etcd_v3_client.txn().then(T.put(etcd_prefix + "/txn", b"v", lease=lease)).commit(),
        lambda: etcd_v3_client.create(etcd_prefix + "/create", b"v", lease=lease),
        lambda: etcd_v3_client.keep_alive_once(lease),
        lambda: etcd_v3_client.revoke(lease),
        lambda: lease.time_to_live(),
    ]
    for attempt in attempts:
        with pytest.raises(ValueError, match=r"never granted.*async with client\.lease\(ttl\).*await lease\.grant\(\)"):
            await attempt()
    with pytest.raises(v3.EtcdException):
        await etcd_v3_client.put(etcd_prefix + "/put", b"v", lease=lease)
    assert (await etcd_v3_client.range(etcd_prefix + "/", prefix=True)).count == 0  # nothing stored without it
    await lease.grant()
    try:
        await etcd_v3_client.put(etcd_prefix + "/put", b"v", lease=lease)
        kv = await etcd_v3_client.get(etcd_prefix + "/put")
        assert kv is not None and kv.lease == lease.id != 0
    finally:
        await lease.revoke()
    assert await etcd_v3_client.get(etcd_prefix + "/put") is None


async def test_lease_is_kept_alive_and_revoked_on_exit(etcd_v3_server: object, etcd_prefix: str) -> None:
    from aio_etcd.testing import EtcdCluster

    assert isinstance(etcd_v3_server, EtcdCluster)
    async with etcd_v3_server.v3_client() as etcd:
        async with etcd.lease(ttl=2) as first, etcd.lease(ttl=3) as second:
            await etcd.put(etcd_prefix + "/1", b"", lease=first)
            await etcd.put(etcd_prefix + "/2", b"", lease=second.id)
            # Wait for renewals, not time: 3 renewals of the 2 s lease outlive its TTL.
            while first.renewals < 3 or second.renewals < 2:  # noqa: ASYNC110 (renewals have no event)
                await asyncio.sleep(0.1)
            assert (await etcd.range(etcd_prefix + "/", prefix=True)).count == 2
            assert not first.lost.is_set() and not second.lost.is_set()
        assert (await etcd.range(etcd_prefix + "/", prefix=True)).count == 0
        assert first.id not in await etcd.leases()


async def test_lease_revoked_elsewhere_is_lost_and_exit_does_not_raise(
    etcd_v3_client: v3.Client, etcd_prefix: str
) -> None:
    async with etcd_v3_client.lease(ttl=2) as lease:
        await etcd_v3_client.revoke(lease.id)
        await asyncio.wait_for(lease.lost.wait(), 10)
    assert lease.lost.is_set()


async def test_cluster_information(etcd_v3_client: v3.Client) -> None:
    (member,) = await etcd_v3_client.members()
    assert member.client_urls == [etcd_v3_client.current_member]
    status = await etcd_v3_client.status()
    assert status.leader == member.id == status.member_id and status.version.startswith("3.")
    assert etcd_v3_client.cluster_id is not None


async def test_expected_cluster_id(etcd_v3_server: object) -> None:
    from aio_etcd.testing import EtcdCluster

    assert isinstance(etcd_v3_server, EtcdCluster)
    async with etcd_v3_server.v3_client() as etcd:
        await etcd.get("/x")
        real = etcd.cluster_id
        assert real is not None
    async with etcd_v3_server.v3_client(expected_cluster_id=f"{real:x}") as etcd:
        await etcd.get("/x")  # the hex string etcdctl prints
    async with etcd_v3_server.v3_client(expected_cluster_id=real + 1) as etcd:
        with pytest.raises(v3.EtcdClusterIdChanged):
            await etcd.get("/x")
    with pytest.raises(ValueError):
        v3.Client(expected_cluster_id="not hex")


async def test_bad_input() -> None:
    with pytest.raises(ValueError):
        v3.Client(username="u")
    with pytest.raises(ValueError):
        v3.Client(protocol="ftp")
    with pytest.raises(TypeError):
        v3.Client(42)  # type: ignore[arg-type]
    async with v3.Client() as etcd:
        with pytest.raises(TypeError):
            await etcd.put(1, b"x")  # type: ignore[arg-type]
        with pytest.raises(ValueError):
            etcd.watch("/k", filters={"noget"})
        with pytest.raises(ValueError):
            etcd.lock("l", ttl=1)
    with pytest.raises(v3.EtcdException, match="closed"):
        await etcd.get("/k")


async def test_values_as_the_v2_client_takes_them(etcd_v3_client: v3.Client, etcd_prefix: str) -> None:
    # v2's write("/k", 1) stores "1"; put, create and T.put take ints and floats the same way.
    key = etcd_prefix + "/n"
    await etcd_v3_client.put(key, 1)
    assert await etcd_v3_client.create(key + "-float", 2.5) is True
    await etcd_v3_client.txn().then(T.put(key + "-txn", 3)).commit()
    values = [kv.value for kv in (await etcd_v3_client.range(etcd_prefix + "/", prefix=True)).kvs]
    assert values == [b"1", b"2.5", b"3"]
    for wrong in (True, None, [1]):  # a bool is no number here, nor is anything else
        with pytest.raises(TypeError):
            await etcd_v3_client.put(key, wrong)  # type: ignore[arg-type]


def test_revision_compares_have_clientv3_names() -> None:
    # T.create(key) compares the key's create revision; client.create(key, value) is put-if-absent.
    # clientv3's names, CreateRevision and ModRevision, say which is which; the short ones stay.
    assert (T.create_revision("/k") == 0).fields == (T.create("/k") == 0).fields
    assert (T.create_revision("/k") == 0).fields["target"] == "CREATE"
    assert (T.mod_revision("/k") < 5).fields == (T.mod("/k") < 5).fields
    assert (T.mod_revision("/k") < 5).fields["target"] == "MOD"

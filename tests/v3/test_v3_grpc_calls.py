"""The prototype mapping of aio_etcd/v3/_grpc/calls.py: the gateway's request bodies, sent over gRPC,
come back as the very dicts the gateway answers (checked against the gateway of the same etcd)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import grpc
import pytest
import pytest_asyncio

from aio_etcd import v3
from aio_etcd.testing import EtcdCluster
from aio_etcd.v3 import txn as T
from aio_etcd.v3._grpc import calls, messages


def _stale_grpc_event(context: dict[str, Any]) -> bool:
    """grpc.aio's poller handing an event of a call of an earlier test to that test's closed loop.

    grpc.aio serves every event loop of the process from one completion queue; a cancelled call's
    last events can come after ``cancel()`` and ``code()`` have returned (they answer locally),
    and after the test's loop has closed: the next test's loop then reports "Event loop is
    closed" from ``PollerCompletionQueue._handle_events``. Nothing of the current test is lost;
    with one loop per process (an application) it cannot happen. Only this report is let through.
    """
    handle = repr(context.get("handle", ""))
    exc = context.get("exception")
    return "PollerCompletionQueue._handle_events" in handle and "Event loop is closed" in str(exc)


@pytest.fixture(autouse=True)
async def _no_loop_errors() -> AsyncIterator[None]:
    """conftest's check, but for the report above (this module's tests all open gRPC calls)."""
    loop = asyncio.get_running_loop()
    seen: list[dict[str, Any]] = []
    previous = loop.get_exception_handler()
    loop.set_exception_handler(lambda _loop, context: seen.append(context))
    yield
    await asyncio.sleep(0)
    loop.set_exception_handler(previous)
    unexpected = [context for context in seen if not _stale_grpc_event(context)]
    assert not unexpected, f"the event loop reported: {unexpected}"


PATHS = {
    "/v3/kv/range": ("/etcdserverpb.KV/Range", calls.range_message, calls.range_answer),
    "/v3/kv/put": ("/etcdserverpb.KV/Put", calls.put_message, calls.put_answer),
    "/v3/kv/deleterange": ("/etcdserverpb.KV/DeleteRange", calls.delete_message, calls.delete_answer),
    "/v3/kv/txn": ("/etcdserverpb.KV/Txn", calls.txn_message, calls.txn_answer),
}


class Both:
    """One request body, sent to the gateway as JSON and over gRPC through calls.py."""

    def __init__(self, url: str, session: aiohttp.ClientSession, channel: Any) -> None:
        self.url, self.session, self.channel = url, session, channel

    async def gateway(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        async with self.session.post(self.url + path, data=json.dumps(body)) as resp:
            assert resp.status == 200, await resp.text()
            answer: dict[str, Any] = json.loads(await resp.read())
            return answer

    async def grpc(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        method, to_message, to_answer = PATHS[path]
        answer: dict[str, Any] = to_answer(await messages.bind(self.channel, method)(to_message(body)))
        return answer


@pytest_asyncio.fixture
async def both(etcd_v3_server: EtcdCluster) -> AsyncIterator[Both]:
    url = etcd_v3_server.url
    async with aiohttp.ClientSession() as session, grpc.aio.insecure_channel(url.split("://", 1)[1]) as channel:
        yield Both(url, session, channel)


def without_revisions(answer: Any) -> Any:
    """An answer of a write, whose revisions differ between two runs of it."""
    if isinstance(answer, dict):
        return {k: "R" if k.endswith("revision") else without_revisions(v) for k, v in answer.items() if k != "header"}
    if isinstance(answer, list):
        return [without_revisions(v) for v in answer]
    return answer


async def test_reads_answer_the_same_dicts(both: Both, etcd_v3_client: v3.Client, etcd_prefix: str) -> None:
    lease = await etcd_v3_client.grant(60)
    puts = [
        await etcd_v3_client.put(f"{etcd_prefix}/k{i}", b"\0\xff" * i, lease=lease if i == 3 else None)
        for i in range(5)
    ]
    bodies = [
        T.range_request(etcd_prefix + "/k1"),
        T.range_request(etcd_prefix + "/missing"),
        T.range_request(etcd_prefix, prefix=True),
        T.range_request(etcd_prefix, prefix=True, limit=2, sort=("mod", "desc")),
        T.range_request(etcd_prefix, prefix=True, keys_only=True, serializable=True),
        T.range_request(etcd_prefix, prefix=True, count_only=True),
        T.range_request(etcd_prefix + "/k0", range_end=etcd_prefix + "/k3", revision=puts[1].revision),  # history
    ]
    for body in bodies:
        assert await both.grpc("/v3/kv/range", body) == await both.gateway("/v3/kv/range", body), body
    read = (
        T.Txn()
        .if_(T.value(etcd_prefix + "/k2") == b"\0\xff" * 2, T.version(etcd_prefix + "/k9") == 0)
        .then(T.get(etcd_prefix, prefix=True, limit=1), T.Txn().then(T.get(etcd_prefix + "/k4")))
        .else_(T.get(etcd_prefix + "/k1"))
    )
    assert await both.grpc("/v3/kv/txn", read.request()) == await both.gateway("/v3/kv/txn", read.request())
    failed = T.Txn().if_(T.lease(etcd_prefix + "/k3") != lease.id).else_(T.get(etcd_prefix + "/k1"))
    answer = await both.grpc("/v3/kv/txn", failed.request())
    assert answer == await both.gateway("/v3/kv/txn", failed.request())
    assert "succeeded" not in answer and v3.TxnResult(answer).responses[0].kvs[0].value == b"\0\xff"


async def test_writes_answer_the_same_dicts(both: Both, etcd_v3_client: v3.Client, etcd_prefix: str) -> None:
    """Each write runs twice on the same starting keys, once each way: the answers match but for revisions."""
    answers = {}
    for how in ("gateway", "grpc"):
        call = getattr(both, how)
        await etcd_v3_client.delete(etcd_prefix, prefix=True)
        await etcd_v3_client.put(etcd_prefix + "/a", b"old")
        await etcd_v3_client.put(etcd_prefix + "/b", b"")
        answers[how] = [
            await call("/v3/kv/put", T.put_request(etcd_prefix + "/a", b"new", prev_kv=True)),
            await call("/v3/kv/put", T.put_request(etcd_prefix + "/c", b"c")),
            await call(
                "/v3/kv/txn",
                T.Txn()
                .if_(T.mod(etcd_prefix + "/a") > 0)
                .then(T.put(etcd_prefix + "/d", "d", prev_kv=True), T.delete(etcd_prefix + "/c", prev_kv=True))
                .request(),
            ),
            await call("/v3/kv/deleterange", T.delete_request(etcd_prefix, prefix=True, prev_kv=True)),
            await call("/v3/kv/deleterange", T.delete_request(etcd_prefix, prefix=True)),
        ]
    assert without_revisions(answers["grpc"]) == without_revisions(answers["gateway"])
    for answer in answers.values():
        put = v3.Put(answer[0])
        assert put.prev_kv is not None and put.prev_kv.value == b"old" and put.revision > 0
        txn = v3.TxnResult(answer[2])
        deleted = txn.responses[1]
        assert txn.succeeded and isinstance(deleted, v3.Delete) and [kv.value for kv in deleted.prev_kvs] == [b"c"]
        assert v3.Delete(answer[3]).deleted == 3 and v3.Delete(answer[4]).deleted == 0


def _transactions() -> list[T.Txn]:
    nested = T.txn().if_(T.version("/z") == 0).then(T.put("/z", "")).else_(T.delete("/z"))
    return [
        T.txn(),
        T.txn().if_(T.version("/k") == 3).then(T.put("/k", "v" * 100)).else_(T.get("/k")),
        T.txn()
        .if_(
            T.value("/a") == b"1",
            T.version("/b") > 0,
            T.create("/c") == 0,
            T.mod("/d") < 7,
            T.lease("/e", prefix=True) != 5,
            T.value("/f", range_end="/g") == "x",
        )
        .then(
            T.put("/a", b"2", lease=77, prev_kv=True),
            T.get("/b", prefix=True, limit=3, keys_only=True, sort=("mod", "desc")),
            T.get("/q", count_only=True, range_end=""),
            T.get("/s", sort=("key", "asc")),
            T.delete("/tmp/", prefix=True, prev_kv=True),
            T.put("/n", 12),
            T.put("/i", b"", lease=5, ignore_value=True, ignore_lease=True),
            T.put("/j", "", ignore_value=True),
        )
        .else_(nested, T.get(b"\xff\xff", prefix=True)),
    ]


@pytest.mark.parametrize("index", range(3))
def test_transactions_built_as_messages_match_the_converted_bodies(index: int) -> None:
    """The gRPC client's transactions, built from the operations' raw fields, are the messages
    the gateway's bodies convert to (the converters above are checked against the gateway)."""
    txn = _transactions()[index]
    direct = calls.txn_request(txn)
    assert direct == calls.txn_message(txn.request())
    assert direct.SerializeToString(deterministic=True) == calls.txn_message(txn.request()).SerializeToString(
        deterministic=True
    )


def test_a_nested_transaction_is_taken_as_it_was_when_added() -> None:
    inner = T.txn().then(T.put("/x", "1"))
    outer = T.txn().then(inner)
    inner.then(T.put("/y", "2"))  # after it was added: neither body carries it
    assert calls.txn_request(outer) == calls.txn_message(outer.request())
    assert len(calls.txn_request(outer).success[0].request_txn.success) == 1


async def test_a_session_transaction_answers_the_gateways_dict_on_each_transport(
    etcd_v3_server: EtcdCluster, etcd_v3_client: v3.Client, etcd_prefix: str
) -> None:
    """``client.session.txn_answer`` (the v2 keys API on v3 commits its writes through it): over
    gRPC the message built from the builders' raw fields, its answer read into the gateway's
    shapes; the same dicts as the gateway's own, for a write, a refused write and a read."""
    from aio_etcd._core import SAFE, UNSAFE

    a, b = etcd_prefix + "/a", etcd_prefix + "/b"
    answers = {}
    for transport in ("gateway", "grpc"):
        await etcd_v3_client.delete(etcd_prefix, prefix=True)
        await etcd_v3_client.put(a, b"\0old")
        async with v3.Client(etcd_v3_server.url, transport=transport) as client:
            session = client.session
            write = (
                T.txn()
                .if_(T.value(a) == b"\0old", T.version(b) == 0)
                .then(T.put(a, b"new", prev_kv=True), T.put(b, "b"), T.txn().then(T.get(a)))
                .else_(T.get(a))
            )
            refused = T.txn().if_(T.create(b) == 0).then(T.delete(a)).else_(T.get(etcd_prefix, prefix=True))
            read = T.txn().then(T.get(etcd_prefix, prefix=True, keys_only=True, sort=("key", "desc")))
            answers[transport] = [
                await session.txn_answer(write, rule=UNSAFE, op="write", key=a.encode()),
                await session.txn_answer(refused, rule=UNSAFE, op="delete", key=a.encode()),
                await session.txn_answer(read, rule=SAFE, op="read", key=a.encode()),
            ]
    assert without_revisions(answers["grpc"]) == without_revisions(answers["gateway"])
    for answer in answers.values():
        done = v3.TxnResult(answer[0])
        assert done.succeeded and done.responses[0].prev_kv.value == b"\0old"
        assert [kv.value for kv in v3.TxnResult(answer[1]).responses[0].kvs] == [b"new", b"b"]
        assert [kv.key for kv in v3.TxnResult(answer[2]).responses[0].kvs] == [b.encode(), a.encode()]
    assert await etcd_v3_client.get(a) is not None  # the refused delete did nothing


def test_builders_write_their_json_only_when_asked_and_check_at_once() -> None:
    """Over gRPC a transaction is built from the raw fields: the builders' base64 JSON is not
    made (a function until asked for); it still checks its arguments when built, pickles, and
    the JSON made later is the one the gateway takes."""
    import pickle

    nested = T.txn().then(T.put("/n", "1"))
    txn = (
        T.txn()
        .if_(T.value("/a") == "é", T.mod("/b", prefix=True) < 9)
        .then(T.put("/a", b"\xff", lease=7, prev_kv=True), T.get("/p", prefix=True, limit=2, sort=("mod", "desc")))
        .else_(T.delete("/d", range_end="/e", prev_kv=True), nested)
    )
    calls.txn_request(txn)
    parts = [*txn.compares, *txn.success, *txn.failure]
    assert all(callable(part._fields) for part in parts)
    assert [pickle.loads(pickle.dumps(part)).fields for part in parts] == [part.fields for part in parts]
    assert txn.request() == {
        "compare": [
            {"key": "L2E=", "target": "VALUE", "result": "EQUAL", "value": "w6k="},
            {"key": "L2I=", "range_end": "L2M=", "target": "MOD", "result": "LESS", "mod_revision": "9"},
        ],
        "success": [
            {"request_put": {"key": "L2E=", "value": "/w==", "lease": "7", "prev_kv": True}},
            {
                "request_range": {
                    "key": "L3A=", "range_end": "L3E=", "limit": "2", "sort_target": "MOD", "sort_order": "DESCEND"
                }
            },
        ],
        "failure": [
            {"request_delete_range": {"key": "L2Q=", "range_end": "L2U=", "prev_kv": True}},
            {"request_txn": {"success": [{"request_put": {"key": "L24=", "value": "MQ=="}}]}},
        ],
    }
    with pytest.raises(TypeError, match="a key is str or bytes"):
        T.put(1, object())  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="limit"):
        T.get("/a", limit=-1)
    with pytest.raises(ValueError, match="prefix=True or range_end"):
        T.delete("/a", prefix=True, range_end="/b")
    with pytest.raises(ValueError, match="ignore_value=True keeps the value"):
        T.put("/a", "v", ignore_value=True)
    assert T.put("/a", "", ignore_value=True, ignore_lease=True).fields == {
        "request_put": {"key": "L2E=", "ignore_value": True, "ignore_lease": True}
    }
    with pytest.raises(TypeError, match="compares with an int"):
        T.version("/a") == "1"  # noqa: B015

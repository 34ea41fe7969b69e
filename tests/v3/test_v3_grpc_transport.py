"""v3.Client(transport="grpc") against a real etcd: how it is chosen, and that its answers and
errors are the gateway client's (the v3 test modules run on it whole with AIO_ETCD_V3_TRANSPORT=grpc)."""

from __future__ import annotations

import asyncio
import logging
import re
import ssl
import subprocess
import sys
import urllib.request
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio
from conftest import stale_grpc_event

from aio_etcd import v3
from aio_etcd.testing import EtcdCluster, free_port
from aio_etcd.v3 import _auto
from aio_etcd.v3 import txn as T
from aio_etcd.v3.errors import EtcdLeaseNotFound


@pytest.fixture(autouse=True)
async def _no_loop_errors() -> AsyncIterator[None]:
    """conftest's check, letting through only grpc.aio's late event of an earlier test's call."""
    loop = asyncio.get_running_loop()
    seen: list[dict[str, Any]] = []
    previous = loop.get_exception_handler()
    loop.set_exception_handler(lambda _loop, context: seen.append(context))
    yield
    await asyncio.sleep(0)
    loop.set_exception_handler(previous)
    unexpected = [context for context in seen if not stale_grpc_event(context)]
    assert not unexpected, f"the event loop reported: {unexpected}"


@pytest_asyncio.fixture
async def both(etcd_v3_server: EtcdCluster) -> AsyncIterator[tuple[v3.Client, v3.Client]]:
    async with (
        etcd_v3_server.v3_client(transport="gateway") as gateway,
        etcd_v3_server.v3_client(transport="grpc") as grpc_client,
    ):
        yield gateway, grpc_client


def test_choosing_the_transport() -> None:
    client = v3.Client(transport="grpc")
    assert isinstance(client, v3.Client) and client.transport == "grpc" and client.watch_transport == "grpc"
    assert type(v3.Client(transport="gateway")).__name__ == "Client"
    assert v3.Client(transport="gateway").transport == "gateway"
    with pytest.raises(ValueError, match="transport is"):
        v3.Client(transport="http2")


def test_auto_is_the_default_and_picks_grpc_when_it_carries_the_options(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="aio_etcd.v3._auto")
    for client in (v3.Client(), v3.Client(transport="auto"), v3.Client(transport=None), v3.Client(ca_cert="ca.pem")):
        assert client.transport == "grpc" and client.watch_transport == "grpc"
    assert not [r for r in caplog.records if "gateway" in r.getMessage()]
    for options, why in [
        ({"ssl": ssl.create_default_context()}, "ssl= (an SSLContext)"),
        ({"ssl_verify": False, "protocol": "https"}, "ssl_verify=False"),
        ({"watch_transport": "http"}, "watch_transport='http'"),
    ]:
        caplog.clear()
        client = v3.Client(**options)
        assert type(client) is v3.Client and client.transport == "gateway"
        (record,) = caplog.records
        assert record.levelno == logging.DEBUG and why in record.getMessage() and "gateway" in record.getMessage()


def test_grpc_refuses_an_ssl_context_and_names_the_options_to_give() -> None:
    with pytest.raises(ValueError, match=r"ssl= \(an SSLContext.*ca_cert=.*cert=.*transport='gateway'"):
        v3.Client(transport="grpc", ssl=ssl.create_default_context())
    assert v3.Client(transport="grpc", protocol="https", ssl_verify=False).transport == "grpc"


def test_auto_takes_the_gateway_when_grpc_is_too_old(monkeypatch: pytest.MonkeyPatch) -> None:
    import grpc

    monkeypatch.setattr(grpc, "__version__", "1.51.3")
    _auto.grpc_unusable.cache_clear()
    try:
        assert "grpcio 1.51.3 is older" in str(_auto.grpc_unusable())
        assert v3.Client().transport == "gateway"
    finally:
        monkeypatch.undo()
        _auto.grpc_unusable.cache_clear()
    assert _auto.grpc_unusable() is None and v3.Client().transport == "grpc"


def test_auto_takes_the_gateway_without_the_grpc_extra() -> None:
    code = (
        "import logging, sys; sys.modules['grpc'] = None; logging.basicConfig(level=logging.DEBUG);"
        "from aio_etcd import v3; print(v3.Client().transport, v3.Client(transport='auto').transport)\n"
        "try: v3.Client(transport='grpc')\n"
        "except ImportError as exc: print(exc)"
    )
    done = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    lines = done.stdout.splitlines()
    assert lines[0] == "gateway gateway"
    assert lines[1].startswith('transport="grpc" needs the grpc extra: pip install "aio_etcd[grpc]"')
    assert "transport='auto': the JSON gateway, because the grpc extra is not installed" in done.stderr


def test_importing_the_v3_client_imports_no_grpc() -> None:
    code = "import sys, aio_etcd.v3; print(sorted(m for m in sys.modules if m.split('.')[0] in ('grpc', 'google')))"
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    assert out.strip() == "[]"


async def test_the_same_answers_as_the_gateway(both: tuple[v3.Client, v3.Client], etcd_prefix: str) -> None:
    gateway, grpc_client = both
    await gateway.put(etcd_prefix + "/a", b"1")
    put = await grpc_client.put(etcd_prefix + "/b", "2", prev_kv=True)
    assert isinstance(put, v3.Put) and put.prev_kv is None and put.revision > 0
    got = [await c.get(etcd_prefix + "/a") for c in both]
    assert all(isinstance(kv, v3.KV) for kv in got) and got[0] == got[1] and got[1] == got[0]
    ranges = [await c.range(etcd_prefix + "/", prefix=True, sort=("key", "desc")) for c in both]
    expected = [(etcd_prefix + "/b").encode(), (etcd_prefix + "/a").encode()]
    assert [kv.key for kv in ranges[0]] == [kv.key for kv in ranges[1]] == expected
    assert ranges[0].kvs == ranges[1].kvs and ranges[0].revision == ranges[1].revision
    txns = [
        await c.txn()
        .if_(T.value(etcd_prefix + "/a") == b"1")
        .then(T.get(etcd_prefix + "/b"), T.txn().then(T.get(etcd_prefix + "/a")))
        .commit()
        for c in both
    ]
    assert all(t.succeeded for t in txns)
    for gw, pb in zip(txns[0].responses, txns[1].responses, strict=True):
        assert type(pb).__mro__[1] is type(gw)  # the message-backed view is a subclass of the same class
    inner = [t.responses[1] for t in txns]
    assert isinstance(inner[1], v3.TxnResult) and [kv.text for kv in inner[1].responses[0]] == ["1"]
    statuses = [await c.status() for c in both]
    assert statuses[0].member_id == statuses[1].member_id and statuses[1].leader
    members = [await c.members() for c in both]
    assert [m.client_urls for m in members[0]] == [m.client_urls for m in members[1]]
    assert gateway.cluster_id == grpc_client.cluster_id


async def test_the_same_errors_as_the_gateway(both: tuple[v3.Client, v3.Client], etcd_prefix: str) -> None:
    errors = []
    for client in both:
        with pytest.raises(v3.EtcdFutureRevision) as caught:
            await client.range(etcd_prefix, revision=10**12)
        errors.append(caught.value)
    assert [(e.code, e.grpc_message, e.status) for e in errors[:1]] == [
        (e.code, e.grpc_message, e.status) for e in errors[1:]
    ]
    for client in both:
        with pytest.raises(v3.EtcdLeaseNotFound):
            await client.revoke(12345)


async def test_no_member_listening_is_a_connection_failure_and_a_write_is_not_unknown() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    # Nobody listens there: nothing was sent, so even a write fails plainly (not "outcome unknown").
    async with v3.Client(url, transport="grpc", read_timeout=5) as client:
        with pytest.raises(v3.EtcdConnectionFailed) as caught:
            await client.put("/k", b"v")
        assert not isinstance(caught.value, v3.EtcdOutcomeUnknown)


async def test_calls_past_their_time_limit_end_then_as_timeouts_and_a_cancellation_stays_one() -> None:
    """The transport keeps the time limits (one timer per limit, not a gRPC deadline per call): calls
    to a frozen member end at their own limits, in their order, as timeouts of calls that may have
    left; a caller's cancellation stays a cancellation; nothing stays behind."""
    from aio_etcd._core import TransportFailure
    from aio_etcd.v3._grpc.messages import etcdserverpb as pb
    from aio_etcd.v3._grpc.transport import GrpcTransport

    with EtcdCluster(v2=False) as server:  # its own: it is frozen
        wire = GrpcTransport()
        url = server.url + "/etcdserverpb.KV/Range"
        body = pb.RangeRequest(key=b"/k").SerializeToString()
        loop = asyncio.get_running_loop()

        async def timed(limit: float) -> tuple[float, BaseException]:
            started = loop.time()
            try:
                await wire.exchange("POST", url, body=body, headers={}, timeout=limit)
            except TransportFailure as failure:
                return loop.time() - started, failure
            raise AssertionError("a frozen member answered")

        try:
            assert (await wire.exchange("POST", url, body=body, headers={}, timeout=5)).status == 200
            server.pause_member(0)
            try:
                cancelled = asyncio.create_task(wire.exchange("POST", url, body=body, headers={}, timeout=0.2))
                results = await asyncio.gather(timed(0.6), timed(0.3), timed(0.3))
                waiting = asyncio.create_task(wire.exchange("POST", url, body=body, headers={}, timeout=5))
                await asyncio.sleep(0.1)
                waiting.cancel()
                with pytest.raises(asyncio.CancelledError):
                    await waiting
                with pytest.raises(TransportFailure) as early:
                    await cancelled
            finally:
                server.resume_member(0)
            assert early.value.timed_out and early.value.sent
            for (took, failure), limit in zip(results, (0.6, 0.3, 0.3), strict=True):
                assert isinstance(failure, TransportFailure) and failure.timed_out and failure.sent
                assert limit <= took < limit + 0.25, (limit, took)
            assert all(not limits.calls and not limits.expired for limits in wire._limits.values())
            assert (await wire.exchange("POST", url, body=body, headers={}, timeout=5)).status == 200
        finally:
            await wire.close()


async def test_the_transport_keeps_no_timer_per_distinct_limit_for_ever(etcd_v3_server: EtcdCluster) -> None:
    """Limits cut short by a call's deadline are all different: the idle ones are forgotten."""
    from aio_etcd.v3._grpc.messages import etcdserverpb as pb
    from aio_etcd.v3._grpc.transport import GrpcTransport

    wire = GrpcTransport()
    url = etcd_v3_server.url + "/etcdserverpb.KV/Range"
    body = pb.RangeRequest(key=b"/k").SerializeToString()
    try:
        for step in range(100):
            answered = await wire.exchange("POST", url, body=body, headers={}, timeout=5 + step / 1000)
            assert answered.status == 200
        assert len(wire._limits) <= 32
        assert all(not limits.calls for limits in wire._limits.values())
    finally:
        await wire.close()
    assert not wire._limits

def test_the_name_grpc_checks_on_a_certificate_trusted_as_presented() -> None:
    from aio_etcd.v3._grpc.transport import _name_in

    sans = {"subjectAltName": (("DNS", "etcd.example"), ("IP Address", "0:0:0:0:0:0:0:1\n"))}
    assert _name_in(sans, "::1") is None and _name_in(sans, "[::1]") is None  # the address is in it
    assert _name_in(sans, "ETCD.example") is None
    assert _name_in(sans, "127.0.0.1") == "etcd.example"  # a DNS name first
    assert _name_in({"subjectAltName": (("DNS", "*.etcd.example"),)}, "127.0.0.1") == "x.etcd.example"
    assert _name_in({"subjectAltName": (("IP Address", "10.0.0.1"),)}, "127.0.0.1") == "10.0.0.1"
    assert _name_in({"subject": ((("commonName", "member-1"),),)}, "127.0.0.1") == "member-1"
    with pytest.raises(ssl.SSLError):
        _name_in({"subject": ((("organizationName", "x"),),)}, "127.0.0.1")


def _keepalive_streams_started(server: EtcdCluster) -> int:
    """How many LeaseKeepAlive streams etcd saw start (its gRPC metrics)."""
    with urllib.request.urlopen(server.url + "/metrics", timeout=5) as resp:
        text = resp.read().decode()
    found = re.search(r'^grpc_server_started_total\{[^}]*grpc_method="LeaseKeepAlive"[^}]*\} (\S+)$', text, re.M)
    return 0 if found is None else int(float(found.group(1)))


async def test_lease_renewals_share_one_stream_per_member(etcd_v3_server: EtcdCluster) -> None:
    async with etcd_v3_server.v3_client(transport="grpc") as client:
        before = _keepalive_streams_started(etcd_v3_server)
        grants = [await client.grant(30) for _ in range(3)]
        # Concurrent renewals of three leases, the same one several times over: each gets its answer.
        ttls = await asyncio.gather(*(client.keep_alive_once(grant) for grant in grants * 4))
        assert ttls == [30] * 12
        # A lease etcd does not know is answered on the stream (TTL 0), which stays usable.
        with pytest.raises(EtcdLeaseNotFound):
            await client.keep_alive_once(0x7E57)
        assert await client.keep_alive_once(grants[0]) == 30
        assert client._transport.keepalives.open == 1
        assert _keepalive_streams_started(etcd_v3_server) == before + 1


async def test_a_broken_keepalive_stream_fails_its_renewals_and_the_next_opens_another(
    etcd_v3_server: EtcdCluster,
) -> None:
    async with etcd_v3_server.v3_client(transport="grpc") as client:
        grant = await client.grant(30)
        assert await client.keep_alive_once(grant) == 30
        before = _keepalive_streams_started(etcd_v3_server)
        streams = client._transport.keepalives
        (stream,) = streams._streams.values()
        stream.rpc.cancel()  # the stream breaks under the renewals as a member's going would break it
        await asyncio.wait_for(stream.reader, 5)
        assert stream.ended and streams.open == 0
        # The next renewal opens a new stream (the attempt loop would also try it again on a failure).
        assert await client.keep_alive_once(grant) == 30
        assert streams.open == 1 and _keepalive_streams_started(etcd_v3_server) == before + 1


async def test_a_renewal_on_a_broken_stream_fails_as_sent_and_is_tried_again(etcd_v3_server: EtcdCluster) -> None:
    """What the core sees: a failure of the exchange (sent), then the same renewal answered on a new stream."""
    from aio_etcd._core import TransportFailure
    from aio_etcd.v3._grpc.messages import etcdserverpb as pb
    from aio_etcd.v3._grpc.transport import GrpcTransport

    async with etcd_v3_server.v3_client(transport="grpc") as client:
        grant = await client.grant(30)
    wire = GrpcTransport()
    url = etcd_v3_server.url + "/etcdserverpb.Lease/LeaseKeepAlive"
    body = pb.LeaseKeepAliveRequest(ID=grant.id).SerializeToString()
    try:
        answer = await wire.exchange("POST", url, body=body, headers={}, timeout=5)
        assert pb.LeaseKeepAliveResponse.FromString(answer.body).TTL == 30
        (stream,) = wire.keepalives._streams.values()
        stream.rpc.cancel()
        renewal = asyncio.ensure_future(stream.renew(grant.id, body, 5))
        with pytest.raises(TransportFailure) as failed:
            await renewal
        assert not failed.value.timed_out  # sent or not, as the cancellation and the write met
        answer = await wire.exchange("POST", url, body=body, headers={}, timeout=5)
        assert pb.LeaseKeepAliveResponse.FromString(answer.body).TTL == 30
    finally:
        await wire.close()
    assert wire.keepalives.open == 0


async def test_renewals_a_frozen_member_leaves_waiting_time_out_alone_and_their_late_answers_go_nowhere() -> None:
    """A renewal past its limit is a timeout of a call that left; the stream stays, and the late
    answers (etcd answers a stream's renewals in order) are dropped, not handed to later renewals."""
    from aio_etcd._core import TransportFailure
    from aio_etcd.v3._grpc.messages import etcdserverpb as pb
    from aio_etcd.v3._grpc.transport import GrpcTransport

    with EtcdCluster(v2=False) as server:  # its own: it is frozen
        async with server.v3_client(transport="grpc") as client:
            kept, gone = await client.grant(30), await client.grant(30)
        wire = GrpcTransport()
        url = server.url + "/etcdserverpb.Lease/LeaseKeepAlive"

        def body(lease: int) -> bytes:
            return pb.LeaseKeepAliveRequest(ID=lease).SerializeToString()

        async def renew(lease: int, limit: float) -> int:
            answer = await wire.exchange("POST", url, body=body(lease), headers={}, timeout=limit)
            return int(pb.LeaseKeepAliveResponse.FromString(answer.body).TTL)

        try:
            assert await renew(kept.id, 5) == 30
            server.pause_member(0)
            try:
                with pytest.raises(TransportFailure) as late:
                    await renew(gone.id, 0.2)
                cancelled = asyncio.create_task(renew(gone.id, 5))
                await asyncio.sleep(0.05)
                cancelled.cancel()
                with pytest.raises(asyncio.CancelledError):
                    await cancelled
            finally:
                server.resume_member(0)
            assert late.value.timed_out and late.value.sent
            # Both renewals of `gone` reach etcd now and are answered 30; after the revocation the
            # next renewal of it must get its own answer (0: gone), not one of theirs.
            async with server.v3_client(transport="grpc") as client:
                await client.revoke(gone.id)
            assert await renew(gone.id, 5) == 0
            assert await renew(kept.id, 5) == 30
            assert wire.keepalives.open == 1
        finally:
            await wire.close()

async def test_a_keep_alive_to_a_member_that_dies_is_a_connection_failure_never_an_etcd_error() -> None:
    """Keep-alives in flight when their member is killed, and those sent to it while it is down, fail as
    connection failures (another member is tried, the lease lives on), never as an answer from etcd.
    The bug is a race: the member is killed up to six times (started again in between) to meet it."""
    failures: list[BaseException] = []
    with EtcdCluster(size=1, v2=False) as single:
        for _ in range(6):
            async with v3.Client(single.url, transport="grpc") as client:
                lease = await client.lease(ttl=30).grant()
                assert await client.keep_alive_once(lease.id) > 0
                stop = asyncio.Event()

                async def renew(client: v3.Client, lease_id: int, stop: asyncio.Event) -> None:
                    while not stop.is_set():
                        try:
                            await client.keep_alive_once(lease_id, timeout=0.3, attempt_timeout=0.3)
                        except v3.EtcdException as error:
                            failures.append(error)
                        await asyncio.sleep(0)

                renewers = [asyncio.create_task(renew(client, lease.id, stop)) for _ in range(32)]
                await asyncio.sleep(0.3)
                single.stop_member(0, kill=True)
                await asyncio.sleep(1.0)
                stop.set()
                await asyncio.gather(*renewers)
            if any(not isinstance(exc, v3.EtcdConnectionFailed) for exc in failures):
                break
            single.start_member(0)
    assert failures, "the member was killed: keep-alives must have failed"
    etcd_answers = [exc for exc in failures if not isinstance(exc, v3.EtcdConnectionFailed)]
    assert not etcd_answers, f"{len(etcd_answers)} of {len(failures)} failures were etcd errors: {etcd_answers[:3]}"

"""aio_etcd.v3 against answers etcd 3.5.1 will not give on demand: the error shapes of the
newer gateway (grpc-gateway v2: etcd 3.6 and Debian's 3.5.30, recorded there), garbage and
strangers. These are replayed bodies, served by a small aiohttp server, to gateway clients."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable

import pytest
from aiohttp import web

from aio_etcd import v3

GATEWAY = {"transport": "gateway"}  # the replayed bodies are the gateway's

Handler = Callable[[web.Request], "web.StreamResponse"]


@pytest.fixture
async def serve(unused_tcp_port_factory: Callable[[], int]) -> AsyncIterator[Callable[..., object]]:
    runners: list[web.AppRunner] = []

    async def start(routes: dict[str, object]) -> int:
        app = web.Application()
        for path, handler in routes.items():
            app.router.add_post(path, handler)  # type: ignore[arg-type]
        runner = web.AppRunner(app)
        await runner.setup()
        port = unused_tcp_port_factory()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        runners.append(runner)
        return port

    yield start
    for runner in runners:
        await runner.cleanup()


def _answer(status: int, body: object) -> Callable[[web.Request], object]:
    async def handler(request: web.Request) -> web.Response:
        return web.Response(status=status, text=json.dumps(body), content_type="application/json")

    return handler


HEADER = {"cluster_id": "14841639068965178418", "member_id": "1", "revision": "7", "raft_term": "2"}


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        # grpc-gateway v2 (3.6, 3.5.30): code and message only
        (404, {"code": 5, "message": "etcdserver: requested lease not found"}, v3.EtcdLeaseNotFound),
        (400, {"code": 11, "message": "etcdserver: mvcc: required revision has been compacted"}, v3.EtcdCompacted),
        (403, {"code": 7, "message": "etcdserver: permission denied"}, v3.EtcdPermissionDenied),
        (400, {"code": 3, "message": "etcdserver: request is too large"}, v3.EtcdRequestTooLarge),
        (429, {"code": 8, "message": "grpc: received message larger than max (3000000 vs. 2097152)"},
         v3.EtcdRequestTooLarge),
        # grpc-gateway v1 (3.5.1): the same plus "error"
        (401, {"error": "etcdserver: invalid auth token", "code": 16, "message": "etcdserver: invalid auth token"},
         v3.EtcdAuthFailed),
    ],
)  # fmt: skip
async def test_error_shapes(serve: Callable[..., object], status: int, body: object, expected: type) -> None:
    port = await serve({"/v3/kv/range": _answer(status, body)})  # type: ignore[misc]
    async with v3.Client(("127.0.0.1", port), **GATEWAY) as etcd:
        with pytest.raises(expected) as caught:
            await etcd.get("/k")
    assert isinstance(caught.value, v3.EtcdServerError) and caught.value.status == status
    assert "get '/k'" in str(caught.value)


async def test_unavailable_is_retried_on_the_next_member_and_reads_succeed(serve: Callable[..., object]) -> None:
    sick = await serve({"/v3/kv/range": _answer(503, {"code": 14, "message": "etcdserver: no leader"})})  # type: ignore[misc]
    kv = {"key": "L2s=", "value": "dg==", "mod_revision": "7", "create_revision": "7", "version": "1"}
    well = await serve({"/v3/kv/range": _answer(200, {"header": HEADER, "kvs": [kv], "count": "1"})})  # type: ignore[misc]
    async with v3.Client(("127.0.0.1", sick), ("127.0.0.1", well), use_proxies=True, **GATEWAY) as etcd:
        found = await etcd.get("/k")
    assert found is not None and found.value == b"v" and etcd.current_member.endswith(str(well))


async def test_a_write_that_timed_out_on_the_server_is_outcome_unknown(serve: Callable[..., object]) -> None:
    port = await serve({"/v3/kv/put": _answer(503, {"code": 14, "message": "etcdserver: request timed out"})})  # type: ignore[misc]
    async with v3.Client(("127.0.0.1", port), ("127.0.0.1", port + 0), use_proxies=True, **GATEWAY) as etcd:
        with pytest.raises(v3.EtcdOutcomeUnknown):
            await etcd.put("/k", b"v")


async def test_strangers_are_not_etcd(serve: Callable[..., object]) -> None:
    async def html(request: web.Request) -> web.Response:
        return web.Response(status=200, text="<html>hello</html>", content_type="text/html")

    port = await serve({"/v3/kv/range": html})  # type: ignore[misc]
    async with v3.Client(("127.0.0.1", port), **GATEWAY) as etcd:
        with pytest.raises(v3.EtcdException, match="did not answer as an etcd v3 member"):
            await etcd.get("/k")


async def test_stream_error_lines_of_both_generations(serve: Callable[..., object]) -> None:
    lines = [
        {"result": {"header": HEADER, "created": True}},
        {"error": {"code": 7, "message": "etcdserver: permission denied"}},  # gateway v2
    ]
    v1_lines = [
        {"result": {"header": HEADER, "created": True}},
        {"error": {"grpc_code": 7, "http_code": 403, "message": "etcdserver: permission denied",
                   "http_status": "Forbidden"}},
    ]  # fmt: skip

    def stream(payload: list[object]) -> Callable[[web.Request], object]:
        async def handler(request: web.Request) -> web.StreamResponse:
            resp = web.StreamResponse()
            await resp.prepare(request)
            for line in payload:
                await resp.write(json.dumps(line).encode() + b"\n")
            await resp.write_eof()
            return resp

        return handler

    for payload in (lines, v1_lines):
        port = await serve({"/v3/watch": stream(payload)})  # type: ignore[misc]
        async with v3.Client(("127.0.0.1", port), watch_transport="http", **GATEWAY) as etcd:
            with pytest.raises(v3.EtcdPermissionDenied):
                async with etcd.watch("/k") as events:
                    await events.__anext__()


async def test_no_leader_in_an_election_is_an_answer_not_an_outage(serve: Callable[..., object]) -> None:
    hits = []

    async def no_leader(request: web.Request) -> web.Response:
        hits.append(request.path)
        body = {"error": "election: no leader", "code": 2, "message": "election: no leader"}
        return web.Response(status=500, text=json.dumps(body), content_type="application/json")

    port = await serve({"/v3/election/leader": no_leader})  # type: ignore[misc]
    async with v3.Client(("127.0.0.1", port), ("127.0.0.1", port), use_proxies=True, **GATEWAY) as etcd:
        assert await etcd.election("e").leader() is None
    assert hits == ["/v3/election/leader"]  # asked once: not retried as etcd's own "no leader" would be


async def test_an_attempt_time_limit_leaves_no_cancellation_behind(serve: Callable[..., object]) -> None:
    never = asyncio.Event()

    async def hang(request: web.Request) -> web.Response:
        await never.wait()
        raise AssertionError("released")

    kv = {"key": "L2s=", "value": "dg==", "mod_revision": "7", "create_revision": "7", "version": "1"}
    stuck = await serve({"/v3/kv/range": hang})  # type: ignore[misc]
    well = await serve({"/v3/kv/range": _answer(200, {"header": HEADER, "kvs": [kv], "count": "1"})})  # type: ignore[misc]
    policy = v3.RetryPolicy(attempt_timeout=0.2)
    async with v3.Client(("127.0.0.1", stuck), ("127.0.0.1", well), use_proxies=True, retry=policy, **GATEWAY) as etcd:
        found = await etcd.get("/k")  # in this very task: the watchdog cancelled its first attempt
        task = asyncio.current_task()
        assert task is not None and getattr(task, "cancelling", lambda: 0)() == 0  # and took it back
        await asyncio.sleep(0.3)  # a cancellation left pending would be delivered here
    async with v3.Client(("127.0.0.1", stuck), ("127.0.0.1", well), use_proxies=True, retry=policy, **GATEWAY) as etcd:
        found_again = await asyncio.wait_for(etcd.get("/k"), 10)  # a caller's own limit sees nothing of it
    assert found is not None and found.value == b"v"
    assert found_again is not None
    never.set()

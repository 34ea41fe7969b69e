"""The core's observer sees every exchange: attempts, member lists, probes, asks, streams, websockets.

On real etcd. A request that must not be repeated is probed only while it
waits for its member, and etcd answers in milliseconds, so the transport
below the client is the aiohttp one wrapped to hold chosen requests back for
a second before sending them (etcd will not be slow on demand). The wrapper
also shows that a wrapped transport keeps the v3 websocket multiplexer.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from typing import Any

import aio_etcd as etcd
from aio_etcd._core import AiohttpTransport, Exchange, Response, WebSocket
from aio_etcd.testing import EtcdCluster

#: Long enough for a vigil to probe (it starts after half an attempt_timeout, on a 0.1 s tick);
#: each probe has a whole attempt_timeout to be answered (a busy machine).
HOLD = 2.0
POLICY = etcd.RetryPolicy(attempt_timeout=1.0)


class Held:
    """The aiohttp transport, with the requests ``hold`` picks sent :data:`HOLD` seconds late."""

    def __init__(self, hold: Callable[[str, str], bool]) -> None:
        self.inner = AiohttpTransport()
        self.hold = hold
        self.websockets = self.inner.websockets

    async def exchange(
        self,
        method: str,
        url: str,
        *,
        body: bytes | None,
        headers: Mapping[str, str],
        timeout: float | None,
        stream: bool = False,
        foreign: bool = False,
    ) -> Response:
        if self.hold(method, url):
            await asyncio.sleep(HOLD)
        return await self.inner.exchange(
            method, url, body=body, headers=headers, timeout=timeout, stream=stream, foreign=foreign
        )

    async def open_lines(
        self,
        method: str,
        url: str,
        *,
        body: bytes | None,
        headers: Mapping[str, str],
        timeout: float | None,
        foreign: bool = False,
        first_line: bool = True,
    ) -> Response:
        return await self.inner.open_lines(
            method, url, body=body, headers=headers, timeout=timeout, foreign=foreign, first_line=first_line
        )

    async def websocket(self, url: str, *, headers: Mapping[str, str], timeout: float | None) -> WebSocket:
        return await self.inner.websocket(url, headers=headers, timeout=timeout)

    async def close(self) -> None:
        await self.inner.close()


class Recorder:
    """An observer that keeps everything it is told."""

    def __init__(self) -> None:
        self.events: list[tuple[str, Exchange, Any]] = []

    def on_request(self, exchange: Exchange) -> None:
        self.events.append(("request", exchange, None))

    def on_response(self, exchange: Exchange, response: Response, duration: float) -> None:
        assert duration >= 0
        self.events.append(("response", exchange, (response.status, duration)))

    def on_failure(self, exchange: Exchange, error: BaseException, duration: float) -> None:
        self.events.append(("failure", exchange, error))

    def ended(self) -> list[tuple[Exchange, int, float]]:
        """Every exchange that got an answer: (exchange, status, seconds); each was announced first."""
        announced: set[int] = set()
        done = []
        for what, exchange, detail in self.events:
            if what == "request":
                assert id(exchange) not in announced
                announced.add(id(exchange))
            else:
                assert id(exchange) in announced, f"{exchange} ended unannounced"
                if what == "response":
                    done.append((exchange, detail[0], detail[1]))
        return done

    def find(self, kind: str, method: str, path: str) -> list[tuple[Exchange, int, float]]:
        return [
            (ex, status, took)
            for ex, status, took in self.ended()
            if ex.kind == kind and ex.method == method and ex.url.removeprefix(ex.member).split("?")[0] == path
        ]


def _path(url: str) -> str:
    return "/" + url.split("://", 1)[1].split("/", 1)[1]


async def test_a_v2_write_and_watch_are_seen_with_the_probes_of_the_write(
    etcd_server: EtcdCluster, etcd_prefix: str
) -> None:
    seen = Recorder()
    key = etcd_prefix + "/k"
    held = Held(lambda method, url: method == "PUT" and _path(url).startswith("/v2/keys" + etcd_prefix))
    async with etcd_server.client(observer=seen, transport=held, retry=POLICY, allow_reconnect=True) as client:
        await client.write(key, "v")
        watching = asyncio.ensure_future(client.watch(key))
        await asyncio.sleep(0.2)
        await client.delete(key)
        assert (await asyncio.wait_for(watching, 10)).action == "delete"
    ((write, status, took),) = seen.find("request", "PUT", "/v2/keys" + key)
    assert status in (200, 201) and took >= HOLD and write.attempt == 1
    assert write.member == etcd_server.url and write.op == f"write {key!r}"
    probes = seen.find("probe", "GET", "/v2/stats/self")
    assert probes and all(p.attempt == 1 and p.member == etcd_server.url and s == 200 for p, s, _ in probes)
    assert seen.find("request", "GET", "/v2/machines")  # the member list, learned after the first answer
    ((stream, status, _),) = seen.find("stream", "GET", "/v2/keys" + key)
    assert status == 200 and "wait=true" in stream.url


async def test_a_v2_write_on_a_v3_store_is_seen_with_its_probes_and_the_metrics_read(
    etcd_v3_server: EtcdCluster, etcd_prefix: str
) -> None:
    seen = Recorder()
    held = Held(lambda method, url: _path(url) == "/v3/kv/txn")
    async with etcd_v3_server.client(
        api="v3", observer=seen, transport=held, retry=POLICY, allow_reconnect=True
    ) as client:
        await client.write(etcd_prefix + "/k", "v")
        assert (await client.store_stats())["watchers"] >= 0
    writes = [(ex, s, t) for ex, s, t in seen.find("request", "POST", "/v3/kv/txn") if t >= HOLD]
    assert writes and all(s == 200 for _, s, _ in writes)
    probes = seen.find("probe", "POST", "/v3/maintenance/status")
    assert probes and all(s == 200 for _, s, _ in probes)
    assert seen.find("request", "POST", "/v3/cluster/member/list")
    ((metrics, status, _),) = seen.find("ask", "GET", "/metrics")
    assert status == 200 and metrics.member == etcd_v3_server.url


async def test_a_v3_put_and_watches_are_seen_websocket_and_stream(
    etcd_v3_server: EtcdCluster, etcd_prefix: str
) -> None:
    seen = Recorder()
    held = Held(lambda method, url: _path(url) == "/v3/kv/put")
    key = etcd_prefix + "/k"
    async with etcd_v3_server.v3_client(observer=seen, transport=held, retry=POLICY) as client:
        assert client.watch_transport == "websocket"  # a wrapped transport keeps the multiplexer
        async with client.watch(key) as events:
            await client.put(key, b"v")
            async for event in events:
                assert event.kv.value == b"v"
                break
        await client.status(etcd_v3_server.url)
    # One HTTP stream per watch is the gateway's (over gRPC every watch shares the Watch stream).
    http_streams = etcd_v3_server.v3_client(observer=seen, watch_transport="http", transport="gateway")
    async with http_streams as streaming, streaming.watch(key):
        pass
    ((put, status, took),) = seen.find("request", "POST", "/v3/kv/put")
    assert status == 200 and took >= HOLD and put.op == f"put {key!r}"
    assert seen.find("probe", "POST", "/v3/maintenance/status")  # the put's vigil
    # The multiplexer asks the member whether it has a leader, opens the socket, then the watch on it.
    assert seen.find("ask", "POST", "/v3/maintenance/status")
    ((socket, status, _),) = seen.find("websocket", "WS", "/v3/watch")
    assert status == 101 and socket.member == etcd_v3_server.url
    watches = seen.find("lines", "POST", "/v3/watch")
    assert len(watches) == 2 and all(s == 200 for _, s, _ in watches)  # one on the socket, one HTTP stream


async def test_an_observer_that_raises_never_fails_the_call(etcd_server: EtcdCluster, etcd_prefix: str) -> None:
    class Broken:
        def on_request(self, exchange: Exchange) -> None:
            raise RuntimeError("observer bug")

        def on_response(self, exchange: Exchange, response: Response, duration: float) -> None:
            raise RuntimeError("observer bug")

        def on_failure(self, exchange: Exchange, error: BaseException, duration: float) -> None:
            raise RuntimeError("observer bug")

    async with etcd_server.client(observer=Broken()) as client:
        assert (await client.write(etcd_prefix + "/k", "v")).value == "v"
        assert (await client.read(etcd_prefix + "/k")).value == "v"


async def test_the_observer_can_be_set_on_the_core_later(etcd_v3_server: EtcdCluster, etcd_prefix: str) -> None:
    async with etcd_v3_server.v3_client() as client:
        await client.put(etcd_prefix + "/k", b"v")
        seen = Recorder()
        client._cluster.observer = seen
        await client.get(etcd_prefix + "/k")
    # The path is the wire's: the gateway's route, or the gRPC method over gRPC.
    path = "/etcdserverpb.KV/Range" if client.transport == "grpc" else "/v3/kv/range"
    ((read, status, _),) = seen.find("request", "POST", path)
    assert status == 200 and read.attempt == 1

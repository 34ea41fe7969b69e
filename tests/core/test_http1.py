"""aio_etcd._core.http1.Http1Transport: v3 calls over its own HTTP/1.1 connections, on real etcd and on
scripted servers (for what etcd will not do on demand: a connection closed at a chosen point)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from aio_etcd import v3
from aio_etcd._core.http1 import Http1Transport
from aio_etcd._core.transport import TransportFailure
from aio_etcd.testing import EtcdCluster, free_port

pytestmark = pytest.mark.timeout(60)

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


async def test_v3_calls_over_it(etcd_v3_server: EtcdCluster, etcd_prefix: str) -> None:
    transport = Http1Transport()
    async with v3.Client(etcd_v3_server.url, transport=transport) as client:
        p = etcd_prefix
        await client.put(p + "/k", "v")
        assert (await client.get(p + "/k")).value == b"v"  # type: ignore[union-attr]
        # 2,000 keys of 1 KB: an answer in chunks.
        for start in range(0, 2000, 100):
            puts = [v3.txn.put(f"{p}/r/{i:05}", "x" * 1000) for i in range(start, start + 100)]
            await client.txn().then(*puts).commit()
        found = await client.range(p + "/r/", prefix=True)
        assert len(found.kvs) == 2000 and found.kvs[-1].value == b"x" * 1000
        done = await client.txn().if_(v3.txn.value(p + "/k") == "v").then(v3.txn.put(p + "/k", "w")).commit()
        assert done.succeeded
        # Watches stay with aiohttp, beside it.
        async with client.watch(p + "/k") as events:
            await client.put(p + "/k", "after")
            event = await asyncio.wait_for(events.__anext__(), 10)
        assert event.kv.value == b"after"
        assert sum(len(conns) for conns in transport._idle.values()) >= 1  # kept for the next call


@contextlib.asynccontextmanager
async def scripted(handler: Handler) -> AsyncIterator[str]:
    """A server answering each connection with ``handler``; every connection closed on exit."""
    tasks: set[asyncio.Task[None]] = set()

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        tasks.add(asyncio.current_task())  # type: ignore[arg-type]
        try:
            await handler(reader, writer)
        except (asyncio.CancelledError, asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.close()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await server.wait_closed()


async def _request(reader: asyncio.StreamReader) -> bytes:
    head = await reader.readuntil(b"\r\n\r\n")
    length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
    return await reader.readexactly(length)


async def test_a_closed_keep_alive_connection_is_not_reused() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        body = await _request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
        await writer.drain()
        writer.close()  # after one answer, as a server with a short idle time does

    transport = Http1Transport()
    async with scripted(handler) as url:
        for n in range(3):
            answer = await transport.exchange("POST", url + "/x", body=b"n%d" % n, headers={}, timeout=5)
            assert (answer.status, answer.body) == (200, b"n%d" % n)
            (kept,) = transport._idle[("127.0.0.1", int(url.rsplit(":", 1)[1]))]
            assert await asyncio.wait_for(kept[0].read(), 5) == b""  # the server's close has arrived
    await transport.close()


async def test_failures_say_whether_the_request_was_sent() -> None:
    transport = Http1Transport()
    with pytest.raises(TransportFailure) as refused:
        await transport.exchange("POST", f"http://127.0.0.1:{free_port()}/x", body=b"", headers={}, timeout=5)
    assert refused.value.sent is False

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _request(reader)
        await asyncio.sleep(30)

    async with scripted(silent) as url:
        with pytest.raises(TransportFailure) as late:
            await transport.exchange("POST", url + "/x", body=b"{}", headers={}, timeout=0.3)
    assert (late.value.sent, late.value.timed_out) == (True, True)

    async def cut(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nX-Etcd-Index: 7\r\nContent-Length: 100\r\n\r\npartial")
        await writer.drain()
        writer.close()

    async with scripted(cut) as url:
        with pytest.raises(TransportFailure) as broken:
            await transport.exchange("POST", url + "/x", body=b"{}", headers={}, timeout=5)
    assert broken.value.sent is True and not broken.value.timed_out
    assert broken.value.headers is not None and broken.value.headers["x-etcd-index"] == "7"
    await transport.close()


async def test_chunked_and_closing_answers() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;x=y\r\nhello\r\n6\r\n world\r\n0\r\n\r\n")
        await _request(reader)
        writer.write(b"HTTP/1.1 404 Not Found\r\nConnection: close\r\n\r\nno length, to the end")
        await writer.drain()
        writer.close()

    transport = Http1Transport()
    async with scripted(handler) as url:
        first = await transport.exchange("POST", url + "/x", body=b"1", headers={"A": "b"}, timeout=5)
        assert (first.status, first.body) == (200, b"hello world")
        second = await transport.exchange("POST", url + "/x", body=b"2", headers={}, timeout=5)
        assert (second.status, second.body) == (404, b"no length, to the end")
        assert not transport._idle.get(("127.0.0.1", int(url.rsplit(":", 1)[1])))  # closed, not kept
    await transport.close()


async def test_answers_without_a_body_and_malformed_ones() -> None:
    """204 and 304 carry no body whatever their headers say and leave the connection reusable; an answer
    llhttp refuses, or a head past 64 KiB, is a failure after sending, named as such; bytes after a complete
    answer make its connection one not to reuse."""
    answers = [
        b"HTTP/1.1 204 No Content\r\nX-Etcd-Index: 3\r\n\r\n",
        b"HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 200 OK\r\n",
        b"HTTP/1.1 2x0 OK\r\nContent-Length: 0\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        b"HTTP/1.1 200 OK\r\n" + b"X-Big: " + b"a" * 70_000 + b"\r\n\r\n",
    ]

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while answers:
            await _request(reader)
            writer.write(answers.pop(0))
            await writer.drain()
        await asyncio.sleep(30)

    transport = Http1Transport()
    async with scripted(handler) as url:
        where = ("127.0.0.1", int(url.rsplit(":", 1)[1]))
        empty = await transport.exchange("POST", url + "/x", body=b"", headers={}, timeout=5)
        assert (empty.status, empty.body, empty.headers["x-etcd-index"]) == (204, b"", "3")
        assert len(transport._idle[where]) == 1
        same = await transport.exchange("POST", url + "/x", body=b"", headers={}, timeout=5)
        assert (same.status, same.body) == (304, b"") and len(transport._idle[where]) == 1
        followed = await transport.exchange("POST", url + "/x", body=b"", headers={}, timeout=5)
        assert (followed.status, followed.body) == (200, b"ok") and not transport._idle[where]
        for expected in ("not an HTTP/1.1 answer", "not an HTTP/1.1 answer", "longer than 65536 bytes"):
            with pytest.raises(TransportFailure) as bad:
                await transport.exchange("POST", url + "/x", body=b"", headers={}, timeout=5)
            assert bad.value.sent is True and not bad.value.timed_out, expected
            assert expected in str(bad.value.cause) and not transport._idle[where]
    await transport.close()


def test_without_httptools_it_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    from aio_etcd._core import http1

    monkeypatch.setattr(http1, "HttpResponseParser", None)
    with pytest.raises(ImportError, match=r"aio_etcd\[http1\]"):
        Http1Transport()

"""The shared LeaseKeepAlive stream (aio_etcd/v3/_grpc/keepalive.py) on a scripted stream.

What etcd will not do on demand: answer a renewal late, after a later one
of the same lease was sent, or fail a stream at a chosen moment. The stream
answers in the order asked, as etcd does; the test decides when.
"""

from __future__ import annotations

import asyncio
from typing import Any

import grpc
import pytest

from aio_etcd._core import Response, TransportFailure
from aio_etcd.v3._grpc.keepalive import KeepAliveStreams
from aio_etcd.v3._grpc.messages import etcdserverpb as pb
from aio_etcd.v3._grpc.transport import GrpcTransport

URL = "http://127.0.0.1:1/etcdserverpb.Lease/LeaseKeepAlive"


class ScriptedStream:
    """A LeaseKeepAlive call whose answers the test gives (:meth:`answer`), or fails."""

    def __init__(self) -> None:
        self.sent: list[int] = []
        self._answers: asyncio.Queue[Any] = asyncio.Queue()
        self.cancelled = False

    async def write(self, data: bytes) -> None:
        if self.cancelled:
            raise asyncio.InvalidStateError("RPC already finished")
        self.sent.append(pb.LeaseKeepAliveRequest.FromString(data).ID)

    async def read(self) -> Any:
        item = await self._answers.get()
        if isinstance(item, BaseException):
            raise item
        return item

    def answer(self, lease: int, ttl: int) -> None:
        self._answers.put_nowait(pb.LeaseKeepAliveResponse(ID=lease, TTL=ttl).SerializeToString())

    def fail(self, error: BaseException) -> None:
        self._answers.put_nowait(error)

    def cancel(self) -> None:
        self.cancelled = True
        self._answers.put_nowait(asyncio.CancelledError())


def _streams() -> tuple[KeepAliveStreams, list[ScriptedStream]]:
    opened: list[ScriptedStream] = []

    def open_stream(base: str, metadata: tuple[tuple[str, str], ...]) -> ScriptedStream:
        opened.append(ScriptedStream())
        return opened[-1]

    return KeepAliveStreams(open_stream, GrpcTransport._failed), opened


def _body(lease: int) -> bytes:
    return pb.LeaseKeepAliveRequest(ID=lease).SerializeToString()


def _ttl(answer: Response) -> int:
    return int(pb.LeaseKeepAliveResponse.FromString(answer.body).TTL)


async def _until(condition: Any) -> None:
    for _ in range(100):
        if condition():
            return
        await asyncio.sleep(0)
    raise AssertionError("the condition never held")


async def test_a_late_answer_goes_to_the_renewal_that_asked_for_it_not_to_a_later_one() -> None:
    streams, opened = _streams()
    with pytest.raises(TransportFailure) as late:
        await streams.exchange("http://127.0.0.1:1", URL, _body(7), (), 0.01)
    assert late.value.timed_out and late.value.sent
    cancelled = asyncio.ensure_future(streams.exchange("http://127.0.0.1:1", URL, _body(7), (), 5))
    await _until(lambda: len(opened[0].sent) == 2)
    cancelled.cancel()
    later = asyncio.ensure_future(streams.exchange("http://127.0.0.1:1", URL, _body(7), (), 5))
    other = asyncio.ensure_future(streams.exchange("http://127.0.0.1:1", URL, _body(8), (), 5))
    await _until(lambda: len(opened[0].sent) == 4)
    (stream,) = opened
    stream.answer(7, 1)  # the timed-out renewal's
    stream.answer(7, 2)  # the cancelled one's
    stream.answer(7, 3)
    stream.answer(8, 4)
    assert _ttl(await later) == 3 and _ttl(await other) == 4
    assert cancelled.cancelled()
    assert len(opened) == 1 and streams.open == 1
    streams.close()


async def test_a_failed_stream_fails_every_renewal_waiting_and_the_next_opens_another() -> None:
    streams, opened = _streams()
    waiting = [asyncio.ensure_future(streams.exchange("http://127.0.0.1:1", URL, _body(n), (), 5)) for n in (1, 2)]
    await _until(lambda: opened and len(opened[0].sent) == 2)
    opened[0].fail(ConnectionResetError("gone"))  # not grpc's: an answer it could not read
    for renewal in waiting:
        with pytest.raises(TransportFailure) as failed:
            await renewal
        assert failed.value.sent and not failed.value.timed_out
    assert streams.open == 0
    again = asyncio.ensure_future(streams.exchange("http://127.0.0.1:1", URL, _body(1), (), 5))
    await _until(lambda: len(opened) == 2 and opened[1].sent == [1])
    opened[1].answer(1, 9)
    assert _ttl(await again) == 9
    streams.close()


async def test_etcd_ending_the_stream_with_its_error_is_that_error_for_each_renewal() -> None:
    streams, opened = _streams()
    waiting = [asyncio.ensure_future(streams.exchange("http://127.0.0.1:1", URL, _body(n), (), 5)) for n in (1, 2)]
    await _until(lambda: opened and len(opened[0].sent) == 2)
    error = grpc.aio.AioRpcError(
        grpc.StatusCode.UNAVAILABLE, grpc.aio.Metadata(), grpc.aio.Metadata(), details="etcdserver: leader changed"
    )
    opened[0].fail(error)
    for renewal in waiting:
        answer = await renewal
        assert answer.status == 503 and b"leader changed" in answer.body


async def test_new_credentials_open_a_new_stream_and_close_the_old() -> None:
    streams, opened = _streams()
    first = asyncio.ensure_future(streams.exchange("http://127.0.0.1:1", URL, _body(1), (("token", "a"),), 5))
    await _until(lambda: opened and opened[0].sent == [1])
    opened[0].answer(1, 5)
    assert _ttl(await first) == 5
    second = asyncio.ensure_future(streams.exchange("http://127.0.0.1:1", URL, _body(1), (("token", "b"),), 5))
    await _until(lambda: len(opened) == 2 and opened[1].sent == [1])
    assert opened[0].cancelled
    opened[1].answer(1, 6)
    assert _ttl(await second) == 6 and streams.open == 1
    streams.close()
    assert opened[1].cancelled and streams.open == 0


async def test_a_renewal_not_yet_written_when_the_stream_fails_is_not_sent() -> None:
    streams, opened = _streams()
    first = asyncio.ensure_future(streams.exchange("http://127.0.0.1:1", URL, _body(1), (), 5))
    await _until(lambda: opened and opened[0].sent == [1])
    (stream,) = streams._streams.values()
    async with stream.writing:  # a write under way: the next renewal waits its turn to write
        queued = asyncio.ensure_future(stream.renew(2, _body(2), 5))
        await asyncio.sleep(0)
        opened[0].fail(ConnectionResetError("gone"))
        await _until(lambda: stream.ended)
    with pytest.raises(TransportFailure) as unsent:
        await queued
    assert not unsent.value.sent
    with pytest.raises(TransportFailure):
        await first
    assert opened[0].sent == [1]

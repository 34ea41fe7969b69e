"""Lease renewals over gRPC: one LeaseKeepAlive stream per member, shared by every renewal.

etcd renews a lease on a bidirectional stream: each ``LeaseKeepAliveRequest``
(a lease id) is answered by one ``LeaseKeepAliveResponse`` naming the same
id, in the order asked. :class:`KeepAliveStreams` keeps one such stream per
member (and per credentials: a new token opens a new stream) and hands each
answer to the oldest renewal of that id still waiting, so a client holding
many leases opens one stream, not one a renewal.

To the core a renewal stays one exchange: its answer, or a
:class:`~aio_etcd._core.TransportFailure`. A stream that fails (the member
went, or ended it with an error) fails every renewal waiting on it; the
next renewal opens a new one. A renewal not answered within its time limit
fails alone, as timed out; the stream stays (etcd answers its renewals one
at a time, in order: a slow member is slow for all of them, as etcd's own
client, which also shares one stream, lets it be). A renewal is safe to
send again (it only moves the lease's end), so the attempt loop tries it
again, on the next member when there is one.
"""

from __future__ import annotations

import asyncio
import collections
from collections.abc import Callable
from typing import Any

import grpc

from ..._core import Response, TransportFailure, within
from ..._core.transport import cancelling
from ...exceptions import EtcdException
from .messages import etcdserverpb as pb

__all__ = ["KeepAliveStreams"]

PATH = "/etcdserverpb.Lease/LeaseKeepAlive"

#: Turns grpc's error into an etcd error answer, or raises the TransportFailure it is.
Failed = Callable[[grpc.aio.AioRpcError, str], Response]


class _Stream:
    """One LeaseKeepAlive stream and the renewals waiting for its answers, by lease id."""

    def __init__(self, rpc: Any, url: str, metadata: tuple[tuple[str, str], ...], failed: Failed) -> None:
        self.rpc = rpc
        self.url = url
        #: The metadata (credentials) it was opened with.
        self.metadata = metadata
        self._failed = failed
        #: lease id -> the renewals of it waiting, oldest first (a cancelled one keeps its
        #: place: the answer to what it sent is dropped, not given to a later one).
        self.waiting: dict[int, collections.deque[asyncio.Future[Response]]] = {}
        self.ended = False
        self.writing = asyncio.Lock()  # grpc.aio takes one write at a time
        self.reader = asyncio.get_running_loop().create_task(self._read())

    async def _read(self) -> None:
        end: Response | BaseException
        try:
            while True:
                data = await self.rpc.read()
                if data is grpc.aio.EOF:
                    end = TransportFailure(self.url, EtcdException("the keep-alive stream ended"), sent=True)
                    break
                lease = pb.LeaseKeepAliveResponse.FromString(data).ID
                queue = self.waiting.get(lease)
                if not queue:
                    continue  # nobody waits for it any more
                turn = queue.popleft()
                if not queue:
                    del self.waiting[lease]
                if not turn.done():
                    turn.set_result(Response(200, {}, data, self.url))
        except grpc.aio.AioRpcError as exc:
            try:
                end = self._failed(exc, self.url)  # etcd's error: its answer to every renewal
            except TransportFailure as failure:  # a failure below etcd
                end = failure
        except asyncio.CancelledError:
            end = TransportFailure(self.url, ConnectionError("the keep-alive stream was closed"), sent=True)
        except Exception as exc:  # an answer grpc could not read: not etcd's
            end = TransportFailure(self.url, exc, sent=True)
        self._end(end)

    def _end(self, end: Response | BaseException) -> None:
        """The stream is over: every renewal still waiting gets ``end``, an answer or a failure."""
        self.ended = True
        waiting, self.waiting = self.waiting, {}
        for queue in waiting.values():
            for turn in queue:
                if turn.done():
                    continue
                if isinstance(end, Response):
                    turn.set_result(end)
                else:
                    turn.set_exception(end)

    def close(self) -> None:
        self.ended = True
        self.rpc.cancel()
        self.reader.cancel()

    async def renew(self, lease: int, body: bytes, timeout: float | None) -> Response:
        turn: asyncio.Future[Response] = asyncio.get_running_loop().create_future()
        queue = self.waiting.setdefault(lease, collections.deque())
        queue.append(turn)  # before the write: its answer may be read before the write returns
        written = False
        try:
            async with self.writing:
                if self.ended:  # failed while this renewal waited to write: not sent
                    if turn.done() and not turn.cancelled():
                        turn.exception()  # the stream's failure, told to this renewal: taken as read
                    raise TransportFailure(self.url, ConnectionError("the keep-alive stream ended"), sent=False)
                # A failed write is a failed stream: its reader tells why, to every renewal waiting.
                try:
                    await self.rpc.write(body)
                except (grpc.aio.AioRpcError, asyncio.InvalidStateError):
                    pass
                except asyncio.CancelledError:
                    # grpc raises it in the writer when the stream itself was cancelled (closed).
                    if not self.ended or cancelling():
                        raise
                written = True
            return await within(turn, timeout)
        except asyncio.TimeoutError:
            # The renewal stays in its place, cancelled: etcd answers a stream's renewals one
            # after the other, so its late answer comes before those of later ones and is dropped.
            raise TransportFailure(self.url, asyncio.TimeoutError(), sent=True, timed_out=True) from None
        finally:
            if not written and not turn.done():
                turn.cancel()
                if turn in queue:  # never sent: no answer will come for it
                    queue.remove(turn)


class KeepAliveStreams:
    """The LeaseKeepAlive streams of one transport, by member and metadata.

    :param open_stream: opens a LeaseKeepAlive call to a member (its base URL) with this metadata.
    :param failed: turns grpc's error into an etcd error answer, or raises the failure.
    """

    def __init__(self, open_stream: Callable[[str, tuple[tuple[str, str], ...]], Any], failed: Failed) -> None:
        self._open = open_stream
        self._failed = failed
        self._streams: dict[str, _Stream] = {}

    async def exchange(
        self, base: str, url: str, body: bytes, metadata: tuple[tuple[str, str], ...], timeout: float | None
    ) -> Response:
        """Renew the lease ``body`` names on ``base``'s stream; the answer, as a unary call's."""
        try:
            lease = pb.LeaseKeepAliveRequest.FromString(body).ID
        except Exception as exc:
            raise EtcdException(f"not a LeaseKeepAliveRequest: {exc}") from exc
        stream = self._streams.get(base)
        if stream is None or stream.ended or stream.metadata != metadata:
            if stream is not None:
                stream.close()  # ended, or opened with credentials since replaced
            stream = self._streams[base] = _Stream(self._open(base, metadata), url, metadata, self._failed)
        return await stream.renew(lease, body, timeout)

    @property
    def open(self) -> int:
        """How many streams are open (for tests and the curious)."""
        return sum(not stream.ended for stream in self._streams.values())

    def close(self) -> None:
        streams, self._streams = self._streams, {}
        for stream in streams.values():
            stream.close()

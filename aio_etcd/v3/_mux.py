"""Many watches on one websocket per member (the gateway's ``/v3/watch`` websocket).

The multiplexer stands in for the transport of a watch's call: its
:meth:`Multiplexer.open_lines` sends a ``create_request`` with a watch id of
our choosing on the member's socket and waits for the answer to that id, so
the cluster's attempt loop (failover, backoff, deadline) opens websocket
watches exactly as it opens HTTP ones. Each watch reads its own messages from
a queue the socket's reader fills; closing a watch sends a ``cancel_request``.

On etcd 3.5 the websocket forwards no ``Authorization`` header and no
``Grpc-Metadata-hasleader``: the client uses it only without credentials,
and the watch probe (see :mod:`aio_etcd.v3.watch`) stands in for the
require-leader check.

Watches that ask for the same thing share one etcd watch on a socket
(:mod:`aio_etcd.v3._shared` says how, and when a watch gets one of its own).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import re
from collections.abc import Mapping

from .._core import Cluster, LineStream, Response, Transport, TransportFailure, WebSocket, within
from ._gateway import ask_status, leads
from ._shared import CANCELED as _CANCELED
from ._shared import WATCH as _WATCH
from ._shared import Hub, join, no_leader, share_key

__all__ = ["Multiplexer"]

log = logging.getLogger(__name__)

_WATCH_ID = re.compile(rb'"watch_id":\s*"(-?\d+)"')
#: Seconds a member's "I have a leader" is trusted for opening websocket watches.
_QUORUM_FRESH = 1.0


class _Socket(Hub):
    """One member's websocket and the watches on it."""

    def __init__(self, ws: WebSocket, base: str, mux: Multiplexer) -> None:
        super().__init__(base)
        self.ws = ws
        self.mux = mux
        #: Canceled watches whose end etcd has not confirmed yet.
        self.leaving: dict[int, asyncio.Future[None]] = {}
        self.reader = asyncio.get_running_loop().create_task(self._read())

    def cancel(self, watch_id: int) -> asyncio.Future[None] | None:
        """Stop one etcd watch: the readers of its watches wake with a failure; etcd is asked to cancel it.

        :returns: a future done when etcd confirmed the cancel (or the socket ended).
        """
        shared = self.queues.pop(watch_id, None)
        if shared is None:
            return self.leaving.get(watch_id)
        self.retire(shared)
        shared.fail(self.closed())
        if self.ws.closed:
            return None
        loop = asyncio.get_running_loop()
        gone = self.leaving[watch_id] = loop.create_future()
        message = json.dumps({"cancel_request": {"watch_id": str(watch_id)}})
        task = loop.create_task(self._send_quietly(message))
        self.mux.background.add(task)
        task.add_done_callback(self.mux.background.discard)
        return gone

    async def _send_quietly(self, message: str) -> None:
        with contextlib.suppress(TransportFailure):  # the socket is going away: its watches end with it
            await self.ws.send(message)

    async def _read(self) -> None:
        failure: TransportFailure | None = None
        try:
            while True:
                message = await self.ws.receive()
                if message is None:
                    break
                self._dispatch(message)
        except TransportFailure as exc:
            failure = exc
        finally:
            self.mux.forget(self)
            failure = failure or TransportFailure(
                self.base + _WATCH, ConnectionResetError("the member closed the websocket"), sent=True
            )
            for shared in self.queues.values():
                self.retire(shared)
                shared.fail(failure)
            self.queues.clear()
            for gone in self.leaving.values():
                if not gone.done():
                    gone.set_result(None)
            self.leaving.clear()

    def _dispatch(self, message: bytes) -> None:
        # The watch parses the message; here only its watch id is needed. Keys
        # and values are base64 and the header has no watch_id, so the first
        # "watch_id" in a result is the watch's own (absent for watch 0).
        if message.startswith(b'{"result"'):
            found = _WATCH_ID.search(message)
            watch_id = int(found.group(1)) if found else 0
            shared = self.queues.get(watch_id)
            if shared is not None:
                self.hand_out(shared, message)
            elif self.leaving and _CANCELED.search(message):
                gone = self.leaving.pop(watch_id, None)
                if gone is not None and not gone.done():
                    gone.set_result(None)  # etcd dropped the watcher
            return
        # An error of the whole stream (or garbage): every watch on it reads it.
        for shared in self.queues.values():
            self.retire(shared)
            shared.put(message)

    async def close(self) -> None:
        await self.ws.close()
        self.reader.cancel()
        await asyncio.gather(self.reader, return_exceptions=True)


class Multiplexer:
    """Websocket watches of one client, one socket per member (a transport for watch calls).

    :param transport: the client's transport (it opens the websockets).
    :param cluster: the client's core: sockets are opened and members asked
        through it, in its observer's sight.
    """

    #: What a member's socket is (the gRPC transport's reads messages, not JSON).
    socket_class: type[_Socket] = _Socket

    def __init__(self, transport: Transport, cluster: Cluster) -> None:
        self.transport = transport
        self.cluster = cluster
        #: What it forwards to :meth:`websocket`.
        self.websockets = transport.websockets
        self._sockets: dict[str, asyncio.Future[_Socket]] = {}
        self.background: set[asyncio.Task[None]] = set()
        self._quorum: dict[str, float] = {}

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
        """Ordinary requests (the cluster's member list) go to the real transport."""
        return await self.transport.exchange(
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
        if not url.endswith(_WATCH) or body is None or not first_line:
            return await self.transport.open_lines(
                method, url, body=body, headers=headers, timeout=timeout, foreign=foreign, first_line=first_line
            )
        base = url[: -len(_WATCH)]
        refusal = await self._check_quorum(base, headers, timeout)
        if refusal is not None:
            return refusal
        sock = await self._socket(base, headers, timeout)
        request = json.loads(body)
        create = request["create_request"]
        key, start = share_key(create)
        shared = sock.joinable.get(key)
        if shared is not None:
            joined = await join(self.cluster, self.transport, sock, shared, url, start, headers, timeout)
            if joined is not None:
                if joined.status == 200:
                    self._quorum[base] = asyncio.get_running_loop().time()
                return joined
        shared, queue = sock.register(key)
        create["watch_id"] = str(shared.watch_id)
        try:
            await sock.ws.send(json.dumps(request))
            first = await within(queue.get(), timeout)
        except asyncio.TimeoutError as exc:
            sock.cancel(shared.watch_id)
            raise TransportFailure(url, exc, sent=True, timed_out=True) from exc
        except BaseException:
            sock.cancel(shared.watch_id)
            raise
        sock.created(shared, sock.first_revision(first, start))
        return LineStream(200, {}, first, url, queue.get, lambda: sock.leave(shared, queue))

    async def _check_quorum(self, base: str, headers: Mapping[str, str], timeout: float | None) -> Response | None:
        """The websocket drops the require-leader header, so ask the member itself (at most once a second).

        :returns: ``None`` if it has a leader, else the refusal etcd gives an
            HTTP watch there (the cluster loop moves on to another member).
        """
        loop = asyncio.get_running_loop()
        if loop.time() - self._quorum.get(base, -math.inf) < _QUORUM_FRESH:
            return None
        # With the watch's require-leader header, a member without quorum refuses the status call itself.
        resp = await ask_status(self.cluster, self.transport, base, headers, timeout)
        if resp.status != 200:
            return resp
        if not leads(resp):
            return no_leader(resp)
        self._quorum[base] = loop.time()
        return None

    async def _socket(self, base: str, headers: Mapping[str, str], timeout: float | None) -> _Socket:
        opening = self._sockets.get(base)
        if opening is None or (opening.done() and (opening.exception() is not None or opening.result().ws.closed)):
            opening = self._sockets[base] = asyncio.get_running_loop().create_future()
            try:
                ws = await self.cluster.websocket(self.transport, base, _WATCH, headers, timeout)
            except BaseException as exc:
                del self._sockets[base]
                opening.set_exception(exc)
                opening.exception()  # retrieved: waiters raise it themselves
                raise
            opening.set_result(self.socket_class(ws, base, self))
        return await asyncio.shield(opening)

    async def websocket(self, url: str, *, headers: Mapping[str, str], timeout: float | None) -> WebSocket:
        """A websocket of the transport below (the protocol's; the multiplexer opens its own)."""
        return await self.transport.websocket(url, headers=headers, timeout=timeout)

    def forget(self, sock: _Socket) -> None:
        opening = self._sockets.get(sock.base)
        if opening is not None and opening.done() and not opening.exception() and opening.result() is sock:
            del self._sockets[sock.base]

    async def drop(self, base: str) -> None:
        """Close the socket to ``base`` (its member is frozen or cut off): its watches move on."""
        opening = self._sockets.pop(base, None)
        if opening is not None and opening.done() and opening.exception() is None:
            await opening.result().close()

    @property
    def sockets(self) -> int:
        """How many websockets are open."""
        return sum(1 for f in self._sockets.values() if f.done() and f.exception() is None)

    async def close(self) -> None:
        for base in list(self._sockets):
            await self.drop(base)
        for task in list(self.background):
            task.cancel()
        await asyncio.gather(*self.background, return_exceptions=True)

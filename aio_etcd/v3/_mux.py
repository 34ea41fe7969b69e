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
from typing import Any

from .._core import Cluster, LineStream, Response, Transport, TransportFailure, WebSocket, within
from ._gateway import ask_status, leads
from ._shared import CANCELED as _CANCELED
from ._shared import WATCH as _WATCH
from ._shared import Hub, Sharing, end_of, left_until, no_leader

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


class Multiplexer(Sharing):
    """Websocket watches of one client, one socket per member (a transport for watch calls).

    :param transport: the client's transport (it opens the websockets).
    :param cluster: the client's core: sockets are opened and members asked
        through it, in its observer's sight.
    """

    #: What a member's socket is (the gRPC transport's reads messages, not JSON).
    socket_class: type[_Socket] = _Socket

    def __init__(self, transport: Transport, cluster: Cluster) -> None:
        super().__init__(transport, cluster)
        self._sockets: dict[str, asyncio.Future[_Socket]] = {}
        self.background: set[asyncio.Task[None]] = set()
        self._quorum: dict[str, float] = {}

    async def _hub(self, base: str, headers: Mapping[str, str], timeout: float | None) -> Hub | Response:
        loop = asyncio.get_running_loop()
        end = end_of(loop, timeout)  # the socket gets what the quorum check left of the limit
        refusal = await self._check_quorum(base, headers, timeout)
        if refusal is not None:
            return refusal
        return await self._socket(base, headers, left_until(loop, end))

    async def _own(
        self,
        hub: Hub,
        key: str,
        start: int,
        request: dict[str, Any],
        method: str,
        url: str,
        body: bytes,
        headers: Mapping[str, str],
        timeout: float | None,
        foreign: bool,
    ) -> Response:
        assert isinstance(hub, _Socket)
        shared, queue = hub.register(key)
        request["create_request"]["watch_id"] = str(shared.watch_id)
        try:
            await hub.ws.send(json.dumps(request))
            first = await within(queue.get(), timeout)
        except asyncio.TimeoutError as exc:
            hub.cancel(shared.watch_id)
            raise TransportFailure(url, exc, sent=True, timed_out=True) from exc
        except BaseException:
            hub.cancel(shared.watch_id)
            raise
        hub.created(shared, hub.first_revision(first, start))
        return LineStream(200, {}, first, url, queue.get, lambda: hub.leave(shared, queue))

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

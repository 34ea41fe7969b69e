"""Watches over gRPC: the gateway client's watches and multiplexer, reading ``WatchResponse`` messages.

The multiplexer (:mod:`aio_etcd.v3._mux`) and :class:`~aio_etcd.v3.Watch`
do the work (one stream per member, watch ids, resume without loss or
repeat, progress, cancel, the freeze probe); here they read the messages a
:class:`~aio_etcd.v3._grpc.transport.WatchStream` hands over as they are:
the socket dispatches on ``watch_id``, the watch makes its events
:class:`PbEvent` views over ``mvccpb.Event``. Errors etcd ends a stream
with arrive as the gateway's error lines and are read as there.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from ..._core import Cluster, Transport
from .._mux import Multiplexer, _Socket
from ..errors import token_refused
from ..results import KV, Event
from ..watch import Watch
from .results import PbKV

__all__ = ["GrpcMultiplexer", "GrpcWatch", "PbEvent"]


class PbEvent(Event):
    """An :class:`~aio_etcd.v3.Event` over an ``mvccpb.Event``."""

    __slots__ = ()
    _raw: Any

    @property
    def type(self) -> str:
        return "DELETE" if self._raw.type else "PUT"

    @property
    def kv(self) -> KV:
        return PbKV(self._raw.kv)

    @property
    def prev_kv(self) -> KV | None:
        raw = self._raw
        return PbKV(raw.prev_kv) if raw.HasField("prev_kv") else None

    @property
    def mod_revision(self) -> int:
        return int(self._raw.kv.mod_revision)


class _MessageSocket(_Socket):
    """A member's Watch stream: answers go to their watch by ``watch_id``."""

    def _dispatch(self, message: Any) -> None:
        if isinstance(message, bytes):  # an error line ending the stream: every watch reads it
            super()._dispatch(message)
            return
        watch_id = message.watch_id
        shared = self.queues.get(watch_id)
        if shared is not None:
            if message.canceled:
                self.canceled(shared, message)
            else:
                shared.put(message)
        elif self.leaving and message.canceled:
            gone = self.leaving.pop(watch_id, None)
            if gone is not None and not gone.done():
                gone.set_result(None)  # etcd dropped the watcher

    def compacted(self, message: Any) -> int:
        if isinstance(message, bytes):
            return super().compacted(message)
        return int(message.compact_revision)

    def reached(self, message: Any) -> int:
        if isinstance(message, bytes):
            return super().reached(message)
        events = message.events
        if events:
            return int(events[-1].kv.mod_revision)
        return 0 if message.created else int(message.header.revision)

    def first_revision(self, created: Any, start: int) -> int:
        if isinstance(created, bytes):
            return super().first_revision(created, start)
        if not created.created or created.canceled:
            return 0
        return start or int(created.header.revision) + 1


class GrpcMultiplexer(Multiplexer):
    """The multiplexer on Watch streams (:class:`~aio_etcd.v3._grpc.transport.WatchStream`).

    A stream carries the token it was opened with (etcd reads it once per
    stream): a watch made with a renewed token gets a new stream, and the
    watches of the old one move there (they resume, as after any break).
    """

    socket_class = _MessageSocket

    def __init__(self, transport: Transport, cluster: Cluster) -> None:
        super().__init__(transport, cluster)
        self._tokens: dict[str, str | None] = {}

    async def _socket(self, base: str, headers: Mapping[str, str], timeout: float | None) -> _Socket:
        token = headers.get("Authorization")
        if base in self._sockets and self._tokens.get(base, token) != token:
            await self.drop(base)
        self._tokens[base] = token
        return await super()._socket(base, headers, timeout)


def _result(answer: Any) -> dict[str, Any]:
    """The parts of a ``WatchResponse`` the watch reads when it is not events, as the gateway's result."""
    header = answer.header
    result: dict[str, Any] = {"header": {"cluster_id": str(header.cluster_id), "revision": str(header.revision)}}
    if answer.created:
        result["created"] = True
    if answer.canceled:
        result["canceled"] = True
    if answer.compact_revision:
        result["compact_revision"] = str(answer.compact_revision)
    if answer.cancel_reason:
        result["cancel_reason"] = answer.cancel_reason
    return result


class GrpcWatch(Watch):
    """A :class:`~aio_etcd.v3.Watch` reading ``WatchResponse`` messages (error lines as on the gateway)."""

    def _result(self, line: Any, resp: Any = None) -> dict[str, Any]:
        if isinstance(line, bytes):
            return super()._result(line, resp)
        return _result(line)

    def _take(self, line: Any) -> bool:
        if isinstance(line, bytes):
            return super()._take(line)
        self.last_line = time.monotonic()
        events = line.events
        if events:
            floor = next_revision = self._next
            pending = self._pending
            for raw in events:
                revision = raw.kv.mod_revision
                if revision >= floor:  # older ones were delivered before a resume
                    pending.append(PbEvent(raw))
                    next_revision = revision + 1
            self._next = next_revision
        elif line.canceled:
            if token_refused(line.cancel_reason) and self._may_reauthenticate():
                return True
            self._canceled(_result(line))
        elif not line.created:  # a progress report: nothing up to its revision is missing
            self._next = max(self._next, line.header.revision + 1)
        return False

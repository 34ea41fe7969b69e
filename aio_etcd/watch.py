"""v2 watches: long-poll requests shared between callers, resumed across members.

- Callers watching the same key, with the same options, from the same index,
  while a request is pending, share that one request. Each caller waits on a
  future of its own, with its own timeout and cancellation; the request is
  cancelled when its last caller leaves. A failed request hands each caller
  an exception of its own (one object raised in many tasks would grow one
  shared traceback).
- A request that breaks is sent to the next member from the same index; a
  watch without an index that broke after the member answered its headers
  continues from that member's ``X-Etcd-Index + 1``.
- An empty ``200`` is not an event: the request is sent again from where it
  started. An empty answer without ``X-Etcd-Index`` is not etcd's, and raises.
- :func:`next_event` turns etcd's "index cleared" (401) into a fresh read, for
  :meth:`Client.eternal_watch <aio_etcd.Client.eternal_watch>` and
  :meth:`Client.watch_iter <aio_etcd.Client.watch_iter>`; :func:`follow` is
  their loop: one long poll per event on the v2 API, one v3 watch for all
  events on a v3 store (``api="v3"``).
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import functools
import logging
import math
from collections.abc import AsyncGenerator, Awaitable, Callable
from typing import TYPE_CHECKING

from ._answers import key_answer
from ._core import within
from ._http import Response, TransportFailure
from .cluster import Call, NotEtcd
from .exceptions import EtcdEventIndexCleared, EtcdException, EtcdWatchTimedOut
from .result import EtcdResult

if TYPE_CHECKING:
    from .client import Client

__all__ = ["Watches", "follow", "next_event"]

log = logging.getLogger(__name__)


class _Shared:
    """A pending watch request and the futures of the callers waiting on it."""

    __slots__ = ("task", "waiters")

    def __init__(self, task: asyncio.Future[EtcdResult]) -> None:
        self.task = task
        self.waiters: set[asyncio.Future[EtcdResult]] = set()


def _own_copy(error: BaseException) -> BaseException:
    """An exception like ``error`` for one more waiter (same class, message and fields)."""
    try:
        clone = copy.copy(error)
    except Exception:  # an exception class copy cannot rebuild
        clone = EtcdException(str(error))
    clone.__cause__ = error.__cause__
    clone.__traceback__ = None
    return clone


#: What waits for one change: ``(key, path, query, index)`` to the event (a v2 long poll of
#: ``path`` by default).
Request = Callable[[str, str, dict[str, str], "int | None"], Awaitable[EtcdResult]]


class Watches:
    """The pending watch requests of one client.

    :param request: waits for one change in place of the v2 long poll
        (``Client(api="v3")`` waits on a v3 watch).
    """

    def __init__(self, client: Client, request: Request | None = None) -> None:
        self._client = client
        self._pending: dict[str, _Shared] = {}
        self._closed = False
        self._fetch: Request = request or self._long_poll

    def close(self) -> None:
        """End every pending watch: its callers get an :class:`EtcdException` saying the client closed."""
        self._closed = True
        for shared in list(self._pending.values()):
            shared.task.cancel()

    async def wait(self, key: str, query: dict[str, str], index: int | None, timeout: float | None) -> EtcdResult:
        """The next change of ``key`` at or after ``index``: one request shared by every caller asking the same."""
        query = {**query, "wait": "true"}
        if index is not None:
            query["waitIndex"] = str(int(index))
        path = self._client._key_url(key, query)
        shared = self._pending.get(path)
        if shared is None:
            shared = self._pending[path] = _Shared(asyncio.ensure_future(self._fetch(key, path, query, index)))
            shared.task.add_done_callback(functools.partial(self._deliver, path, shared))
        waiter: asyncio.Future[EtcdResult] = asyncio.get_running_loop().create_future()
        shared.waiters.add(waiter)
        try:
            if timeout is None:
                result = await waiter
            else:
                try:
                    result = await within(waiter, timeout)
                except asyncio.TimeoutError as exc:
                    raise EtcdWatchTimedOut(f"no change of {key!r} within {timeout}s", cause=exc) from exc
        finally:
            shared.waiters.discard(waiter)
            if not shared.waiters and not shared.task.done():
                # The last caller left: stop the request, and let a caller
                # arriving now start a new one rather than join this one.
                self._forget(path, shared)
                shared.task.cancel()
        return result.copy()

    def _forget(self, path: str, shared: _Shared) -> None:
        if self._pending.get(path) is shared:
            del self._pending[path]

    def _deliver(self, path: str, shared: _Shared, task: asyncio.Future[EtcdResult]) -> None:
        """Hand the shared request's outcome to every caller still waiting."""
        self._forget(path, shared)
        if task.cancelled():
            why = "the client was closed" if self._closed else "the watch request was cancelled"
            error: BaseException | None = EtcdException(why)
        else:
            error = task.exception()  # retrieved here, so a watch nobody awaits logs nothing
        first = True
        for waiter in shared.waiters:
            if waiter.done():
                continue
            if error is None:
                waiter.set_result(task.result())
            else:
                waiter.set_exception(error if first else _own_copy(error))
                first = False

    async def _long_poll(self, key: str, path: str, query: dict[str, str], index: int | None) -> EtcdResult:
        start = index
        call = Call("GET", path, self._client._headers, stream=True, op="watch", key=key)

        def resume(failure: TransportFailure) -> None:
            # A watch without an index that broke after the headers arrived
            # continues on the next member from where it started, so no event
            # in between is lost.
            nonlocal start
            if start is None and failure.headers is not None:
                began = failure.headers.get("X-Etcd-Index")
                if began is not None and began.isdigit():
                    start = int(began) + 1
                    call.path += f"&waitIndex={start}"

        call.resume = resume
        while True:
            answer = await self._client._send(call, _watch_answer, timeout=math.inf)
            if isinstance(answer, EtcdResult):
                return answer
            # The server (or a proxy) ended the watch without an event: ask
            # again from where it started, so nothing is skipped.
            if start is None:
                start = answer + 1
                call.path += f"&waitIndex={start}"
            log.debug("empty watch answer for %s, watching again from %s", key, start)


def _watch_answer(resp: Response) -> EtcdResult | int:
    """A watch's event, or for an empty answer the ``X-Etcd-Index`` it started at."""
    if resp.status == 200 and not resp.body.strip():
        began = resp.header_int("X-Etcd-Index")
        if began is None:
            raise NotEtcd(resp, "an empty watch answer without X-Etcd-Index")
        return began
    return key_answer(resp)


async def next_event(client: Client, key: str, index: int | None, recursive: bool | None) -> tuple[EtcdResult, int]:
    """The next change at or after ``index``, and the index to continue from.

    When etcd no longer holds the events since ``index`` (errorCode 401), the
    key's current state stands in for them.
    """
    try:
        event = await client.watch(key, index=index, recursive=recursive)
        return event, (event.modifiedIndex or 0) + 1
    except EtcdEventIndexCleared:
        log.info("events of %s since index %s are gone; reading it again", key, index)
        snapshot = await client.read(key, recursive=recursive)
        return snapshot, (snapshot.etcd_index or 0) + 1


async def follow(
    client: Client, key: str, index: int | None, recursive: bool | None
) -> AsyncGenerator[tuple[EtcdResult, int], None]:
    """Every change of ``key`` from ``index`` on, in order, each with the index to continue from.

    On the v2 API each change is one :func:`next_event`. On a v3 store the
    changes come from one v3 watch for as long as this runs (a watch per
    event would start in the past each time, which etcd catches up only
    every 100 ms); when its history was compacted, the key is read again as
    :func:`next_event` does, and a new v3 watch follows from that read.
    """
    while True:
        stream = await client._v3_changes(key, index, recursive)
        if stream is None:
            event, index = await next_event(client, key, index, recursive)
            yield event, index
            continue
        try:
            async with contextlib.aclosing(stream):
                async for event in stream:
                    index = (event.modifiedIndex or 0) + 1
                    yield event, index
        except EtcdEventIndexCleared:
            log.info("events of %s since index %s are gone; reading it again", key, index)
            snapshot = await client.read(key, recursive=recursive)
            index = (snapshot.etcd_index or 0) + 1
            yield snapshot, index

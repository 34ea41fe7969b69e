"""v2 watches: requests shared between callers, and following a key from event to event.

- Callers watching the same key, with the same options, from the same index,
  while a request is pending, share that one request (:class:`Watches`). Each
  caller waits on a future of its own, with its own timeout and cancellation;
  the request is cancelled when its last caller leaves. A failed request hands
  each caller an exception of its own (one object raised in many tasks would
  grow one shared traceback). What the request is belongs to the keys backend:
  a v2 long poll (:mod:`aio_etcd._v2.keys`, which resumes it across members),
  or a v3 watch on a v3 store (:mod:`aio_etcd.v2on3._backend`).
- :func:`follow` is the loop of
  :meth:`Client.eternal_watch <aio_etcd.Client.eternal_watch>` and
  :meth:`Client.watch_iter <aio_etcd.Client.watch_iter>` on the v2 API: the
  v2 follow engine (:mod:`aio_etcd._v2.follow`), one wait per event, a fresh
  read when etcd's "index cleared" (401) says the events are gone (on a v3
  store one v3 watch streams them, see :mod:`aio_etcd.v2on3._backend`).
"""

from __future__ import annotations

import asyncio
import copy
import functools
from collections.abc import AsyncGenerator, Awaitable, Callable, Hashable
from typing import TYPE_CHECKING

from ._core import within
from ._v2.follow import Changes
from .exceptions import EtcdException, EtcdWatchTimedOut
from .result import EtcdResult

if TYPE_CHECKING:
    from ._backend import KeysBackend

__all__ = ["Watches", "follow"]

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


class Watches:
    """The pending watch requests of one keys backend, shared by the callers asking the same."""

    def __init__(self) -> None:
        self._pending: dict[Hashable, _Shared] = {}
        self._closed = False

    def close(self) -> None:
        """End every pending watch: its callers get an :class:`EtcdException` saying the client closed."""
        self._closed = True
        for shared in list(self._pending.values()):
            shared.task.cancel()

    async def wait(
        self, path: Hashable, key: str, fetch: Callable[[], Awaitable[EtcdResult]], timeout: float | None
    ) -> EtcdResult:
        """The next change of ``key``: ``fetch()``, or the pending request of the same ``path``.

        :param path: what the request asks (key, options, index): equal paths share one request.
        """
        shared = self._pending.get(path)
        if shared is None:
            shared = self._pending[path] = _Shared(asyncio.ensure_future(fetch()))
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

    def _forget(self, path: Hashable, shared: _Shared) -> None:
        if self._pending.get(path) is shared:
            del self._pending[path]

    def _deliver(self, path: Hashable, shared: _Shared, task: asyncio.Future[EtcdResult]) -> None:
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


async def follow(
    keys: KeysBackend, key: str, index: int | None, recursive: bool | None
) -> AsyncGenerator[tuple[EtcdResult, int], None]:
    """Every change of ``key`` from ``index`` on, in order, each with the index to continue
    from: the v2 follow engine (:class:`aio_etcd._v2.follow.Changes`), one long poll per
    change, the key's current state standing in for changes etcd no longer holds."""
    changes = Changes(keys, key, None if index is None else index - 1, recursive=recursive)
    while True:
        event = await changes.next_or_current()
        yield event, (changes.after or 0) + 1

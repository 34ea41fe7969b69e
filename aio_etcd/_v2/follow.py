"""Following a v2 key (or its subtree) from an index: the one engine of the v2 side.

:class:`Changes` holds the place (:attr:`Changes.after`, the last index
delivered) and moves it past each change it hands out, so a change is never
lost nor given twice. It reads the changes in one of two ways:

- :meth:`Changes.next`: one long poll (``wait=true&waitIndex=after+1``) per
  change, through the backend's ``wait`` (shared between callers, resumed on
  the next member when one fails). This is ``eternal_watch`` and
  ``watch_iter`` (:func:`aio_etcd.watch.follow`), with
  :meth:`Changes.next_or_current` standing in the key's current state for the
  changes v2 no longer holds.
- :meth:`Changes.start`: a stream (``stream=true``) kept open, its changes
  put in :attr:`Changes.queue` as they arrive (the migrator's ``--follow``).
  A v2 stream only delivers changes after the moment it is registered (from
  an old ``waitIndex`` it gives one event and stops), so the stream is opened
  first, and the changes between :attr:`~Changes.after` and the stream's own
  ``X-Etcd-Index`` are read from v2's history with :meth:`~Changes.next`.
  When the stream breaks (a member failed, a proxy cut it) it is opened again
  on whichever member answers, the gap read the same way.

v2 keeps the last 1,000 events: a place older than that raises
:class:`~aio_etcd.EtcdEventIndexCleared` (from :meth:`~Changes.next` and
:meth:`~Changes.start`, or put in the queue by a stream that broke for that
long); what to do then is the caller's (read the key again, copy again).
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import TYPE_CHECKING

from .._core import LineStream, TransportFailure
from ..exceptions import EtcdEventIndexCleared, EtcdWatchTimedOut
from ..result import EtcdResult

if TYPE_CHECKING:
    from .._backend import KeysBackend

__all__ = ["Changes"]

log = logging.getLogger(__name__)

#: How long a wait for a change v2's history holds may take (it answers at once): when none
#: comes, the history has no change of the key up to the stream's start.
HISTORY_WAIT = 10.0


class Changes:
    """Every change of ``key`` after index ``after``, in order, each once.

    :param keys: the keys backend (its ``wait`` and, for a stream, its ``open_stream``).
    :param after: the last index already seen (``None``: from now on; a
        stream needs an index or ``start(fresh=True)``).
    :param recursive: the changes of the keys below ``key`` as well.
    """

    def __init__(self, keys: KeysBackend, key: str, after: int | None, *, recursive: bool | None = True) -> None:
        self.keys = keys
        self.key = key
        #: The last index delivered (or the index to follow from).
        self.after = after
        self.recursive = recursive
        #: With :meth:`start`: the changes as they arrive, or the exception that ended the stream.
        self.queue: asyncio.Queue[EtcdResult | BaseException] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None

    # -- one long poll per change ----------------------------------------------------------

    async def next(self, *, timeout: float | None = None) -> EtcdResult:
        """The first change after :attr:`after`; :attr:`after` moves to it.

        :raises EtcdEventIndexCleared: v2 no longer holds the changes after :attr:`after`.
        :raises EtcdWatchTimedOut: none within ``timeout`` seconds.
        """
        index = None if self.after is None else self.after + 1
        event = await self.keys.wait(self.key, index=index, recursive=self.recursive, timeout=timeout)
        self.after = event.modifiedIndex or 0
        return event

    async def next_or_current(self) -> EtcdResult:
        """:meth:`next`, or when v2 no longer holds the changes after :attr:`after`, the key as it
        is now (action ``get``), and :attr:`after` moves to the index of that read."""
        try:
            return await self.next()
        except EtcdEventIndexCleared:
            log.info("events of %s since index %s are gone; reading it again", self.key, self.after)
            current = await self.keys.read(self.key, recursive=self.recursive, sorted=None, quorum=None, timeout=None)
            self.after = current.etcd_index or 0
            return current

    # -- a stream --------------------------------------------------------------------------

    async def start(self, *, fresh: bool = False) -> None:
        """Open the stream; the changes then arrive in :attr:`queue`.

        :param fresh: follow from the stream's own start (the caller reads the
            key after this); otherwise the changes after :attr:`after` are read first.
        :raises EtcdEventIndexCleared: v2 no longer has the changes after :attr:`after`.
        """
        stream, head = await self.keys.open_stream(self.key, recursive=bool(self.recursive))
        try:
            if fresh or self.after is None:
                self.after = head
            else:
                await self._gap(head)
        except BaseException:
            stream.close()
            raise
        self.after = max(self.after, head)
        self._task = asyncio.get_running_loop().create_task(self._run(stream))

    async def close(self) -> None:
        """Stop the stream (the changes already queued stay)."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def _gap(self, upto: int) -> None:
        """Queue the changes after :attr:`after` up to ``upto`` from v2's history."""
        assert self.after is not None
        while self.after < upto:
            before = self.after
            try:
                event = await self.next(timeout=HISTORY_WAIT)
            except EtcdWatchTimedOut:
                # v2 answers from its history at once: no change of the key in
                # (after, upto] (the index moved for other keys); the stream has the rest.
                log.info("follow: no change of %s between index %d and %d", self.key, before, upto)
                return
            if self.after > upto:
                self.after = before
                return  # the stream has this one
            self.queue.put_nowait(event)

    async def _run(self, stream: LineStream) -> None:
        assert self.after is not None
        try:
            while True:
                try:
                    while line := await stream.next_line():
                        event = EtcdResult.from_response(json.loads(line))
                        index = int(event.modifiedIndex or 0)
                        if index > self.after:
                            self.queue.put_nowait(event)
                            self.after = index
                except (TransportFailure, ValueError, TypeError, AttributeError) as exc:
                    log.info("follow: the v2 stream of %s broke (%s); again after index %d", self.key, exc, self.after)
                finally:
                    stream.close()
                stream, head = await self.keys.open_stream(self.key, recursive=bool(self.recursive))
                await self._gap(head)
                self.after = max(self.after, head)
        except asyncio.CancelledError:
            raise
        except BaseException as exc:
            self.queue.put_nowait(exc)

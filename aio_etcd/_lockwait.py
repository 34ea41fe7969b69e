"""Waiting for a :class:`~aio_etcd.Lock`: watching the key ahead in the queue.

A contender that is not first watches the key just before its own (and its own
key, so that losing it is noticed at once) and refreshes its own TTL while it
waits. When the key ahead is gone, it reads the queue again. The watches go
through the lock's queue (:class:`~aio_etcd.lock.LockQueue`), so the same
rules hold on the v2 API and on etcd's v3 lock layout.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from ._lockqueue import LockQueue
from .exceptions import EtcdCompareFailed, EtcdEventIndexCleared, EtcdKeyNotFound, EtcdLockExpired

__all__ = ["wait_turn"]

log = logging.getLogger("aio_etcd.lock")

#: How many times in a row a waiter may find its watch index already purged
#: from etcd's event history right after reading the queue (more than 1000
#: events between a read and the watch that follows it) before the error is
#: raised instead of read again.
_MAX_INDEX_CLEARED = 3
#: Seconds after a read within which a cleared index counts as "right after".
_FRESH = 1.0


class Lose(Protocol):
    """Records that the lock is no longer ours and builds the error saying so (``Lock``'s own)."""

    def __call__(self, key: str, reason: str, *, gone: bool) -> EtcdLockExpired: ...


async def wait_turn(
    queue: LockQueue,
    key: str,
    uuid: str,
    ttl: int | None,
    blocking: bool,
    deadline: float | None,
    *,
    lose: Lose,
    write_ttl: Callable[[str, int | None], Awaitable[None]],
    refresh: Callable[[str, int], Awaitable[None]],
) -> bool:
    """Wait until ``key`` (holding ``uuid``) is first in ``queue``; False if not blocking or past the deadline.

    The lock hands in what changes its state: ``lose`` (the key is gone or
    not ours), ``write_ttl`` (the TTL from the moment the lock is ours) and
    ``refresh`` (short attempts while waiting).
    """
    loop = asyncio.get_running_loop()
    waited = False
    cleared = 0
    while True:
        nodes, index = await queue.entries()
        position = next((i for i, node in enumerate(nodes) if node.key == key), None)
        if position is None:
            raise lose(key, f"its key {key} vanished while waiting (TTL ran out, or deleted)", gone=True)
        if nodes[position].value != uuid:
            raise lose(key, f"its key {key} was overwritten while waiting", gone=False)
        if position == 0:
            if waited and ttl is not None:
                # The TTL counts from the moment the lock is ours.
                try:
                    await write_ttl(key, ttl)
                except (EtcdKeyNotFound, EtcdCompareFailed) as exc:
                    raise lose(key, f"its key {key} vanished", gone=True) from exc
            return True
        if not blocking or (deadline is not None and loop.time() >= deadline):
            return False
        waited = True
        predecessor = nodes[position - 1].key
        assert predecessor is not None
        log.debug("lock %s: %s waits for %s", queue.path, key, predecessor)
        read_at = loop.time()
        try:
            changed = await _wait_for_change(queue, key, predecessor, index + 1, ttl, deadline, refresh)
        except EtcdEventIndexCleared:
            # More than 1000 events since the read: read again. A watch that ran
            # for a while and then had to resume elsewhere (its member died) is
            # expected to meet this under load; only a watch cleared right after
            # its read, again and again, means the waiter cannot keep up.
            cleared = cleared + 1 if loop.time() - read_at < _FRESH else 1
            if cleared >= _MAX_INDEX_CLEARED:
                raise
            continue
        if not changed:
            return False
        cleared = 0


async def _wait_for_change(
    queue: LockQueue,
    key: str,
    predecessor: str,
    index: int,
    ttl: int | None,
    deadline: float | None,
    refresh: Callable[[str, int], Awaitable[None]],
) -> bool:
    """Wait until the predecessor is gone or our own key changes; False at the deadline.

    Meanwhile our key is refreshed every ``ttl / 3`` seconds, so a long
    wait does not expire it (a refresh does not wake watchers).
    """
    loop = asyncio.get_running_loop()
    interval = None if ttl is None else ttl / 3
    next_refresh = None if interval is None else loop.time() + interval
    watches: list[asyncio.Task[Any]] = [
        asyncio.ensure_future(queue.gone(predecessor, index)),
        asyncio.ensure_future(queue.changed(key, index)),
    ]
    try:
        while True:
            until = [t for t in (next_refresh, deadline) if t is not None]
            wait = max(min(until) - loop.time(), 0) if until else None
            done, _ = await asyncio.wait(watches, timeout=wait, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                task.result()  # a failed watch raises here
            if done:
                return True
            now = loop.time()
            if deadline is not None and now >= deadline:
                return False
            if ttl is not None and interval is not None and next_refresh is not None and now >= next_refresh:
                await refresh(key, ttl)  # short attempts: an election costs no place in the queue
                next_refresh = loop.time() + interval
    finally:
        await _stop(watches)


async def _stop(watches: list[asyncio.Task[Any]]) -> None:
    """Cancel the watches and wait until they ended (a cancelled watch always ends: see
    :mod:`aio_etcd._core.timeouts`)."""
    for task in watches:
        task.cancel()
    await asyncio.wait(watches)
    for task in watches:
        if not task.cancelled():
            task.exception()  # retrieved: a watch that failed as it was stopped is of no interest

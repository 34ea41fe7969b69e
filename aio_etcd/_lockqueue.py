"""The queue of keys a :class:`~aio_etcd.Lock` runs on: what one must do, and one key of it.

A lock's state and rules are :mod:`aio_etcd.lock`'s; where its keys live is
its :class:`LockQueue`, which the client's keys backend chooses
(:meth:`aio_etcd._backend.KeysBackend.lock_queue`): the append queue on the
v2 keys API (:class:`aio_etcd.lock.AppendQueue`), or etcd's own lock layout
on a v3 store (:class:`aio_etcd.v2on3._lock.MutexQueue`). This module imports
nothing of aio_etcd, so that both queues and the backends can name it.
"""

from __future__ import annotations

from typing import NamedTuple, Protocol

__all__ = ["Entry", "LockQueue", "TTLRanOut"]


class TTLRanOut(Exception):
    """No refresh got through before the key's TTL ran out (the key may be gone).

    Raised by :class:`aio_etcd.keepalive.Refresher` and by a queue's
    :meth:`LockQueue.refresh`; kept at its public path :mod:`aio_etcd.keepalive`.
    """


class Entry(NamedTuple):
    """One key of a lock's queue."""

    #: The key's name.
    key: str
    #: Its value: the :attr:`aio_etcd.Lock.uuid` of the contender that made it (empty
    #: for keys of other tools: ``etcdctl lock``, Go's ``concurrency.Mutex``).
    value: str
    #: The index (v2) or revision (v3) etcd created it at: its place in the queue.
    created: int
    #: The v3 lease it is attached to (0: none, and always 0 on the v2 API).
    lease: int = 0


class LockQueue(Protocol):
    """Where and how one contender's key lives: the layout a :class:`~aio_etcd.Lock` runs on.

    A :class:`~aio_etcd.Lock` keeps the state (held, waiting, lost, keep-alive) and
    the rules (fairness, cancellation, TTLs); its queue does the requests. A
    queue serves one :class:`~aio_etcd.Lock` object, and may remember things about its
    keys (their leases). Errors: :class:`~aio_etcd.EtcdKeyNotFound` for a key
    that is gone, :class:`~aio_etcd.EtcdCompareFailed` for a key that holds
    another value.
    """

    @property
    def path(self) -> str:
        """Where the lock's keys live (shown by :attr:`aio_etcd.Lock.path`)."""
        ...

    async def entries(self, quorum: bool | None = None) -> tuple[list[Entry], int]:
        """The keys of the queue, first (the holder) first, and the index or revision of the read."""
        ...

    async def append(self, uuid: str, ttl: int | None) -> Entry:
        """Add a key holding ``uuid`` at the end of the queue (an outcome unknown is looked for and made again)."""
        ...

    def adopt(self, entry: Entry) -> None:
        """Take ``entry`` (found by :meth:`aio_etcd.Lock.set_uuid`) as this contender's key."""
        ...

    async def write_ttl(self, key: str, uuid: str, ttl: int | None) -> None:
        """Give ``key`` the TTL ``ttl`` (``None``: none) from now, if it still holds ``uuid``."""
        ...

    async def refresh(self, key: str, uuid: str, ttl: int, expires_at: float) -> float | None:
        """Renew ``key``'s TTL with short attempts; when it expires now (loop time), ``None`` if it is gone.

        :raises TTLRanOut: no renewal got through before ``expires_at``.
        """
        ...

    async def delete(self, key: str, uuid: str) -> None:
        """Delete ``key`` if it holds ``uuid`` (repeated after an outcome unknown)."""
        ...

    async def gone(self, key: str, index: int) -> None:
        """Return once ``key`` is deleted or expires (at or after ``index``), or its history is lost."""
        ...

    async def changed(self, key: str, index: int) -> None:
        """Return at the first change of ``key`` at or after ``index``."""
        ...

"""A distributed lock: a queue of keys in etcd, in arrival order.

Every :class:`Lock` that wants the lock adds a key holding its
:attr:`~Lock.uuid` to the lock's queue; the lock belongs to the first key of
the queue. Every other contender watches only the key just before its own
(and its own key), so a release wakes exactly one waiter.

Where the queue lives is the client's keys backend's choice
(:meth:`aio_etcd._backend.KeysBackend.lock_queue`), made once:

- the v2 API (:class:`AppendQueue`): in-order keys appended to the directory
  ``<client.lock_prefix>/<name>``; etcd names them with increasing 20-digit
  numbers;
- the v2 keys API on a v3 store, ``Client(api="v3")``
  (:class:`aio_etcd.v2on3._lock.MutexQueue`): etcd's own lock layout, keys
  ``<name>/<lease id in hex>`` ordered by creation revision, shared with
  :meth:`aio_etcd.v3.Client.lock`, ``etcdctl lock`` and Go's
  ``concurrency.Mutex``.

See ``docs/locks.rst`` for the guarantees and the failure behaviour.
"""

from __future__ import annotations

import asyncio
import logging
import uuid as _uuid
from collections.abc import Coroutine
from types import TracebackType
from typing import Any, TypeVar

from ._lockqueue import Entry, LockQueue
from ._lockwait import wait_turn
from .client import Client
from .exceptions import (
    EtcdCompareFailed,
    EtcdConnectionFailed,
    EtcdException,
    EtcdKeyNotFound,
    EtcdLockExpired,
    EtcdOutcomeUnknown,
)
from .keepalive import Refresher, TTLRanOut, check_ttl

__all__ = ["Lock"]

log = logging.getLogger(__name__)

_T = TypeVar("_T")

#: How many appends (or deletes) of unknown outcome (a leader lost on the
#: way) the lock looks for and makes again before it gives up.
_MAX_UNKNOWN_APPENDS = 3

#: Cleanups that outlived a second cancellation of the task that started them.
#: Held here so they are not garbage-collected half way.
_background: set[asyncio.Task[Any]] = set()


async def _shielded(coro: Coroutine[Any, Any, _T]) -> _T:
    """Await ``coro`` so that cancelling the caller does not stop it.

    The caller waits for ``coro`` as usual. If the caller is cancelled while
    waiting, it gets :class:`asyncio.CancelledError` at once and ``coro``
    finishes in the background.
    """
    task = asyncio.ensure_future(coro)
    _background.add(task)
    task.add_done_callback(_background.discard)
    return await asyncio.shield(task)


class AppendQueue:
    """The lock's queue on the v2 API: in-order keys appended to ``<client.lock_prefix>/<name>``."""

    def __init__(self, client: Client, path: str) -> None:
        self.client = client
        self.path = path

    async def entries(self, quorum: bool | None = None) -> tuple[list[Entry], int]:
        try:
            listing = await self.client.read(self.path, sorted=True, quorum=quorum)
        except EtcdKeyNotFound as exc:
            return [], exc.index or 0
        nodes = sorted(
            (node for node in listing.leaves if not node.dir and node.key is not None),
            key=lambda node: node.key or "",
        )
        index = listing.etcd_index
        if index is None:  # never from etcd itself; stay safe: no event can be older than these
            index = max([listing.modifiedIndex or 0] + [node.modifiedIndex or 0 for node in nodes])
        return [Entry(node.key or "", node.value or "", node.createdIndex or 0) for node in nodes], index

    async def append(self, uuid: str, ttl: int | None) -> Entry:
        """Append a key holding our uuid, surviving appends of unknown outcome.

        An append is not safe to repeat, but our uuid is ours alone: after an
        append of unknown outcome (a leader lost on the way), a linearizable
        read of the queue tells whether it was applied; if not, append again.
        """
        for _ in range(_MAX_UNKNOWN_APPENDS):
            try:
                result = await self.client.write(self.path, uuid, append=True, ttl=ttl)
                break
            except EtcdOutcomeUnknown as exc:
                log.info("lock %s: append of unknown outcome, looking for it: %s", self.path, exc)
                entries, _ = await self.entries(quorum=True)
                mine = next((entry for entry in entries if entry.value == uuid), None)
                if mine is not None:
                    return mine
        else:
            result = await self.client.write(self.path, uuid, append=True, ttl=ttl)
        if result.key is None:
            raise EtcdException(f"etcd did not name the key it appended to {self.path}")
        return Entry(result.key, uuid, result.createdIndex or 0)

    def adopt(self, entry: Entry) -> None:
        pass  # the key's name and value are all there is to know

    async def write_ttl(self, key: str, uuid: str, ttl: int | None) -> None:
        if ttl is None:
            # A write without ttl makes the key permanent; it is an event for watchers
            # (our successor ignores it: it waits for a delete or an expiry).
            await self.client.write(key, uuid, prevValue=uuid)
        else:
            await self.client.write(key, None, ttl=ttl, refresh=True, prevValue=uuid)

    async def refresh(self, key: str, uuid: str, ttl: int, expires_at: float) -> float | None:
        refresher = Refresher(self.client, key, ttl, expires_at, prev_value=uuid)
        return refresher.expires_at if await refresher.refresh() else None

    async def delete(self, key: str, uuid: str) -> None:
        """Delete our key if it still holds our uuid.

        A delete conditional on a value is not safe to repeat in general, but
        our uuid is ours alone: repeated after an outcome unknown (a leader lost
        on the way), it either deletes the key or finds it gone.
        """
        for _ in range(_MAX_UNKNOWN_APPENDS):
            try:
                await self.client.delete(key, prevValue=uuid)
                return
            except EtcdOutcomeUnknown as exc:
                log.info("lock %s: delete of %s of unknown outcome, trying again: %s", self.path, key, exc)
        await self.client.delete(key, prevValue=uuid)

    async def gone(self, key: str, index: int) -> None:
        while True:
            event = await self.client.watch(key, index=index)
            if event.action in _GONE or event.modifiedIndex is None:
                return
            index = event.modifiedIndex + 1

    async def changed(self, key: str, index: int) -> None:
        await self.client.watch(key, index=index)


#: v2 watch actions that mean the watched key no longer exists.
_GONE = frozenset({"delete", "expire", "compareAndDelete"})


class Lock:
    """A lock shared by every client of one etcd cluster, named ``lock_name``.

    Building a Lock does no I/O and does not acquire it. Use it as::

        async with Lock(client, "customer1") as lock:
            ...  # held here, kept alive in the background

    or acquire and release it explicitly::

        lock = Lock(client, "customer1")
        await lock.acquire(lock_ttl=60)
        try:
            ...
        finally:
            await lock.release()

    Waiters get the lock in the order they asked for it. One Lock object
    stands for one contender: give each task its own Lock object (several
    Lock objects of one name exclude each other, in one process or many).

    :param client: the client to talk to etcd through. On the v2 API its
        :attr:`~aio_etcd.Client.lock_prefix` is the directory of all locks.
    :param lock_name: the lock's name. On the v2 API its keys live in
        ``<lock_prefix>/<lock_name>``. With ``api="v3"`` they are the keys
        ``<lock_name>/<lease id in hex>`` of etcd's own lock layout, outside
        the client's ``v3_prefix`` and ``lock_prefix``: the lock is the one
        that :meth:`aio_etcd.v3.Client.lock` and ``etcdctl lock`` take under
        the same name (see ``docs/locks.rst``).
    :param ttl: seconds the lock's key lives without a refresh while an
        ``async with`` block holds it (a whole number, at least 1). The
        block's keep-alive refreshes it, so this is how long the lock outlives
        a holder that died, not how long a block may run.
    :param keepalive_interval: seconds between two refreshes by the keep-alive
        of an ``async with`` block; less than ``ttl``. Default: ``ttl / 3``.
        When the block renews the lock with a TTL not longer than this
        interval, a third of that TTL is used instead.
    """

    def __init__(
        self,
        client: Client,
        lock_name: str,
        *,
        ttl: int = 30,
        keepalive_interval: float | None = None,
    ) -> None:
        if not isinstance(lock_name, str) or not lock_name.strip("/"):
            raise ValueError(f"a lock needs a non-empty name, not {lock_name!r}")
        check_ttl(ttl, "ttl")
        if keepalive_interval is not None and not 0 < keepalive_interval < ttl:
            raise ValueError(
                f"keepalive_interval must be more than 0 and less than ttl ({ttl}), not {keepalive_interval}"
            )
        self._client = client
        self._name = lock_name
        path = "/" + "/".join(part for part in (client.lock_prefix.strip("/"), lock_name.strip("/")) if part)
        # Where the queue lives: the backend's choice, the append queue on the
        # keys API or its own lock layout (with api="auto", decided at the first call).
        self._places: LockQueue = client.backend.lock_queue(lock_name, AppendQueue(client, path))
        self._ttl = ttl
        self._keepalive_interval = keepalive_interval
        self._uuid = _uuid.uuid4().hex
        # Our key, once etcd confirmed creating it (while waiting and while held),
        # and the index etcd created it at.
        self._key: str | None = None
        self._created_index: int | None = None
        self._held = False
        # The TTL our key was last written with (None: no TTL), and the earliest
        # moment (loop time) etcd may expire it, counted from when the write was sent.
        self._key_ttl: int | None = None
        self._expires_at: float | None = None
        self._acquiring = False
        self._in_context = False
        self._keepalive_task: asyncio.Task[None] | None = None
        # Why the lock was lost while held, until the next successful acquire.
        self._lost: EtcdLockExpired | None = None
        #: Set when a held lock is found lost (its key expired, was deleted or
        #: overwritten, or no refresh got through before its TTL ran out);
        #: cleared by the next successful :meth:`acquire`. Await
        #: ``lock.lost.wait()`` to stop work that must not run unprotected.
        self.lost = asyncio.Event()

    # -- what the lock is ----------------------------------------------------------------

    @property
    def client(self) -> Client:
        """The client the lock talks through."""
        return self._client

    @property
    def name(self) -> str:
        """The lock's name, as given."""
        return self._name

    @property
    def path(self) -> str:
        """Where the lock's queue of keys lives.

        On the v2 API, the directory ``/_locks/<name>``; with ``api="v3"``,
        the name as given (the keys are ``<name>/<lease id in hex>``). With
        ``api="auto"``, the v2 directory until the first call has decided.
        """
        return self._places.path

    @property
    def uuid(self) -> str:
        """The value of this Lock's key: a random hex string unless :meth:`set_uuid` changed it."""
        return self._uuid

    @property
    def key(self) -> str | None:
        """This Lock's key in the queue, or ``None``.

        On the v2 API ``/_locks/<name>/00000000000000000042``; with
        ``api="v3"`` the v3 key ``<name>/694d7b2c3a1f0e05`` (its lease's id),
        or ``<name>/<32 hex digits>`` for a key without a TTL.

        Set while :meth:`acquire` waits and while the lock is held, and after
        :meth:`set_uuid` found an existing key.
        """
        return self._key

    @property
    def ttl(self) -> int:
        """The TTL an ``async with`` block gives the lock's key (seconds)."""
        return self._ttl

    @property
    def is_acquired(self) -> bool:
        """Whether this Lock holds the lock, as far as it knows without asking etcd.

        ``True`` from a successful :meth:`acquire` until :meth:`release`, or
        until the lock is found lost: by :meth:`acquire` renewing it, by
        :meth:`check`, or by the keep-alive of an ``async with`` block. A key
        that expired or was deleted is noticed only by those; use
        :meth:`check` to ask etcd.
        """
        return self._held

    @property
    def fencing_token(self) -> int | None:
        """The ``createdIndex`` of this Lock's key while it holds the lock, else ``None``.

        With ``api="v3"``, the key's ``create_revision``: the same number that
        :attr:`aio_etcd.v3.Lock.revision` gives its holders (and the
        ``create_revision`` of the key that ``etcdctl lock`` names in
        ``ETCD_LOCK_KEY``), so the tokens of all of them compare.

        Every new holder of a lock has a larger token than the holders before
        it (etcd's indexes only grow), so a service that stores the largest
        token it has seen can refuse a write from a stale holder: one whose
        key expired while it was paused, say, and that does not know yet.
        """
        return self._created_index if self._held else None

    async def holder(self) -> str | None:
        """The :attr:`uuid` of the Lock that holds the lock now (first in the queue), or ``None``.

        With ``api="v3"``, a holder that is not a :class:`Lock`
        (:meth:`aio_etcd.v3.Client.lock`, ``etcdctl lock``) shows as ``""``.

        :raises EtcdException: etcd could not be asked.
        """
        nodes, _ = await self._queue()
        return nodes[0].value if nodes else None

    def __repr__(self) -> str:
        state = "held" if self._held else ("waiting" if self._acquiring else "not held")
        key = f" key={self._key}" if self._key else ""
        return f"<aio_etcd.Lock {self.path} {state}{key}>"

    # -- the public operations -----------------------------------------------------------

    async def acquire(
        self,
        blocking: bool = True,
        lock_ttl: int | None = 3600,
        timeout: float | None = None,
    ) -> bool:
        """Acquire the lock; if this Lock already holds it, renew it.

        Not held yet: append a key to the queue, then wait until every key
        before it is gone. Already held: set the key's TTL to ``lock_ttl``
        (counted from now) and return ``True`` at once.

        If this call does not end holding the lock (``blocking=False`` and the
        lock is taken, the ``timeout`` ran out, the call was cancelled, or it
        raised), it deletes its key before returning, so it leaves nothing in
        the queue. A cancelled call waits for that delete (one request) before
        the :class:`asyncio.CancelledError` propagates, and also for the
        request creating the key if that was in flight.

        :param blocking: wait for the lock. With ``False``, return ``False`` at
            once when another holder or an earlier waiter exists.
        :param lock_ttl: seconds etcd keeps the key without a renewal, a whole
            number of at least 1 (3600, python-etcd's default), or ``None``
            for no TTL: the lock is held until :meth:`release`, even if this
            process dies. The TTL counts from the moment the lock is acquired:
            while waiting, the key is refreshed every ``lock_ttl / 3`` seconds.
            Nothing refreshes a held lock outside an ``async with`` block: renew
            it by calling ``acquire(lock_ttl=...)`` again before it runs out.
        :param timeout: with ``blocking``, give up once this many seconds have
            passed since the call and return ``False`` (``0``: a single look,
            like ``blocking=False``). ``None`` waits without limit. Each request
            is also bounded by the client's ``read_timeout``.
        :returns: ``True`` when the lock is held, ``False`` when not acquired
            (``blocking=False`` or ``timeout``).
        :raises EtcdLockExpired: our key vanished (TTL ran out, deleted by
            someone) while waiting, or the held lock was already lost when
            renewing it.
        :raises EtcdException: any error talking to etcd; nothing is retried
            here (the client's own failover aside).
        :raises RuntimeError: another :meth:`acquire` of this Lock is running.
        """
        if lock_ttl is not None:
            check_ttl(lock_ttl, "lock_ttl")
        if timeout is not None:
            if not blocking:
                raise ValueError("timeout= has no meaning with blocking=False")
            if timeout < 0:
                raise ValueError(f"timeout must be >= 0 or None, not {timeout}")
        if self._acquiring:
            raise RuntimeError(f"acquire() of {self!r} is already running; use one Lock object per task")
        self._acquiring = True
        try:
            if self._held and self._key is not None:
                await self._renew(self._key, lock_ttl)
                return True
            return await self._acquire(blocking, lock_ttl, timeout)
        finally:
            self._acquiring = False

    async def release(self) -> None:
        """Release the lock: delete this Lock's key.

        Safe to call when not held, and twice: then it does nothing. The delete
        is conditional on the key still holding :attr:`uuid`, so it never
        removes another contender's key; a key already gone (expired, deleted)
        counts as released. The delete goes on even if the caller is cancelled.

        Also stops the keep-alive of an ``async with`` block, and deletes a key
        that :meth:`set_uuid` adopted but :meth:`acquire` did not take yet. If
        an :meth:`acquire` of this Lock is waiting in another task, that one
        then raises :class:`EtcdLockExpired`.

        :raises EtcdException: etcd could not be asked; the lock counts as
            still held (:attr:`is_acquired` unchanged) and ``release`` can be
            called again.
        """
        await self._stop_keepalive()
        key = self._key
        if key is None:
            self._held = False
            return
        await _shielded(self._delete(key))

    async def check(self) -> bool:
        """Ask etcd whether this Lock still holds the lock, and update :attr:`is_acquired`.

        ``True`` when our key exists, holds :attr:`uuid` and is first in the
        queue. Otherwise the lock counts as lost: :attr:`is_acquired` becomes
        ``False`` (and an ``async with`` block will raise
        :class:`EtcdLockExpired` at its end). Without a prior acquire, returns
        ``False`` without asking.

        :raises EtcdException: etcd could not be asked; nothing changes.
        """
        key = self._key
        if key is None or not self._held:
            return False
        nodes, _ = await self._queue()
        if nodes and nodes[0].key == key and nodes[0].value == self._uuid:
            return True
        gone = all(node.key != key for node in nodes)
        self._lose(key, "found not holding it on check()", gone=gone)
        return False

    async def set_uuid(self, value: str) -> bool:
        """Use ``value`` as this Lock's :attr:`uuid`, adopting the key that holds it, if any.

        This is how a process finds its place again with a new Lock object
        (after a restart, say): give the new Lock the uuid of the old one. If a
        key of this lock's queue holds ``value`` (the first one, if several
        do), it becomes this Lock's :attr:`key`: :meth:`acquire` then reuses
        it, keeping its place in the queue (and renewing its TTL with its
        ``lock_ttl``), and :meth:`release` deletes it. :attr:`is_acquired`
        stays ``False`` until :meth:`acquire` returns ``True``.

        If no key holds ``value``, the uuid is still changed, and the next
        :meth:`acquire` writes a new key with it. (python-etcd refuses an
        unknown uuid with ``ValueError`` instead.)

        :returns: whether a key holding ``value`` was found.
        :raises RuntimeError: this Lock has a key with another uuid (it holds
            or waits for the lock, or adopted a key): release it first.
        :raises EtcdException: etcd could not be asked; nothing changes.
        """
        if not isinstance(value, str) or not value:
            raise ValueError(f"a lock uuid is a non-empty str, not {value!r}")
        if self._acquiring or (self._key is not None and value != self._uuid):
            raise RuntimeError(f"{self!r} has a key with uuid {self._uuid!r}: release it before changing the uuid")
        if self._key is not None:
            return True
        nodes, _ = await self._queue()
        node = next((node for node in nodes if node.value == value), None)
        found = node.key if node is not None else None
        if self._key is not None or self._acquiring:  # acquire() started meanwhile
            raise RuntimeError(f"{self!r} started acquiring while its uuid was being changed")
        self._uuid = value
        self._key = found
        self._created_index = node.created if node is not None else None
        self._held = False
        if node is not None:
            self._places.adopt(node)
        log.debug("lock %s: uuid set, existing key: %s", self.path, found)
        return found is not None

    # -- async with -----------------------------------------------------------------------

    async def __aenter__(self) -> Lock:
        """Acquire the lock (blocking, with :attr:`ttl`) and start the keep-alive."""
        if self._in_context:
            raise RuntimeError(f"{self!r} is already used by an async with block")
        await self.acquire(blocking=True, lock_ttl=self._ttl)
        self._in_context = True
        self._lost = None
        self._ensure_keepalive()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Stop the keep-alive and release the lock, whatever ended the block.

        :raises EtcdLockExpired: the block ended normally but the lock was lost
            during it (see :meth:`check` and the keep-alive). An exception or
            cancellation that ended the block propagates instead, unchanged.
        """
        self._in_context = False
        lost, self._lost = self._lost, None
        try:
            await self.release()
        except EtcdException as release_error:
            if exc_type is not None or lost is not None:
                # Never hide what ended the block (a cancellation above all)
                # behind a failed release: the key expires with its TTL.
                log.warning("lock %s: release failed after the block: %s", self.path, release_error)
            else:
                raise
        if lost is not None and exc_type is None:
            raise lost

    # -- internals ----------------------------------------------------------------------

    async def _queue(self, quorum: bool | None = None) -> tuple[list[Entry], int]:
        """The keys of the lock's queue in order, and the etcd index (revision) of the read."""
        return await self._places.entries(quorum)

    async def _write_ttl(self, key: str, ttl: int | None) -> None:
        """Give our key ``ttl`` (None: none) from now, if it still holds our uuid."""
        sent = asyncio.get_running_loop().time()
        await self._places.write_ttl(key, self._uuid, ttl)
        self._key_ttl = ttl
        self._expires_at = None if ttl is None else sent + ttl

    async def _renew(self, key: str, ttl: int | None) -> None:
        """Renew the held lock's TTL; EtcdLockExpired if the key is gone."""
        try:
            await self._write_ttl(key, ttl)
        except (EtcdKeyNotFound, EtcdCompareFailed) as exc:
            raise self._lose(key, f"its key {key} is gone", gone=True) from exc
        if self._in_context:
            self._ensure_keepalive()

    def _lose(self, key: str, reason: str, *, gone: bool) -> EtcdLockExpired:
        """Record that the lock is no longer ours, and build the error saying so."""
        error = EtcdLockExpired(f"lock {self.path} lost: {reason}")
        log.warning("lock %s lost: %s", self.path, reason)
        if self._key == key:
            if self._held:
                self.lost.set()
            self._held = False
            self._lost = error
            if gone:
                self._forget_key()
        return error

    def _forget_key(self) -> None:
        """Our key is gone (deleted by us, or found gone)."""
        self._key = self._created_index = self._key_ttl = self._expires_at = None
        self._held = False

    async def _acquire(self, blocking: bool, ttl: int | None, timeout: float | None) -> bool:
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        key = self._key
        if key is not None:
            # Adopted by set_uuid() (or kept after a failed cleanup): reuse it if it is still ours.
            try:
                await self._write_ttl(key, ttl)
            except (EtcdKeyNotFound, EtcdCompareFailed):
                log.debug("lock %s: key %s is gone or not ours, appending a new one", self.path, key)
                if self._key == key:
                    self._forget_key()
                key = None
            except BaseException:
                await _shielded(self._remove(key))
                raise
        if key is None:
            key = await self._create(ttl)
        acquired = False
        try:
            acquired = await wait_turn(
                self._places,
                key,
                self._uuid,
                ttl,
                blocking,
                deadline,
                lose=self._lose,
                write_ttl=self._write_ttl,
                refresh=self._refresh,
            )
        finally:
            if not acquired:
                await _shielded(self._remove(key))
        if not acquired:
            return False
        self._held = True
        self._lost = None
        self.lost.clear()
        if self._in_context:
            self._ensure_keepalive()
        log.debug("lock %s acquired with key %s", self.path, key)
        return True

    async def _create(self, ttl: int | None) -> str:
        """Append our key to the queue and return its name.

        The request is not abandoned half way: if the caller is cancelled
        meanwhile, the request still completes and the key it made is deleted
        before the cancellation propagates.
        """
        sent = asyncio.get_running_loop().time()
        request = asyncio.ensure_future(self._places.append(self._uuid, ttl))
        try:
            result = await asyncio.shield(request)
        except BaseException:
            await _shielded(self._undo_create(request))
            raise
        self._key = result.key
        self._created_index = result.created
        self._key_ttl = ttl
        self._expires_at = None if ttl is None else sent + ttl
        log.debug("lock %s: queued as %s", self.path, result.key)
        return result.key

    async def _undo_create(self, request: asyncio.Future[Entry]) -> None:
        """Delete whatever key the (possibly still running) append request made."""
        await asyncio.wait([request])
        if request.cancelled():
            return  # never sent
        error = request.exception()
        if isinstance(error, EtcdConnectionFailed):
            # The request may have reached etcd: look for a key with our uuid.
            await self._remove_by_uuid()
            return
        if error is not None:
            return  # refused by etcd: nothing was created
        result = request.result()
        if self._key is None:
            self._key = result.key
        await self._remove(result.key)

    async def _remove_by_uuid(self) -> None:
        try:
            nodes, _ = await self._queue()
        except EtcdException as exc:
            log.warning("lock %s: could not look for a key to remove: %s", self.path, exc)
            return
        for node in nodes:
            if node.value == self._uuid:
                await self._remove(node.key)

    async def _delete_own(self, key: str) -> None:
        """Delete our key if it still holds our uuid."""
        await self._places.delete(key, self._uuid)

    async def _remove(self, key: str) -> None:
        """Delete our key after a failed acquire; errors are logged, not raised."""
        try:
            await self._delete_own(key)
        except (EtcdKeyNotFound, EtcdCompareFailed):
            pass
        except EtcdException as exc:
            # Keep self._key: release() (or the next acquire) can deal with it.
            log.warning("lock %s: could not remove key %s (it stays until its TTL runs out): %s", self.path, key, exc)
            return
        if self._key == key:
            self._forget_key()

    async def _delete(self, key: str) -> None:
        """Release: delete our key; state changes once etcd answered."""
        try:
            await self._delete_own(key)
        except EtcdKeyNotFound:
            log.debug("lock %s: key %s was already gone", self.path, key)
        except EtcdCompareFailed:
            log.warning("lock %s: key %s holds another value now; left alone", self.path, key)
        if self._key == key:
            self._forget_key()
        log.debug("lock %s released (%s)", self.path, key)

    # -- keep-alive of async with -----------------------------------------------------------

    def _interval(self, ttl: int) -> float:
        if self._keepalive_interval is not None and self._keepalive_interval < ttl:
            return self._keepalive_interval
        return ttl / 3

    def _ensure_keepalive(self) -> None:
        if self._held and self._key_ttl is not None and (self._keepalive_task is None or self._keepalive_task.done()):
            self._keepalive_task = asyncio.get_running_loop().create_task(self._keepalive())

    async def _stop_keepalive(self) -> None:
        task, self._keepalive_task = self._keepalive_task, None
        if task is None or task is asyncio.current_task():
            return
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    async def _refresh(self, key: str, ttl: int) -> None:
        """Refresh our key's TTL with short attempts until it gets through or the TTL runs out.

        The holder's keep-alive and a waiter's refreshes both use it: a leader
        election must cost neither the lock nor a place in the queue.

        :raises EtcdLockExpired: the key is gone, or no refresh got through in time
            (the loss is recorded, as by :meth:`_lose`).
        """
        now = asyncio.get_running_loop().time()
        expires_at = self._expires_at if self._expires_at is not None else now + ttl
        try:
            renewed = await self._places.refresh(key, self._uuid, ttl, expires_at)
        except TTLRanOut as exc:
            raise self._lose(key, f"no refresh of its key {key} got through in time", gone=False) from exc
        if renewed is None:
            raise self._lose(key, f"its key {key} is gone", gone=True)
        if self._key == key and self._key_ttl == ttl:
            self._expires_at = renewed

    async def _keepalive(self) -> None:
        """Refresh the held key until released, or until the lock is found lost.

        Each refresh is retried with short attempts until the key's TTL
        (counted from the last refresh that got through) runs out; a key found
        gone, or a TTL that ran out first, loses the lock.
        """
        loop = asyncio.get_running_loop()
        while True:
            key, ttl = self._key, self._key_ttl
            if key is None or not self._held or ttl is None:
                return  # released, lost, or renewed without a TTL: nothing to keep alive
            expires_at = self._expires_at if self._expires_at is not None else loop.time() + ttl
            due = expires_at - ttl + self._interval(ttl)
            await asyncio.sleep(max(0.0, due - loop.time()))
            if key != self._key or not self._held or ttl != self._key_ttl:
                continue  # released or renewed meanwhile: look again
            if self._client.closed:
                self._lose(key, "its client was closed; the key expires with its TTL", gone=False)
                return
            try:
                await self._refresh(key, ttl)
            except EtcdLockExpired:
                return  # _refresh recorded the loss

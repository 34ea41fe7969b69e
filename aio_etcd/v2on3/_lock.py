"""The queue of :class:`aio_etcd.Lock` on a v3 store: etcd's own lock layout.

With ``Client(api="v3")`` a Lock named ``N`` is the lock that etcd's Lock
service (:meth:`aio_etcd.v3.Client.lock`), ``etcdctl lock N`` and Go's
``concurrency.Mutex`` take under ``N``; they all exclude each other:

- a contender's key is ``N/<id of its lease, in hex>``, created with that
  lease in a transaction that holds only if the key does not exist yet;
- the holder is the key under ``N/`` created first (lowest
  ``create_revision``); a waiter waits for the deletion of the key created
  just before its own;
- releasing deletes the key and revokes its lease.

The key lives in the raw v3 key space, outside the client's ``v3_prefix``
(where etcdctl and the Go client look). Its value is the Lock's uuid; keys
of the other tools hold an empty value. Keys with more ``/`` after ``N/``
belong to locks named below ``N`` (``N/sub``) and are not in ``N``'s queue.

TTLs are leases: ``lock_ttl`` is the TTL of the lease the key is created
with (etcd grants at least its minimum, 2 s); a renewal with the same TTL
keeps the lease alive, one with another TTL moves the key to a new lease
(its ``create_revision``, its place in the queue, stays), and
``lock_ttl=None`` leaves the key without a lease, named
``N/<32 hex digits>``, which no lease id can be.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets

from .._lockqueue import Entry, TTLRanOut
from ..exceptions import EtcdCompareFailed, EtcdException, EtcdKeyNotFound, EtcdOutcomeUnknown
from ..v3 import Client as V3Client
from ..v3 import txn as T  # noqa: N812 (the documented spelling)
from ..v3.errors import EtcdCompacted, EtcdLeaseNotFound
from ..v3.results import KV, Range

__all__ = ["MutexQueue"]

log = logging.getLogger("aio_etcd.lock")

#: How many changes of unknown outcome (a leader lost on the way) are looked
#: for and made again before the error is raised.
_MAX_UNKNOWN = 3


def _text(raw: bytes) -> str:
    return raw.decode("utf-8", "surrogateescape")


def _raw(text: str) -> bytes:
    return text.encode("utf-8", "surrogateescape")


class MutexQueue:
    """One :class:`~aio_etcd.Lock` contender's queue in etcd's v3 lock layout (see the module).

    :param v3: the v3 client under the ``api="v3"`` client.
    :param name: the lock's name, as given (``etcdctl lock <name>``).
    """

    def __init__(self, v3: V3Client, name: str) -> None:
        self.v3 = v3
        self.path = name
        self._prefix = _raw(name) + b"/"
        #: The lease each key of ours is on (0: none) and the TTL it was granted for (None: unknown).
        self._leases: dict[str, tuple[int, int | None]] = {}

    # -- reading the queue ------------------------------------------------------------

    def _entry(self, kv: KV) -> Entry:
        return Entry(_text(kv.key), _text(kv.value), kv.create_revision, kv.lease)

    async def entries(self, quorum: bool | None = None) -> tuple[list[Entry], int]:
        # A range is linearizable (etcd asks the leader): quorum is always kept.
        found = await self.v3.range(self._prefix, prefix=True, sort=("create", "asc"))
        here = len(self._prefix)
        return [self._entry(kv) for kv in found.kvs if b"/" not in kv.key[here:]], found.revision

    # -- our key ----------------------------------------------------------------------

    async def append(self, uuid: str, ttl: int | None) -> Entry:
        """Create our key at the end of the queue (with a new lease of ``ttl``).

        The transaction holds only if the key does not exist, so it is safe to
        make again after an outcome unknown: the key is named after our own
        lease, and a key found there holding our uuid is ours.
        """
        lease = await self._grant(ttl)
        key = f"{self.path}/{lease:x}" if lease else f"{self.path}/{secrets.token_hex(16)}"
        raw = _raw(key)
        try:
            for attempt in range(_MAX_UNKNOWN + 1):
                create = self.v3.txn().if_(T.create_revision(raw) == 0).then(T.put(raw, uuid, lease=lease))
                try:
                    result = await create.else_(T.get(raw)).commit()
                except EtcdOutcomeUnknown as exc:
                    if attempt == _MAX_UNKNOWN:
                        raise
                    log.info("lock %s: creating %s of unknown outcome, trying again: %s", self.path, key, exc)
                    continue
                if result.succeeded:
                    created = result.revision
                    break
                answer = result.responses[0]
                kv = answer.kvs[0] if isinstance(answer, Range) and answer.kvs else None
                if kv is None or kv.value != _raw(uuid) or kv.lease != lease:
                    raise EtcdException(f"lock {self.path}: the key {key} exists and is not ours")
                created = kv.create_revision  # an earlier attempt of ours made it
                break
        except BaseException:
            if lease:
                await self._revoke(lease)
            raise
        self._leases[key] = (lease, ttl)
        return Entry(key, uuid, created, lease)

    def adopt(self, entry: Entry) -> None:
        # Its lease was granted by someone else, for a TTL we do not know: the
        # next acquire() moves the key to a lease of its own lock_ttl.
        self._leases[entry.key] = (entry.lease, None)

    async def write_ttl(self, key: str, uuid: str, ttl: int | None) -> None:
        lease, granted_for = self._leases.get(key, (0, None))
        raw = _raw(key)
        if ttl is not None and lease and granted_for == ttl:
            try:
                await self.v3.keep_alive_once(lease)
            except EtcdLeaseNotFound as exc:
                raise EtcdKeyNotFound(f"lock {self.path}: the lease of {key} is gone") from exc
            self._check(key, await self.v3.get(raw), uuid, lease)
            return
        new = await self._grant(ttl)
        try:
            for attempt in range(_MAX_UNKNOWN + 1):
                # Safe to make again: a late copy puts the same value on the same lease.
                move = self.v3.txn().if_(T.value(raw) == uuid).then(T.put(raw, uuid, lease=new))
                try:
                    moved = await move.else_(T.get(raw)).commit()
                    break
                except EtcdOutcomeUnknown as exc:
                    if attempt == _MAX_UNKNOWN:
                        raise
                    log.info("lock %s: moving %s to a new lease of unknown outcome, again: %s", self.path, key, exc)
            if not moved.succeeded:
                answer = moved.responses[0]
                self._check(key, answer.kvs[0] if isinstance(answer, Range) and answer.kvs else None, uuid, None)
        except BaseException:
            if new:
                await self._revoke(new)
            raise
        self._leases[key] = (new, ttl)
        if lease and lease != new:
            await self._revoke(lease)

    def _check(self, key: str, kv: KV | None, uuid: str, lease: int | None) -> None:
        """Raise as the v2 API would unless ``kv`` is our key (on ``lease``, unless None)."""
        if kv is None:
            raise EtcdKeyNotFound(f"lock {self.path}: {key} is gone")
        if kv.value != _raw(uuid) or (lease is not None and kv.lease != lease):
            raise EtcdCompareFailed(f"lock {self.path}: {key} is not ours any more")

    async def refresh(self, key: str, uuid: str, ttl: int, expires_at: float) -> float | None:
        """Keep our key's lease alive, with short attempts until it would have run out.

        Then the key is read: one deleted or overwritten (by hand) counts as gone.
        """
        lease, _ = self._leases.get(key, (0, None))
        loop = asyncio.get_running_loop()
        attempt_timeout = self.v3.retry.keepalive_attempt_timeout
        while True:
            sent = loop.time()
            left = expires_at - sent
            if left <= 0 or self.v3.closed:
                raise TTLRanOut(f"no keep-alive of the lease of {key} got through before it ran out")
            try:
                if lease:
                    await self.v3.keep_alive_once(lease, timeout=left, attempt_timeout=attempt_timeout)
                kv = await self.v3.get(_raw(key), timeout=max(expires_at - loop.time(), attempt_timeout))
            except EtcdLeaseNotFound:
                return None
            except EtcdException as exc:
                if self.v3.closed:
                    continue
                log.warning("keep-alive of %s failed, %.1fs of TTL left: %s", key, expires_at - loop.time(), exc)
                await asyncio.sleep(min(attempt_timeout, max(0.0, expires_at - loop.time())))
                continue
            try:
                self._check(key, kv, uuid, lease)
            except (EtcdKeyNotFound, EtcdCompareFailed):
                return None
            return sent + ttl

    async def delete(self, key: str, uuid: str) -> None:
        """Delete our key if it holds our uuid, then revoke its lease.

        Repeated after an outcome unknown: our uuid is ours alone, so a repeat
        either deletes the key or finds it gone.
        """
        raw = _raw(key)
        for attempt in range(_MAX_UNKNOWN + 1):
            try:
                result = await self.v3.txn().if_(T.value(raw) == uuid).then(T.delete(raw)).else_(T.get(raw)).commit()
                break
            except EtcdOutcomeUnknown as exc:
                if attempt == _MAX_UNKNOWN:
                    raise
                log.info("lock %s: delete of %s of unknown outcome, trying again: %s", self.path, key, exc)
        lease, _ = self._leases.pop(key, (0, None))
        kv = None
        if not result.succeeded:
            answer = result.responses[0]
            kv = answer.kvs[0] if isinstance(answer, Range) and answer.kvs else None
        if lease and (result.succeeded or kv is None or kv.lease == lease):
            await self._revoke(lease)
        if not result.succeeded:
            self._check(key, kv, uuid, None)

    async def _grant(self, ttl: int | None) -> int:
        """A new lease of ``ttl`` seconds (0 for ``None``: no lease).

        A grant of unknown outcome is made again: a lease granted by a lost
        attempt carries no key, and runs out by itself.
        """
        if ttl is None:
            return 0
        for attempt in range(_MAX_UNKNOWN + 1):
            try:
                return (await self.v3.grant(ttl)).id
            except EtcdOutcomeUnknown as exc:
                if attempt == _MAX_UNKNOWN:
                    raise
                log.info("lock %s: lease grant of unknown outcome, granting another: %s", self.path, exc)
        raise AssertionError("unreachable")

    async def _revoke(self, lease: int) -> None:
        """Revoke one of our leases, even when the caller is being cancelled; a failure is
        logged (the lease runs out by itself)."""
        task = asyncio.ensure_future(self.v3.revoke(lease))
        try:
            await asyncio.shield(task)
        except EtcdLeaseNotFound:
            pass
        except EtcdException as exc:
            log.warning("lock %s: could not revoke lease %x (it runs out with its TTL): %s", self.path, lease, exc)

    # -- waiting ----------------------------------------------------------------------

    async def gone(self, key: str, index: int) -> None:
        with contextlib.suppress(EtcdCompacted):  # history gone: the waiter reads the queue again
            async with self.v3.watch(_raw(key), start_revision=index, filters={"noput"}) as events:
                async for event in events:
                    if event.type == "DELETE":
                        return

    async def changed(self, key: str, index: int) -> None:
        with contextlib.suppress(EtcdCompacted):
            async with self.v3.watch(_raw(key), start_revision=index) as events:
                async for _ in events:
                    return

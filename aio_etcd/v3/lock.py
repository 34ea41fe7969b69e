"""etcd's own lock and election services (``/v3/lock``, ``/v3/election``), with client-kept leases.

Both services queue waiters as keys under the name, in creation order, and
answer a waiter only when it is first: a lock or campaign call blocks until
then. The client grants each attempt a lease and keeps it alive (etcd would
otherwise create a 60 s lease nobody renews), so:

- cancelling a waiting ``lock()``/``campaign()``, or its ``timeout``,
  revokes the lease, and the queued key goes with it (etcd also drops the
  key of a waiter whose connection closes);
- a wait whose member died (its outcome unknown) or whose lease was lost is
  started again from the back of the queue, with a new lease, within the
  same timeout;
- a held lock or term whose lease is lost sets its ``lost`` event: others
  may hold it by then. Fence writes with :meth:`Lock.owned` in a transaction.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import math
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Any, Protocol

from .._core import within
from ..exceptions import EtcdException, EtcdOutcomeUnknown
from . import txn as T  # noqa: N812 (the documented spelling)
from .errors import EtcdLeaseLost, EtcdLockTimeout, EtcdServerError, EtcdSessionExpired
from .lease import Lease, LeaseClient
from .results import KV, Range, b64, to_bytes

if TYPE_CHECKING:
    from .watch import Watch

__all__ = ["Election", "Lock", "LockClient", "Term"]

log = logging.getLogger(__name__)


class LockClient(LeaseClient, Protocol):
    """What a lock and an election use of their :class:`~aio_etcd.v3.Client`."""

    async def call(
        self,
        path: str,
        request: dict[str, Any],
        *,
        safe: bool | None = ...,
        op: str = ...,
        timeout: float | None = ...,
        stream: bool = ...,
    ) -> dict[str, Any]: ...
    async def get(self, key: str | bytes) -> KV | None: ...
    async def range(self, key: str | bytes, *, prefix: bool = ...) -> Range: ...
    def watch(self, key: str | bytes, *, prefix: bool = ..., start_revision: int = ...) -> Watch: ...


async def _queue(
    client: LockClient, ttl: int, timeout: float | None, path: str, request: Callable[[int], dict[str, Any]], what: str
) -> tuple[Lease, dict[str, Any]]:
    """Wait in etcd's queue at ``path`` under a lease of our own; the lease and etcd's answer once first."""
    loop = asyncio.get_running_loop()
    end = None if timeout is None else loop.time() + timeout
    while True:
        lease = Lease(client, ttl)
        try:
            left = None if end is None else end - loop.time()
            if left is not None and left <= 0:
                raise asyncio.TimeoutError
            answer = await within(_wait_turn(client, lease, path, request, what), left)
            return lease, answer
        except (EtcdOutcomeUnknown, EtcdSessionExpired, EtcdLeaseLost) as exc:
            # Our queued key, if any, is on our lease: revoking it leaves nothing behind.
            log.info("%s: %s; queueing again with a new lease", what, exc)
            await _revoke_quietly(lease)
        except asyncio.TimeoutError:
            await _revoke_quietly(lease)
            raise EtcdLockTimeout(f"{what}: not first in the queue within {timeout:g}s") from None
        except BaseException:
            await _revoke_quietly(lease)
            raise


async def _wait_turn(
    client: LockClient, lease: Lease, path: str, request: Callable[[int], dict[str, Any]], what: str
) -> dict[str, Any]:
    await lease.grant()
    waiting = asyncio.ensure_future(
        client.call(path, request(lease.id), safe=False, op=what, stream=True, timeout=math.inf)
    )
    lost = asyncio.ensure_future(lease.lost.wait())
    try:
        await asyncio.wait({waiting, lost}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        lost.cancel()
        if not waiting.done():
            waiting.cancel()
            await asyncio.gather(waiting, return_exceptions=True)
    if not waiting.done() or waiting.cancelled():
        raise EtcdLeaseLost(f"{what}: the lease of the waiter was lost")
    return waiting.result()


async def _revoke_quietly(lease: Lease) -> None:
    """Revoke a waiter's lease, even when the caller is being cancelled; log failures (it expires anyway)."""
    if not lease.id:
        return
    task = asyncio.ensure_future(lease.revoke())
    try:
        await asyncio.shield(task)
    except asyncio.CancelledError:
        raise
    except Exception as exc:
        log.warning("could not revoke lease %x (it expires within its TTL): %s", lease.id, exc)


class Lock:
    """A held etcd lock (``async with client.lock(name, ttl=, timeout=) as lock``).

    :attr:`key` is the lock's key and :attr:`revision` its creation
    revision: together, the fencing token (:meth:`owned`). :attr:`lost` is
    set if the lease is lost while held; leaving the block then raises
    :class:`~aio_etcd.v3.EtcdLeaseLost`.
    """

    def __init__(self, client: LockClient, name: str | bytes, *, ttl: int = 60, timeout: float | None = None) -> None:
        if ttl < 2:
            raise ValueError("a lock's ttl is at least 2 seconds (etcd's shortest lease)")
        self.client = client
        self.name = to_bytes(name, "a lock name")
        self.ttl = ttl
        self.timeout = timeout
        #: The lock's key, while held.
        self.key: bytes = b""
        #: The key's creation revision (the fencing token), while held.
        self.revision = 0
        self.lease: Lease | None = None
        self._lost = asyncio.Event()

    @property
    def lost(self) -> asyncio.Event:
        """Set when the held lock's lease was lost."""
        return self.lease.lost if self.lease is not None else self._lost

    @property
    def is_acquired(self) -> bool:
        """Whether the lock is held (and its lease not lost)."""
        return bool(self.key) and not self.lost.is_set()

    async def acquire(self) -> Lock:
        """Wait for the lock (``async with`` does this)."""
        if self.key:
            raise EtcdException("this lock is held already")
        what = f"lock {self.name.decode('utf-8', 'backslashreplace')!r}"
        lease, answer = await _queue(
            self.client,
            self.ttl,
            self.timeout,
            "/v3/lock/lock",
            lambda lid: {"name": b64(self.name), "lease": str(lid)},
            what,
        )
        try:
            self.key = base64.b64decode(answer["key"])
            kv = await self.client.get(self.key)
            if kv is None:
                raise EtcdLeaseLost(f"{what}: the lock's key vanished as it was granted (its lease expired)")
            self.revision = kv.create_revision
        except BaseException:
            await _revoke_quietly(lease)
            self.key = b""
            raise
        self.lease = lease
        return self

    def owned(self) -> T.Compare:
        """A transaction comparison that holds only while this lock is held: fence writes with it."""
        if not self.key:
            raise EtcdException("the lock is not held")
        return T.create(self.key) == self.revision

    async def release(self) -> None:
        """Give the lock up (its key is deleted and the lease revoked). Safe to call twice."""
        key, lease = self.key, self.lease
        self.key, self.revision = b"", 0
        if not key or lease is None:
            return
        try:
            if not lease.lost.is_set():
                await self.client.call("/v3/lock/unlock", {"key": b64(key)}, safe=True, op="unlock")
        finally:
            await _revoke_quietly(lease)

    async def __aenter__(self) -> Lock:
        return await self.acquire()

    async def __aexit__(self, exc_type: type[BaseException] | None, *rest: object) -> None:
        lost = self.lost.is_set()
        await self.release()
        if lost and exc_type is None:
            raise EtcdLeaseLost(f"the lock {self.name!r} was lost while held (its lease ran out)")

    def __repr__(self) -> str:
        state = f"held key={self.key!r} revision={self.revision}" if self.key else "not held"
        return f"<v3 Lock {self.name!r} {state}>"


class Term:
    """An elected term (``async with election.campaign(value) as term``).

    :attr:`lost` is set if the lease is lost while leading.
    """

    def __init__(self, election: Election, lease: Lease, leader: dict[str, Any], value: bytes) -> None:
        self.election = election
        self.lease = lease
        self._leader = leader
        #: The value last proclaimed.
        self.value = value
        #: The term's key in the election.
        self.key = base64.b64decode(leader.get("key", ""))
        #: The key's creation revision (a fencing token).
        self.revision = int(leader.get("rev") or 0)
        self._resigned = False

    @property
    def lost(self) -> asyncio.Event:
        """Set when the term's lease was lost."""
        return self.lease.lost

    def owned(self) -> T.Compare:
        """A transaction comparison that holds only while this term leads."""
        return T.create(self.key) == self.revision

    async def proclaim(self, value: str | bytes) -> None:
        """Change the leader's value (``EtcdNotLeader`` if the term is over)."""
        raw = to_bytes(value, "a value")
        await self.election.client.call(
            "/v3/election/proclaim", {"leader": self._leader, "value": b64(raw)}, safe=False, op="proclaim"
        )
        self.value = raw

    async def resign(self) -> None:
        """Step down (the next in line is elected). Safe to call twice."""
        if self._resigned:
            return
        self._resigned = True
        try:
            if not self.lease.lost.is_set():
                await self.election.client.call("/v3/election/resign", {"leader": self._leader}, safe=True, op="resign")
        finally:
            await _revoke_quietly(self.lease)

    def __repr__(self) -> str:
        return f"<Term {self.key!r} revision={self.revision}{' lost' if self.lost.is_set() else ''}>"


class _Campaign:
    def __init__(self, election: Election, value: bytes, timeout: float | None) -> None:
        self.election = election
        self.value = value
        self.timeout = timeout
        self.term: Term | None = None

    async def __aenter__(self) -> Term:
        election = self.election
        lease, answer = await _queue(
            election.client,
            election.ttl,
            self.timeout,
            "/v3/election/campaign",
            lambda lid: {"name": b64(election.name), "lease": str(lid), "value": b64(self.value)},
            f"campaign in {election.name!r}",
        )
        leader = answer.get("leader")
        if not isinstance(leader, dict):
            await _revoke_quietly(lease)
            raise EtcdException(f"campaign answer without a leader key: {answer!r}")
        self.term = Term(election, lease, leader, self.value)
        return self.term

    async def __aexit__(self, exc_type: type[BaseException] | None, *rest: object) -> None:
        term = self.term
        if term is None:
            return
        lost = term.lost.is_set()
        await term.resign()
        if lost and exc_type is None:
            raise EtcdLeaseLost(f"the term in {self.election.name!r} was lost while leading (its lease ran out)")


class Election:
    """An election by name: :meth:`campaign`, :meth:`leader`, :meth:`observe`."""

    def __init__(self, client: LockClient, name: str | bytes, *, ttl: int = 60) -> None:
        if ttl < 2:
            raise ValueError("a campaign's ttl is at least 2 seconds (etcd's shortest lease)")
        self.client = client
        self.name = to_bytes(name, "an election name")
        self.ttl = ttl

    def campaign(self, value: str | bytes, *, timeout: float | None = None) -> _Campaign:
        """Run for leader: ``async with election.campaign(b"me") as term`` enters once elected."""
        return _Campaign(self, to_bytes(value, "a value"), timeout)

    async def leader(self) -> KV | None:
        """The leader's key and value, ``None`` when nobody leads."""
        try:
            answer = await self.client.call("/v3/election/leader", {"name": b64(self.name)}, safe=True, op="leader")
        except EtcdServerError as exc:
            if "election: no leader" in exc.grpc_message:
                return None
            raise
        kv = answer.get("kv")
        return KV(kv) if kv else None

    async def observe(self) -> AsyncIterator[KV | None]:
        """The leader now, then each new leader or proclaimed value (``None`` while nobody leads).

        It reads the election's keys once and then follows them with a watch,
        so no change is skipped, and it resumes on another member like any watch.
        """
        prefix = self.name + b"/"
        first = await self.client.range(prefix, prefix=True)
        candidates = {kv.key: kv for kv in first.kvs}
        last = _leader_of(candidates)
        yield last
        async with self.client.watch(prefix, prefix=True, start_revision=first.revision + 1) as events:
            async for event in events:
                if event.type == "DELETE":
                    candidates.pop(event.kv.key, None)
                else:
                    candidates[event.kv.key] = event.kv
                now = _leader_of(candidates)
                if _identity(now) != _identity(last):
                    last = now
                    yield now

    def __repr__(self) -> str:
        return f"<Election {self.name!r}>"


def _leader_of(candidates: dict[bytes, KV]) -> KV | None:
    """The first in line: the key created first."""
    return min(candidates.values(), key=lambda kv: kv.create_revision, default=None)


def _identity(kv: KV | None) -> tuple[bytes, int] | None:
    return None if kv is None else (kv.key, kv.mod_revision)

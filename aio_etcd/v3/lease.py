"""Leases kept alive: one timer per client for all of them.

A lease in ``async with client.lease(ttl)`` is renewed every third of its
TTL with one short ``POST /v3/lease/keepalive`` (the gateway answers one line
per request and ends the answer). A renewal is made of short attempts
(:attr:`~aio_etcd.RetryPolicy.keepalive_attempt_timeout`), repeated on any
member until the lease would have run out; only then, or when etcd says the
lease is gone, is :attr:`Lease.lost` set.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Protocol

from .._core import RetryPolicy, within
from ..exceptions import EtcdException
from .errors import EtcdLeaseNotFound
from .results import LeaseGrant, LeaseInfo

__all__ = ["KeepAlives", "Lease", "LeaseClient"]

log = logging.getLogger(__name__)


class LeaseSession(Protocol):
    """What a lease uses of its client's package-internal side
    (:class:`aio_etcd.v3._session.Session`, ``client.session``)."""

    @property
    def keepalives(self) -> KeepAlives: ...


class LeaseClient(Protocol):
    """What a lease and the keep-alive timer use of their :class:`~aio_etcd.v3.Client`."""

    @property
    def session(self) -> LeaseSession: ...
    @property
    def closed(self) -> bool: ...
    @property
    def retry(self) -> RetryPolicy: ...
    async def grant(self, ttl: int, *, lease_id: int = ...) -> LeaseGrant: ...
    async def revoke(self, lease: int) -> None: ...
    async def time_to_live(self, lease: Lease, *, keys: bool = ...) -> LeaseInfo: ...
    async def keep_alive_once(
        self, lease: int, *, timeout: float | None = ..., attempt_timeout: float | None = ...
    ) -> int: ...


class Lease:
    """A lease the client keeps alive while it is held (``async with client.lease(ttl) as lease``).

    :attr:`id` is etcd's id (pass the lease, or the id, as ``lease=``; a
    lease not granted yet is refused there with
    :class:`~aio_etcd.EtcdValueError`, as its id 0 would mean "no lease");
    :attr:`lost` is set when the keep-alive failed for a whole TTL or etcd
    said the lease is gone: its keys may be deleted by then. Leaving the
    block revokes the lease (and deletes its keys); leaving a lost lease
    does not raise.
    """

    def __init__(self, client: LeaseClient, ttl: int, *, lease_id: int = 0) -> None:
        if ttl < 1:
            raise ValueError("a lease's ttl is at least 1 second")
        self.client = client
        #: The TTL asked for.
        self.ttl = ttl
        self._wanted_id = lease_id
        #: etcd's id of the lease (0 before it is granted).
        self.id = 0
        #: Set when the lease is lost (expired, revoked, or not renewed in time).
        self.lost = asyncio.Event()
        #: How many renewals succeeded.
        self.renewals = 0
        self._expires = 0.0
        self._due = 0.0
        self._granted_ttl = ttl
        #: True once :meth:`revoke` ran.
        self.revoked = False

    async def grant(self) -> Lease:
        """Grant the lease and start keeping it alive (``async with`` does this)."""
        if self.id:
            raise EtcdException("this lease was granted already")
        loop = asyncio.get_running_loop()
        sent = loop.time()
        grant = await self.client.grant(self.ttl, lease_id=self._wanted_id)
        self.id, self._granted_ttl = grant.id, grant.ttl or self.ttl
        self._expires = sent + self._granted_ttl
        self.client.session.keepalives.add(self, sent)
        return self

    async def __aenter__(self) -> Lease:
        return await self.grant()

    async def __aexit__(self, *exc_info: object) -> None:
        await self.revoke()

    async def revoke(self) -> None:
        """Stop keeping the lease alive and revoke it (its keys go). A lease already gone is fine."""
        self.client.session.keepalives.discard(self)
        if not self.id or self.revoked or self.lost.is_set() or self.client.closed:
            return
        self.revoked = True
        with contextlib.suppress(EtcdLeaseNotFound):
            await self.client.revoke(self.id)

    async def time_to_live(self, *, keys: bool = False) -> LeaseInfo:
        """What etcd knows of the lease (``ttl`` -1 once it is gone)."""
        return await self.client.time_to_live(self, keys=keys)

    @property
    def remaining(self) -> float:
        """Seconds before the lease runs out unless renewed (as far as the client knows)."""
        return max(0.0, self._expires - asyncio.get_running_loop().time())

    def __repr__(self) -> str:
        state = "lost" if self.lost.is_set() else "held" if self.id else "not granted"
        return f"<Lease id={self.id:x} ttl={self.ttl} {state}>"


class KeepAlives:
    """The client's one keep-alive timer: renews each lease a third of its TTL after the last renewal."""

    def __init__(self, client: LeaseClient) -> None:
        self.client = client
        self._leases: set[Lease] = set()
        self._task: asyncio.Task[None] | None = None
        self._wake: asyncio.Event | None = None
        self._renewing: set[asyncio.Task[None]] = set()

    def add(self, lease: Lease, sent: float) -> None:
        lease._due = sent + lease._granted_ttl / 3
        self._leases.add(lease)
        if self._wake is None:
            self._wake = asyncio.Event()
        self._wake.set()
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run())

    def discard(self, lease: Lease) -> None:
        self._leases.discard(lease)

    async def close(self) -> None:
        tasks = [t for t in (self._task, *self._renewing) if t is not None and not t.done()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._leases.clear()

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        assert self._wake is not None
        while self._leases:
            now = loop.time()
            for lease in [lease for lease in self._leases if lease._due <= now]:
                lease._due = lease._expires  # not again until this renewal ends
                task = loop.create_task(self._renew(lease))
                self._renewing.add(task)
                task.add_done_callback(self._renewing.discard)
            if not self._leases:
                break
            wait = min(lease._due for lease in self._leases) - loop.time()
            self._wake.clear()
            with contextlib.suppress(asyncio.TimeoutError):
                await within(self._wake.wait(), max(wait, 0.0))

    async def _renew(self, lease: Lease) -> None:
        loop = asyncio.get_running_loop()
        policy = self.client.retry
        sent = loop.time()
        try:
            ttl = await self.client.keep_alive_once(
                lease.id,
                timeout=max(lease._expires - sent, policy.keepalive_attempt_timeout),
                attempt_timeout=policy.keepalive_attempt_timeout,
            )
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            if lease in self._leases:
                log.warning("lease %x lost: %s", lease.id, exc)
                self._leases.discard(lease)
                lease.lost.set()
            return
        if lease not in self._leases:
            return
        lease.renewals += 1
        lease._expires = sent + ttl
        lease._due = sent + ttl / 3
        if self._wake is not None:
            self._wake.set()

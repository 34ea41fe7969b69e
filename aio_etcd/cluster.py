"""Which member to ask: the member list, failover, redirects, the cluster-id guard.

This is the only place requests are retried. The rules:

- Members are tried in turn, starting with the pinned one (the last that
  answered). The member that answers becomes pinned.
- A member has failed when the connection cannot be opened, breaks off, times
  out, or it answers 5xx (etcd says 5xx when it has no leader or a proposal
  timed out) or etcd's "during rolling upgrades" error. When every member
  answered 5xx, the last answer is reported (as the etcd error it carries).
- A request that may already have reached a member (the connection was open
  when it broke) is sent again only when ``replay_safe``. An idempotent request
  whose connection closed before any answer is retried once on the same member
  first (a keep-alive connection the member had dropped is the usual cause).
- With failover on (and ``use_proxies`` off), the member list is learned from
  ``/v2/machines`` after the first answer and again after every failover, so
  members the caller did not list are used too.
- At most ``per_member`` ordinary requests (``per_host_pool_size``) are under
  way per member; more wait their turn in order of arrival. Watches are not
  counted: they may wait for hours.
- With failover on, up to :attr:`Cluster.rounds` passes are made over the
  members, with :attr:`Cluster.backoff` seconds (doubled each time, at most
  :attr:`Cluster.backoff_cap`) between passes. Then the request fails with
  :class:`EtcdConnectionFailed`.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
from collections.abc import Callable, Mapping, Sequence

import aiohttp
from yarl import URL

from ._http import Response, TransportFailure, exchange
from .exceptions import EtcdClusterIdChanged, EtcdConnectionFailed, EtcdException

__all__ = ["Cluster", "member_url"]

log = logging.getLogger(__name__)

_REDIRECTS = frozenset({301, 302, 303, 307, 308})
#: How many redirects one request may follow.
MAX_REDIRECTS = 3
_ROLLING_UPGRADE = b"during rolling upgrades"

#: Given a failure, the path to send to the next member (or ``None`` to keep it).
RetryPath = Callable[[TransportFailure], "str | None"]


class _Slots:
    """A first-come-first-served limit on the requests under way to one member.

    A freed slot goes straight to the longest waiting request, so a newcomer
    never overtakes it. ``free`` is above zero only while nobody waits.
    """

    __slots__ = ("free", "waiters")

    def __init__(self, size: int) -> None:
        self.free = size
        self.waiters: collections.deque[asyncio.Future[None]] = collections.deque()

    async def wait(self) -> None:
        """Wait for a slot handed over by :meth:`release`."""
        turn: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.waiters.append(turn)
        try:
            await turn
        except asyncio.CancelledError:
            if turn.done() and not turn.cancelled():
                self.release()  # handed over just as we were cancelled: pass it on
            raise

    def release(self) -> None:
        """Give the slot to the first live waiter, or free it."""
        waiters = self.waiters
        while waiters:
            turn = waiters.popleft()
            if not turn.done():  # cancelled waiters are skipped
                turn.set_result(None)
                return
        self.free += 1


def member_url(protocol: str, host: str, port: int) -> str:
    """``protocol://host:port``, with IPv6 literals in brackets."""
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return f"{protocol}://{host}:{port}"


class Cluster:
    """The members a client may talk to, and the member it is pinned to.

    :param members: base URLs (``http://host:port``), the first is tried first.
    :param allow_reconnect: move to the next member when one fails.
    :param allow_redirect: follow redirects a member answers with.
    :param expected_cluster_id: refuse answers from another cluster; when
        ``None`` the id of the first answer is learned and guarded from then on.
    :param use_proxies: never add member URLs the cluster advertises.
    :param machines_path: where the cluster lists its members (``/v2/machines``).
    :param per_member: how many bounded requests may be under way per member at
        once; more wait their turn, first come first served.
    """

    #: Passes over the member list before giving up (with failover on).
    rounds = 3
    #: Seconds to wait before the second pass; doubled for each further pass.
    backoff = 0.2
    #: The longest wait between two passes.
    backoff_cap = 2.0

    def __init__(
        self,
        members: Sequence[str],
        *,
        allow_reconnect: bool,
        allow_redirect: bool,
        expected_cluster_id: str | None,
        use_proxies: bool = False,
        machines_path: str = "/v2/machines",
        per_member: int = 10,
    ) -> None:
        if not members:
            raise ValueError("a cluster needs at least one member")
        self.seeds: list[str] = list(members)
        self.members: list[str] = list(members)
        self.allow_reconnect = allow_reconnect
        self.allow_redirect = allow_redirect
        self.use_proxies = use_proxies
        self.machines_path = machines_path
        self.cluster_id = expected_cluster_id
        self._pinned = 0
        self._learned = False
        self.per_member = per_member
        self._slots: dict[str, _Slots] = {}

    @property
    def current(self) -> str:
        """The base URL of the member requests go to first."""
        return self.members[self._pinned]

    def set_members(self, members: Sequence[str]) -> None:
        """Replace the member list (discovery), keeping the pinned member if it is still there."""
        if not members:
            raise ValueError("a cluster needs at least one member")
        current = self.current
        self.seeds = list(members)
        self.members = list(members)
        self._pinned = self.members.index(current) if current in self.members else 0
        self._learned = False

    def _pin(self, base: str) -> None:
        with contextlib.suppress(ValueError):  # the list changed while the request ran
            self._pinned = self.members.index(base)

    async def request(
        self,
        session: aiohttp.ClientSession,
        method: str,
        path: str,
        *,
        body: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: aiohttp.ClientTimeout,
        replay_safe: bool = True,
        retry_path: RetryPath | None = None,
        bounded: bool = True,
    ) -> Response:
        """Send ``method path`` (percent-encoded, query included) to a member; see the module rules.

        :param retry_path: for watches, rebuilds the path before it goes to the
            next member (to pin the index the first attempt started from).
        :param bounded: count against the member's ``per_member`` limit
            (watches do not: they may wait for hours).
        """
        failures: list[TransportFailure] = []
        tried: list[str] = []
        last_answer: Response | None = None
        rounds = self.rounds if self.allow_reconnect else 1
        for round_number in range(rounds):
            if round_number:
                delay = min(self.backoff * 2 ** (round_number - 1), self.backoff_cap)
                log.debug("no member answered %s %s; next pass in %.2fs", method, path, delay)
                await asyncio.sleep(delay)
            members = self.members
            start = self._pinned
            for step in range(len(members) if self.allow_reconnect else 1):
                base = members[(start + step) % len(members)]
                retried_here = False
                tried.append(base)
                while True:
                    try:
                        resp = await self._send(session, base, method, path, body, headers, timeout, bounded)
                    except TransportFailure as failure:
                        failures.append(failure)
                        log.debug("member %s failed: %s", base, failure)
                        if failure.sent and not replay_safe:
                            raise EtcdConnectionFailed(
                                f"{method} to {failure.url} broke off after the request was sent; it may or may "
                                "not have taken effect, so it was not sent again",
                                cause=failure.cause,
                            ) from failure.cause
                        if retry_path is not None:
                            path = retry_path(failure) or path
                        if failure.sent and not failure.timed_out and failure.headers is None and not retried_here:
                            # Closed before any answer: most often a keep-alive
                            # connection the member had dropped. Once more, same member.
                            retried_here = True
                            continue
                        break
                    if resp.status >= 400 and self.allow_reconnect and replay_safe and self._member_failed(resp):
                        log.debug("member %s answered %s; trying another", base, resp.status)
                        last_answer = resp
                        break
                    if resp.headers.get("X-Etcd-Cluster-Id") != self.cluster_id:
                        self._check_cluster_id(resp)
                    if step:
                        self._pin(base)
                    if self.allow_reconnect and not self.use_proxies and (failures or last_answer or not self._learned):
                        self._learned = True
                        await self._refresh_members(session, base, headers, timeout)
                    return resp
        if last_answer is not None:
            return last_answer  # the caller turns the odd answer into an EtcdException
        raise self._exhausted(failures, tried)

    async def _send(
        self,
        session: aiohttp.ClientSession,
        base: str,
        method: str,
        path: str,
        body: bytes | None,
        headers: Mapping[str, str] | None,
        timeout: aiohttp.ClientTimeout,
        bounded: bool,
    ) -> Response:
        """One attempt at one member: wait for a slot (if ``bounded``), exchange, follow redirects."""
        slots = None
        if bounded:
            slots = self._slots.get(base) or self._new_slots(base)
            if slots.free:  # a free slot means nobody is waiting
                slots.free -= 1
            else:
                await slots.wait()
        try:
            resp = await exchange(session, method, base + path, body=body, headers=headers, timeout=timeout)
            if resp.status in _REDIRECTS:
                resp = await self._follow(session, method, resp, body, headers, timeout)
            return resp
        finally:
            if slots is not None:
                slots.release()

    def _new_slots(self, base: str) -> _Slots:
        slots = self._slots[base] = _Slots(self.per_member)
        return slots

    @staticmethod
    def _member_failed(resp: Response) -> bool:
        return resp.status >= 500 or _ROLLING_UPGRADE in resp.body

    async def _follow(
        self,
        session: aiohttp.ClientSession,
        method: str,
        resp: Response,
        body: bytes | None,
        headers: Mapping[str, str] | None,
        timeout: aiohttp.ClientTimeout,
    ) -> Response:
        """Follow the redirect ``resp`` (and the ones after it), if allowed."""
        for _ in range(MAX_REDIRECTS):
            location = resp.headers.get("Location")
            if not self.allow_redirect or not location:
                raise EtcdException(
                    f"the server redirected {method} {resp.url} to {location!r} and "
                    f"allow_redirect is {self.allow_redirect}"
                )
            url = str(URL(resp.url, encoded=True).join(URL(location, encoded=True)))
            resp = await exchange(session, method, url, body=body, headers=headers, timeout=timeout)
            if resp.status not in _REDIRECTS:
                return resp
        raise EtcdException(f"more than {MAX_REDIRECTS} redirects for {method} {resp.url}")

    async def _refresh_members(
        self,
        session: aiohttp.ClientSession,
        base: str,
        headers: Mapping[str, str] | None,
        timeout: aiohttp.ClientTimeout,
    ) -> None:
        """After a failover, learn members the caller did not list from the one that answered."""
        auth = {k: v for k, v in (headers or {}).items() if k.lower() == "authorization"}
        try:
            resp = await exchange(session, "GET", base + self.machines_path, headers=auth, timeout=timeout)
        except TransportFailure as failure:
            log.debug("could not refresh the member list from %s: %s", base, failure)
            return
        if resp.status != 200:
            return
        advertised = [url.strip().rstrip("/") for url in resp.text().split(",") if url.strip()]
        merged = self.seeds + [url for url in advertised if url not in self.seeds]
        if merged != self.members:
            log.info("etcd members now %s", merged)
            self.members = merged
            self._pin(base)

    def _check_cluster_id(self, resp: Response) -> None:
        seen = resp.headers.get("X-Etcd-Cluster-Id")
        if not seen:
            return
        if self.cluster_id is None:
            self.cluster_id = seen
        elif seen != self.cluster_id:
            raise EtcdClusterIdChanged(
                f"{resp.url} belongs to cluster {seen}, the client talks to cluster {self.cluster_id}"
            )

    def _exhausted(self, failures: list[TransportFailure], tried: list[str]) -> EtcdConnectionFailed:
        last = failures[-1]
        bases = list(dict.fromkeys(tried))
        who = "the server could not be reached" if len(bases) == 1 else "no member could be reached"
        exc = EtcdConnectionFailed(f"{who}: {last} (tried {', '.join(bases)})", cause=last.cause)
        exc.__cause__ = last.cause
        return exc
